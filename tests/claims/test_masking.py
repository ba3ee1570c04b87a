"""Personal data in what staff type and what they search (a hostile pass): an ID number typed
into a reason or a note reaches every other reader masked, through the page, the API and a
printed notice; a search by part of a name, which spells a masked name out one character at a
time, is on the audit trail wherever it is made. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from claims import clock, masking
from claims.models import AuditEntry
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
    api_clerk = as_user("clerk", "name-api")
    assert api_clerk.get("/api/members", params={"name": ""}).status_code == 200
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
    assert by_api.after == {"where": "members_list", "found": listed.json()["count"]}
    for language, words in (("zh", ("按姓名查询", "农户页面的查询", "接口的家庭成员列表",
                                    "查到条数")),
                            ("en", ("search by name", "the households page&#39;s search",
                                    "the API&#39;s list of members", "Found"))):
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
