"""Exactly once under concurrency: real transactions from several connections at once."""

import itertools
import os
import random
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, func, select

from claims import clock, evaluator, intake, locks, payments
from claims.auth import SYSTEM
from claims.db import make_engine, write_turn
from claims.models import (
    Claim,
    ClaimState,
    IncomeRecord,
    Payment,
    PolicyContract,
    TriggerEvent,
)
from policies import registry
from policies.benefits import EventIn
from policies.models import IncomeRecordCreate
from tests.claims.conftest import DEPARTMENT_KEY, START, build_county, bureau
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
    department = bureau(county.client_id)

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
    department = bureau(county.client_id)
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
    # the connection kept between turns on PostgreSQL goes back once the queue is empty
    assert engine.pool.checkedout() == 0
    again = asyncio.run(send_all())
    assert [r.result for r in again[:27]] == ["duplicate"] * 27
    assert engine.pool.checkedout() == 0


def test_different_bills_of_one_household_at_once_share_one_claim(engine):
    """Each thread stores a bill and runs an evaluator at once: every bill is evaluated
    exactly once, in order, into one claim."""
    with Session(engine) as session:
        county = build_county(session)
    department = bureau(county.client_id)

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
    intake.receive(session, bureau(county.client_id), [illness()])
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


def test_a_bank_confirmation_waits_for_the_household_the_evaluator_holds(engine):
    """The evaluator locks a household, then its claims; a bank confirmation records the payout
    as the household's income, which locks the household's row too (the foreign key): it must
    take the household before the claim, or the two deadlock (seen in the soak on PostgreSQL:
    the confirmation answered 503 after six deadlocks)."""
    with Session(engine) as session:
        claim = a_claim_awaiting_payment(session)
        batch = payments.create_batch(session, SYSTEM)
        payments.bank_file(session, SYSTEM, batch.id, "csv")
        payment_id = session.exec(select(Payment.id)).one()
        session.commit()
        batch_id, claim_id, household_id = batch.id, claim.id, claim.household_id
    answer = f"payment_id,status\n{payment_id},paid\n".encode()
    confirmed: list = []

    def confirm():
        try:
            with Session(engine) as session:
                confirmed.extend(payments.confirm(session, SYSTEM, batch_id, answer, "a.csv"))
                session.commit()
        except Exception as exc:  # reported below
            confirmed.append(exc)

    with Session(engine) as evaluating:  # as the evaluator does: the household, then claims
        locks.households(evaluating, [household_id])
        bank = threading.Thread(target=confirm)
        bank.start()
        time.sleep(0.5)  # the confirmation is under way, waiting for the household
        locks.claims(evaluating, [claim_id])
        evaluating.commit()
    bank.join(timeout=60)

    assert [getattr(line, "result", line) for line in confirmed] == ["paid"]
    with Session(engine) as session:
        assert session.get(Claim, claim_id).state == "paid"


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
    # the others are told there was nothing left to pay, not "another request stored …"
    assert {getattr(r, "code", r) for r in results if r not in made} == {"nothing_to_pay"}
    with Session(engine) as session:
        assert session.exec(select(func.count(Payment.id))).one() == 1


# ---------------------------------------------------------------- one lock order (issue 20)


def bill(event_id: str, total: str = "30000.00", seq: int = 1, days_ago: int = 30) -> dict:
    """A medical bill with nothing paid by other insurers."""
    body = illness(event_id, seq=seq, total_cost=total, basic_insurance_paid="0",
                   critical_illness_paid="0", medical_assistance_paid="0")
    body["event_date"] = (clock.county_today() - timedelta(days=days_ago)).isoformat()
    return body


def app_on(engine):
    """The service's app with its request sessions on ``engine`` (real commits)."""
    from claims.app import create_app
    from claims.db import get_session, sessions_on

    app = create_app()
    app.dependency_overrides[get_session] = sessions_on(lambda: engine)
    return app


