"""The payout calculator: a pure function of (terms, household snapshot, the policy year's
events, payouts already made) returning each event's payout with a line-by-line trace.

Several bills in one year are computed on the year's cumulative base: each event is paid the
growth of the cumulative entitlement it causes, so splitting a bill never pays more or less
than the whole. Money is Decimal; the entitlement is rounded half-up to the fen once per
evaluation, and the rounding is a line of the trace, so the lines add up to the payout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from policies.terms import Band, Terms, Trigger, policy_year_bounds
from policies.types import to_fen_decimal

ZERO = Decimal("0.00")
WHOLE = (Band(up_to=None, ratio=Decimal(1)),)


@dataclass(frozen=True)
class TriggerEvent:
    """A shock reported for one person (or the whole household) on one date."""

    event_id: str
    trigger: str
    event_date: date
    id_number: str | None
    amounts: Mapping[str, Decimal] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HouseholdSnapshot:
    """What eligibility needs to know of the household."""

    household_type: str
    monitoring_category: str | None = None
    per_capita_income: Decimal | None = None
    monitoring_line: Decimal | None = None
    covered_from: date | None = None
    covered_to: date | None = None


@dataclass(frozen=True)
class PriorPayout:
    """Money already paid this policy year for a trigger."""

    trigger: str
    amount: Decimal


@dataclass(frozen=True)
class TraceLine:
    """One line of the calculation; ``amount`` is its signed part of the payout, or None
    for a line that only informs."""

    step: str
    text: str
    amount: Decimal | None = None


@dataclass(frozen=True)
class EventResult:
    event_id: str
    trigger: str
    payout: Decimal
    reason: str | None  # why nothing (or less) is paid: a code, see REASONS
    warning: bool
    base: Decimal
    cumulative_base: Decimal
    trace: tuple[TraceLine, ...]


@dataclass(frozen=True)
class TriggerTotal:
    trigger: str
    entitled: Decimal
    already_paid: Decimal
    due: Decimal


@dataclass(frozen=True)
class Quote:
    events: tuple[EventResult, ...]
    totals: tuple[TriggerTotal, ...]
    entitled: Decimal
    already_paid: Decimal
    due: Decimal


REASONS = {
    "not_covered": "the terms do not cover this kind of event",
    "household_type": "the household type is not covered",
    "monitoring_category": "the monitoring category is not covered",
    "income_unknown": "the household's per-capita income or monitoring line is not known",
    "income_above_limit": "per-capita income is above the limit",
    "outside_coverage": "the event is outside the coverage period",
    "waiting_period": "the event falls in the waiting period",
    "no_loss": "the event's counted loss is zero",
    "below_deductible": "the loss is not above the deductible",
    "no_amount": "the terms set no amount for this event",
    "cap_reached": "a cap limited the payout",
}


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _eligibility(terms: Terms, household: HouseholdSnapshot, event: TriggerEvent):
    """Return (reason code or None, trace lines)."""
    rules = terms.eligibility
    lines = []
    category = household.monitoring_category or "none"
    if household.household_type not in rules.household_types:
        return "household_type", [TraceLine("eligibility", f"household type "
                                             f"{household.household_type} is not covered")]
    if category not in rules.monitoring_categories:
        return "monitoring_category", [TraceLine("eligibility", f"monitoring category "
                                                 f"{category} is not covered")]
    lines.append(TraceLine("eligibility", f"household type {household.household_type} and "
                           f"monitoring category {category} are covered"))
    if rules.max_income_multiple is not None:
        if household.per_capita_income is None or household.monitoring_line is None:
            return "income_unknown", [*lines, TraceLine(
                "eligibility", "per-capita income and the monitoring line are needed for the "
                "income test")]
        limit = to_fen_decimal(rules.max_income_multiple * household.monitoring_line)
        text = (f"per-capita income {money(household.per_capita_income)} against "
                f"{rules.max_income_multiple} × line {money(household.monitoring_line)} = "
                f"{money(limit)}")
        if household.per_capita_income > limit:
            return "income_above_limit", [*lines, TraceLine("eligibility", text + ": above")]
        lines.append(TraceLine("eligibility", text + ": within"))
    year_start, year_end = policy_year_bounds(terms)
    covered_from = household.covered_from or year_start
    covered_to = household.covered_to or year_end
    if not covered_from <= event.event_date <= covered_to:
        return "outside_coverage", [*lines, TraceLine(
            "eligibility", f"event date {event.event_date} is outside coverage "
            f"{covered_from}..{covered_to}")]
    if rules.waiting_days and household.covered_from:
        first_day = household.covered_from + timedelta(days=rules.waiting_days)
        if event.event_date < first_day:
            return "waiting_period", [*lines, TraceLine(
                "eligibility", f"event date {event.event_date} is before the end of the "
                f"{rules.waiting_days}-day waiting period ({first_day})")]
    return None, lines


def event_base(trigger: Trigger, event: TriggerEvent) -> tuple[Decimal, list[TraceLine]]:
    """The loss the terms count for an event: the added amounts less the subtracted ones."""
    lines = []
    total = ZERO
    for name in trigger.base.add:
        value = event.amounts.get(name, ZERO)
        total += value
        lines.append(TraceLine("base", f"+ {name} {money(value)}"))
    for name in trigger.base.subtract:
        value = event.amounts.get(name, ZERO)
        total -= value
        lines.append(TraceLine("base", f"− {name} {money(value)}"))
    base = max(total, ZERO)
    lines.append(TraceLine("base", f"counted loss of this event {money(base)}"
                           + (" (never below zero)" if total < 0 else "")))
    return base, lines


def banded(excess: Decimal, bands: tuple[Band, ...]) -> tuple[Decimal, list[TraceLine]]:
    """The exact (unrounded) entitlement on an excess, with a line per band used."""
    lines, total, low = [], Decimal(0), Decimal(0)
    for band in bands or WHOLE:
        high = band.up_to
        top = excess if high is None else min(excess, high)
        if top <= low:
            break
        part = (top - low) * band.ratio
        total += part
        upper = "∞" if high is None else money(high)
        lines.append(TraceLine("band", f"{money(low)}–{upper} at {band.ratio:%}: "
                               f"{money(top - low)} × {band.ratio} = {part}", part))
        if high is None:
            break
        low = high
    return total, lines


def calculate(
    terms: Terms,
    household: HouseholdSnapshot,
    events: Iterable[TriggerEvent],
    prior_payouts: Iterable[PriorPayout] = (),
) -> Quote:
    """Compute every event's payout for one household and policy year."""
    cumulative_base: dict[tuple, Decimal] = defaultdict(lambda: ZERO)  # payable losses
    cumulative_excess: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    paid_for: dict[tuple, Decimal] = defaultdict(lambda: ZERO)  # paid per deductible unit
    warned_base: dict[tuple, Decimal] = defaultdict(lambda: ZERO)  # all covered losses
    paid_person: dict[tuple, Decimal] = defaultdict(lambda: ZERO)  # (trigger, person)
    paid_household: dict[str, Decimal] = defaultdict(lambda: ZERO)  # trigger
    results = []

    for event in sorted(events, key=lambda e: (e.event_date, e.event_id)):
        trigger = terms.triggers.get(event.trigger)
        if trigger is None:
            results.append(EventResult(
                event.event_id, event.trigger, ZERO, "not_covered", False, ZERO, ZERO,
                (TraceLine("eligibility", f"{event.trigger} is not covered by "
                           f"{terms.policy.title}"),)))
            continue
        reason, trace = _eligibility(terms, household, event)
        base = ZERO
        warning = False
        gross = ZERO
        person = event.id_number or "household"

        if trigger.base is not None:
            base, lines = event_base(trigger, event)
            trace.extend(lines)
            if trigger.warning is not None:
                watched = (event.trigger,
                           person if trigger.warning.unit == "person" else "household")
                before = warned_base[watched]
                warned_base[watched] = after = before + base
                if before <= trigger.warning.amount < after:
                    warning = True
                    trace.append(TraceLine(
                        "warning", f"early warning: this {trigger.warning.unit}'s {event.trigger} "
                        f"losses this year reach {money(after)}, above "
                        f"{money(trigger.warning.amount)}"))
        if reason is not None:
            results.append(EventResult(event.event_id, event.trigger, ZERO, reason, warning,
                                       base, ZERO, tuple(trace)))
            continue

        cumulative = ZERO
        key = None  # the deductible's holder: (trigger, person or "household")
        if trigger.base is not None:
            deductible = trigger.deductible
            holder = (person if deductible is None or deductible.unit == "person"
                      else "household")
            key = (event.trigger, holder)
            before_base = cumulative_base[key]
            cumulative_base[key] = cumulative = before_base + base
            before_excess = cumulative_excess[key]
            if deductible is None:
                excess = base
            elif deductible.per == "year":
                excess = (max(cumulative - deductible.amount, ZERO)
                          - max(before_base - deductible.amount, ZERO))
            else:
                excess = max(base - deductible.amount, ZERO)
            cumulative_excess[key] = before_excess + excess
            trace.append(TraceLine(
                "deductible",
                f"{event.trigger} losses of this "
                f"{'household' if holder == 'household' else 'person'}"
                f" this year: {money(before_base)} before, {money(cumulative)} with this event"
                + (f"; deductible {money(deductible.amount)} per {deductible.per}: amount above "
                   f"it {money(cumulative_excess[key])}" if deductible else "")))
            exact, band_lines = banded(cumulative_excess[key], trigger.bands)
            entitled = to_fen_decimal(exact)
            trace.extend(band_lines)
            if entitled != exact:
                trace.append(TraceLine("rounding", "rounded half-up to the fen",
                                       entitled - exact))
            # What earlier events were actually paid (not their entitlement): an amount a cap
            # held back from one event stays payable by a later one within the caps.
            if paid_for[key]:
                trace.append(TraceLine("cumulative", "less what this year's earlier events were "
                                       "paid", -paid_for[key]))
            gross = max(entitled - paid_for[key], ZERO)
            if base == 0:
                reason = "no_loss"
            elif excess == 0:
                reason = "below_deductible"
        elif trigger.fixed is not None:
            gross = trigger.fixed
            trace.append(TraceLine("fixed", f"fixed amount per event {money(gross)}", gross))
        else:
            value = str(event.details.get(trigger.fixed_by.detail, ""))
            gross = trigger.fixed_by.amounts.get(value, ZERO)
            if gross:
                trace.append(TraceLine("fixed", f"fixed amount for {trigger.fixed_by.detail} "
                                       f"{value}: {money(gross)}", gross))
            else:
                reason = "no_amount"
                trace.append(TraceLine("fixed", f"no amount is set for "
                                       f"{trigger.fixed_by.detail} {value or '(missing)'}"))

        pay = gross
        caps = [("per event", trigger.caps.per_event, ZERO)]
        if trigger.caps.per_person_year is not None:
            caps.append(("per person per year", trigger.caps.per_person_year,
                         paid_person[(event.trigger, person)]))
        if trigger.caps.per_household_year is not None:
            caps.append(("per household per year", trigger.caps.per_household_year,
                         paid_household[event.trigger]))
        for shared in terms.shared_caps:
            if event.trigger not in shared.triggers:
                continue
            names = "+".join(shared.triggers)
            if shared.per_person_year is not None:
                used = sum((paid_person[(t, person)] for t in shared.triggers), ZERO)
                caps.append((f"{names} per person per year", shared.per_person_year, used))
            if shared.per_household_year is not None:
                used = sum((paid_household[t] for t in shared.triggers), ZERO)
                caps.append((f"{names} per household per year", shared.per_household_year,
                             used))
        for label, cap, used in caps:
            if cap is None or pay <= 0:
                continue
            room = max(cap - used, ZERO)
            if pay > room:
                trace.append(TraceLine("cap", f"cap {label} {money(cap)}, already paid "
                                       f"{money(used)}: cut", room - pay))
                pay = room
                reason = "cap_reached"
        if key is not None:
            paid_for[key] += pay
        paid_person[(event.trigger, person)] += pay
        paid_household[event.trigger] += pay
        trace.append(TraceLine("payout", f"payout for this event {money(pay)}"))
        results.append(EventResult(event.event_id, event.trigger, pay, reason, warning, base,
                                   cumulative, tuple(trace)))

    prior: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for payout in prior_payouts:
        prior[payout.trigger] += payout.amount
    totals = []
    for name in sorted(set(paid_household) | set(prior)):
        entitled = paid_household[name]
        totals.append(TriggerTotal(name, entitled, prior[name], max(entitled - prior[name], ZERO)))
    entitled = sum((t.entitled for t in totals), ZERO)
    already = sum((t.already_paid for t in totals), ZERO)
    return Quote(tuple(results), tuple(totals), entitled, already,
                 sum((t.due for t in totals), ZERO))
