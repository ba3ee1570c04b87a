"""The web workspace, server side: signing in (passwords, lock, idle timeout, CSRF), what each
role and area may open and do, a claim taken through its forms, masking, both languages, and
a complete message catalog. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from fastapi.testclient import TestClient
from sqlmodel import select

from claims import clock
from claims.auth import SYSTEM
from claims.models import AppUser, AuditEntry, Claim, EarlyWarning, Member, Region, WebSession
from claims.people import create_user
from claims.web import session as web_session
from claims.web.i18n import catalog, county_time
from policies import registry
from policies.models import IncomeRecordCreate, IncomeRecordUpdate, RegionCreate, utcnow
from tests.claims.test_lifecycle import days_pass

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
PAGES = ["/dashboard", "/claims", "/warnings"]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def browser(app, session):
    """A signed-in browser for a new user of a role: ``browser("clerk", townships=[...])``."""
    made = []

    def sign_in(role: str, username: str | None = None, language: str = "zh",
                **fields) -> TestClient:
        username = username or f"{role}-{len(made)}"
        user, _ = create_user(session, SYSTEM, username=username, full_name=f"{role}者",
                              role=role, approval_limit=fields.pop("approval_limit", None))
        for key, value in fields.items():
            setattr(user, key, value)
        web_session.set_password(session, SYSTEM, user, PASSWORD)
        session.commit()
        client = TestClient(app, cookies={"fangpin_lang": language})
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"username": username, "password": PASSWORD,
                                             "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        client.user = user
        made.append(client)
        return client

    yield sign_in
    for client in made:
        client.close()


def form(client: TestClient, claim: Claim, action: str, **fields):
    """Fill and send a step's form as the page offers it."""
    page = client.get(f"/claims/{claim.id}").text
    assert f'/claims/{claim.id}/actions/{action}"' in page, f"no {action} form on the page"
    answer = client.post(f"/claims/{claim.id}/actions/{action}",
                         data={"csrf_token": csrf_of(page), **fields}, follow_redirects=False)
    assert answer.status_code == 303
    assert "error=" not in answer.headers["location"], unquote(answer.headers["location"])
    return answer


def state_of(session, claim) -> str:
    session.expire_all()
    return session.get(Claim, claim.id).state


# --- signing in -------------------------------------------------------------------------------

def test_pages_need_a_signed_in_user(app):
    anonymous = TestClient(app)
    for path in [*PAGES, "/claims/1"]:
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/login?next=")


def test_a_wrong_password_is_refused_and_five_make_the_next_try_wait(app, session, browser):
    browser("clerk", "wang")  # has the password; now someone else tries
    stranger = TestClient(app)
    token = csrf_of(stranger.get("/login").text)

    def attempt(username, password):
        return stranger.post("/login", data={"username": username, "password": password,
                                             "csrf_token": token}, follow_redirects=False)

    first = attempt("wang", "guess")
    assert first.status_code == 401 and "用户名或密码错误" in first.text
    assert "用户名或密码错误" in attempt("nobody", "x").text  # the same for an unknown name
    for _ in range(4):
        attempt("wang", "guess")
    waiting = attempt("wang", PASSWORD)  # the right password, but the name must wait now
    assert waiting.status_code == 401 and "登录失败次数过多" in waiting.text
    assert session.exec(select(AuditEntry).where(AuditEntry.entity_id == "wang",
                                                 AuditEntry.action == "locked")).first()


def _refusal(session, username, password, address, now):
    """Why a sign-in is refused (the message and the wait), or None when it succeeds."""
    try:
        web_session.sign_in(session, username, password, address, now=now)
    except web_session.LoginRefused as refused:
        return str(refused), refused.until
    return None


def test_sign_in_throttling_tells_nobody_which_names_exist(session):
    user, _ = create_user(session, SYSTEM, username="zhou", full_name="周", role="clerk")
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    answers = {}
    for name in ("zhou", "nobody-here"):
        # Guesses from five addresses: the name, not the address, makes the sixth wait.
        tries = [_refusal(session, name, "guess", f"10.0.0.{i}", now) for i in range(5)]
        tries.append(_refusal(session, name, "guess", "10.0.0.0", now))
        answers[name] = tries
    assert answers["zhou"] == answers["nobody-here"]
    assert answers["zhou"][0] == (web_session.WRONG, None)
    assert answers["zhou"][5] == (web_session.LOCKED, now + timedelta(seconds=30))


def test_a_stranger_cannot_keep_an_account_out(session):
    """A stranger guessing from eight addresses as each wait ended had kept a supervisor out
    all day (a security tester's). A name's wait holds back the addresses that failed; the
    owner's, with no failure of its own, is still checked, and a new address gets one guess."""
    user, _ = create_user(session, SYSTEM, username="qian", full_name="钱", role="clerk")
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    guessers = [f"10.1.{i}.1" for i in range(8)]
    for i in range(5):
        assert _refusal(session, "qian", "guess", guessers[i], now) == (web_session.WRONG, None)
    waiting = _refusal(session, "qian", "guess", guessers[0], now)
    assert waiting == (web_session.LOCKED, now + timedelta(seconds=30))
    # tries of an address that failed are refused without being counted: the wait stays
    assert _refusal(session, "qian", "guess", guessers[1], now) == waiting
    # a new address gets one guess, which doubles the name's wait, then waits too
    assert _refusal(session, "qian", "guess", guessers[5], now) == (web_session.WRONG, None)
    assert _refusal(session, "qian", "guess", guessers[5], now) == (
        web_session.LOCKED, now + timedelta(seconds=60))
    for turn in range(12):  # the stranger guesses from every address as each wait ends
        now += timedelta(minutes=15)
        for address in guessers:
            _refusal(session, "qian", "guess", address, now)
        # the owner gets in at once, whenever she comes
        assert _refusal(session, "qian", PASSWORD, "10.9.9.9", now) is None, turn
    assert _refusal(session, "qian", "typo", "10.9.9.9", now) == (web_session.WRONG, None)


def test_one_address_guessing_many_names_must_wait(session):
    user, _ = create_user(session, SYSTEM, username="sun", full_name="孙", role="clerk")
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    for i in range(10):
        _refusal(session, f"name-{i}", "guess", "203.0.113.7", now)
    assert _refusal(session, "sun", PASSWORD, "203.0.113.7", now) == (
        web_session.LOCKED, now + timedelta(seconds=30))
    assert _refusal(session, "sun", PASSWORD, "198.51.100.1", now) is None  # others may


def test_a_login_form_without_its_token_is_refused(app, browser):
    browser("clerk", "li")
    forged = TestClient(app).post("/login", data={"username": "li", "password": PASSWORD})
    assert forged.status_code == 403