def expected_entitlements(session: Session) -> dict[tuple[int, str, int], Decimal]:
    """A second opinion: every household-year's accepted bills quoted at once by the pure
    calculator, per (household, trigger, year)."""
    from policies import benefits, calculator

    expected: dict[tuple[int, str, int], Decimal] = {}
    events = session.exec(select(TriggerEvent).where(TriggerEvent.status == "accepted")
                          .order_by(TriggerEvent.id)).all()
    years: dict[tuple[int, int], list[TriggerEvent]] = {}
    for event in events:
        years.setdefault((event.household_id, event.contract_id), []).append(event)
    for (household_id, contract_id), mine in years.items():
        contract = session.get(PolicyContract, contract_id)
        terms = benefits.terms_of(benefits.get_terms_version(session, contract.terms_version_id))
        snapshot = benefits.household_snapshot(session, household_id,
                                               policy_year=contract.policy_year,
                                               contract=contract)
        quote = calculator.calculate(terms, snapshot, [
            EventIn.model_validate(e.payload).to_event(event_id=f"{e.id:012d}") for e in mine])
        for total in quote.totals:
            expected[(household_id, total.trigger, contract.policy_year)] = total.entitled
    return expected


def assert_every_claim_is_its_quote(session: Session) -> None:
    expected = expected_entitlements(session)
    for claim in session.exec(select(Claim)).all():
        key = (claim.household_id, claim.trigger, claim.policy_year)
        assert claim.entitled == expected.get(key, Decimal("0.00")), (claim.claim_number, key)
    assert not session.exec(select(TriggerEvent).where(
        TriggerEvent.status.in_(["failed", "received"]))).all()


