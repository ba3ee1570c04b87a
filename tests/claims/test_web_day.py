"""A working day in the workspace (issue 17): administration with township-limited users,
error pages in the user's language for every page route, choosing the investigator and the
four-eyes rule before anyone presses, and times in the county's clock. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlmodel import col, select

from claims import clock, intake, lifecycle, people
from claims.auth import SYSTEM, Actor
from claims.models import (
    AppUser,
    AuditEntry,
    Claim,
    EarlyWarning,
    Payment,
    PaymentBatch,
    Region,
    TriggerEvent,
)
from claims.people import create_user
from claims.settings import get_settings
from claims.web import pages
from claims.web import session as web_session
from claims.web.pages import is_page
from policies import registry
from policies.models import Household, Member, PolicyContract, RegionCreate
from tests.claims import test_web
from tests.claims.test_access import routes
from tests.claims.test_intake import illness
from tests.claims.test_lifecycle import SURVEY, act, days_pass
from tests.claims.test_web import PASSWORD, csrf_of, form


@pytest.fixture
def browser(app, session):
    """test_web's signed-in browser: ``browser("clerk", townships=[...])``."""
    yield from test_web.browser.__wrapped__(app, session)

# --- administration -----------------------------------------------------------------------------

def test_administration_opens_when_a_user_is_limited_to_townships(browser, session, county):
    """Regression: a township-limited user once made /admin answer 500 on every visit (the
    template called a Jinja filter that does not exist)."""
    township = session.get(Region, county.ids["village0"]).parent_id
    browser("clerk", "limited-clerk", townships=[township])
    page = browser("admin").get("/admin")
    assert page.status_code == 200
    name = session.exec(select(Region.name).where(Region.id == township)).one()
    row = page.text.split("limited-clerk", 1)[1].split("</tr>", 1)[0]
    assert name in row  # the user's townships by name


# --- signing in ---------------------------------------------------------------------------------

def test_passwords_are_hashed_at_owasps_argon2id_and_old_hashes_are_rehashed_at_sign_in(
        session):
    """OWASP's Password Storage Cheat Sheet: Argon2id with at least 19 MiB, two passes, one
    lane. A hash made with other parameters (argon2-cffi's default before) still signs in,
    and is replaced by one with today's parameters."""
    user, _ = create_user(session, SYSTEM, username="old", full_name="老用户", role="clerk")
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    made = extract_parameters(user.password_hash)
    assert (made.type, made.memory_cost, made.time_cost, made.parallelism) == (
        Type.ID, 19 * 1024, 2, 1)
    user.password_hash = PasswordHasher(time_cost=3, memory_cost=65536,
                                        parallelism=4).hash(PASSWORD)
    session.commit()
    web_session.sign_in(session, "old", PASSWORD)
    session.commit()
    rehashed = session.get(AppUser, user.id).password_hash
    assert extract_parameters(rehashed) == made and PasswordHasher().verify(rehashed, PASSWORD)
    web_session.sign_in(session, "old", PASSWORD)  # and signs in with the new one
    session.commit()
    assert session.get(AppUser, user.id).password_hash == rehashed  # not rehashed again


# --- error pages --------------------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")


def page_routes(app) -> list[tuple[str, str]]:
    """The workspace's routes, from the app's route table (the API's answer in JSON)."""
    return [(method, path) for method, path in routes(app) if is_page(path)]


def provocations(method: str, path: str, token: str) -> list[tuple[str, str, dict | None]]:
    """Ways to make a route refuse: a number that is not one or a row that does not exist in
    the path, a form without its token, the other method."""
    tried = []
    if "_id}" in path:
        tried.append((method, re.sub(r"{\w+_id}", "abc", path), {"csrf_token": token}))
        tried.append((method, re.sub(r"{\w+_id}", "999999", path), {"csrf_token": token}))
    concrete = re.sub(r"{\w+_id}", "1", path).replace("{language}", "en").replace(
        "{action}", "approve")
    if method == "POST":
        tried.append((method, concrete, {}))  # no CSRF token
    tried.append(("DELETE", concrete, None))  # no page answers DELETE
    return tried