def test_the_cookie_is_httponly_and_an_idle_session_ends(app, session, browser):
    signed = browser("clerk", "zhao")
    assert signed.get("/dashboard").status_code == 200
    for web in session.exec(select(WebSession)).all():
        web.last_seen -= timedelta(minutes=31)
    session.commit()
    assert signed.get("/dashboard", follow_redirects=False).status_code == 303
    again = TestClient(app)
    token = csrf_of(again.get("/login").text)
    answer = again.post("/login", data={"username": "zhao", "password": PASSWORD,
                                        "csrf_token": token}, follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_a_session_ends_after_its_lifetime_however_busy(session, browser):
    signed = browser("clerk", "feng")
    for web in session.exec(select(WebSession)).all():
        web.created_at -= timedelta(hours=12, minutes=1)  # FANGPIN_SESSION_MAX_HOURS=12
    session.commit()
    assert signed.get("/dashboard", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session(browser):
    clerk = browser("clerk")
    page = clerk.get("/dashboard").text
    assert clerk.post("/logout", data={"csrf_token": csrf_of(page)},
                      follow_redirects=False).status_code == 303
    assert clerk.get("/dashboard", follow_redirects=False).status_code == 303


# --- roles and areas --------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["clerk", "investigator", "adjudicator", "supervisor",
                                  "auditor", "admin"])
def test_every_role_opens_the_pages_and_sees_only_its_steps(browser, claim, role):
    user = browser(role)
    for path in [*PAGES, f"/claims/{claim.id}"]:
        assert user.get(path).status_code == 200, path
    page = user.get(f"/claims/{claim.id}").text
    offered = set(re.findall(rf'/claims/{claim.id}/actions/(\w+)"', page))
    expected = {"clerk": {"withdraw"}, "investigator": {"start_investigation"},
                "adjudicator": {"start_investigation", "reject", "withdraw"},
                "supervisor": {"start_investigation", "reject", "withdraw"},
                "auditor": set(), "admin": set()}[role]
    assert offered == expected


