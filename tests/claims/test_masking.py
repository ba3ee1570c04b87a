"""Personal data in what staff type and what they search (a hostile pass): an ID number typed
into a reason or a note reaches every other reader masked, through the page, the API and a
printed notice; a search by part of a name, which spells a masked name out one character at a
time, is on the audit trail wherever it is made. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

import claims.documents.models  # noqa: F401  # for the schema walk: with claims.models and
import policies.models  # noqa: F401  # risk.models below, every table fangpin has
from claims import clock, masking
from claims.documents import storage
from claims.models import AuditEntry, EarlyWarning, utcnow
from claims.settings import Settings
from risk.models import FollowUp
from tests.claims.test_exports import xlsx_cells
from tests.claims.test_lifecycle import SURVEY, act, to_approval
from tests.claims.test_monitoring import paid_and_fallen
from tests.claims.test_web import browser  # noqa: F401  # the signed-in browser fixture
from tests.documents.conftest import pdf
from tests.documents.test_required import requiring  # noqa: F401  # the fixture
from tests.factories import id_number

NUMBER = id_number(seq=77)  # a person's ID number, typed by staff into what they write
MASKED = masking.id_number(NUMBER)


def test_an_id_number_staff_typed_reaches_other_readers_masked(browser, staff, claim,  # noqa: F811
                                                                as_user, session):
    """The investigator's survey findings and the adjudicator's rejection name a person by
    ID number; a clerk reads them on the claim page and in the API, with the number masked,
    as the claim's members are (also for a reader who may reveal a household: that is done
    on the household's page, on the trail); the printed rejection notice too."""
    assert act(staff["investigator"], claim, "start_investigation").status_code == 200
    # a mobile number and a bank card typed too (a hostile tester found a phone number in a
    # warning's closing note shown in full)
    assert act(staff["investigator"], claim, "submit_survey", {**SURVEY, "findings": (
        f"户主之子 {NUMBER} 住院属实，电话13812345678，卡号 6228480000000000888")}
               ).status_code == 200
    assert act(staff["adjudicator"], claim, "reject",
               {"code": "other", "text": f"身份证号{NUMBER}与户籍不符"}).status_code == 200
    for reader in (browser("clerk", "page-clerk"), browser("clerk", "page-rev", may_reveal=True)):
        page = reader.get(f"/claims/{claim.id}")
        assert page.status_code == 200
        assert NUMBER not in page.text and page.text.count(MASKED) >= 3  # findings, text, history
        assert "13812345678" not in page.text and "电话138****5678" in page.text
        assert "6228480000000000888" not in page.text and "卡号 ****0888" in page.text
        notice = reader.get(f"/claims/{claim.id}/rejection-notice")
        assert NUMBER not in notice.text and MASKED in notice.text
    revealer = as_user("clerk", "api-rev")
    revealer.user.may_reveal = True
    session.commit()
    for reader in (as_user("clerk", "api-clerk"), revealer):
        answer = reader.get(f"/api/claims/{claim.id}")
        assert answer.status_code == 200
        body = answer.json()
        assert NUMBER not in answer.text
        assert body["rejection_text"] == f"身份证号{MASKED}与户籍不符"
        assert any(r["data"].get("findings") == (
            f"户主之子 {MASKED} 住院属实，电话138****5678，卡号 ****0888")
                   for r in body["records"])
        assert any(MASKED in h["reason"] for h in body["history"])
        listed = reader.get("/api/claims")
        assert NUMBER not in listed.text and MASKED in listed.text


