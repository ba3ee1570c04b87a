"""Trigger events reach the risk score: each event matched to a household enters the shock
ledger exactly once (duplicates, the same loss, replays), and a large hospital bill received
today raises the household's score the next night and a risk warning, while the office's
caseload (below the line, monitored) is scored but never warned. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from claims import clock, intake, nightly
from claims.auth import SYSTEM
from claims.models import AuditEntry, EarlyWarning, TriggerEvent
from policies import history, registry
from policies.models import HouseholdUpdate, IncomeRecord, IncomeRecordCreate
from risk.models import HouseholdScore, RunStatus, ScoreRun, Shock
from tests.claims.conftest import build_county, bureau, evaluate
from tests.claims.test_intake import illness
from tests.factories import household_with_members
from tests.risk import generated

REGISTERED = date(2024, 1, 1)  # the registry as the tests build it has been so since then


@pytest.fixture
def county(session, monkeypatch):
    """The claims tests' county, its registry dated back, its household earning 12,000 a
    head in the last year (above the line of 8,700), reported a month ago."""
    monkeypatch.setattr(history, "clock", lambda: REGISTERED)
    built = build_county(session)
    last_year = clock.county_today().year - 1
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=built.household.id, source="report", period_start=date(last_year, 1, 1),
        period_end=date(last_year, 12, 31), wages=Decimal("36000")))
    backdate(session)
    session.commit()
    return built


def backdate(session) -> None:
    """The income reports were recorded a month ago."""
    session.execute(IncomeRecord.__table__.update().values(
        recorded_at=datetime.now(UTC) - timedelta(days=30)))


def shocks(session) -> list[Shock]:
    return session.exec(select(Shock).order_by(Shock.id)).all()


def received_on(session, event_id: str) -> date:
    event = session.exec(select(TriggerEvent).where(
        TriggerEvent.source_event_id == event_id)).one()
    return event.received_at.astimezone(ZoneInfo("Asia/Shanghai")).date()


def test_an_event_enters_the_shock_ledger_once_with_the_households_own_burden(
        department, session, county):
    department.post("/api/events", json=illness())
    department.post("/api/events", json=illness())  # the same event again: a duplicate
    # the same stay reported by another id: the same loss, paid once, one shock
    department.post("/api/events", json={**illness("HIS-2"), "details": {
        "hospital": "禹州市人民医院", "admission_date": "2026-01-05",
        "discharge_date": "2026-01-09"}})
    department.post("/api/events", json={**illness("HIS-3"), "details": {
        "hospital": "禹州市人民医院", "admission_date": "2026-01-05",
        "discharge_date": "2026-01-09"}})
    evaluate(session)
    evaluate(session)  # nothing waits: nothing is added

    found = shocks(session)
    statuses = dict(session.exec(select(TriggerEvent.source_event_id,
                                        TriggerEvent.status)).all())
    assert statuses == {"HIS-1": "accepted", "HIS-2": "accepted", "HIS-3": "same_loss"}
    assert [s.reference for s in found] == [
        str(session.exec(select(TriggerEvent.id).where(
            TriggerEvent.source_event_id == e)).one()) for e in ("HIS-1", "HIS-2")]
    first = found[0]
    assert first.household_id == county.household.id
    assert first.member_id == county.members[0].id
    assert (first.kind, first.source) == ("illness", "event")
    assert first.burden == Decimal("35000.00")  # 80,000 − 45,000 the insurers paid
    assert first.occurred_on == date.fromisoformat(illness()["event_date"])
    assert first.known_on == received_on(session, "HIS-1")


def test_a_loss_the_history_file_brought_in_is_not_counted_again_by_its_event(
        department, session, county):
    """Found by a hostile tester: a hospital stay imported from the county's history file,
    then reported by the medical insurance bureau, was two shocks, and the score read the
    bill twice (the import refuses the other order)."""
    from risk.history_import import import_shocks
    from tests.files import csv_bytes

    day = illness()["event_date"]
    report = import_shocks(session, csv_bytes(
        ["户编号", "风险类型", "发生日期", "自付负担", "事件编号"],
        [[county.household.household_number, "因病", day, "35000", "HIS-77"]]),
        "shocks.csv", clock.county_today())
    assert report.errors == [] and report.created == 1
    session.commit()
    department.post("/api/events", json=illness("HIS-77"))
    evaluate(session)

    [shock] = shocks(session)
    assert (shock.source, shock.reference, shock.occurred_on) == (
        "imported", "HIS-77", date.fromisoformat(day))
    assert session.exec(select(TriggerEvent.status)).one() == "accepted"  # paid as ever


def test_a_replayed_event_enters_the_ledger_once(department, session, county):
    department.post("/api/events", json=illness("LOST", seq=9))  # nobody has this number
    evaluate(session)
    assert shocks(session) == []  # not matched to a household: no shock of anyone's
    event = session.exec(select(TriggerEvent)).one()
    assert event.status == "quarantined"

    # received five days ago: the nights since did not know whose it was
    event.received_at = event.received_at - timedelta(days=5)
    session.commit()
    intake.replay(session, SYSTEM, event.id, county.members[1].id_number)
    session.commit()
    intake.evaluate(session, event)  # evaluated again: still one
    session.commit()

    [shock] = shocks(session)
    assert shock.reference == str(event.id) and shock.member_id == county.members[1].id
    assert shock.known_on == clock.county_today()  # known from the replay, not the receipt


@pytest.fixture
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("generated") / "model"
    generated.train_and_save(directory)
    return directory


def test_a_large_bill_raises_the_next_nights_score_and_a_warning_the_caseload_never(
        own_engine, model_dir, monkeypatch):
    monkeypatch.setattr(history, "clock", lambda: REGISTERED)
    last_year = clock.county_today().year - 1
    with Session(own_engine) as session:
        county = build_county(session)
        # Two households the office already knows, each hit by as large a bill: one below
        # the line, one in monitoring.
        poor, _ = household_with_members(session, county.ids["village0"], "H0002",
                                         seq_start=21)
        watched, _ = household_with_members(session, county.ids["village0"], "H0003",
                                            seq_start=31)
        watched.monitoring_category = "sudden_hardship"
        for home, wages in ((county.household, "36000"), (poor, "15000"),
                            (watched, "36000")):
            registry.create_income_record(session, IncomeRecordCreate(
                household_id=home.id, source="report", period_start=date(last_year, 1, 1),
                period_end=date(last_year, 12, 31), wages=Decimal(wages)))
        backdate(session)
        session.commit()
        home, poor_id, watched_id = county.household.id, poor.id, watched.id
        [outcome] = intake.receive(session, bureau(county.client_id), [illness()])
        session.commit()
        evaluate(session)
        known = received_on(session, "HIS-1")
        for other in (poor_id, watched_id):
            session.add(Shock(household_id=other, kind="illness", occurred_on=known,
                              known_on=known, burden=Decimal("35000"), source="event",
                              reference=f"test-{other}"))
        session.commit()
    assert outcome.result == "accepted"

    def night(day: date) -> dict[int, tuple[float, str]]:
        result = nightly.score_households(
            own_engine, model_dir=model_dir, threshold=0.5, rise=0.25,
            timezone="Asia/Shanghai", night=day, chunk=2)
        t = HouseholdScore.__table__
        with own_engine.connect() as connection:
            return {h: (s, p) for h, s, p in connection.execute(sa.select(
                t.c.household_id, t.c.score, t.c.population).where(
                t.c.run_id == result.run_id))}

    before = night(known - timedelta(days=1))
    after = night(known)

    assert before[home][1] == after[home][1] == "at_risk"
    assert before[home][0] < 0.5 <= after[home][0]
    assert {before[poor_id][1], after[poor_id][1]} == {"below_line"}
    assert {before[watched_id][1], after[watched_id][1]} == {"monitored"}
    # the caseload is scored, for the office, but not raised as new risk
    assert after[poor_id][0] >= 0.5 and after[watched_id][0] >= 0.5
    with Session(own_engine) as session:
        warned = session.exec(select(EarlyWarning.household_id, EarlyWarning.trigger).where(
            EarlyWarning.source == "risk")).all()
    assert warned == [(home, "risk_high")]

    # the office takes the warned household into monitoring: that night it is caseload,
    # and its risk warning is closed as such, on the trail (a data team's stayed open and
    # ranked among the new risks at its old score)
    with Session(own_engine) as session:
        registry.update_household(session, home, HouseholdUpdate(
            monitoring_category="sudden_hardship"))
        # the night scored again, as the next night would be (a night's complete run is
        # not run twice)
        session.execute(ScoreRun.__table__.update().where(ScoreRun.night == known)
                        .values(status=RunStatus.failed))
        session.commit()
    assert night(known)[home][1] == "monitored"
    with Session(own_engine) as session:
        closed = session.exec(select(EarlyWarning).where(
            EarlyWarning.household_id == home, EarlyWarning.source == "risk")).one()
        assert (closed.status, closed.outcome) == ("closed", "caseload")
        entry = session.exec(select(AuditEntry).where(
            AuditEntry.entity == "early_warning", AuditEntry.action == "close")).one()
        assert (entry.actor, entry.after) == ("system", {"status": "closed",
                                                         "outcome": "caseload"})