def test_a_step_not_the_users_is_refused_with_the_reason(browser, session, claim):
    clerk = browser("clerk")
    page = clerk.get(f"/claims/{claim.id}").text
    refused = clerk.post(f"/claims/{claim.id}/actions/start_investigation",
                         data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403 and "未完成" in refused.text
    assert "您的角色不能办理此步骤" in refused.text
    # and who may, in Chinese (issue 17: the service's English followed in brackets)
    assert "开始调查 由理赔审核员、查勘员、理赔主管办理" in refused.text
    assert "is for" not in refused.text
    assert state_of(session, claim) == "opened"
    no_token = clerk.post(f"/claims/{claim.id}/actions/withdraw", data={"reason": "x"})
    assert no_token.status_code == 403 and state_of(session, claim) == "opened"


def test_a_user_limited_to_other_townships_sees_nothing_of_this_one(browser, session, claim,
                                                                   county):
    other = registry.create_region(session, RegionCreate(
        code="411081101", name="花石镇", level="township", parent_id=county.ids["county"]))
    session.commit()
    elsewhere = browser("clerk", townships=[other.id])
    assert elsewhere.get(f"/claims/{claim.id}").status_code == 404
    assert claim.claim_number not in elsewhere.get("/claims").text
    here = browser("clerk", townships=[session.get(Region, county.ids["village0"]).parent_id])
    assert claim.claim_number in here.get("/claims").text
    # the county's fund is not theirs to see, and not said to be missing either
    dashboard = here.get("/dashboard").text
    assert "保险资金" not in dashboard and "没有生效的保单" not in dashboard
    assert "保险资金" in browser("clerk").get("/dashboard").text


# --- a claim through its forms ----------------------------------------------------------------

def test_a_claim_taken_from_opened_to_payment_through_the_forms(browser, session, claim):
    investigator = browser("investigator")
    clerk = browser("clerk")
    adjudicator = browser("adjudicator", approval_limit=Decimal("5000"))
    supervisor = browser("supervisor", approval_limit=Decimal("100000"))

    assert form(investigator, claim, "start_investigation").status_code == 303
    assert form(investigator, claim, "submit_survey", visit_date=str(clock.county_today()),
                team="王查勘，李查勘",
                findings="住院属实", asset_bank_deposits="无大额存款", asset_vehicles="无",
                asset_check="养殖: 无").status_code == 303
    assert form(clerk, claim, "record_review", outcome="agree",
                representatives="代表甲, 代表乙").status_code == 303
    days_pass(session, claim, 8)
    assert form(clerk, claim, "start_notice").status_code == 303
    assert state_of(session, claim) == "public_notice"
    days_pass(session, claim, 8)
    closed = form(clerk, claim, "close_notice")
    assert state_of(session, claim) == "approval", closed.headers.get("location")

    page = adjudicator.get(f"/claims/{claim.id}").text
    assert "超过您的审批权限" in page  # the authority rule, before pressing
    due = session.get(Claim, claim.id).entitled
    assert form(adjudicator, claim, "approve", amount=str(due)).status_code == 303
    assert state_of(session, claim) == "approval"  # waits for a supervisor
    assert "须由主管作第二次审批" in adjudicator.get(f"/claims/{claim.id}").text
    assert form(supervisor, claim, "approve", amount=str(due)).status_code == 303
    assert state_of(session, claim) == "payment_pending"

    # The steps' records read as labelled fields in Chinese, the people by their names.
    page = browser("auditor").get(f"/claims/{claim.id}").text
    records = page.split("调查、评议与公示记录")[1].split("</section>")[0]
    assert "<dt>财产核查</dt><dd>银行存款：无大额存款；车辆：无；养殖：无</dd>" in records
    assert "<dt>结果</dt><dd>同意</dd>" in records
    assert "<dt>调查人员</dt><dd>王查勘，李查勘</dd>" in records
    for raw in ("visit_date", "asset_check", "outcome", "{'", "agree", "user:"):
        assert raw not in records, raw
    history = page.split("操作记录")[1].split("</section>")[0]
    assert "investigator者" in history and "user:" not in history


# --- what the pages show ----------------------------------------------------------------------

def test_names_and_id_numbers_are_masked(browser, session, claim):
    page = browser("auditor").get(f"/claims/{claim.id}").text
    member = session.exec(select(Member).where(Member.household_id == claim.household_id)
                          ).first()
    assert member.id_number not in page and member.name not in page
    assert member.id_number[:4] + "*" * 10 + member.id_number[-4:] in page


def test_the_payout_calculation_reads_in_the_users_language(browser, claim):
    chinese = browser("adjudicator").get(f"/claims/{claim.id}").text
    assert "本次事件赔付 7,500.00" in chinese and "医疗总费用" in chinese
    assert "户类型“脱贫户”、监测对象类别“非监测对象”在保障范围内" in chinese
    assert "payout for this event" not in chinese
    english = browser("adjudicator", language="en").get(f"/claims/{claim.id}").text
    assert "payout for this event 7,500.00" in english
    # every amount of the trace with separators and two decimals ("7500.0000" before)
    trace = chinese.split("赔付计算过程")[1].split("</section>")[0]
    amounts = re.findall(r'<td class="num">([^<]+)</td>', trace)
    assert amounts and all(re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d\d", a) for a in amounts), amounts
    assert "7500.0000" not in chinese


def test_the_language_switch_is_remembered(browser, claim):
    user = browser("clerk")
    assert "理赔案件" in user.get("/claims").text
    switched = user.get("/language/en?next=/claims")
    assert switched.status_code == 200 and ">Claims" in switched.text
    assert "理赔案件" not in user.get("/dashboard").text
    assert "Open claims" in user.get("/dashboard").text


def test_the_queue_filters_sorts_and_exports(browser, session, claim):
    user = browser("adjudicator")
    assert claim.claim_number in user.get("/claims?state=opened&sort=amount").text
    assert claim.claim_number not in user.get("/claims?state=paid").text
    assert claim.claim_number not in user.get("/claims?due_today=1").text  # due in days
    session.get(Claim, claim.id).due_date = clock.county_today()
    session.commit()
    assert claim.claim_number in user.get("/claims?due_today=1").text
    assert claim.claim_number not in user.get("/claims?overdue=1").text
    assert user.get("/claims?min_amount=abc").status_code == 422
    export = user.get("/claims?state=opened&export=xlsx")
    assert export.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert export.content[:2] == b"PK"


def test_every_text_of_the_workspace_has_its_chinese(tmp_path):
    """Each message in the templates and the web code is in the Chinese catalog."""
    translated = catalog("zh")
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map=[("claims/web/**.py", "python"), ("claims/app.py", "python"),
                              ("claims/reasons.py", "python"),
                              ("claims/payments.py", "python"),
                              ("policies/calculator.py", "python"),
                              # a file's bad values (ROW_PROBLEMS and the codes it takes in)
                              ("policies/tables.py", "python"),
                              ("policies/rules.py", "python"),
                              ("policies/types.py", "python"),
                              ("templates/**.html", "jinja2")],
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords={"_": None, "gettext": None, "N_": None, "text_for": (2,),
                      "line": (2,)}):
        found.add(message if isinstance(message, str) else message[0])
    assert len(found) > 100
    assert sorted(found - set(translated)) == []


# --- the other pages -----------------------------------------------------------------------------

OTHER_PAGES = ["/households", "/households?q=H0001", "/notice", "/payments"]


@pytest.mark.parametrize("role", ["clerk", "investigator", "adjudicator", "supervisor",
                                  "auditor", "admin"])
def test_who_may_open_and_do_what_on_the_other_pages(browser, session, claim, county, role):
    user = browser(role)
    for path in [*OTHER_PAGES, f"/households/{county.household.id}"]:
        assert user.get(path).status_code == 200, path
    assert (user.get("/admin").status_code == 200) == (role == "admin")
    token = csrf_of(user.get("/payments").text)
    gathered = user.post("/payments", data={"csrf_token": token}, follow_redirects=False)
    # nothing is waiting for payment: a 409 for those who may gather, a 403 for the rest
    assert gathered.status_code == (409 if role in ("supervisor", "admin") else 403)
    added = user.post("/admin/clients", data={"csrf_token": token, "name": "x局",
                                               "organisation": "civil_affairs"})
    assert (added.status_code == 200) == (role == "admin")
    revealed = user.post(f"/households/{county.household.id}/reveal",
                         data={"csrf_token": token})
    assert revealed.status_code == 403  # nobody may, until an administrator allows it
    warning = session.exec(select(EarlyWarning)).first()  # the claim's event raised one
    closed = user.post(f"/warnings/{warning.id}/close",
                       data={"csrf_token": token, "outcome": "已入户核实"},
                       follow_redirects=False)
    assert closed.status_code == (303 if role in ("clerk", "supervisor", "admin") else 403)
    if closed.status_code == 303:  # said, and the list says it lists the closed too
        listed = user.get(closed.headers["location"]).text
        assert "预警已关闭。" in listed or "The warning is closed." in listed
        every = user.get("/warnings", params={"status": ""}).text
        assert "未处理的预警，风险高的在前" not in every
        assert f'href="/households/{warning.household_id}"' in every


def test_payments_are_for_county_wide_accounts(browser, session, county):
    limited = browser("supervisor", townships=[session.get(
        Region, county.ids["village0"]).parent_id])
    assert limited.get("/payments").status_code == 403


def test_revealing_and_searching_by_id_number_are_on_the_audit_trail(browser, session, county):
    from claims.models import AuditEntry

    allowed = browser("clerk", may_reveal=True)
    member = county.members[0]
    linked = allowed.get("/households", params={"q": member.id_number})  # a link: no search
    assert county.household.household_number not in linked.text
    found = allowed.post("/households", data={"q": member.id_number,
                                              "csrf_token": csrf_of(linked.text)})
    assert county.household.household_number in found.text
    page = allowed.get(f"/households/{county.household.id}").text
    assert member.id_number not in page
    shown = allowed.post(f"/households/{county.household.id}/reveal",
                         data={"csrf_token": csrf_of(page)})
    assert member.id_number in shown.text and member.name in shown.text
    session.expire_all()
    actions = list(session.exec(select(AuditEntry.action).where(
        AuditEntry.actor == f"user:{allowed.user.username}")))
    assert actions == ["search_by_id_number", "reveal"]


def test_a_claim_in_notice_is_printed_masked_with_its_dates(browser, session, claim, county):
    investigator, clerk = browser("investigator"), browser("clerk")
    form(investigator, claim, "start_investigation")
    form(investigator, claim, "submit_survey", visit_date=str(clock.county_today()),
         team="甲，乙", findings="属实", asset_check="存款: 无")
    form(clerk, claim, "record_review", outcome="agree", representatives="代表甲")
    form(clerk, claim, "start_notice", start_date=str(clock.county_today()))
    village = county.ids["village0"]
    notice = clerk.get("/notice", params={"village": village}).text
    head = county.members[0]
    assert claim.claim_number in notice and head.id_number not in notice
    assert head.id_number[:4] + "*" * 10 + head.id_number[-4:] in notice
    today = clock.county_today()
    # seven days with the first: to the sixth after it (the seventh had been printed)
    assert str(today) in notice and str(today + timedelta(days=6)) in notice
    assert str(today + timedelta(days=7)) not in notice


def test_a_notice_runs_on_the_countys_calendar_whatever_the_hour(browser, session, claim,
                                                                county, county_clock):
    """In the county's morning the server's date is still yesterday: the step's due date,
    the notice's dates and the day the notice is issued are the county's."""
    today = county_clock
    assert clock.county_today() == today
    investigator, clerk = browser("investigator"), browser("clerk")
    form(investigator, claim, "start_investigation")
    form(investigator, claim, "submit_survey", visit_date=str(today),
         team="甲，乙", findings="属实", asset_check="存款: 无")
    form(clerk, claim, "record_review", outcome="agree", representatives="代表甲")
    form(clerk, claim, "start_notice", start_date=str(today))
    session.expire_all()
    assert session.get(Claim, claim.id).due_date == today + timedelta(days=7)  # may close
    notice = clerk.get("/notice", params={"village": county.ids["village0"]}).text
    # seven days with the first: to the sixth after it (the seventh had been printed)
    assert str(today) in notice and str(today + timedelta(days=6)) in notice
    assert str(today + timedelta(days=7)) not in notice
    assert f"{today.year}年{today.month}月{today.day}日" in notice  # issued on


def test_a_payment_batch_through_the_pages(browser, session, claim):
    supervisor = browser("supervisor", approval_limit=Decimal("100000"))
    session.get(Claim, claim.id).state = "payment_pending"
    session.get(Claim, claim.id).approved_amount = claim.entitled
    session.commit()
    page = supervisor.get("/payments").text
    created = supervisor.post("/payments", data={"csrf_token": csrf_of(page)})
    assert created.status_code == 200 and claim.claim_number in created.text
    batch_path = str(created.url.path)
    exported = supervisor.post(f"{batch_path}/bank-file",
                               data={"csrf_token": csrf_of(created.text), "format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    payment_id = exported.text.splitlines()[1].split(",")[0]
    answer = f"payment_id,status,reference\n{payment_id},paid,BANK-1\nnope,paid,x\n".encode()
    confirmed = supervisor.post(f"{batch_path}/confirmation",
                                data={"csrf_token": csrf_of(created.text)},
                                files={"file": ("answer.csv", answer)})
    assert confirmed.status_code == 200
    # line by line, each line's result in the reader's language
    assert f"第 2 行 · {payment_id}: 已支付" in confirmed.text
    assert "第 3 行 · nope: 有误 — 付款流水号须为付款编号（数字）" in confirmed.text
    assert "BANK-1" in confirmed.text  # the bank's reference, from the column the page names
    assert state_of(session, claim) == "paid"
    # the system's step, in the reader's language
    history = supervisor.get(f"/claims/{claim.id}").text.split("操作记录")[1]
    assert f"银行已确认第 {payment_id} 笔付款" in history and "系统" in history
    assert "confirmed" not in history and "system" not in history
    english = browser("auditor", language="en").get(f"/claims/{claim.id}").text
    assert f"the bank confirmed payment {payment_id}" in english


def test_the_dashboard_counts_the_users_area(browser, session, claim, county):
    session.get(Claim, claim.id).due_date = clock.county_today()
    session.commit()
    page = browser("supervisor").get("/dashboard").text
    kpis = re.findall(r'<b[^>]*>([\d,.]+)</b><span>([^<]+)</span>', page)
    figures = {label: value for value, label in kpis}
    assert figures["在办案件"] == "1" and figures["今日到期"] == "1" and figures["超期"] == "0"
    other = registry.create_region(session, RegionCreate(
        code="411081102", name="方山镇", level="township", parent_id=county.ids["county"]))
    session.commit()
    elsewhere = browser("clerk", townships=[other.id]).get("/dashboard").text
    figures = {label: value for value, label in re.findall(
        r'<b[^>]*>([\d,.]+)</b><span>([^<]+)</span>', elsewhere)}
    assert figures["在办案件"] == "0"


def test_an_administrator_stops_a_departments_key(browser, department, session, county):
    from claims import auth

    admin = browser("admin")
    page = admin.get("/admin").text
    stop = re.search(r'action="/admin/clients/(\d+)/deactivate"', page)
    assert admin.post(f"/admin/clients/{stop.group(1)}/deactivate",
                      data={"csrf_token": csrf_of(page)},
                      follow_redirects=False).status_code == 303
    auth.forget_actors()
    assert department.get("/api/events/anything").status_code == 401


def test_an_administrator_issues_a_key_shown_once_sets_its_remit_and_revokes_it(
        app, browser, session, county):
    from claims import auth
    from claims.web.i18n import code_label

    admin = browser("admin")
    page = admin.get("/admin").text
    made = admin.post("/admin/clients", data={"csrf_token": csrf_of(page), "name": "县医保局",
                                              "organisation": "medical_insurance"})
    key = re.search(r"县医保局 的密钥（仅显示这一次）： <code>([^<]+)</code>", made.text).group(1)
    listed = admin.get("/admin").text
    assert key not in listed  # shown that once only
    row = re.search(r"<td[^>]*>县医保局</td>.*?</tr>", listed, re.S).group()
    assert f"{code_label('Trigger', 'illness', 'zh')} <span class=\"muted\">（部门默认）" in row
    (client_id,) = session.exec(select(AuditEntry.entity_id).where(
        AuditEntry.entity == "api_client", AuditEntry.action == "create")).all()[-1:]
    unknown = admin.post("/admin/clients/event-types", data={
        "csrf_token": csrf_of(page), "client_id": client_id, "event_types": ["bogus"]})
    assert unknown.status_code == 422
    saved = admin.post("/admin/clients/event-types", data={
        "csrf_token": csrf_of(page), "client_id": client_id,
        "event_types": ["illness", "accident"]}, follow_redirects=False)
    assert saved.status_code == 303
    row = re.search(r"<td[^>]*>县医保局</td>.*?</tr>", admin.get("/admin").text, re.S).group()
    assert "、".join(code_label("Trigger", t, "zh") for t in ("accident", "illness")) in row
    assert "部门默认" not in row
    sent = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    assert sent.get("/api/events/anything").status_code == 404  # the key works

    _, token = create_user(session, SYSTEM, username="api-admin", full_name="管理", role="admin")
    _, reader = create_user(session, SYSTEM, username="api-auditor", full_name="审计",
                            role="auditor")
    session.commit()
    path = f"/api/admin/api-clients/{client_id}/deactivate"
    assert TestClient(app, headers={"Authorization": f"Bearer {reader}"}).post(
        path).status_code == 403
    revoked = TestClient(app, headers={"Authorization": f"Bearer {token}"}).post(path)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    auth.forget_actors()
    assert sent.get("/api/events/anything").status_code == 401
    assert list(session.exec(select(AuditEntry.action).where(
        AuditEntry.entity == "api_client", AuditEntry.entity_id == client_id).order_by(
        AuditEntry.id))) == ["create", "set_remit", "deactivate"]


def test_the_queue_narrows_to_a_village_of_a_township(browser, session, claim, county):
    village = session.get(Region, county.ids["village0"])
    user = browser("clerk")
    page = user.get("/claims", params={"township": village.parent_id}).text
    assert f'<option value="{village.id}"' in page and claim.claim_number in page
    other = registry.create_region(session, RegionCreate(
        code="411081100299", name="别村", level="village", parent_id=village.parent_id))
    session.commit()
    assert claim.claim_number not in user.get("/claims", params={
        "township": village.parent_id, "village": other.id}).text


def test_changing_a_users_password_changes_nothing_else_and_signs_them_out(browser, session):
    supervisor = browser("supervisor", "liu", approval_limit=Decimal("100000"))
    admin = browser("admin")
    page = admin.get("/admin").text
    short = admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "liu",
                                             "password": "short"})
    # in words, with the way back to the form (it read "password。（a password has at least
    # 10 characters)" on a dead end)
    assert short.status_code == 422 and "密码至少需要 10 个字符。" in short.text
    assert "a password" not in short.text and "data-back" in short.text
    from tests.factories import id_number
    wrong = id_number(seq=5)[:17] + ("0" if id_number(seq=5)[17] != "0" else "1")
    mistyped = admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "liu",
                                                "id_number": wrong})
    assert mistyped.status_code == 422 and "身份证号码无效" in mistyped.text
    assert "check character" not in mistyped.text and "请更正表单：id_number" not in mistyped.text
    assert admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "liu",
                                            "password": "a new long password"},
                      follow_redirects=False).status_code == 303
    session.expire_all()
    liu = session.exec(select(AppUser).where(AppUser.username == "liu")).one()
    assert (liu.role, liu.approval_limit) == ("supervisor", Decimal("100000.00"))
    assert supervisor.get("/dashboard", follow_redirects=False).status_code == 303
    admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "liu",
                                     "approval_limit": "none", "active": "0"})
    session.expire_all()
    liu = session.exec(select(AppUser).where(AppUser.username == "liu")).one()
    assert liu.approval_limit is None and not liu.active and liu.role == "supervisor"


