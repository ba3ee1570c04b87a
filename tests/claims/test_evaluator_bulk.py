"""The evaluator in bulk decides exactly as one event at a time (issue 19 item 1).

A generated mix of events — bills of several members of one household (a shared per-household
cap and the contract's shared cap of several triggers), disasters, accidents, disability
certificates, the same loss reported twice, events before the policy year and of unknown
people — is stored alike in two databases. One evaluator takes it in chunks of 500 (the set
path: the household-years read together, claims opened in one flush); the other one event per
transaction, the reference. Every event's outcome, every claim, every warning and the shock
ledger must be the same. On SQLite and PostgreSQL.

The default mix is 240 events; FANGPIN_TEST_SURGE_EVENTS=5000 runs the long check.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from claims import clock, evaluator, intake
from claims.auth import Actor
from claims.db import make_engine
from claims.migrate import upgrade
from claims.models import ApiClient, Claim, EarlyWarning, Household, TriggerEvent
from policies import registry
from policies.errors import InvalidInput
from policies.models import IncomeRecordCreate
from risk.models import Shock
from tests.claims.conftest import START, build_county
from tests.conftest import database_url
from tests.factories import household_with_members, id_number

EVENTS = int(os.environ.get("FANGPIN_TEST_SURGE_EVENTS", "240"))
HOUSEHOLDS = max(12, min(EVENTS // 8, 200))


def people(session: Session) -> list[str]:
    """The test county plus more households of one to four members; every member's ID."""
    county = build_county(session)
    ids = [m.id_number for m in county.members]
    rng = random.Random(7)
    seq = 10
    for h in range(HOUSEHOLDS):
        size = rng.randint(1, 4)
        _, members = household_with_members(session, county.ids["village0"],
                                            number=f"H{h + 2:04d}", members=size,
                                            seq_start=seq)
        seq += size
        ids.extend(m.id_number for m in members)
        if h % 6 != 5:  # a few have no income recorded
            registry.create_income_record(session, IncomeRecordCreate(
                household_id=members[0].household_id, period_start=date(START.year - 1, 1, 1),
                period_end=date(START.year - 1, 12, 31),
                wages=Decimal(rng.randint(5000, 12000) * size)))
    session.commit()
    return ids


def generated(ids: list[str], count: int, seed: int = 19) -> list[dict]:
    rng = random.Random(seed)
    today = clock.county_today()
    span = (today - START).days
    events: list[dict] = []
    stays: list[tuple] = []  # (id number, day, admission, discharge) already reported
    for i in range(count):
        person = rng.choice(ids) if rng.random() > 0.04 else id_number(seq=900 + i % 90)
        day = START + timedelta(days=rng.randint(0, span - 1))
        if rng.random() < 0.03:
            day = START - timedelta(days=rng.randint(1, 60))  # before the policy year
        kind = rng.choices(["illness", "disaster", "accident", "disability"],
                           [50, 20, 18, 12])[0]
        event = {"event_id": f"E{i:05d}", "type": kind, "id_number": person}
        if kind == "illness":
            if stays and rng.random() < 0.08:  # the same stay, reported again
                person, day, admitted, discharged = rng.choice(stays)
                event["id_number"] = person
            else:
                admitted = day - timedelta(days=rng.randint(1, 20))
                discharged = day
                stays.append((person, day, admitted, discharged))
            cost = rng.choice([2000, 15000, 40000, 90000, 180000, 400000])
            event["amounts"] = {"total_cost": f"{cost}.00",
                                "basic_insurance_paid": f"{cost * rng.randint(0, 6) // 10}.00"}
            event["details"] = {"hospital": "禹州市人民医院",
                                "admission_date": admitted.isoformat(),
                                "discharge_date": discharged.isoformat()}
        elif kind == "disaster":
            loss = rng.choice([3000, 20000, 60000, 150000])
            event["amounts"] = {"assessed_loss": f"{loss}.00",
                                "relief_paid": f"{rng.choice([0, 1000, 5000])}.00"}
            event["details"] = {"kind": "flood"}
        elif kind == "accident":
            event["amounts"] = {"cost": f"{rng.choice([5000, 30000, 120000, 250000])}.00"}
            event["details"] = {"kind": "traffic"}
        else:
            event["details"] = {"grade": str(rng.randint(1, 4)),
                                "certificate_number": f"C{rng.randint(1, 40)}"}
        event["event_date"] = day.isoformat()
        events.append(event)
    return events


