"""Required documents from the terms: validated like every key of a terms file; a claim whose
trigger requires documents cannot be approved while one is missing, unless a supervisor waives
it with a reason (on the audit trail); the claim page shows the checklist. On SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from claims.models import AuditEntry
from policies import benefits
from policies.terms import InvalidTerms, load_terms, parse_terms
from tests.claims.conftest import TERMS
from tests.claims.test_lifecycle import act, to_approval
from tests.claims.test_web import browser, csrf_of  # noqa: F401  (the fixture)
from tests.documents.conftest import image, pdf

COUNTY_TERMS = sorted((Path(__file__).resolve().parents[2] / "policies" / "county_terms")
                      .glob("*.toml"))
REQUIRING = TERMS.replace("[triggers.illness]\n", '[triggers.illness]\n'
                          'documents = ["invoice", "discharge_summary"]\n', 1)


def test_the_terms_name_known_kinds_of_document_once():
    assert [str(d) for d in parse_terms(REQUIRING).triggers["illness"].documents] == [
        "invoice", "discharge_summary"]
    with pytest.raises(InvalidTerms) as unknown:
        parse_terms(REQUIRING.replace('"discharge_summary"', '"receipt"'), "县.toml")
    assert "县.toml: triggers.illness.documents[1]: Input should be 'invoice'" in str(
        unknown.value)
    with pytest.raises(InvalidTerms) as twice:
        parse_terms(REQUIRING.replace('"discharge_summary"', '"invoice"'), "县.toml")
    assert "triggers.illness.documents: 'invoice' is listed twice" in str(twice.value)


@pytest.mark.parametrize("path", COUNTY_TERMS, ids=lambda p: p.stem)
def test_every_shipped_county_file_lists_its_documents_and_marks_the_assumed_ones(path):
    terms = load_terms(path)  # validated like every key
    listed = [line for line in path.read_text(encoding="utf-8").splitlines()
              if line.startswith("documents = ")]
    assert all(line.endswith("# demo") for line in listed), listed  # none was published
    if path.stem.startswith("yuzhou-demo"):  # the tests' and the demo's terms: none required
        assert listed == []
        return
    for name in ("illness", "disaster", "accident", "education"):
        if name in terms.triggers:
            assert terms.triggers[name].documents, name


@pytest.fixture
def requiring(session, claim):
    """The claim under terms whose illness trigger requires an invoice and a discharge
    summary."""
    version, _ = benefits.store_terms(session, "requiring", REQUIRING.replace(
        "2026", str(claim.policy_year)))
    claim.terms_version_id = version.id
    session.add(claim)
    session.commit()
    return claim


def test_approval_waits_for_the_required_documents_or_a_supervisors_waiver(
        store, session, requiring, staff, as_user):
    claim = requiring
    to_approval(staff, claim, session)
    supervisor = as_user("supervisor", "sup-2", approval_limit=None)
    refused = act(supervisor, claim, "approve", {"amount": "7500.00"})
    assert refused.status_code == 409
    assert refused.json()["field"] == "documents"
    assert refused.json()["value"] == "invoice, discharge_summary"
    listed = staff["clerk"].get(f"/api/claims/{claim.id}/required-documents").json()
    assert listed["missing"] == ["invoice", "discharge_summary"]

    # an invoice arrives; a withdrawn one would not count
    wrong = staff["investigator"].post(
        f"/api/claims/{claim.id}/documents", data={"doc_type": "discharge_summary"},
        files=[("files", ("小结.jpg", image("JPEG")))]).json()["data"][0]
    staff["investigator"].post(f"/api/documents/{wrong['id']}/withdraw",
                               json={"reason": "别人家的"})
    assert staff["investigator"].post(
        f"/api/claims/{claim.id}/documents", data={"doc_type": "receipt"},
        files=[("files", ("a.pdf", pdf()))]).json()["field"] == "doc_type"
    staff["investigator"].post(f"/api/claims/{claim.id}/documents",
                               data={"doc_type": "invoice"},
                               files=[("files", ("发票.pdf", pdf()))])
    assert staff["clerk"].get(f"/api/claims/{claim.id}/required-documents").json()[
        "missing"] == ["discharge_summary"]

    # only a supervisor waives, with a reason, a document the terms require
    waiver = f"/api/claims/{claim.id}/document-waivers"
    assert staff["adjudicator"].post(waiver, json={
        "document_type": "discharge_summary", "reason": "门诊"}).status_code == 403
    assert supervisor.post(waiver, json={"document_type": "discharge_summary",
                                         "reason": " "}).json()["field"] == "reason"
    assert supervisor.post(waiver, json={"document_type": "bank_card",
                                         "reason": "x"}).json()["field"] == "document_type"
    done = supervisor.post(waiver, json={"document_type": "discharge_summary",
                                         "reason": "门诊治疗，没有住院，无出院小结"})
    assert done.status_code == 201, done.text
    entry = session.exec(select(AuditEntry).where(
        AuditEntry.action == "waive_document")).one()
    assert (entry.actor, entry.entity_id, entry.reason, entry.after) == (
        "user:sup-2", claim.claim_number, "门诊治疗，没有住院，无出院小结",
        {"document_type": "discharge_summary"})
    assert act(supervisor, claim, "approve", {"amount": "7500.00"}).status_code == 200


def test_the_claim_page_shows_the_checklist_and_a_supervisor_waives_there(
        store, session, requiring, browser):  # noqa: F811
    claim = requiring
    adjudicator = browser("adjudicator", language="en")
    page = adjudicator.get(f"/claims/{claim.id}").text
    assert "Documents the terms require" in page
    assert "✗ <b>invoice</b>" in page and "✗ <b>discharge summary</b>" in page
    assert "documents/waive" not in page  # an adjudicator does not waive
    supervisor = browser("supervisor", language="zh")
    page = supervisor.get(f"/claims/{claim.id}").text
    assert "✗ <b>医疗费用发票</b>" in page
    assert page.count(f'action="/claims/{claim.id}/documents/waive"') == 2
    waived = supervisor.post(f"/claims/{claim.id}/documents/waive", data={
        "csrf_token": csrf_of(page), "document_type": "invoice", "reason": "医院已直接结算"},
        follow_redirects=False)
    assert waived.status_code == 303
    page = supervisor.get(f"/claims/{claim.id}").text
    assert "✓ 医疗费用发票" in page and "医院已直接结算" in page
    assert "✗ <b>出院小结</b>" in page
    # the waiver's record reads in Chinese (a hostile tester's read "document type invoice
    # 原因 … by user:…")
    assert "document type" not in page and "by user:" not in page