def test_the_admin_page_takes_usernames_as_the_api_does_and_deactivation_signs_out(
        browser, app, session):
    """The admin form had made users the API refuses (an empty name, ADMIN, "user:admin", admin
    with a zero-width space, which reads as admin on the trail); a deactivated and
    reactivated user's old cookie had worked again; a demoted user's token kept its role
    for ten seconds in the process that demoted them (a security tester's)."""
    from claims import people

    admin = browser("admin")
    page = admin.get("/admin").text
    for bad in ("", "ADMIN", "a b", "user:admin", "admin\u200b", "x" * 65):
        refused = admin.post("/admin/users", data={"csrf_token": csrf_of(page),
                                                   "username": bad, "role": "clerk"})
        assert refused.status_code == 422 and "用户名为 2 至 64 个小写字母" in refused.text, bad
    assert session.exec(select(AppUser).where(AppUser.role == "clerk")).all() == []
    adjudicator = browser("adjudicator", "zhao")
    assert adjudicator.get("/dashboard", follow_redirects=False).status_code == 200
    for active in ("0", "1"):
        admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "zhao",
                                         "active": active})
    assert adjudicator.get("/dashboard", follow_redirects=False).status_code == 303
    user, token = people.create_user(session, SYSTEM, username="sun", full_name="孙",
                                     role="adjudicator")
    session.commit()
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/claims").status_code == 200  # remembered for a few seconds
    people.update_user(session, SYSTEM, user, active=False)
    session.commit()
    assert api.get("/api/claims").status_code == 401
    # reactivated, the token of before stays dead (it had worked again: a tester's); the
    # returning user is given a new one
    people.update_user(session, SYSTEM, user, active=True)
    session.commit()
    assert api.get("/api/claims").status_code == 401
    token = people.new_user_token(session, SYSTEM, user)
    session.commit()
    assert api.get("/api/claims", headers={"Authorization": f"Bearer {token}"}
                   ).status_code == 200


