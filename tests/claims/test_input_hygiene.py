"""Bad input is refused with 4xx naming the field, never a 500: bare NaN/Infinity in JSON,
missing required codes, amounts in other digits or as floats, text with control, invisible
or direction-override characters, dates in the future. Each case was a defect once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from claims import clock
from tests.claims.conftest import DEPARTMENT_KEY
from tests.claims.test_intake import illness
from tests.claims.test_lifecycle import act, to_approval
from tests.factories import county_with_villages, id_number


@pytest.fixture
def places(session):
    ids = county_with_villages(session, villages=2)
    session.commit()
    return ids


def refused(response, field: str, words: str = "") -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field and words in body["message"], body


# ---------------------------------------------------------------- NaN and Infinity

@pytest.mark.parametrize("path", ["/api/households", "/api/quotes", "/api/admin/users"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_bare_nan_or_infinity_in_a_body_is_a_422(client, places, path, number):
    body = {"/api/households": '{"household_number": "H1", "village_id": %s, '
                               '"household_type": "lifted_out"}',
            "/api/quotes": '{"terms_version_id": %s}',
            "/api/admin/users": '{"username": "nan-user", "full_name": "x", "role": "clerk", '
                                '"approval_limit": %s}'}[path] % number
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "InvalidInput"


@pytest.mark.parametrize("number", ["NaN", "Infinity"])
def test_a_bare_nan_in_an_event_is_a_422(app, county, number):
    from fastapi.testclient import TestClient

    event = illness(total_cost="50000.00")
    text = str(event).replace("'", '"').replace('"50000.00"', number)
    with TestClient(app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"}) as department:
        answer = department.post("/api/events", content=text,
                                 headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text


def test_a_body_that_is_not_json_is_a_400_in_the_error_shape(client, places):
    answer = client.patch("/api/regions/1", content=b"\xff\xfe{",
                          headers={"Content-Type": "application/json"})
    assert answer.status_code in (400, 422), answer.text
    assert set(answer.json()) >= {"error", "message"}
    unknown = client.get("/api/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["error"] == "NotFound"


# ---------------------------------------------------------------- required codes

def test_a_household_without_its_type_is_refused_naming_it(client, places):
    refused(client.post("/api/households", json={
        "household_number": "H1", "village_id": places["village0"]}), "household_type")


def test_a_region_without_its_level_is_refused_naming_it(client, places):
    refused(client.post("/api/regions", json={
        "code": "411081100300", "name": "新村", "parent_id": places["township"]}), "level")


def test_a_member_without_a_relation_is_refused_naming_it(client, places):
    household = client.post("/api/households", json={
        "household_number": "H1", "village_id": places["village0"],
        "household_type": "lifted_out"}).json()
    refused(client.post("/api/members", json={
        "household_id": household["id"], "name": "张三", "id_number": id_number()}),
        "relation")


# ---------------------------------------------------------------- amounts

@pytest.mark.parametrize(("amount", "words"), [
    (7500.0, "decimal string"),
    ("７５００.００", "digits 0-9"),  # full-width
    ("٧٥٠٠", "digits 0-9"),  # Arabic-Indic
    ("7.5e3", "digits 0-9"),
    ("NaN", "digits 0-9"),
])
def test_an_approval_amount_is_ascii_decimal_text(staff, session, claim, amount, words):
    to_approval(staff, claim, session)
    answer = act(staff["supervisor"], claim, "approve", {"amount": amount})
    refused(answer, "amount", words)
    assert act(staff["supervisor"], claim, "approve", {"amount": "7500.00"}).status_code == 200


@pytest.mark.parametrize("amount", ["１０００", "1000.0.0", 1000.5])
def test_income_amounts_are_ascii_decimal_text(client, places, amount):
    household = client.post("/api/households", json={
        "household_number": "H1", "village_id": places["village0"],
        "household_type": "lifted_out"}).json()
    refused(client.post("/api/income-records", json={
        "household_id": household["id"], "period_start": "2025-01-01",
        "period_end": "2025-12-31", "wages": amount}), "wages")


# ---------------------------------------------------------------- text

BAD_TEXT = [
    ("张\x00三", "control character U+0000"),
    ("\u200b\u200b", "no visible characters"),
    ("\u202e三张", "direction-override character U+202E"),
    ("张\u2066三", "direction-override character U+2066"),
    ("张\n三", "one line"),
]


@pytest.mark.parametrize(("name", "words"), BAD_TEXT)
def test_names_refuse_hidden_and_disguising_characters(client, places, name, words):
    household = client.post("/api/households", json={
        "household_number": "H1", "village_id": places["village0"],
        "household_type": "lifted_out", "bank_name": "农村信用社"}).json()
    refused(client.post("/api/members", json={
        "household_id": household["id"], "name": name, "id_number": id_number(),
        "relation": "head"}), "name", words)
    refused(client.patch(f"/api/households/{household['id']}", json={"bank_name": name}),
            "bank_name", words)
    refused(client.post("/api/regions", json={
        "code": "411081100300", "name": name, "level": "village",
        "parent_id": places["township"]}), "name", words)
    refused(client.post("/api/admin/users", json={
        "username": "someone", "full_name": name, "role": "clerk"}), "full_name", words)


@pytest.mark.parametrize("day", ["1700006400", 1700006400, "46346", "20261340", "+1.7e9",
                                 "1699920000.0", "-0"])
def test_a_day_sent_as_a_number_is_refused_not_read_as_seconds_since_1970(department, county,
                                                                         day):
    # pydantic alone read 1700006400 as 15 November 2023, and an Excel serial day as a moment
    event = {**illness(), "event_date": day}
    answer = department.post("/api/events", json=event)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "event_date" and "YYYY-MM-DD" in answer.json()["message"]


def test_a_day_written_without_dashes_is_the_day_the_imports_read(department, county):
    day = clock.county_today() - timedelta(days=3)
    answer = department.post("/api/events", json={**illness(), "event_date": f"{day:%Y%m%d}"})
    assert answer.status_code == 202, answer.text
    assert department.get(f"/api/events/{illness()['event_id']}").json()["event_date"] == \
        day.isoformat()


def test_an_events_detail_refuses_a_direction_override(department, county):
    event = illness()
    event["details"] = {**event.get("details", {}), "hospital": "\u202e院医民人"}
    answer = department.post("/api/events", json=event)
    assert answer.status_code == 422 and "U+202E" in answer.json()["message"], answer.text


def test_a_reason_may_run_over_lines_but_not_hide(staff, session, claim):
    hidden = act(staff["clerk"], claim, "withdraw", {"reason": "\u200b"})
    refused(hidden, "reason", "no visible characters")
    assert act(staff["clerk"], claim, "withdraw",
               {"reason": "户主申请撤回\n材料不全"}).status_code == 200


# ---------------------------------------------------------------- dates

def test_an_income_report_in_year_5_is_refused_naming_the_field(client, county):
    # Found by schemathesis: the report passed and the ledger's own check failed (a 500).
    report = {"period_start": "0005-01-01", "period_end": "0005-03-31"}
    refused(client.post(f"/api/households/{county.household.id}/income-reports",
                        json=report), "period_start")


@pytest.mark.parametrize("detail", ["admission_date", "discharge_date"])
def test_hospital_dates_in_the_future_are_refused(department, county, detail):
    event = illness()
    event["details"] = {**event.get("details", {}),
                        detail: (clock.county_today() + timedelta(days=1)).isoformat()}
    answer = department.post("/api/events", json=event)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == f"details.{detail}"
    event["details"][detail] = "2099-01-01"
    assert department.post("/api/events", json=event).status_code == 422


# ---------------------------------------------------------------- the same rule for pages and files

def test_staff_and_keys_made_from_any_entry_point_refuse_hidden_text(session):
    from claims.auth import SYSTEM
    from claims.people import create_client, create_user
    from policies.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no visible characters") as refused_user:
        create_user(session, SYSTEM, username="ghost", full_name="\u200b", role="clerk")
    assert refused_user.value.field == "full_name"
    with pytest.raises(InvalidInput, match=r"U\+202E") as refused_key:
        create_client(session, SYSTEM, "\u202e局保医", "medical_insurance")
    assert refused_key.value.field == "name"


def test_a_household_file_refuses_a_disguised_name_on_its_row(session, places):
    from policies.household_import import import_households
    from tests.policies.test_household_import import ZH, csv_bytes, rows_zh

    rows = rows_zh()
    rows[1][4] = "李\u202e四"
    report = import_households(session, csv_bytes(ZH, rows), "export.csv")
    assert not report.written
    assert [(e.field, "U+202E" in e.reason) for e in report.errors] == [("name", True)]


def test_text_stored_before_the_rule_is_still_shown_and_evaluated(client, session, county,
                                                                   department):
    """The rule is for new input: what older versions stored is read back as it is."""
    from claims.models import TriggerEvent
    from policies.models import Household, Member
    from tests.claims.conftest import evaluate

    assert department.post("/api/events", json=illness()).status_code == 202
    session.execute(sa.update(Household).where(Household.id == county.household.id)
                    .values(bank_name="\u202e行银"))
    session.execute(sa.update(Member).where(Member.id == county.members[0].id)
                    .values(name="\u200b"))
    stored = session.exec(select(TriggerEvent)).one()
    stored.payload = {**stored.payload, "details": {"hospital": "\u202e院医"}}
    session.add(stored)
    session.commit()
    session.expire_all()
    assert client.get(f"/api/households/{county.household.id}").json()["bank_name"] == (
        "\u202e行银")
    assert client.get(f"/api/members/{county.members[0].id}").status_code == 200
    assert client.get("/api/households").status_code == 200
    assert evaluate(session) == 1
