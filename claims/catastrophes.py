"""Catastrophes (巨灾/灾害事件): a flood or an earthquake declared over some regions and dates,
so that its loss reports are handled as one event.

- **Declared** by the office or an insurer supervisor (county-wide work): kind, the regions
  affected (a county or township means every village below it), the dates and the emergency
  management department's reference; changed or closed later, each on the audit trail.
- **Tagged**: a trigger event of a disaster's kinds (:data:`TAGGED_TYPES`) whose household
  lives in an affected village and whose date falls within the catastrophe's belongs to it;
  where two hold an event, the one its details name by reference (``details.catastrophe_
  reference``), else the one of its kind, else the first declared (:func:`_catastrophe_of`).
  :func:`tag` does both in one UPDATE, on a declaration or change (the reports already there)
  and after the evaluator matched new events to households.
- **Figures** of one catastrophe, for the reader's area (claims.access): affected households,
  events, claims by state and township, amounts entitled and paid (its reports' part of each
  claim they are on, so that no amount counts under two catastrophes) and, county-wide only,
  the fund of each contract involved.
- **A team's visit to a village** recorded as the survey of each of the catastrophe's claims
  there (claims.bulk's one-claim steps: each claim its own record and audit entry).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from claims import access, audit, bulk, clock, lifecycle, locks, masking
from claims.auth import Actor
from claims.models import (
    Catastrophe,
    CatastropheVillage,
    Claim,
    Household,
    PolicyContract,
    Region,
    TriggerEvent,
    utcnow,
)
from policies import benefits, fund
from policies.benefits import EventIn
from policies.bulk import among
from policies.errors import Conflict, InvalidInput, NotFound
from policies.types import Day, Money, Text
from policies.vocab import DisasterKind, RegionLevel

# The losses a natural disaster causes: the household's own, its house, its crops and herds.
TAGGED_TYPES = ("disaster", "housing", "industry")
REFERENCE = "catastrophe_reference"  # the event's detail that names a catastrophe
RANK_SPAN = 2**40  # above any catastrophe's id
# A disaster event's details.kind as a department writes it (洪涝, flood) → its DisasterKind.
KIND_SPELLINGS = {spelling: str(kind) for spelling, kind in DisasterKind.lookup().items()}
DECLARERS = access.OFFICE
SURVEYORS = frozenset(lifecycle.ACTIONS["submit_survey"].roles)
AREA_LEVELS = (RegionLevel.county, RegionLevel.township, RegionLevel.village)
S = lifecycle.S
TO_START = (S.opened, S.reopened)  # the visit starts their investigation, then surveys them
TO_SURVEY = (*TO_START, S.investigating)
NOT_PAYABLE = (S.rejected, S.withdrawn)
TAG_CHUNK = 5000  # events tagged per statement (SQLite binds at most 32,766 values)
SURVEY_LIMIT = 500  # claims one visit's record names (the page's and the API's)


Public = Annotated[Text, AfterValidator(masking.no_personal_number)]  # every user reads it


class CatastropheIn(BaseModel):
    """A declaration: what struck, where and when, and the department's reference."""

    model_config = ConfigDict(extra="forbid")
    name: Public = Field(min_length=1, max_length=128, description="e.g. 2026年7月禹州洪涝")
    kind: DisasterKind
    regions: list[int] = Field(min_length=1, max_length=500, description=(
        "region ids: the county, townships or villages affected"))
    start_date: Day
    end_date: Day | None = Field(default=None, description="empty: still going on")
    reference: Public | None = Field(default=None, min_length=1, max_length=64, description=(
        "the emergency management department's reference; its events may name it in "
        "details.catastrophe_reference"))


class CatastropheChange(BaseModel):
    """A change of a declaration: only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    name: Public | None = Field(default=None, min_length=1, max_length=128)
    kind: DisasterKind | None = None
    regions: list[int] | None = Field(default=None, min_length=1, max_length=500)
    start_date: Day | None = None
    end_date: Day | None = None
    reference: Public | None = Field(default=None, min_length=1, max_length=64)


def snapshot(catastrophe: Catastrophe) -> dict[str, Any]:
    """What was declared: the audit trail's before and after."""
    return {"name": catastrophe.name, "kind": catastrophe.kind,
            "reference": catastrophe.reference, "regions": list(catastrophe.regions),
            "start_date": catastrophe.start_date, "end_date": catastrophe.end_date}