def test_an_id_number_typed_in_groups_full_width_old_style_or_as_a_key_is_masked_too(
        staff, claim, as_user, browser):  # noqa: F811
    """A hostile tester's survey named people by ID number as an asset check's key, in
    full-width digits, in groups and as the old 15-digit number: each was shown in full on
    the claim page, in the API and on the audit trail."""
    wide = NUMBER.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    grouped = f"{NUMBER[:6]} {NUMBER[6:14]} {NUMBER[14:]}"
    old = NUMBER[:6] + NUMBER[8:17]  # the 15-digit number: two-digit year, no check digit
    act(staff["investigator"], claim, "start_investigation")
    assert act(staff["investigator"], claim, "submit_survey", {
        **SURVEY, "findings": f"儿子 {wide}，儿媳 {grouped}，老人 {old}",
        "asset_check": {f"{NUMBER}名下存款": "无"}}).status_code == 200

    api = as_user("clerk", "groups-api").get(f"/api/claims/{claim.id}").text
    reader = browser("clerk", "groups-page")
    pages = [reader.get(path).text for path in (f"/claims/{claim.id}", "/audit")]
    for text in (api, *pages[:1]):
        for shown in (NUMBER, wide, grouped, old, NUMBER[6:14], old[6:12] + old[12:]):
            assert shown not in text, shown
    assert f"{MASKED}名下存款" in api
    assert NUMBER not in pages[1] and grouped not in pages[1] and old not in pages[1]


def _searches(session):
    return session.exec(select(AuditEntry).where(AuditEntry.action == "search_by_name")
                        .order_by(AuditEntry.id)).all()


def test_a_search_by_part_of_a_name_is_on_the_trail_from_the_page_and_the_api(
        browser, as_user, session, county):  # noqa: F811
    """Searching by part of a name stays (staff search by a given name), but each search is
    on the trail: who, the part masked as a name is, where and how many were found. An
    empty search is none; the audit page shows the entries in Chinese and English."""
    name = county.members[0].name
    part = name[1:]  # the given name, as staff search by it
    page_clerk = browser("clerk", "name-page")
    assert page_clerk.get("/households", params={"q": "  "}).status_code == 200
    for number in (county.household.household_number, "LP2026"):  # a household's, a claim's
        assert page_clerk.get("/households", params={"q": number}).status_code == 200
    api_clerk = as_user("clerk", "name-api")
    for blank in ("", "  "):  # as the page takes a blank search: none
        assert api_clerk.get("/api/members", params={"name": blank}).status_code == 200
    assert _searches(session) == []
    found = page_clerk.get("/households", params={"q": part})
    assert found.status_code == 200 and county.household.household_number in found.text
    [on_page] = _searches(session)
    assert (on_page.actor, on_page.entity, on_page.entity_id) == (
        "user:name-page", "member", masking.name(part))
    assert on_page.after == {"where": "households_search", "found": 1}
    listed = api_clerk.get("/api/members", params={"name": part})
    assert listed.status_code == 200 and listed.json()["count"] >= 1
    _, by_api = _searches(session)
    assert (by_api.actor, by_api.entity_id) == ("user:name-api", masking.name(part))
    assert by_api.after == {"where": "members_list", "found": listed.json()["count"],
                            "offset": 0, "limit": 50}
    # each page read is its own entry, which says the page: reading on is not searching again
    for offset in (1, 2):
        assert api_clerk.get("/api/members", params={
            "name": part, "offset": offset, "limit": 1}).status_code == 200
    pages = [(e.after["offset"], e.after["limit"]) for e in _searches(session)[2:]]
    assert pages == [(1, 1), (2, 1)]
    for language, words in (("zh", ("按姓名查询", "农户页面的查询", "接口的家庭成员列表",
                                    "查到条数", "跳过条数", "每页条数")),
                            ("en", ("search by name", "the households page&#39;s search",
                                    "the API&#39;s list of members", "Found",
                                    "Rows skipped (offset)", "Rows per page (limit)"))):
        audit_page = browser("auditor", f"aud-{language}", language=language).get(
            "/audit", params={"kind": "member"})
        assert audit_page.status_code == 200
        for word in words:
            assert word in audit_page.text, (language, word)


