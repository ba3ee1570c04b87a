"""The wide lists on a phone and the header on a desk, in Chromium: at 390 px the claims queue,
the monitoring list, the household's members, the claim's history and the administrator's users
are cards (a row per card, each cell labelled), every cell within the screen and nothing to
scroll sideways inside the table's box; at 1280 px the administrator's header (the most links)
is one line in Chinese. On SQLite and PostgreSQL."""

from __future__ import annotations

from tests.browser.test_every_page_phone import the_world
from tests.browser.test_workspace import (  # noqa: F401 (fixtures)
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
