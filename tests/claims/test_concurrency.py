"""Exactly once under concurrency: real transactions from several connections at once."""

import threading
from decimal import Decimal

import pytest
from sqlmodel import Session, func, select

from claims import evaluator, intake, payments
from claims.auth import SYSTEM, Actor
from claims.models import Claim, ClaimState, IncomeRecord, Payment, TriggerEvent
from policies.benefits import EventIn
from tests.claims.conftest import build_county
from tests.claims.test_intake import illness

THREADS = 8


@pytest.fixture
def engine(own_engine):
    return own_engine


def all_at_once(work):
    """Run ``work(i)`` in THREADS threads released together; return results or exceptions."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_same_event_from_many_connections_is_stored_once(engine):
    with Session(engine) as session:
        county = build_county(session)
    department = Actor("client", county.client_id, "医保局")

    def send(_):
        with Session(engine) as session:
            [outcome] = intake.receive(session, department, [illness()])
            session.commit()
            return outcome.result

    results = all_at_once(send)
    assert sorted(results) == ["accepted"] + ["duplicate"] * (THREADS - 1), results
    assert evaluator.evaluate_all(engine) == 1
    with Session(engine) as session:
        assert session.exec(select(func.count(TriggerEvent.id))).one() == 1
        assert session.exec(select(func.count(Claim.id))).one() == 1


def test_single_events_arriving_together_are_stored_in_few_transactions(engine):
    """Group commit: 40 requests at once (12 repeats, one with other content) are answered
    each with its own outcome, and stored in far fewer transactions than requests."""
    import asyncio

    import sqlalchemy as sa

    from claims import group_commit
    from policies.errors import Conflict

    with Session(engine) as session:
        county = build_county(session)
    department = Actor("client", county.client_id, "医保局")
    bodies = [illness(f"G-{i % 27}") for i in range(39)] + [
        illness("G-0", total_cost="90000.00")]
    commits = []
    sa.event.listen(engine, "commit", lambda _connection: commits.append(1))

    async def send_all():
        sessions = [Session(engine) for _ in bodies]
        try:
            return await asyncio.gather(*(
                group_commit.receive(s, department, EventIn.model_validate(body))
                for s, body in zip(sessions, bodies, strict=True)), return_exceptions=True)
        finally:
            for s in sessions:
                s.close()

    results = asyncio.run(send_all())
    outcomes = [r.result for r in results if not isinstance(r, Exception)]
    assert sorted(set(outcomes)) == ["accepted", "duplicate"]
    assert outcomes.count("accepted") == 27 and outcomes.count("duplicate") == 12
    assert isinstance(results[-1], Conflict) and "amounts.total_cost" in results[-1].message
    assert len(commits) < len(bodies) / 4, len(commits)
    with Session(engine) as session:
        assert session.exec(select(func.count(TriggerEvent.id))).one() == 27


def test_different_bills_of_one_household_at_once_share_one_claim(engine):
    """Each thread stores a bill and runs an evaluator at once: every bill is evaluated
    exactly once, in order, into one claim."""
    with Session(engine) as session:
        county = build_county(session)
    department = Actor("client", county.client_id, "医保局")

    def send(i):
        with Session(engine) as session:
            event = illness(f"HIS-{i}", total_cost="30000", basic_insurance_paid="0",
                            critical_illness_paid="0", medical_assistance_paid="0")
            [outcome] = intake.receive(session, department, [event])
            session.commit()
        evaluator.evaluate_all(engine, chunk=3)
        return outcome.result

    assert all_at_once(send) == ["accepted"] * THREADS
    with Session(engine) as session:
        assert set(session.exec(select(TriggerEvent.status)).all()) == {"accepted"}
        claim = session.exec(select(Claim)).one()
        # 8 × 30,000 = 240,000; above 20,000: 220,000 → 30,000 × 50% + 50,000 × 60% +
        # 140,000 × 70% = 143,000, within the 150,000 cap
        assert claim.entitled == Decimal("143000.00")
        payouts = session.exec(select(TriggerEvent.payout)).all()
        assert sum(payouts) == Decimal("143000.00")


def a_claim_awaiting_payment(session: Session) -> Claim:
    """A county whose one claim is approved and waits for payment; flushes."""
    county = build_county(session)
    intake.receive(session, Actor("client", county.client_id, "医保局"), [illness()])
    intake.evaluate_received(session)
    claim = session.exec(select(Claim)).one()
    claim.state, claim.approved_amount = ClaimState.payment_pending, claim.entitled
    session.flush()
    return claim


def test_a_payment_confirmed_twice_at_once_is_paid_once(engine):
    with Session(engine) as session:
        a_claim_awaiting_payment(session)
        batch = payments.create_batch(session, SYSTEM)
        payments.bank_file(session, SYSTEM, batch.id, "csv")
        payment_id = session.exec(select(Payment.id)).one()
        session.commit()
        batch_id = batch.id
    answer = f"payment_id,status\n{payment_id},paid\n".encode()

    def confirm(_):
        with Session(engine) as session:
            [line] = payments.confirm(session, SYSTEM, batch_id, answer, "answer.csv")
            session.commit()
            return line.result

    results = all_at_once(confirm)
    assert sorted(results) == ["already_paid"] * (THREADS - 1) + ["paid"], results
    with Session(engine) as session:
        claim = session.exec(select(Claim)).one()
        assert (claim.state, claim.paid_amount) == ("paid", Decimal("7500.00"))
        ledger = session.exec(select(IncomeRecord).where(IncomeRecord.source == "payout")).all()
        assert len(ledger) == 1


def test_two_batches_made_at_once_never_both_take_a_claim(engine):
    with Session(engine) as session:
        a_claim_awaiting_payment(session)
        session.commit()

    def make(_):
        with Session(engine) as session:
            batch = payments.create_batch(session, SYSTEM)
            session.commit()
            return batch.id

    results = all_at_once(make)
    made = [r for r in results if isinstance(r, int)]
    assert len(made) == 1, results
    with Session(engine) as session:
        assert session.exec(select(func.count(Payment.id))).one() == 1