def get(session: Session, catastrophe_id: int) -> Catastrophe:
    """A catastrophe, or NotFound (404); every staff member may read one."""
    found = session.get(Catastrophe, catastrophe_id)
    if found is None:
        raise NotFound(f"catastrophe {catastrophe_id} does not exist", field="id",
                       value=catastrophe_id)
    return found


def listing(session: Session) -> list[Catastrophe]:
    """Every catastrophe, the latest first."""
    return list(session.exec(select(Catastrophe).order_by(Catastrophe.start_date.desc(),
                                                          Catastrophe.id.desc())).all())


def _may_declare(actor: Actor) -> None:
    access.require_role(actor, DECLARERS)
    access.require_county(actor, "a catastrophe")


def villages_of(session: Session, regions: Iterable[int]) -> set[int]:
    """The villages of some regions: a village itself, a township's, a county's."""
    regions = list(regions)
    township = sa.orm.aliased(Region)
    return set(session.exec(select(Region.id).outerjoin(
        township, township.id == Region.parent_id).where(
        Region.level == RegionLevel.village,
        sa.or_(Region.id.in_(regions), Region.parent_id.in_(regions),
               township.parent_id.in_(regions)))).all())


def place_village(session: Session, village: Region) -> None:
    """A village registered after a declaration is in every catastrophe declared over its
    township or county, open or closed (a late report of its days is still tagged): "a
    county or township means every village below it", then as when it was declared. A new
    village has no households yet, so no report to tag. Flushes."""
    if village.level != RegionLevel.village:
        return
    township = session.get(Region, village.parent_id) if village.parent_id else None
    above = {village.parent_id, township.parent_id if township else None} - {None}
    session.add_all([CatastropheVillage(catastrophe_id=c.id, village_id=village.id)
                     for c in session.exec(select(Catastrophe).order_by(Catastrophe.id))
                     if above & set(c.regions)])
    session.flush()


def _check(session: Session, catastrophe: Catastrophe, today: date) -> None:
    if catastrophe.start_date > today:
        raise InvalidInput(f"start_date {catastrophe.start_date} is in the future",
                           field="start_date", value=catastrophe.start_date,
                           code="start_in_future")
    if catastrophe.end_date is not None and catastrophe.end_date < catastrophe.start_date:
        raise InvalidInput(f"end_date {catastrophe.end_date} is before start_date "
                           f"{catastrophe.start_date}", field="end_date",
                           value=catastrophe.end_date, code="end_before_start",
                           values={"start": catastrophe.start_date})
    levels = dict(session.exec(select(Region.id, Region.level).where(
        Region.id.in_(catastrophe.regions))).all())
    for region in catastrophe.regions:
        if levels.get(region) not in AREA_LEVELS:
            raise InvalidInput(f"region {region} is not a county, township or village",
                               field="regions", value=region, code="not_an_area")
    if catastrophe.reference is not None:
        # stored as typed on an ordinary keyboard: full-width letters and digits as ASCII,
        # no spaces around
        catastrophe.reference = unicodedata.normalize("NFKC", catastrophe.reference).strip()
        if not catastrophe.reference:
            raise InvalidInput("reference is empty: give the department's reference or none",
                               field="reference", code="empty")
    if catastrophe.reference is not None and any(
            _reference_key(other) == _reference_key(catastrophe.reference)
            for other in session.exec(select(Catastrophe.reference).where(
                Catastrophe.reference.is_not(None), Catastrophe.id != (catastrophe.id or 0)))
            if other is not None):
        # a look-alike (yj-2026-07 beside YJ-2026-07) would split one catastrophe's reports
        raise Conflict(f"reference {catastrophe.reference} names another catastrophe already",
                       field="reference", value=catastrophe.reference,
                       code="reference_taken", values={"reference": catastrophe.reference})


def _place(session: Session, catastrophe: Catastrophe) -> None:
    """Keep the villages of the declared regions."""
    session.execute(sa.delete(CatastropheVillage).where(
        CatastropheVillage.catastrophe_id == catastrophe.id))
    session.add_all([CatastropheVillage(catastrophe_id=catastrophe.id, village_id=v)
                     for v in sorted(villages_of(session, catastrophe.regions))])
    session.flush()