def outcome(url: str, chunk: int, lanes: int = 0) -> dict:
    """Build the county, store the mix in three batches, evaluate ``chunk`` events a
    transaction (with ``lanes``: that many lanes side by side and an evaluator of every
    household beside them, each in a thread of its own); what became of everything, keyed by
    what a user sees."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            ids = people(session)
            client_id = session.exec(select(ApiClient.id)).one()
            office = Actor("client", client_id, "扶贫办", organisation="poverty_office")
            events = generated(ids, EVENTS)
            for start in range(0, len(events), 100):
                intake.receive(session, office, events[start:start + 100])
                session.commit()
            if lanes:
                side_by_side(engine, chunk, lanes)
                assert not session.exec(select(TriggerEvent.id).where(
                    TriggerEvent.status == "received")).all()
            while intake.evaluate_received(session, chunk):
                session.commit()
            session.commit()
            number = {h.id: h.household_number for h in session.exec(select(Household))}
            claims = {c.id: c for c in session.exec(select(Claim))}
            seen = {
                "events": {e.source_event_id: (
                    e.status, e.warning, e.payout, e.reason,
                    number.get(e.household_id),
                    None if e.claim_id is None else claims[e.claim_id].trigger)
                    for e in session.exec(select(TriggerEvent))},
                "claims": {(number[c.household_id], c.trigger, c.policy_year): (
                    c.state, c.entitled, [(r["event_id"], r["payout"])
                                          for r in c.calculation["events"]])
                    for c in claims.values()},
                "warnings": Counter((number[w.household_id], w.trigger)
                                    for w in session.exec(select(EarlyWarning))),
                "shocks": Counter((number[s.household_id], s.kind, s.burden)
                                  for s in session.exec(select(Shock))),
            }
    finally:
        engine.dispose()
    return seen


def side_by_side(engine, chunk: int, lanes: int) -> None:
    failed: list[BaseException] = []

    def run(lane: intake.Lane | None) -> None:
        try:
            evaluator.evaluate_all(engine, chunk, lane=lane)
        except BaseException as exc:  # noqa: BLE001 — reported by the test
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(intake.Lane(k, lanes),))
               for k in range(lanes)] + [threading.Thread(target=run, args=(None,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failed, failed


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(request, tmp_path_factory):
    made = [database_url(request.param, tmp_path_factory, name) for name in ("bulk", "one")]
    yield [next(m) for m in made]
    for m in made:
        next(m, None)  # removes it


def test_chunks_decide_as_one_event_at_a_time(two_databases, monkeypatch):
    """Within intake.MAX_RUNS calculations of a household-year a chunk (raised here: the mix
    brings some households two dozen bills a chunk, mostly against date order)."""
    bulk, single = two_databases
    monkeypatch.setattr(intake, "MAX_RUNS", 10_000)
    together, alone = outcome(bulk, 500), outcome(single, 1)
    statuses = Counter(s for s, *_ in alone["events"].values())
    # the mix reaches every way an event can go, and opens claims of several triggers
    assert {"accepted", "quarantined", "not_covered", "same_loss"} <= set(statuses), statuses
    assert len({t for _, t, _ in alone["claims"]}) >= 3
    assert sum(alone["warnings"].values()) > 0
    for part in ("claims", "warnings", "shocks"):
        assert together[part] == alone[part], part
    differ = {k: (together["events"][k], v) for k, v in alone["events"].items()
              if together["events"][k] != v}
    assert not differ, '\n'.join(f'{k}: {v}' for k, v in list(differ.items())[:8])


def test_beyond_the_runs_a_chunk_still_opens_the_same_claims(two_databases, monkeypatch):
    """Past intake.MAX_RUNS runs a household-year's remaining bills are calculated together:
    every claim owed something, every event's status and the warnings stay exactly as one at
    a time; how the year's growth is shared among those bills may differ, and a claim that
    one at a time would open and then shrink to nothing is not opened."""
    bulk, single = two_databases
    monkeypatch.setattr(intake, "MAX_RUNS", 2)
    together, alone = outcome(bulk, 500), outcome(single, 1)
    for part in ("warnings", "shocks"):
        assert together[part] == alone[part], part

    def owed(claims: dict) -> dict:
        return {k: (state, entitled) for k, (state, entitled, _) in claims.items()
                if entitled > 0}

    assert owed(together["claims"]) == owed(alone["claims"])
    assert {k: v[:2] for k, v in together["events"].items()} == {
        k: v[:2] for k, v in alone["events"].items()}


def test_lanes_side_by_side_decide_as_one_event_at_a_time(two_databases, monkeypatch):
    """Three lanes of the households and an evaluator of all of them at once (each its own
    transactions): every event is evaluated once, and everything comes out as one event at a
    time, as each household's events are still taken by one evaluator, in order."""
    lanes, single = two_databases
    monkeypatch.setattr(intake, "MAX_RUNS", 10_000)
    side, alone = outcome(lanes, 40, lanes=3), outcome(single, 1)
    assert side == alone


def test_a_lane_is_one_of_a_few():
    with pytest.raises(InvalidInput) as refused:
        intake.Lane(2, 2)
    assert refused.value.field == "lane" and "lane 3 of 2" in refused.value.message
    for count in (0, intake.BUCKETS + 1):
        with pytest.raises(InvalidInput) as refused:
            intake.Lane(0, count)
        assert refused.value.field == "lanes" and f"got {count}" in refused.value.message
    assert sorted(b for k in range(3) for b in intake.Lane(k, 3).buckets) == list(
        range(intake.BUCKETS))


def test_a_postgresql_connection_plans_each_statement_for_its_values(engine):
    """A chunk's statements are prepared after five runs; a generic plan made while the shock
    ledger was empty read the whole ledger for every chunk of a surge. Every connection plans
    for the values, after the pool has rolled back and handed it out again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans each statement anew")
    for _ in range(2):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == (
                "force_custom_plan")
            connection.rollback()
