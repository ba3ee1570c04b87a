"""The monitoring pages read in Chinese for a Chinese reader: what the system stored about an
elimination (its flags, a lapsed proposal's note; old rows stored in English too) and every
refusal of the office's forms — no English sentence and no raw code on the page."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from sqlmodel import select

from claims import clock, monitoring
from claims.models import Member
from risk.models import Elimination, FollowUp, MonitoringWindow
from risk.monitoring import add_months
from tests.claims.test_monitoring import (
    HOME_CHECK,
    lines_back,
    paid_and_fallen,
    pay,
    report,
    shift_story_back,
    steps_back,
    steps_done,
)
from tests.claims.test_web import browser, csrf_of  # noqa: F401
from tests.factories import household_with_members

# Words of Latin letters a Chinese page may show: names of file formats, and the signed-in
# users' names (clerk-0 recorded the steps). A file's column names, in <code>, are literal.
PROPER = {"CSV", "XLSX", "Excel", "UTF", "GBK", "clerk", "supervisor"}


def english_in(page: str) -> list[str]:
    """The lines of the page's <main> that hold a run of three or more Latin letters other
    than a proper noun: an English sentence or a raw code."""
    body = page.split("<main", 1)[-1].split("</main>", 1)[0]
    body = re.sub(r"<(script|style|code)[^>]*>.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", "\n", body)
    return [line.strip() for line in html.unescape(body).splitlines()
            if any(word not in PROPER for word in re.findall(r"[A-Za-z_]{3,}", line))]


def chinese(answer, status: int | None = None) -> str:
    """The page's <main> text, asserted to be in Chinese (and of the status, when given)."""
    if status is not None:
        assert answer.status_code == status, answer.text[-600:]
    assert english_in(answer.text) == [], english_in(answer.text)
    main = answer.text.split("<main", 1)[-1].split("</main>", 1)[0]
    assert re.search(r"[\u4e00-\u9fff]", main)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


def no_labour_and_stable(staff, client, session, claim, county) -> date:
    """A household without labour capacity, paid 13 months ago and reporting well above the
    line since: the system does not propose it, the office may. Returns the payment day."""
    lines_back(session, county)
    for member in session.exec(select(Member).where(Member.household_id == claim.household_id)):
        member.labour_skill = "lost"
    session.commit()
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    for months in (1, 3, 6, 7):
        report(staff["clerk"], session, claim.household_id, add_months(opened, months), "30000")
    monitoring.evaluate(session, add_months(opened, 7))
    session.commit()
    return opened


def test_an_eliminations_flags_read_in_chinese(staff, client, session, claim, county,
                                               browser):  # noqa: F811
    opened = no_labour_and_stable(staff, client, session, claim, county)
    steps_done(staff["clerk"], session, claim.household_id)
    zh = browser("clerk")
    path = f"/monitoring/households/{claim.household_id}"
    done = zh.post(f"{path}/elimination", data={
        "csrf_token": csrf_of(zh.get(path).text), "way": "assistance",
        "eliminated_on": str(add_months(opened, 1))}, follow_redirects=False)
    assert done.status_code == 303, done.text
    (confirmed,) = session.exec(select(Elimination)).all()
    session.refresh(confirmed)
    # stored as codes, with the values their words need
    assert confirmed.flags == [{"code": "quick_assistance", "months": 2},
                               {"code": "not_proposed", "reason": "no_labour"}]
    text = chinese(zh.get(path), 200)
    assert "2个月" in text and "劳动能力" in text


def test_flags_and_notes_stored_in_english_before_read_in_chinese(staff, client, session,
                                                                  claim, county,
                                                                  browser):  # noqa: F811
    paid_and_fallen(staff, client, session, claim, county)
    (window,) = session.exec(select(MonitoringWindow)).all()
    session.add_all([
        Elimination(household_id=claim.household_id, window_id=window.id, status="confirmed",
                    way="assistance", eliminated_on=window.opened_on, figures={}, flags=[
                        "eliminated by assistance within 2 months of identification",
                        "not proposed by the system: income above the line for 5 of the 6 "
                        "months needed",
                        "not proposed by the system: large unavoidable costs are not settled",
                        "not proposed by the system: a new risk has appeared",
                        "not proposed by the system: no member has labour capacity: the "
                        "office decides, not the system"]),
        Elimination(household_id=claim.household_id, window_id=window.id, status="lapsed",
                    figures={}, flags=[], note="a new payout opened a new monitoring window")])
    session.commit()
    text = chinese(browser("clerk").get(f"/monitoring/households/{claim.household_id}"), 200)
    assert "5" in text and "6" in text


def test_the_elimination_steps_refusals_read_in_chinese(staff, client, session, claim, county,
                                                        browser):  # noqa: F811
    opened = no_labour_and_stable(staff, client, session, claim, county)
    zh = browser("clerk")
    path = f"/monitoring/households/{claim.household_id}"
    token = csrf_of(zh.get(path).text)

    def step(kind: str, **fields):
        return zh.post(f"{path}/elimination/steps/{kind}", data={"csrf_token": token, **fields},
                       follow_redirects=False)

    confirm = {"csrf_token": token, "way": "natural", "eliminated_on": str(add_months(opened, 7))}
    text = chinese(zh.post(f"{path}/elimination", data=confirm, follow_redirects=False), 409)
    assert "入户核实" in text  # what comes next
    text = chinese(step("democratic_review", outcome="agree", representatives="甲"), 409)
    assert "民主评议" in text and "入户核实" in text
    chinese(step("bogus", text="x"), 422)
    home_check = {"team": "王核实,李核实", "findings": "稳定",
                  **{name: "1" for name in monitoring.SECURE}}
    text = chinese(step("home_check", visit_date=str(opened - timedelta(days=1)), **home_check),
                   422)
    assert str(opened) in text
    assert step("home_check", visit_date=HOME_CHECK["visit_date"],
                **home_check).status_code == 303
    chinese(step("home_check", visit_date=HOME_CHECK["visit_date"], **home_check), 409)
    assert step("democratic_review", outcome="agree", representatives="甲,乙").status_code == 303
    text = chinese(step("notice", start_date=str(clock.county_today() - timedelta(days=3))),
                   422)
    assert str(clock.county_today()) in text
    steps_back(session, claim.household_id, 8)
    assert step("notice", start_date=str(clock.county_today())).status_code == 303
    text = chinese(zh.post(f"{path}/elimination", data=confirm, follow_redirects=False), 409)
    assert "公示" in text  # the notice is running


