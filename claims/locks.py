"""The one lock order of fangpin, and retries of the database's transient errors.

Every transaction that touches claims, events, payments or the audit chain — an API step, a
page, the evaluator, a payment batch, a bank confirmation, monitoring, an import — takes its
locks in this order, and only through the helpers below:

0. job locks: the evaluator's advisory locks of its lane's household buckets, in bucket order
   (``intake.hold_evaluation``), the nightly runs' session locks (``db.run_lock``) — before
   anything else;
1. trigger events: a batch inserts its new rows sorted by source id
   (``policies.bulk.insert_new_returning``; group commit takes departments in id order), so
   two overlapping batches queue on their first common event instead of each holding one the
   other waits for; a replay locks its one event (quarantined or failed, so never one the
   evaluator is taking);
2. household rows, by id (:func:`households`); a transaction that inserts a row pointing to
   a household (an income record, a shock, a monitoring window) locks the household first,
   because the foreign key's check takes a key-share lock on the household's row, which a
   holder of that row's update lock (the evaluator) blocks;
3. claim rows, by id (:func:`claims`, :func:`claims_where`; ``lifecycle.transition`` locks its
   claim itself, so no step can forget it);
4. payment batch and payment rows, by id (:func:`payments`);
5. monitoring windows, follow-ups and eliminations (a bank confirmation opens or extends
   the household's window after its payment lines);
6. the audit chain, always last: ``audit.record`` queues its entry in the session and the
   entries are appended, hashed and numbered under the chain's lock just before the commit
   (:func:`claims.audit.append_pending`), so the chain lock is held only for the commit.

A transaction may skip levels but never go back to a lower one for a row it does not hold yet
(re-locking a row already held is harmless); the helpers raise :class:`LockOrderError` when a
path would, so a new path that breaks the order fails its first test rather than deadlocking in
production. SQLite writes one transaction at a time (every transaction begins IMMEDIATE), so
there the row locks are no-ops and only the order of work matters.

Deadlocks, serialisation failures and lock timeouts can still happen (another process, a
database's own internal locks); they are retried at the transaction boundary, a bounded number
of times with jitter: :func:`retrying` for jobs and the evaluator, :class:`RetryTransient` for
every request of the app. A request retried successfully answers as if nothing had happened.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claims import masking
from claims.models import Claim, Household, Payment
from policies.bulk import among

log = logging.getLogger("fangpin.locks")
T = TypeVar("T")

HOUSEHOLDS, CLAIMS, PAYMENTS = 2, 3, 4  # the levels of the order above
ATTEMPTS = 6  # tries of one transaction before its error is given up on
# SQLSTATEs: deadlock_detected, serialization_failure, lock_not_available (lock_timeout)
TRANSIENT_STATES = frozenset({"40P01", "40001", "55P03"})
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
retries: Counter[str] = Counter()  # transient errors retried, by what was retried


class LockOrderError(AssertionError):
    """A path took a lock out of the documented order: a programming error."""


def is_transient(exc: BaseException | None) -> bool:
    """Whether an error is the database's passing refusal (deadlock, serialisation failure,
    lock timeout, SQLite busy) that the same transaction, tried again, would not meet."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
            state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
            if state in TRANSIENT_STATES:
                return True
            if exc.orig.__class__.__module__.startswith("sqlite3") and any(
                    text in str(exc.orig) for text in SQLITE_BUSY):
                return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def pause(attempt: int) -> float:
    """How long to wait before try ``attempt + 1``: exponential with full jitter, so the two
    sides of a deadlock do not meet again at the same moment."""
    return random.uniform(0, min(0.02 * 2 ** attempt, 1.0))


def count_retry(what: str, exc: BaseException, attempt: int) -> None:
    """Count one retried transient error and say so in the log (the counter is per process)."""
    retries[what] += 1
    orig = getattr(exc, "orig", exc)
    log.warning("transient database error in %s (%s: %s), try %d of %d; retrying "
                "(%d retried so far)", what, type(orig).__name__,
                str(orig).splitlines()[0] if str(orig) else "", attempt, ATTEMPTS,
                retries[what], extra={"retried": what, "retries": retries[what]})


