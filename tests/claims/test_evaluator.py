"""The evaluator takes received events moments after intake, on its own connections."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from claims import evaluator, intake
from claims.auth import SYSTEM, Actor
from claims.models import Claim, TriggerEvent
from tests.claims.conftest import EVENT_DATE, build_county, bureau, evaluate
from tests.claims.test_intake import illness
from tests.factories import id_number


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


def test_a_chunk_mixing_triggers_of_a_shared_cap_shows_no_negative_payout(session, county):
    """Issue 20's remainder: an illness claim of 150,000 stands; one chunk brings an accident
    and a disaster dated earlier (they take the shared 200,000 cap's room first, so the
    illness claim shrinks) and a later bill of the same illness (nothing more to pay). The
    household's year grows by 50,000: the chunk's events carry exactly that, none below 0."""
    office = Actor("client", county.client_id, "扶贫办", organisation="poverty_office")
    first = illness("ILL-1", total_cost="400000.00", basic_insurance_paid="0",
                    critical_illness_paid="0", medical_assistance_paid="0")
    intake.receive(session, office, [first])
    session.commit()
    evaluate(session)
    assert session.exec(select(Claim)).one().entitled == Decimal("150000.00")
    earlier = (EVENT_DATE - timedelta(days=30)).isoformat()
    intake.receive(session, office, [
        {"event_id": "ACC-1", "type": "accident", "event_date": earlier,
         "id_number": id_number(seq=2), "amounts": {"cost": "200000.00"},
         "details": {"kind": "traffic"}},
        {"event_id": "DIS-1", "type": "disaster", "event_date": earlier,
         "id_number": id_number(seq=1), "amounts": {"assessed_loss": "200000.00"},
         "details": {"kind": "flood"}},
        illness("ILL-2", total_cost="50000.00"),
    ])
    session.commit()
    evaluate(session)
    events = {e.source_event_id: e for e in session.exec(select(TriggerEvent))}
    new = [events[k] for k in ("ACC-1", "DIS-1", "ILL-2")]
    assert all(e.payout is not None and e.payout >= 0 for e in new), [
        (e.source_event_id, e.payout) for e in new]
    claims = session.exec(select(Claim)).all()
    assert sum(c.entitled for c in claims) == Decimal("200000.00")  # the shared cap
    assert sum(e.payout for e in new) == Decimal("50000.00")  # what the year grew by


def test_each_village_is_assessed_against_the_line_it_inherits(session, county):
    """The evaluator reads the villages' regions up to the province in one statement; the line
    each household is assessed against must be the one registry.monitoring_line_for finds by
    walking up from its village (its own, its township's, its county's, or a province's)."""
    from policies import registry
    from policies.models import MonitoringLineCreate, RegionCreate
    from tests.factories import household_with_members

    year = county.contract.policy_year
    province = registry.create_region(session, RegionCreate(code="410000", name="河南省",
                                                            level="province"))
    registry.get_region(session, county.ids["county"]).parent_id = province.id
    township = registry.create_region(session, RegionCreate(
        code="411081101", name="神垕镇", level="township", parent_id=county.ids["county"]))
    villages = [county.ids["village0"]] + [registry.create_region(session, RegionCreate(
        code=f"41108110120{v}", name=f"新村{v}", level="village", parent_id=township.id)).id
        for v in range(2)]
    registry.create_monitoring_line(session, MonitoringLineCreate(
        region_id=township.id, year=year, fixed_amount=Decimal("9100")))
    registry.create_monitoring_line(session, MonitoringLineCreate(
        region_id=villages[2], year=year, fixed_amount=Decimal("9900")))
    registry.create_monitoring_line(session, MonitoringLineCreate(
        region_id=province.id, year=year - 1, fixed_amount=Decimal("7000")))  # another year
    events = []
    for v, village in enumerate(villages[1:]):
        _, members = household_with_members(session, village, number=f"L{v}", members=1,
                                            seq_start=40 + v)
        events.append(illness(f"LINE-{v}", seq=40 + v))
    events.append(illness("LINE-X"))
    session.flush()
    cache = intake.Cache()
    cache.prefetch(session, [intake.EventRow(id_number=e["id_number"], event_date=EVENT_DATE)
                             for e in events])
    for village in villages:
        assert cache.lines[(village, year)] == registry.monitoring_line_for(
            session, village, year)["amount"]
    assert [cache.lines[(v, year)] for v in villages] == [
        Decimal("8700"), Decimal("9100"), Decimal("9900")]
    assert cache.county_of == {v: county.ids["county"] for v in villages}
