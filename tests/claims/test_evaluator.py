"""The evaluator takes received events moments after intake, on its own connections."""

import time

import pytest
from sqlmodel import Session, select

from claims import evaluator, intake
from claims.auth import SYSTEM
from claims.models import Claim, TriggerEvent
from tests.claims.conftest import build_county, bureau
from tests.claims.test_intake import illness


@pytest.fixture
def engine(own_engine):
    return own_engine


def receive(engine, actor, *events):
    with Session(engine) as session:
        outcomes = intake.receive(session, actor, list(events))
        session.commit()
    return outcomes


def test_the_service_thread_evaluates_what_arrives(engine):
    with Session(engine) as session:
        county = build_county(session)
    department = bureau(county.client_id)
    worker = evaluator.Evaluator(lambda: engine, poll_seconds=30)
    worker.start()
    try:
        [outcome] = receive(engine, department, illness())
        assert outcome.result == "accepted"
        evaluator.notify()  # as the API does after each commit; the poll alone takes 30 s
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with Session(engine) as session:
                status = session.get(TriggerEvent, outcome.event_id).status
            if status != "received":
                break
            time.sleep(0.05)
    finally:
        worker.stop()
    with Session(engine) as session:
        event = session.get(TriggerEvent, outcome.event_id)
        assert event.status == "accepted" and event.payout == 7500
        assert session.exec(select(Claim)).one().entitled == 7500


def test_an_event_that_fails_is_set_aside_and_the_rest_go_on(engine, monkeypatch):
    with Session(engine) as session:
        county = build_county(session)
    department = bureau(county.client_id)
    receive(engine, department, illness("OK-1"), illness("BAD"), illness("OK-2", seq=2))
    real = intake._match

    def match(session, event, cache):
        if event.source_event_id == "BAD":
            raise RuntimeError("a bug")
        return real(session, event, cache)

    monkeypatch.setattr(intake, "_match", match)
    assert evaluator.evaluate_all(engine) == 3
    with Session(engine) as session:
        statuses = dict(session.exec(select(TriggerEvent.source_event_id,
                                            TriggerEvent.status)).all())
        assert statuses == {"OK-1": "accepted", "BAD": "failed", "OK-2": "accepted"}
        bad = session.exec(select(TriggerEvent).where(
            TriggerEvent.source_event_id == "BAD")).one()
        assert "RuntimeError" in bad.reason
        assert session.exec(select(Claim)).one().entitled == 7500 * 2
    monkeypatch.setattr(intake, "_match", real)
    with Session(engine) as session:  # once fixed, a clerk replays it
        outcome = intake.replay(session, SYSTEM, bad.id, bad.id_number)
        session.commit()
    assert outcome.status == "accepted"
    with Session(engine) as session:
        # the first person's two bills: 70,000 − 20,000 → 15,000 + 12,000; the second's 7,500
        assert session.exec(select(Claim)).one().entitled == 27000 + 7500