def test_an_approval_limit_typed_on_the_admin_page_is_read_as_every_amount_is(
        browser, session):
    """A hostile tester saved -100 as a limit, had 0.001 stored as 0.00, and NaN was a
    server error; the API refused all three."""
    browser("adjudicator", "wu", approval_limit=Decimal("5000"))
    admin = browser("admin")
    page = admin.get("/admin").text
    for typed in ("-100", "NaN", "0.001", "1e9"):
        refused = admin.post("/admin/users", data={"csrf_token": csrf_of(page),
                                                   "username": "wu", "approval_limit": typed})
        assert refused.status_code == 422 and "审批权限" in refused.text, typed
    assert admin.post("/admin/users", data={
        "csrf_token": csrf_of(page), "username": "wu", "approval_limit": "8,000.50"},
        follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.exec(select(AppUser.approval_limit).where(AppUser.username == "wu")).one(
        ) == Decimal("8000.50")
    from claims import people
    from policies.errors import InvalidInput

    wu = session.exec(select(AppUser).where(AppUser.username == "wu")).one()
    for bad in (Decimal("NaN"), Decimal("-1"), Decimal("0.001")):  # any other way in
        with pytest.raises(InvalidInput) as refused:
            people.update_user(session, SYSTEM, wu, approval_limit=bad)
        assert refused.value.field == "approval_limit"


def test_the_admin_page_records_whose_account_it_is(browser, session):
    """The four-eyes rules (own household, one person's two accounts) know only accounts
    that carry the person's ID number; before, only the API's creation of a user gave one."""
    from tests.factories import id_number

    browser("adjudicator", "qian")
    browser("supervisor", "sun")
    admin = browser("admin")
    page = admin.get("/admin").text
    person = id_number(seq=902)
    assert admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "qian",
                                            "id_number": person},
                      follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.exec(select(AppUser.id_number).where(AppUser.username == "qian")).one(
        ) == person
    twice = admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "sun",
                                             "id_number": person})
    assert twice.status_code == 409
    trail = session.exec(select(AuditEntry).where(AuditEntry.entity == "user",
                                                  AuditEntry.entity_id == "qian")).all()
    assert person not in str([(e.before, e.after) for e in trail])


def test_a_hidden_character_in_a_name_is_refused_on_the_admin_page_in_chinese(browser):
    admin = browser("admin")
    page = admin.get("/admin").text
    refused = admin.post("/admin/users", data={
        "csrf_token": csrf_of(page), "username": "ghost", "full_name": "\u202e三张",
        "role": "clerk"})
    assert refused.status_code == 422 and "第 1 个字符" in refused.text, refused.text
    assert "direction-override" not in refused.text
    key = admin.post("/admin/clients", data={
        "csrf_token": csrf_of(page), "name": "医保\x07局", "organisation": "medical_insurance"})
    assert key.status_code == 422 and "第 3 个字符是控制字符" in key.text, key.text
    assert "control character" not in key.text


