"""Documents in a real browser: a claim whose terms require documents is refused approval
while one is missing, and approved once the invoice is there and a supervisor waived the
other. On SQLite and PostgreSQL (the site fixture of test_workspace). A photo taken on a
phone, its thumbnail and its audited download are in test_visit's walk of a whole visit."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from claims.documents import storage
from claims.models import AuditEntry
from claims.settings import Settings
from tests.browser.test_workspace import (  # noqa: F401  (fixtures)
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
from tests.documents.conftest import pdf
from tests.documents.test_required import REQUIRING


@pytest.fixture(scope="module")
def documents_store(tmp_path_factory):
    store = storage.build(Settings(documents_dir=str(tmp_path_factory.mktemp("documents"))))
    storage.use(store)
    yield store
    storage.use(None)


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