def retrying(work: Callable[[], T], *, what: str, attempts: int = ATTEMPTS,
             on_retry: Callable[[int], None] | None = None) -> T:
    """Run one whole transaction (``work`` begins, commits, and rolls back on error), again
    after a transient error, at most ``attempts`` times; other errors pass at once."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            count_retry(what, exc, attempt)
            if on_retry is not None:
                on_retry(attempt)
            time.sleep(pause(attempt))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- row locks, in order


def _take(session: Session, level: int, ids: Iterable[int]) -> list[int]:
    """Check the order and note the rows a transaction is about to lock; returns those not
    held yet, in order (a row already held is not read again: its unsaved changes stay)."""
    held: dict[int, set[int]] = session.info.setdefault("fangpin.locks", {})
    mine = held.setdefault(level, set())
    wanted = sorted(set(ids) - mine)
    if wanted and any(other > level for other in held):
        raise LockOrderError(f"level {level} locked after level {max(held)}: see claims.locks")
    mine.update(wanted)
    return wanted


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_locks(session: OrmSession, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("fangpin.locks", None)


def _lock(session: Session, model, level: int, ids: Iterable[int]) -> list:
    ids = list(ids)
    # Kept here: the session holds unchanged rows weakly, so a row dropped after its select
    # would be read again, one statement each, by the session.get below.
    fresh = {}
    for wanted in _chunks(_take(session, level, ids)):
        fresh.update((row.id, row) for row in session.exec(
            select(model).where(among(session, model.id, wanted)).order_by(model.id)
            .with_for_update().execution_options(populate_existing=True)))
    return [row for row in (fresh.get(i) or session.get(model, i) for i in sorted(set(ids)))
            if row is not None]


def _chunks(ids: list[int]):
    for start in range(0, len(ids), 1000):
        yield ids[start:start + 1000]


def households(session: Session, ids: Iterable[int]) -> list[Household]:
    """Lock households (level 2), in id order, and return them (read fresh when first
    locked)."""
    return _lock(session, Household, HOUSEHOLDS, ids)


def household_rows(session: Session, ids: Iterable[int], *columns) -> list:
    """Lock households (level 2), in id order, and return their ``columns`` as plain rows
    (the evaluator's many households: ORM objects cost more than its rules)."""
    found = []
    for wanted in _chunks(sorted(set(ids))):
        _take(session, HOUSEHOLDS, wanted)
        found.extend(session.execute(sa.select(*columns).where(among(session, Household.id, wanted))
                                     .order_by(Household.id).with_for_update()))
    return found


def claims(session: Session, ids: Iterable[int]) -> list[Claim]:
    """Lock claims (level 3), in id order, and return them (read fresh when first locked)."""
    return _lock(session, Claim, CLAIMS, ids)


def claims_where(session: Session, *criteria) -> list[Claim]:
    """Lock the claims meeting ``criteria`` (level 3), in id order."""
    held = session.info.get("fangpin.locks", {})
    if any(other > CLAIMS for other in held):
        raise LockOrderError(f"level {CLAIMS} locked after level {max(held)}: see claims.locks")
    found = session.exec(select(Claim).where(*criteria).order_by(Claim.id).with_for_update()
                         .execution_options(populate_existing=True)).all()
    _take(session, CLAIMS, (c.id for c in found))
    return found


def payments(session: Session, ids: Iterable[int]) -> list[Payment]:
    """Lock payment lines (level 4), in id order, and return them (read fresh when first
    locked)."""
    return _lock(session, Payment, PAYMENTS, ids)


# ---------------------------------------------------------------- requests


_request_sessions: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "fangpin_request_sessions", default=None)


@event.listens_for(OrmSession, "after_begin")
def _note_session(session: OrmSession, _transaction, _connection) -> None:
    sessions = _request_sessions.get()
    if sessions is not None and session not in sessions:
        sessions.append(session)


class RetryTransient:
    """Run a request again, from the start, when it failed on a transient database error
    before answering: the body is kept, every session the request began is rolled back, and
    the client sees only the answer of the try that went through. Plain ASGI, inside the
    request log, so one request is one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body: list[Message] = []
        while True:
            message = await receive()
            body.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        for attempt in range(1, ATTEMPTS + 1):
            sessions: list = []
            token = _request_sessions.set(sessions)
            answer = _Answer(list(body), receive, send)
            try:
                await self.app(scope, answer.receive, answer.send)
                return
            except Exception as exc:
                if answer.started or not is_transient(exc):
                    raise
                for session in sessions:  # a session shared beyond the request (tests)
                    session.rollback()
                if attempt == ATTEMPTS:
                    log.error("transient database errors in %s %s after %d tries",
                              scope["method"], masking.in_text(scope["path"]), attempt)
                    await JSONResponse(
                        {"error": "Busy", "message": "the database is busy; try again in a "
                         "moment"}, status_code=503, headers={"Retry-After": "1"})(
                        scope, receive, send)
                    return
                count_retry(f"{scope['method']} {masking.in_text(scope['path'])}", exc,
                            attempt)
                await asyncio.sleep(pause(attempt))
            finally:
                _request_sessions.reset(token)


class _Answer:
    """One try of a request: its body replayed, and whether its answer has begun."""

    def __init__(self, body: list[Message], receive: Receive, send: Send) -> None:
        self.body, self._receive, self._send, self.started = body, receive, send, False

    async def receive(self) -> Message:
        return self.body.pop(0) if self.body else await self._receive()

    async def send(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)