def assert_error_page(answer, language: str, seen: str) -> None:
    """An error page in the language: HTML with a title and a message in words, no JSON."""
    assert answer.headers["content-type"].startswith("text/html"), seen
    page = answer.text
    assert f'<html lang="{"zh-CN" if language == "zh" else "en"}">' in page, seen
    title = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1).strip()
    message = re.search(r"<h1>.*?</h1>\s*<p>(.*?)</p>", page, re.S).group(1).strip()
    assert title and message and '{"' not in page, seen
    if language == "zh":
        assert CJK.search(title) and CJK.search(message), f"{seen}: {title} / {message}"
    else:
        assert not CJK.search(title + message), f"{seen}: {title} / {message}"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_page_route_refuses_with_an_error_page_in_the_users_language(
        app, browser, claim, language):
    admin = browser("admin", language=language)
    auditor = browser("auditor", language=language)
    token = csrf_of(admin.get("/dashboard").text)
    refused: dict[tuple[str, str], list[int]] = {}
    for method, path in page_routes(app):
        for who in (admin, auditor):
            csrf = token if who is admin else csrf_of(who.get("/dashboard").text)
            for verb, url, fields in provocations(method, path, csrf):
                answer = who.request(verb, url, data=fields, follow_redirects=False)
                seen = f"{verb} {url} as {who.user.role}: {answer.status_code}"
                if answer.status_code >= 400:
                    assert_error_page(answer, language, seen)
                    refused.setdefault((method, path), []).append(answer.status_code)
    assert {(m, p) for m, p in page_routes(app)} - set(refused) == set()
    statuses = {status for found in refused.values() for status in found}
    assert {403, 404, 405, 422} <= statuses
    unknown = admin.get("/no-such-page")
    assert unknown.status_code == 404
    assert_error_page(unknown, language, "/no-such-page")
    # the API keeps answering in JSON
    assert admin.get("/api/no-such-thing").headers["content-type"] == "application/json"


def test_a_server_error_on_a_page_is_shown_in_the_users_language(app, browser, monkeypatch):
    clerk = browser("clerk")

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pages, "dashboard_figures", broken)
    answer = clerk.get("/dashboard")
    assert answer.status_code == 500
    assert_error_page(answer, "zh", "GET /dashboard")
    assert answer.headers["x-request-id"] in answer.text
    assert "a bug" not in answer.text


# --- choosing the investigator; the four-eyes rule before anyone presses ------------------------

def test_an_adjudicator_sends_an_investigator_and_may_still_approve(as_user, staff, session,
                                                                    county, claim):
    """Whoever starts the investigation chooses an eligible investigator; only who is sent
    (or surveys) is barred from approving. The API and the pages share the one check."""
    other_township = registry.create_region(session, RegionCreate(
        code="411081199", name="别镇", level="township", parent_id=county.ids["county"]))
    elsewhere = as_user("investigator", "inv-elsewhere")
    resting = as_user("investigator", "inv-resting")
    people.update_user(session, SYSTEM, elsewhere.user, townships=[other_township.id])
    people.update_user(session, SYSTEM, resting.user, active=False)
    session.commit()
    assert [u.username for u in lifecycle.eligible_investigators(session, claim)] == ["inv"]
    boss = staff["supervisor"]
    for chosen in (None, boss.user.id, staff["clerk"].user.id, elsewhere.user.id,
                   resting.user.id):
        refused = act(boss, claim, "start_investigation",
                      {} if chosen is None else {"investigator_id": chosen})
        assert refused.status_code == 422, chosen
        assert refused.json()["field"] == "investigator_id"
    sent = act(boss, claim, "start_investigation",
               {"investigator_id": staff["investigator"].user.id})
    assert sent.status_code == 200 and sent.json()["investigator_id"] == (
        staff["investigator"].user.id)
    assert lifecycle.people_who_investigated(session, claim) == {staff["investigator"].user.id}
    assert act(staff["investigator"], claim, "submit_survey", SURVEY).status_code == 200
    assert act(staff["clerk"], claim, "record_review", {
        "outcome": "agree", "representatives": ["代表甲"]}).status_code == 200
    days_pass(session, claim, 8)
    assert act(staff["clerk"], claim, "start_notice", {
        "start_date": (clock.county_today() - timedelta(days=7)).isoformat()}).status_code == 200
    assert act(staff["clerk"], claim, "close_notice").status_code == 200
    approved = act(boss, claim, "approve", {"amount": "7500.00"})  # who sent may approve
    assert approved.status_code == 200 and approved.json()["state"] == "payment_pending"


