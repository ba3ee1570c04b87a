"""An investigator's whole visit on a phone (390 × 844, issue 18 item 4), in one walk: signs in
and lands on "my work", which lists the visit with the household's village, head and phone
masked; shows the phone in full (on the audit trail); opens the claim, takes a photo through
the camera input (its thumbnail shown, the download audited), fills the survey's labelled
fields, records the browser's location and submits; the claim's record shows the location
under its label. The page never scrolls sideways. On SQLite and PostgreSQL (the site fixture
of test_workspace). With FANGPIN_SCREENSHOTS=DIR it saves visit-phone-*.png and
documents-phone.png (docs/documents.md shows them)."""

from __future__ import annotations

import hashlib

from playwright.sync_api import expect
from sqlmodel import Session, select

from claims import clock, lifecycle
from claims.auth import actor_for_user
from claims.documents.models import Document
from claims.models import AppUser, AuditEntry, Claim, ClaimRecord, Household
from tests.browser.test_documents import documents_store  # noqa: F401  (fixture)
from tests.browser.test_my_work import land, no_overflow
from tests.browser.test_workspace import (  # noqa: F401  (fixtures)
    SHOTS,
    chromium,
    claim_of,
    csp_violations,
    site,
)
from tests.documents.conftest import photo

PHONE_NUMBER = "13912345678"
HERE = {"latitude": 34.156789, "longitude": 113.471234, "accuracy": 18}  # 禹州市


def sent_to_visit(engine) -> Claim:
    """The claim, its investigation started by the adjudicator who sends the investigator
    (allowed to show personal data in full); the household has a phone."""
    with Session(engine) as session:
        claim = session.exec(select(Claim)).one()
        session.get(Household, claim.household_id).phone = PHONE_NUMBER
        users = {u.username: u for u in session.exec(select(AppUser))}
        users["investigator"].may_reveal = True
        lifecycle.transition(session, claim, "start_investigation",
                             actor_for_user(users["adjudicator"]),
                             data={"investigator_id": users["investigator"].id})
        session.commit()
    return claim_of(engine)