# What decides which reports a catastrophe holds: a change of anything else (its name, its
# kind) tags nothing afresh.
TAGGING = ("regions", "start_date", "end_date", "reference")


def _declared_once(session: Session, catastrophe: Catastrophe) -> None:
    """Refuse a second declaration of the same kind over the same regions from the same
    day (a form sent twice, or a change that makes one the copy of another): the first
    declared takes every report both hold, so the second would never be given one."""
    villages = villages_of(session, catastrophe.regions)  # [4, 36] or [36, 4, 5] alike
    same = next((c for c in session.exec(select(Catastrophe).where(
        Catastrophe.kind == catastrophe.kind, Catastrophe.start_date == catastrophe.start_date))
        if c is not catastrophe and villages_of(session, c.regions) == villages), None)
    if same is not None:
        raise Conflict(f"catastrophe {same.id} ({same.name}) is declared already over the same "
                       "regions, of the same kind, from the same day", field="regions",
                       value=same.id, code="duplicate_declaration", values={"name": same.name})


def declare(session: Session, actor: Actor, data: CatastropheIn, *,
            today: date | None = None) -> Catastrophe:
    """Declare a catastrophe and tag the reports already received in its area and dates;
    flushes."""
    _may_declare(actor)
    catastrophe = Catastrophe(**{**data.model_dump(), "regions": list(dict.fromkeys(
        data.regions))}, declared_by=actor.id if actor.kind == "user" else None)
    _check(session, catastrophe, today or clock.county_today())
    _declared_once(session, catastrophe)
    session.add(catastrophe)
    session.flush()
    _place(session, catastrophe)
    tagged = tag(session, None)
    audit.record(session, actor, "catastrophe", catastrophe.id, "declare",
                 after={**snapshot(catastrophe), "events_tagged": tagged})
    return catastrophe


def _open(session: Session, actor: Actor, catastrophe_id: int) -> Catastrophe:
    """A catastrophe the actor may change: still open (409 once closed)."""
    _may_declare(actor)
    catastrophe = get(session, catastrophe_id)
    if catastrophe.status == "closed":
        raise Conflict(f"catastrophe {catastrophe_id} is closed", field="status",
                       value=catastrophe.status, code="catastrophe_closed")
    return catastrophe


def change(session: Session, actor: Actor, catastrophe_id: int, data: CatastropheChange, *,
           today: date | None = None) -> Catastrophe:
    """Change an open catastrophe's declaration; a new area or new dates tag its reports
    afresh (those now outside it lose the tag). Flushes."""
    catastrophe = _open(session, actor, catastrophe_id)
    before = snapshot(catastrophe)
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is None and name not in ("end_date", "reference"):
            raise InvalidInput(f"{name} cannot be empty", field=name)
        setattr(catastrophe, name, list(dict.fromkeys(value)) if name == "regions" else value)
    # checked before the row is written: a reference taken by another catastrophe is a
    # refusal naming it, not the database's unique constraint failing at an autoflush
    with session.no_autoflush:
        _check(session, catastrophe, today or clock.county_today())
        _declared_once(session, catastrophe)
    session.add(catastrophe)
    session.flush()
    after = snapshot(catastrophe)
    changed = [k for k in after if after[k] != before[k]]
    if "regions" in changed:
        _place(session, catastrophe)
    # every report's catastrophe worked out again only when what decides it changed (a
    # rename once moved reports between catastrophes), and how many moved is on the trail
    moved = tag(session, None) if set(changed) & set(TAGGING) else 0
    if changed:
        audit.record(session, actor, "catastrophe", catastrophe.id, "update",
                     before={k: before[k] for k in changed},
                     after={**{k: after[k] for k in changed},
                            **({"events_retagged": moved} if moved else {})})
    return catastrophe


