"""The audit trail (审计日志): append-only entries, each chained to the previous one by a
SHA-256 hash, so altering or removing an entry is detected by ``fangpin audit verify``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from claims.auth import Actor
from claims.db import advisory_xact_lock
from claims.models import AuditEntry, utcnow
from policies import bulk

GENESIS = "0" * 64
CHAIN_LOCK = 1  # the PostgreSQL advisory lock serialising appends to the chain


def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal, dates and datetimes as text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal | date | datetime):
        return str(value) if not isinstance(value, date | datetime) else value.isoformat()
    return value


def entry_hash(entry: AuditEntry | SimpleNamespace) -> str:
    body = json.dumps(
        {"seq": entry.id, "at": entry.at.isoformat(), "actor": entry.actor,
         "entity": entry.entity, "entity_id": entry.entity_id, "action": entry.action,
         "reason": entry.reason, "before": entry.before, "after": entry.after},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256((entry.prev_hash + body).encode()).hexdigest()


def record(
    session: Session, actor: Actor, entity: str, entity_id: Any, action: str, *,
    reason: str = "", before: dict | None = None, after: dict | None = None,
) -> None:
    """Note an entry for a change; it joins the chain when the transaction commits (or at
    :func:`append_pending`), so taking the chain's lock is always the transaction's last lock
    (see claims.locks). An entry noted in a savepoint that is rolled back is dropped with it."""
    pending = session.info.setdefault(PENDING, [])
    # the entry's columns, stored in bulk at the end: an ORM object each cost more than the
    # change it records in a chunk of the evaluator's
    pending.append((session.get_nested_transaction() or session.get_transaction(),
                    SimpleNamespace(at=utcnow(), actor=actor.label, entity=entity,
                                    entity_id=str(entity_id), action=action, reason=reason,
                                    before=jsonable(before), after=jsonable(after))))


def append_pending(session: Session) -> int:
    """Append the session's noted entries to the chain, numbered and hashed in the order they
    were noted; flushes. Appends are serialised so the chain never forks (an advisory lock on
    PostgreSQL held to the commit; SQLite transactions already write one at a time)."""
    pending = session.info.pop(PENDING, None)
    if not pending:
        return 0
    advisory_xact_lock(session.connection(), CHAIN_LOCK)
    last = session.exec(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    number, previous = (last[0], last[1]) if last else (0, GENESIS)
    entries = [entry for _, entry in pending]
    for entry in entries:
        number += 1
        entry.id, entry.prev_hash = number, previous
        entry.hash = previous = entry_hash(entry)
    bulk.insert_columns(session, AuditEntry.__table__, {
        name: [getattr(entry, name) for entry in entries] for name in COLUMNS})
    return len(pending)


COLUMNS = ("id", "at", "actor", "entity", "entity_id", "action", "reason", "before", "after",
           "prev_hash", "hash")


PENDING = "fangpin.audit_pending"


@event.listens_for(OrmSession, "before_commit")
def _append_at_commit(session: OrmSession) -> None:
    if not session.in_nested_transaction():  # a savepoint's commit is not the end
        append_pending(session)


@event.listens_for(OrmSession, "after_soft_rollback")
def _drop_rolled_back(session: OrmSession, previous) -> None:
    pending = session.info.get(PENDING)
    if not pending:
        return

    def within(transaction) -> bool:
        while transaction is not None:
            if transaction is previous:
                return True
            transaction = transaction.parent
        return False

    session.info[PENDING] = [(t, e) for t, e in pending if not within(t)]


@event.listens_for(OrmSession, "after_transaction_end")
def _drop_unfinished(session: OrmSession, transaction) -> None:
    if transaction.parent is None:  # closed without a commit: its entries go with it
        session.info.pop(PENDING, None)


@dataclass(frozen=True)
class Verification:
    checked: int
    first_bad: int | None  # the id of the first entry altered, or after which one is missing
    problem: str  # empty when the chain is intact
    signed_count: int | None = None  # the entries a signed head vouched for, if one was given


def verify(session: Session, head: Any = None) -> Verification:
    """Walk the chain in order; report the first entry that was altered or removed. Given a
    signed head (claims.anchors.Head), the chain must also reach it and its entry at the
    head's count must carry the head's hash: that finds the newest entries removed, or a row
    altered with every hash after it recomputed, which the chain alone cannot."""
    previous_hash, expected_id, checked = GENESIS, 1, 0
    signed = head.count if head is not None else None
    rows = session.exec(select(AuditEntry).order_by(AuditEntry.id).execution_options(
        yield_per=1000))
    for entry in rows:
        if entry.id != expected_id:
            return Verification(checked, expected_id, f"entry {expected_id} is missing "
                                f"(the next one found is {entry.id})", signed)
        if entry.prev_hash != previous_hash:
            return Verification(checked, entry.id, f"entry {entry.id} does not follow the "
                                "previous entry (one before it was altered or removed)", signed)
        if entry_hash(entry) != entry.hash:
            return Verification(checked, entry.id, f"entry {entry.id} was altered", signed)
        if entry.id == signed and entry.hash != head.last_hash:
            return Verification(checked, entry.id, f"the chain up to entry {entry.id} is not "
                                f"the one signed at {head.at}: entries were altered and the "
                                "hashes after them recomputed", signed)
        previous_hash, expected_id, checked = entry.hash, expected_id + 1, checked + 1
    if signed is not None and checked < signed:
        return Verification(checked, checked + 1, f"the chain ends at entry {checked}, but "
                            f"{signed} entries were signed at {head.at}: entries "
                            f"{checked + 1}–{signed} were removed", signed)
    return Verification(checked, None, "", signed)