def test_a_follow_ups_notes_reach_other_readers_masked(staff, client, session, claim, county,
                                                       browser, as_user):  # noqa: F811
    """A follow-up's assistance and its closing note name a person by ID number; the
    household's monitoring page and the API give them masked."""
    paid_and_fallen(staff, client, session, claim, county)
    (case,) = session.exec(select(FollowUp)).all()
    clerk = staff["clerk"]
    # a helper named with their ID number, and an assistance's reference that is one (found
    # shown in full by a hostile tester)
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper",
                      json={"helper": f"王帮扶 {NUMBER}"}).status_code == 200
    listed = browser("clerk", "mon-list").get("/monitoring")  # the open follow-up's helper
    assert NUMBER not in listed.text and f"王帮扶 {MASKED}" in listed.text
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/assistance", json={
        "kind": "employment", "description": f"为 {NUMBER} 介绍务工", "reference": NUMBER,
        "given_on": str(clock.county_today())}).status_code == 201
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/close", json={
        "outcome": "assisted", "note": f"{NUMBER} 务工收入恢复"}).status_code == 200
    page = browser("clerk", "mon-page").get(f"/monitoring/households/{claim.household_id}")
    assert page.status_code == 200
    assert NUMBER not in page.text and page.text.count(MASKED) == 3  # helper, measure, note
    answer = as_user("clerk", "mon-api").get(
        f"/api/monitoring/households/{claim.household_id}")
    assert answer.status_code == 200 and NUMBER not in answer.text
    [shown] = answer.json()["follow_ups"]
    assert shown["outcome_note"] == f"{MASKED} 务工收入恢复"
    assert shown["assistance"][0]["description"] == f"为 {MASKED} 介绍务工"
    assert (shown["helper"], shown["assistance"][0]["reference"]) == (f"王帮扶 {MASKED}", MASKED)


@pytest.fixture
def local_store(tmp_path):
    """A document store of this test's own, in a directory."""
    storage.use(storage.build(Settings(documents_dir=str(tmp_path / "documents"))))
    yield
    storage.use(None)


def test_a_documents_withdrawal_and_a_waivers_reason_reach_other_readers_masked(
        local_store, browser, staff, as_user, session, requiring):  # noqa: F811
    """A withdrawn document's reason and a supervisor's waiver name a person by ID number;
    the claim page's documents and the API give them masked, to every reader."""
    claim = requiring
    investigator = staff["investigator"]
    added = investigator.post(f"/api/claims/{claim.id}/documents",
                              data={"doc_type": "invoice"},
                              files=[("files", ("发票.pdf", pdf()))])
    assert added.status_code == 201, added.text
    withdrawn = investigator.post(f"/api/documents/{added.json()['data'][0]['id']}/withdraw",
                                  json={"reason": f"是 {NUMBER} 家的发票"})
    assert withdrawn.status_code == 200 and NUMBER not in withdrawn.text
    waived = as_user("supervisor", "doc-sup").post(
        f"/api/claims/{claim.id}/document-waivers",
        json={"document_type": "discharge_summary", "reason": f"{NUMBER}门诊，无出院小结"})
    assert waived.status_code == 201 and NUMBER not in waived.text
    for reader in (browser("clerk", "doc-page"), browser("clerk", "doc-rev", may_reveal=True)):
        page = reader.get(f"/claims/{claim.id}")
        assert page.status_code == 200
        assert NUMBER not in page.text
        assert f"是 {MASKED} 家的发票" in page.text and f"{MASKED}门诊，无出院小结" in page.text
    api = as_user("clerk", "doc-api")
    listed = api.get(f"/api/claims/{claim.id}/documents")
    assert NUMBER not in listed.text
    assert listed.json()["data"][0]["withdrawn_reason"] == f"是 {MASKED} 家的发票"
    needed = api.get(f"/api/claims/{claim.id}/required-documents")
    assert NUMBER not in needed.text
    assert [i["waiver"]["reason"] for i in needed.json()["data"] if i["waiver"]] == [
        f"{MASKED}门诊，无出院小结"]