def close(session: Session, actor: Actor, catastrophe_id: int, end_date: date | None = None,
          *, today: date | None = None) -> Catastrophe:
    """Close a catastrophe: its end date fixed (the one given, the declared one, or today);
    late reports of its days are still tagged. Flushes."""
    catastrophe = _open(session, actor, catastrophe_id)
    before = snapshot(catastrophe)
    today = today or clock.county_today()
    catastrophe.end_date = end_date or catastrophe.end_date or today
    if catastrophe.end_date > today:
        # closed, it could never be changed again, and would tag reports until that day
        raise InvalidInput(f"end_date {catastrophe.end_date} is in the future: close a "
                           "catastrophe on or after its last day", field="end_date",
                           value=catastrophe.end_date, code="end_in_future")
    _check(session, catastrophe, today)
    catastrophe.status, catastrophe.closed_at = "closed", utcnow()
    session.add(catastrophe)
    session.flush()
    moved = tag(session, None) if catastrophe.end_date != before["end_date"] else 0
    # its status too: the trail had shown a closing as a change of its end date (a tester's)
    audit.record(session, actor, "catastrophe", catastrophe.id, "close",
                 before={"status": "open", "end_date": before["end_date"]},
                 after={"status": catastrophe.status, "end_date": catastrophe.end_date,
                        **({"events_retagged": moved} if moved else {})})
    return catastrophe


# --- tagging ------------------------------------------------------------------------------------

def _catastrophe_of():
    """An event's catastrophe, as SQL over the row being updated. Of a household found: of
    the catastrophes whose villages hold it and whose dates hold the event's date (for a
    disaster's kinds of event), the one its details name by reference, else one of the kind
    its details say, else the first declared; a reference naming a catastrophe that does not
    hold the household names none (a mistyped one had split a flood's loss across two
    catastrophes, and an earlier drought took a flood's reports). Of a household not found
    yet: the one its reference names, if its dates hold the event's date."""
    event = TriggerEvent.__table__.c
    within = (Catastrophe.start_date <= event.event_date,
              sa.or_(Catastrophe.end_date.is_(None), Catastrophe.end_date >= event.event_date))
    reference = event.payload[("details", REFERENCE)].as_string()
    kind = sa.case(KIND_SPELLINGS, value=event.payload[("details", "kind")].as_string(),
                   else_=None)
    named = select(Catastrophe.id).where(Catastrophe.reference == reference, *within
                                         ).scalar_subquery()
    # the least of (named, of its kind, id) as one number: SQLite cannot read the row being
    # updated in a subquery's ORDER BY
    span = sa.literal(RANK_SPAN, sa.BigInteger)
    rank = (sa.case((Catastrophe.reference == reference, 0), else_=2)
            + sa.case((Catastrophe.kind == kind, 0), else_=1)) * span + Catastrophe.id
    in_area = select(sa.func.min(rank) % span).join(
        CatastropheVillage, CatastropheVillage.catastrophe_id == Catastrophe.id).join(
        Household, Household.village_id == CatastropheVillage.village_id).where(
        Household.id == event.household_id, event.type.in_(TAGGED_TYPES), *within
    ).scalar_subquery()
    return sa.case((event.household_id.is_(None), named), else_=in_area)


def _holds(begins: date, ends: date | None, day: date) -> bool:
    """Whether a catastrophe's dates (no end: still going on) hold a day, as ``within`` of
    :func:`_catastrophe_of` says it in SQL."""
    return begins <= day and (ends is None or day <= ends)


