"""Trigger-event intake (预警信息接收): departments report shocks; each is checked and stored
exactly once per source id, and answered at once (accepted, duplicate, rejected). Moments later
the evaluator matches it to a covered household and applies the terms in force: a payable event
opens (or adds to) the household's claim for that trigger and year; one over the warning
threshold raises an early warning; an unknown person waits in quarantine.

Storing and evaluating are separate so that a department's burst of bills costs it one insert
each, while the evaluation, which reads the household's whole year, runs in bulk. Both take
their locks in the one order written down in claims.locks."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, select

from claims import audit, catastrophes, clock, lifecycle, locks, masking, reasons, remit
from claims.auth import SYSTEM, Actor
from claims.db import unindexed, write_turn
from claims.models import (
    Claim,
    ClaimRecord,
    ClaimState,
    EarlyWarning,
    EventStatus,
    Household,
    InsuredHousehold,
    Member,
    PolicyContract,
    Region,
    TermsVersion,
    TriggerEvent,
    utcnow,
)
from policies import benefits, bulk, calculator, registry
from policies.benefits import EventIn
from policies.errors import Conflict, InvalidInput
from policies.terms import BUILTIN_EVENT_TYPES
from policies.types import STORED
from policies.vocab import ContractStatus, HouseholdStatus, InsuredBasis, MemberStatus
from risk.models import SHOCK_IMPORTED, Shock
from risk.shocks import burden as shock_burden

MAX_BATCH = 10_000
STORE_CHUNK = 1000  # events stored per statement and, with commit_chunk, per transaction
MAX_RUNS = 16  # calculations of one household-year in a chunk (see _runs)
YEAR_BACK = timedelta(days=367)  # a policy year's longest, and the day before it
EARLIER_BILL = ("dated before reports already counted, its loss counts first and moves theirs "
                "up the deductible and bands: the year grew by %(amount)s with it")
# Households are spread over BUCKETS by id; an evaluator holds the PostgreSQL advisory locks of
# the buckets it evaluates (BUCKET_LOCK + bucket; audit's is 1, the nightly runs' 3 and 4).
BUCKETS = 32
BUCKET_LOCK = 100
MEDICAL_PAID = ("basic_insurance_paid", "critical_illness_paid", "medical_assistance_paid",
                "other_insurance_paid")


@dataclass(slots=True)
class Outcome:
    """What became of one submitted event; a duplicate returns the first outcome."""

    source_event_id: str
    result: str  # accepted (stored for evaluation) | duplicate | rejected | conflict
    event_id: int | None = None
    status: str | None = None
    reason: str = ""
    field: str | None = None
    claim_number: str | None = None
    payout: Decimal | None = None
    warning: bool = False


def check_event(event: EventIn, today: date) -> None:
    """Rules every event must meet before it is stored; raises InvalidInput naming the field."""
    if event.event_date > today:
        raise InvalidInput(f"event_date {event.event_date} is in the future",
                           field="event_date", value=event.event_date)
    if event.id_number is None:
        raise InvalidInput("id_number is required: it identifies the person or household",
                           field="id_number")
    kind = BUILTIN_EVENT_TYPES.get(event.type)
    if kind is not None:
        for name in event.amounts:
            if name not in kind["amounts"]:
                raise InvalidInput(f"{event.type} events have no amount {name!r}; their "
                                   f"amounts are {', '.join(kind['amounts']) or 'none'}",
                                   field=f"amounts.{name}", value=event.amounts[name])
        # A detail of another name was stored and shown to staff as it came (a patient's
        # phone under "contact"), and a department's file refuses the same column.
        for name in event.details:
            if name not in kind["details"]:
                raise InvalidInput(f"{event.type} events have no detail {name!r}; their "
                                   f"details are {', '.join(kind['details']) or 'none'}",
                                   field=f"details.{name}")
    if event.type == "illness":
        total = event.amounts.get("total_cost")
        if total is None:
            raise InvalidInput("an illness event needs total_cost", field="amounts.total_cost")
        paid = sum((event.amounts.get(k, Decimal(0)) for k in MEDICAL_PAID), Decimal(0))
        if paid > total:
            raise InvalidInput(f"the amounts do not add up: insurers and assistance paid {paid},"
                               f" more than the total cost {total}", field="amounts",
                               value=str(paid))
        stay = {}
        for name in ("admission_date", "discharge_date"):
            if event.details.get(name):
                try:
                    stay[name] = date.fromisoformat(str(event.details[name]))
                except ValueError:
                    raise InvalidInput(f"{name} must be YYYY-MM-DD", field=f"details.{name}",
                                       value=event.details[name]) from None
                if stay[name] > today:  # a stay is reported after it began and ended
                    raise InvalidInput(f"{name} {stay[name]} is in the future",
                                       field=f"details.{name}", value=stay[name])
        if len(stay) == 2 and stay["discharge_date"] < stay["admission_date"]:
            raise InvalidInput(f"discharge_date {stay['discharge_date']} is before "
                               f"admission_date {stay['admission_date']}",
                               field="details.discharge_date", value=stay["discharge_date"])
    if event.type == "disability":
        if str(event.details.get("grade", "")) not in {"1", "2", "3", "4"}:
            raise InvalidInput("a disability event needs details.grade 1-4",
                               field="details.grade", value=event.details.get("grade"))


def payload_of(event: EventIn) -> dict[str, Any]:
    """The event as stored and compared: a zero amount is the same as a missing one, and a
    detail is text whether it came from JSON or from a file cell."""
    return {"event_id": event.event_id, "type": event.type,
            "event_date": event.event_date.isoformat(), "id_number": event.id_number,
            "amounts": {k: f"{v:.2f}" for k, v in event.amounts.items() if v},
            "details": {k: str(v) for k, v in event.details.items()}}


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical(payload: dict[str, Any]) -> str:
    """The payload as JSON text with sorted keys: what is hashed, and what is stored."""
    return _CANONICAL.encode(payload)


def digest(text: str) -> str:
    """The hash a repeat of an event is compared by, of its canonical text."""
    return hashlib.sha256(text.encode()).hexdigest()


def _differences(stored: dict[str, Any], sent: dict[str, Any]) -> list[str]:
    fields = []
    for key in sorted(set(stored) | set(sent)):
        a, b = stored.get(key), sent.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            fields += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            fields.append(key)
    return fields


def outcome_of(event: TriggerEvent, claim_number: str | None, result: str | None = None):
    return Outcome(event.source_event_id, result or event.status, event.id, event.status,
                   event.reason, None, claim_number, event.payout, event.warning)


_known_types: frozenset[str] = frozenset(BUILTIN_EVENT_TYPES)


def forget_known_types() -> None:
    global _known_types
    _known_types = frozenset(BUILTIN_EVENT_TYPES)


def event_types(session: Session) -> frozenset[str]:
    """Every event type: built in, or declared by a stored terms version."""
    types = set(BUILTIN_EVENT_TYPES)
    for version in session.exec(select(TermsVersion)):
        types.update(benefits.terms_of(version).event_types)
    return frozenset(types)


class KnownTypes:
    """The event types one call accepts: built in or declared by stored terms. Terms versions
    are only ever added, so the stored terms are read again only when an event names a type
    not seen yet, and at most once a call (a batch of 10,000 unknown types reads them once)."""

    def __init__(self, session: Session) -> None:
        self.session, self.types, self.read = session, _known_types, False

    def check(self, event: EventIn) -> None:
        global _known_types
        if event.type not in self.types and not self.read:
            self.types = _known_types = event_types(self.session)
            self.read = True
        if event.type not in self.types:
            raise InvalidInput(f"unknown event type {event.type!r}; known: "
                               f"{', '.join(sorted(self.types))}", field="type",
                               value=event.type)


def refuse_conflict(outcome: Outcome) -> Outcome:
    """A single event's conflict is an error (409), not an outcome (a batch's is)."""
    if outcome.result == "conflict":
        raise Conflict(outcome.reason, field=outcome.field, value=outcome.source_event_id)
    return outcome


def receive(session: Session, actor: Actor, raw_events: list[Any],
            today: date | None = None,
            commit_chunk: Callable[[], None] | None = None) -> list[Outcome]:
    """A batch: every event is checked on its own (a bad one never blocks the rest) and the
    good ones are stored for evaluation, STORE_CHUNK at a time; one outcome per event;
    flushes. ``commit_chunk`` (the handler's commit) commits each chunk within its turn at
    writing (db.write_turn): on SQLite a single event then waits for at most the one chunk
    being written, not for the whole batch nor for other batches (each event is stored once
    whatever the chunks, so a batch cut short is simply sent again)."""
    with _bulk:
        return _receive(session, actor, raw_events, today or clock.county_today(), commit_chunk)


# One batch checked and stored at a time in a process: the checks are Python and hold the
# interpreter, so batches side by side only slow the chunk that holds the write turn (and the
# single events waiting for it) without storing any sooner.
_bulk = threading.Lock()


def _receive(session: Session, actor: Actor, raw_events: list[Any], today: date,
             commit_chunk: Callable[[], None] | None) -> list[Outcome]:
    known = KnownTypes(session)
    references = catastrophes.References(session)
    outcomes: list[Outcome | None] = [None] * len(raw_events)
    good: list[tuple[int, EventIn]] = []
    for index, raw in enumerate(raw_events):
        source_id = str(raw.get("event_id", f"#{index}")) if isinstance(raw, dict) else \
            f"#{index}"
        try:
            event = EventIn.model_validate(raw)
            check_event(event, today)
            known.check(event)
            remit.check(actor, event)
            references.check(event)
        except ValidationError as exc:
            error = exc.errors()[0]
            outcomes[index] = Outcome(source_id, "rejected", field=".".join(
                str(p) for p in error["loc"]), reason=error["msg"].removeprefix("Value error, "))
            continue
        except InvalidInput as exc:
            outcomes[index] = Outcome(source_id, "rejected", reason=exc.message,
                                      field=exc.field)
            continue
        good.append((index, event))
    for start in range(0, len(good), STORE_CHUNK):
        chunk = good[start:start + STORE_CHUNK]
        with write_turn(session.get_bind()):
            stored = store_checked(session, actor, [event for _, event in chunk])
            if commit_chunk is not None:
                commit_chunk()
        for (index, _), outcome in zip(chunk, stored, strict=True):
            outcomes[index] = outcome
    return outcomes


def _insert_new(session: Session, actor: Actor, events: list[EventIn], texts: list[str],
                hashes: list[str]) -> dict[str, int]:
    """Insert the events whose source id is new; returns source id → row id of those
    inserted (a concurrent or earlier copy is left alone)."""
    return dict(bulk.insert_new_returning(session, TriggerEvent.__table__, {
        "source_event_id": [e.event_id for e in events],
        "payload_hash": hashes, "payload": texts,
        "type": [e.type for e in events], "id_number": [e.id_number for e in events],
        "event_date": [e.event_date for e in events],
    }, same={"client_id": actor.id, "status": EventStatus.received.value,
             "received_at": utcnow(), "warning": False, "reason": ""},
        unique=("client_id", "source_event_id"), returning=("source_event_id", "id"),
        stored=frozenset({"payload"})))


def store_checked(session: Session, actor: Actor, events: list[EventIn]) -> list[Outcome]:
    """Store checked events for evaluation, one per source id; a repeat (in this call or of
    an earlier one) is compared with the first and answered with its outcome so far."""
    firsts: dict[str, int] = {}
    for index, event in enumerate(events):
        firsts.setdefault(event.event_id, index)
    texts = [canonical(payload_of(event)) for event in events]
    hashes = [digest(text) for text in texts]
    new = list(firsts.values())
    inserted = _insert_new(session, actor, [events[i] for i in new], [texts[i] for i in new],
                           [hashes[i] for i in new])
    earlier = [source_id for source_id in firsts if source_id not in inserted]
    stored: dict[str, TriggerEvent] = {}
    for start in range(0, len(earlier), 1000):
        stored.update((e.source_event_id, e) for e in session.exec(select(TriggerEvent).where(
            TriggerEvent.client_id == actor.id,
            TriggerEvent.source_event_id.in_(earlier[start:start + 1000]))))
    claim_numbers = dict(session.execute(select(Claim.id, Claim.claim_number).where(
        Claim.id.in_({e.claim_id for e in stored.values() if e.claim_id}))).all()) \
        if stored else {}
    outcomes = []
    for index, event in enumerate(events):
        source_id = event.event_id
        if source_id in inserted and firsts[source_id] == index:
            outcomes.append(Outcome(source_id, "accepted", inserted[source_id],
                                    EventStatus.received))
            continue
        if source_id in inserted:
            first_hash = hashes[firsts[source_id]]
            first_payload = payload_of(events[firsts[source_id]])
            first = Outcome(source_id, "duplicate", inserted[source_id], EventStatus.received)
        else:
            row = stored[source_id]
            first_hash, first_payload = row.payload_hash, row.payload
            first = outcome_of(row, claim_numbers.get(row.claim_id), "duplicate")
        if first_hash != hashes[index]:
            fields = _differences(first_payload, payload_of(event)) or ["payload"]
            outcomes.append(Outcome(
                source_id, "conflict", field=fields[0],
                reason=f"event {source_id} was already received with other content; "
                       f"differing fields: {', '.join(fields)}"))
        else:
            outcomes.append(first)
    return outcomes


@dataclass
class Lane:
    """One of ``of`` evaluators side by side (评估通道): it takes the events of the households
    whose buckets are ``index`` modulo ``of`` (an unmatched event's bucket is its own id's), so
    every household's events are still taken by one evaluator, in order. ``after`` is the last
    event it took this round; lanes run in processes of their own (``fangpin evaluate
    --lanes``), as one process evaluates at a time."""

    index: int
    of: int
    after: int = 0
    taken: int = 0  # the last event of the chunk in progress: ``after`` once it is committed

    def __post_init__(self) -> None:
        if not 1 <= self.of <= BUCKETS:
            raise InvalidInput(f"lanes: from 1 to {BUCKETS} side by side (got {self.of})",
                               field="lanes", value=self.of)
        if not 0 <= self.index < self.of:
            raise InvalidInput(f"lane {self.index + 1} of {self.of}: lanes are counted from 1 "
                               f"to {self.of}", field="lane", value=self.index + 1)

    @property
    def buckets(self) -> list[int]:
        return [b for b in range(BUCKETS) if b % self.of == self.index]

    def criteria(self) -> list:
        """What picks this lane's waiting events, after the last it took."""
        if self.of == 1:
            return [TriggerEvent.status == EventStatus.received, TriggerEvent.id > self.after]
        household = sa.select(Member.household_id).where(
            Member.id_number == TriggerEvent.id_number).scalar_subquery()
        return [TriggerEvent.status == EventStatus.received, TriggerEvent.id > self.after,
                (sa.func.coalesce(household, TriggerEvent.id) % BUCKETS).in_(self.buckets)]


def hold_evaluation(session: Session, buckets: list[int] | None = None) -> None:
    """Take the evaluator's advisory locks of ``buckets`` (all of them: no evaluator runs
    meanwhile), in order, so that one evaluator at a time takes a household's events
    (PostgreSQL; SQLite writes one transaction at a time)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        keys = sorted(BUCKET_LOCK + b for b in (range(BUCKETS) if buckets is None else buckets))
        connection.execute(sa.text(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), k) "
            "FROM unnest(CAST(:keys AS integer[])) AS k"), {"keys": keys})


def evaluate_received(session: Session, limit: int = 500, lane: Lane | None = None) -> int:
    """Evaluate the oldest events still waiting (of ``lane``'s households), in the order they
    arrived; returns how many. One evaluator at a time takes a household's events (the
    advisory locks of its buckets), so they are always taken in order. Each household-year's
    new events are assessed together, a calculation over the year's events a run (see _runs:
    one, unless bills dated earlier arrive after later ones), deciding exactly as one event at
    a time would. Flushes."""
    lane = lane or Lane(0, 1)
    hold_evaluation(session, lane.buckets if lane.of > 1 else None)
    # A lane locks the events it takes: a member who moved household meanwhile may have
    # moved an event between two lanes' buckets, and it is still evaluated once.
    events = event_rows(session, *lane.criteria(), limit=limit, lock=lane.of > 1)
    if not events:
        return 0
    _evaluate(session, events)
    session.flush()
    lane.taken = events[-1].id
    return len(events)


class EventRow(SimpleNamespace):
    """A trigger event as the evaluator reads and settles it: its columns, read and written
    back in bulk, since an ORM object each cost the evaluator more than the rules did;
    ``read`` keeps the settled columns as they were read."""

    def changed(self, name: str) -> bool:
        return getattr(self, name) != self.read[name]


# What the evaluator reads of an event, and what evaluating it writes.
READ = ("id", "client_id", "source_event_id", "payload", "type", "id_number", "event_date",
        "status", "reason", "member_id", "household_id", "contract_id", "claim_id", "payout",
        "warning", "same_loss_of", "catastrophe_id", "received_at")
SETTLED = ("status", "reason", "payout", "member_id", "household_id", "contract_id",
           "claim_id", "warning", "same_loss_of", "catastrophe_id")


def event_rows(session: Session, *criteria, limit: int | None = None,
               lock: bool = False) -> list[EventRow]:
    """The events meeting ``criteria``, oldest first, as the evaluator's rows (flushes);
    ``lock``: locked for update (PostgreSQL), those changed meanwhile left out."""
    session.flush()
    table = TriggerEvent.__table__
    query = sa.select(*(table.c[name] for name in READ)).where(*criteria).order_by(table.c.id)
    if limit is not None:
        query = query.limit(limit)
    if lock:
        query = query.with_for_update(of=table)
    rows = [EventRow(**dict(zip(READ, row, strict=True))) for row in session.execute(query)]
    for row in rows:
        row.read = {name: getattr(row, name) for name in SETTLED}
    return rows


def _settle(session: Session, events: list[EventRow]) -> None:
    """Write what evaluating the events decided, in bulk; an ORM copy of one that the session
    holds (a replay's) is expired so that it reads the outcome. Only the columns that some
    event changed are written: on SQLite, setting same_loss_of (a key into the same table)
    rewrote every index of the row and checked every key, six times what the rest cost."""
    table = TriggerEvent.__table__
    changed = [name for name in SETTLED if any(e.changed(name) for e in events)]
    bulk.update_columns(session, table, "id", {
        "id": [e.id for e in events],
        **{name: [getattr(e, name) for e in events] for name in changed}})
    ids = {e.id for e in events}
    for held in [o for o in session.identity_map.values()
                 if isinstance(o, TriggerEvent) and o.id in ids]:
        session.expire(held)


def _evaluate(session: Session, events: list[EventRow]) -> None:
    """Match events to households and contracts (in arrival order), then assess each
    household-year's accepted ones together; the caller flushes."""
    waiting = all(e.status == EventStatus.received for e in events)
    cache = Cache()
    cache.prefetch(session, events)
    years: dict[tuple[int, int], list[TriggerEvent]] = {}
    with session.no_autoflush:  # everything it reads was prefetched; write once at the end
        for event in events:
            key = _match(session, event, cache)
            if key is not None:
                years.setdefault(key, []).append(event)
        contracts = {c.id: c for county in cache.contracts.values() for c in county}
        for (household_id, contract_id), new in years.items():
            contract = contracts[contract_id]
            year = cache.year_events[(household_id, contract_id)]
            for run in _runs(year, new):
                _assess(session, cache.households[household_id], contract, run,
                        year[:year.index(run[-1]) + 1], cache)
        for (household_id, contract_id), reason in _carried_onward(cache, years).items():
            # a member's bill dated before her events in a household she moved to: that
            # household's claims count her year again
            _assess(session, cache.households[household_id], contracts[contract_id], [],
                    cache.year_events[(household_id, contract_id)], cache, reason=reason)
    _store_opened(session, [claim for claim, _ in cache.opened.values()], SYSTEM, "event")
    for claim, mine in cache.opened.values():
        for event in mine:
            event.claim_id = claim.id
    for again, first in cache.same_losses:
        again.claim_id = first.claim_id
    tags = catastrophes.catastrophes_of(session, events, {
        h.id: h.village_id for h in cache.households.values()})
    for event in events:
        event.catastrophe_id = tags.get(event.id, event.catastrophe_id)
    _settle(session, events)
    bulk.insert_columns(session, EarlyWarning.__table__, {
        "household_id": [w[0] for w in cache.warnings], "trigger": [w[1] for w in cache.warnings],
        "event_id": [w[2] for w in cache.warnings], "text": [w[3] for w in cache.warnings],
        "source": ["event"] * len(cache.warnings), "status": ["open"] * len(cache.warnings),
        "outcome": [""] * len(cache.warnings), "created_at": [utcnow()] * len(cache.warnings)})
    record_shocks(session, events, waiting)


def _carried_onward(cache: Cache, years: dict[tuple[int, int], list[EventRow]]
                    ) -> dict[tuple[int, int], str]:
    """The household-years, assessed in no run of this call, that hold events of a member
    who moved dated after one of her new events elsewhere: what they carried of her year
    has changed. With the reason their claims change."""
    onward: dict[tuple[int, int], str] = {}
    if not cache.moved:  # a surge's chunk: nobody moved
        return onward
    for (household_id, contract_id), new in years.items():
        for person in {e.id_number for e in new} & cache.moved.keys():
            mine = [e for e in new if e.id_number == person]
            first = min((e.event_date, e.id) for e in mine)
            for other in sorted(cache.moved[person] - {household_id}):
                if (other, contract_id) not in years and any(
                        e.id_number == person and (e.event_date, e.id) > first
                        for e in cache.year_events.get((other, contract_id), ())):
                    onward[(other, contract_id)] = (f"{_naming(mine)}, of a member in another "
                                                    "household")
    return onward


def _runs(year: list[EventRow], new: list[EventRow]) -> list[list[EventRow]]:
    """A household-year's new events cut into runs that one calculation each assesses exactly
    as it would one event at a time. An event dated after every event that arrived before it
    only adds to the end of the year (the calculator takes events by date, then arrival): it
    joins the run before it. One dated earlier changes what came before: it starts a run of its
    own, calculated over the events that had arrived by then. Mostly a single run.

    A burst of one household-year's bills arriving against date order would take a
    calculation of the whole year each, the square of their number: after MAX_RUNS runs the
    rest of the chunk joins the last run. Its claims, statuses and warnings are still exact;
    its events share what the year grew by as _share says, not each its own growth."""
    runs: list[list[TriggerEvent]] = []
    latest = None
    first_new = year.index(new[0])
    for event in year[:first_new]:
        latest = max(latest, (event.event_date, event.id)) if latest else (
            event.event_date, event.id)
    for event in new:
        key = (event.event_date, event.id)
        if runs and (latest is not None and key >= latest or len(runs) == MAX_RUNS):
            runs[-1].append(event)
        else:
            runs.append([event])
        latest = max(latest, key) if latest else key
    return runs


def record_shocks(session: Session, events: list[EventRow], waiting: bool = False) -> None:
    """One row of the risk model's shock ledger (风险事件台账) per event matched to a
    household, in bulk, exactly once: an event already in the ledger (a replay, a
    re-evaluation) and a loss already reported (same_loss) add none. ``waiting``: the events
    were all waiting for their first evaluation, so none can be in the ledger (an event is
    recorded only as it leaves the queue, which it does once). Known on the county's date the event
    was received, or today if it is matched only now (a quarantined event replayed days later
    had been known to the nights before, which did not know whose it was); flushes."""
    matched = [e for e in events if e.household_id is not None
               and e.status != EventStatus.same_loss]
    if not matched:
        return
    shocks = Shock.__table__
    session.flush()
    recorded = set() if waiting else set(session.execute(sa.select(shocks.c.reference).where(
        shocks.c.reference.in_([str(e.id) for e in matched]),
        shocks.c.source == "event")).scalars())
    new = [e for e in matched if str(e.id) not in recorded]
    # A loss the county's history file brought in already (the import refuses the other
    # order): the same household, kind and day, one shock (the score counted a bill twice).
    imported = set(session.execute(sa.select(
        shocks.c.household_id, shocks.c.kind, shocks.c.occurred_on).where(
        shocks.c.source == SHOCK_IMPORTED,
        bulk.among(session, shocks.c.household_id, sorted({e.household_id for e in new}))))
    ) if new else set()
    new = [e for e in new if (e.household_id, e.type, e.event_date) not in imported]
    today = clock.county_today()
    bulk.insert_columns(session, shocks, {
        "household_id": [e.household_id for e in new],
        "member_id": [e.member_id for e in new],
        "kind": [e.type for e in new],
        "occurred_on": [e.event_date for e in new],
        "known_on": [max(clock.county_date(e.received_at), today) for e in new],
        "burden": [shock_burden(e.type, e.payload.get("amounts", {})) for e in new],
        "disability_grade": [_grade(e) for e in new],
        "source": ["event"] * len(new),
        "reference": [str(e.id) for e in new],
    })


def _grade(event: EventRow) -> int | None:
    grade = str(event.payload.get("details", {}).get("grade", ""))
    return int(grade) if event.type == "disability" and grade in {"1", "2", "3", "4"} else None


def _claim_number(session: Session, claim_id: int | None) -> str | None:
    if claim_id is None:
        return None
    return session.get(Claim, claim_id).claim_number


class Cache:
    """What one intake call reads again and again: each county's contracts and each
    village's county. Lives for one call only, so it never outlives a change."""

    def __init__(self) -> None:
        self.contracts: dict[int, list[PolicyContract]] = {}
        self.covering: dict[tuple[int, date], PolicyContract | None] = {}  # (county, day)
        self.county_of: dict[int, int] = {}
        self.parent: dict[int, int | None] = {}  # region → parent, of the villages read
        self.lines: dict[tuple[int, int], Decimal | None] = {}
        self.members: dict[str, Any] | None = None  # by ID number: id, household, status
        # member → her households before changes recorded since a year before the chunk's
        # first day began
        self.moves: dict[int, list[tuple[date, int]]] = {}
        # ID number → the households of a member who moved within that year: her events in
        # each count to one year of hers (carried)
        self.moved: dict[str, set[int]] = {}
        self.quotes: dict[tuple[int, int, int], tuple[calculator.Quote, dict]] = {}
        self.households: dict[int, Any] = {}  # rows: id, status, village, type, category
        self.flags: dict[int, frozenset[str]] = {}
        self.incomes: dict[int, list[tuple]] = {}
        self.paid: dict[int, dict[int, date]] = {}
        self.year_events: dict[tuple[int, int], list[EventRow]] = {}
        self.claims: dict[int, list[Claim | NewClaim]] | None = None  # by household
        # (contract, household) named insured: the day named (None: from the start)
        self.named: dict[tuple[int, int], date | None] | None = None
        self.terms: dict[int, tuple] = {}  # terms version id → (version, terms)
        self.values: dict[int, calculator.TriggerEvent] = {}  # event id → calculator's value
        self.losses: dict[tuple[int, int], dict[tuple, list[EventRow]]] = {}
        # claims opened by the batch, stored at its end, with their events: by id(claim)
        self.opened: dict[int, tuple[NewClaim, list[EventRow]]] = {}
        self.same_losses: list[tuple[EventRow, EventRow]] = []  # (again, first)
        self.warnings: list[tuple[int, str, int, str]] = []  # household, trigger, event, text

    def household_of(self, member: Any, day: date) -> int:
        """The member's household as the day began (registry.household_on)."""
        moves = self.moves.get(member.id)
        return member.household_id if moves is None else registry.household_on(
            moves, member.household_id, day - timedelta(days=1))

    def terms_of(self, session: Session, contract: PolicyContract) -> tuple:
        """The contract's terms version and terms, read once a call."""
        if contract.terms_version_id not in self.terms:
            version = benefits.get_terms_version(session, contract.terms_version_id)
            self.terms[contract.terms_version_id] = (version, benefits.terms_of(version))
        return self.terms[contract.terms_version_id]

    def snapshot(self, session: Session, household: Any, contract: PolicyContract
                 ) -> calculator.HouseholdSnapshot:
        """What the calculator knows of a household under a contract, from the prefetch;
        covering_contract has already checked that a naming contract names it."""
        return benefits.household_snapshot(
            session, household.id, household=household, policy_year=contract.policy_year,
            contract=contract, lines=self.lines, incomes=self.incomes, named=True,
            flags=self.flags, paid=self.paid,
            named_on=(self.named or {}).get((contract.id, household.id)))

    def elsewhere(self, session: Session, contract: PolicyContract, household_id: int,
                  events: list[EventRow]) -> list[calculator.Elsewhere]:
        """The events of the year's members who moved, judged in their other households
        under the contract: what each counted and was paid there (calculator.Elsewhere)."""
        persons = {e.id_number for e in events if e.id_number in self.moved}
        carried: list[calculator.Elsewhere] = []
        for other in sorted({h for p in persons for h in self.moved[p]} - {household_id}):
            year = self.year_events.get((other, contract.id), [])
            if not any(e.id_number in persons for e in year):
                continue
            key = (other, contract.id, len(year))
            if key not in self.quotes:
                _, terms = self.terms_of(session, contract)
                by_key = {f"{e.id:012d}": e for e in year}
                for name, e in by_key.items():
                    if e.id not in self.values:
                        self.values[e.id] = benefits.stored_event(e.payload, name)
                self.quotes[key] = (calculator.calculate(
                    terms, self.snapshot(session, self.households[other], contract),
                    [self.values[e.id] for e in year]), by_key)
            carried += carried_from(*self.quotes[key], persons, {
                c.id for c in (self.claims or {}).get(other, ())
                if isinstance(c, Claim) and c.approved_amount > 0})
        return carried

    def same_loss(self, key: tuple[int, int], event: EventRow) -> EventRow | None:
        """The household-year's accepted event that reported the same loss as ``event``, if
        any; otherwise ``event`` is noted as that loss's first report."""
        loss = loss_of(event)
        if loss is None:
            return None
        losses = self.losses.get(key)
        if losses is None:
            losses = self.losses[key] = {}
            for earlier in self.year_events[key]:
                losses.setdefault(loss_of(earlier), []).append(earlier)
        for first in losses.get(loss, ()):
            if _is_same_loss(first, event):
                return first
        losses.setdefault(loss, []).append(event)
        return None

    def _prefetch_lines(self, session: Session, days: set[date]) -> None:
        """The monitoring line of every affected village for the years of the contracts
        that cover the events' days (another year's is read when asked for)."""
        villages = sorted({h.village_id for h in self.households.values()})
        years = {year for year, start, end in session.exec(select(
            PolicyContract.policy_year, PolicyContract.start_date, PolicyContract.end_date)
            .where(PolicyContract.status.in_([ContractStatus.active, ContractStatus.closed])))
            if any(start <= day <= end for day in days)}
        amounts: dict[int, Decimal | None] = {}  # by line: most villages share their county's
        for year in years:
            for village, line in registry.applicable_lines(session, villages, year,
                                                           self.parent).items():
                if line is not None and line.id not in amounts:
                    amounts[line.id] = registry.line_view(session, line)["amount"]
                self.lines[(village, year)] = None if line is None else amounts[line.id]

    def _prefetch_regions(self, session: Session, villages: set[int]) -> None:
        """The villages' regions up to the province, in one statement: the county of each
        village (a village's parent is its township) and the parents a line is inherited
        through. Reading every region instead cost a province's whole tree each chunk."""
        region = Region.__table__
        up = sa.select(region.c.id, region.c.parent_id).where(
            bulk.among(session, region.c.id, villages)).cte("up", recursive=True)
        up = up.union(sa.select(region.c.id, region.c.parent_id).join(
            up, region.c.id == up.c.parent_id))
        self.parent.update(session.execute(sa.select(up.c.id, up.c.parent_id)).all())
        for village in villages:
            county = self.parent.get(self.parent.get(village) or 0)
            if county is not None:
                self.county_of[village] = county

    def prefetch(self, session: Session, events: list[EventRow]) -> None:
        """Read the members, households and claims (locked in the order of claims.locks),
        incomes and earlier events that a batch's evaluation needs, in bulk."""
        numbers = sorted({e.id_number for e in events})
        self.members = {}
        for start in range(0, len(numbers), 1000):
            self.members.update((m.id_number, m) for m in session.execute(
                sa.select(Member.id, Member.household_id, Member.status, Member.id_number)
                .where(bulk.among(session, Member.id_number, numbers[start:start + 1000]))))
        # Judged in the household she belonged to as each event's day began: a bill from
        # before a move had opened a claim for her new household, on its income (a tester's)
        # (a year back, for a member who moved within a policy year: her other households)
        self.moves = registry.moves_since(session, sorted(m.id for m in self.members.values()),
                                          min(e.event_date for e in events) - YEAR_BACK)
        for member in self.members.values():
            homes = {household for _, household in self.moves.get(member.id, ())}
            if homes - {member.household_id}:
                self.moved[member.id_number] = homes | {member.household_id}
        household_ids = sorted({self.household_of(self.members[e.id_number], e.event_date)
                                for e in events if e.id_number in self.members}
                               | {m.household_id for m in self.members.values()}
                               | {h for homes in self.moved.values() for h in homes})
        # The lock order (claims.locks): the households, then their claims, each by id.
        self.households = {h.id: h for h in locks.household_rows(
            session, household_ids, Household.id, Household.status, Household.village_id,
            Household.household_type, Household.monitoring_category)}
        self._prefetch_regions(session, {h.village_id for h in self.households.values()})
        self.incomes = benefits.income_records(session, household_ids)
        self.paid = benefits.first_payouts(session, household_ids)
        self.flags = benefits.household_flags(session, household_ids)
        self._prefetch_lines(session, {e.event_date for e in events})
        self.claims = {h: [] for h in household_ids}
        self.named = {}
        contracts = session.exec(select(PolicyContract.id).where(
            PolicyContract.status.in_([ContractStatus.active, ContractStatus.closed]))).all()
        claim_ids: list[int] = []
        for start in range(0, len(household_ids), 1000):
            chunk = household_ids[start:start + 1000]
            for event in event_rows(session, bulk.among(session, TriggerEvent.household_id, chunk),
                                    unindexed(TriggerEvent.status) == EventStatus.accepted):
                self.year_events.setdefault((event.household_id, event.contract_id),
                                            []).append(event)
            claim_ids.extend(session.exec(select(Claim.id).where(
                bulk.among(session, Claim.household_id, chunk))).all())
            self.named.update(((contract, household), named_on) for contract, household, named_on
                              in session.exec(select(
                InsuredHousehold.contract_id, InsuredHousehold.household_id,
                InsuredHousehold.named_on).where(
                bulk.among(session, InsuredHousehold.household_id, chunk),
                InsuredHousehold.contract_id.in_(contracts))).all())
        for claim in locks.claims(session, claim_ids):
            self.claims[claim.household_id].append(claim)
        for contract_id in contracts:
            for household_id in household_ids:
                self.year_events.setdefault((household_id, contract_id), [])


def covering_contract(session: Session, household: Household, on: date,
                      cache: Cache | None = None) -> PolicyContract | None:
    """The active contract of the household's county covering a date (and naming it, if the
    contract names its insured)."""
    cache = cache or Cache()
    county = cache.county_of.get(household.village_id)
    if county is None:
        village = session.get(Region, household.village_id)
        county = cache.county_of[household.village_id] = session.get(
            Region, village.parent_id).parent_id
    if county not in cache.contracts:
        cache.contracts[county] = session.exec(select(PolicyContract).where(
            PolicyContract.county_id == county,
            PolicyContract.status.in_([ContractStatus.active, ContractStatus.closed]))).all()
    # a surge's events share a few days: each county's contract of a day is found once
    if (county, on) not in cache.covering:
        cache.covering[(county, on)] = next((c for c in cache.contracts[county]
                                             if c.start_date <= on <= c.end_date), None)
    contract = cache.covering[(county, on)]
    if contract is None:
        return None
    if contract.insured_basis == InsuredBasis.named:
        if cache.named is not None:
            named = (contract.id, household.id) in cache.named
        else:
            named = session.exec(select(InsuredHousehold.household_id).where(
                InsuredHousehold.contract_id == contract.id,
                InsuredHousehold.household_id == household.id)).first() is not None
        if not named:
            return None
    return contract


def evaluate(session: Session, event: TriggerEvent) -> None:
    """Evaluate one event on its own (a replay); the caller flushes."""
    _evaluate(session, event_rows(session, TriggerEvent.id == event.id))


def _match(session: Session, event: EventRow, cache: Cache) -> tuple[int, int] | None:
    """Match an event to its member, household and contract; the household-year to assess it
    in, or None when it is settled here (quarantined, not covered, a loss already reported)."""
    member = cache.members.get(event.id_number)
    if member is None:
        event.status, event.reason = EventStatus.quarantined, (
            "no member has this ID number; correct it and replay")  # staff read it, masked
        return None
    household = cache.households[cache.household_of(member, event.event_date)]
    event.member_id, event.household_id = member.id, household.id
    contract = covering_contract(session, household, event.event_date, cache)
    inactive = (household.status != HouseholdStatus.active
                or member.status != MemberStatus.active) and not registry.active_on(
        # as the event's day began: a bill of a member who has died since is hers, and so
        # is one of the day her death was recorded (a re-tester's was "not covered")
        session, member, household, event.event_date - timedelta(days=1))
    if inactive:
        event.status = EventStatus.not_covered
        event.reason = ("the member or the household was no longer active in the registry "
                        "on the event date")
        return None
    if contract is None or contract.terms_version_id is None \
            or contract.status == ContractStatus.closed:
        # a settled year's fund is closed: a claim opened on it could never be approved (a
        # tester's late bill of a settled year opened one that waited for ever)
        event.status = EventStatus.not_covered
        event.reason = ("no policy covers the household on the event date" if contract is None
                        else f"contract {contract.contract_number} was settled: its year is "
                        "closed to new reports" if contract.status == ContractStatus.closed
                        else f"contract {contract.contract_number} has no terms in force")
        return None
    event.contract_id, event.reason = contract.id, ""
    key = (household.id, contract.id)
    first = cache.same_loss(key, event)
    if first is not None:
        event.status, event.payout, event.same_loss_of = EventStatus.same_loss, Decimal(
            "0.00"), first.id
        cache.same_losses.append((event, first))
        event.reason = (f"the same loss was reported as event {first.source_event_id}"
                        f"{'' if first.client_id == event.client_id else ' by another source'};"
                        " it is paid once")
        return None
    event.status = EventStatus.accepted
    cache.year_events[key].append(event)
    return key


def loss_of(event: EventRow) -> tuple | None:
    """The identity of the loss an event reports (of a matched event), or None when its
    details cannot tell (policies.benefits.SAME_LOSS)."""
    return benefits.loss_key(event.type, event.household_id, event.id_number,
                             event.event_date, event.payload.get("details", {}))


def _is_same_loss(first: EventRow, event: EventRow) -> bool:
    return benefits.same_loss(event.type, first.payload.get("details", {}),
                              event.payload.get("details", {}))


def _assess(session: Session, household: Household, contract: PolicyContract,
            new: list[EventRow], events: list[EventRow], cache: Cache,
            reason: str | None = None) -> None:
    """Assess a run of a household-year's new events (the last of ``events``, the year's
    events by then in arrival order) with one calculation, and bring every claim of the year
    up to date; with no new events, for ``reason``."""
    version, terms = cache.terms_of(session, contract)
    snapshot = cache.snapshot(session, household, contract)
    # Events of one day are taken in the order they arrived (zero-padded ids sort as numbers).
    by_key = {f"{e.id:012d}": e for e in events}
    for key, e in by_key.items():
        if e.id not in cache.values:  # each stored payload is read once per call
            cache.values[e.id] = benefits.stored_event(e.payload, key)
    quote = calculator.calculate(terms, snapshot, [cache.values[e.id] for e in events],
                                 elsewhere=cache.elsewhere(session, contract, household.id,
                                                           events) if cache.moved else ())
    results = {r.event_id: r for r in quote.events}
    warned = _warnings(terms, events, results)
    by_trigger: dict[str, list[EventRow]] = {}
    for event in new:
        mine = results[f"{event.id:012d}"]
        event.warning, event.payout = event.id in warned, mine.payout
        if event.warning:
            cache.warnings.append((household.id, event.type, event.id, warned[event.id]))
        if mine.reason and mine.payout == 0:
            event.reason = calculator.REASONS.get(mine.reason, mine.reason)
        by_trigger.setdefault(event.type, []).append(event)
    entitled = {t.trigger: t.entitled for t in quote.totals}
    claims = {c.trigger: c for c in cache.claims[household.id]
              if c.policy_year == contract.policy_year}
    reason = reason or _naming(new)
    # What each claim held before this run: the run's growth is counted over every trigger,
    # one whose claim only shrank through a shared cap too, however the events were taken
    # (one at a time, a run had counted it; in a chunk, not).
    before = {trigger: claim.entitled for trigger, claim in claims.items()}
    # Every claim of the year is brought up to date, not only the new events' triggers': a
    # late bill of one trigger can take room of a cap it shares with another.
    for trigger, claim in claims.items():
        if trigger not in by_trigger:
            _recalculate(session, claim, entitled.get(trigger, Decimal("0.00")), version.id,
                         quote, by_key, reason, terms.notice_days)
    closed = {t for t, c in claims.items()
              if c.state in (ClaimState.rejected, ClaimState.withdrawn)}
    _share(new, [e for e in new if e.type not in closed], sum(
        (entitled.get(t, Decimal("0.00")) - before.get(t, Decimal("0.00"))
         for t in set(claims) | set(by_trigger) if t not in closed), Decimal("0.00")))
    if new and new[0].payout and results[f"{new[0].id:012d}"].payout == 0:
        # below the deductible on its own, yet the year grew with it: dated before bills
        # counted already, it moved them up (its reason had said "not above the
        # deductible" beside a payout of 70.00: a hostile tester's)
        new[0].reason = EARLIER_BILL % {"amount": calculator.money(new[0].payout)}
    for trigger, mine in by_trigger.items():
        claim = claims.get(trigger)
        new_total = entitled.get(trigger, Decimal("0.00"))
        if claim is None:
            if new_total > 0:
                opened = NewClaim(**_new_claim(household.id, contract, version.id, trigger,
                                               new_total, _results(quote, by_key, trigger),
                                               source="event"))
                cache.claims[household.id].append(opened)
                # the claim is the events' from the one after which it was owed something
                owed, linked = new_total, []
                for event in reversed(mine):
                    if owed > 0:
                        linked.insert(0, event)
                    owed -= event.payout or Decimal("0.00")
                cache.opened[id(opened)] = (opened, linked)
                continue
        elif trigger in closed:
            for event in mine:
                event.payout = Decimal("0.00")
                event.reason = (f"claim {claim.claim_number} is {claim.state}; a supervisor "
                                "may reconsider it with this bill")
            _recalculate(session, claim, new_total, version.id, quote, by_key, _naming(mine),
                         terms.notice_days)
        else:
            _recalculate(session, claim, new_total, version.id, quote, by_key, _naming(mine),
                         terms.notice_days)
        if claim is not None and id(claim) in cache.opened:  # opened by an earlier run
            cache.opened[id(claim)][1].extend(mine)
            continue
        for event in mine:
            event.claim_id = claim.id if claim is not None else None


def _warnings(terms, events: list[EventRow], results: dict) -> dict[int, str]:
    """The events that carried the year's watched losses over a trigger's warning threshold
    (预警), in the order they arrived, with the warning's words. By arrival, not by date: the
    warning goes with the report that told the office, once a crossing, however the events
    were taken (one at a time or a chunk together)."""
    watched: dict[tuple[str, str], Decimal] = {}
    warned = {}
    for event in events:
        trigger = terms.triggers.get(event.type)
        if trigger is None or trigger.base is None or trigger.warning is None:
            continue
        unit, threshold = trigger.warning.unit, trigger.warning.amount
        key = (event.type, event.id_number if unit == "person" else "household")
        before = watched.get(key, Decimal("0.00"))
        watched[key] = after = before + results[f"{event.id:012d}"].base
        if before <= threshold < after:
            warned[event.id] = calculator.line(
                "warning", calculator.WARNINGS[unit], trigger=event.type,
                after=calculator.money(after), threshold=calculator.money(threshold)).text
    return warned


def _share(run: list[EventRow], payable: list[EventRow], growth: Decimal) -> None:
    """Together a run's payable events carry what the household's year grew by, as they
    would one at a time: each event after the first only adds to the end of the year, so it
    is paid its own calculated part; the first, which may have changed what was owed before
    it (a bill dated earlier moves later bills up the bands, or takes room of a cap another
    trigger shares), takes the rest, never below nothing (a year that shrank is the claims'
    recalculation, not a negative payout). A first event that is not payable (its claim is
    closed) carries nothing, and the rest keep their parts."""
    if payable and payable[0] is run[0]:
        rest = growth - sum((e.payout or Decimal("0.00") for e in payable[1:]),
                            Decimal("0.00"))
        payable[0].payout = max(rest, Decimal("0.00"))


def _naming(events: list[EventRow]) -> str:
    """The events that changed a claim, as its audit entry gives the reason."""
    ids = [e.source_event_id for e in events]
    if len(ids) == 1:
        return f"event {ids[0]}"
    if len(ids) <= 3:
        return f"events {', '.join(ids)}"
    return f"{len(ids)} events, {ids[0]} … {ids[-1]}"


def _results(quote: calculator.Quote, by_key: dict, trigger: str) -> list:
    """The calculation of a trigger's events, each named by its source's own id."""
    return [{**{name: _text(value) for name, value in r.__dict__.items()},
             "event_id": by_key[r.event_id].source_event_id,
             "trace": [{name: _text(value) for name, value in line.__dict__.items()}
                       for line in r.trace]}
            for r in quote.events if by_key[r.event_id].type == trigger]


def carried_from(quote: calculator.Quote, by_key: dict, persons: set[str],
                 settled: set[int]) -> list[calculator.Elsewhere]:
    """The persons' events of another household's calculation as its year carries them to
    theirs in this one: each one's counted loss (none where that household was not
    eligible) and payout; an event of a claim approved there (``settled``: claim ids) by
    what it added to that claim when it was assessed, which is paid out."""
    carried = []
    for r in quote.events:
        row = by_key[r.event_id]
        if row.id_number not in persons:
            continue
        done = row.claim_id in settled and row.payout is not None
        carried.append(calculator.Elsewhere(
            r.event_id, r.trigger, row.event_date, row.id_number,
            Decimal("0.00") if r.reason in calculator.NOT_ELIGIBLE else r.base,
            row.payout if done else r.payout, named=row.source_event_id, settled=done))
    return carried


def _text(value: Any) -> Any:
    """A result's or trace line's value as JSON holds it (amounts as text): the two levels
    done directly, a quarter of audit.jsonable's time over every claim a chunk opens."""
    return str(value) if isinstance(value, Decimal) else value


def _recalculate(session: Session, claim: Claim | NewClaim, entitled: Decimal, version_id: int,
                 quote: calculator.Quote, by_key: dict, reason: str,
                 notice_days: int) -> None:
    """Bring a claim's entitlement up to date; a paid claim that is owed more reopens, one
    whose payment is under way is reopened once it is paid."""
    before = lifecycle.snapshot(claim)
    results = _results(quote, by_key, claim.trigger)
    if isinstance(claim, NewClaim):  # opened by this batch: audited as it stands when stored
        claim.entitled, claim.calculation = entitled, {**claim.calculation, "events": results}
        return
    if entitled == claim.entitled:  # the same amount: its calculation still lists every event
        if claim.calculation.get("events") != results:
            claim.calculation = {**claim.calculation, "events": results}
        return
    grew = entitled > claim.entitled
    claim.entitled = entitled
    claim.calculation = {**claim.calculation, "events": results}
    claim.terms_version_id = version_id
    if claim.state == ClaimState.paid and lifecycle.net_due(claim) > 0:
        lifecycle.transition(session, claim, "reopen", SYSTEM, before=before,
                             reason=reasons.coded("new_bill", entitled=entitled,
                                                   paid=claim.paid_amount))
        return
    # what this round of approval has approved beyond what was paid before it
    approved = claim.first_approver_id is not None or claim.approved_amount > claim.paid_amount
    if grew and claim.state in (ClaimState.approval, ClaimState.payment_pending) and approved:
        claim.calculation = {**claim.calculation, "supplement_pending": True}
    elif claim.state == ClaimState.approval and not approved:
        # Nothing approved yet, and the village was shown another amount: it is shown this
        # one before anyone approves it (a hostile tester's 27,000 noticed became 52,000
        # approved, unnoticed). With a first approval given, the supplement waits instead.
        lifecycle.transition(session, claim, "notice_again", SYSTEM, reason=reasons.coded(
            "amount_changed", old=before["entitled"], new=entitled), notice_days=notice_days)
    if claim.state == ClaimState.public_notice:
        # The village was shown another amount: the notice starts again from today.
        session.add(ClaimRecord(claim_id=claim.id, kind="start_notice", data={
            "start_date": clock.county_today().isoformat(),
            "reason": reasons.coded("amount_changed", old=before["entitled"], new=entitled)}))
        claim.due_date = lifecycle.due_date_for(ClaimState.public_notice, clock.county_today(),
                                                notice_days)
    audit.record(session, SYSTEM, "claim", claim.claim_number, "recalculate",
                 reason=reason, before=before, after=lifecycle.snapshot(claim))


def open_claim(session: Session, household_id: int, contract: PolicyContract, version_id: int,
               trigger: str, entitled: Decimal, results: list, *, source: str, actor: Actor,
               reason: str = "") -> Claim:
    """Open a claim in state opened with its due date; flushes and audits."""
    claim = Claim(id=_claim_ids(session, 1)[0], **_new_claim(
        household_id, contract, version_id, trigger, entitled, results, source=source,
        reason=reason))
    _numbered(session, [claim], actor, reason or source)
    session.add(claim)
    session.flush()
    return claim


class NewClaim(SimpleNamespace):
    """A claim the evaluator opens: its columns, stored with the chunk's others in bulk."""


def _new_claim(household_id: int, contract: PolicyContract, version_id: int, trigger: str,
               entitled: Decimal, results: list, *, source: str, reason: str = ""
               ) -> dict[str, Any]:
    """The columns of a claim in state opened with its due date; its id and number are
    given when it is stored (_claim_ids, _numbered)."""
    now = utcnow()
    return dict(
        household_id=household_id,
        contract_id=contract.id, terms_version_id=version_id, trigger=trigger,
        policy_year=contract.policy_year, source=source, application_reason=reason,
        state=ClaimState.opened, entitled=entitled, approved_amount=Decimal("0.00"),
        paid_amount=Decimal("0.00"), calculation={"events": results}, rejection_text="",
        due_date=lifecycle.due_after(clock.county_today(),
                                     lifecycle.service_levels()[ClaimState.opened], False),
        opened_at=now, updated_at=now)


def _store_opened(session: Session, claims: list[NewClaim], actor: Actor, reason: str) -> None:
    """Store the claims a chunk opened in bulk, number them and audit their opening. Each
    claim's id is known first, so it goes in once, numbered, through the driver's bulk path:
    written twice (a placeholder number, then the real one), every index of the claim table
    took each row twice, and SQLAlchemy's INSERT … RETURNING rendered every row's values."""
    if not claims:
        return
    session.flush()
    for claim, claim_id in zip(claims, _claim_ids(session, len(claims)), strict=True):
        claim.id = claim_id
    _numbered(session, claims, actor, reason)
    bulk.insert_columns(session, Claim.__table__, {name: [getattr(c, name) for c in claims]
                                                   for name in vars(claims[0])})


def _claim_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new claims: PostgreSQL's from the sequence; SQLite's after the
    largest this transaction reads. That holds on SQLite: a transaction writes only if
    nobody committed since it began reading (it began IMMEDIATE, or SQLite refuses its first
    write, and the evaluator's deferred transaction is retried: claims.db), and from its
    first write it is the one writer until it commits."""
    if session.connection().dialect.name == "postgresql":
        return list(session.execute(sa.text(
            "SELECT nextval(pg_get_serial_sequence('claim', 'id')) "
            "FROM generate_series(1, :n)"), {"n": count}).scalars())
    largest = session.execute(sa.select(sa.func.max(Claim.id))).scalar() or 0
    return list(range(largest + 1, largest + 1 + count))


def _numbered(session: Session, claims: list[Claim] | list[NewClaim], actor: Actor,
              reason: str) -> None:
    """Number claims by the ids they are given and audit their opening."""
    for claim in claims:
        claim.claim_number = f"LP{claim.policy_year}{claim.id:08d}"
        audit.record(session, actor, "claim", claim.claim_number, "open", reason=reason,
                     after=lifecycle.snapshot(claim))


def replay(session: Session, actor: Actor, event_id: int, id_number: str) -> Outcome:
    """Correct a quarantined (or failed) event's ID number and evaluate it again (once, even
    when two clerks replay it at the same moment)."""
    event = session.exec(select(TriggerEvent).where(TriggerEvent.id == event_id)
                         .with_for_update()).first()
    if event is None:
        raise InvalidInput(f"event {event_id} does not exist", field="event_id", value=event_id,
                           code="no_event")
    if event.status not in (EventStatus.quarantined, EventStatus.failed):
        raise Conflict(f"event {event_id} is {event.status}, not in quarantine",
                       field="status", value=event.status, code="not_in_quarantine")
    try:
        corrected = EventIn.model_validate({**event.payload, "id_number": id_number},
                                           context=STORED)
    except ValidationError as exc:
        raise InvalidInput(exc.errors()[0]["msg"].removeprefix("Value error, "),
                           field="id_number", value=id_number, code="bad_id_number") from None
    before = {"id_number": event.id_number}
    event.id_number = corrected.id_number
    event.payload = payload_of(corrected)
    event.payload_hash = digest(canonical(event.payload))  # it may now be sent corrected
    audit.record(session, actor, "trigger_event", event.id, "correct_and_replay",
                 before=masking.fields(before),
                 after=masking.fields({"id_number": corrected.id_number}))
    evaluate(session, event)
    session.flush()
    return outcome_of(event, _claim_number(session, event.claim_id))


def apply(session: Session, actor: Actor, household_id: int, trigger: str, reason: str,
          today: date | None = None, loss_date: date | None = None) -> Claim:
    """A household's or village's own application (申报): opens a claim with no event yet,
    under the contract of the day of the loss (``loss_date``, by default today): a fire of
    28 December applied for on 1 January had been refused, or put in the new year, by the
    day of filing (a tester's)."""
    today = today or clock.county_today()
    loss_date = loss_date or today
    if loss_date > today:
        raise InvalidInput(f"loss_date {loss_date} is after today", field="loss_date",
                           value=str(loss_date), code="after_today",
                           values={"field": "loss_date"})
    household = session.get(Household, household_id)
    if household is None:
        raise InvalidInput(f"household {household_id} does not exist", field="household_id",
                           value=household_id, code="no_household")
    contract = covering_contract(session, household, loss_date)
    if contract is None or contract.terms_version_id is None \
            or contract.status == ContractStatus.closed:
        raise InvalidInput(f"no policy with terms in force, not yet settled, covers this "
                           f"household on {loss_date}", field="household_id",
                           value=household_id, code="not_covered")
    terms = benefits.terms_of(benefits.get_terms_version(session, contract.terms_version_id))
    if trigger not in terms.triggers:
        raise InvalidInput(f"the terms do not cover {trigger!r}; they cover "
                           f"{', '.join(terms.triggers)}", field="trigger", value=trigger,
                           code="trigger_not_covered")
    existing = session.exec(select(Claim).where(
        Claim.household_id == household_id, Claim.trigger == trigger,
        Claim.policy_year == contract.policy_year)).first()
    if existing is not None:
        raise Conflict(f"the household already has claim {existing.claim_number} for {trigger} "
                       f"in {contract.policy_year}", field="trigger", value=trigger,
                       code="already_claimed")
    return open_claim(session, household_id, contract, contract.terms_version_id, trigger,
                      Decimal("0.00"), [], source="application", actor=actor, reason=reason)
