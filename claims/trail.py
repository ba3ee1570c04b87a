"""Searching the audit trail (审计查询): by claim, by who acted, by the kind of record and by
the county's dates, newest first, a page at a time. The trail holds millions of entries, so
each search walks an index in order (``ix_audit_entry_at``, ``ix_audit_entry_actor_at``,
``ix_audit_entry_entity_at``, or the one on the entity's number) and pages by the last entry
shown (a keyset), never by counting or skipping rows. County-wide: refused to a user limited
to some townships, as the API's audit routes are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import clock, masking
from claims.auth import Actor, require_county
from claims.models import AppUser, AuditEntry
from policies.errors import InvalidInput

PAGE = 50
# The kinds of record on the trail (AuditEntry.entity), which a search may be limited to.
ENTITIES = ("claim", "household", "member", "income_record", "trigger_event", "payment",
            "payment_batch", "policy_contract", "terms_version", "monitoring_line",
            "national_standard", "region", "user", "api_client", "document", "early_warning",
            "elimination", "follow_up", "household_import", "income_import", "catastrophe",
            "risk_model", "annual_records_import", "lines_import", "shocks_import")
# Fields masked again when read: the trail stores them masked, but an entry written before
# that was so (a corrected ID number's) holds them in full, and its hash keeps it as it is.
# Reading the trail reveals no household (a household's page does, on the trail), so none is
# read in full.
PERSONAL = ("id_number", "bank_account", "phone", "birth_date")


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


def who_was_typed(session: Session, typed: str) -> str:
    """What a reader typed as "who": a username or a label as stored, or a person's full name,
    which stands for their username (unless it is someone's username too)."""
    typed = typed.strip()
    if typed and ":" not in typed and typed != "system":
        named = session.exec(select(AppUser.username).where(AppUser.full_name == typed)).first()
        if named and session.exec(select(AppUser.id).where(
                AppUser.username == typed)).first() is None:
            return named
    return typed


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
    if wanted.entity and wanted.entity not in ENTITIES:
        raise InvalidInput(f"kind {wanted.entity!r} is not a kind of record on the trail",
                           field="kind", value=wanted.entity, code="unknown_kind")
    found = query(wanted)
    if before is not None:
        last = session.get(AuditEntry, before)
        if last is not None:
            found = older_than(found, last)
    rows = list(session.exec(found.limit(size + 1)).all())
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)


def masked(key: str, value: Any) -> Any:
    """A value of an entry's before or after as every reader gets it: a personal field masked
    by its kind, any ID number, card or mobile number in a text masked."""
    if key in PERSONAL and isinstance(value, str):
        return masking.FIELDS[key](value)
    if isinstance(value, dict):
        return {masking.in_text(str(k)): masked(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(key, v) for v in value]
    return masking.in_text(value) if isinstance(value, str) else value


def view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API gives it, masked as the audit page shows it."""
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "entity": entry.entity,
            "entity_id": entry.entity_id, "action": entry.action,  # stored masked if personal
            "reason": masking.in_text(entry.reason) if entry.reason else entry.reason,
            "before": masked("", entry.before), "after": masked("", entry.after)}
