"""The auditor's page (审计查询) and the quarantine of events (待核实事件), from the outside: a
search gives what an independent query over the table gives, the plan walks an index, a
limited user is refused, the chain check shows an intact chain and a tampered one, and a
clerk's corrected ID number opens the event's claim."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from claims import audit, masking, migrate, trail
from claims.auth import SYSTEM, Actor
from claims.db import make_engine
from claims.models import AuditEntry, Claim, EventStatus, Region, TriggerEvent
from claims.settings import get_settings
from claims.web.i18n import catalog
from tests.claims.conftest import evaluate
from tests.claims.test_migrations import empty_url  # noqa: F401  (the fixture)
from tests.claims.test_web import browser  # noqa: F401  (the fixture)
from tests.factories import id_number

ENTRY = re.compile(r'data-entry="(\d+)"')


def shown(page: str) -> list[int]:
    return [int(n) for n in ENTRY.findall(page)]


def seed_trail(session, n: int = 140) -> None:
    """Entries by three people on three kinds of record over twenty days around midnight of
    the county's clock (where UTC and the county disagree on the date)."""
    rng = random.Random(17)
    now = datetime.now(UTC)
    for i in range(n):
        who = Actor("user", i, rng.choice(["amy", "bob", "cat"]))
        kind = rng.choice(["claim", "household", "payment"])
        number = rng.choice(["LP202600000001", "LP202600000002", "H7"])
        audit.record(session, who, kind, number, rng.choice(["update", "approve", "create"]),
                     before={"state": "approval"}, after={"state": "payment_pending"})
        session.info[audit.PENDING][-1][1].at = now - timedelta(hours=rng.randrange(0, 480))
    session.commit()


def oracle(session, claim="", actor="", entity="", since=None, until=None) -> list[int]:
    """The same search over the table in plain Python: every entry read, filtered, sorted."""
    zone = ZoneInfo(get_settings().timezone)
    rows = session.exec(select(AuditEntry)).all()
    kept = []
    for e in rows:
        day = e.at.astimezone(zone).date()
        if claim and not (e.entity == "claim" and e.entity_id == claim):
            continue
        if actor and e.actor != f"user:{actor}":
            continue
        if entity and e.entity != entity:
            continue
        if since and day < since or until and day > until:
            continue
        kept.append(e)
    kept.sort(key=lambda e: (e.at, e.id), reverse=True)
    return [e.id for e in kept]


def walk(client, **params) -> list[int]:
    """Every page of a search, following the 'older' link."""
    ids: list[int] = []
    url, query = "/audit", {k: v for k, v in params.items() if v}
    for _ in range(50):
        page = client.get(url, params=query)
        assert page.status_code == 200, page.text
        ids += shown(page.text)
        older = re.search(r'href="(/audit\?[^"]*before=\d+[^"]*)"', page.text)
        if not older:
            return ids
        url, query = older.group(1).replace("&amp;", "&"), None
    raise AssertionError("no last page")


def test_a_search_gives_what_the_table_holds(browser, session):  # noqa: F811
    seed_trail(session)
    auditor = browser("auditor", "aud")
    today = datetime.now(ZoneInfo(get_settings().timezone)).date()
    cases = [{}, {"claim": "LP202600000001"}, {"user": "bob"}, {"kind": "payment"},
             {"since": today - timedelta(days=5), "until": today - timedelta(days=2)},
             {"user": "amy", "kind": "claim", "since": today - timedelta(days=9)},
             {"claim": "LP202600000002", "until": today - timedelta(days=10)}]
    for case in cases:
        expected = oracle(session, claim=case.get("claim", ""), actor=case.get("user", ""),
                          entity=case.get("kind", ""), since=case.get("since"),
                          until=case.get("until"))
        assert expected, case  # each case finds something
        got = walk(auditor, **{k: str(v) for k, v in case.items()})
        assert got == expected, case
    # a person found by their name as by their username
    from claims.auth import SYSTEM
    from claims.people import create_user
    create_user(session, SYSTEM, username="bob", full_name="鲍勃", role="clerk")
    session.commit()
    assert walk(auditor, user="鲍勃") == oracle(session, actor="bob")
    # an entry as staff read it: the county's time labelled, the person, the action, fields
    page = auditor.get("/audit", params={"user": "bob"}).text
    assert "北京时间" in page and "审批" in page and "待支付" in page and "状态" in page


