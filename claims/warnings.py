"""Early warnings for the office (预警): the list filtered by township, score and status, and
closing a warning with what the office did — one at a time or many at once, each closed and
audited on its own. The pages and the API call these functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import access, audit, masking
from claims.auth import SYSTEM, Actor
from claims.models import EarlyWarning, Household, Region, utcnow
from policies import registry
from policies.bulk import among
from policies.errors import Conflict, DomainError, InvalidInput

# What the office did about a warning (the outcome); a note may say more. Older warnings were
# closed with free text, which is kept as it is.
OUTCOMES = ("visited", "assisted", "monitored", "no_risk", "other")
# The night's own closing of a risk warning whose household is now the office's caseload.
CASELOAD = "caseload"
STATUSES = ("open", "closed")
BULK_LIMIT = 500  # warnings closed by one request at most
NOTE_LENGTH = 400


@dataclass
class WarningFilter:
    """Which warnings a list shows: a township of the user's area, a score range, a status
    (empty: every status) and a source (risk or event; empty: both)."""

    township: int | None = None
    min_score: float | None = None
    max_score: float | None = None
    status: str = "open"
    source: str = ""

    def check(self, actor: Actor) -> None:
        """Refuse a filter that names no real choice (422 naming the field); a township
        outside the actor's area selects nothing rather than telling it exists."""
        for field in ("min_score", "max_score"):
            value = getattr(self, field)
            if value is not None and not 0 <= value <= 1:
                raise InvalidInput(f"{field} {value} is not a risk score between 0 and 1",
                                   field=field, value=value)
        if (self.min_score is not None and self.max_score is not None
                and self.min_score > self.max_score):
            raise InvalidInput(f"min_score {self.min_score} is above max_score "
                               f"{self.max_score}", field="min_score", value=self.min_score)
        if self.status not in ("", *STATUSES):
            raise InvalidInput(f"status is open, closed or empty (every status), not "
                               f"{self.status!r}", field="status", value=self.status)
        if self.source not in ("", "risk", "event"):
            raise InvalidInput(f"source is risk, event or empty, not {self.source!r}",
                               field="source", value=self.source)


