"""Terms versions, quotes and the fund over the JSON API."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from policies import benefits
from policies.models import IncomeRecord
from tests.factories import county_with_villages, household_with_members, id_number

TERMS_DIR = Path(__file__).resolve().parents[2] / "policies" / "county_terms"
DEMO_TERMS = (TERMS_DIR / "yuzhou-demo-2026.toml").read_text(encoding="utf-8")
CONTRACT = {
    "contract_number": "FPB-T-2026", "insurer": "演示保险", "policy_year": 2026,
    "start_date": "2026-01-01", "end_date": "2026-12-31", "premium_per_person": "50.00",
    "insured_basis": "headcount", "insured_headcount": 10000, "insurer_fee_rate": "0.15",
    "balance_carried_in": "100000.00",
}


@pytest.fixture
def places(session):
    ids = county_with_villages(session, villages=1)
    session.commit()
    return ids


def upload(client, key="yuzhou", text=DEMO_TERMS):
    return client.post("/api/terms", json={"key": key, "source_text": text})


def test_terms_are_versioned_and_the_same_text_is_not_stored_twice(client):
    first = upload(client)
    assert first.status_code == 201 and first.json()["version"] == 1
    assert first.json()["terms"]["triggers"]["illness"]["deductible"]["amount"] == "20000.00"
    again = upload(client)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    changed = upload(client, text=DEMO_TERMS.replace('"20000.00", per', '"15000.00", per'))
    assert changed.status_code == 201 and changed.json()["version"] == 2
    listed = client.get("/api/terms", params={"key": "yuzhou"}).json()
    assert [v["version"] for v in listed["data"]] == [1, 2]
    assert client.get(f"/api/terms/{first.json()['id']}").json()["source_text"] == DEMO_TERMS


def test_invalid_terms_are_refused_with_the_key_path(client):
    response = upload(client, text=DEMO_TERMS.replace("deductible =", "deductable =", 1))
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "triggers.illness.deductable"
    assert "unknown key" in body["message"]
    assert client.get("/api/terms").json()["count"] == 0


def test_a_contract_puts_terms_of_its_year_in_force(client, places):
    contract = client.post("/api/contracts", json={**CONTRACT, "county_id": places["county"]})
    contract = contract.json()
    version = upload(client).json()
    attached = client.put(f"/api/contracts/{contract['id']}/terms",
                          json={"terms_version_id": version["id"]})
    assert attached.status_code == 200 and attached.json()["terms_version_id"] == version["id"]
    in_force = client.get(f"/api/contracts/{contract['id']}/terms").json()
    assert in_force["id"] == version["id"] and in_force["key"] == "yuzhou"
    old = upload(client, key="old", text=DEMO_TERMS.replace("2026", "2025")).json()
    wrong = client.put(f"/api/contracts/{contract['id']}/terms",
                       json={"terms_version_id": old["id"]})
    assert wrong.status_code == 422 and wrong.json()["field"] == "terms_version_id"


EVENT = {
    "event_id": "HIS-1", "type": "illness", "event_date": "2026-03-02",
    "id_number": id_number(seq=1),
    "amounts": {"total_cost": "80000.00", "basic_insurance_paid": "30000.00",
                "critical_illness_paid": "10000.00", "medical_assistance_paid": "5000.00"},
    "details": {"hospital": "禹州市人民医院"},
}


def test_quote_with_a_snapshot_explains_every_line(client):
    version = upload(client).json()
    response = client.post("/api/quotes", json={
        "terms_version_id": version["id"],
        "household": {"household_type": "lifted_out", "per_capita_income": "9000.00",
                      "monitoring_line": "8700.00"},
        "events": [EVENT]})
    assert response.status_code == 200, response.text
    quote = response.json()
    [event] = quote["events"]
    # 80,000 − 30,000 − 10,000 − 5,000 = 35,000; above the 20,000 deductible: 15,000, all
    # in the first band (up to 30,000 above it) at 50%: 7,500
    assert event["base"] == "35000.00" and event["payout"] == "7500.00"
    assert event["warning"] is True
    lines = [Decimal(line["amount"]) for line in event["trace"] if line["amount"] is not None]
    assert sum(lines) == Decimal("7500.00")
    assert quote["due"] == "7500.00"


def test_quote_reads_the_household_and_contract_from_the_registry(client, session, places):
    household, _ = household_with_members(session, places["village0"], members=2)
    session.add(IncomeRecord(
        household_id=household.id, period_start=date(2025, 1, 1), period_end=date(2025, 12, 31),
        household_size=2, net_income=Decimal("30000.00"),
        per_capita_net_income=Decimal("15000.00")))
    session.commit()
    client.post("/api/monitoring-lines", json={
        "region_id": places["county"], "year": 2026, "fixed_amount": "8700"})
    contract = client.post("/api/contracts",
                           json={**CONTRACT, "county_id": places["county"]}).json()
    version = upload(client).json()
    client.put(f"/api/contracts/{contract['id']}/terms", json={"terms_version_id": version["id"]})
    quote = client.post("/api/quotes", json={
        "contract_id": contract["id"], "household_id": household.id, "events": [EVENT]}).json()
    # per-capita 15,000 is above 1.5 × 8,700 = 13,050: not eligible
    assert quote["events"][0]["reason"] == "income_above_limit"
    assert quote["events"][0]["reason_text"] == "per-capita income is above the limit"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amounts": {"total_cost": "100", "bogus": "1"}}, "events[0].amounts.bogus"),
        ({"details": {"colour": "red"}}, "events[0].details.colour"),
    ],
)
def test_quote_events_are_checked_against_their_type(client, change, field):
    version = upload(client).json()
    response = client.post("/api/quotes", json={
        "terms_version_id": version["id"], "household": {"household_type": "lifted_out"},
        "events": [{**EVENT, **change}]})
    assert response.status_code == 422 and response.json()["field"] == field


def test_quote_payload_errors(client):
    version = upload(client).json()
    base = {"terms_version_id": version["id"], "household": {"household_type": "lifted_out"}}
    negative = client.post("/api/quotes", json={
        **base, "events": [{**EVENT, "amounts": {"total_cost": "-5"}}]})
    assert negative.status_code == 422
    bad_id = client.post("/api/quotes", json={**base, "events": [{**EVENT, "id_number": "1"}]})
    assert bad_id.status_code == 422
    assert bad_id.json()["detail"][0]["loc"][-1] == "id_number"
    both = client.post("/api/quotes", json={**base, "contract_id": 1, "events": [EVENT]})
    assert both.status_code == 422


def test_fund_balance_projection_and_settlement(client, session, places):
    contract = client.post("/api/contracts", json={
        **CONTRACT, "county_id": places["county"], "start_date": "2025-01-01",
        "end_date": "2025-12-31", "policy_year": 2025, "contract_number": "FPB-T-2025"}).json()
    client.patch(f"/api/contracts/{contract['id']}", json={"status": "active"})
    household, _ = household_with_members(session, places["village0"], members=1)
    session.add(IncomeRecord(
        household_id=household.id, period_start=date(2025, 7, 1), period_end=date(2025, 7, 1),
        source="payout", reference=benefits.payout_reference(contract["id"], 1, 1),
        transfer_poverty_insurance=Decimal("100000.00"), household_size=1,
        net_income=Decimal("100000.00"), per_capita_net_income=Decimal("100000.00")))
    session.commit()
    fund = client.get(f"/api/contracts/{contract['id']}/fund",
                      params={"as_of": "2025-07-02"}).json()
    # premium 50 × 10,000 = 500,000; + 100,000 carried in − 100,000 paid − 15,000 fee
    assert fund["premium"] == "500000.00" and fund["insurer_fee"] == "15000.00"
    assert fund["balance"] == "485000.00"
    assert fund["loss_ratio"] == "0.2000"
    # 183 of 365 days: projected payouts 100,000 × 365 / 183 = 199,453.55
    assert fund["days_elapsed"] == 183 and fund["projected_payouts"] == "199453.55"
    before = client.get(f"/api/contracts/{contract['id']}/fund",
                        params={"as_of": "2025-06-30"}).json()
    assert before["payouts"] == "0.00"

    following = client.post("/api/contracts", json={
        **CONTRACT, "county_id": places["county"], "contract_number": "FPB-T-2026",
        "balance_carried_in": "0"}).json()
    settled = client.post(f"/api/contracts/{contract['id']}/settlement",
                          json={"next_contract_id": following["id"]})
    assert settled.status_code == 200, settled.text
    assert settled.json() == {"balance": "485000.00", "carried_over": "485000.00",
                              "county_top_up": "0.00"}
    assert client.get(f"/api/contracts/{following['id']}").json()["balance_carried_in"] == \
        "485000.00"
    assert client.get(f"/api/contracts/{contract['id']}").json()["status"] == "closed"
    again = client.post(f"/api/contracts/{contract['id']}/settlement", json={})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"events": [{**EVENT, "amounts": {"total_cost": 80000.5}}]}, "total_cost"),
        ({"events": [{**EVENT, "amounts": {"total_cost": "1e26"}}]}, "total_cost"),
        ({"events": [{**EVENT, "amounts": {"total_cost": "100.125"}}]}, "total_cost"),
        ({"events": [EVENT, EVENT]}, None),
        ({"household": {"household_type": "lifted_out", "monitoring_category": "marginall"}},
         "monitoring_category"),
        ({"household": {"household_type": "lifted_out", "covered_from": "9999-12-31"}},
         "covered_from"),
        ({"prior_payouts": [{"trigger": "flood", "amount": "1"}]}, "prior_payouts[0].trigger"),
    ],
)
def test_quote_refuses_inexact_ambiguous_or_out_of_range_input(client, change, where):
    version = upload(client).json()
    body = {"terms_version_id": version["id"], "household": {"household_type": "lifted_out"},
            "events": [EVENT], **change}
    response = client.post("/api/quotes", json=body)
    assert response.status_code == 422, response.text
    if where:
        assert where in response.text


@pytest.mark.parametrize("path", [f"/api/terms/{2**70}", f"/api/contracts/{2**63}/fund",
                                  f"/api/terms?policy_year={2**70}"])
def test_ids_beyond_the_database_range_are_a_client_error(client, path):
    assert client.get(path).status_code in (404, 422)


def test_any_staff_may_quote_but_only_administrators_change_terms(client, as_user):
    version = upload(client).json()
    adjudicator = as_user("adjudicator")
    quote = adjudicator.post("/api/quotes", json={
        "terms_version_id": version["id"], "household": {"household_type": "lifted_out"},
        "events": [EVENT]})
    assert quote.status_code == 200
    refused = adjudicator.post("/api/terms", json={"key": "mine", "source_text": DEMO_TERMS})
    assert refused.status_code == 403
    history = client.get("/api/audit/verify").json()
    assert history["intact"] and history["checked"] >= 2  # the admin user and the terms


def test_a_payout_is_not_typed_or_corrected_through_the_ledger(client, session, places):
    """The fund counts the ledger's payout records: a clerk's hand-typed payout, or a
    correction of one the bank confirmed, would change the county's fund. Both are refused;
    the fund is as it was. Found by a hostile tester (a township clerk made 30,000 read
    300,000)."""
    contract = client.post("/api/contracts", json={
        **CONTRACT, "county_id": places["county"], "start_date": "2025-01-01",
        "end_date": "2025-12-31", "policy_year": 2025, "contract_number": "FPB-T-2025"}).json()
    household, _ = household_with_members(session, places["village0"], members=1)
    paid = IncomeRecord(
        household_id=household.id, period_start=date(2025, 7, 1), period_end=date(2025, 7, 1),
        source="payout", reference=benefits.payout_reference(contract["id"], 1, 1),
        transfer_poverty_insurance=Decimal("30000.00"), household_size=1,
        net_income=Decimal("30000.00"), per_capita_net_income=Decimal("30000.00"))
    session.add(paid)
    session.commit()

    def payouts() -> str:
        return client.get(f"/api/contracts/{contract['id']}/fund",
                          params={"as_of": "2025-12-31"}).json()["payouts"]

    typed = client.post("/api/income-records", json={
        "household_id": household.id, "period_start": "2025-08-01",
        "period_end": "2025-08-01", "source": "payout",
        "reference": benefits.payout_reference(contract["id"], 999, 999),
        "transfer_poverty_insurance": "12345.00"})
    assert typed.status_code == 422 and typed.json()["code"] == "payout_by_payment"
    corrected = client.patch(f"/api/income-records/{paid.id}",
                             json={"transfer_poverty_insurance": "300000.00"})
    assert corrected.status_code == 409 and corrected.json()["code"] == "payout_by_payment"
    assert payouts() == "30000.00"
