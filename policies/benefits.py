"""Benefit services: terms versions in the database, quotes, and the fund of a contract.

A payout reaches the fund through the income ledger: claims write each paid payout as an
income record of source ``payout`` whose reference starts with ``contract-<id>/``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator
from sqlmodel import Session, SQLModel, col, func, select

from policies import calculator, fund, registry
from policies.bulk import among
from policies.citizen_id import InvalidCitizenId, parse_citizen_id
from policies.errors import Conflict, InvalidInput, NotFound
from policies.models import (
    Household,
    IncomeRecord,
    InsuredHousehold,
    Member,
    PolicyContract,
    TermsVersion,
    Yuan,
)
from policies.terms import BUILTIN_EVENT_TYPES, Flag, InvalidTerms, Terms, parse_terms
from policies.types import STORED, Day, Text, decimal_text
from policies.vocab import (
    ContractStatus,
    HouseholdType,
    IncomeSource,
    InsuredBasis,
    MemberStatus,
    MonitoringCategory,
)

MAX_EVENTS = 10_000

# ---------------------------------------------------------------- terms versions


@lru_cache(maxsize=256)
def _parse_cached(sha256: str, text: str) -> Terms:
    return parse_terms(text)


def terms_of(version: TermsVersion) -> Terms:
    """The validated terms of a stored version."""
    return _parse_cached(version.sha256, version.source_text)


def check_trigger(session: Session, name: str, *, also: Sequence[str] = ()) -> str:
    """``name`` if it is a trigger a stored terms version or fangpin knows (or one of
    ``also``), else a refusal naming the field: /api/claims?trigger=bogus had answered an
    empty list, as if the county had no such claims (a tester's)."""
    known = set(BUILTIN_EVENT_TYPES) | set(also)
    if name not in known:
        for version in session.exec(select(TermsVersion)):
            terms = terms_of(version)
            known |= set(terms.triggers) | set(terms.event_types)
    if name not in known:
        raise InvalidInput(f"trigger: {name!r} is no trigger of any terms (known: "
                           f"{', '.join(sorted(known))})", field="trigger", value=name,
                           code="unknown_trigger")
    return name


def store_terms(session: Session, key: str, text: str, filename: str = "<upload>"):
    """Store terms text as the next version of ``key``; the same text again returns the
    version already stored. Returns (version, created)."""
    try:
        terms = parse_terms(text, filename)
    except InvalidTerms as exc:
        first = exc.problems[0]
        error = InvalidInput(str(exc), field=first.path or "source_text")
        error.problems = tuple(exc.problems)  # each by key, for a page to show one a line
        raise error from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    versions = session.exec(
        select(TermsVersion).where(TermsVersion.key == key).order_by(col(TermsVersion.version))
    ).all()
    for existing in versions:
        if existing.sha256 == digest:
            return existing, False
    if versions and versions[-1].policy_year != terms.policy.policy_year:
        raise InvalidInput(
            f"terms {key} are for {versions[-1].policy_year}; a new policy year needs a new key",
            field="policy.policy_year", value=terms.policy.policy_year, code="terms_key_year",
            values={"key": key, "year": versions[-1].policy_year})
    version = TermsVersion(
        key=key, version=len(versions) + 1, title=terms.policy.title, county=terms.policy.county,
        county_code=terms.policy.county_code, policy_year=terms.policy.policy_year,
        source_text=text, sha256=digest,
    )
    session.add(version)
    session.flush()
    return version, True


def get_terms_version(session: Session, version_id: int) -> TermsVersion:
    """Return a terms version or raise NotFound."""
    version = session.get(TermsVersion, version_id)
    if version is None:
        raise NotFound(f"terms version {version_id} does not exist", field="id",
                       value=version_id)
    return version


def terms_view(version: TermsVersion) -> dict[str, Any]:
    return {**registry.fields_of(version), "terms": terms_of(version).model_dump(mode="json")}


def list_terms_versions(
    session: Session, page: registry.PageRequest, *, key: str | None = None,
    policy_year: int | None = None,
):
    """Terms versions, by key and version."""
    query = select(TermsVersion).order_by(TermsVersion.key, col(TermsVersion.version))
    if key:
        query = query.where(TermsVersion.key == key)
    if policy_year is not None:
        query = query.where(TermsVersion.policy_year == policy_year)
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.offset(page.offset).limit(min(page.limit, registry.MAX_PAGE)))
    return rows.all(), count


