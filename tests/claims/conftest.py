"""A covered county for claim tests: households, a line, incomes, an active contract with the
demo terms in force, and a department's API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from claims import clock, intake
from claims.auth import SYSTEM, Actor
from claims.db import make_engine
from claims.migrate import upgrade
from claims.people import create_client
from claims.settings import get_settings
from policies import benefits, models, registry
from policies.models import (
    IncomeRecordCreate,
    MonitoringLineCreate,
    PolicyContractCreate,
    PolicyContractUpdate,
)
from tests.conftest import database_url
from tests.factories import county_with_villages, household_with_members

TERMS = (Path(__file__).resolve().parents[2] / "policies" / "county_terms"
         / "yuzhou-demo-2026.toml").read_text(encoding="utf-8")
START = clock.county_today() - timedelta(days=100)  # the policy year started 100 days ago
EVENT_DATE = clock.county_today() - timedelta(days=30)
DEPARTMENT_KEY = "fpk_test-medical-insurance"


@dataclass
class County:
    ids: dict
    household: object
    members: list
    contract: object
    client_id: int


def bureau(client_id: int) -> Actor:
    """The medical-insurance bureau's key as intake sees it (its remit: illness)."""
    return Actor("client", client_id, "医保局", organisation="medical_insurance")


def build_county(session: Session) -> County:
    ids = county_with_villages(session, villages=1)
    household, members = household_with_members(session, ids["village0"], members=3)
    household.bank_name, household.bank_account = "农村商业银行", "6228480000000000001"
    registry.create_monitoring_line(session, MonitoringLineCreate(
        region_id=ids["county"], year=START.year, fixed_amount=Decimal("8700")))
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=household.id, period_start=date(START.year - 1, 1, 1),
        period_end=date(START.year - 1, 12, 31), wages=Decimal("21000")))  # 7,000 a head
    version, _ = benefits.store_terms(session, "demo", TERMS.replace("2026", str(START.year)))
    contract = registry.create_contract(session, PolicyContractCreate(
        contract_number="FPB-TEST", county_id=ids["county"], insurer="演示保险",
        policy_year=START.year, start_date=START, end_date=START + timedelta(days=364),
        premium_per_person=Decimal("50"), insured_headcount=10000,
        insurer_fee_rate=Decimal("0.15")))
    registry.update_contract(session, contract.id, PolicyContractUpdate(status="active"))
    benefits.attach_terms(session, contract.id, version.id)
    # the poverty office's remit is every event type: the tests send all kinds with one key
    client, _ = create_client(session, SYSTEM, "医保局", "poverty_office", key=DEPARTMENT_KEY)
    session.commit()
    return County(ids, household, members, contract, client.id)


@pytest.fixture(params=["sqlite", "postgresql"])
def own_engine(request, tmp_path_factory):
    """A migrated database of the test's own, whose transactions really commit: for work on
    several connections at once."""
    for url in database_url(request.param, tmp_path_factory, "own"):
        upgrade(url)
        engine = make_engine(url, pool_size=10)
        yield engine
        engine.dispose()


@pytest.fixture
def county(session) -> County:
    return build_county(session)


def evaluate(session: Session) -> int:
    """Run the evaluator over the test's session, as the service does moments after intake."""
    done = intake.evaluate_received(session, 10_000)
    session.commit()
    return done


def send(department, session: Session, body: dict) -> dict:
    """Submit one event, let the evaluator take it, and read back what became of it, as the
    department does."""
    response = department.post("/api/events", json=body)
    assert response.status_code in (200, 202), response.text
    evaluate(session)
    return department.get(f"/api/events/{body['event_id']}").json()


@pytest.fixture
def department(app, county):
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"}) as client:
        yield client


@pytest.fixture
def claim(department, session, county):
    """The county's household with one claim, opened by a medical bill."""
    from sqlmodel import select

    from claims.models import Claim
    from tests.claims.test_intake import illness

    department.post("/api/events", json=illness())
    evaluate(session)
    return session.exec(select(Claim)).one()


@pytest.fixture
def staff(as_user):
    """One insurer user of each working role (the adjudicator's limit is 5,000)."""
    return {
        "investigator": as_user("investigator", "inv"),
        "adjudicator": as_user("adjudicator", "adj", approval_limit=Decimal("5000")),
        "supervisor": as_user("supervisor", "sup"),
        "clerk": as_user("clerk", "clerk"),
    }


@pytest.fixture(params=["2026-12-03T17:30:00+00:00", "2026-12-03T02:00:00+00:00"],
                ids=["evening_utc", "night_utc"])
def county_clock(request, monkeypatch) -> date:
    """The clock stopped at an instant: 17:30 UTC is already 4 December in the county
    (Asia/Shanghai), 02:00 UTC still 3 December: every stored time and the county's date
    read it. Returns the county's date."""
    instant = datetime.fromisoformat(request.param)

    class Stopped(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant.astimezone(tz)

    monkeypatch.setattr(get_settings(), "timezone", "Asia/Shanghai")
    monkeypatch.setattr(models, "datetime", Stopped)  # the one clock: models.utcnow
    return date(2026, 12, 4 if instant.hour >= 16 else 3)
