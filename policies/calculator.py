"""The payout calculator: a pure function of (terms, household snapshot, the policy year's
events, payouts already made) returning each event's payout with a line-by-line trace.

Several bills in one year are counted on the year's cumulative loss: an event's own
entitlement is the growth of the year's entitlement it causes (per-year deductibles and bands
work on the year's cumulative loss). Per-event deductibles and caps work on the event's own
loss and entitlement only: what they cut is never paid by another event. Year caps (per person,
per household, shared) limit what the year's events are paid. Money is Decimal; limits are
compared exactly, and the year's entitlement is rounded half-up to the fen, the rounding being
a line of the trace, so the lines add up to the payout. See docs/terms.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from policies.messages import N_
from policies.terms import Band, Base, Condition, Eligibility, Terms, Trigger, policy_year_bounds
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
    flags: frozenset[str] = frozenset()  # dibao, tekun, disabled_member: see terms.Flag


@dataclass(frozen=True)
class PriorPayout:
    """Money already paid this policy year for a trigger."""

    trigger: str
    amount: Decimal


@dataclass(frozen=True)
class Elsewhere:
    """A person's event judged in another household this policy year (she moved): what it
    counted of her year and was paid. Her per-person deductible, bands and caps are one
    year wherever she lived (a tester's member was paid 229,300 against a 150,000 cap per
    person, half in each household)."""

    event_id: str
    trigger: str
    event_date: date
    id_number: str
    base: Decimal  # its loss as counted (zero where her household then was not eligible)
    paid: Decimal  # its payout there
    named: str = ""  # as the trace names it (the source's own id), if not event_id
    # approved there already: what it was paid is gone, and counts against her caps from the
    # year's start, whatever its date (a late bill of her old household, dated before it,
    # had been given the room her new household had paid out: a re-tester's 188,000)
    settled: bool = False


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


# An early warning's words (预警), by whose losses are watched; kept as the warning's text.
WARNINGS = {
    "person": N_("early warning: this person's %(trigger)s losses this year reach %(after)s, "
                 "above %(threshold)s"),
    "household": N_("early warning: this household's %(trigger)s losses this year reach "
                    "%(after)s, above %(threshold)s"),
}


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
    "income_not_below_limit": "per-capita income is not below the limit",
    "flag_missing": "the household has none of the required flags (低保, 特困供养, a disability)",
    "not_eligible": "the household meets none of the eligibility alternatives",
    "outside_coverage": "the event is outside the coverage period",
    "waiting_period": "the event falls in the waiting period",
    "no_loss": "the event's counted loss is zero",
    "below_deductible": "the loss is not above the deductible",
    "no_entitlement": "the loss above the deductible earns nothing in its band",
    "no_amount": "the terms set no amount for this event",
    "cap_reached": "a cap limited the payout",
    "same_loss": "the same loss as an earlier report: it is paid once",
}
# Why an event counts nothing of its holder's year: the eligibility's reasons.
NOT_ELIGIBLE = frozenset({"not_covered", "household_type", "monitoring_category",
                          "income_unknown", "income_above_limit", "income_not_below_limit",
                          "flag_missing", "not_eligible", "outside_coverage", "waiting_period"})


# The deductible line, by whose losses count (person or household) and the deductible's
# period (none, per year, per event).
DEDUCTIBLE_LINES = {
    ("person", None): N_("%(trigger)s losses of this person this year: %(before)s before, "
                      "%(after)s with this event"),
    ("household", None): N_("%(trigger)s losses of this household this year: %(before)s before, "
                         "%(after)s with this event"),
    ("person", "year"): N_("%(trigger)s losses of this person this year: %(before)s before, "
                        "%(after)s with this event; deductible %(deductible)s per year: this "
                        "event's amount above it %(excess)s"),
    ("household", "year"): N_("%(trigger)s losses of this household this year: %(before)s "
                           "before, %(after)s with this event; deductible %(deductible)s per "
                           "year: this event's amount above it %(excess)s"),
    ("person", "event"): N_("%(trigger)s losses of this person this year: %(before)s before, "
                         "%(after)s with this event; deductible %(deductible)s per event: "
                         "this event's amount above it %(excess)s"),
    ("household", "event"): N_("%(trigger)s losses of this household this year: %(before)s "
                            "before, %(after)s with this event; deductible %(deductible)s per "
                            "event: this event's amount above it %(excess)s"),
}


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def exact(value: Decimal) -> str:
    """An amount with all its places (at least two): a limit is shown as it is compared."""
    return money(value) if value == value.quantize(Decimal("0.01")) else f"{value:,}"


Verdict = tuple[str | None, list[TraceLine]]  # (reason a condition fails or None, lines)


def _income(test: Literal["below", "at_most"], multiple: Decimal,
            household: HouseholdSnapshot) -> Verdict:
    """Per-capita income against ``multiple`` × the line, compared exactly (no rounding):
    ``test`` is "below" (<) or "at_most" (≤)."""
    income, monitoring_line = household.per_capita_income, household.monitoring_line
    if income is None or monitoring_line is None:
        return "income_unknown", [line("eligibility", "per-capita income and the monitoring "
                                       "line are needed for the income test")]
    limit = multiple * monitoring_line
    figures = {"income": money(income), "multiple": str(multiple),
               "line": money(monitoring_line), "limit": exact(limit)}
    if test == "below":
        if income < limit:
            return None, [line("eligibility", "per-capita income %(income)s against "
                               "%(multiple)s × line %(line)s = %(limit)s: below", **figures)]
        return "income_not_below_limit", [line(
            "eligibility", "per-capita income %(income)s against %(multiple)s × line %(line)s = "
            "%(limit)s: not below", **figures)]
    if income <= limit:
        return None, [line("eligibility", "per-capita income %(income)s against %(multiple)s × "
                           "line %(line)s = %(limit)s: within", **figures)]
    return "income_above_limit", [line("eligibility", "per-capita income %(income)s against "
                                       "%(multiple)s × line %(line)s = %(limit)s: above",
                                       **figures)]


def _waiting(days: int, covered_from: date, event: TriggerEvent) -> Verdict:
    first_day = covered_from + timedelta(days=days)
    figures = {"date": str(event.event_date), "days": str(days), "first_day": str(first_day)}
    if event.event_date < first_day:
        return "waiting_period", [line(
            "eligibility", "event date %(date)s is before the end of the %(days)s-day waiting "
            "period (%(first_day)s)", **figures)]
    return None, [line("eligibility", "event date %(date)s is after the %(days)s-day waiting "
                       "period (paid from %(first_day)s)", **figures)]


def _alternatives(branches: tuple[Condition, ...], household: HouseholdSnapshot,
                  event: TriggerEvent, covered_from: date) -> Verdict:
    """``any_of``: the first alternative that holds decides; when none holds, each says why."""
    failed: list[Verdict] = []
    for number, branch in enumerate(branches, 1):
        reason, lines = _condition(branch, household, event, covered_from)
        if reason is None:
            return None, [line("eligibility", "alternative %(number)s of %(count)s holds:",
                               number=str(number), count=str(len(branches))), *lines]
        failed.append((reason, lines))
    reasons = {reason for reason, _ in failed}
    trace = [line("eligibility", "none of the %(count)s alternatives holds:",
                  count=str(len(branches)))]
    for number, (_, lines) in enumerate(failed, 1):
        trace += [line("eligibility", "alternative %(number)s:", number=str(number)), *lines]
    return (reasons.pop() if len(reasons) == 1 else "not_eligible"), trace


def _condition(node: Condition, household: HouseholdSnapshot, event: TriggerEvent,
               covered_from: date, *, waiting: bool = True) -> Verdict:
    """Every condition of a group, in a fixed order; the first that fails decides."""
    trace: list[TraceLine] = []
    for reason, lines in _checks(node, household, event, covered_from, waiting):
        trace += lines
        if reason is not None:
            return reason, trace
    return None, trace


def _checks(node: Condition, household: HouseholdSnapshot, event: TriggerEvent,
            covered_from: date, waiting: bool) -> Iterator[Verdict]:
    """The verdict of each condition of a group, lazily: the caller stops at a failure."""
    category = household.monitoring_category or "none"
    types, categories = node.household_types, node.monitoring_categories
    if types is not None and household.household_type not in types:
        yield "household_type", [line("eligibility", "household type %(type)s is not covered",
                                      type=household.household_type)]
    if categories is not None and category not in categories:
        yield "monitoring_category", [line(
            "eligibility", "monitoring category %(category)s is not covered", category=category)]
    if types is not None and categories is not None:
        yield None, [line("eligibility", "household type %(type)s and monitoring category "
                          "%(category)s are covered", type=household.household_type,
                          category=category)]
    elif types is not None:
        yield None, [line("eligibility", "household type %(type)s is covered",
                          type=household.household_type)]
    elif categories is not None:
        yield None, [line("eligibility", "monitoring category %(category)s is covered",
                          category=category)]
    if node.flags is not None:
        held = [flag for flag in node.flags if flag in household.flags]
        if held:
            yield None, [line("eligibility", "the household has %(flag)s", flag=held[0])]
        else:
            yield "flag_missing", [line("eligibility", "the household has no %(flag)s", flag=flag)
                                   for flag in node.flags]
    if isinstance(node, Eligibility) and node.max_income_multiple is not None:
        yield _income("at_most", node.max_income_multiple, household)
    if node.per_capita_income is not None:
        test = node.per_capita_income
        yield _income(*test.comparison(), household)
    if node.any_of is not None:
        yield _alternatives(node.any_of, household, event, covered_from)
    if node.all_of is not None:
        for branch in node.all_of:
            yield _condition(branch, household, event, covered_from)
    if waiting and node.waiting_days:
        yield _waiting(node.waiting_days, covered_from, event)


def _coverage(terms: Terms, household: HouseholdSnapshot) -> tuple[date, date]:
    """The household's coverage period: its own dates, else the policy year's."""
    year_start, year_end = policy_year_bounds(terms)
    return household.covered_from or year_start, household.covered_to or year_end


def _eligibility(terms: Terms, household: HouseholdSnapshot, event: TriggerEvent) -> Verdict:
    """The terms' conditions, then the coverage period, then the waiting period counted from
    the coverage start (the policy year's start when the quote names no contract)."""
    rules = terms.eligibility
    covered_from, covered_to = _coverage(terms, household)
    reason, trace = _condition(rules, household, event, covered_from, waiting=False)
    if reason is not None:
        return reason, trace
    if not covered_from <= event.event_date <= covered_to:
        return "outside_coverage", [*trace, line(
            "eligibility", "event date %(date)s is outside coverage %(start)s..%(end)s",
            date=str(event.event_date), start=str(covered_from), end=str(covered_to))]
    if rules.waiting_days:
        reason, lines = _waiting(rules.waiting_days, covered_from, event)
        trace += lines
    return reason, trace


def event_base(rule: Base, event: TriggerEvent) -> tuple[Decimal, list[TraceLine]]:
    """The loss the terms count for an event: the added amounts less the subtracted ones."""
    lines = []
    total = ZERO
    for name in rule.add:
        value = event.amounts.get(name, ZERO)
        total += value
        lines.append(line("base", "+ %(name)s %(amount)s", name=name, amount=money(value)))
    for name in rule.subtract:
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


def banded(low: Decimal, high: Decimal, bands: tuple[Band, ...]
           ) -> tuple[Decimal, list[TraceLine]]:
    """The exact (unrounded) entitlement on the slice low..high of the year's excess, with a
    line per band the slice crosses."""
    lines, total, start = [], Decimal(0), Decimal(0)
    for band in bands or WHOLE:
        end = band.up_to
        top = high if end is None else min(high, end)
        bottom = max(low, start)
        if top > bottom:
            part = (top - bottom) * band.ratio
            total += part
            lines.append(line("band", "%(low)s–%(high)s at %(percent)s: %(width)s × %(ratio)s = "
                              "%(part)s", part, low=money(bottom), high=money(top),
                              percent=f"{band.ratio:%}", width=money(top - bottom),
                              ratio=str(band.ratio), part=exact(part)))
        if end is None or end >= high:
            break
        start = end
    return total, lines


def year_entitlement(excess: Decimal, bands: tuple[Band, ...]) -> Decimal:
    """The year's entitlement on its cumulative excess, rounded half-up to the fen."""
    return to_fen_decimal(banded(ZERO, excess, bands)[0])


def calculate(
    terms: Terms,
    household: HouseholdSnapshot,
    events: Iterable[TriggerEvent],
    prior_payouts: Iterable[PriorPayout] = (),
    elsewhere: Iterable[Elsewhere] = (),
) -> Quote:
    """Compute every event's payout for one household and policy year.

    An event's own entitlement is what it adds to the year's entitlement of its holder (the
    bands over the year's cumulative excess, rounded to the fen); a per-event cap cuts that
    and nothing else, for good. Year caps then limit what the year's events were paid.
    ``elsewhere``: its members' events judged in another household this year, which move
    each one's own year (deductible, bands, caps per person) in date order, and are neither
    paid nor totalled here.
    """
    cumulative_base: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    cumulative_excess: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    warned_base: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)  # covered losses
    paid_person: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)  # (trigger, person)
    paid_household: dict[str, Decimal] = defaultdict(lambda: ZERO)  # by trigger
    results = []
    covered_from, covered_to = _coverage(terms, household)

    carried: dict[tuple[str, str], list[TraceLine]] = defaultdict(list)  # said on her next
    for item in elsewhere:
        if item.settled:
            paid_person[(item.trigger, item.id_number)] += item.paid
    stream: list[TriggerEvent | Elsewhere] = [*events, *elsewhere]
    for event in sorted(stream, key=lambda e: (e.event_date, e.event_id)):
        if isinstance(event, Elsewhere):
            _carry(terms, event, cumulative_base, cumulative_excess, paid_person, carried)
            continue
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
        person = event.id_number or "household"
        trace[:0] = carried.pop((event.trigger, person), [])

        if trigger.base is not None:
            base, lines = event_base(trigger.base, event)
            trace.extend(lines)
            # the year's losses: a bill of the year before had raised a warning on this
            # year's (an outside auditor's), whether or not anything is payable
            if trigger.warning is not None and covered_from <= event.event_date <= covered_to:
                watched = (event.trigger,
                           person if trigger.warning.unit == "person" else "household")
                before = warned_base[watched]
                warned_base[watched] = after = before + base
                if before <= trigger.warning.amount < after:
                    warning = True
                    figures = {"trigger": event.trigger, "after": money(after),
                               "threshold": money(trigger.warning.amount)}
                    trace.append(line("warning", WARNINGS[trigger.warning.unit], **figures))
        if reason is not None:
            results.append(EventResult(event.event_id, event.trigger, ZERO, reason, warning,
                                       base, ZERO, tuple(trace)))
            continue

        cumulative = ZERO
        if trigger.base is not None:
            own, cumulative, reason, lines = _own_entitlement(
                trigger, event.trigger, person, base, cumulative_base, cumulative_excess)
            trace.extend(lines)
        else:
            own, reason, lines = _fixed_amount(trigger, event)
            trace.extend(lines)

        pay = own
        if trigger.caps.per_event is not None and pay > trigger.caps.per_event:
            trace.append(line("cap", "cap per event %(cap)s on this event's own entitlement: "
                              "cut", trigger.caps.per_event - pay,
                              cap=money(trigger.caps.per_event)))
            pay = trigger.caps.per_event
            reason = "cap_reached"
        for template, cap, used, names in _year_caps(terms, trigger, event.trigger, person,
                                                     paid_person, paid_household):
            room = max(cap - used, ZERO)
            if pay > room:
                trace.append(line("cap", template, room - pay, cap=money(cap), used=money(used),
                                  **names))
                pay = room
                reason = "cap_reached"
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


