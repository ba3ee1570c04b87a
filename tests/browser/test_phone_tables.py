"""The wide lists on a phone and the header on a desk, in Chromium: at 390 px the claims queue,
the monitoring list, the household's members, the claim's history and the administrator's users
are cards (a row per card, each cell labelled), every cell within the screen and nothing to
scroll sideways inside the table's box; the assistance given on a household's monitoring page
reads a term to a line at 390 and 1280 px; at 1280 px the administrator's header (the most
links) is one line in Chinese. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session, select

from claims import clock, monitoring
from claims.auth import SYSTEM
from risk.models import Assistance, FollowUp, MonitoringWindow
from tests.browser.test_every_page_phone import the_world
from tests.browser.test_workspace import (  # noqa: F401 (fixtures)
    SHOTS,
    chromium,
    csp_violations,
    sign_in,
    site,
)

PHONE = {"width": 390, "height": 844}
# Of the page's tables of cards: cells past the screen's right edge, boxes that scroll sideways,
# and the cells shown with their labels (label, then the cell's text).
LAID_OUT = """() => {
  const tables = [...document.querySelectorAll('main table.cards')];
  const cells = tables.flatMap(t => [...t.querySelectorAll('td')])
      .filter(td => td.offsetParent !== null);
  return {
    tables: tables.length,
    cut: cells.filter(td => td.getBoundingClientRect().right > window.innerWidth + 0.5
                            || td.getBoundingClientRect().left < 0)
              .map(td => td.textContent.trim()).slice(0, 5),
    scrolling: tables.map(t => t.closest('.scroll, .card')).filter(b => b
        && b.scrollWidth > b.clientWidth + 1).length,
    shown: cells.map(td => [getComputedStyle(td, '::before').content, td.textContent.trim()]),
    rows: tables.flatMap(t => [...t.querySelectorAll('tr')])
        .filter(tr => tr.offsetParent !== null).map(tr => getComputedStyle(tr).display),
  };
}"""


def test_the_wide_lists_are_cards_on_a_phone(site, sign_in):  # noqa: F811
    _base, engine = site
    world = the_world(engine)  # the household watched after a payout, three claims
    page = sign_in("admin")
    page.set_viewport_size(PHONE)
    for path, must_show in (
            ("/claims", ["案件", "状态", "应赔金额"]),
            ("/monitoring", ["农户", "监测期"]),
            (f"/households/{world['household_id']}", ["姓名", "证件号码"]),
            (f"/claims/{world['claim_id']}", ["姓名", "时间", "操作"]),
            ("/admin", ["用户名", "角色"])):
        assert page.goto(path).status == 200, path
        seen = page.evaluate(LAID_OUT)
        assert seen["tables"], path
        assert not seen["cut"] and not seen["scrolling"], (path, seen)
        assert set(seen["rows"]) == {"block"}, (path, seen["rows"])
        labels = {content.strip('"').rstrip("：") for content, _text in seen["shown"]}
        assert set(must_show) <= labels, (path, labels)
    # the queue's claim number and state: each read beside its label, within the screen
    page.goto("/claims")
    number = page.locator("table.cards td[data-label='案件'] a").first
    state = page.locator("table.cards td[data-label='状态'] .tag").first
    for cell in (number, state):
        box = cell.bounding_box()
        assert cell.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


# The lines a cell's text takes (its text's line boxes, by their tops).
LINES = """text => [...document.querySelectorAll('main td')]
    .filter(td => td.textContent.trim() === text && td.offsetParent !== null).map(td => {
      const range = document.createRange();
      range.selectNodeContents(td);
      return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
    })"""


def test_the_assistance_given_reads_a_term_to_a_line(site, sign_in):  # noqa: F811
    """就业帮扶 in the follow-up's table of measures was one character a line at 390 px (the
    headerless table squeezed its type column beside a long description)."""
    _base, engine = site
    world, today = the_world(engine), clock.county_today()
    with Session(engine) as session:
        window = session.exec(select(MonitoringWindow).where(
            MonitoringWindow.household_id == world["household_id"])).first()
        case = session.exec(select(FollowUp).where(FollowUp.window_id == window.id,
                                                   FollowUp.status == "open")).first()
        if case is None:  # a follow-up as an alert opens it (the page is what is tested)
            case = FollowUp(window_id=window.id, household_id=window.household_id,
                            opened_on=today, helper="王帮扶")
            session.add(case)
            session.flush()
        if not session.exec(select(Assistance).where(Assistance.follow_up_id == case.id)).first():
            for kind, text, amount in (
                    ("employment", "介绍到县城务工，在产业园包装车间上班，月工资约两千四百元，"
                     "由村委会每月回访一次", None),
                    ("medical_assistance", "申请医疗救助，报销住院自付部分", Decimal("12345.60"))):
                monitoring.record_assistance(session, SYSTEM, case.id, monitoring.AssistanceIn(
                    kind=kind, description=text, amount=amount, given_on=today), today)
        session.commit()
    page = sign_in("clerk")
    path = f"/monitoring/households/{world['household_id']}"
    seen = {}
    for size, name in ((PHONE, "phone"), ({"width": 1280, "height": 800}, "desk")):
        page.set_viewport_size(size)
        assert page.goto(path).status == 200
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/monitoring-assistance-{name}.png", full_page=True)
        seen[name] = {term: page.evaluate(LINES, term)
                      for term in ("就业帮扶", "医疗救助", str(today), "12,345.60")}
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], name
    assert all(lines and set(lines) == {1} for terms in seen.values()
               for lines in terms.values()), seen


def test_the_administrators_header_is_one_line_at_1280(site, sign_in):  # noqa: F811
    page = sign_in("admin")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/dashboard")
    rows = page.evaluate("""() => {
      const box = e => e.getBoundingClientRect();
      const mid = e => Math.round(box(e).top + box(e).height / 2);
      const header = document.querySelector('header');
      return {links: [...header.querySelectorAll('nav a')].map(a => Math.round(box(a).top)),
              brand: mid(header.querySelector('.brand')), nav: mid(header.querySelector('nav')),
              right: mid(header.querySelector('.right'))};
    }""")
    assert len(rows["links"]) >= 14 and len(set(rows["links"])) == 1, rows
    # the brand, the menu and the name with its buttons side by side: one row
    assert max(rows["brand"], rows["nav"], rows["right"]) - min(
        rows["brand"], rows["nav"], rows["right"]) <= 4, rows
