"""Group commit for single-event requests: events arriving together are stored together.

Each request queues its event. The first request to find nobody writing leads: it stores
every queued event in one transaction on its own session, answers each waiting request, and
hands the lead to the first request that queued meanwhile. A department's answer still comes
only after the commit that holds its event, but a burst of 64 requests costs one transaction,
not 64 — SQLite writes one transaction at a time, PostgreSQL pays a round trip for each.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from claims import intake, locks, remit
from claims.auth import Actor
from claims.db import write_turn
from policies.benefits import EventIn
from policies.bulk import INSERT_CHUNK
from policies.errors import Conflict, InvalidInput

_LEAD = object()


@dataclass
class _Waiting:
    actor: Actor
    event: EventIn
    answer: asyncio.Future


@dataclass
class _Queue:
    waiting: list[_Waiting] = field(default_factory=list)
    leading: bool = False
    # PostgreSQL: the connection a turn hands to the next when requests are waiting, so a
    # busy queue pays no pool checkout and no ping per transaction (docs/scaling.md).
    kept: sa.Connection | None = None


# One queue per event loop: futures belong to the loop that made them.
_queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def receive(session: Session, actor: Actor, event: EventIn) -> intake.Outcome:
    """Store one checked event with whatever else is queued; its outcome once committed.
    Raises what storing this event raised: InvalidInput for an unknown type, Conflict for
    other content under a known id, or the error of the whole turn. On PostgreSQL a turn
    that was one INSERT in autocommit may have stored the event before a later error (the
    connection lost while reading the answer back), as a COMMIT can succeed unanswered: the
    department sends it again and is answered with its first outcome (a duplicate)."""
    loop = asyncio.get_running_loop()
    queue = _queues.setdefault(loop, _Queue())
    mine = _Waiting(actor, event, loop.create_future())
    queue.waiting.append(mine)
    if not queue.leading:
        queue.leading = True
        mine.answer.set_result(_LEAD)
    try:
        answer = await mine.answer
    except asyncio.CancelledError:
        if mine.answer.done() and not mine.answer.cancelled() and mine.answer.result() is _LEAD:
            _pass_lead(queue)  # the lead came just as this request was dropped
        raise
    if answer is not _LEAD:
        return answer
    mine.answer = loop.create_future()
    batch, queue.waiting = queue.waiting, []
    # Shielded: a leader whose client goes away still answers everyone in its batch.
    await asyncio.shield(loop.create_task(_write(queue, session, batch)))
    return mine.answer.result()


def _pass_lead(queue: _Queue) -> None:
    for waiting in queue.waiting:
        if not waiting.answer.done():
            waiting.answer.set_result(_LEAD)
            return
    queue.leading = False  # any left were dropped; the next request writes them too
    if queue.kept is not None:  # for the requests that were dropped meanwhile
        queue.kept.close()
        queue.kept = None


async def _write(queue: _Queue, session: Session, batch: list[_Waiting]) -> None:
    try:
        results = await run_in_threadpool(
            locks.retrying, partial(_store_all, queue, session, batch),
            what="storing single events")
    except Exception as exc:  # the transaction failed: every event in it failed
        results = [exc] * len(batch)
    finally:
        _pass_lead(queue)
    for waiting, result in zip(batch, results, strict=True):
        if waiting.answer.done():  # its request was dropped
            continue
        if isinstance(result, BaseException):
            waiting.answer.set_exception(result)
        else:
            waiting.answer.set_result(result)


def _store_all(queue: _Queue, session: Session, batch: list[_Waiting]) -> list:
    """One transaction for the batch, in an urgent turn at writing (single events go before
    the bulk chunks waiting): an outcome or the exception, per event. On PostgreSQL it runs
    on the queue's kept connection, and a batch of one department's events is one
    statement in autocommit: one round trip instead of a ping, BEGIN, INSERT and COMMIT."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not isinstance(bind, sa.Engine):
        # SQLite, or a session on a connection of its own (a test's outer transaction)
        with write_turn(bind, urgent=True):
            return _store_turn(session, batch)
    connection = queue.kept if queue.kept is not None else bind.connect()
    queue.kept = None
    # more events than one INSERT takes are several statements: a transaction
    one_statement = len({waiting.actor for waiting in batch}) == 1 and len(batch) <= INSERT_CHUNK
    try:
        connection.execution_options(
            isolation_level="AUTOCOMMIT" if one_statement else connection.default_isolation_level)
        with Session(connection) as kept:
            results = _store_turn(kept, batch)
    except BaseException:
        connection.close()  # back to the pool, which drops it if it was broken
        raise
    if queue.waiting:
        queue.kept = connection
    else:
        connection.close()
    return results


def _store_turn(session: Session, batch: list[_Waiting]) -> list:
    results: list = [None] * len(batch)
    by_actor: dict[Actor, list[int]] = {}
    known = intake.KnownTypes(session)
    try:
        for index, waiting in enumerate(batch):
            try:
                known.check(waiting.event)
                remit.check(waiting.actor, waiting.event)
            except InvalidInput as exc:
                results[index] = exc
                continue
            by_actor.setdefault(waiting.actor, []).append(index)
        # Departments in id order, each one's events sorted by source id: the lock order
        # (claims.locks) of a transaction that inserts events.
        for actor, indexes in sorted(by_actor.items(), key=lambda item: item[0].id or 0):
            outcomes = intake.store_checked(session, actor, [batch[i].event for i in indexes])
            for index, outcome in zip(indexes, outcomes, strict=True):
                try:
                    results[index] = intake.refuse_conflict(outcome)
                except Conflict as exc:
                    results[index] = exc
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return results