def catastrophes_of(session: Session, events: list, village_of: dict[int, int]
                    ) -> dict[int, int | None]:
    """Each of a chunk of the evaluator's events' catastrophe by the rule of
    :func:`_catastrophe_of`, so that settling an event writes it in the same UPDATE (a
    second UPDATE of the rows just settled ran every foreign key's check again on
    PostgreSQL). ``events`` have id, type, event_date, payload and household_id;
    ``village_of`` gives each household's village. test_catastrophes holds the two readings
    of the rule equal."""
    if session.exec(select(Catastrophe.id).limit(1)).first() is None:
        return {}
    named = {str(e.payload.get("details", {}).get(REFERENCE)) for e in events
             if e.household_id is None
             and e.payload.get("details", {}).get(REFERENCE) is not None}
    references = {reference: (catastrophe, begins, ends) for reference, catastrophe, begins, ends
                  in session.exec(select(Catastrophe.reference, Catastrophe.id,
                                         Catastrophe.start_date, Catastrophe.end_date).where(
                      Catastrophe.reference.in_(sorted(named)))).all()} if named else {}

    villages = sorted({village_of[e.household_id] for e in events
                       if e.household_id in village_of and e.type in TAGGED_TYPES})
    areas: dict[int, list[tuple[int, date, date | None, str, str | None]]] = {}
    for start in range(0, len(villages), TAG_CHUNK):
        for village, catastrophe, begins, ends, kind, reference in session.exec(
                select(CatastropheVillage.village_id, Catastrophe.id, Catastrophe.start_date,
                       Catastrophe.end_date, Catastrophe.kind, Catastrophe.reference)
                .join(Catastrophe, Catastrophe.id == CatastropheVillage.catastrophe_id)
                .where(among(session, CatastropheVillage.village_id,
                             villages[start:start + TAG_CHUNK]))
                .order_by(Catastrophe.id)):
            areas.setdefault(village, []).append((catastrophe, begins, ends, kind, reference))
    found: dict[int, int | None] = {}
    for e in events:
        details = e.payload.get("details", {})
        reference = details.get(REFERENCE)
        if e.household_id is None:
            by_reference = references.get(str(reference)) if reference is not None else None
            found[e.id] = by_reference[0] if by_reference and _holds(
                *by_reference[1:], e.event_date) else None
            continue
        kind = KIND_SPELLINGS.get(details.get("kind")) if isinstance(
            details.get("kind"), str) else None
        held = [(c, other, reference_of) for c, begins, ends, other, reference_of
                in areas.get(village_of.get(e.household_id, 0), ()) if e.type in TAGGED_TYPES
                and _holds(begins, ends, e.event_date)]
        found[e.id] = min(held, key=lambda c: (
            reference is None or c[2] != str(reference), kind is None or c[1] != kind, c[0]
        ))[0] if held else None
    return found


def tag(session: Session, event_ids: Iterable[int] | None) -> int:
    """Tag events with their catastrophe (or untag those no longer in one): the given events,
    or every event when None. Set-based: one UPDATE (per TAG_CHUNK events) on both databases;
    only rows whose catastrophe changes are written. Returns how many changed."""
    if session.exec(select(Catastrophe.id).limit(1)).first() is None:
        return 0  # nothing declared: no event is, or was, tagged (the evaluator's usual case)
    table = TriggerEvent.__table__

    def statement(*criteria):
        # each event's catastrophe worked out once, in a derived table (UPDATE … FROM): set
        # and compared in place, its subqueries ran twice a row
        found = sa.select(table.c.id.label("event_id"), _catastrophe_of().label("new")).where(
            *criteria).subquery()
        return sa.update(table).values(catastrophe_id=found.c.new).where(
            table.c.id == found.c.event_id, table.c.catastrophe_id.is_distinct_from(found.c.new))

    if event_ids is None:
        # every event: in the evaluator's turn, so that the two never write one event at once
        from claims.intake import hold_evaluation  # (intake calls this module)

        hold_evaluation(session)
        return session.execute(statement()).rowcount
    ids = list(event_ids)
    return sum(session.execute(statement(table.c.id.in_(ids[start:start + TAG_CHUNK])))
               .rowcount for start in range(0, len(ids), TAG_CHUNK))


def _reference_key(reference: str) -> str:
    """A reference as declarations and reports are compared: as typed on an ordinary keyboard
    (NFKC), no spaces around, any case."""
    return unicodedata.normalize("NFKC", reference).strip().casefold()


class References:
    """The catastrophe references one intake call accepts in ``details.catastrophe_reference``:
    read once, and once more when an event names one not seen yet (a catastrophe declared
    since)."""

    def __init__(self, session: Session) -> None:
        self.session, self.read = session, False
        self.known: dict[str, tuple[str, date, date | None]] = {}

    def check(self, event: EventIn) -> None:
        """Refuse a reference naming no catastrophe, or one whose dates do not hold the
        event's; one written otherwise than declared (yj-2026-07, full-width, spaces around:
        the declaration refuses these as look-alikes) is stored as declared (it had refused
        the loss report whole)."""
        reference = event.details.get(REFERENCE)
        if reference is None:
            return
        reference = str(reference)
        key = _reference_key(reference)
        if key not in self.known and not self.read:
            self.known = {_reference_key(r): (r, begins, ends) for r, begins, ends in
                          self.session.exec(select(Catastrophe.reference, Catastrophe.start_date,
                                                   Catastrophe.end_date)) if r is not None}
            self.read = True
        if key not in self.known:
            raise InvalidInput(f"details.{REFERENCE} {reference!r} names no declared "
                               "catastrophe: ask the office to declare it, or leave it out",
                               field=f"details.{REFERENCE}", value=reference)
        declared, begins, ends = self.known[key]
        event.details[REFERENCE] = declared
        if not _holds(begins, ends, event.event_date):
            # a loss of another day is not this catastrophe's, whoever names it
            raise InvalidInput(
                f"details.{REFERENCE} {reference!r} names a catastrophe from {begins} to "
                f"{ends or 'today'}; the event of {event.event_date} is not within it",
                field=f"details.{REFERENCE}", value=reference)


