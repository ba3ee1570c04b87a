"""Bulk work and the office's days in a real browser (Chromium through Playwright), at
1440 × 900 and on a phone (390 × 844): the clerk filters the early warnings and closes the
chosen ones with an outcome and a note, records a village meeting's review of the village's
surveyed claims (one not agreed, with its reason), the supervisor approves a chosen list of
claims; the
clerk takes a household's risk elimination through its steps (home check, village review,
notice, objection) to the office's decision; on the phone, the supervisor gathers the approved
claims into a payment batch, downloads the bank file and uploads the bank's answer. No page is
wider than the screen, every form is reachable, and the results are listed in Chinese. On SQLite
and PostgreSQL. With FANGPIN_SCREENSHOTS=DIR the elimination and the phone's batch are saved
there."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from claims import clock, intake, lifecycle, monitoring
from claims.app import create_app
from claims.auth import SYSTEM, actor_for_user
from claims.db import get_session, make_engine, sessions_on
from claims.migrate import upgrade
from claims.models import AppUser, Claim, EarlyWarning, Household
from claims.web.session import set_password
from risk.models import Elimination, EliminationStep, MonitoringWindow
from tests.browser.test_workspace import (  # noqa: F401 — the browser and its fixtures
    PASSWORD,
    SHOTS,
    chromium,
    csp_violations,
    serving,
    watch_csp,
)
from tests.claims.test_bulk import build, waiting_for_approval, warn
from tests.conftest import database_url
from tests.factories import household_with_members

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bulk_site(request, tmp_path_factory):
    """The service over a county with five open warnings and four claims waiting for
    approval; the clerk and the supervisor may sign in."""
    for url in database_url(request.param, tmp_path_factory, "bulk"):
        upgrade(url)
        engine = make_engine(url, pool_size=5)
        app = create_app()
        app.dependency_overrides[get_session] = sessions_on(lambda bound=engine: bound)
        with Session(engine) as session:
            w = build(session)
            warn(session, w)
            for claim, entitled in zip(w.claims[:4], ("3000", "8000", "2000", "1000"),
                                       strict=True):
                waiting_for_approval(session, w, claim, entitled)
            for name in ("clerk", "sup"):
                set_password(session, SYSTEM, session.exec(select(AppUser).where(
                    AppUser.username == name)).one(), PASSWORD)
            session.commit()
        with serving(app) as base:
            yield base, engine
        engine.dispose()


@pytest.fixture
def signed_in(bulk_site, chromium, csp_violations):  # noqa: F811
    base, _engine = bulk_site
    contexts = []

    def as_user(username: str, viewport: str):
        context = chromium.new_context(base_url=base, viewport=VIEWPORTS[viewport])
        context.add_cookies([{"name": "fangpin_lang", "value": "zh", "url": base}])
        page = context.new_page()
        watch_csp(page, csp_violations)
        page.goto("/dashboard")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(f"{base}/dashboard")
        contexts.append(context)
        return page

    yield as_user
    for context in contexts:
        context.close()


def fits(page) -> None:
    """No horizontal scrolling: the page is no wider than the window."""
    page.wait_for_load_state()
    width, inner = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} is {width} px wide in a {inner} px window"


def within_screen(page, locator) -> None:
    """The element can be scrolled to and lies inside the window's width."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0
    assert box["x"] + box["width"] <= page.viewport_size["width"] + 0.5


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_clerk_closes_the_chosen_warnings_at_once(bulk_site, signed_in, viewport):
    _base, engine = bulk_site
    page = signed_in("clerk", viewport)
    page.goto("/warnings?min_score=0.5")
    fits(page)
    boxes = page.locator('input[type=checkbox][name=warning_id]')
    assert boxes.count() >= 2
    chosen = [boxes.nth(i).get_attribute("value") for i in range(2)]
    for i in range(2):
        within_screen(page, boxes.nth(i))
        boxes.nth(i).check()
    form = page.locator("#bulk-close")
    outcome = form.get_by_role("combobox", name="结果")
    within_screen(page, outcome)
    outcome.select_option("assisted")
    form.get_by_role("textbox", name="备注").fill("已落实临时救助")
    submit = form.get_by_role("button", name="关闭所选预警")
    within_screen(page, submit)
    submit.click()
    expect(page.get_by_role("status")).to_have_text("共 2 条，已关闭 2 条。")
    fits(page)
    # each row's own close form is reachable too
    page.goto("/warnings")
    within_screen(page, page.locator("form[action$='/close'] button").first)
    fits(page)
    with Session(engine) as session:
        closed = [session.get(EarlyWarning, int(i)) for i in chosen]
        assert [(w.status, w.outcome) for w in closed] == [
            ("closed", "assisted: 已落实临时救助")] * 2


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_supervisor_approves_a_chosen_list(bulk_site, signed_in, viewport):
    _base, engine = bulk_site
    page = signed_in("sup", viewport)
    page.get_by_role("link", name="批量审批").click()
    expect(page).to_have_url(re.compile(r"/approvals$"))
    fits(page)
    boxes = page.locator("input[type=checkbox][name=claim_id]:not([disabled])")
    assert boxes.count() >= 2
    chosen = [int(boxes.nth(i).get_attribute("value")) for i in range(2)]
    for i in range(2):
        within_screen(page, boxes.nth(i))
        boxes.nth(i).check()
    page.get_by_label("审批意见").fill("材料齐全")
    submit = page.get_by_role("button", name="审批所选案件")
    within_screen(page, submit)
    submit.click()
    expect(page.get_by_role("status")).to_have_text("共 2 件，2 件已办理。")
    expect(page.get_by_text("已审批，待支付")).to_have_count(2)
    fits(page)
    with Session(engine) as session:
        assert {session.get(Claim, i).state for i in chosen} == {"payment_pending"}
    # reloading the results shows the list again rather than sending the approvals again
    # (which each claim refused, a page of "not done")
    page.reload()
    expect(page).to_have_url(re.compile(r"/approvals$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("审批")
    expect(page.get_by_role("status")).to_have_count(0)  # no results, done or "not done"


def monitored(engine, number: str, seq_start: int) -> Household:
    """A household of village A paid 200 days ago (its monitoring window open, no follow-up)
    whose income report of the last three months is well above the line."""
    today = clock.county_today()
    with Session(engine) as session:
        village = session.exec(select(Household.village_id)).first()
        household, _ = household_with_members(session, village, number=number,
                                              seq_start=seq_start)
        claim = intake.apply(session, SYSTEM, household.id, "illness", "看病")
        monitoring.open_or_extend(session, claim, today - timedelta(days=200))
        monitoring.record_income_report(session, SYSTEM, household.id, monitoring.IncomeReportIn(
            period_start=today - timedelta(days=90), period_end=today - timedelta(days=1),
            wages=Decimal("30000")), today)
        session.commit()
        session.refresh(household)
        return household


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_clerk_takes_a_risk_elimination_through_its_steps(bulk_site, signed_in, viewport):
    _base, engine = bulk_site
    today = clock.county_today()
    household = monitored(engine, *{"desktop": ("HE001", 80), "phone": ("HE002", 90)}[viewport])
    page = signed_in("clerk", viewport)
    page.goto("/monitoring")
    fits(page)
    page.get_by_role("link", name=household.household_number).click()
    expect(page.get_by_text("下一步：入户核实。")).to_be_visible()
    fits(page)

    def send(kind: str, fill: dict[str, str], checks: tuple[str, ...] = (),
             choose: dict[str, str] | None = None) -> None:
        form = page.locator(f'form[action$="/elimination/steps/{kind}"]')
        for label, value in fill.items():
            form.get_by_label(label, exact=True).fill(value)
        for label, value in (choose or {}).items():
            form.get_by_label(label).select_option(value)
        for label in checks:
            form.get_by_label(label).check()
        button = form.get_by_role("button")
        within_screen(page, button)
        button.click()

    send("home_check", {"入户日期": str(today), "调查结论": "务工收入稳定，住房安全",
                        "调查人员（至少两人，用逗号分隔）": "王核实，李核实"},
         ("住房安全有保障", "义务教育有保障", "基本医疗有保障", "饮水安全有保障"))
    expect(page.get_by_text("下一步：民主评议。")).to_be_visible()
    send("democratic_review", {"参加评议的代表（用逗号分隔）": "代表甲，代表乙"},
         choose={"结果": "agree"})
    expect(page.get_by_text("下一步：公示。")).to_be_visible()
    with Session(engine) as session:  # the village met a month ago (a notice follows it)
        for step in session.exec(select(EliminationStep).join(
                Elimination, Elimination.id == EliminationStep.elimination_id).where(
                Elimination.household_id == household.id)):
            step.created_at -= timedelta(days=31)
        session.commit()
    # the notice started a month ago has run its days; an objection was not upheld
    send("notice", {"公示开始日期": str(today - timedelta(days=30))})
    send("objection", {"异议": "邻居认为收入来源不稳定，经核实为长期务工"})
    decision = page.locator(f'form[action="/monitoring/households/{household.id}/elimination"]')
    expect(decision).to_be_visible()
    fits(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/elimination-{viewport}.png", full_page=True)
    decision.get_by_label("消除方式").select_option("assistance")
    decision.get_by_label("消除日期").fill(str(today))
    confirm = decision.get_by_role("button", name="确认风险消除")
    within_screen(page, confirm)
    confirm.click()
    expect(page.get_by_text("已确认消除")).to_be_visible()
    expect(decision).to_have_count(0)
    fits(page)
    with Session(engine) as session:
        proposal = session.exec(select(Elimination).where(
            Elimination.household_id == household.id)).one()
        assert (proposal.status, proposal.way) == ("confirmed", "assistance")
        assert [s.kind for s in monitoring.elimination_steps(session, proposal)] == [
            "home_check", "democratic_review", "notice", "objection"]
        assert session.exec(select(MonitoringWindow).where(
            MonitoringWindow.household_id == household.id)).one().status == "eliminated"


def test_the_supervisor_pays_a_batch_on_a_phone(bulk_site, signed_in, tmp_path):
    _base, engine = bulk_site
    with Session(engine) as session:  # approved claims, whatever ran before
        waiting = session.exec(select(Claim).where(Claim.state == "payment_pending")).all()
        if not waiting:
            supervisor = actor_for_user(session.exec(select(AppUser).where(
                AppUser.username == "sup")).one())
            claim = session.exec(select(Claim).where(Claim.state == "approval")).first()
            lifecycle.transition(session, claim, "approve", supervisor,
                                 data={"amount": str(claim.entitled)})
            session.commit()
            waiting = [claim]
        numbers = sorted(c.claim_number for c in waiting)
    page = signed_in("sup", "phone")
    page.goto("/payments")
    fits(page)
    gather = page.get_by_role("button", name="生成新的支付批次")
    within_screen(page, gather)
    gather.click()
    for number in numbers:
        expect(page.get_by_role("cell", name=number)).to_be_attached()
    fits(page)
    download = page.get_by_role("button", name="下载（明细标记为已导出）")
    within_screen(page, download)
    with page.expect_download() as got:
        download.click()
    rows = Path(got.value.path()).read_text(encoding="utf-8-sig").splitlines()[1:]
    answer = tmp_path / "answer.csv"
    answer.write_text("payment_id,status,reference\n" + "".join(
        f"{row.split(',')[0]},paid,BANK-{i:04d}\n" for i, row in enumerate(rows)),
        encoding="utf-8")
    upload = page.get_by_label("文件（CSV 或 Excel），列为：")
    within_screen(page, upload)
    upload.set_input_files(str(answer))
    page.get_by_role("button", name="上传").click()
    expect(page.locator(".done li")).to_have_count(len(numbers))
    expect(page.get_by_text("BANK-0000", exact=True)).to_be_visible()  # the bank's reference
    fits(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/payment-batch-phone.png", full_page=True)
    with Session(engine) as session:
        assert {c.state for c in session.exec(select(Claim).where(
            Claim.claim_number.in_(numbers)))} == {"paid"}


def surveyed_claims(engine, numbers: list[str], seq_start: int) -> tuple[int, list[int]]:
    """Households of village A whose claims the investigator surveyed: the village and the
    claims, waiting for the village review."""
    from tests.claims.test_lifecycle import SURVEY

    with Session(engine) as session:
        village = session.exec(select(Household.village_id)).first()
        investigator = actor_for_user(session.exec(select(AppUser).where(
            AppUser.username == "inv")).one())
        ids = []
        for i, number in enumerate(numbers):
            household, _ = household_with_members(session, village, number=number,
                                                  seq_start=seq_start + 10 * i)
            claim = intake.apply(session, SYSTEM, household.id, "illness", "看病")
            lifecycle.transition(session, claim, "start_investigation", investigator)
            lifecycle.transition(session, claim, "submit_survey", investigator, data=SURVEY)
            ids.append(claim.id)
        session.commit()
        return village, ids


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_clerk_records_a_village_meeting_for_its_claims(bulk_site, signed_in, viewport):
    _base, engine = bulk_site
    seq = 500 if viewport == "desktop" else 600
    village, (agreed, refused) = surveyed_claims(
        engine, [f"HR{viewport[0]}1", f"HR{viewport[0]}2"], seq)
    page = signed_in("clerk", viewport)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="民主评议").click()
    expect(page).to_have_url(re.compile(r"/review$"))
    page.get_by_label("村").select_option(str(village))
    page.get_by_role("button", name="显示").click()
    fits(page)
    page.get_by_label("参会代表（每行一人）").fill("村主任\n村民代表甲")
    disagree = page.locator(f"input[name=disagree][value='{refused}']")
    within_screen(page, disagree)
    disagree.check()
    # not agreed without a reason: refused on the error page, whose link goes back to the
    # form as it was filled in (a browser walk's came back empty, or not at all)
    page.get_by_role("button", name=re.compile("登记这 2 件案件的评议结果")).click()
    page.get_by_role("link", name="返回表单（已填写的内容保留）").click()
    expect(page.get_by_label("参会代表（每行一人）")).to_have_value("村主任\n村民代表甲")
    expect(disagree).to_be_checked()
    page.locator(f"input[name=reason_{refused}]").fill("家有经营性车辆")
    submit = page.get_by_role("button", name=re.compile("登记这 2 件案件的评议结果"))
    within_screen(page, submit)
    submit.click()
    expect(page.get_by_role("status")).to_have_text("共 2 件，2 件已办理。")
    expect(page.get_by_text("评议通过，待公示")).to_have_count(1)
    expect(page.get_by_text("评议未通过，案件不予赔付")).to_have_count(1)
    fits(page)
    with Session(engine) as session:
        assert [session.get(Claim, i).state for i in (agreed, refused)] == [
            "public_notice", "rejected"]
