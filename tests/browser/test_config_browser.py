"""The administrator's terms upload in a real browser, at phone width (390 px) and on a desk
(1366 px): a file with two mistakes is refused with both keys named in Chinese, the corrected
file becomes version 2, the comparison shows the changed deductible, and no page is wider
than the screen. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import test_workspace as ws
from tests.claims.test_config_web import BAD, GOOD

site, chromium, sign_in, csp_violations = ws.site, ws.chromium, ws.sign_in, ws.csp_violations


def no_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def terms_file(text: str) -> dict:
    return {"name": "demo.toml", "mimeType": "text/plain", "buffer": text.encode()}


@pytest.mark.parametrize("width", [390, 1366])
def test_an_administrator_uploads_and_compares_terms(site, chromium, csp_violations, width):
    base, _engine = site
    context = chromium.new_context(base_url=base, viewport={"width": width, "height": 844})
    context.add_cookies([{"name": "fangpin_lang", "value": "zh", "url": base}])
    page = context.new_page()
    ws.watch_csp(page, csp_violations)
    page.goto("/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(ws.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/work")
    page.get_by_role("link", name="配置").click()
    page.wait_for_url(f"{base}/config/terms")
    assert no_overflow(page)

    page.get_by_label("键名").fill("demo")
    page.get_by_label("条款文件（TOML）").set_input_files(terms_file(BAD))
    page.get_by_role("button", name="检查并保存").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("colour：未知的键（是否拼错？）")
    expect(alert).to_contain_text("policy.policy_year：不是整数")
    assert no_overflow(page)
    if ws.SHOTS and width == 390:
        page.screenshot(path=f"{ws.SHOTS}/config-terms.png", full_page=True)

    page.get_by_label("条款文件（TOML）").set_input_files(terms_file(GOOD))
    page.get_by_role("button", name="检查并保存").click()
    expect(page.get_by_role("status")).to_contain_text("保存为第 2 版")
    page.get_by_role("link", name="版本比较").click()
    page.get_by_label("之前").select_option(label="demo · 第 1 版")
    page.get_by_label("之后").select_option(label="demo · 第 2 版")
    page.get_by_role("button", name="比较").click()
    changed = page.locator("tr.diff-changed")
    expect(changed).to_have_count(1)
    expect(changed).to_contain_text("triggers.illness.deductible.amount")
    expect(changed).to_contain_text('"15000.00"')
    assert no_overflow(page)
    if ws.SHOTS and width == 390:
        page.screenshot(path=f"{ws.SHOTS}/config-terms-diff.png", full_page=True)
    for path in ("/config/contracts", "/config/lines"):
        page.goto(path)
        assert no_overflow(page), path
    context.close()