def test_the_approval_form_is_offered_only_to_who_may_approve_with_the_reason(
        browser, staff, session, claim):
    investigator = browser("investigator", id_number="11010519491231002X")
    # one person with two accounts: the investigator's ID number on an adjudicator's account
    twin = browser("adjudicator", approval_limit=Decimal("100000"),
                   id_number="11010519491231002X")
    first = browser("adjudicator", approval_limit=Decimal("5000"))
    other = browser("adjudicator", approval_limit=Decimal("5000"))
    supervisor = browser("supervisor", approval_limit=Decimal("100000"))
    form(investigator, claim, "start_investigation")
    form(investigator, claim, "submit_survey", visit_date=str(clock.county_today()), team="甲，乙",
         findings="属实", asset_check="存款: 无")
    form(staff_page := browser("clerk"), claim, "record_review", outcome="agree",
         representatives="代表甲")
    days_pass(session, claim, 8)
    form(staff_page, claim, "start_notice")
    days_pass(session, claim, 8)
    form(staff_page, claim, "close_notice")
    assert approve_form(twin, claim) is None
    assert "您调查过此案件，不能审批" in twin.get(f"/claims/{claim.id}").text
    assert approve_form(first, claim) is not None
    # above 5,000: waits for a supervisor; typed with the comma the page shows amounts with
    # (it was "not a number": a tester's)
    form(first, claim, "approve", amount="7,500.00")
    for who, reason in ((first, "您已作出第一次审批，须由主管作第二次审批"),
                        (other, "第二次审批须由主管办理")):
        page = who.get(f"/claims/{claim.id}").text
        assert approve_form(who, claim) is None and reason in page
        assert "超过您的审批权限" not in page  # no hint about a form that is not there
    page = supervisor.get(f"/claims/{claim.id}").text
    assert approve_form(supervisor, claim) is not None and "此为第二次审批" in page
    # a form sent anyway is refused by the same rule
    refused = other.post(f"/claims/{claim.id}/actions/approve",
                         data={"csrf_token": csrf_of(page), "amount": "7500.00"})
    assert refused.status_code == 403


def approve_form(client, claim):
    return re.search(rf'action="/claims/{claim.id}/actions/approve"',
                     client.get(f"/claims/{claim.id}").text)