def test_an_investigators_whole_visit_on_a_phone(site, chromium, csp_violations,  # noqa: F811
                                                 documents_store, tmp_path):  # noqa: F811
    base, engine = site
    claim = sent_to_visit(engine)
    context, page = land(chromium, base, "investigator", csp_violations, width=390,
                         is_mobile=True, has_touch=True, device_scale_factor=2,
                         geolocation=HERE, permissions=["geolocation"])

    # my work: the visit, where to go, the phone masked; shown in full on the audit trail
    visits = page.locator("section", has_text="待入户调查的农户")
    expect(visits).to_contain_text(claim.claim_number)
    expect(visits).to_contain_text("村0")
    expect(visits).to_contain_text("139****5678")
    expect(visits).not_to_contain_text(PHONE_NUMBER)
    assert no_overflow(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/visit-phone-work.png", full_page=True)
    visits.get_by_role("button", name="完整显示（记入审计）").click()
    expect(page.locator("section", has_text="待入户调查的农户")).to_contain_text(PHONE_NUMBER)
    assert no_overflow(page)

    # the claim: a photo from the camera input, its thumbnail, its download
    page.locator("section", has_text="待入户调查的农户").get_by_role(
        "link", name=claim.claim_number).click()
    page.wait_for_url(f"{base}/claims/{claim.id}")
    assert no_overflow(page)
    picture = tmp_path / "门前.jpg"
    picture.write_bytes(photo(1.5))
    camera = page.get_by_label("或拍照上传")
    assert (camera.get_attribute("capture"), camera.get_attribute("accept")) == (
        "environment", "image/*")
    camera.set_input_files(str(picture))
    page.get_by_role("button", name="添加材料").click()
    expect(page.get_by_text("已添加 1 份材料。")).to_be_visible()
    section = page.locator("#documents")
    expect(section.get_by_text("门前.jpg")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#documents img').complete")
    assert section.locator("img").evaluate("img => img.naturalWidth") == 240  # the server's
    assert no_overflow(page)
    if SHOTS:
        section.scroll_into_view_if_needed()
        page.screenshot(path=f"{SHOTS}/documents-phone.png")
    with page.expect_download() as download:
        section.get_by_role("link", name="下载").click()
    saved = tmp_path / "downloaded.jpg"
    download.value.save_as(saved)
    sha256 = hashlib.sha256(picture.read_bytes()).hexdigest()
    assert download.value.suggested_filename == "门前.jpg"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == sha256

    # the survey: labelled fields, the location from the browser, submitted
    survey = page.locator(f'form[action="/claims/{claim.id}/actions/submit_survey"]')
    # a day to come is refused by the browser itself; a form the server refuses (a team of
    # one) comes back as it was filled in (a browser walk's came back empty)
    assert survey.get_by_label("入户日期").get_attribute("max") == \
        clock.county_today().isoformat()
    survey.get_by_label("入户日期").fill(clock.county_today().isoformat())
    survey.get_by_label("调查人员（至少两人，用逗号分隔）").fill("王查勘")
    survey.get_by_label("调查结论").fill("住院属实，家庭困难")
    survey.get_by_label("银行存款").fill("无大额存款")
    survey.get_by_role("button", name="记录当前位置").click()
    expect(survey.get_by_role("status")).to_contain_text("纬度 34.156789")
    survey.get_by_role("button", name="提交入户调查").click()
    expect(page.locator(".error[role=alert]")).to_be_visible()
    # the location recorded before is kept too (it was lost, and the survey saved without it)
    expect(survey.get_by_role("status")).to_contain_text("纬度 34.156789")
    expect(survey.get_by_label("调查结论")).to_have_value("住院属实，家庭困难")
    expect(survey.get_by_label("银行存款")).to_have_value("无大额存款")
    expect(survey.get_by_label("调查人员（至少两人，用逗号分隔）")).to_have_value("王查勘")
    survey.get_by_label("入户日期").fill(clock.county_today().isoformat())
    survey.get_by_label("调查人员（至少两人，用逗号分隔）").fill("王查勘，李查勘")
    survey.get_by_label("调查结论").fill("住院属实，家庭困难")
    survey.get_by_label("银行存款").fill("无大额存款")
    survey.get_by_label("车辆").fill("无")
    survey.get_by_label("住房").fill("自有旧房")
    survey.get_by_role("button", name="记录当前位置").click()
    expect(survey.get_by_role("status")).to_have_text(
        "纬度 34.156789，经度 113.471234，误差 18 米以内")
    assert no_overflow(page)
    if SHOTS:
        survey.scroll_into_view_if_needed()
        page.screenshot(path=f"{SHOTS}/visit-phone-survey.png")
    survey.get_by_role("button", name="提交入户调查").click()
    expect(page.locator(".done")).to_be_visible()
    record = page.locator("dl.fields", has_text="调查结论")
    expect(record.locator("dt", has_text="位置（由浏览器记录）").locator(
        "xpath=following-sibling::dd[1]")).to_have_text(
        "纬度 34.156789，经度 113.471234，误差 18 米以内")
    assert no_overflow(page)
    if SHOTS:
        record.scroll_into_view_if_needed()
        page.screenshot(path=f"{SHOTS}/visit-phone-record.png")
    context.close()

    with Session(engine) as session:
        survey_record = session.exec(select(ClaimRecord).where(
            ClaimRecord.claim_id == claim.id, ClaimRecord.kind == "submit_survey")).one()
        document = session.exec(select(Document)).one()
        trail = session.exec(select(AuditEntry).where(
            AuditEntry.actor == "user:investigator").order_by(AuditEntry.id)).all()
    assert survey_record.data["location"] == HERE
    assert survey_record.data["asset_check"] == {
        "bank_deposits": "无大额存款", "vehicles": "无", "housing": "自有旧房"}
    assert claim_of(engine).state == "village_review"
    seen = [(e.entity, e.entity_id, e.action) for e in trail]
    number = claim_of(engine).household_id
    with Session(engine) as session:
        number = session.get(Household, number).household_number
    assert ("household", number, "reveal") in seen
    added = next(e for e in trail if (e.entity, e.action) == ("document", "add"))
    assert (added.entity_id, added.after["sha256"]) == (str(document.id), sha256)
    assert ("document", str(document.id), "download") in seen
    assert ("claim", claim.claim_number, "submit_survey") in seen
