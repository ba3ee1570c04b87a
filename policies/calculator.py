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

from policies.messages import N_
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
    for a line that only informs. ``template`` and ``values`` make ``text`` (English), so a
    reader can show the line in another language from a message catalog."""

    step: str
    text: str
    amount: Decimal | None = None
    template: str = ""
    values: dict[str, str] = field(default_factory=dict)


def line(step: str, template: str, part: Decimal | None = None, /, **values: str
         ) -> TraceLine:
    """A trace line from a template with %(name)s placeholders and its values as text;
    ``part`` is the line's signed part of the payout."""
    return TraceLine(step, template % values if values else template, part, template, values)


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


# The deductible line, by whose losses count (person or household) and the deductible's
# period (none, per year, per event).
DEDUCTIBLE_LINES = {
    ("person", None): N_("%(trigger)s losses of this person this year: %(before)s before, "
                      "%(after)s with this event"),
    ("household", None): N_("%(trigger)s losses of this household this year: %(before)s before, "
                         "%(after)s with this event"),
    ("person", "year"): N_("%(trigger)s losses of this person this year: %(before)s before, "
                        "%(after)s with this event; deductible %(deductible)s per year: amount "
                        "above it %(excess)s"),
    ("household", "year"): N_("%(trigger)s losses of this household this year: %(before)s "
                           "before, %(after)s with this event; deductible %(deductible)s per "
                           "year: amount above it %(excess)s"),
    ("person", "event"): N_("%(trigger)s losses of this person this year: %(before)s before, "
                         "%(after)s with this event; deductible %(deductible)s per event: "
                         "amount above it %(excess)s"),
    ("household", "event"): N_("%(trigger)s losses of this household this year: %(before)s "
                            "before, %(after)s with this event; deductible %(deductible)s per "
                            "event: amount above it %(excess)s"),
}


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _eligibility(terms: Terms, household: HouseholdSnapshot, event: TriggerEvent):
    """Return (reason code or None, trace lines)."""
    rules = terms.eligibility
    lines = []
    category = household.monitoring_category or "none"
    if household.household_type not in rules.household_types:
        return "household_type", [line("eligibility", "household type %(type)s is not covered",
                                       type=household.household_type)]
    if category not in rules.monitoring_categories:
        return "monitoring_category", [line(
            "eligibility", "monitoring category %(category)s is not covered", category=category)]
    lines.append(line("eligibility", "household type %(type)s and monitoring category "
                      "%(category)s are covered", type=household.household_type,
                      category=category))
    if rules.max_income_multiple is not None:
        if household.per_capita_income is None or household.monitoring_line is None:
            return "income_unknown", [*lines, line(
                "eligibility", "per-capita income and the monitoring line are needed for the "
                "income test")]
        limit = to_fen_decimal(rules.max_income_multiple * household.monitoring_line)
        figures = {"income": money(household.per_capita_income),
                   "multiple": str(rules.max_income_multiple),
                   "line": money(household.monitoring_line), "limit": money(limit)}
        if household.per_capita_income > limit:
            return "income_above_limit", [*lines, line(
                "eligibility", "per-capita income %(income)s against %(multiple)s × line "
                "%(line)s = %(limit)s: above", **figures)]
        lines.append(line("eligibility", "per-capita income %(income)s against %(multiple)s × "
                          "line %(line)s = %(limit)s: within", **figures))
    year_start, year_end = policy_year_bounds(terms)
    covered_from = household.covered_from or year_start
    covered_to = household.covered_to or year_end
    if not covered_from <= event.event_date <= covered_to:
        return "outside_coverage", [*lines, line(
            "eligibility", "event date %(date)s is outside coverage %(start)s..%(end)s",
            date=str(event.event_date), start=str(covered_from), end=str(covered_to))]
    if rules.waiting_days and household.covered_from:
        first_day = household.covered_from + timedelta(days=rules.waiting_days)
        if event.event_date < first_day:
            return "waiting_period", [*lines, line(
                "eligibility", "event date %(date)s is before the end of the %(days)s-day "
                "waiting period (%(first_day)s)", date=str(event.event_date),
                days=str(rules.waiting_days), first_day=str(first_day))]
    return None, lines