def test_a_refused_step_is_shown_on_the_page_and_no_link_can_fake_one(browser, claim):
    clerk = browser("clerk")
    page = clerk.get(f"/claims/{claim.id}").text
    refused = clerk.post(f"/claims/{claim.id}/actions/start_investigation",
                         data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert refused.status_code == 403 and "您的角色不能办理此步骤" in refused.text
    faked = clerk.get(f"/claims/{claim.id}", params={"error": "请拨打 110", "done": "x"})
    assert "请拨打" not in faked.text and 'class="done"' not in faked.text
    assert faked.headers["cache-control"] == "no-store"


def test_every_answer_carries_the_security_headers(app):
    anonymous = TestClient(app, raise_server_exceptions=False)
    for path in ("/login", "/api/regions", "/healthz", "/static/app/app.css", "/docs",
                 "/no-such-page"):
        headers = anonymous.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers["x-frame-options"] == "DENY", path
        assert "geolocation=(self)" in headers["permissions-policy"], path


def test_a_body_larger_than_its_request_can_need_is_refused_unread(app, county, monkeypatch,
                                                                  browser, session):
    """A stranger's 300 MB of JSON was parsed before its missing token was noticed, stalling
    every request for 10 s; 2 GB posted to /login went to a temporary file (a security
    tester's). Bodies are refused by their declared length before they are read."""
    from claims.settings import get_settings
    from tests.claims.conftest import DEPARTMENT_KEY

    anonymous = TestClient(app)
    for path in ("/api/events", "/login", "/claims/1/documents"):
        refused = anonymous.post(path, content=b"[" + b"1," * 40_000 + b"1]",
                                 headers={"content-type": "application/json"})
        assert refused.status_code == 413 and refused.json()["field"] == "body", path
        assert "x-content-type-options" in refused.headers
    signing_in = anonymous.post("/login", data={"username": "x", "password": "y"})
    assert signing_in.status_code != 413  # a sign-in form is small
    faked = TestClient(app, cookies={web_session.COOKIE: "made-up"}).post(
        "/login", files={"f": ("a.bin", b"0" * 100_000)})  # any cookie: still a sign-in
    assert faked.status_code == 413
    # a made-up token or session cookie is a stranger's: it had been given 128 MB (a
    # hostile tester's)
    body = b"[" + b"1," * 40_000 + b"1]"
    for made_up in (TestClient(app, headers={"Authorization": "Bearer fpk_made-up"}),
                    TestClient(app, cookies={web_session.COOKIE: "made-up"})):
        for path in ("/api/events/batch", "/claims/1/documents"):
            refused = made_up.post(path, content=body,
                                   headers={"content-type": "application/json"})
            assert refused.status_code == 413 and "65,536" in refused.json()["message"], path
        # a chunked body's declared length is not what is read (a hostile tester's 50 MB)
        chunked = made_up.post("/api/events/batch", content=iter([body]), headers={
            "content-type": "application/json", "content-length": "10"})
        assert chunked.status_code in (400, 413), chunked.text
    # a session cookie counts while it signs its user in, and only on the pages: an idle
    # one had been given 128 MB on every API route (a hostile tester's)
    clerk = browser("clerk", "uploader")
    upload = {"files": ("a.png", b"0" * 70_000, "image/png")}
    assert clerk.post("/claims/1/documents", files=upload).status_code != 413
    assert clerk.post("/api/events/batch", content=body, headers={
        "content-type": "application/json"}).status_code == 413
    # another site's cookie with a space in it had hidden the session (a tester's)
    clerk.cookies.set("other_app", "a b")
    assert clerk.post("/claims/1/documents", files=upload).status_code != 413
    session.execute(sa.update(WebSession).values(last_seen=utcnow() - timedelta(hours=2)))
    session.commit()
    assert clerk.post("/claims/1/documents", files=upload).status_code == 413
    department = TestClient(app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"})
    taken = department.post("/api/events/batch", content=body,
                            headers={"content-type": "application/json"})
    assert taken.status_code == 422  # read, and found to be no batch of events
    monkeypatch.setattr(get_settings(), "max_body_bytes", 1024 * 1024)
    big = department.post("/api/events/batch", content=b"[" + b"1," * 600_000 + b"1]",
                          headers={"content-type": "application/json"})
    assert big.status_code == 413 and "1,048,576" in big.json()["message"]
    small = department.post("/api/events/batch", json=[])
    assert small.status_code != 413
    # a body sent without its length is read no further than the limit
    chunks = (b"[" if i == 0 else b"1," * 100_000 for i in range(20))
    streamed = department.post("/api/events/batch", content=chunks,
                               headers={"content-type": "application/json"})
    assert streamed.status_code == 400  # cut short: not JSON


def test_pages_hold_no_inline_script_or_style():
    """The CSP refuses them; the browser tests see the pages work without them."""
    for template in Path(__file__).resolve().parents[2].joinpath("templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<style|style=\"| on[a-z]+=\"|<script>", text), template.name


def test_forms_that_post_are_not_restored_by_the_browser():
    """Every form that posts, but signing in, says autocomplete="off": Chromium otherwise
    puts its typed values back on going back to the page, after a sign-out and another
    user's sign-in too (tests/browser/test_workspace.py shows it in Chromium)."""
    root = Path(__file__).resolve().parents[2].joinpath("templates")
    for template in root.glob("*.html"):
        for form in re.findall(r"<form\b[^>]*>", template.read_text(encoding="utf-8")):
            if 'method="post"' in form and 'action="/login"' not in form:
                assert 'autocomplete="off"' in form, (template.name, form)


def test_a_corrected_income_record_says_when_on_the_household_page(browser, session, county):
    """The figures shown are the corrected ones, and the page says they were corrected (the
    earlier figures stay on the trail and in what past nights read)."""
    record = registry.create_income_record(session, IncomeRecordCreate(
        household_id=county.household.id, period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31), source="report", wages=Decimal("30000")))
    session.commit()
    clerk = browser("clerk")
    assert "更正" not in clerk.get(f"/households/{county.household.id}").text
    registry.update_income_record(session, record.id, IncomeRecordUpdate(wages="36000"))
    session.commit()
    page = clerk.get(f"/households/{county.household.id}").text
    when = county_time(record.revised_at, "zh")
    assert f"已于 {when} 更正" in page and "36,000.00" in page


def test_a_batch_says_what_it_paid_so_a_failed_line_sent_again_is_not_counted_twice(
        staff, client, session, claim, browser):
    """A failed line goes into the next batch too: the list of batches and each batch say
    what was paid beside what was sent, and what the batches paid adds up to what the claim
    was paid (a hostile tester added the batches' totals and counted 7,500 twice)."""
    from tests.claims.test_lifecycle import act, to_approval

    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batches = []
    for status in ("失败", "成功"):
        batch = client.post("/api/payment-batches").json()
        client.post(f"/api/payment-batches/{batch['id']}/bank-file")
        client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={"file": (
            "a.csv", f"付款流水号,状态,银行流水号\n{batch['lines'][0]['id']},{status},BK-9\n"
            .encode())})
        batches.append(client.get(f"/api/payment-batches/{batch['id']}").json())

    assert [(b["amount"], b["paid_amount"]) for b in batches] == [
        ("7500.00", "0.00"), ("7500.00", "7500.00")]
    supervisor = browser("supervisor")
    rows = [[re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", supervisor.get("/payments").text, re.S)]
    listed = {row[0]: row[2:5] for row in rows if len(row) == 6}
    assert [listed[b["batch_number"]] for b in batches] == [
        ["1", "7,500.00", "0.00"], ["1", "7,500.00", "7,500.00"]]
    assert "元 · 已支付" not in supervisor.get(f"/payments/{batches[0]['id']}").text
    assert "元 · 已支付7,500.00元" in supervisor.get(f"/payments/{batches[1]['id']}").text
    # the bank sends the paid line back: the page gives its reason, not the old reference
    client.post(f"/api/payment-batches/{batches[1]['id']}/confirmation", files={"file": (
        "b.csv", f"付款流水号,状态,失败原因\n{batches[1]['lines'][0]['id']},退汇,户名不符\n"
        .encode())})
    assert "户名不符 (BK-9)" in supervisor.get(f"/payments/{batches[1]['id']}").text


def test_the_second_approver_is_offered_the_first_approvals_amount_and_told_their_own_limit(
        staff, session, claim, browser):
    """A hostile tester's supervisor found the whole amount due filled in after an
    adjudicator had approved part of it, and was told an approval above their limit would
    wait for a supervisor: a supervisor's is refused, nothing waits."""
    from tests.claims.test_lifecycle import act, to_approval

    to_approval(staff, claim, session)
    assert act(staff["adjudicator"], claim, "approve",
               {"amount": "6000.00", "note": "只认可部分票据"}).json()["state"] == "approval"

    page = browser("supervisor", approval_limit=Decimal("100000")).get(
        f"/claims/{claim.id}").text
    assert 'name="amount" inputmode="decimal" required value="6000.00"' in page
    assert "初审本轮批准 6,000.00 元" in page
    # the first approval is no approval yet (shown as the amount approved before)
    assert "初审：6,000.00，待复核" in page
    low = browser("supervisor", approval_limit=Decimal("1000")).get(f"/claims/{claim.id}").text
    assert "您最多只能审批到该额度" in low and "还须主管审批" not in low
    # above every supervisor's limit, the way on is said (a browser walk's 132,500 claim had
    # none: an administrator takes no claim step)
    assert "由系统管理员为一名主管设置足以覆盖该金额的审批权限" in low


def test_a_page_waiting_for_the_database_holds_no_other_request_back(
        app, browser, session, monkeypatch):
    """A page that saves a form waits for the database on a worker thread, never on the event
    loop: the admin page's save, waiting for SQLite's write lock behind an API request, froze
    every request of the service for five minutes (an operator's). The wait is made here by a
    step of the save that sleeps."""
    import threading
    import time

    from claims.web import office
    admin = browser("admin")
    page = admin.get("/admin").text
    administrator = office._administrator

    def waiting(*args, **kwargs):
        time.sleep(1.5)
        return administrator(*args, **kwargs)

    monkeypatch.setattr(office, "_administrator", waiting)
    with TestClient(app, cookies=dict(admin.cookies)) as shared:  # one event loop for both
        saved = {}
        save = threading.Thread(target=lambda: saved.setdefault("answer", shared.post(
            "/admin/users", data={"csrf_token": csrf_of(page), "username": "admin-0",
                                  "full_name": "新名字"}, follow_redirects=False)))
        save.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert shared.get("/login").status_code == 200
        answered = time.monotonic() - started
        save.join()
    assert saved["answer"].status_code == 303
    assert answered < 0.8, f"the sign-in page waited {answered:.1f} s behind the save"


def test_no_route_of_the_app_runs_its_handler_on_the_event_loop(app):
    """Every handler of the route table is a plain function, run on a worker thread, but
    FastAPI's own schema and the single event's intake, which awaits its group commit and
    makes no blocking call of its own: an ``async def`` page made its database calls on the
    event loop (see the test above)."""
    import inspect

    from fastapi.routing import iter_route_contexts
    on_the_loop = {(sorted(getattr(c.original_route, "methods", None) or ["?"])[0], c.path)
                   for c in iter_route_contexts(app.routes)
                   if inspect.iscoroutinefunction(getattr(c.original_route, "endpoint", None))}
    assert on_the_loop == {("GET", "/openapi.json"), ("POST", "/api/events")}


def test_nobody_changes_their_own_role_limit_or_permissions(browser, session):
    """An administrator made itself a supervisor with a limit of a million on the admin page
    and approved a claim alone; it could give itself the permission to reveal, or take away
    its own administration (a hostile tester's). Another administrator may; so may the CLI."""
    from claims import people
    from tests.factories import id_number

    admin = browser("admin", "zhou")
    page = admin.get("/admin").text
    for change in ({"role": "supervisor", "approval_limit": "1000000"},
                   {"may_reveal": "1"}, {"active": "0"}, {"id_number": id_number(seq=903)}):
        refused = admin.post("/admin/users", data={"csrf_token": csrf_of(page),
                                                   "username": "zhou", **change})
        assert refused.status_code == 403, change
        assert "任何人不能修改自己的角色" in refused.text, change
    zhou = session.exec(select(AppUser).where(AppUser.username == "zhou")).one()
    session.refresh(zhou)
    assert (zhou.role, zhou.approval_limit, zhou.may_reveal, zhou.active, zhou.id_number) == (
        "admin", None, False, True, None)
    assert admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "zhou",
                                            "password": "my own new password"},
                      follow_redirects=False).status_code == 303  # a password is one's own
    other = browser("admin", "wang")  # another administrator may
    assert other.post("/admin/users", data={"csrf_token": csrf_of(other.get("/admin").text),
                                            "username": "zhou", "may_reveal": "1"},
                      follow_redirects=False).status_code == 303
    people.update_user(session, SYSTEM, zhou, role="supervisor")  # and so may the CLI