# --- figures ------------------------------------------------------------------------------------

@dataclass
class Township:
    name: str
    households: int = 0
    events: int = 0
    claims: int = 0
    entitled: Decimal = Decimal("0.00")
    paid: Decimal = Decimal("0.00")


@dataclass
class FundLine:
    """A contract's fund as of today, with what the catastrophe's claims still have due."""

    contract_number: str
    position: fund.FundPosition
    due: Decimal  # entitled, not yet paid, on the catastrophe's part of its claims there
    # (the year's other payouts projected + the catastrophe's paid and due) / premium
    projected_loss_ratio: Decimal | None


@dataclass
class Village:
    id: int
    name: str
    township: str
    to_survey: int
    in_notice: int


@dataclass
class Figures:
    households: int
    events: int
    claims: int
    entitled: Decimal
    paid: Decimal
    by_state: list[tuple[str, int, Decimal, Decimal]]  # state, claims, entitled, paid
    townships: list[Township]
    villages: list[Village]
    funds: list[FundLine] | None  # None: county-wide data, not for a limited reader
    limited: bool = False
    unmatched: int = 0  # reports tagged (by reference) not matched to a household yet


def _claim_ids(catastrophe_id: int):
    return select(TriggerEvent.claim_id).where(TriggerEvent.catastrophe_id == catastrophe_id,
                                               TriggerEvent.claim_id.is_not(None))


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _parts(session: Session, catastrophe_id: int) -> dict[int, tuple[Decimal, Decimal]]:
    """Each of the catastrophe's claims with the part of it the catastrophe's reports carry,
    as (of, out of). A claim is a household's year of one trigger: it may also hold a report
    of another catastrophe, or of none (a drought in June, a hail in August on a July flood's
    claim), and counting the whole claim under each catastrophe counted its money twice. The
    parts are the reports' payouts (what each added to the claim as it came); a claim whose
    reports added nothing is shared by their number."""
    events = TriggerEvent.__table__
    mine = events.c.catastrophe_id == catastrophe_id
    payout = sa.func.coalesce(events.c.payout, 0)
    parts = {}
    for claim_id, own, every, own_n, every_n in session.execute(
            select(events.c.claim_id,
                   sa.type_coerce(sa.func.sum(sa.case((mine, payout), else_=0)), Money()),
                   sa.type_coerce(sa.func.sum(payout), Money()),
                   sa.func.sum(sa.case((mine, 1), else_=0)), sa.func.count())
            .where(events.c.claim_id.in_(_claim_ids(catastrophe_id)))
            .group_by(events.c.claim_id)):
        own, every = _money(own), _money(every)
        parts[claim_id] = (own, every) if every > 0 else (Decimal(own_n), Decimal(every_n))
    return parts


def _part(amount, part: tuple[Decimal, Decimal]) -> Decimal:
    of, out_of = part
    return _money(amount) if of == out_of else (_money(amount) * of / out_of).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP)