def event_base(trigger: Trigger, event: TriggerEvent) -> tuple[Decimal, list[TraceLine]]:
    """The loss the terms count for an event: the added amounts less the subtracted ones."""
    lines = []
    total = ZERO
    for name in trigger.base.add:
        value = event.amounts.get(name, ZERO)
        total += value
        lines.append(line("base", "+ %(name)s %(amount)s", name=name, amount=money(value)))
    for name in trigger.base.subtract:
        value = event.amounts.get(name, ZERO)
        total -= value
        lines.append(line("base", "− %(name)s %(amount)s", name=name, amount=money(value)))
    base = max(total, ZERO)
    if total < 0:
        lines.append(line("base", "counted loss of this event %(amount)s (never below zero)",
                          amount=money(base)))
    else:
        lines.append(line("base", "counted loss of this event %(amount)s", amount=money(base)))
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
        lines.append(line("band", "%(low)s–%(high)s at %(percent)s: %(width)s × %(ratio)s = "
                          "%(part)s", part, low=money(low), high=upper,
                          percent=f"{band.ratio:%}", width=money(top - low),
                          ratio=str(band.ratio), part=str(part)))
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
                (line("eligibility", "%(trigger)s is not covered by %(title)s",
                      trigger=event.trigger, title=terms.policy.title),)))
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
                    figures = {"trigger": event.trigger, "after": money(after),
                               "threshold": money(trigger.warning.amount)}
                    trace.append(line(
                        "warning", "early warning: this person's %(trigger)s losses this year "
                        "reach %(after)s, above %(threshold)s", **figures)
                        if trigger.warning.unit == "person" else line(
                        "warning", "early warning: this household's %(trigger)s losses this "
                        "year reach %(after)s, above %(threshold)s", **figures))
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
            trace.append(line(
                "deductible", DEDUCTIBLE_LINES[
                    ("household" if holder == "household" else "person",
                     deductible.per if deductible else None)],
                trigger=event.trigger, before=money(before_base), after=money(cumulative),
                **({"deductible": money(deductible.amount),
                    "excess": money(cumulative_excess[key])} if deductible else {})))
            exact, band_lines = banded(cumulative_excess[key], trigger.bands)
            entitled = to_fen_decimal(exact)
            trace.extend(band_lines)
            if entitled != exact:
                trace.append(line("rounding", "rounded half-up to the fen", entitled - exact))
            # What earlier events were actually paid (not their entitlement): an amount a cap
            # held back from one event stays payable by a later one within the caps.
            if paid_for[key]:
                trace.append(line("cumulative", "less what this year's earlier events were paid",
                                  -paid_for[key]))
            gross = max(entitled - paid_for[key], ZERO)
            if base == 0:
                reason = "no_loss"
            elif excess == 0:
                reason = "below_deductible"
        elif trigger.fixed is not None:
            gross = trigger.fixed
            trace.append(line("fixed", "fixed amount per event %(amount)s", gross,
                              amount=money(gross)))
        else:
            value = str(event.details.get(trigger.fixed_by.detail, ""))
            gross = trigger.fixed_by.amounts.get(value, ZERO)
            if gross:
                trace.append(line("fixed", "fixed amount for %(detail)s %(value)s: %(amount)s",
                                  gross, detail=trigger.fixed_by.detail, value=value,
                                  amount=money(gross)))
            else:
                reason = "no_amount"
                trace.append(line("fixed", "no amount is set for %(detail)s %(value)s",
                                  detail=trigger.fixed_by.detail, value=value)
                             if value else line("fixed", "no amount is set for %(detail)s "
                                                "(missing)", detail=trigger.fixed_by.detail))

        pay = gross
        caps = [(N_("cap per event %(cap)s, already paid %(used)s: cut"), trigger.caps.per_event,
                 ZERO, {})]
        if trigger.caps.per_person_year is not None:
            caps.append((N_("cap per person per year %(cap)s, already paid %(used)s: cut"),
                         trigger.caps.per_person_year, paid_person[(event.trigger, person)],
                         {}))
        if trigger.caps.per_household_year is not None:
            caps.append((N_("cap per household per year %(cap)s, already paid %(used)s: cut"),
                         trigger.caps.per_household_year, paid_household[event.trigger], {}))
        for shared in terms.shared_caps:
            if event.trigger not in shared.triggers:
                continue
            names = {"triggers": "+".join(shared.triggers)}
            if shared.per_person_year is not None:
                used = sum((paid_person[(t, person)] for t in shared.triggers), ZERO)
                caps.append((N_("cap %(triggers)s per person per year %(cap)s, already paid "
                                "%(used)s: cut"), shared.per_person_year, used, names))
            if shared.per_household_year is not None:
                used = sum((paid_household[t] for t in shared.triggers), ZERO)
                caps.append((N_("cap %(triggers)s per household per year %(cap)s, already "
                                "paid %(used)s: cut"), shared.per_household_year, used, names))
        for template, cap, used, names in caps:
            if cap is None or pay <= 0:
                continue
            room = max(cap - used, ZERO)
            if pay > room:
                trace.append(line("cap", template, room - pay, cap=money(cap), used=money(used),
                                  **names))
                pay = room
                reason = "cap_reached"
        if key is not None:
            paid_for[key] += pay
        paid_person[(event.trigger, person)] += pay
        paid_household[event.trigger] += pay
        trace.append(line("payout", "payout for this event %(amount)s", amount=money(pay)))
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