def test_the_household_page_names_the_amount_due_and_the_amount_paid(browser, session, claim):
    """A claim's amount due stood alone beside its state, and 已赔付 10,000.00 read as paid
    where 9,000 had been (a tester's): each amount is under its name."""
    claim.state, claim.approved_amount, claim.paid_amount = "paid", Decimal("7000.00"), Decimal(
        "7000.00")
    session.add(claim)
    session.commit()
    page = browser("clerk").get(f"/households/{claim.household_id}").text
    row = re.search(rf"{claim.claim_number}.*?</tr>", page, re.S).group(0)
    assert "应赔金额" in page and "已付金额" in page
    # on a phone each under its name too (the table had run off a 390 px screen)
    assert re.findall(r'class="num" data-label="([^"]+)">([\d,.]+)<', row) == [
        ("应赔金额", "7,500.00"), ("已付金额", "7,000.00")]


def test_a_repeated_report_of_a_loss_says_so_on_the_claim_page(
        browser, department, session, county):
    """Three reports of one flood: the later two paid 0.00 on the claim page, with no word
    of why, and the one that assessed 60,000 instead of 40,000 went unseen (a tester's)."""
    from tests.claims.conftest import EVENT_DATE, evaluate
    from tests.factories import id_number

    flood = {"type": "disaster", "event_date": EVENT_DATE.isoformat(),
             "amounts": {"assessed_loss": "40000.00"}, "details": {"kind": "flood"}}
    for event_id, seq, loss in (("FLOOD-1", 1, "40000.00"), ("FLOOD-2", 2, "40000.00"),
                                ("FLOOD-3", 3, "60000.00")):
        assert department.post("/api/events", json={
            **flood, "event_id": event_id, "id_number": id_number(seq=seq),
            "amounts": {"assessed_loss": loss}}).status_code in (200, 202)
    evaluate(session)
    claim = session.exec(select(Claim)).one()
    page = browser("adjudicator").get(f"/claims/{claim.id}").text
    rows = dict(re.findall(r"<td>(FLOOD-\d)(.*?)</td>", page, re.S))
    assert "同一损失" not in rows["FLOOD-1"]
    assert "与 FLOOD-1 为同一损失" in rows["FLOOD-2"] and "金额与该报告不同" not in rows["FLOOD-2"]
    assert "与 FLOOD-1 为同一损失" in rows["FLOOD-3"] and "金额与该报告不同" in rows["FLOOD-3"]
    assert '<span class="tag warn">金额与该报告不同' in rows["FLOOD-3"]


