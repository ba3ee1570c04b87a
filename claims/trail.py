"""Searching the audit trail (审计查询): by claim, by who acted, by the kind of record and by
the county's dates, newest first, a page at a time. The trail holds millions of entries, so
each search walks an index in order (``ix_audit_entry_at``, ``ix_audit_entry_actor_at``,
``ix_audit_entry_entity_at``, or the one on the entity's number) and pages by the last entry
shown (a keyset), never by counting or skipping rows. County-wide: refused to a user limited
to some townships, as the API's audit routes are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import clock
from claims.auth import Actor, require_county
from claims.models import AuditEntry

PAGE = 50


@dataclass(frozen=True)
class Search:
    claim: str = ""  # a claim's number (entity claim)
    actor: str = ""  # who: a username, or a label as stored (user:…, client:…, system)
    entity: str = ""  # the kind of record
    since: date | None = None  # the county's dates, both included
    until: date | None = None


def actor_label(who: str) -> str:
    """The trail's label for what a reader typed: a username stands for ``user:<name>``."""
    who = who.strip()
    return who if ":" in who or who == "system" else f"user:{who}"


def query(search: Search):
    """The entries a search asks for, newest first (by time, then by number)."""
    found = select(AuditEntry)
    if search.claim.strip():
        found = found.where(AuditEntry.entity == "claim",
                            AuditEntry.entity_id == search.claim.strip())
    if search.entity:
        found = found.where(AuditEntry.entity == search.entity)
    if search.actor.strip():
        found = found.where(AuditEntry.actor == actor_label(search.actor))
    if search.since:
        found = found.where(AuditEntry.at >= clock.county_start(search.since))
    if search.until:
        found = found.where(AuditEntry.at < clock.county_start(search.until + timedelta(days=1)))
    return found.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def older_than(found, last: AuditEntry):
    """Entries after ``last`` in the newest-first order: a row comparison, which the index
    seeks to (an OR of two comparisons would be read through from the newest entry)."""
    return found.where(sa.tuple_(AuditEntry.at, AuditEntry.id) < (last.at, last.id))


def search(session: Session, actor: Actor, wanted: Search, before: int | None = None,
           size: int = PAGE) -> tuple[list[AuditEntry], int | None]:
    """A page of entries and the number of its last entry when older ones follow (None when
    this is the last page); ``before`` continues after that entry."""
    require_county(actor, "the audit trail")
    found = query(wanted)
    if before is not None:
        last = session.get(AuditEntry, before)
        if last is not None:
            found = older_than(found, last)
    rows = list(session.exec(found.limit(size + 1)).all())
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)
