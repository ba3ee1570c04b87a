"""Owning work in a real browser (issue 17's four-eyes trap): an adjudicator starts the
investigation choosing another person as investigator, the investigator finds the visit on
"my work" (their start page), and the adjudicator, now the claim's adjudicator, still gets
the approval form and approves. On SQLite and PostgreSQL, at 1366 and 390 px."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlmodel import Session

from claims import clock
from claims.models import Claim
from policies.models import Household
from tests.browser import test_workspace as ws

# test_workspace's fixtures: a site of its own for this module, the browser, signing in
site, chromium, sign_in, csp_violations = ws.site, ws.chromium, ws.sign_in, ws.csp_violations
step, days_pass, claim_of, PASSWORD = ws.step, ws.days_pass, ws.claim_of, ws.PASSWORD
PHONE = "13912345678"


def land(browser, base, role, csp, width=1366, **options):
    """Sign in from the sign-in page itself: the start page is my work. ``options`` are the
    browser context's (a phone's touch, a location)."""
    context = browser.new_context(base_url=base, viewport={"width": width, "height": 844},
                                  **options)
    context.add_cookies([{"name": "fangpin_lang", "value": "zh", "url": base}])
    page = context.new_page()
    ws.watch_csp(page, csp)
    page.goto("/login")
    page.get_by_label("用户名").fill(role)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/work")
    return context, page


def no_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_adjudicator_sends_an_investigator_who_sees_it_and_the_adjudicator_approves(
        site, sign_in, chromium, csp_violations):
    base, engine = site
    claim = claim_of(engine)
    with Session(engine) as session:
        session.get(Household, claim.household_id).phone = PHONE
        session.commit()

    adjudicator_context, adjudicator = land(chromium, base, "adjudicator", csp_violations)
    expect(adjudicator.get_by_role("heading", name="我的工作")).to_be_visible()
    expect(adjudicator.get_by_text("目前没有等待您办理的事项")).to_be_visible()
    adjudicator.goto(f"/claims/{claim.id}")
    expect(adjudicator.get_by_text("您将成为本案的审核员")).to_be_visible()
    step(adjudicator, claim, "start_investigation",
         {"调查人员（调查人员不得审批本案）": "investigator者 (investigator)"})
    with Session(engine) as session:
        fresh = session.get(Claim, claim.id)
        assert fresh.state == "investigating"
        assert fresh.investigator_id != fresh.adjudicator_id

    # the investigator's start page lists the visit, phone masked
    investigator_context, investigator = land(chromium, base, "investigator", csp_violations,
                                              width=390)
    visits = investigator.locator("section", has_text="待入户调查的农户")
    expect(visits).to_contain_text(claim.claim_number)
    expect(visits).to_contain_text("139****5678")
    expect(visits).not_to_contain_text(PHONE)
    assert no_overflow(investigator)
    if ws.SHOTS:
        investigator.screenshot(path=f"{ws.SHOTS}/my-work.png", full_page=True)
    visits.get_by_role("link", name=claim.claim_number).click()
    investigator.wait_for_url(f"{base}/claims/{claim.id}")
    step(investigator, claim, "submit_survey", {
        "入户日期": clock.county_today().isoformat(),
        "调查人员（至少两人，用逗号分隔）": "王查勘，李查勘",
        "调查结论": "住院属实，家庭困难",
        "银行存款": "无大额存款"})
    investigator.goto("/work")
    expect(investigator.get_by_text("目前没有等待您办理的事项")).to_be_visible()

    clerk = sign_in("clerk")
    step(clerk, claim, "record_review", {"结果": "agree",
                                         "参加评议的代表（用逗号分隔）": "代表甲，代表乙"})
    days_pass(engine, 8)
    step(clerk, claim, "start_notice")
    days_pass(engine, 8)
    step(clerk, claim, "close_notice")

    # the adjudicator's work now holds the approval, and the claim offers its form
    adjudicator.goto("/work")
    waiting = adjudicator.locator("section", has_text="等待您办理的案件")
    expect(waiting).to_contain_text(claim.claim_number)
    expect(waiting).to_contain_text("审批：通过或拒赔")
    if ws.SHOTS:
        adjudicator.screenshot(path=f"{ws.SHOTS}/my-work-adjudicator.png", full_page=True)
        adjudicator.goto(f"/claims/{claim.id}/assignment")
        adjudicator.screenshot(path=f"{ws.SHOTS}/assignment.png", full_page=True)
        adjudicator.goto("/work")
    waiting.get_by_role("link", name=claim.claim_number).click()
    expect(adjudicator.locator(f'form[action="/claims/{claim.id}/actions/approve"]')
           ).to_be_visible()
    expect(adjudicator.get_by_text("您调查过此案件")).to_have_count(0)
    step(adjudicator, claim, "approve")  # above a limit of 5,000: the first approval
    expect(adjudicator.get_by_text("须由主管作第二次审批")).to_be_visible()
    with Session(engine) as session:
        assert session.get(Claim, claim.id).first_approver_id is not None
    adjudicator_context.close()
    investigator_context.close()