def test_the_admin_page_says_whom_it_added_or_changed(browser, session):
    """Saving a user only reloaded the page, and the page's table left a permission not held
    blank (a tester's): a save says whether it added or changed whom, and every permission
    reads yes or no."""
    admin = browser("admin")
    page = admin.get("/admin").text
    added = admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "sun",
                                             "role": "clerk"})
    assert "已新增用户 sun。" in added.text
    changed = admin.post("/admin/users", data={"csrf_token": csrf_of(page), "username": "sun",
                                               "full_name": "孙"})
    assert "已修改用户 sun。" in changed.text and "已新增用户" not in changed.text
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*>sun<.*?</tr>", changed.text, re.S).group(0)
    assert re.findall(r'data-label="(?:可[^"]*|启用)">([^<]*)<', row) == ["否", "否", "是"]


def test_one_stay_reported_with_two_hospital_names_is_flagged_for_whoever_approves(
        browser, department, session, county):
    """A tester's hospital stay, reported twice with the same days but two spellings of the
    hospital, was paid twice without a word on the claim page. The reports still differ in
    what must agree, so both count; the page flags the second for the approver."""
    from tests.claims.conftest import evaluate
    from tests.claims.test_intake import illness

    stay = {"admission_date": "2026-03-01", "discharge_date": "2026-03-09"}
    for event_id, hospital in (("HIS-1", "禹州市人民医院"), ("HIS-2", "禹州人民医院"),
                               ("HIS-3", "禹州市中医院")):
        event = illness(event_id, total_cost="100000.00")
        event["details"] = {**stay, "hospital": hospital}
        if event_id == "HIS-3":
            event["details"]["admission_date"] = "2026-02-20"  # another stay
        assert department.post("/api/events", json=event).status_code == 202
    evaluate(session)
    claim = session.exec(select(Claim)).one()
    page = browser("adjudicator").get(f"/claims/{claim.id}").text
    rows = dict(re.findall(r"<td>(HIS-\d)(.*?)</td>", page, re.S))
    assert "住院起止日相同" not in rows["HIS-1"] + rows["HIS-3"]
    assert '<span class="tag warn">与 HIS-1 的日期和住院起止日相同' in rows["HIS-2"]


def test_a_township_the_admin_page_cannot_read_is_refused_not_made_the_whole_county(
        browser, session, county):
    """A hostile tester's typo on the admin page (townships=abc, a full-width ４) dropped the
    township it could not read, and the empty list that was left made a township's clerk
    county-wide. It is refused, naming the field; the API refuses an empty list, a
    township-limited administrator or auditor, and keeps a township once."""
    from fastapi.testclient import TestClient

    from claims.models import Region

    township = session.exec(select(Region).where(Region.level == "township")).first()
    browser("clerk", "qian", townships=[township.id])
    admin = browser("admin")
    page = admin.get("/admin").text
    for typo in ("abc", "４", f"{township.id}x"):
        refused = admin.post("/admin/users", data={
            "csrf_token": csrf_of(page), "username": "qian", "set_townships": "1",
            "townships": typo})
        assert refused.status_code == 422 and "乡镇" in refused.text, typo
        session.expire_all()
        assert session.exec(select(AppUser).where(AppUser.username == "qian")).one(
        ).townships == [township.id]
    auditor = admin.post("/admin/users", data={
        "csrf_token": csrf_of(page), "username": "zhou", "role": "auditor",
        "set_townships": "1", "townships": str(township.id)})
    assert auditor.status_code == 422 and "管理员和审计员的工作范围是全县" in auditor.text
    # nor made one by a change of role that keeps the townships (a re-tester's)
    promoted = admin.post("/admin/users", data={
        "csrf_token": csrf_of(page), "username": "qian", "role": "auditor"})
    assert promoted.status_code == 422 and "管理员和审计员的工作范围是全县" in promoted.text
    from claims import people
    from claims.auth import SYSTEM

    _, token = people.create_user(session, SYSTEM, username="boss2", full_name="管", role="admin")
    session.commit()
    api = TestClient(admin.app, headers={"Authorization": f"Bearer {token}"})
    for townships, field in (([], "townships"), ([township.id, township.id], None)):
        answer = api.post("/api/admin/users", json={
            "username": f"u{len(townships)}", "full_name": "员", "role": "clerk",
            "townships": townships})
        if field:
            assert answer.status_code == 422 and answer.json()["field"] == field
        else:
            assert answer.status_code == 201 and answer.json()["townships"] == [township.id]