def test_an_elimination_below_the_line_is_refused_in_chinese(staff, client, session, claim,
                                                             county, browser):  # noqa: F811
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    report(staff["clerk"], session, claim.household_id, add_months(opened, 1), "9000")
    zh = browser("clerk")
    path = f"/monitoring/households/{claim.household_id}"
    text = chinese(zh.post(f"{path}/elimination", data={
        "csrf_token": csrf_of(zh.get(path).text), "way": "natural",
        "eliminated_on": str(add_months(opened, 2))}, follow_redirects=False), 422)
    assert "8,700.00" in text


def test_a_follow_ups_refusals_read_in_chinese(staff, client, session, claim, county,
                                               browser):  # noqa: F811
    paid_and_fallen(staff, client, session, claim, county)
    (case,) = session.exec(select(FollowUp)).all()
    zh = browser("clerk")
    token = csrf_of(zh.get(f"/monitoring/households/{claim.household_id}").text)
    base = f"/monitoring/follow-ups/{case.id}"

    def post(action: str, **fields):
        return zh.post(f"{base}/{action}", data={"csrf_token": token, **fields},
                       follow_redirects=False)

    chinese(post("helper", helper="王\x00帮"), 422)
    measure = {"kind": "employment", "description": "介绍务工",
               "given_on": str(clock.county_today())}
    chinese(post("assistance", **{**measure, "description": "\u3164\u3164"}), 422)
    chinese(post("assistance", **{**measure, "reference": "a\x01"}), 422)
    assert post("assistance", **measure).status_code == 303
    chinese(post("assistance", **measure), 409)  # the same measure sent twice
    chinese(post("close", outcome="assisted", note="好\x00了"), 422)
    proposal = Elimination(household_id=claim.household_id, window_id=case.window_id,
                           figures={})
    session.add(proposal)
    session.commit()
    chinese(zh.post(f"/monitoring/eliminations/{proposal.id}/decline", data={
        "csrf_token": token, "note": "不\x00行"}, follow_redirects=False), 422)


def test_an_income_reports_refusals_read_in_chinese(staff, client, session, claim, county,
                                                    browser):  # noqa: F811
    lines_back(session, county)
    pay(staff, client, session, claim)
    zh = browser("clerk")
    path = f"/monitoring/households/{claim.household_id}"
    token = csrf_of(zh.get(path).text)
    today = clock.county_today()
    start, end = str(today - timedelta(days=90)), str(today - timedelta(days=1))

    def enter(**fields):
        return zh.post(f"{path}/reports", data={"csrf_token": token, **fields},
                       follow_redirects=False)

    text = chinese(enter(period_start=end, period_end=start), 422)
    assert start in text and end in text
    chinese(enter(period_start="2020-01-01", period_end=end), 422)
    chinese(enter(period_start=start, period_end=str(today + timedelta(days=1))), 422)
    chinese(enter(period_start=start, period_end=end, reference="a\x01"), 422)
    # no figure at all: stored as a household earning nothing, it could raise an alert (a
    # hostile tester's, through the API); 0 is given where it earned nothing
    assert "至少要填写一项收入" in chinese(enter(period_start=start, period_end=end), 422)
    api = client.post(f"/api/households/{claim.household_id}/income-reports", json={
        "period_start": start, "period_end": end})
    assert api.status_code == 422 and api.json()["code"] == "no_figures"
    costs = client.post(f"/api/households/{claim.household_id}/income-reports", json={
        "period_start": start, "period_end": end, "business_costs": "500"})  # no income
    assert costs.status_code == 422 and costs.json()["code"] == "no_figures"
    assert enter(period_start=start, period_end=end, wages="100").status_code == 303
    text = chinese(enter(period_start=start, period_end=end, wages="100"), 409)
    assert start in text


def test_an_imports_household_without_an_active_member_reads_in_chinese(
        staff, client, session, claim, county, browser):  # noqa: F811
    today = clock.county_today()
    gone, _members = household_with_members(session, county.ids["village0"], number="H0002",
                                            members=1, seq_start=50)
    for member in session.exec(select(Member).where(Member.household_id == gone.id)):
        member.status = "deceased"
    session.commit()
    text = ("户编号,起始日期,截止日期,工资性收入\n"
            f"{gone.household_number},{add_months(today, -3)},{today},6000\n")
    zh = browser("clerk")
    answer = zh.post("/monitoring/import", data={
        "csrf_token": csrf_of(zh.get("/monitoring").text), "partial": "true"},
        files={"file": ("reports.csv", text.encode())})
    assert "在册成员" in chinese(answer, 200)


def test_a_list_that_does_not_exist_is_refused_in_chinese(session, browser):  # noqa: F811
    text = chinese(browser("clerk").get("/monitoring?show=bogus"), 422)
    assert "拟风险消除" in text  # the lists there are, by their names
