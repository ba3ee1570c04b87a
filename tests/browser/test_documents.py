"""Documents in a real browser. On a phone's screen (390 × 844) an investigator adds a photo
from the camera input on the claim page, sees its thumbnail, and downloads it; the download
is on the audit trail. A claim whose terms require documents is refused approval while one
is missing, and approved once the invoice is there and a supervisor waived the other. On
SQLite and PostgreSQL (the site fixture of test_workspace)."""

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
    days_pass,
    investigated_and_reviewed,
    sign_in,
    site,
    step,
    watch_csp,
)
from tests.documents.conftest import pdf, photo
from tests.documents.test_required import REQUIRING

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
    page.wait_for_function("() => document.querySelector('#documents img').complete")
    assert thumbnail.evaluate("img => img.naturalWidth") == 240  # the server's thumbnail
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


def test_approval_blocked_by_a_missing_document_and_unblocked_by_a_waiver(
        site, sign_in, documents_store, tmp_path):  # noqa: F811
    from policies import benefits

    base, engine = site
    claim = claim_of(engine)
    with Session(engine) as session:  # the claim's terms require an invoice and a summary
        version, _ = benefits.store_terms(session, "requiring", REQUIRING.replace(
            "2026", str(claim.policy_year)))
        stored = session.get(type(claim), claim.id)
        stored.terms_version_id = version.id
        session.commit()
    investigator, clerk, supervisor = (sign_in("investigator"), sign_in("clerk"),
                                       sign_in("supervisor"))
    investigated_and_reviewed(investigator, clerk, claim, 银行存款="无大额存款")
    days_pass(engine, 8)
    step(clerk, claim, "start_notice")
    days_pass(engine, 8)
    step(clerk, claim, "close_notice")

    supervisor.goto(f"/claims/{claim.id}")
    expect(supervisor.get_by_text("缺少条款要求的材料时不能审批")).to_be_visible()
    form = supervisor.locator(f'form[action="/claims/{claim.id}/actions/approve"]')
    form.get_by_role("button").click()
    expect(supervisor.get_by_text("缺少条款要求的理赔材料")).to_be_visible()
    assert claim_of(engine).state == "approval"

    invoice = tmp_path / "发票.pdf"
    invoice.write_bytes(pdf())
    investigator.goto(f"/claims/{claim.id}")
    investigator.get_by_label("材料类别").select_option("invoice")
    investigator.get_by_label("选择文件（可多选）").set_input_files(str(invoice))
    investigator.get_by_role("button", name="添加材料").click()
    expect(investigator.get_by_text("已添加 1 份材料。")).to_be_visible()

    supervisor.goto(f"/claims/{claim.id}")
    supervisor.get_by_label("出院小结的豁免理由").fill("门诊治疗，没有住院")
    supervisor.get_by_role("button", name="豁免").click()
    expect(supervisor.locator("#documents .checklist")).to_contain_text(
        "豁免：门诊治疗，没有住院")
    expect(supervisor.get_by_text("缺少条款要求的材料时不能审批")).to_have_count(0)
    if SHOTS:
        supervisor.locator("#documents").screenshot(path=f"{SHOTS}/documents-checklist.png")
    step(supervisor, claim, "approve")
    expect(supervisor.locator("h1 .tag")).to_have_text("待支付")
    with Session(engine) as session:
        waiver = session.exec(select(AuditEntry).where(
            AuditEntry.action == "waive_document")).one()
    assert (waiver.actor, waiver.reason) == ("user:supervisor", "门诊治疗，没有住院")