def _own_entitlement(
    trigger: Trigger, name: str, person: str, base: Decimal,
    cumulative_base: dict[tuple[str, str], Decimal],
    cumulative_excess: dict[tuple[str, str], Decimal],
) -> tuple[Decimal, Decimal, str | None, list[TraceLine]]:
    """What an event adds to its holder's year: the deductible on the event's loss (per
    event) or on the year's cumulative loss (per year), then the bands over the year's
    cumulative excess. Returns (own entitlement, cumulative loss, reason, lines) and moves
    the holder's year on."""
    deductible = trigger.deductible
    holder = person if deductible is None or deductible.unit == "person" else "household"
    key = (name, holder)
    before_base = cumulative_base[key]
    cumulative_base[key] = cumulative = before_base + base
    if deductible is None:
        excess = base
    elif deductible.per == "year":
        excess = (max(cumulative - deductible.amount, ZERO)
                  - max(before_base - deductible.amount, ZERO))
    else:
        excess = max(base - deductible.amount, ZERO)
    before_excess = cumulative_excess[key]
    cumulative_excess[key] = after_excess = before_excess + excess
    lines = [line("deductible", DEDUCTIBLE_LINES[
        ("household" if holder == "household" else "person",
         deductible.per if deductible else None)],
        trigger=name, before=money(before_base), after=money(cumulative),
        **({"deductible": money(deductible.amount), "excess": money(excess)}
           if deductible else {}))]
    if before_excess:
        lines.append(line("cumulative", "this event's amount counts from %(before)s to %(after)s "
                          "of the year's amount above the deductible",
                          before=money(before_excess), after=money(after_excess)))
    exact_part, band_lines = banded(before_excess, after_excess, trigger.bands)
    lines += band_lines
    own = (year_entitlement(after_excess, trigger.bands)
           - year_entitlement(before_excess, trigger.bands))
    if own != exact_part:
        lines.append(line("rounding", "the year's entitlement rounded half-up to the fen",
                          own - exact_part))
    reason = None
    if base == 0:
        reason = "no_loss"
    elif excess == 0:
        reason = "below_deductible"
    elif own == 0:
        reason = "no_entitlement"
    return own, cumulative, reason, lines