def test_a_closed_warnings_note_reaches_other_readers_masked(
        browser, as_user, session, claim):  # noqa: F811
    """The office closes a warning with a note naming a person by ID number (and an older
    closing's free text did): the warnings page, its workbook and the API give it masked."""
    coded, older = (EarlyWarning(household_id=claim.household_id, trigger="risk_high",
                                 source="risk", score=score, text="高风险")
                    for score in (0.9, 0.8))
    older.status, older.outcome, older.closed_at = "closed", f"已走访{NUMBER}", utcnow()
    session.add_all([coded, older])
    session.commit()
    closed = as_user("clerk", "warn-api").post(
        f"/api/warnings/{coded.id}/close", json={"outcome": "visited",
                                                 "note": f"走访 {NUMBER} 本人"})
    assert closed.status_code == 200, closed.text
    assert NUMBER not in closed.text and closed.json()["outcome"] == f"visited: 走访 {MASKED} 本人"
    clerk = browser("clerk", "warn-page")
    page = clerk.get("/warnings", params={"status": "closed"})
    assert page.status_code == 200
    assert NUMBER not in page.text
    assert f"走访 {MASKED} 本人" in page.text and f"已走访{MASKED}" in page.text
    book = xlsx_cells(clerk.get("/warnings", params={"status": "closed",
                                                     "export": "xlsx"}).content)
    outcomes = [row[-1] for row in book[1:]]
    assert not any(NUMBER in str(o) for o in outcomes)
    assert any(f"走访 {MASKED} 本人" in str(o) for o in outcomes)
    assert f"已走访{MASKED}" in outcomes
    revealer = as_user("clerk", "warn-rev")
    revealer.user.may_reveal = True
    session.commit()
    for reader in (as_user("clerk", "warn-list"), revealer):
        listed = reader.get("/api/warnings", params={"status": "closed"})
        assert listed.status_code == 200 and NUMBER not in listed.text
        assert {w["outcome"] for w in listed.json()["data"]} == {
            f"visited: 走访 {MASKED} 本人", f"已走访{MASKED}"}
        risk = reader.get(f"/api/households/{claim.household_id}/risk")
        assert risk.status_code == 200 and NUMBER not in risk.text


def test_a_payments_failure_reason_reaches_readers_masked(staff, client, session, claim,
                                                          browser, as_user):  # noqa: F811
    """The bank's return file says why a payment failed, naming the account holder by ID
    number: the confirmation's results, the batch page and the API give it masked."""
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()
    client.post(f"/api/payment-batches/{batch['id']}/bank-file")
    line = batch["lines"][0]["id"]
    answer = client.post(f"/api/payment-batches/{batch['id']}/confirmation", files={
        "file": ("a.csv", f"payment_id,status,reason\n{line},failed,户主{NUMBER}已销户\n"
                 .encode())})
    assert answer.status_code == 200 and NUMBER not in answer.text
    assert answer.json()["results"][0]["reason"] == f"户主{MASKED}已销户"
    read = as_user("supervisor", "pay-api").get(f"/api/payment-batches/{batch['id']}")
    assert read.status_code == 200 and NUMBER not in read.text
    assert read.json()["lines"][0]["failure_reason"] == f"户主{MASKED}已销户"
    supervisor = browser("supervisor", "pay-page")
    for path in (f"/payments/{batch['id']}", "/payments"):
        page = supervisor.get(path)
        assert page.status_code == 200 and NUMBER not in page.text
    assert f"户主{MASKED}已销户" in supervisor.get(f"/payments/{batch['id']}").text


# A column named as free text is: what a person typed, a reason, a note, what a step recorded.
FREE_TEXT = re.compile(r"reason|note|text|comment|remark|outcome|waiver|description|finding"
                       r"|data|helper|reference")
