"""The printed documents in a real browser (Chromium): a claim is rejected and its rejection
notice opened from the claim page, reconsidered, put in the village's public notice (the
formal notice, with its PDF), approved and its payout notice opened. Each print page is seen
as the printer sees it (print media: the workspace's header and buttons gone, A4 sheet) and
its PDF link answers a PDF. On SQLite and PostgreSQL. With FANGPIN_SCREENSHOTS=DIR the
three pages are saved there (docs/print-*.png)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_workspace import (  # noqa: F401 (fixtures)
    SHOTS,
    chromium,
    claim_of,
    csp_violations,
    days_pass,
    investigated_and_reviewed,
    sign_in,
    site,
    step,
)


def printed(page, name: str) -> None:
    """The page as printed: no header, no buttons; saved when screenshots are asked for."""
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    expect(page.locator("body > header")).to_be_hidden()
    expect(page.locator("article h1")).to_be_visible()
    expect(page.locator(".toolbar, .no-print").first).to_be_hidden()
    expect(page.locator(".seal")).to_be_visible()
    # one A4 column: the sheet's parts stacked, not side by side (a list's flex once caught it)
    assert page.evaluate("document.documentElement.scrollWidth") <= 794
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/print-{name}.png", full_page=True)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1366, "height": 768})


def is_pdf(page, href: str) -> None:
    answer = page.request.get(href)
    assert answer.status == 200 and answer.body().startswith(b"%PDF-")


def test_each_printed_document_from_its_page(site, sign_in):  # noqa: F811
    _base, engine = site
    claim = claim_of(engine)
    investigator, clerk = sign_in("investigator"), sign_in("clerk")
    adjudicator, supervisor = sign_in("adjudicator"), sign_in("supervisor")

    # rejected: the rejection notice, from the claim page
    step(adjudicator, claim, "reject", {"拒赔原因": "below_deductible",
                                        "说明": "自付部分未超过两万元起付线"})
    adjudicator.get_by_role("link", name="打印拒赔通知书").click()
    expect(adjudicator.get_by_role("heading", name="拒赔通知书")).to_be_visible()
    expect(adjudicator.locator(".reason")).to_contain_text("起付标准")
    expect(adjudicator.locator("article")).to_contain_text("异议受理电话")
    is_pdf(adjudicator, adjudicator.get_by_role("link", name="PDF").get_attribute("href"))
    printed(adjudicator, "rejection-notice")

    # reconsidered and taken to the village's public notice: the formal notice
    step(supervisor, claim, "reconsider", {"原因": "补充了新的发票"})
    investigated_and_reviewed(investigator, clerk, claim)
    days_pass(engine, 2)
    step(clerk, claim, "start_notice")
    clerk.goto("/notice")
    clerk.get_by_role("button", name="显示").click()
    notice = clerk.locator("article.notice")
    expect(notice).to_contain_text(claim.claim_number)
    expect(notice).to_contain_text("公示期")
    expect(notice).to_contain_text("村民委员会")
    is_pdf(clerk, clerk.get_by_role("link", name="PDF").get_attribute("href"))
    printed(clerk, "village-notice")

    # approved: the payout notice
    days_pass(engine, 8)
    step(clerk, claim, "close_notice")
    step(supervisor, claim, "approve")
    supervisor.get_by_role("link", name="打印理赔通知书").click()
    expect(supervisor.get_by_role("heading", name="理赔通知书")).to_be_visible()
    document = supervisor.locator("article")
    expect(document).to_contain_text("7,500.00")
    expect(document).to_contain_text("****0001")
    expect(document).not_to_contain_text("6228480000000000001")
    expect(document).to_contain_text("本次事件赔付")
    is_pdf(supervisor, supervisor.get_by_role("link", name="PDF").get_attribute("href"))
    printed(supervisor, "payout-notice")