def figures(session: Session, actor: Actor, catastrophe: Catastrophe, *,
            today: date | None = None) -> Figures:
    """The catastrophe's figures within the actor's area. Its money is its reports' part of
    each claim they are on (:func:`_parts`), so that no amount counts under two
    catastrophes."""
    today = today or clock.county_today()
    village, township = sa.orm.aliased(Region), sa.orm.aliased(Region)
    towns: dict[int, Township] = {}
    for town_id, name, households, events in session.exec(access.households_in_area(
            select(township.id, township.name,
                   sa.func.count(sa.distinct(TriggerEvent.household_id)),
                   sa.func.count(TriggerEvent.id))
            .join(Household, Household.id == TriggerEvent.household_id)
            .join(village, village.id == Household.village_id)
            .join(township, township.id == village.parent_id)
            .where(TriggerEvent.catastrophe_id == catastrophe.id), actor)
            .group_by(township.id, township.name)).all():
        towns[town_id] = Township(name, households, events)
    parts = _parts(session, catastrophe.id)
    states: dict[str, list] = {}
    due: dict[int, list[Decimal]] = {}  # contract: due, paid
    for state, entitled, paid, contract_id, town_id, name, claim_id, cut in session.exec(
            access.households_in_area(
                select(Claim.state, Claim.entitled, Claim.paid_amount, Claim.contract_id,
                       township.id, township.name, Claim.id,
                       Claim.calculation[lifecycle.CUT].as_string())
                .join(Household, Household.id == Claim.household_id)
                .join(village, village.id == Household.village_id)
                .join(township, township.id == village.parent_id)
                .where(Claim.id.in_(_claim_ids(catastrophe.id))), actor)).all():
        entitled, paid = _part(entitled, parts[claim_id]), _part(paid, parts[claim_id])
        town = towns.setdefault(town_id, Township(name))
        # a rejected or withdrawn claim is owed nothing: counted, its amount not (a hostile
        # tester's headline had counted 15,600 of them among what the flood was owed)
        town.claims, town.entitled, town.paid = (
            town.claims + 1, town.entitled + (Decimal("0.00") if state in NOT_PAYABLE
                                              else entitled), town.paid + paid)
        row = states.setdefault(state, [state, 0, Decimal("0.00"), Decimal("0.00")])
        row[1:] = row[1] + 1, row[2] + entitled, row[3] + paid
        owed = due.setdefault(contract_id, [Decimal("0.00"), Decimal("0.00")])
        # what an approval cut is not owed (lifecycle.earlier_cut)
        owed[0] += Decimal("0.00") if state in NOT_PAYABLE else max(
            entitled - paid - _part(Decimal(cut or "0.00"), parts[claim_id]), Decimal("0.00"))
        owed[1] += paid
    order = {s: i for i, s in enumerate(lifecycle.S)}
    by_state = sorted((tuple(row) for row in states.values()),
                      key=lambda row: order.get(row[0], len(order)))
    villages = [Village(*row) for row in session.exec(access.households_in_area(
        select(village.id, village.name, township.name,
               sa.func.sum(sa.case((Claim.state.in_(TO_SURVEY), 1), else_=0)),
               sa.func.sum(sa.case((Claim.state == S.public_notice, 1), else_=0)))
        .join(Household, Household.id == Claim.household_id)
        .join(village, village.id == Household.village_id)
        .join(township, township.id == village.parent_id)
        .where(Claim.id.in_(_claim_ids(catastrophe.id))), actor)
        .group_by(village.id, village.name, township.name)
        .order_by(township.name, village.name)).all()]
    # a report naming the catastrophe is tagged before (or without) its household being
    # found: in no township, so counted for the whole county only
    unmatched = 0 if access.limited(actor) else session.exec(
        select(sa.func.count(TriggerEvent.id)).where(
            TriggerEvent.catastrophe_id == catastrophe.id,
            TriggerEvent.household_id.is_(None))).one()
    households = session.exec(access.households_in_area(
        select(sa.func.count(sa.distinct(TriggerEvent.household_id)))
        .join(Household, Household.id == TriggerEvent.household_id)
        .where(TriggerEvent.catastrophe_id == catastrophe.id), actor)).one()
    return Figures(
        households=households, events=sum(t.events for t in towns.values()) + unmatched,
        unmatched=unmatched,
        claims=sum(row[1] for row in by_state),
        entitled=sum((row[2] for row in by_state if row[0] not in NOT_PAYABLE),
                     Decimal("0.00")),
        paid=sum((row[3] for row in by_state), Decimal("0.00")), by_state=by_state,
        townships=sorted(towns.values(), key=lambda t: t.name), villages=villages,
        funds=None if access.limited(actor) else _funds(session, due, today),
        limited=access.limited(actor))