def test_a_limited_user_is_refused_and_the_chain_check_finds_tampering(browser, session):  # noqa: F811
    seed_trail(session, 5)
    township = session.exec(select(Region).where(Region.level == "township")).first()
    if township is None:
        from tests.factories import county_with_villages
        county_with_villages(session, villages=1)
        township = session.exec(select(Region).where(Region.level == "township")).first()
    limited = browser("auditor", "aud-t", townships=[township.id])
    assert limited.get("/audit").status_code == 403
    assert limited.get("/quarantine").status_code == 403
    assert "县级" in limited.get("/audit").text or "乡镇" in limited.get("/audit").text
    supervisor = browser("supervisor", "sup")
    page = supervisor.get("/audit/verify")
    assert page.status_code == 200 and "审计链完整" in page.text, page.text
    victim = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    session.execute(sa.update(AuditEntry).where(AuditEntry.id == victim.id)
                    .values(reason="changed afterwards"))
    session.commit()
    page = supervisor.get("/audit/verify")
    assert "审计链完整" not in page.text and f"第 {victim.id} 条" in page.text, page.text
    supervisor.cookies.set("fangpin_lang", "en")
    english = supervisor.get("/audit/verify")
    assert f"entry {victim.id}" in english.text and "altered" in english.text


def test_a_clerk_corrects_a_quarantined_event_and_the_claim_opens(
        browser, session, department, county):  # noqa: F811
    from tests.claims.test_intake import illness
    body = {**illness(event_id="QX-1"), "id_number": id_number(seq=99)}  # nobody's
    answer = department.post("/api/events", json=body)
    assert answer.status_code in (200, 202), answer.text
    evaluate(session)
    event = session.exec(select(TriggerEvent).where(
        TriggerEvent.source_event_id == "QX-1")).one()
    assert event.status == EventStatus.quarantined
    clerk = browser("clerk", "clk")
    page = clerk.get("/quarantine")
    assert page.status_code == 200 and "QX-1" in page.text and "待核实" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # a wrong number is refused in Chinese, naming the field
    refused = clerk.post(f"/quarantine/{event.id}/replay",
                         data={"id_number": "12345", "csrf_token": token})
    assert refused.status_code == 422 and "身份证号" in refused.text
    auditor = browser("auditor", "aud-q")
    assert auditor.post(f"/quarantine/{event.id}/replay", data={
        "id_number": county.members[0].id_number, "csrf_token": token}).status_code == 403
    done = clerk.post(f"/quarantine/{event.id}/replay", data={
        "id_number": county.members[0].id_number, "csrf_token": token})
    assert done.status_code == 200, done.text
    session.expire_all()
    claim = session.exec(select(Claim).where(Claim.household_id == county.household.id)).one()
    assert claim.claim_number in done.text and "QX-1" not in shown_rows(done.text)
    entry = session.exec(select(AuditEntry).where(
        AuditEntry.entity == "trigger_event", AuditEntry.action == "correct_and_replay")).one()
    assert entry.actor == "user:clk"


def shown_rows(page: str) -> str:
    table = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    return table.group(1) if table else ""


@pytest.mark.parametrize("search", [trail.Search(), trail.Search(actor="amy"),
                                    trail.Search(entity="claim"),
                                    trail.Search(since=date(2026, 1, 1)),
                                    trail.Search(claim="LP1")])
