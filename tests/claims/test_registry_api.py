"""The registry's JSON API, as a data clerk and an administrator use it."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import select

from claims.models import AuditEntry
from policies.models import Member
from tests.factories import county_with_villages, id_number


@pytest.fixture
def places(session):
    ids = county_with_villages(session, villages=2)
    session.commit()  # as a clerk's earlier work: a request's rollback must not undo it
    return ids


def new_household(client, village_id, number="H0001", **extra):
    body = {"household_number": number, "village_id": village_id,
            "household_type": "lifted_out", **extra}
    response = client.post("/api/households", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def new_member(client, household_id, seq=1, relation="head", **extra):
    body = {"household_id": household_id, "name": f"成员{seq}", "id_number": id_number(seq=seq),
            "relation": relation, **extra}
    response = client.post("/api/members", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_health_reports_database_and_schema(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema_revision"]


def test_regions_nest_county_township_village(client, places):
    response = client.post("/api/regions", json={
        "code": "411081100299", "name": "错村", "level": "village", "parent_id": places["county"],
    })
    assert response.status_code == 422
    assert response.json()["field"] == "parent_id"
    listed = client.get("/api/regions", params={"parent_id": places["township"]}).json()
    assert listed["count"] == 2
    assert [r["name"] for r in listed["data"]] == ["村0", "村1"]


def test_household_is_created_listed_and_updated(client, places):
    created = new_household(client, places["village0"], monitoring_category="marginal")
    assert created["size"] == 0 and created["head_name"] is None
    new_member(client, created["id"], seq=1)
    new_member(client, created["id"], seq=2, relation="spouse")
    read = client.get(f"/api/households/{created['id']}").json()
    assert read["size"] == 2 and read["head_name"] == "成*1"  # masked: no reveal permission
    assert read["created_at"].endswith(("+00:00", "Z"))  # UTC on every engine

    patched = client.patch(f"/api/households/{created['id']}",
                           json={"monitoring_category": None, "relocated": True}).json()
    assert patched["monitoring_category"] is None and patched["relocated"] is True
    assert patched["household_type"] == "lifted_out"  # untouched fields stay


def test_household_list_filters_and_paginates(client, places):
    for i in range(5):
        new_household(client, places["village0" if i < 3 else "village1"], number=f"H{i:04d}",
                      household_type="ordinary" if i == 4 else "lifted_out")
    by_village = client.get("/api/households", params={"village_id": places["village1"]}).json()
    assert by_village["count"] == 2
    by_township = client.get("/api/households",
                             params={"township_id": places["township"]}).json()
    assert by_township["count"] == 5
    ordinary = client.get("/api/households", params={"household_type": "ordinary"}).json()
    assert [h["household_number"] for h in ordinary["data"]] == ["H0004"]
    page = client.get("/api/households", params={"offset": 2, "limit": 2}).json()
    assert page["count"] == 5
    assert [h["household_number"] for h in page["data"]] == ["H0002", "H0003"]
    unmonitored = client.get("/api/households", params={"monitoring_category": "none"}).json()
    assert unmonitored["count"] == 5


def test_bad_household_input_names_the_field(client, places):
    new_household(client, places["village0"])
    duplicate = client.post("/api/households", json={
        "household_number": "H0001", "village_id": places["village0"],
        "household_type": "lifted_out"})
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "household_number"
    assert duplicate.json()["code"] == "household_number_taken"

    unknown_village = client.post("/api/households", json={
        "household_number": "H0002", "village_id": places["township"],
        "household_type": "lifted_out"})
    assert unknown_village.status_code == 422
    assert unknown_village.json()["field"] == "village_id"

    bad_type = client.post("/api/households", json={
        "household_number": "H0003", "village_id": places["village0"],
        "household_type": "rich"})
    assert bad_type.status_code == 422
    assert bad_type.json()["detail"][0]["loc"] == ["body", "household_type"]
    assert client.get("/api/households").json()["count"] == 1  # nothing half-written


def test_member_sex_and_birth_date_come_from_the_id_number(client, places, session):
    household = new_household(client, places["village0"])
    member = new_member(client, household["id"], seq=2, relation="head")
    assert member["sex"] == "female"
    assert member["birth_date"] is None  # with the masked number it would spell it out
    assert session.get(Member, member["id"]).birth_date == date(1965, 3, 12)
    found = client.get(f"/api/members/by-id-number/{id_number(seq=2).lower()}")
    assert found.status_code == 200 and found.json()["id"] == member["id"]
    assert client.get(f"/api/members/by-id-number/{id_number(seq=9)}").status_code == 404


def test_bad_member_input_is_refused_with_the_reason(client, places):
    household = new_household(client, places["village0"])
    new_member(client, household["id"], seq=1)
    bad_check = id_number(seq=3)[:17] + ("0" if id_number(seq=3)[17] != "0" else "1")
    response = client.post("/api/members", json={
        "household_id": household["id"], "name": "李四", "id_number": bad_check,
        "relation": "son"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "id_number"] and "check character" in detail["msg"]

    again = client.post("/api/members", json={
        "household_id": household["id"], "name": "重复", "id_number": id_number(seq=1),
        "relation": "son"})
    assert again.status_code == 409 and again.json()["field"] == "id_number"
    assert again.json()["code"] == "id_number_taken"

    second_head = client.post("/api/members", json={
        "household_id": household["id"], "name": "二户主", "id_number": id_number(seq=5),
        "relation": "head"})
    assert second_head.status_code == 409 and second_head.json()["field"] == "relation"
    assert second_head.json()["code"] == "head_exists"

    grade = client.post("/api/members", json={
        "household_id": household["id"], "name": "王五", "id_number": id_number(seq=7),
        "relation": "son", "disability_grade": 5})
    assert grade.status_code == 422
    assert grade.json()["detail"][0]["loc"] == ["body", "disability_grade"]


def test_income_record_derives_net_and_per_capita_income(client, places, session):
    household = new_household(client, places["village0"])
    for seq, relation in ((1, "head"), (2, "spouse"), (3, "son")):
        new_member(client, household["id"], seq=seq, relation=relation)
    response = client.post("/api/income-records", json={
        "household_id": household["id"], "period_start": "2025-01-01",
        "period_end": "2025-12-31", "wages": "18000.00", "business_crops": "3200.50",
        "transfer_pension": "1800", "business_costs": "1200.25"})
    assert response.status_code == 201, response.text
    record = response.json()
    # 18000 + 3200.50 + 1800 − 1200.25 = 21800.25; / 3 = 7266.75
    assert record["net_income"] == "21800.25"
    assert record["per_capita_net_income"] == "7266.75"
    assert record["household_size"] == 3

    typed = client.patch(f"/api/income-records/{record['id']}", json={"net_income": "1.00"})
    assert typed.status_code == 422  # derived figures cannot be typed
    assert typed.json()["detail"][0]["loc"] == ["body", "net_income"]
    corrected = client.patch(f"/api/income-records/{record['id']}",
                             json={"wages": "18000.50"}).json()
    assert corrected["net_income"] == "21800.75"
    assert corrected["per_capita_net_income"] == "7266.92"  # 7266.916… half-up
    # the correction is dated; the moment the record was made stays
    assert corrected["recorded_at"] == record["recorded_at"] and record["revised_at"] is None
    assert corrected["revised_at"] > record["recorded_at"]
    # the trail names the figures that changed, not the correction's moment (it has its own)
    assert session.exec(select(AuditEntry.after).where(
        AuditEntry.entity == "income_record", AuditEntry.action == "update")).all() == [
        {"wages": "18000.50", "net_income": "21800.75", "per_capita_net_income": "7266.92"}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"wages": "-1.00"}, "wages"),
        ({"wages": "abc"}, "wages"),
        ({"wages": "10.001"}, "wages"),
        ({"period_end": "2024-12-31"}, None),
        ({"period_start": "1800-01-01", "period_end": "1800-12-31"}, None),
    ],
)
def test_bad_income_is_refused(client, places, change, field):
    household = new_household(client, places["village0"])
    new_member(client, household["id"])
    body = {"household_id": household["id"], "period_start": "2025-01-01",
            "period_end": "2025-12-31", **change}
    response = client.post("/api/income-records", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    if field:
        assert detail["loc"][-1] == field
    assert client.get("/api/income-records").json()["count"] == 0


def test_income_twice_for_the_same_period_is_a_conflict(client, places):
    household = new_household(client, places["village0"])
    new_member(client, household["id"])
    body = {"household_id": household["id"], "period_start": "2025-01-01",
            "period_end": "2025-12-31", "wages": "100"}
    assert client.post("/api/income-records", json=body).status_code == 201
    again = client.post("/api/income-records", json=body)
    assert again.status_code == 409 and again.json()["code"] == "income_recorded"


def test_monitoring_line_applies_from_the_nearest_region_that_sets_one(client, places):
    standard = client.post("/api/national-standards", json={"year": 2018, "amount": "3400.00"})
    assert standard.status_code == 201
    county_line = client.post("/api/monitoring-lines", json={
        "region_id": places["county"], "year": 2019, "multiple": "1.5", "standard_year": 2018})
    assert county_line.status_code == 201, county_line.text
    assert county_line.json()["amount"] == "5100.00"
    applicable = client.get("/api/monitoring-lines/applicable",
                            params={"region_id": places["village0"], "year": 2019}).json()
    assert applicable["region_id"] == places["county"] and applicable["amount"] == "5100.00"

    client.post("/api/monitoring-lines", json={
        "region_id": places["township"], "year": 2019, "fixed_amount": "9000.00"})
    applicable = client.get("/api/monitoring-lines/applicable",
                            params={"region_id": places["village0"], "year": 2019}).json()
    assert applicable["amount"] == "9000.00"
    missing = client.get("/api/monitoring-lines/applicable",
                         params={"region_id": places["village0"], "year": 2030})
    assert missing.status_code == 404 and missing.json()["field"] == "year"


def test_monitoring_line_must_be_set_one_way(client, places):
    both = client.post("/api/monitoring-lines", json={
        "region_id": places["county"], "year": 2025, "fixed_amount": "8700",
        "multiple": "1.5", "standard_year": 2024})
    assert both.status_code == 422
    unknown_standard = client.post("/api/monitoring-lines", json={
        "region_id": places["county"], "year": 2025, "multiple": "1.5", "standard_year": 2024})
    assert unknown_standard.status_code == 422
    assert unknown_standard.json()["field"] == "standard_year"


CONTRACT = {
    "contract_number": "FPB-411081-2026", "insurer": "演示保险", "policy_year": 2026,
    "start_date": "2026-01-01", "end_date": "2026-12-31", "premium_per_person": "50.00",
    "insured_basis": "headcount", "insured_headcount": 53000, "insurer_fee_rate": "0.15",
}


def test_contract_premium_is_per_person_times_headcount(client, places):
    response = client.post("/api/contracts", json={**CONTRACT, "county_id": places["county"]})
    assert response.status_code == 201, response.text
    contract = response.json()
    assert contract["premium"] == "2650000.00"  # 50 × 53,000
    assert Decimal(contract["insurer_fee_rate"]) == Decimal("0.15")
    assert contract["status"] == "draft"
    listed = client.get("/api/contracts", params={"policy_year": 2026}).json()
    assert listed["count"] == 1


def test_named_contract_counts_the_members_of_named_households(client, places):
    for i in range(2):
        household = new_household(client, places["village0"], number=f"N{i}")
        new_member(client, household["id"], seq=10 * i + 1)
        new_member(client, household["id"], seq=10 * i + 2, relation="spouse")
    body = {**CONTRACT, "county_id": places["county"], "insured_basis": "named",
            "insured_headcount": None}
    contract = client.post("/api/contracts", json=body).json()
    added = client.post(f"/api/contracts/{contract['id']}/insured-households",
                        json={"household_numbers": ["N0", "N1", "N0"]})
    assert added.json() == {"added": 2}
    again = client.post(f"/api/contracts/{contract['id']}/insured-households",
                        json={"household_numbers": ["N0"]})
    assert again.json() == {"added": 0}
    named = client.get(f"/api/contracts/{contract['id']}/insured-households").json()
    assert named == {"data": ["N0", "N1"], "count": 2}
    read = client.get(f"/api/contracts/{contract['id']}").json()
    assert read["insured_people"] == 4 and read["premium"] == "200.00"
    unknown = client.post(f"/api/contracts/{contract['id']}/insured-households",
                          json={"household_numbers": ["NOPE"]})
    assert unknown.status_code == 422 and unknown.json()["value"] == "NOPE"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"end_date": "2025-12-31"}, "must be after start_date"),
        ({"end_date": "2027-06-30"}, "at most 366 days"),
        ({"end_date": "2027-01-02"}, "at most 366 days"),  # 367 days had passed (a tester's)
        ({"start_date": "2028-01-01", "end_date": "2029-01-01", "policy_year": 2028},
         "at most 366 days"),  # a leap year's 366 days and one
        ({"insured_headcount": None}, "insured_headcount is required"),
    ],
)
def test_contract_dates_and_basis_must_agree(client, places, change, reason):
    response = client.post("/api/contracts",
                           json={**CONTRACT, "county_id": places["county"], **change})
    assert response.status_code == 422
    assert reason in response.text
    # the field to correct is named, as PATCH names it (POST had said "request")
    assert response.json()["field"] == (
        "insured_headcount" if "insured_headcount" in change else "end_date"), response.json()


def test_contract_update_keeps_it_consistent(client, places):
    contract = client.post("/api/contracts",
                           json={**CONTRACT, "county_id": places["county"]}).json()
    bad = client.patch(f"/api/contracts/{contract['id']}", json={"end_date": "2025-01-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "end_date"
    good = client.patch(f"/api/contracts/{contract['id']}",
                        json={"status": "active", "balance_carried_in": "120000.50"})
    assert good.json()["status"] == "active"
    assert good.json()["balance_carried_in"] == "120000.50"


def test_openapi_documents_examples(client):
    spec = client.get("/openapi.json").json()
    household = spec["components"]["schemas"]["HouseholdCreate"]
    assert household["examples"][0]["household_number"]
    assert "/api/imports/households" in spec["paths"]
    assert spec["components"]["schemas"]["HouseholdCreate"]["properties"]["phone"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/households", {"household_number": "a b"}, "household_number"),
        ("/api/households", {"household_number": "户1"}, "household_number"),
        ("/api/households", {"phone": "abc"}, "phone"),
        ("/api/households", {"bank_account": "12"}, "bank_account"),
        ("/api/regions", {"code": "4a"}, "code"),
    ],
)
def test_text_shapes_are_checked(client, places, path, body, field):
    base = ({"household_number": "H1", "village_id": places["village0"],
             "household_type": "lifted_out"} if path == "/api/households"
            else {"code": "411081100300", "name": "新村", "level": "village",
                  "parent_id": places["township"]})
    response = client.post(path, json={**base, **body})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_patch_empties_only_fields_that_may_be_empty(client, places):
    household = new_household(client, places["village0"], phone="13800000000")
    for field in ("village_id", "household_type", "status", "relocated"):
        response = client.patch(f"/api/households/{household['id']}", json={field: None})
        assert response.status_code == 422, field
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", field] and "cannot be emptied" in detail["msg"]
    emptied = client.patch(f"/api/households/{household['id']}", json={"phone": None})
    assert emptied.status_code == 200 and emptied.json()["phone"] is None

    new_member(client, household["id"])
    record = client.post("/api/income-records", json={
        "household_id": household["id"], "period_start": "2025-01-01",
        "period_end": "2025-12-31", "wages": "100"}).json()
    response = client.patch(f"/api/income-records/{record['id']}", json={"wages": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "wages"]


def test_money_is_answered_with_two_places_however_it_was_typed(client, places):
    household = new_household(client, places["village0"])
    new_member(client, household["id"])
    record = client.post("/api/income-records", json={
        "household_id": household["id"], "period_start": "2025-01-01",
        "period_end": "2025-12-31", "wages": "100.5", "business_crops": "+1000"}).json()
    assert record["wages"] == "100.50" and record["business_crops"] == "1000.00"
    contract = client.post("/api/contracts", json={
        **CONTRACT, "county_id": places["county"], "premium_per_person": "50",
        "insurer_fee_rate": "0"}).json()
    assert contract["premium_per_person"] == "50.00"
    assert contract["insurer_fee_rate"] == "0.0000"


def test_a_reference_to_a_missing_row_names_the_field(client, places):
    response = client.post("/api/members", json={
        "household_id": 999999, "name": "张三", "id_number": id_number(), "relation": "head"})
    assert response.status_code == 422
    assert response.json()["field"] == "household_id"
    line = client.post("/api/monitoring-lines", json={
        "region_id": 999999, "year": 2025, "fixed_amount": "8700"})
    assert line.status_code == 422 and line.json()["field"] == "region_id"


def test_fullwidth_digits_in_an_id_number_are_read_as_ascii(client, places):
    household = new_household(client, places["village0"])
    ascii_number = id_number(seq=1)
    fullwidth = ascii_number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    first = client.post("/api/members", json={
        "household_id": household["id"], "name": "张三", "id_number": fullwidth,
        "relation": "head"})
    assert first.status_code == 201
    assert first.json()["id_number"] == ascii_number[:4] + "*" * 10 + ascii_number[-4:]
    again = client.post("/api/members", json={
        "household_id": household["id"], "name": "张三", "id_number": ascii_number,
        "relation": "son"})
    assert again.status_code == 409


def test_household_number_prefix_filter_is_literal(client, places):
    new_household(client, places["village0"], number="ab-1")
    new_household(client, places["village0"], number="AB-2")
    def numbers(prefix):
        return [h["household_number"] for h in
                client.get("/api/households", params={"household_number": prefix}).json()["data"]]
    assert numbers("ab") == ["ab-1"]
    assert numbers("%") == [] and numbers("_b") == []
    bogus = client.get("/api/households", params={"monitoring_category": "bogus"})
    assert bogus.status_code == 422


def test_monitoring_line_patch_errors_name_the_field(client, places):
    line = client.post("/api/monitoring-lines", json={
        "region_id": places["county"], "year": 2025, "fixed_amount": "8700"}).json()
    both = client.patch(f"/api/monitoring-lines/{line['id']}", json={"multiple": "1.5"})
    assert both.status_code == 422 and "exactly one way" in both.json()["message"]
    note = client.patch(f"/api/monitoring-lines/{line['id']}", json={"note": None})
    assert note.status_code == 422
    switched = client.patch(f"/api/monitoring-lines/{line['id']}", json={"fixed_amount": "9000"})
    assert switched.status_code == 200 and switched.json()["amount"] == "9000.00"


def test_a_named_contracts_premium_is_the_registrys_of_the_day_it_began(client, session,
                                                                         places):
    """The premium moved with today's registry: a death in December lowered a settled year's
    premium after its balance had been carried over (a tester's). Households and members count
    as they stood when the contract began; one named later, as it stood that day."""
    from policies.models import HouseholdVersion, InsuredHousehold, MemberVersion

    households = [new_household(client, places["village0"], number=f"N{i}") for i in range(2)]
    members = [new_member(client, h["id"], seq=10 * i + k, relation=relation)
               for i, h in enumerate(households)
               for k, relation in ((1, "head"), (2, "spouse"))]
    for version in (HouseholdVersion, MemberVersion):  # registered a month before the year
        session.execute(sa.update(version).values(valid_from=date(2025, 12, 1)))
    session.commit()
    body = {**CONTRACT, "county_id": places["county"], "insured_basis": "named",
            "insured_headcount": None}
    contract = client.post("/api/contracts", json=body).json()
    url = f"/api/contracts/{contract['id']}"
    client.post(f"{url}/insured-households", json={"household_numbers": ["N0", "N1"]})
    session.execute(sa.update(InsuredHousehold).values(named_on=date(2026, 1, 1)))
    session.commit()  # named as the year began

    def counted():
        read = client.get(url).json()
        return read["insured_households"], read["insured_people"], read["premium"]

    assert counted() == (2, 4, "200.00")
    assert client.patch(f"/api/members/{members[1]['id']}",
                        json={"status": "deceased"}).status_code == 200
    assert client.patch(f"/api/households/{households[1]['id']}",
                        json={"status": "cancelled"}).status_code == 200
    assert counted() == (2, 4, "200.00")  # as the year began
    late = new_household(client, places["village0"], number="N2")  # registered, named today
    new_member(client, late["id"], seq=31)
    client.post(f"{url}/insured-households", json={"household_numbers": ["N2"]})
    assert counted() == (3, 5, "250.00")


def test_a_household_named_late_is_covered_from_the_day_it_was_named(client, session,
                                                                    places):
    """Named in December, a household had been paid bills of February, ten months before it
    was in the registry (a tester's): it is covered, and waits, from the day it is named."""
    from claims import clock
    from policies import benefits
    from policies.models import PolicyContract

    household = new_household(client, places["village0"], number="LATE")
    new_member(client, household["id"], seq=41)
    body = {**CONTRACT, "county_id": places["county"], "insured_basis": "named",
            "insured_headcount": None}
    contract = client.post("/api/contracts", json=body).json()
    client.post(f"/api/contracts/{contract['id']}/insured-households",
                json={"household_numbers": ["LATE"]})
    today = clock.county_today()
    snapshot = benefits.household_snapshot(
        session, household["id"], policy_year=2026,
        contract=session.get(PolicyContract, contract["id"]))
    assert snapshot.covered_from == max(today, date(2026, 1, 1))
    assert snapshot.covered_to == date(2026, 12, 31)
    assert client.get(f"/api/contracts/{contract['id']}").json()["insured_people"] == 1


def test_named_contract_counts_only_active_households_of_its_county(client, session, places):
    from policies import registry
    from policies.models import RegionCreate

    other_county = registry.create_region(session, RegionCreate(
        code="411082", name="长葛市", level="county"))
    other_township = registry.create_region(session, RegionCreate(
        code="411082100", name="镇", level="township", parent_id=other_county.id))
    other_village = registry.create_region(session, RegionCreate(
        code="411082100200", name="村", level="village", parent_id=other_township.id))
    session.commit()
    mine = new_household(client, places["village0"], number="MINE")
    new_member(client, mine["id"], seq=1)
    gone = new_household(client, places["village0"], number="GONE")
    new_member(client, gone["id"], seq=2)
    new_household(client, other_village.id, number="THEIRS")
    contract = client.post("/api/contracts", json={
        **CONTRACT, "county_id": places["county"], "insured_basis": "named",
        "insured_headcount": None}).json()
    url = f"/api/contracts/{contract['id']}/insured-households"
    outside = client.post(url, json={"household_numbers": ["MINE", "THEIRS"]})
    assert outside.status_code == 422 and outside.json()["value"] == "THEIRS"
    assert client.post(url, json={"household_numbers": ["MINE", "GONE"]}).json() == {"added": 2}
    client.patch(f"/api/households/{gone['id']}", json={"status": "cancelled"})
    read = client.get(f"/api/contracts/{contract['id']}").json()
    assert (read["insured_households"], read["insured_people"], read["premium"]) == (
        1, 1, "50.00")


def test_contract_status_moves_forward_and_one_is_active_at_a_time(client, places):
    first = client.post("/api/contracts", json={**CONTRACT, "county_id": places["county"]})
    first = first.json()
    assert client.patch(f"/api/contracts/{first['id']}",
                        json={"status": "active"}).status_code == 200
    second = client.post("/api/contracts", json={
        **CONTRACT, "county_id": places["county"], "contract_number": "FPB-2"}).json()
    overlap = client.patch(f"/api/contracts/{second['id']}", json={"status": "active"})
    assert overlap.status_code == 409 and "FPB-411081-2026" in overlap.json()["message"]
    closed = client.patch(f"/api/contracts/{first['id']}", json={"status": "closed"})
    assert closed.status_code == 200
    back = client.patch(f"/api/contracts/{first['id']}", json={"status": "draft"})
    assert back.status_code == 409 and back.json()["field"] == "status"
    wrong_year = client.patch(f"/api/contracts/{second['id']}",
                              json={"start_date": "2025-12-31"})
    assert wrong_year.status_code == 422 and wrong_year.json()["field"] == "policy_year"
    typo = client.patch(f"/api/contracts/{second['id']}", json={"premium_per_persn": "60"})
    assert typo.status_code == 422
    assert typo.json()["detail"][0]["loc"] == ["body", "premium_per_persn"]


def test_timestamps_are_utc_whatever_the_database_session_zone(client, session, places):
    household = new_household(client, places["village0"])
    if session.bind.dialect.name == "postgresql":
        session.execute(sa.text("SET TIME ZONE 'Asia/Shanghai'"))
    session.expire_all()
    read = client.get(f"/api/households/{household['id']}").json()
    assert read["created_at"].endswith(("+00:00", "Z"))
    stored = datetime.fromisoformat(read["created_at"].replace("Z", "+00:00"))
    sent = datetime.fromisoformat(household["created_at"].replace("Z", "+00:00"))
    assert stored == sent and stored.utcoffset() == timedelta(0)


def test_an_implausible_monitoring_line_is_refused_naming_the_field(client, places):
    """A line decides who is eligible and who is warned: one of 0.01 yuan, or 10^12, or a
    digit too many (87,000 for 8,700), is refused on creation and on change, naming the field
    and the plausible range (policies.rules.LINE_LOW..LINE_HIGH); nothing is written."""
    county = places["county"]
    for amount in ("0.01", "999.99", "50000.01", "87000", "999999999999.99",
                   "1000000000000"):
        refused = client.post("/api/monitoring-lines", json={
            "region_id": county, "year": 2025, "fixed_amount": amount})
        assert refused.status_code == 422, (amount, refused.text)
        assert refused.json()["field"] == "fixed_amount", amount
        if amount != "1000000000000":  # more than any amount: refused by the type first
            assert refused.json()["code"] == "line_out_of_range"
            assert ("is outside the plausible range of 1,000.00 to 50,000.00 yuan"
                    in refused.json()["message"])
    assert client.get("/api/monitoring-lines").json()["count"] == 0
    for amount in ("1000", "50000"):
        edge = client.post("/api/monitoring-lines", json={
            "region_id": county, "year": 2020 if amount == "1000" else 2021,
            "fixed_amount": amount})
        assert edge.status_code == 201, edge.text

    line = client.post("/api/monitoring-lines", json={
        "region_id": county, "year": 2025, "fixed_amount": "8700"})
    assert line.status_code == 201 and line.json()["amount"] == "8700.00"
    path = f"/api/monitoring-lines/{line.json()['id']}"
    for amount in ("0.01", "87000", "1000000000000"):
        refused = client.patch(path, json={"fixed_amount": amount})
        assert refused.status_code == 422 and refused.json()["field"] == "fixed_amount"
    assert client.get(path).json()["amount"] == "8700.00"
    assert client.patch(path, json={"fixed_amount": "9000"}).json()["amount"] == "9000.00"

    # a line set as a multiple is judged by the line it makes, naming what was set
    standard = client.post("/api/national-standards", json={"year": 2018, "amount": "3400.00"})
    client.post("/api/national-standards", json={"year": 2001, "amount": "600.00"})
    small = client.post("/api/monitoring-lines", json={
        "region_id": county, "year": 2019, "multiple": "0.2", "standard_year": 2018})
    assert small.status_code == 422
    assert (small.json()["field"], small.json()["code"]) == (
        "multiple", "line_multiple_out_of_range")
    assert "0.2 × the national standard of 2018 (3,400.00) makes a line of 680.00" in (
        small.json()["message"])
    made = client.post("/api/monitoring-lines", json={
        "region_id": county, "year": 2019, "multiple": "1.5", "standard_year": 2018})
    assert made.status_code == 201 and made.json()["amount"] == "5100.00"
    path = f"/api/monitoring-lines/{made.json()['id']}"
    assert client.patch(path, json={"multiple": "0.2"}).json()["field"] == "multiple"
    assert client.patch(path, json={"standard_year": 2001}).json()["field"] == "standard_year"
    # and a national standard typed with a zero too many would move it to 51,000
    typo = client.patch(f"/api/national-standards/{standard.json()['id']}",
                        json={"amount": "34000"})
    assert typo.status_code == 422 and typo.json()["field"] == "amount"
    assert f"monitoring line {made.json()['id']}" in typo.json()["message"]
    assert client.get(path).json()["amount"] == "5100.00"
    assert client.patch(f"/api/national-standards/{standard.json()['id']}",
                        json={"amount": "3500"}).status_code == 200
    assert client.get(path).json()["amount"] == "5250.00"


@pytest.mark.parametrize(("start", "end", "field", "code"), [
    ("2027-01-01", "2027-12-31", "period_end", "period_not_ended"),
    ("2026-12-01", "2100-12-31", "period_end", "period_not_ended"),
    ("2020-01-01", "2025-11-30", "period_start", "period_too_long"),
])
def test_an_income_record_keeps_the_report_period_rules(client, places, start, end, field,
                                                        code):
    """A period still to come, or of years, is refused here as on the office's report route:
    eligibility and monitoring would read it as the household's latest income (a hostile
    tester's record of 2027 was stored through this route)."""
    household = new_household(client, places["village0"])
    new_member(client, household["id"], seq=1, relation="head")
    answer = client.post("/api/income-records", json={
        "household_id": household["id"], "period_start": start, "period_end": end,
        "source": "report", "wages": "1000"})
    assert answer.status_code == 422, answer.text
    assert (answer.json()["field"], answer.json()["code"]) == (field, code)
