"""The audit trail (审计日志): append-only entries, each chained to the previous one by a
SHA-256 hash, so altering or removing an entry is detected by ``fangpin audit verify``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from claims.auth import Actor
from claims.db import advisory_xact_lock
from claims.models import AuditEntry, utcnow

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


def entry_hash(entry: AuditEntry) -> str:
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
) -> AuditEntry:
    """Append an entry for a change; flushes. Appends are serialised so the chain never forks
    (an advisory lock on PostgreSQL; SQLite transactions already write one at a time)."""
    advisory_xact_lock(session.connection(), CHAIN_LOCK)
    last = session.exec(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    entry = AuditEntry(
        id=(last[0] + 1) if last else 1, at=utcnow(), actor=actor.label, entity=entity,
        entity_id=str(entity_id), action=action, reason=reason,
        before=jsonable(before), after=jsonable(after),
        prev_hash=last[1] if last else GENESIS, hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


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