def _funds(session: Session, due: dict[int, list[Decimal]], today: date) -> list[FundLine]:
    """Each contract the catastrophe's claims are under (``due``: what its part of them has
    due and has been paid): its fund (benefits.fund_position, as /contracts/{id}/fund) and
    the loss ratio projected with what the catastrophe has due. The fund projects the year's
    payouts at their daily rate so far; the catastrophe's own are a loss of once, so they
    are taken out of that projection and counted once (else each payment of a claim already
    counted as due raised the ratio again, the more the earlier in the year)."""
    lines = []
    numbers = dict(session.exec(select(PolicyContract.id, PolicyContract.contract_number)
                                .where(PolicyContract.id.in_(list(due)))).all())
    for contract_id in sorted(due, key=lambda c: numbers[c]):
        owed, paid = due[contract_id]
        position = benefits.fund_position(session, contract_id, today)
        paid = min(paid, position.payouts)  # what the policy year's fund has paid of it
        others = fund.project(position.payouts - paid, position.days_elapsed,
                              position.days_in_year)
        ratio = None if not position.premium else (
            (others + paid + owed) / position.premium).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP)
        lines.append(FundLine(numbers[contract_id], position, owed, ratio))
    return lines


# --- a team's visit to a village ----------------------------------------------------------------

def survey_claims(session: Session, actor: Actor, catastrophe: Catastrophe,
                  village_id: int) -> list[Claim]:
    """The catastrophe's claims of a village of the actor's area that wait for a survey
    (403 for a village outside the area)."""
    village = session.get(Region, village_id)
    if village is None or village.level != RegionLevel.village:
        raise InvalidInput(f"village {village_id} does not exist", field="village_id",
                           value=village_id, code="not_a_village")
    access.require_village(actor, village_id)
    return list(session.exec(select(Claim).join(Household, Household.id == Claim.household_id)
                             .where(Household.village_id == village_id,
                                    Claim.id.in_(_claim_ids(catastrophe.id)),
                                    Claim.state.in_(TO_SURVEY))
                             .order_by(Claim.claim_number)).all())


class _Refused(Exception):
    def __init__(self, result: bulk.Result) -> None:
        self.result = result


def survey_village(session: Session, actor: Actor, catastrophe_id: int, village_id: int,
                   survey: dict[str, Any], claim_ids: list[int] | None = None, *,
                   today: date | None = None) -> list[bulk.Result]:
    """Record one team's visit as the survey (入户调查) of each chosen claim of the
    catastrophe in a village (every one waiting, by default): a claim not yet under
    investigation has it started by the visiting investigator first. Each claim takes its
    steps in a savepoint of its own, with its own record and audit entries; one that cannot
    is listed with the reason. Flushes."""
    access.require_role(actor, SURVEYORS)
    if claim_ids is not None and not claim_ids:
        raise InvalidInput("choose at least one claim (or none, for every claim waiting)",
                           field="claim_ids", code="choose_claims")
    if claim_ids is not None and len(claim_ids) > SURVEY_LIMIT:
        raise InvalidInput(f"{len(claim_ids)} claims chosen: a visit's record names at most "
                           f"{SURVEY_LIMIT}", field="claim_ids", code="too_many_claims",
                           values={"count": len(claim_ids), "limit": SURVEY_LIMIT})
    catastrophe = get(session, catastrophe_id)
    waiting = survey_claims(session, actor, catastrophe, village_id)
    form = lifecycle.parse_step(lifecycle.ACTIONS["submit_survey"], survey)  # a bad form: 422
    # the team's one visit: a date to come is the form's fault, not each claim's
    lifecycle.refuse_future_visit(form.visit_date, today or clock.county_today())
    chosen = waiting if claim_ids is None else [c for c in waiting if c.id in set(claim_ids)]
    locks.claims(session, [c.id for c in chosen])  # in id order: see bulk._step
    results = [bulk.Result(claim_id, None, "refused", "not_found", {}, f"claim {claim_id} is "
                           "not one of this catastrophe's claims waiting for a survey here")
               for claim_id in dict.fromkeys(claim_ids or ()) if claim_id not in
               {c.id for c in waiting}]
    for claim in chosen:
        try:
            with session.begin_nested():
                if claim.state in TO_START:
                    started = bulk._step(session, actor, claim.id, "start_investigation", {},
                                         today=today)
                    if started.outcome == "refused":
                        raise _Refused(started)
                done = bulk._step(session, actor, claim.id, "submit_survey", survey,
                                  today=today)
                if done.outcome == "refused":
                    raise _Refused(done)
            results.append(done)
        except _Refused as refused:
            results.append(refused.result)
    return results