def attach_terms(session: Session, contract_id: int, version_id: int) -> PolicyContract:
    """Put a terms version in force for a contract of the same policy year."""
    contract = registry.get_contract(session, contract_id)
    version = session.get(TermsVersion, version_id)
    if version is None:
        raise InvalidInput(f"terms version {version_id} does not exist",
                           field="terms_version_id", value=version_id, code="no_terms_version")
    if version.policy_year != contract.policy_year:
        raise InvalidInput(
            f"terms version {version_id} is for {version.policy_year}, the contract for "
            f"{contract.policy_year}", field="terms_version_id", value=version_id,
            code="terms_other_year", values={"year": version.policy_year,
                                             "contract_year": contract.policy_year})
    if contract.status == ContractStatus.closed:
        raise Conflict("a settled contract's terms cannot change", field="terms_version_id",
                       code="contract_settled")
    contract.terms_version_id = version_id
    session.flush()
    return contract


# ---------------------------------------------------------------- quotes


# Yuan's rules with its limits checked by pydantic-core rather than in Python: every intake
# event carries several (the places are normalised where the event is stored).
EventAmount = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0),
                        BeforeValidator(decimal_text)]
# An event's details name a hospital, a diagnosis, a certificate: a few short texts. The limits
# keep one event from storing megabytes (a 5 MB text, 20,000 keys were once accepted).
MAX_DETAILS = 32
MAX_DETAIL_KEY = 64
MAX_DETAIL_TEXT = 1000
DetailKey = Annotated[Text, Field(min_length=1, max_length=MAX_DETAIL_KEY)]
DetailValue = Annotated[Text, Field(max_length=MAX_DETAIL_TEXT)] | Annotated[
    int, Field(ge=-10**15, le=10**15)]


class EventIn(BaseModel):
    """A trigger event as departments report it (the same shape the intake API takes).
    A plain pydantic model: intake validates thousands a second."""

    model_config = {"extra": "forbid"}
    event_id: Text = Field(min_length=1, max_length=64, description="the source's own id")
    type: Text = Field(min_length=1, max_length=32, description="illness, disability, …")
    event_date: Day
    id_number: str | None = Field(default=None, description="the person; empty for the "
                                  "whole household (e.g. a disaster)")
    amounts: dict[DetailKey, EventAmount] = Field(default_factory=dict, max_length=MAX_DETAILS)
    details: dict[DetailKey, DetailValue] = Field(
        default_factory=dict, max_length=MAX_DETAILS,
        description=f"at most {MAX_DETAILS} keys of up to {MAX_DETAIL_KEY} characters, texts "
                    f"of up to {MAX_DETAIL_TEXT}; catastrophe_reference names a declared "
                    "catastrophe by the emergency department's reference (claims.catastrophes)")

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_citizen_id(value).number
        except InvalidCitizenId as exc:
            raise ValueError(f"ID number {value!r}: {exc}") from None

    def to_event(self, event_id: str | None = None) -> calculator.TriggerEvent:
        return calculator.TriggerEvent(
            event_id=event_id or self.event_id, trigger=self.type, event_date=self.event_date,
            id_number=self.id_number, amounts=dict(self.amounts),
            details={k: str(v) for k, v in self.details.items()},
        )


# An event as the intake stores it (claims.intake.payload_of): validated, its day in ISO
# form, amounts as text with two places, details as text.
_STORED_KEYS = frozenset({"event_id", "type", "event_date", "id_number", "amounts", "details"})
_STORED_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_STORED_AMOUNT = re.compile(r"[0-9]{1,12}\.[0-9]{2}", re.ASCII)