# Columns named so that hold no text a person types about a person, each with why.
NOT_TYPED = {
    ("early_warning", "text"): "the warning's explanation, written by fangpin's rules and model",
    ("follow_up", "outcome"): "a code from a fixed list; the office's words are outcome_note",
    ("score_run", "note"): "written by the nightly run: the monitoring lines it used",
    ("monitoring_run", "note"): "written by the monitoring run: its error, if it failed",
    ("monitoring_line", "note"): "the source of a region's line (a county's notice), no person",
    ("national_standard", "note"): "the source of the national standard, no person",
    ("terms_version", "source_text"): "a county's benefit terms as TOML, no person",
    ("shock", "reference"): "the department's own event number (事件编号)",
    ("payment", "bank_reference"): "the bank's transaction number, from its return file",
    ("catastrophe", "reference"): "the emergency department's document number (文号)",
}


def test_every_free_text_column_is_masked_or_exempt_for_a_reason():
    """Walking the schema itself, not the services' lists: every string or JSON column named
    as free text is masked for its readers (masking.TYPED) or exempt above, so a new one
    cannot escape masking unnoticed; and each entry of either names a column there is."""
    columns = {(table.name, column.name) for table in SQLModel.metadata.tables.values()
               for column in table.columns  # AutoString is no sa.String, but its impl is
               if isinstance(getattr(column.type, "impl", column.type), sa.String | sa.JSON)}
    typed = {(table, name) for table, names in masking.TYPED.items() for name in names}
    named = {(table, name) for table, name in columns if FREE_TEXT.search(name)}
    assert named - typed - NOT_TYPED.keys() == set()
    assert (typed | NOT_TYPED.keys()) - columns == set()
    assert typed & NOT_TYPED.keys() == set()


@pytest.mark.parametrize(("typed", "shown"), [
    ("卡号 6228 5776 7501 2858 767", "卡号 ****8767"),
    ("卡号 6228-5776-7501-2858", "卡号 ****2858"),
    ("电话 138-1234-5678", "电话 138****5678"),
    ("电话 138 1234 5678。", "电话 138****5678。"),
    ("+8613812345678", "+86138****5678"),
    ("+86 138 1234 5678", "+86 138****5678"),
    ("１３８１２３４５６７８", "１３８****５６７８"),
    (f"ID{NUMBER}", f"ID{MASKED}"),
    # not a number of a person: a card's run followed by an amount keeps the amount
    ("6228480000000000 123元", "****0000 123元"),
    ("金额 7500.00，日期 2026-11-25", "金额 7500.00，日期 2026-11-25"),
])
def test_numbers_typed_in_other_forms_are_masked_in_text(typed, shown):
    """A bank's return reason and staff's notes, in the forms a hostile tester found shown
    in full: grouped cards, phones with spaces, hyphens, +86 or full-width digits, an ID
    number run on from a label."""
    assert masking.in_text(typed) == shown


def test_a_request_path_with_an_id_number_in_groups_is_logged_masked():
    import logging

    from claims.logs import MaskIdNumbers
    record = logging.LogRecord("uvicorn", logging.INFO, __file__, 1, "GET %s", (
        f"/api/members/by-id-number/{NUMBER[:6]} {NUMBER[6:14]} {NUMBER[14:]}",), None)
    MaskIdNumbers().filter(record)
    assert NUMBER[6:14] not in record.getMessage() and NUMBER[-4:] in record.getMessage()


