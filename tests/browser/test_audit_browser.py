"""The auditor's day in a real browser: from the header to the audit trail, a search by the
claim's number, then the chain checked — intact, and broken once a row is altered behind the
application's back. And the clerk's quarantine page from the header. On SQLite and
PostgreSQL, at 1366 and 390 px."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlmodel import Session, select

from claims.models import AuditEntry
from tests.browser import test_workspace as ws
from tests.browser.test_my_work import land, no_overflow

site, chromium, sign_in, csp_violations = ws.site, ws.chromium, ws.sign_in, ws.csp_violations


@pytest.mark.parametrize("width", [1366, 390])
def test_the_auditor_searches_the_trail_and_checks_the_chain(site, chromium, csp_violations,
                                                             width):
    base, engine = site
    claim = ws.claim_of(engine)
    context, page = land(chromium, base, "auditor", csp_violations, width=width)
    try:
        if width > 600:
            page.get_by_role("link", name="审计日志").click()
        else:
            page.goto("/audit")
        expect(page.get_by_role("heading", name="审计日志")).to_be_visible()
        page.get_by_label("案件编号").fill(claim.claim_number)
        page.get_by_role("button", name="查询").click()
        rows = page.locator("tbody tr")
        expect(rows.first).to_contain_text(claim.claim_number)
        expect(rows.first).to_contain_text("北京时间")
        for text in rows.all_inner_texts():
            assert claim.claim_number in text
        assert no_overflow(page)
        page.get_by_role("button", name="校验审计链").click()
        expect(page.locator("#chain-result")).to_contain_text("审计链完整")
        if ws.SHOTS and width == 390:
            page.screenshot(path=f"{ws.SHOTS}/audit.png", full_page=True)
        with Session(engine) as session:
            first = session.exec(select(AuditEntry).order_by(AuditEntry.id)).first()
            first_id, original = first.id, first.reason
            session.execute(sa.update(AuditEntry).where(AuditEntry.id == first_id)
                            .values(reason="altered"))
            session.commit()
        try:
            page.get_by_role("button", name="校验审计链").click()
            expect(page.locator("#chain-result")).to_contain_text(
                f"审计链在第 {first_id} 条处断开")
        finally:
            with Session(engine) as session:
                session.execute(sa.update(AuditEntry).where(AuditEntry.id == first_id)
                                .values(reason=original))
                session.commit()
        assert no_overflow(page)
        assert not csp_violations
    finally:
        context.close()


def test_the_clerk_finds_the_quarantine_in_the_header(site, chromium, csp_violations):
    base, _engine = site
    context, page = land(chromium, base, "clerk", csp_violations)
    try:
        page.get_by_role("link", name="待核实事件").click()
        expect(page.get_by_role("heading", name="待核实事件")).to_be_visible()
        assert not csp_violations
    finally:
        context.close()