def stored_event(payload: dict[str, Any], event_id: str) -> calculator.TriggerEvent:
    """The calculator's value of a stored event, read without validating again what the
    intake validated: pydantic took 17 µs of each event the evaluator assesses, a twelfth of
    its time in a surge (issue 19). What it does not check again (lengths, the ID number's
    check character) the intake refused before storing, and the evaluator assesses only
    events matched to a registered member. A payload of any other shape (stored under older
    rules) is validated under the rules for stored events."""
    amounts, details, day = payload.get("amounts"), payload.get("details"), payload.get(
        "event_date")
    if (payload.keys() == _STORED_KEYS and isinstance(payload["type"], str)
            and isinstance(day, str) and _STORED_DAY.fullmatch(day)
            and isinstance(amounts, dict) and isinstance(details, dict)
            and all(isinstance(v, str) and _STORED_AMOUNT.fullmatch(v)
                    for v in amounts.values())
            and all(isinstance(v, str) for v in details.values())):
        return calculator.TriggerEvent(
            event_id=event_id, trigger=payload["type"], event_date=date.fromisoformat(day),
            id_number=payload["id_number"], amounts={k: Decimal(v) for k, v in amounts.items()},
            details=dict(details))
    return EventIn.model_validate(payload, context=STORED).to_event(event_id=event_id)


class HouseholdSnapshotIn(SQLModel):
    """Per-capita income may be negative (a business loss); the line may not."""

    model_config = {"extra": "forbid"}
    household_type: HouseholdType
    monitoring_category: MonitoringCategory | None = None
    per_capita_income: Yuan | None = None
    monitoring_line: Yuan | None = Field(default=None, ge=0)
    covered_from: date | None = Field(default=None, ge=date(1900, 1, 1), le=date(2100, 12, 31))
    covered_to: date | None = Field(default=None, ge=date(1900, 1, 1), le=date(2100, 12, 31))
    flags: list[Flag] = Field(default_factory=list, description="dibao (低保), tekun (特困供养), "
                              "disabled_member: what eligibility conditions on flags test")

    def to_snapshot(self) -> calculator.HouseholdSnapshot:
        return calculator.HouseholdSnapshot(**{**self.model_dump(),
                                               "flags": frozenset(self.flags)})


class PriorPayoutIn(SQLModel):
    model_config = {"extra": "forbid"}
    trigger: str
    amount: Yuan = Field(ge=0)


class QuoteFile(BaseModel):
    """The file of ``fangpin terms quote``: the same parts as a quote request, with a snapshot
    only; a misspelt key is refused as the API refuses it."""

    model_config = {"extra": "forbid"}
    household: HouseholdSnapshotIn = HouseholdSnapshotIn(household_type=HouseholdType.lifted_out)
    events: list[EventIn] = Field(default_factory=list, max_length=MAX_EVENTS)
    prior_payouts: list[PriorPayoutIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_event_once(self):
        ids = [e.event_id for e in self.events]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"event_id {repeated[0]} is given twice: the same bill would be "
                             "counted twice")
        return self