@pytest.mark.parametrize("later", [False, True])
def test_each_search_is_read_from_an_index(empty_url, search, later):  # noqa: F811
    """A search's first page and a later one (after an entry) walk an index: a later page
    seeks to the entry rather than reading every newer one again."""
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    query = trail.query(search)
    if later:
        query = trail.older_than(query, AuditEntry(id=500, at=datetime(2026, 2, 1, tzinfo=UTC)))
    query = str(query.limit(51).compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SET enable_seqscan = off"))
            if not search.claim:
                conn.execute(sa.text("SET enable_sort = off"))
        plan = "\n".join(str(row) for row in conn.execute(sa.text("EXPLAIN " + (
            "QUERY PLAN " if engine.dialect.name == "sqlite" else "") + query)))
    engine.dispose()
    assert "ix_audit_entry_" in plan, plan
    if later and not search.claim:  # the seek is the index's, not a filter over its rows
        assert ("Index Cond: " in plan and "ROW(" in plan.split("Index Cond: ")[1].split(
            "\n")[0]) if engine.dialect.name == "postgresql" else "at<?" in plan, plan
    if not search.claim:  # one claim's few entries may be sorted
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_a_corrected_id_number_is_on_the_trail_masked_and_never_shown_in_full(
        browser, session, department, county, client):  # noqa: F811
    """Replaying a quarantined event stores both numbers masked; an entry stored in full
    before that (or written by hand) is masked on the page, its hash left as it was."""
    from tests.claims.test_intake import illness
    wrong, right = id_number(seq=98), county.members[0].id_number
    department.post("/api/events", json={**illness(event_id="QX-2"), "id_number": wrong})
    evaluate(session)
    event = session.exec(select(TriggerEvent).where(
        TriggerEvent.source_event_id == "QX-2")).one()
    assert client.post(f"/api/quarantine/{event.id}/replay",
                       json={"id_number": right}).status_code == 200
    entry = session.exec(select(AuditEntry).where(
        AuditEntry.action == "correct_and_replay")).one()
    assert (entry.before, entry.after) == ({"id_number": masking.id_number(wrong)},
                                           {"id_number": masking.id_number(right)})
    audit.record(session, SYSTEM, "trigger_event", event.id, "correct_and_replay",
                 reason=f"the number was {wrong}", before={"id_number": wrong},
                 after={"id_number": right, "bank_account": "6228480000000000001",
                        "phone": "13800001234", "lines": [{"id_number": right}]})
    session.commit()
    for reader in (browser("auditor", "aud-m"), browser("auditor", "aud-r", may_reveal=True)):
        page = reader.get("/audit", params={"kind": "trigger_event"}).text
        for full in (wrong, right, "6228480000000000001", "13800001234"):
            assert full not in page, full
        assert masking.id_number(wrong) in page and "****0001" in page
    assert audit.verify(session).problem == ""  # masked on the page only


def test_the_chinese_trail_names_a_warnings_outcome_an_income_figure_and_an_import(
        browser, session):  # noqa: F811
    """A browser walk's and a data team's findings: a closed warning's entry read 状态 立案 →
    closed, 结果 visited; an income correction wages, net_income; an import written 是
    created 1 unchanged 0 skipped 0; a member's health healthy."""
    who = Actor("user", 1, "amy")
    audit.record(session, who, "early_warning", 7, "close", before={"status": "open"},
                 after={"status": "closed", "outcome": "visited"})
    audit.record(session, who, "income_record", 8, "update",
                 before={"wages": "12000.00", "net_income": "12000.00", "source": "survey"},
                 after={"wages": "9000.00", "net_income": "9000.00", "source": "survey"})
    audit.record(session, SYSTEM, "annual_records_import", "2025.csv", "import",
                 after={"written": True, "created": 1, "unchanged": 0, "skipped": 0})
    audit.record(session, who, "member", "M1", "update",
                 before={"health": "healthy", "labour_skill": "ordinary"},
                 after={"health": "chronic", "labour_skill": "weak"})
    session.commit()
    page = browser("auditor").get("/audit").text
    for words in ("未处理", "已结案", "已入户核实，家庭可自行应对", "工资性收入", "家庭纯收入",
                  "年度收入调查", "新增条数", "未变条数", "跳过条数", "健康状况", "劳动技能"):
        assert words in page, words
    for code in ("closed", "visited", "wages", "net_income", "created", "unchanged",
                 "skipped", "healthy", "labour_skill", "chronic", "survey"):
        assert not re.search(rf"\b{code}\b", page), code
    assert "立案" not in page  # a claim's word


def test_a_follow_ups_assistance_and_an_elimination_read_in_words():
    """A hostile tester's /audit page showed eliminated_on, description and given_on as
    stored, a follow-up's 就业帮扶 as 因失业 (a disaster's kind), and "risk elimination 3
    confirmed" in English on the Chinese page."""
    from claims import reasons
    from claims.web import audit_pages, records

    shown = audit_pages.entry_fields(
        {"kind": "employment", "description": "推荐到县工业园务工", "given_on": "2026-05-01"},
        "zh", "follow_up")
    assert [(label, text) for label, text, _code in shown] == [
        ("种类", "就业帮扶"), ("说明", "推荐到县工业园务工"), ("帮扶日期", "2026-05-01")]
    [(label, _text, _code)] = audit_pages.entry_fields({"eliminated_on": "2026-05-10"}, "zh",
                                                       "elimination")
    assert label == "消除日期"
    reason = reasons.coded("elimination_confirmed", elimination=3)
    assert records.reason_text(reason, "zh") == "风险消除（第 3 号）已确认"
    assert records.reason_text(reason, "en") == "risk elimination 3 confirmed"


def _actions_written() -> dict[str, str]:
    """Every action the code writes to the audit trail, found by reading each call of
    audit.record in the source (a literal, a module's constant, or one of the few names
    made from a list of the code's own), with where it is written."""
    import ast
    from pathlib import Path

    from claims import access, assignment, changes, lifecycle, monitoring
    from claims.documents import service as documents

    root = Path(__file__).resolve().parents[2]
    made = {  # actions made from a value: the values each takes
        "f'search_by_{by}'": [f"search_by_{by}" for by in access.SEARCHED_AS],
        "f'reassign_{kind}'": [f"reassign_{kind}" for kind in assignment.KINDS],
        "'import' if report.written else 'refused'": ["import", "refused"],
        "how": list(documents.HOW), "action_name": list(lifecycle.ACTIONS),
        "kind": list(monitoring.ELIMINATION_STEPS), "shown": ["view", "print"],
        # a change of a row (claims.changes: an update, or a bank account's change) and a
        # risk model's step (the CLI: trained, promoted, rolled back)
        "action": ["update", changes.BANK_CHANGE, "train", "promote", "rollback"]}
    found: dict[str, str] = {}
    for path in sorted(p for folder in ("claims", "policies", "risk")
                       for p in (root / folder).rglob("*.py") if "migrations" not in p.parts):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {target.id: node.value.value for node in tree.body
                     if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                     for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "audit"):
                continue
            action = node.args[4] if len(node.args) > 4 else next(
                k.value for k in node.keywords if k.arg == "action")
            where = f"{path.relative_to(root)}:{node.lineno}"
            if isinstance(action, ast.Constant):
                found[action.value] = where
            elif isinstance(action, ast.Name) and action.id in constants:
                found[constants[action.id]] = where
            elif ast.unparse(action) in made:
                found.update(dict.fromkeys(made[ast.unparse(action)], where))
            else:
                raise AssertionError(f"{where}: an action this check cannot read: "
                                     f"{ast.unparse(action)}")
    return found


def test_every_action_the_code_writes_to_the_trail_reads_in_chinese():
    """The audit page named an action by its code where the code wrote one the page did not
    know: "change bank account" was written, "bank_account_change" translated (a tester's
    Chinese page read English). Every call of audit.record in the source is read here, and
    each action it can write must have its Chinese name."""
    from claims.web.i18n import catalog, code_label

    zh = catalog("zh")
    written = _actions_written()
    assert len(written) >= 40 and "open" in written and "approve" in written
    unnamed = {action: where for action, where in written.items()
               if action not in zh or code_label("Action", action, "zh") == action}
    assert unnamed == {}


def test_every_field_of_a_record_changed_on_the_trail_reads_in_chinese(
        session, county, client, browser):  # noqa: F811
    """A member's insurance, status and birth date, a household's bank account, an income
    record's household and a contract's terms read on the Chinese audit page as stored
    (resident_medical, active → deceased, "change bank account", 农户 11180: a tester's).
    Every column of a record whose changes go on the trail has its Chinese label, and the
    page shows no code of them."""
    from claims.models import AppUser, PolicyContract
    from claims.web import audit_pages
    from policies.models import Household, IncomeRecord, Member, MonitoringLine, Region

    internal = {"id", "created_at", "updated_at", "recorded_at", "revised_at", "token_hash",
                "password_hash", "key_hash", "id_number_hash"}
    zh = catalog("zh")
    for table in (Member, Household, IncomeRecord, PolicyContract, MonitoringLine, AppUser,
                  Region):
        unlabelled = [c.name for c in table.__table__.columns if c.name not in internal
                      and (c.name not in audit_pages.FIELDS
                           or audit_pages.FIELDS[c.name] not in zh)]
        assert unlabelled == [], table.__name__
    member = county.members[1]
    assert client.patch(f"/api/members/{member.id}", json={
        "resident_medical": False, "status": "deceased"}).status_code == 200
    assert client.patch(f"/api/households/{county.household.id}", json={
        "bank_account": "6228480000000000002"}).status_code == 200
    page = browser("auditor", "aud-w").get("/audit").text
    for stored in ("resident_medical", "deceased", "change bank account",
                   "change_bank_account", f"成员 {member.id}<"):
        assert stored not in page, stored
    assert "城乡居民基本医疗保险" in page and "死亡" in page and "变更银行账户" in page
    assert masking.name(member.name) in page
    assert "测试管理员（test-admin）" in page  # two accounts of one name read apart


def test_a_recalculation_an_income_record_and_a_region_read_in_chinese():
    """A recalculation read "重新计算 event T3-N2", an income record's time was stored text
    and its amounts unformatted, and a region's name was a person's 姓名 (a re-tester's)."""
    from claims.web import audit_pages, records

    assert records.reason_text("event T3-N2", "zh") == "事件 T3-N2"
    assert records.reason_text("7 events, A-1 … A-7", "zh") == "7 个事件（A-1 … A-7）"
    assert records.reason_text("收入超标", "zh") == "收入超标"  # a person's, as typed
    shown = audit_pages.entry_fields({"wages": "7500.00", "name": "新村",
                                      "recorded_at": "2026-12-07T17:15:17.012666+00:00"},
                                     "zh", "region")
    assert [(label, text) for label, text, _code in shown] == [
        ("工资性收入", "7,500.00"), ("区划名称", "新村"), ("登记时间", "2026-12-08 01:15 北京时间")]
