"""Bulk work in a real browser (Chromium through Playwright), at 1440 × 900 and on a phone
(390 × 844): the clerk filters the early warnings and closes the chosen ones with an outcome
and a note, the supervisor approves a chosen list of claims. No page is wider than the
screen, the close form is reachable on the phone, and the results are listed in Chinese.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from claims.app import create_app
from claims.auth import SYSTEM
from claims.db import get_session, make_engine, sessions_on
from claims.migrate import upgrade
from claims.models import AppUser, Claim, EarlyWarning
from claims.web.session import set_password
from tests.browser.test_workspace import (  # noqa: F401 — the browser and its fixtures
    PASSWORD,
    chromium,
    csp_violations,
    serving,
    watch_csp,
)
from tests.claims.test_bulk import build, waiting_for_approval, warn
from tests.conftest import database_url

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
