"""Documents in a real browser on a phone's screen (390 × 844): an investigator adds a photo
from the camera input on the claim page, sees its thumbnail, and downloads it; the download
is on the audit trail. On SQLite and PostgreSQL (the site fixture of test_workspace)."""

from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from claims.documents import storage
from claims.documents.models import Document
from claims.models import AuditEntry
from claims.settings import Settings
from tests.browser.test_workspace import (  # noqa: F401  (fixtures)
    PASSWORD,
    SHOTS,
    chromium,
    claim_of,
    csp_violations,
    site,
    watch_csp,
)
from tests.documents.conftest import photo

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def documents_store(tmp_path_factory):
    store = storage.build(Settings(documents_dir=str(tmp_path_factory.mktemp("documents"))))
    storage.use(store)
    yield store
    storage.use(None)


def test_an_investigator_adds_a_photo_on_a_phone_and_downloads_it(
        site, chromium, csp_violations, documents_store, tmp_path):  # noqa: F811
    base, engine = site
    claim = claim_of(engine)
    context = chromium.new_context(base_url=base, viewport=PHONE, is_mobile=True,
                                   has_touch=True, device_scale_factor=2)
    context.add_cookies([{"name": "fangpin_lang", "value": "zh", "url": base}])
    page = context.new_page()
    watch_csp(page, csp_violations)
    page.goto(f"/claims/{claim.id}")
    page.get_by_label("用户名").fill("investigator")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/claims/{claim.id}")

    picture = tmp_path / "门前.jpg"
    picture.write_bytes(photo(1.5))
    camera = page.get_by_label("或拍照上传")
    assert camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("accept") == "image/*"
    camera.set_input_files(str(picture))
    page.get_by_role("button", name="添加材料").click()
    expect(page.get_by_text("已添加 1 份材料。")).to_be_visible()
    section = page.locator("#documents")
    expect(section.get_by_text("门前.jpg")).to_be_visible()
    thumbnail = section.locator("img")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 240
    box = section.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    if SHOTS:
        section.scroll_into_view_if_needed()
        page.screenshot(path=f"{SHOTS}/documents-phone.png")

    with page.expect_download() as download:
        section.get_by_role("link", name="下载").click()
    saved = tmp_path / "downloaded.jpg"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "门前.jpg"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(
        picture.read_bytes()).hexdigest()
    with Session(engine) as session:
        document = session.exec(select(Document)).one()
        actions = session.exec(select(AuditEntry.actor, AuditEntry.action).where(
            AuditEntry.entity == "document", AuditEntry.entity_id == str(document.id))
            .order_by(AuditEntry.id)).all()
    assert document.sha256 == hashlib.sha256(picture.read_bytes()).hexdigest()
    assert ("user:investigator", "add") == tuple(actions[0])
    assert ("user:investigator", "download") in [tuple(a) for a in actions]
    context.close()