@pytest.mark.parametrize("size", [1000, 60])
def test_overlapping_batches_sent_in_different_orders_are_all_stored_once(engine, size):
    """Two departments' files of the same 1,000 events at the same moment, one reversed: on
    PostgreSQL each used to insert in its own order and one deadlocked (500). 60 events go
    in as one statement, 1,000 as one too (policies.bulk.insert_new_returning)."""
    with Session(engine) as session:
        county = build_county(session)
    department = bureau(county.client_id)
    for round_ in range(3):
        events = [bill(f"R{round_}-{i:04d}", days_ago=1 + i % 60) for i in range(size)]
        barrier = threading.Barrier(2)

        def send(order, events=events, barrier=barrier):
            with Session(engine) as session:
                barrier.wait()
                outcomes = intake.receive(session, department, order(events))
                session.commit()
                return outcomes

        results: list = [None, None]

        def run(i, order, send=send, results=results):
            try:
                results[i] = send(order)
            except Exception as exc:  # reported below
                results[i] = exc

        threads = [threading.Thread(target=run, args=(0, list)),
                   threading.Thread(target=run, args=(1, lambda e: e[::-1]))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for result in results:
            assert not isinstance(result, Exception), repr(result)
        accepted = sum(o.result == "accepted" for r in results for o in r)
        duplicate = sum(o.result == "duplicate" for r in results for o in r)
        assert (accepted, duplicate) == (size, size)
    with Session(engine) as session:
        assert session.exec(select(func.count(TriggerEvent.id))).one() == 3 * size


def test_staff_steps_and_the_evaluator_at_once_neither_fail_nor_lose_a_bill(engine):
    """A claim in public notice; three clerks repeat start_notice and record_objection while
    15 bills of the household are evaluated: on PostgreSQL the steps answered 500 and bills
    were set aside as failed (the evaluator took the audit lock then the claim, a step the
    claim then the audit lock)."""
    from fastapi.testclient import TestClient

    from claims.people import create_user

    with Session(engine) as session:
        county = build_county(session)
        intake.receive(session, bureau(county.client_id), [bill("B-0")])
        intake.evaluate_received(session)
        claim = session.exec(select(Claim)).one()
        # straight to public notice: the steps before it are tested in test_lifecycle
        claim.state = ClaimState.public_notice
        tokens = [create_user(session, SYSTEM, username=f"clerk{i}", full_name=f"clerk{i}",
                              role="clerk")[1] for i in range(3)]
        session.commit()
        claim_id, client_id = claim.id, county.client_id
    department = bureau(client_id)
    app = app_on(engine)
    statuses: list[int] = []
    stop = threading.Event()

    def clerk(token):
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            while not stop.is_set():
                for action, data in (("start_notice", {}),
                                     ("record_objection", {"text": "异议", "upheld": False})):
                    response = client.post(f"/api/claims/{claim_id}/actions/{action}",
                                           json=data)
                    statuses.append(response.status_code)

    def evaluate():
        try:
            for i in range(5):
                with Session(engine) as session:
                    intake.receive(session, department, [
                        bill(f"B-{i}-{j}", total="20000.00", days_ago=j + 1)
                        for j in range(3)])
                    session.commit()
                evaluator.evaluate_all(engine, chunk=1)
        finally:
            stop.set()

    threads = [threading.Thread(target=clerk, args=(t,)) for t in tokens]
    threads.append(threading.Thread(target=evaluate))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    with Session(engine) as session:
        assert_every_claim_is_its_quote(session)
        assert session.get(Claim, claim_id).entitled > 0
        assert session.exec(select(func.count(TriggerEvent.id)).where(
            TriggerEvent.status == "accepted")).one() == 16


class _Deadlock(Exception):
    sqlstate = "40P01"


def transient() -> Exception:
    """What the driver raises when PostgreSQL picks this transaction to end a deadlock."""
    import sqlalchemy as sa

    return sa.exc.OperationalError("INSERT …", {}, _Deadlock("deadlock detected"))


def test_a_request_that_meets_a_deadlock_is_answered_as_if_nothing_happened(
        department, session, county, monkeypatch):
    """The first try stores the batch and then meets a deadlock: it is rolled back and tried
    again, so the department reads 'accepted' (not 'duplicate'), and the retry is counted."""
    from claims import locks

    real, tries = intake.store_checked, []

    def store_then_deadlock(*args):
        outcomes = real(*args)
        tries.append(1)
        if len(tries) == 1:
            raise transient()
        return outcomes

    monkeypatch.setattr(intake, "store_checked", store_then_deadlock)
    before = sum(locks.retries.values())
    response = department.post("/api/events/batch", json=[illness("R-1"), illness("R-2")])
    assert response.status_code == 200, response.text
    assert [r["result"] for r in response.json()["results"]] == ["accepted", "accepted"]
    assert len(tries) == 2 and sum(locks.retries.values()) == before + 1
    assert session.exec(select(func.count(TriggerEvent.id))).one() == 2


def test_an_evaluation_that_meets_a_deadlock_is_retried_never_failed(engine, monkeypatch):
    with Session(engine) as session:
        county = build_county(session)
        intake.receive(session, bureau(county.client_id),
                       [illness("E-1"), illness("E-2", seq=2)])
        session.commit()
    real, tries = intake._match, []

    def match(session, event, cache):
        tries.append(event.source_event_id)
        if tries.count("E-2") == 1 and event.source_event_id == "E-2":
            raise transient()
        return real(session, event, cache)

    monkeypatch.setattr(intake, "_match", match)
    assert evaluator.evaluate_all(engine) == 2
    with Session(engine) as session:
        assert set(session.exec(select(TriggerEvent.status)).all()) == {"accepted"}
        assert session.exec(select(Claim)).one().entitled == 7500 * 2


def test_a_lock_out_of_order_is_refused(session):
    """The helpers refuse a household after a claim: the path would deadlock against the
    evaluator, which locks households first."""
    from claims import locks

    county = build_county(session)
    intake.receive(session, bureau(county.client_id), [illness()])
    intake.evaluate_received(session)
    session.commit()
    claim = session.exec(select(Claim)).one()
    locks.claims(session, [claim.id])
    locks.claims(session, [claim.id])  # held already: fine
    with pytest.raises(locks.LockOrderError):
        locks.households(session, [claim.household_id])
    session.rollback()
    locks.households(session, [claim.household_id])  # a new transaction starts afresh


def test_an_audit_entry_of_a_savepoint_rolled_back_never_joins_the_chain(session):
    from claims import audit
    from claims.models import AuditEntry

    audit.record(session, SYSTEM, "claim", "LP1", "kept")
    savepoint = session.begin_nested()
    audit.record(session, SYSTEM, "claim", "LP1", "dropped")
    savepoint.rollback()
    session.commit()
    assert session.exec(select(AuditEntry.action)).all() == ["kept"]
    assert audit.verify(session).problem == ""


SOAK_SECONDS = float(os.environ.get("FANGPIN_SOAK_SECONDS", "4"))
HOUSEHOLDS = 12


def test_soak_staff_payments_intake_and_the_evaluator_together(engine):
    """Staff steps, payment batches with their bank files and confirmations (each file sent
    twice at once), overlapping intake batches in shuffled orders and the evaluator, all at
    once for FANGPIN_SOAK_SECONDS (4 s here; 60 for the long run): afterwards no server error,
    no event failed or left waiting, every claim's entitlement is the quote of its accepted
    bills, nothing is paid twice and the audit chain is intact."""
    from fastapi.testclient import TestClient

    from claims import audit
    from claims.people import create_user
    from tests.factories import household_with_members

    with Session(engine) as session:
        county = build_county(session)
        for h in range(1, HOUSEHOLDS):
            household, _ = household_with_members(session, county.ids["village0"],
                                                  number=f"S{h:04d}", seq_start=1 + 3 * h)
            household.bank_name, household.bank_account = "农村商业银行", f"62284800000000{h:05d}"
            registry.create_income_record(session, IncomeRecordCreate(
                household_id=household.id, period_start=date(START.year - 1, 1, 1),
                period_end=date(START.year - 1, 12, 31), wages=Decimal("15000")))
        intake.receive(session, bureau(county.client_id),
                       [bill(f"S-{h}", seq=1 + 3 * h) for h in range(HOUSEHOLDS)])
        intake.evaluate_received(session)
        claims = session.exec(select(Claim).order_by(Claim.id)).all()
        # straight to the states the soak works on (the steps before are tested elsewhere)
        for claim in claims[:HOUSEHOLDS // 2]:
            claim.state = ClaimState.public_notice
        for claim in claims[HOUSEHOLDS // 2:]:
            claim.state, claim.approved_amount = ClaimState.payment_pending, claim.entitled
        tokens = {role: create_user(session, SYSTEM, username=role, full_name=role,
                                    role=role)[1] for role in ("clerk", "supervisor")}
        session.commit()
        noticed = [c.id for c in claims[:HOUSEHOLDS // 2]]
    app = app_on(engine)
    statuses: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def client(token):
        return TestClient(app, headers={"Authorization": f"Bearer {token}"})

    def staff_steps(seed):
        rng = random.Random(seed)
        with client(tokens["clerk"]) as clerk:
            while not stop.is_set():
                action, data = rng.choice([("start_notice", {}), ("record_objection", {
                    "text": "异议", "upheld": False})])
                statuses.append(clerk.post(f"/api/claims/{rng.choice(noticed)}/actions/"
                                           f"{action}", json=data).status_code)

    def pay():
        with client(tokens["supervisor"]) as supervisor:
            while not stop.is_set():
                made = supervisor.post("/api/payment-batches")
                statuses.append(made.status_code)
                if made.status_code != 201:
                    time.sleep(0.05)
                    continue
                batch = made.json()["id"]
                exported = supervisor.post(f"/api/payment-batches/{batch}/bank-file")
                statuses.append(exported.status_code)
                answer = "payment_id,status\n" + "".join(
                    f"{line['id']},paid\n" for line in made.json()["lines"])

                def confirm(supervisor=supervisor, batch=batch, answer=answer):
                    statuses.append(supervisor.post(
                        f"/api/payment-batches/{batch}/confirmation",
                        files={"file": ("answer.csv", answer.encode())}).status_code)

                twice = [threading.Thread(target=confirm) for _ in range(2)]
                for thread in twice:
                    thread.start()
                for thread in twice:
                    thread.join()

    def send_batches(seed):
        rng = random.Random(seed)
        sent: list[dict] = []
        with client(DEPARTMENT_KEY) as department:
            while not stop.is_set():
                fresh = [bill(f"K{seed}-{len(sent) + i}", total=f"{rng.randint(5, 30)}00.00",
                              seq=rng.randint(1, 3 * HOUSEHOLDS), days_ago=rng.randint(1, 90))
                         for i in range(rng.randint(3, 20))]
                sent += fresh
                batch = fresh + rng.sample(sent, min(len(sent), 30))  # overlapping repeats
                rng.shuffle(batch)
                statuses.append(department.post("/api/events/batch", json=batch).status_code)

    def evaluate(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            evaluator.evaluate_all(engine, chunk=rng.choice([7, 50, 500]), at_most=500)
            time.sleep(0.01)

    def guarded(work, *args):
        try:
            work(*args)
        except BaseException as exc:  # reported below
            errors.append(exc)
            stop.set()

    workers = [(staff_steps, 1), (staff_steps, 2), (pay,), (send_batches, 3),
               (send_batches, 4), (evaluate, 5)]
    threads = [threading.Thread(target=guarded, args=w) for w in workers]
    for thread in threads:
        thread.start()
    stop.wait(SOAK_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    evaluator.evaluate_all(engine)
    assert statuses and not [s for s in statuses if s >= 500], sorted(set(statuses))
    assert set(statuses) <= {200, 201, 409}, sorted(set(statuses))
    with Session(engine) as session:
        assert_every_claim_is_its_quote(session)
        for claim in session.exec(select(Claim)).all():
            assert claim.paid_amount <= claim.entitled, claim.claim_number
            paid = session.exec(select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.claim_id == claim.id, Payment.state == "paid")).one()
            assert Decimal(paid) == claim.paid_amount, claim.claim_number
        assert audit.verify(session).problem == ""


def test_a_single_event_writes_before_the_bulk_chunks_waiting(tmp_path):
    """SQLite's turn at writing: while a chunk is written, a single event's group commit that
    arrives after two other chunks began waiting still writes next, so a single event waits
    for about one chunk however many batches stream (issue 20: 0.8 s behind four)."""
    engine = make_engine(f"sqlite:///{tmp_path}/turns.db")
    order: list[str] = []

    def write(name: str, urgent: bool) -> None:
        with write_turn(engine, urgent=urgent):
            order.append(name)

    with write_turn(engine):  # a chunk being written
        waiting = [threading.Thread(target=write, args=(name, name == "single"))
                   for name in ("chunk 2", "chunk 3", "single")]
        for thread in waiting:
            thread.start()
            time.sleep(0.1)  # in this order
    for thread in waiting:
        thread.join(timeout=10)
    engine.dispose()

    assert order == ["single", "chunk 2", "chunk 3"]


def test_a_request_answered_then_dropped_hands_on_no_second_lead(monkeypatch):
    """A request whose outcome was set and which is cancelled before it resumes must not
    pass the lead on: a second leader would write beside the first (and share its kept
    connection)."""
    import asyncio
    import threading

    from claims import group_commit

    running, peak, guard = [0], [0], threading.Lock()

    def store(queue, session, batch):
        with guard:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with guard:
            running[0] -= 1
        return ["stored"] * len(batch)

    monkeypatch.setattr(group_commit, "_store_all", store)
    monkeypatch.setattr(group_commit.locks, "retrying", lambda work, what: work())
    write, dropped = group_commit._write, {}

    async def write_then_drop(queue, session, batch):
        await write(queue, session, batch)
        if "answered" in dropped and any(w.event == "answered" for w in batch):
            dropped.pop("answered").cancel()  # its client went away as it was answered

    monkeypatch.setattr(group_commit, "_write", write_then_drop)

    async def scenario():
        def send(name):
            return asyncio.create_task(group_commit.receive(None, None, name))
        first = send("first")
        await asyncio.sleep(0.01)
        others = [send("second")]
        dropped["answered"] = send("answered")
        await asyncio.sleep(0.06)
        for i in range(10):
            others.append(send(f"later-{i}"))
            await asyncio.sleep(0.01)
        return await asyncio.gather(first, *others, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes == ["stored"] * 12
    assert peak[0] == 1


def test_corrections_of_one_income_record_at_once_keep_one_chain_of_versions(engine):
    """Each correction keeps the figures it replaced as known until its own moment: made at
    once from several connections (each in its turn, as the service writes), they must still
    form one chain — each version known from where the one before stopped — or a past day
    would read two versions of one record (a hostile tester's doubt)."""
    from policies.models import IncomeRecordUpdate, IncomeRecordVersion

    with Session(engine) as session:
        county = build_county(session)
        record_id = session.exec(select(IncomeRecord.id).where(
            IncomeRecord.household_id == county.household.id)).one()
        session.commit()

    def correct(i):
        with write_turn(engine), Session(engine) as session:
            registry.update_income_record(session, record_id,
                                          IncomeRecordUpdate(wages=Decimal(1000 + i)))
            session.commit()

    results = all_at_once(correct)
    assert results == [None] * THREADS, results
    with Session(engine) as session:
        record = session.get(IncomeRecord, record_id)
        versions = session.exec(select(IncomeRecordVersion).order_by(
            IncomeRecordVersion.known_from)).all()
        assert len(versions) == THREADS
        assert versions[0].known_from == record.recorded_at
        for earlier, later in itertools.pairwise(versions):
            assert earlier.known_to == later.known_from
        assert versions[-1].known_to == record.revised_at


# ---------------------------------------------------------------- bulk steps and bank files


def release(holder: Session, *threads: threading.Thread) -> None:
    """End the transaction the threads queue behind, and wait for them."""
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(timeout=60)


def test_two_bulk_approvals_listing_the_same_claims_in_other_orders_never_deadlock(engine):
    """A concurrency tester's approvals of the same claims listed in different orders
    deadlocked on PostgreSQL (locked in the request's order), and once answered 503 after 21
    seconds of retries. Locked in id order, the second waits for the first."""
    from claims import bulk
    from claims.auth import Actor

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: nothing to deadlock")
    with Session(engine) as session:
        county = build_county(session)
        household = county.household.id
        ids = [intake.apply(session, SYSTEM, household, trigger, "申请").id
               for trigger in ("accident", "disaster", "housing")]
        for claim in session.exec(select(Claim).where(Claim.id.in_(ids))):
            claim.state, claim.entitled = ClaimState.approval, Decimal("1000.00")
        session.commit()
    supervisor = Actor("user", None, "主管", role="supervisor")
    holder = Session(engine)
    locks.claims(holder, [max(ids)])  # both requests queue behind it, then race
    answers: list = []

    def approve(order: list[int]) -> None:
        try:
            with Session(engine) as session:
                answers.append([r.outcome for r in bulk.approve(session, supervisor, order)])
                session.commit()
        except Exception as exc:  # reported below
            answers.append(exc)

    first = threading.Thread(target=approve, args=(sorted(ids, reverse=True),))
    first.start()
    time.sleep(0.5)  # the first waits for the highest id, holding the rest or (now) nothing
    second = threading.Thread(target=approve, args=(sorted(ids),))
    second.start()
    time.sleep(0.5)
    release(holder, first, second)
    assert not [a for a in answers if isinstance(a, Exception)], answers
    assert sorted(map(tuple, answers)) == [("done",) * 3, ("refused",) * 3]
    with Session(engine) as session:
        assert {c.state for c in session.exec(select(Claim).where(Claim.id.in_(ids)))} == {
            "payment_pending"}


def test_a_bank_file_made_twice_at_once_never_rewrites_a_line_already_sent(engine):
    """A concurrency tester's two files of one batch made at once: the first sent a line to
    the household's account, the second then gave that sent line the account changed in
    between, so the record no longer said where the money went."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: nothing overlaps")
    with Session(engine) as session:
        claim = a_claim_awaiting_payment(session)
        batch = payments.create_batch(session, SYSTEM)
        session.commit()
        batch_id, household_id = batch.id, claim.household_id
        line = session.exec(select(Payment.id)).one()
    files: list = []

    def export() -> None:
        with Session(engine) as session:
            files.append(payments.bank_file(session, SYSTEM, batch_id, "csv")[1].decode())
            session.commit()

    holder = Session(engine)
    locks.payments(holder, [line])  # the first file waits behind it
    first = threading.Thread(target=export)
    first.start()
    time.sleep(0.5)
    with Session(engine) as session:  # the household's account changes meanwhile
        registry.get_household(session, household_id).bank_account = "6228480000099999"
        session.commit()
    second = threading.Thread(target=export)
    second.start()
    time.sleep(0.5)
    release(holder, first, second)
    with Session(engine) as session:
        stored = session.get(Payment, line).bank_account
    assert len(files) == 2 and all(stored in text for text in files), (stored, files)


def test_a_warning_closed_twice_at_once_is_closed_once(engine):
    """A hostile tester's four closes of one warning at once: two succeeded, two entries on
    the trail, and the first outcome was overwritten (each had read the warning open)."""
    from claims import warnings
    from claims.auth import Actor
    from claims.models import AuditEntry, EarlyWarning

    with Session(engine) as session:
        county = build_county(session)
        warning = EarlyWarning(household_id=county.household.id, trigger="risk_high",
                               text="risk 0.81", source="risk", status="open", outcome="")
        session.add(warning)
        session.commit()
        warning_id = warning.id
    clerk = Actor("user", None, "业务员", role="clerk")

    def close(i):
        with Session(engine, expire_on_commit=False) as session:
            found = session.get(EarlyWarning, warning_id)  # read first, as the API does
            session.commit()
            warnings.close(session, clerk, found, "assisted" if i % 2 else "monitored")
            session.commit()
            return "closed"

    results = all_at_once(close)
    assert results.count("closed") == 1, results
    assert {getattr(r, "status_code", r) for r in results if r != "closed"} == {409}
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry).where(
            AuditEntry.entity == "early_warning", AuditEntry.action == "close")).all()) == 1