def test_starting_the_investigation_on_the_page_chooses_among_eligible_investigators(
        browser, staff, session, claim):
    adjudicator = browser("adjudicator")
    page = adjudicator.get(f"/claims/{claim.id}").text
    choice = re.search(r'<select name="investigator_id" required>(.*?)</select>', page, re.S)
    offered = re.findall(r'<option value="(\d+)"', choice.group(1))
    assert offered == [str(staff["investigator"].user.id)]  # not the adjudicator, not a clerk
    assert '<option value="">请选择调查人员</option>' in choice.group(1)
    refused = adjudicator.post(f"/claims/{claim.id}/actions/start_investigation",
                               data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 422 and "investigator_id" in refused.text
    form(adjudicator, claim, "start_investigation", investigator_id=offered[0])
    session.expire_all()
    assert session.get(Claim, claim.id).investigator_id == staff["investigator"].user.id


# --- the county's clock -------------------------------------------------------------------------

INSTANT = datetime(2026, 3, 1, 20, 30, tzinfo=UTC)  # 04:30 the next morning in Beijing


def test_times_on_the_pages_are_the_countys_clock_labelled(browser, session, claim,
                                                           monkeypatch):
    entry = session.exec(select(AuditEntry).where(
        AuditEntry.entity == "claim", AuditEntry.entity_id == claim.claim_number)).first()
    entry.at = INSTANT
    session.add(PaymentBatch(batch_number="PB-CLOCK", created_at=INSTANT))
    session.commit()
    monkeypatch.setattr(pages, "utcnow", lambda: INSTANT)  # when the dashboard is counted
    chinese, english = browser("supervisor"), browser("supervisor", language="en")
    for path, shown in (("/dashboard", "04:30 北京时间"),
                        (f"/claims/{claim.id}", "2026-03-02 04:30 北京时间"),
                        ("/payments", "2026-03-02 04:30 北京时间")):
        page = chinese.get(path).text
        assert shown in page, path
        assert "UTC" not in page and "20:30" not in page, path
        assert shown.replace("北京时间", "Beijing time") in english.get(path).text, path
    # another county's clock goes by its zone's name
    monkeypatch.setattr(get_settings(), "timezone", "Asia/Urumqi")
    pages.forget_dashboards()
    assert "2026-03-02 02:30 Asia/Urumqi" in chinese.get("/payments").text


def test_a_warning_raised_in_the_evening_utc_shows_the_countys_next_day(browser, session,
                                                                       claim):
    """20:00 UTC is 04:00 the next morning in Beijing: the warning list and the household
    page show the county's date and time, labelled, never the UTC date."""
    session.add(EarlyWarning(household_id=claim.household_id, trigger="risk_high",
                             source="risk", score=0.71, text="夜间评分预警",
                             created_at=datetime(2026, 3, 1, 20, 0, tzinfo=UTC)))
    session.commit()
    chinese, english = browser("supervisor"), browser("supervisor", language="en")
    for path in ("/warnings", f"/households/{claim.household_id}"):
        page = chinese.get(path).text
        row = page.split("夜间评分预警")[0].rsplit("<tr>", 1)[1]
        assert "2026-03-02 04:00 北京时间" in row, path
        assert "2026-03-01" not in row and "20:00" not in row, path
        assert "2026-03-02 04:00 Beijing time" in english.get(path).text, path


def test_a_households_warnings_name_their_status_in_chinese(browser, session, claim):
    """The household page's warnings said 'open' and 'closed' to Chinese readers."""
    for status in ("open", "closed"):
        session.add(EarlyWarning(household_id=claim.household_id, trigger="risk_high",
                                 source="risk", score=0.6, text=f"预警{status}",
                                 status=status))
    session.commit()
    page = browser("supervisor").get(f"/households/{claim.household_id}").text

    opened = page.split("预警open")[1].split("</tr>")[0]
    closed = page.split("预警closed")[1].split("</tr>")[0]
    assert "待处置" in opened and ">open<" not in opened
    assert "已处置" in closed and ">closed<" not in closed


def test_the_dashboard_counts_what_the_bank_paid_this_year(browser, session, claim):
    """'Paid in 2026' showed 0.00 beside the fund's payouts: it summed the claims of the
    policy year, so last year's claims paid this year were missing. It is the money the bank
    confirmed since the county's 1 January, whatever the claim's year."""
    this_year = datetime.now(UTC).year
    claim.policy_year = this_year - 1
    batch = PaymentBatch(batch_number="B-DASH-1")
    session.add(batch)
    session.flush()
    for amount, paid_at in (("1200.00", datetime.now(UTC)),  # this year
                            # 1 January 00:30 in Beijing: this year's money
                            ("300.00", datetime(this_year - 1, 12, 31, 16, 30, tzinfo=UTC)),
                            # 31 December 23:00 in Beijing: last year's
                            ("45.00", datetime(this_year - 1, 12, 31, 15, 0, tzinfo=UTC))):
        session.add(Payment(batch_id=batch.id, claim_id=claim.id, amount=Decimal(amount),
                            state="paid", paid_at=paid_at))
    session.commit()
    pages.forget_dashboards()

    page = browser("supervisor").get("/dashboard").text

    kpi = page.split(f"{this_year} 年已付")[0].rsplit("<b>", 1)[1]
    assert kpi.startswith("1,500.00"), kpi

# --- the demo lives in the present --------------------------------------------------------------

@pytest.mark.parametrize("builder", ["demo", "demo --history"])
def test_a_newcomers_event_of_today_is_covered_in_the_fresh_demo_county(
        session, monkeypatch, builder):
    """The demo with its simulated history (./scripts/run) once ended its only contract with
    the panel's last year, so every event of the present day was not_covered."""
    from policies import demo, history
    from risk import simulator

    zone = get_settings().timezone
    monkeypatch.setattr(history, "clock", lambda: clock.county_today(zone))
    today = clock.county_today(zone)
    if builder == "demo":
        demo.build_demo_county(session, households=30, seed=3)
    else:
        simulator.simulate_county(session, households=200, seed=11)
    client, _ = people.create_client(session, SYSTEM, "医保局", "medical_insurance")
    member = session.exec(
        select(Member).join(Household, col(Household.id) == Member.household_id)
        .where(Member.status == "active", Household.status == "active")
        .order_by(Member.id)).first()
    event = illness("NEWCOMER-1")
    event.update(event_date=today.isoformat(), id_number=member.id_number)
    actor = Actor("client", client.id, "医保局", organisation="medical_insurance")
    intake.receive(session, actor, [event], today=today)
    session.commit()
    intake.evaluate_received(session)
    session.commit()
    stored = session.exec(select(TriggerEvent)).one()
    assert stored.status == "accepted", (stored.status, stored.reason)
    contract = session.get(PolicyContract, stored.contract_id)
    assert contract.start_date <= today <= contract.end_date


# --- an income report entered on the page -------------------------------------------------------

def test_an_income_report_saved_on_the_page_is_confirmed_and_listed(staff, client, session,
                                                                    claim, browser):
    """The page once answered a saved report with no word and went on saying there was
    none."""
    from tests.claims.test_monitoring import pay
    from tests.claims.test_monitoring_web import post

    pay(staff, client, session, claim)
    clerk = browser("clerk")
    path = f"/monitoring/households/{claim.household_id}"
    page = clerk.get(path).text
    assert "赔付后尚无收入报告" in page
    start, end = clock.county_today() - timedelta(days=60), clock.county_today()
    saved = post(clerk, f"{path}/reports", page, period_start=str(start),
                 period_end=str(end), wages="6000")
    assert saved.status_code == 303
    page = clerk.get(saved.headers["location"]).text
    assert f"{start} 至 {end} 的收入报告已记录。" in page
    listed = page.split("已录入的收入报告", 1)[1].split("</table>", 1)[0]
    assert f"{start} – {end}" in listed and "2,000.00" in listed  # 6,000 for three people
    assert "北京时间" in listed
    assert "赔付后尚无收入报告" not in page
    assert "收入报告已记录" not in clerk.get(path).text  # said once, after the saving
    # one that ends before the monitoring began is confirmed too, and says where it went
    # (a tester's was saved without a word)
    early = post(clerk, f"{path}/reports", page, period_start=str(start - timedelta(days=90)),
                 period_end=str(start - timedelta(days=1)), wages="1,200")
    page = clerk.get(early.headers["location"]).text
    assert "的收入报告已记录。" in page and "已计入农户收入台账" in page


# --- the claim's summary ------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_rejected_claims_summary_gives_the_reason(staff, claim, browser, language):
    act(staff["adjudicator"], claim, "reject", {"code": "not_eligible", "text": "收入超标"})
    page = browser("clerk", language=language).get(f"/claims/{claim.id}").text
    summary = page.split("</table>", 1)[0]
    reason = {"zh": "拒赔理由</th><td>不符合条件: 收入超标",
              "en": "Rejection reason</th><td>not eligible: 收入超标"}[language]
    assert reason in summary


# --- finding work -------------------------------------------------------------------------------

def test_the_queue_puts_closed_claims_last_and_links_the_household(session, claim, browser):
    """The default order is the due date with paid, rejected and withdrawn claims after the
    open ones (they once came first, by their earlier due dates)."""
    values = {c.name: getattr(claim, c.name) for c in Claim.__table__.columns if c.name != "id"}
    for number, state, due, trigger in (
            ("LP-PAID", "paid", date(2020, 1, 1), "accident"),
            ("LP-REJECTED", "rejected", date(2020, 1, 2), "disaster"),
            ("LP-WITHDRAWN", "withdrawn", None, "disability")):
        session.add(Claim(**{**values, "claim_number": number, "state": state,
                             "trigger": trigger, "due_date": due}))
    session.get(Claim, claim.id).due_date = clock.county_today() + timedelta(days=5)
    session.commit()
    page = browser("clerk").get("/claims").text
    listed = re.findall(r'<a href="/claims/\d+">([^<]+)</a>', page)
    assert listed[0] == claim.claim_number
    assert set(listed[1:]) == {"LP-PAID", "LP-REJECTED", "LP-WITHDRAWN"}
    row = page.split(f">{claim.claim_number}</a>", 1)[1].split("</tr>", 1)[0]
    household = session.get(Household, claim.household_id)
    assert f'<a href="/households/{household.id}">{household.household_number}</a>' in row
    claim_page = browser("clerk").get(f"/claims/{claim.id}").text
    assert f'<a href="/households/{household.id}">{household.household_number}</a>' in claim_page


def test_a_claim_is_found_by_part_of_its_number_a_name_or_an_id_number(session, claim, county,
                                                                        browser):
    """The household search took an exact name only and found no claims."""
    member = county.members[0]
    member.name = "王秀英"
    session.commit()
    clerk = browser("clerk")

    def claims_found(page: str) -> list[str]:
        return re.findall(r'<a href="/claims/\d+">([^<]+)</a>',
                          page.split("<h2>理赔案件</h2>", 1)[1])

    by_number = clerk.get(f"/households?q={claim.claim_number[2:8]}").text
    assert claims_found(by_number) == [claim.claim_number]
    by_name = clerk.get("/households?q=秀英").text
    assert claims_found(by_name) == [claim.claim_number]
    assert f'<a href="/households/{claim.household_id}">' in by_name
    assert "王秀英" not in by_name  # found by the name, not shown
    assert claims_found(clerk.get("/households?q=张三丰").text) == []
    # a link from another site is asked about first (a search by name is on the trail: a
    # link in a mail had put one there in their name); the person opens it from the page
    names = select(AuditEntry).where(AuditEntry.action == "search_by_name")
    before = len(session.exec(names).all())
    linked = clerk.get("/households?q=秀英", headers={"Sec-Fetch-Site": "cross-site"}).text
    assert "打开此页面？" in linked and "<h2>理赔案件</h2>" not in linked
    assert 'href="/households?q=%E7%A7%80%E8%8B%B1"' in linked
    assert len(session.exec(names).all()) == before

    searches = select(AuditEntry).where(AuditEntry.action == "search_by_id_number")
    by_link = clerk.get(f"/households?q={member.id_number}").text
    assert "<h2>理赔案件</h2>" not in by_link and session.exec(searches).all() == []
    queue = clerk.get("/claims").text  # the queue's search form, with its token
    by_form = clerk.post("/households", data={"csrf_token": test_web.csrf_of(queue),
                                              "q": member.id_number}).text
    assert claims_found(by_form) == [claim.claim_number]
    assert member.id_number not in by_form.replace(f'value="{member.id_number}"', "")
    (entry,) = session.exec(searches).all()
    assert entry.entity_id != member.id_number and entry.entity_id[-4:] == member.id_number[-4:]

    township = registry.create_region(session, RegionCreate(
        code="411081299", name="别的镇", level="township", parent_id=county.ids["county"]))
    session.commit()
    elsewhere = browser("clerk", "elsewhere", townships=[township.id])
    assert claims_found(elsewhere.get(f"/households?q={claim.claim_number}").text) == []


def test_a_demo_county_seeded_last_year_is_renewed_by_the_next_run(session, monkeypatch):
    """./scripts/run seeds only an empty database (`fangpin demo --if-empty`): one seeded in
    an earlier year kept that year's contract, and a newcomer's event of today went
    not_covered. The run now renews the demo county's contract up to the present year."""
    from datetime import timedelta

    from claims import cli
    from policies import demo, history

    zone = get_settings().timezone
    today = clock.county_today(zone)
    last_year = today.replace(year=today.year - 1, day=min(today.day, 28))
    monkeypatch.setattr(history, "clock", lambda: last_year)
    demo.build_demo_county(session, households=20, seed=3)
    session.commit()
    monkeypatch.setattr(history, "clock", lambda: today)
    monkeypatch.setattr(cli, "get_engine", lambda: session.get_bind())
    assert cli.main(["demo", "--if-empty"]) == 0
    assert cli.main(["demo", "--if-empty"]) == 0  # a second run renews nothing more
    session.expire_all()
    years = sorted(c.policy_year for c in session.exec(select(PolicyContract)))
    assert years == [today.year - 1, today.year]
    client, _ = people.create_client(session, SYSTEM, "医保局", "medical_insurance")
    member = session.exec(select(Member).where(Member.status == "active")
                          .order_by(Member.id)).first()
    event = illness("LAST-YEAR-1")
    event.update(event_date=(today - timedelta(days=1)).isoformat(), id_number=member.id_number)
    intake.receive(session, Actor("client", client.id, "医保局",
                                  organisation="medical_insurance"), [event], today=today)
    session.commit()
    intake.evaluate_received(session)
    session.commit()
    stored = session.exec(select(TriggerEvent)).one()
    assert stored.status == "accepted", (stored.status, stored.reason)


# --- refusals in the reader's language -----------------------------------------------------------

def test_a_refused_step_reads_wholly_in_the_readers_language(browser, staff, session, claim):
    """Issue 17: refusals read "请更正表单：team。(team: List should have at least 2 items…)"
    and "案件当前状态不能办理此步骤。(the public notice runs 7 days…)". A refusal the
    service gives a code has words of its own: the field's label, the rule and its values,
    with no English after them."""
    investigator = browser("investigator")
    assert act(staff["supervisor"], claim, "start_investigation",
               {"investigator_id": investigator.user.id}).status_code == 200
    page = investigator.get(f"/claims/{claim.id}").text
    fields = {"csrf_token": csrf_of(page), "visit_date": str(clock.county_today()),
              "team": "王查勘", "findings": "住院属实", "asset_bank_deposits": "无"}
    refused = investigator.post(f"/claims/{claim.id}/actions/submit_survey", data=fields)
    assert refused.status_code == 422
    assert "请更正表单：调查人员——至少需要两名不同的人员。" in refused.text  # not "条目不足"
    later = str(clock.county_today() + timedelta(days=3))
    refused = investigator.post(f"/claims/{claim.id}/actions/submit_survey",
                                data={**fields, "team": "王查勘，李查勘", "visit_date": later})
    assert refused.status_code == 422 and "入户日期不能晚于今天。" in refused.text
    for text in [refused.text]:
        alert = re.search(r'role="alert"[^>]*>(.*?)</', text, re.S)
        assert alert and not re.search(r"[A-Za-z]{3,}", alert.group(1)), alert
    form(investigator, claim, "submit_survey", **{**fields, "team": "王查勘，李查勘"})
    clerk = browser("clerk")
    form(clerk, claim, "record_review", outcome="agree", representatives="代表甲，代表乙")
    form(clerk, claim, "start_notice")
    page = clerk.get(f"/claims/{claim.id}").text
    early = clerk.post(f"/claims/{claim.id}/actions/close_notice",
                       data={"csrf_token": csrf_of(page)})
    assert early.status_code == 409
    assert re.search(r"公示期为自 \d{4}-\d\d-\d\d 起 7 天：\d{4}-\d\d-\d\d 起方可结束公示。",
                     early.text), early.text[-2000:]
    assert "public notice runs" not in early.text