class QuoteRequest(SQLModel):
    """A quote: the calculation without side effects."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{
            "terms_version_id": 1,
            "household": {"household_type": "lifted_out", "monitoring_category": "marginal",
                          "per_capita_income": "7200.00", "monitoring_line": "8700.00"},
            "events": [{"event_id": "HIS-2026-000123", "type": "illness",
                        "event_date": "2026-03-02", "id_number": "11010519491231002X",
                        "amounts": {"total_cost": "50000.00", "basic_insurance_paid": "20000.00",
                                    "critical_illness_paid": "5000.00",
                                    "medical_assistance_paid": "3000.00"},
                        "details": {"hospital": "禹州市人民医院"}}],
        }]},
    }
    terms_version_id: int | None = None
    contract_id: int | None = None
    household_id: int | None = None
    household: HouseholdSnapshotIn | None = None
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)
    prior_payouts: list[PriorPayoutIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_of_each(self):
        ids = [e.event_id for e in self.events]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"event_id {repeated[0]} is given twice: the same bill would be "
                             "counted twice")
        if (self.terms_version_id is None) == (self.contract_id is None):
            raise ValueError("give terms_version_id or contract_id (exactly one)")
        if (self.household_id is None) == (self.household is None):
            raise ValueError("give household_id or a household snapshot (exactly one)")
        return self


def check_events(terms: Terms, events: list[EventIn]) -> None:
    """Refuse amounts and details an event of its type does not have, naming the place."""
    for index, event in enumerate(events):
        kind = terms.event_type(event.type)
        if kind is None:
            continue  # the calculator reports it as not covered
        for name in event.amounts:
            if name not in kind.amounts:
                raise InvalidInput(
                    f"events[{index}]: {event.type} events have no amount {name!r}; their "
                    f"amounts are {', '.join(kind.amounts) or 'none'}",
                    field=f"events[{index}].amounts.{name}", value=event.amounts[name])
        for name in event.details:
            if name not in kind.details:
                raise InvalidInput(
                    f"events[{index}]: {event.type} events have no detail {name!r}; their "
                    f"details are {', '.join(kind.details) or 'none'}",
                    field=f"events[{index}].details.{name}", value=event.details[name])


class TraceLineOut(SQLModel):
    step: str
    text: str
    amount: Decimal | None = Field(description="signed part of the payout; null: information")


class EventResultOut(SQLModel):
    event_id: str
    trigger: str
    payout: Decimal
    reason: str | None = Field(description="why nothing or less is paid (a code)")
    reason_text: str | None = None
    warning: bool = Field(description="this event takes the losses over the warning threshold")
    base: Decimal
    cumulative_base: Decimal
    trace: list[TraceLineOut]


class TriggerTotalOut(SQLModel):
    trigger: str
    entitled: Decimal
    already_paid: Decimal
    due: Decimal


class QuoteOut(SQLModel):
    terms_title: str
    events: list[EventResultOut]
    totals: list[TriggerTotalOut]
    entitled: Decimal
    already_paid: Decimal
    due: Decimal


def quote_out(terms: Terms, result: calculator.Quote) -> QuoteOut:
    """A quote as the API and the CLI print it."""
    return QuoteOut(
        terms_title=terms.policy.title,
        events=[
            EventResultOut(**{**e.__dict__, "trace": [t.__dict__ for t in e.trace]},
                           reason_text=calculator.REASONS.get(e.reason) if e.reason else None)
            for e in result.events
        ],
        totals=[TriggerTotalOut(**t.__dict__) for t in result.totals],
        entitled=result.entitled, already_paid=result.already_paid, due=result.due,
    )


# What tells one loss from another of the same holder, trigger and date: these details must
# be given and equal ("identity"); those under "agree" must not differ where both give them.
# A disaster's holder is the household (any member may be named for it), others' the person.
# The engine pays such a loss once (claims.intake: same_loss), and so does a quote.
SAME_LOSS: dict[str, dict[str, Any]] = {
    "illness": {"identity": ("admission_date", "discharge_date"), "agree": ("hospital",)},
    "disability": {"identity": ("grade",), "agree": ("certificate_number", "disability_type")},
    # a disaster strikes the household once a day of a kind, whatever catastrophe a report
    # names (a mistyped reference had made one loss two, each paid)
    "disaster": {"identity": ("kind",), "agree": (), "household": True},
}


def loss_key(kind: str, household: Any, id_number: str | None, day: date,
             details: dict[str, Any]) -> tuple | None:
    """The identity of the loss an event reports, or None when its details cannot tell."""
    rule = SAME_LOSS.get(kind)
    if rule is None or any(not details.get(name) for name in rule["identity"]):
        return None
    holder = household if rule.get("household") else id_number
    return (kind, holder, day, *(details[name] for name in rule["identity"]))


def same_loss(kind: str, first: dict[str, Any], again: dict[str, Any]) -> bool:
    """Whether two reports of one loss identity agree on what they both give."""
    return all(not first.get(name) or not again.get(name) or first[name] == again[name]
               for name in SAME_LOSS[kind]["agree"])


def _one_report_a_loss(events: list[EventIn]) -> tuple[list[EventIn], dict[str, str]]:
    """The events to calculate, and the id of each left out with the id of the first report
    of its loss (in the calculator's order: by day, then id)."""
    firsts: dict[tuple, list[tuple[str, dict[str, str]]]] = {}  # each loss's (id, details)
    kept: list[EventIn] = []
    again: dict[str, str] = {}
    for event in sorted(events, key=lambda e: (e.event_date, e.event_id)):
        details = {k: str(v) for k, v in event.details.items()}
        key = loss_key(event.type, "household", event.id_number, event.event_date, details)
        reports = firsts.setdefault(key, []) if key is not None else []
        first = next((i for i, d in reports if same_loss(event.type, d, details)), None)
        if first is not None:
            again[event.event_id] = first
            continue
        reports.append((event.event_id, details))
        kept.append(event)
    return kept, again


def quote(
    terms: Terms, household: calculator.HouseholdSnapshot, events: list[EventIn],
    prior: Sequence[PriorPayoutIn] = (),
) -> calculator.Quote:
    """Validate the events against the terms and calculate; a loss reported twice is paid
    once, as the engine pays it (an outside auditor's quote paid one fire reported by two
    members twice): the second report is listed with the reason ``same_loss``."""
    check_events(terms, events)
    for index, payout in enumerate(prior):
        if payout.trigger not in terms.triggers:
            raise InvalidInput(f"prior_payouts[{index}]: {payout.trigger!r} is not a trigger of "
                               "these terms", field=f"prior_payouts[{index}].trigger",
                               value=payout.trigger)
    kept, again = _one_report_a_loss(events)
    result = calculator.calculate(
        terms, household, [e.to_event() for e in kept],
        [calculator.PriorPayout(p.trigger, p.amount) for p in prior],
    )
    if not again:
        return result
    by_id = {e.event_id: e for e in events}
    repeated = [calculator.EventResult(
        event_id, by_id[event_id].type, Decimal("0.00"), "same_loss", False, Decimal("0.00"),
        Decimal("0.00"), (calculator.line("same_loss", "the same loss as event %(first)s: it "
                                          "is paid once", first=first),))
        for event_id, first in again.items()]
    order = {e.event_id: (e.event_date, e.event_id) for e in events}
    return replace(result, events=tuple(sorted([*result.events, *repeated],
                                               key=lambda r: order[r.event_id])))


# A record of at least this many days is a year's income; eligibility compares a year's
# per-capita income with the (annual) line, so a month's or a quarter's report is not read as
# one: its per-capita figure is a fraction of a year's (a hostile tester's monthly report of
# 2,000 a head passed the 13,050 test of a household earning 24,794 a year).
WHOLE_YEAR_DAYS = 364


def income_records(session: Session, household_ids: list[int]) -> dict[int, list[tuple]]:
    """Each household's recorded incomes of a whole year (payouts left out) as (period_end,
    recorded_at, id, per-capita), newest first: of records of one period, the one recorded
    last (as the risk features take it)."""
    found: dict[int, list[tuple]] = {h: [] for h in household_ids}
    t = IncomeRecord.__table__
    for start in range(0, len(household_ids), 1000):
        for household_id, period_start, period_end, recorded_at, record_id, per_capita in \
                session.execute(sa.select(
                    t.c.household_id, t.c.period_start, t.c.period_end, t.c.recorded_at, t.c.id,
                    t.c.per_capita_net_income)
                    .where(among(session, t.c.household_id, household_ids[start:start + 1000]),
                           t.c.source != IncomeSource.payout.value)):
            if (period_end - period_start).days >= WHOLE_YEAR_DAYS:
                found[household_id].append((period_end, recorded_at, record_id, per_capita))
    for records in found.values():
        records.sort(reverse=True)
    return found


def latest_income(records: list[tuple], policy_year: int, paid_on: date | None = None
                  ) -> Decimal | None:
    """The latest per-capita income of a whole year ending by the policy year's end and, once
    the contract has paid the household (first on ``paid_on``), before that payout: a later
    record counts the payout as its transfer income, and a year's claims judged on it had
    taken back what they paid (a tester's survey of the year, recorded after a 21,000 payout,
    recalculated the claim to nothing)."""
    end = date(policy_year, 12, 31)
    if paid_on is not None:
        end = min(end, paid_on - timedelta(days=1))
    return next((record[-1] for record in records if record[0] <= end), None)


def first_payouts(session: Session, household_ids: list[int]) -> dict[int, dict[int, date]]:
    """The day each contract first paid each household, by household and contract, from the
    income ledger (a returned payment's record, corrected to nothing, is no payout)."""
    first: dict[int, dict[int, date]] = {h: {} for h in household_ids}
    t = IncomeRecord.__table__
    for start in range(0, len(household_ids), 1000):
        for household_id, reference, day in session.execute(sa.select(
                t.c.household_id, t.c.reference, t.c.period_end).where(
                among(session, t.c.household_id, household_ids[start:start + 1000]),
                t.c.source == IncomeSource.payout.value, t.c.transfer_poverty_insurance > 0)):
            contract_id = int(reference.split("/", 1)[0].removeprefix("contract-"))
            days = first[household_id]
            days[contract_id] = min(day, days.get(contract_id, day))
    return first


def household_snapshot(
    session: Session, household_id: int, *, policy_year: int,
    contract: PolicyContract | None = None,
    lines: dict[tuple[int, int], Decimal | None] | None = None,
    incomes: dict[int, list[tuple]] | None = None, named: bool | None = None,
    flags: dict[int, frozenset[str]] | None = None, household: Any = None,
    paid: dict[int, dict[int, date]] | None = None, named_on: date | None = None,
) -> calculator.HouseholdSnapshot:
    """What eligibility needs, read from the registry: type, category, the latest per-capita
    income recorded before the policy year ends, the line of the household's region and year,
    and the contract's coverage (none if the contract names households and not this one).
    ``lines``, ``incomes``, ``flags`` (household_flags) and ``paid`` (first_payouts) are a
    caller's lookups made in advance for many households, and ``named`` whether a naming
    contract names it (from ``named_on``), when the caller knows; ``household`` its row
    (village, type, category) when the caller has read it."""
    household = household if household is not None else session.get(Household, household_id)
    if household is None:
        raise InvalidInput(f"household {household_id} does not exist", field="household_id",
                           value=household_id)
    if incomes is None or household_id not in incomes:
        incomes = income_records(session, [household_id])
    paid_on = None
    if contract is not None and contract.id is not None:
        if paid is None or household_id not in paid:
            paid = first_payouts(session, [household_id])
        paid_on = paid[household_id].get(contract.id)
    income = latest_income(incomes[household_id], policy_year, paid_on)
    key = (household.village_id, policy_year)
    if lines is not None and key in lines:
        line = lines[key]  # the caller's cache of lines within one call
    else:
        try:
            line = registry.monitoring_line_for(session, household.village_id,
                                                policy_year)["amount"]
        except NotFound:
            line = None
        if lines is not None:
            lines[key] = line
    covered_from = covered_to = None
    if contract is not None:
        covered_from, covered_to = contract.start_date, contract.end_date
        if contract.insured_basis == InsuredBasis.named and named is None:
            row = session.exec(select(InsuredHousehold.household_id,
                                      col(InsuredHousehold.named_on)).where(
                InsuredHousehold.contract_id == contract.id,
                InsuredHousehold.household_id == household_id)).first()
            named, named_on = row is not None, row[1] if row is not None else None
        if contract.insured_basis == InsuredBasis.named and not named:
            covered_from, covered_to = date.max, date.min  # not named: never covered
        elif contract.insured_basis == InsuredBasis.named and named_on is not None:
            # from the day it was named: a household named in December had been paid bills
            # of February, before it was in the registry (a tester's)
            covered_from = max(covered_from, named_on)
    return calculator.HouseholdSnapshot(
        household_type=household.household_type,
        monitoring_category=household.monitoring_category,
        per_capita_income=income, monitoring_line=line,
        covered_from=covered_from, covered_to=covered_to,
        flags=(flags[household_id] if flags is not None and household_id in flags
               else household_flags(session, [household_id])[household_id]),
    )


def household_flags(session: Session, household_ids: list[int]) -> dict[int, frozenset[str]]:
    """What eligibility conditions on flags test, for each household, from its active
    members: 低保 (dibao), 特困供养 (tekun), a disability grade (disabled_member)."""
    flags: dict[int, set[str]] = {h: set() for h in household_ids}
    for start in range(0, len(household_ids), 1000):
        for household_id, dibao, tekun, grade in session.exec(
                select(col(Member.household_id), col(Member.dibao), col(Member.tekun),
                       col(Member.disability_grade)).where(
                    among(session, col(Member.household_id), household_ids[start:start + 1000]),
                    Member.status == MemberStatus.active,
                    # most members hold none: reading only those who do took a chunk's
                    # read of 500 households from 3.8 to 1.0 ms (SQLite)
                    col(Member.dibao) | col(Member.tekun)
                    | col(Member.disability_grade).is_not(None))):
            flags[household_id].update(
                name for name, held in (("dibao", dibao), ("tekun", tekun),
                                        ("disabled_member", grade is not None)) if held)
    return {h: frozenset(held) for h, held in flags.items()}


def quote_request(session: Session, request: QuoteRequest,
                  recorded: Sequence[EventIn] = ()) -> QuoteOut:
    """Resolve a quote request's terms and household from the database, and calculate;
    ``recorded`` are the events of the year already received for the household."""
    contract = None
    if request.contract_id is not None:
        contract = session.get(PolicyContract, request.contract_id)
        if contract is None:
            raise InvalidInput(f"contract {request.contract_id} does not exist",
                               field="contract_id", value=request.contract_id)
        if contract.terms_version_id is None:
            raise InvalidInput(f"contract {contract.contract_number} has no terms in force",
                               field="contract_id", value=request.contract_id)
        version_id: int | None = contract.terms_version_id
    else:
        version_id = request.terms_version_id
    version = session.get(TermsVersion, version_id)
    if version is None:
        raise InvalidInput(f"terms version {version_id} does not exist",
                           field="terms_version_id", value=version_id)
    terms = terms_of(version)
    if request.household is not None:
        household = request.household.to_snapshot()
    else:
        assert request.household_id is not None  # validated: a snapshot or a household id
        household = household_snapshot(session, request.household_id,
                                       policy_year=terms.policy.policy_year, contract=contract)
    sent = {e.event_id for e in request.events}
    events = [*(e for e in recorded if e.event_id not in sent), *request.events]
    return quote_out(terms, quote(terms, household, events, request.prior_payouts))


# ---------------------------------------------------------------- the fund


def payout_reference(contract_id: int, claim_id: int, payment_id: int) -> str:
    """The income-ledger reference of a payout made under a contract."""
    return f"contract-{contract_id}/claim-{claim_id}/payment-{payment_id}"


def payouts_paid(session: Session, contract_id: int, as_of: date) -> Decimal:
    """Payouts paid under a contract up to a date, as the income ledger records them."""
    total = session.exec(
        select(func.coalesce(func.sum(IncomeRecord.transfer_poverty_insurance), 0)).where(
            IncomeRecord.source == IncomeSource.payout,
            col(IncomeRecord.reference).startswith(f"contract-{contract_id}/", autoescape=True),
            IncomeRecord.period_end <= as_of,
        )
    ).one()
    return total if isinstance(total, Decimal) else Decimal(total) / 100


def fund_position(session: Session, contract_id: int, as_of: date) -> fund.FundPosition:
    """The fund of a contract's policy year as of a date."""
    contract = registry.get_contract(session, contract_id)
    view = registry.contract_view(session, contract)
    return fund.fund_position(
        premium=view["premium"], balance_carried_in=contract.balance_carried_in,
        fee_rate=contract.insurer_fee_rate, payouts=payouts_paid(session, contract_id, as_of),
        start=contract.start_date, end=contract.end_date, as_of=as_of,
    )


def settle_contract(
    session: Session, contract_id: int, *, today: date, next_contract_id: int | None = None
) -> fund.Settlement:
    """Close a policy year: carry a surplus into the next contract, or record the county's
    top-up; the contract becomes closed."""
    contract = registry.get_contract(session, contract_id)
    if contract.status != ContractStatus.active:
        raise Conflict(f"only an active contract is settled; this one is {contract.status}",
                       field="status", value=contract.status)
    if today <= contract.end_date:
        raise Conflict(f"the policy year runs until {contract.end_date}; settle after it",
                       field="end_date", value=contract.end_date)
    # Every payout made under the contract counts, also those paid after the year ended.
    settlement = fund.settle(fund_position(session, contract_id, today))
    if next_contract_id is not None:
        following = session.get(PolicyContract, next_contract_id)
        if following is None or following.county_id != contract.county_id or (
            following.policy_year != contract.policy_year + 1
        ) or following.status == ContractStatus.closed:
            raise InvalidInput("the next contract must be the same county's next policy year, "
                               "not yet settled", field="next_contract_id",
                               value=next_contract_id)
        following.balance_carried_in = settlement.carried_over
    contract.status = ContractStatus.closed
    session.flush()
    return settlement