def _carry(terms: Terms, event: Elsewhere, cumulative_base: dict[tuple[str, str], Decimal],
           cumulative_excess: dict[tuple[str, str], Decimal],
           paid_person: dict[tuple[str, str], Decimal],
           carried: dict[tuple[str, str], list[TraceLine]]) -> None:
    """Move a person's own year by her event in another household: its counted loss (where
    her deductible and bands are a person's) and its payout (her caps per person)."""
    trigger = terms.triggers.get(event.trigger)
    if trigger is None:
        return
    if trigger.base is not None and event.base and (
            trigger.deductible is None or trigger.deductible.unit == "person"):
        _own_entitlement(trigger, event.trigger, event.id_number, event.base, cumulative_base,
                         cumulative_excess)
    if not event.settled:  # a settled one counted from the start
        paid_person[(event.trigger, event.id_number)] += event.paid
    carried[(event.trigger, event.id_number)].append(line(
        "elsewhere", "this person's event %(event)s of %(date)s, judged in another household "
        "this year: %(base)s of loss counted, %(paid)s paid", event=event.named or event.event_id,
        date=str(event.event_date), base=money(event.base), paid=money(event.paid)))


def _fixed_amount(trigger: Trigger, event: TriggerEvent
                  ) -> tuple[Decimal, str | None, list[TraceLine]]:
    """A fixed amount, for every event or chosen by one of its details."""
    if trigger.fixed is not None:
        amount = trigger.fixed
        return amount, (None if amount else "no_amount"), [line(
            "fixed", "fixed amount per event %(amount)s", amount, amount=money(amount))]
    assert trigger.fixed_by is not None  # terms validation: exactly one way to pay
    detail = trigger.fixed_by.detail
    value = str(event.details.get(detail, ""))
    amount = trigger.fixed_by.amounts.get(value, ZERO)
    if amount:
        return amount, None, [line("fixed", "fixed amount for %(detail)s %(value)s: %(amount)s",
                                   amount, detail=detail, value=value, amount=money(amount))]
    return ZERO, "no_amount", [
        line("fixed", "no amount is set for %(detail)s %(value)s", detail=detail, value=value)
        if value else line("fixed", "no amount is set for %(detail)s (missing)", detail=detail)]


def _year_caps(
    terms: Terms, trigger: Trigger, name: str, person: str,
    paid_person: dict[tuple[str, str], Decimal], paid_household: dict[str, Decimal],
) -> list[tuple[str, Decimal, Decimal, dict[str, str]]]:
    """The year's caps on an event, in order, each with what the year's events already used
    of it: (line template, cap, used, names)."""
    caps: list[tuple[str, Decimal, Decimal, dict[str, str]]] = []
    if trigger.caps.per_person_year is not None:
        caps.append((N_("cap per person per year %(cap)s, already paid %(used)s: cut"),
                     trigger.caps.per_person_year, paid_person[(name, person)], {}))
    if trigger.caps.per_household_year is not None:
        caps.append((N_("cap per household per year %(cap)s, already paid %(used)s: cut"),
                     trigger.caps.per_household_year, paid_household[name], {}))
    for shared in terms.shared_caps:
        if name not in shared.triggers:
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
    return caps
