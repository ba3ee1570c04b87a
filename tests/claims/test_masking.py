"""Personal data in what staff type and what they search (a hostile pass): an ID number typed
into a reason or a note reaches every other reader masked, through the page, the API and a
printed notice; a search by part of a name, which spells a masked name out one character at a
time, is on the audit trail wherever it is made. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from claims import clock, masking
from risk.models import FollowUp
from tests.claims.test_lifecycle import SURVEY, act
from tests.claims.test_monitoring import paid_and_fallen
from tests.claims.test_web import browser  # noqa: F401  # the signed-in browser fixture
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
    assert act(staff["investigator"], claim, "submit_survey",
               {**SURVEY, "findings": f"户主之子 {NUMBER} 住院属实"}).status_code == 200
    assert act(staff["adjudicator"], claim, "reject",
               {"code": "other", "text": f"身份证号{NUMBER}与户籍不符"}).status_code == 200
    for reader in (browser("clerk", "page-clerk"), browser("clerk", "page-rev", may_reveal=True)):
        page = reader.get(f"/claims/{claim.id}")
        assert page.status_code == 200
        assert NUMBER not in page.text and page.text.count(MASKED) >= 3  # findings, text, history
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
        assert any(r["data"].get("findings") == f"户主之子 {MASKED} 住院属实"
                   for r in body["records"])
        assert any(MASKED in h["reason"] for h in body["history"])
        listed = reader.get("/api/claims")
        assert NUMBER not in listed.text and MASKED in listed.text


def test_a_follow_ups_notes_reach_other_readers_masked(staff, client, session, claim, county,
                                                       browser, as_user):  # noqa: F811
    """A follow-up's assistance and its closing note name a person by ID number; the
    household's monitoring page and the API give them masked."""
    paid_and_fallen(staff, client, session, claim, county)
    (case,) = session.exec(select(FollowUp)).all()
    clerk = staff["clerk"]
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper",
                      json={"helper": "王帮扶"}).status_code == 200
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/assistance", json={
        "kind": "employment", "description": f"为 {NUMBER} 介绍务工",
        "given_on": str(clock.county_today())}).status_code == 201
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/close", json={
        "outcome": "assisted", "note": f"{NUMBER} 务工收入恢复"}).status_code == 200
    page = browser("clerk", "mon-page").get(f"/monitoring/households/{claim.household_id}")
    assert page.status_code == 200
    assert NUMBER not in page.text and page.text.count(MASKED) == 2
    answer = as_user("clerk", "mon-api").get(
        f"/api/monitoring/households/{claim.household_id}")
    assert answer.status_code == 200 and NUMBER not in answer.text
    [shown] = answer.json()["follow_ups"]
    assert shown["outcome_note"] == f"{MASKED} 务工收入恢复"
    assert shown["assistance"][0]["description"] == f"为 {MASKED} 介绍务工"