def townships_of(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """The townships a user may filter by: the user's own, or every one of the county."""
    rows = session.exec(select(Region.id, Region.name).where(Region.level == "township")
                        .order_by(Region.code)).all()
    if actor.villages is None:
        return [(i, n) for i, n in rows]
    mine = set(session.exec(select(Region.parent_id).where(
        Region.id.in_(actor.villages))).all())
    return [(i, n) for i, n in rows if i in mine]


def filtered(actor: Actor, f: WarningFilter, *columns, village=None):
    """The warnings of the actor's area that the filter selects (with ``columns`` beside
    each; ``village`` the alias of the household's village they may name), the riskiest
    first, then the newest."""
    f.check(actor)
    village = village if village is not None else sa.orm.aliased(Region)
    query = access.households_in_area(
        select(EarlyWarning, *columns).join(Household, Household.id == EarlyWarning.household_id)
        .join(village, village.id == Household.village_id), actor)
    if f.township is not None:
        query = query.where(village.parent_id == f.township)
    if f.min_score is not None:
        query = query.where(EarlyWarning.score >= f.min_score)
    if f.max_score is not None:
        query = query.where(EarlyWarning.score <= f.max_score)
    if f.status:
        query = query.where(EarlyWarning.status == f.status)
    if f.source:
        query = query.where(EarlyWarning.source == f.source)
    return query.order_by(EarlyWarning.score.desc().nulls_last(), EarlyWarning.id.desc())


def export_rows(session: Session, actor: Actor, f: WarningFilter, limit: int = 100_000):
    """The rows of an export: each warning with its household's number, village and
    township, and who closed it."""
    village, township = sa.orm.aliased(Region), sa.orm.aliased(Region)
    query = filtered(actor, f, Household.household_number, village.name, township.name,
                     village=village)
    return session.exec(query.join(township, township.id == village.parent_id)
                        .limit(limit)).all()


# What the office typed closing a warning (the note, or an older closing's free text) may name
# a person by ID number: every reader — the warnings page, its workbook, the API — gets it
# masked, as on a claim (lifecycle.texts).

def view(warning: EarlyWarning) -> dict[str, Any]:
    """A warning's fields as readers see them: any ID number in its outcome masked."""
    return {**registry.fields_of(warning), **masking.typed(warning)}


def outcome_parts(stored: str) -> tuple[str | None, str]:
    """A closed warning's outcome as (code, note), any ID number in the note masked; free
    text of older closings is (None, text)."""
    shown = masking.in_text(stored)
    code, sep, note = shown.partition(": ")
    if code in OUTCOMES or code == CASELOAD:
        return code, note if sep else ""
    return None, shown


def _outcome(outcome: str, note: str) -> tuple[str, str]:
    outcome, note = outcome.strip(), note.strip()
    if len(note) > NOTE_LENGTH:
        raise InvalidInput(f"note is {len(note)} characters; at most {NOTE_LENGTH}",
                           field="note", value=len(note), code="note_too_long",
                           values={"length": len(note), "limit": NOTE_LENGTH})
    if outcome in OUTCOMES:
        if outcome == "other" and len(note) < 2:
            raise InvalidInput("the outcome other needs a note of at least two characters "
                               "saying what the office did", field="note", value=note,
                               code="other_needs_note")
        return outcome, note
    # free text, as the API took it before outcomes had codes
    if len(outcome) < 2:
        raise InvalidInput(f"outcome is one of {', '.join(OUTCOMES)} (or what the office did, "
                           "at least two characters)", field="outcome", value=outcome)
    if note:  # (the refusal had asked for two characters of a ten-character outcome)
        raise InvalidInput(f"a note goes with an outcome of {', '.join(OUTCOMES)}; an outcome "
                           "in the office's own words says it all", field="note", value=note,
                           code="note_without_outcome")
    return outcome, ""


def close(session: Session, actor: Actor, warning: EarlyWarning, outcome: str,
          note: str = "") -> EarlyWarning:
    """Close one warning of the actor's area with an outcome and a note, on the audit trail
    (409 if it is closed already); flushes. A later run may raise a new one."""
    access.require_role(actor, access.OFFICE)
    code, note = _outcome(outcome, note)
    # Read again, locked: a copy read before (the API's, kept across its commit) had let two
    # closes at once both pass, two entries on the trail and the first outcome overwritten
    # (a hostile tester's).
    session.exec(select(EarlyWarning).where(EarlyWarning.id == warning.id).with_for_update()
                 .execution_options(populate_existing=True)).one()
    if warning.status != "open":
        raise Conflict(f"warning {warning.id} was closed on {warning.closed_at:%Y-%m-%d}"
                       if warning.closed_at else f"warning {warning.id} is {warning.status}",
                       field="status", value=warning.status)
    warning.status = "closed"
    warning.outcome = f"{code}: {note}" if note else code
    warning.closed_at, warning.closed_by = utcnow(), actor.id
    audit.record(session, actor, "early_warning", warning.id, "close",
                 reason=note or code, before={"status": "open"},
                 after={"status": "closed", "outcome": code, "note": note})
    session.flush()
    return warning


def close_caseload(session: Session, household_ids: list[int]) -> int:
    """Close the open risk warnings of households the night found below the line or
    monitored: the office's caseload, shown as such, no longer ranked among the new risks (a
    data team's households stayed ranked at their old scores after a line's rise), each on
    the audit trail; flushes. Returns how many."""
    if not household_ids:
        return 0
    found = session.exec(select(EarlyWarning).where(
        EarlyWarning.source == "risk", EarlyWarning.status == "open",
        among(session, EarlyWarning.household_id, household_ids))).all()
    now = utcnow()
    for warning in found:
        warning.status, warning.outcome, warning.closed_at = "closed", CASELOAD, now
        audit.record(session, SYSTEM, "early_warning", warning.id, "close",
                     reason=CASELOAD, before={"status": "open"},
                     after={"status": "closed", "outcome": CASELOAD})
    session.flush()
    return len(found)


def ids_matching(session: Session, actor: Actor, f: WarningFilter) -> list[int]:
    """The open warnings a filter selects, for closing them all: refused (422) when there
    are more than BULK_LIMIT, so one request never closes more than the office looked at."""
    f.status = "open"
    ids = list(session.exec(filtered(actor, f).with_only_columns(EarlyWarning.id)
                            .limit(BULK_LIMIT + 1)).all())
    if len(ids) > BULK_LIMIT:
        raise InvalidInput(f"the filter selects more than {BULK_LIMIT} open warnings; narrow "
                           "it (a township, a score range) and close them in parts",
                           field="all", value=len(ids))
    return ids


@dataclass
class Closed:
    """What became of one warning of a bulk close: closed, or the refusal."""

    warning_id: int
    household_number: str | None
    error: DomainError | None = None

    @property
    def done(self) -> bool:
        return self.error is None


def close_many(session: Session, actor: Actor, warning_ids: list[int], outcome: str,
               note: str = "") -> list[Closed]:
    """Close each warning through :func:`close`, each in a savepoint of its own: one that
    cannot be closed (closed already, not in the area) is listed with the reason and the
    others are closed. Flushes; the caller commits."""
    access.require_role(actor, access.OFFICE)
    _outcome(outcome, note)  # a bad outcome refuses the whole request, before any warning
    if not warning_ids:
        raise InvalidInput("choose at least one warning", field="warning_ids", value=0)
    if len(warning_ids) > BULK_LIMIT:
        raise InvalidInput(f"{len(warning_ids)} warnings at once; at most {BULK_LIMIT}",
                           field="warning_ids", value=len(warning_ids))
    results = []
    for warning_id in dict.fromkeys(warning_ids):
        try:
            with session.begin_nested():
                warning = access.warning(session, actor, warning_id)
                number = session.get(Household, warning.household_id).household_number
                close(session, actor, warning, outcome, note)
            results.append(Closed(warning_id, number))
        except DomainError as refused:  # not in the area, closed already: listed
            results.append(Closed(warning_id, None, refused))
    return results