def test_no_event_view_gives_the_id_number_away(department, session, county, as_user):
    """Staff read a department's events masked; the unsalted payload hash had given the
    masked number away to a search of birth dates in a fifth of a second, and a detail of any
    name was stored and shown whole. A detail the event type does not have is refused, as
    the department's file refuses its column."""
    from tests.claims.conftest import evaluate
    from tests.claims.test_intake import illness
    event = illness("HIS-M1", seq=5)
    refused = department.post("/api/events", json={
        **event, "details": {"hospital": "禹州市人民医院", "contact": "13812345678"}})
    assert refused.status_code == 422 and refused.json()["field"] == "details.contact"
    assert "13812345678" not in refused.text
    event["details"]["diagnosis"] = f"{NUMBER}，电话 138-1234-5678"
    assert department.post("/api/events", json=event).status_code == 202
    evaluate(session)
    listed = as_user("auditor", "ev-aud").get("/api/events")
    assert listed.status_code == 200
    [view] = listed.json()["data"]
    assert "payload_hash" not in view
    assert view["payload"]["details"]["diagnosis"] == f"{MASKED}，电话 138****5678"
    assert view["payload"]["id_number"] == masking.id_number(event["id_number"])
    assert event["id_number"] not in listed.text and NUMBER not in listed.text


def test_a_members_birth_date_is_withheld_unless_revealed(session, county, as_user, browser):  # noqa: F811
    """With the masked number 4110…0011 and the county's public code, the birth date spelt
    the whole number out: the API and the audit page withhold it unless revealed."""
    member = county.members[0]
    clerk = as_user("clerk", "bd-clerk")
    for path in (f"/api/members/{member.id}", "/api/members"):
        answer = clerk.get(path)
        assert answer.status_code == 200
        assert member.birth_date.isoformat() not in answer.text
    assert clerk.get(f"/api/members/{member.id}").json()["birth_date"] is None
    revealer = as_user("clerk", "bd-rev")
    revealer.user.may_reveal = True
    session.commit()
    shown = revealer.get(f"/api/members/{member.id}", params={"reveal": "true"})
    assert shown.json()["birth_date"] == member.birth_date.isoformat()
    added = clerk.post("/api/members", json={
        "household_id": member.household_id, "name": "新成员", "id_number": NUMBER,
        "relation": "grandson"})
    assert added.status_code == 201, added.text
    assert added.json()["birth_date"] is None
    trail = browser("auditor", "bd-aud").get("/audit", params={"kind": "member"})
    assert trail.status_code == 200 and MASKED in trail.text
    assert NUMBER[6:10] + "-" + NUMBER[10:12] not in trail.text  # 1965-03 of 19650312


def test_a_documents_name_reaches_readers_masked(local_store, browser, staff,  # noqa: F811
                                                 as_user, claim):
    """A scan named after its owner's ID number and phone (as scans are): the claim page, the
    API's list and the download's name give them masked."""
    name = f"发票_{NUMBER}_13812345678.pdf"
    added = staff["investigator"].post(f"/api/claims/{claim.id}/documents",
                                       files=[("files", (name, pdf()))])
    assert added.status_code == 201, added.text
    assert added.json()["data"][0]["filename"] == f"发票_{MASKED}_138****5678.pdf"
    document = added.json()["data"][0]["id"]
    page = browser("clerk", "fn-page").get(f"/claims/{claim.id}")
    assert NUMBER not in page.text and f"发票_{MASKED}_138****5678.pdf" in page.text
    api = as_user("auditor", "fn-api")
    assert NUMBER not in api.get(f"/api/claims/{claim.id}/documents").text
    download = api.get(f"/api/documents/{document}/content")
    assert download.status_code == 200
    assert NUMBER not in download.headers["content-disposition"]
    assert "13812345678" not in download.headers["content-disposition"]


def test_an_income_records_reference_reaches_readers_masked(session, county, as_user):
    household = county.household
    clerk = as_user("clerk", "ir-clerk")
    made = clerk.post("/api/income-records", json={
        "household_id": household.id, "period_start": "2025-01-01",
        "period_end": "2025-12-31", "source": "survey", "wages": "12000.00",
        "reference": f"电话13812345678 身份证{NUMBER}"})
    assert made.status_code == 201, made.text
    for answer in (made, clerk.get(f"/api/income-records/{made.json()['id']}"),
                   clerk.get("/api/income-records", params={"household_id": household.id})):
        assert NUMBER not in answer.text and "13812345678" not in answer.text
        assert f"电话138****5678 身份证{MASKED}" in answer.text
