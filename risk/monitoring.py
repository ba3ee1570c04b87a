"""After the payout (赔付后监测): the rules that watch a paid household's income. Pure
functions over plain values, so the nightly run, the API and the tests share them.

A payout opens (or extends) a monitoring window; income reports are expected at a cadence
within it; alerts say what fell and by how much; a household stable above the line long
enough is proposed for risk elimination (风险消除), with the data-quality checks of the
national records.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from policies.terms import Monitoring as MonitoringRules

BELOW_LINE, DROP, SCORE_RISE, NEW_SHOCK = "below_line", "income_drop", "score_rise", "new_shock"
REPORT_OVERDUE = "report_overdue"
BY_ASSISTANCE, NATURALLY = "assistance", "natural"  # 帮扶消除, 自然消除
# A national data-quality rule, not a county's choice: 帮扶消除 this soon is suspect.
SUSPECT_WITHIN_MONTHS = 2
# What the office may record as assistance (帮扶措施) and how a follow-up may end.
ASSISTANCE_KINDS = ("employment", "industry", "medical_assistance", "education_aid",
                    "further_claim", "other")
OUTCOMES = ("recovered", "assisted", "referred", "not_applicable")
# Where a paid household stands some months after the payment (the outcome report).
ABOVE, FELL_BACK, ELIMINATED, NO_REPORT, NOT_YET = (
    "above", "fell_back", "eliminated", "no_report", "not_yet")

@dataclass(frozen=True)
class Alert:
    kind: str
    figures: dict[str, str] = field(default_factory=dict)


class Report(NamedTuple):  # a tuple: the nightly run makes millions
    """An income record of the ledger other than a payout: its period (both days counted),
    the household's net income in it, the poverty-insurance payouts it counts among its
    transfers, and the members it was divided by."""

    start: date
    end: date
    net_income: Decimal
    payouts: Decimal
    size: int


@dataclass(frozen=True)
class Rolling:
    """Per-capita income over the 12 months ending on ``end``: as the national records count
    it (payouts are transfer income) and without the payouts; ``covered_days`` of the 365 (or
    366) came from reports, the rest is annualised from them."""

    end: date
    income: Decimal
    income_without_payout: Decimal
    covered_days: int
    span_days: int


@lru_cache(maxsize=65536)  # the nightly run asks about the same few hundred days again and again
def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_end(opened: date, current_end: date | None, rules: MonitoringRules) -> date:
    """A payout opens a window of ``window_months``, or extends the open one to that far."""
    end = add_months(opened, rules.window_months)
    return end if current_end is None else max(current_end, end)


def reports_due(start: date, end: date, rules: MonitoringRules) -> list[date]:
    """The days income reports are due within a window: every ``report_every_months``."""
    due, k = [], 1
    while (day := add_months(start, k * rules.report_every_months)) <= end:
        due.append(day)
        k += 1
    return due


def overdue_reports(due: list[date], reported: list[date], today: date) -> list[date]:
    """Due days already past with no report received in the period that ends on them."""
    missing, previous = [], None
    for day in due:
        if day >= today:
            break
        if not any((previous is None or previous < r) and r <= day for r in reported):
            missing.append(day)
        previous = day
    return missing


def rolling_income(reports: list[Report], payouts: list[tuple[date, Decimal]],
                   end: date) -> Rolling | None:
    """Per-capita income over the 12 months ending on ``end``, recomputed from the ledger:
    the latest report ending on or before ``end`` and the ones before it, newest first, each
    counted pro rata for the days it adds (not those a newer report covers, nor those before
    the 12 months); days no report covers are annualised from the days covered. Payouts are
    never annualised: those recorded apart in the 12 months and those the reports list (once:
    a report's listed payout is left to the ledger's own record of it when the ledger has a
    payout in the report's period) are added whole as transfer income (national records), and
    taken out for the income without them. None when no report ends in the 12 months."""
    return rolling_incomes(reports, payouts, [end])[0]


def rolling_incomes(reports: list[Report], payouts: list[tuple[date, Decimal]],
                    ends: list[date]) -> list[Rolling | None]:
    """:func:`rolling_income` at each of ``ends``, the ledger sorted once (the nightly run
    asks about every report day of millions of households). ``reports`` come in the order
    they were recorded within a period, so that of two reports of one period the one
    recorded last counts (a correction sent as a new report)."""
    newest = sorted(reversed(reports), key=lambda r: (r.end, r.start), reverse=True)
    apart = [bool(r.payouts) and not any(r.start <= paid <= r.end for paid, _ in payouts)
             for r in newest]  # a report listing none needs no look at the payouts
    return [_rolling(newest, apart, payouts, end) for end in ends]


_DAY, _CENTS = timedelta(days=1), Decimal("0.01")


def _rolling(newest: list[Report], apart: list[bool], payouts: list[tuple[date, Decimal]],
             end: date) -> Rolling | None:
    start = add_months(end + _DAY, -12) - _DAY  # the 12 months are (start, end]
    span = (end - start).days
    earned = listed = Decimal(0)
    covered, cursor, size = 0, end, None
    for report, listed_apart in zip(newest, apart, strict=True):
        if report.end > end:
            continue  # newer than the day asked about
        if report.end <= start or cursor <= start:
            break
        first, last = max(report.start, start + _DAY), min(report.end, cursor)
        if last < first:
            continue  # newer reports cover all its days
        share = Decimal((last - first).days + 1) / Decimal((report.end - report.start).days + 1)
        earned += (report.net_income - report.payouts) * share
        if listed_apart:
            listed += report.payouts * share
        covered += (last - first).days + 1
        cursor = first - _DAY
        size = report.size if size is None else size
    if size is None:
        return None
    earned = earned * span / covered
    paid_apart = sum((amount for paid, amount in payouts if start < paid <= end), Decimal(0))
    size = max(size, 1)
    return Rolling(end=end, income=((earned + listed + paid_apart) / size).quantize(_CENTS),
                   income_without_payout=(earned / size).quantize(_CENTS),
                   covered_days=covered, span_days=span)


def alerts(*, line: Decimal, income: Decimal, income_without_payout: Decimal,
           before_shock: Decimal | None, score: float | None, score_before: float | None,
           new_shock: bool, rules: MonitoringRules) -> list[Alert]:
    """What a household's latest figures call for, each alert with the figures that raised
    it. Income exactly at the line is not below it."""
    found = []
    if income < line:
        found.append(Alert(BELOW_LINE, {"income": str(income), "line": str(line)}))
    if before_shock is not None and before_shock > 0:
        floor = (before_shock * (1 - rules.drop_share)).quantize(Decimal("0.01"))
        if income_without_payout < floor:
            found.append(Alert(DROP, {"income_without_payout": str(income_without_payout),
                                      "before_shock": str(before_shock),
                                      "drop_share": str(rules.drop_share)}))
    if score is not None and score_before is not None and score - score_before >= (
            float(rules.score_rise) - 1e-9):
        found.append(Alert(SCORE_RISE, {"score": f"{score:.2f}",
                                        "score_before": f"{score_before:.2f}"}))
    if new_shock:
        found.append(Alert(NEW_SHOCK))
    return found


def months_stable(points: list[tuple[date, Decimal, Decimal]], since: date) -> int:
    """Whole months the household has stayed at or above the line: from the later of
    ``since`` (the window's opening) and the last report below the line, to the latest
    report. ``points`` are (report day, per-capita income, line); 0 when the latest is below."""
    points = sorted(p for p in points if p[0] >= since)
    if not points or points[-1][1] < points[-1][2]:
        return 0
    below = [day for day, income, line in points if income < line]
    start, latest = max([since, *below]), points[-1][0]
    months = 0
    while add_months(start, months + 1) <= latest:
        months += 1
    return months


def propose_elimination(*, months_above: int, costs_settled: bool, new_risk: bool,
                        has_labour: bool, rules: MonitoringRules) -> tuple[bool, list[dict]]:
    """Whether to propose the household for risk elimination, and why not when not: each
    reason a code with the values its words need (the pages word them) —
    ``months_short`` (``months`` above the line of the ``needed``), ``costs_unsettled``
    (large unavoidable costs are not settled), ``new_risk`` (a new risk has appeared),
    ``no_labour`` (no member has labour capacity: the office decides, not the system).
    Households without labour capacity are never proposed automatically."""
    reasons: list[dict] = []
    if months_above < rules.stable_months:
        reasons.append({"code": "months_short", "months": months_above,
                        "needed": rules.stable_months})
    if not costs_settled:
        reasons.append({"code": "costs_unsettled"})
    if new_risk:
        reasons.append({"code": "new_risk"})
    if not has_labour:
        reasons.append({"code": "no_labour"})
    return not reasons, reasons


def check_elimination(*, way: str, identified: date, eliminated: date, income: Decimal,
                      line: Decimal) -> tuple[list[dict], list[dict]]:
    """The data-quality rules of an elimination: (errors that refuse it, flags to review),
    each a code with its values. Errors: ``way`` (neither 帮扶消除 nor 自然消除),
    ``before_identified`` (``identified_on``: elimination before identification),
    ``below_line`` (``income`` per person below the ``line``). Flags: ``quick_assistance``
    (eliminated by assistance within ``months`` of identification)."""
    errors: list[dict] = []
    flags: list[dict] = []
    if way not in (BY_ASSISTANCE, NATURALLY):
        errors.append({"code": "way", "way": way})
    if eliminated < identified:
        errors.append({"code": "before_identified", "identified_on": identified})
    if income < line:
        errors.append({"code": "below_line", "income": income, "line": line})
    if way == BY_ASSISTANCE and eliminated < add_months(identified, SUSPECT_WITHIN_MONTHS):
        flags.append({"code": "quick_assistance", "months": SUSPECT_WITHIN_MONTHS})
    return errors, flags


def outcome_at(*, paid_on: date, months: int, points: list[tuple[date, Decimal, Decimal]],
               eliminated_on: date | None, today: date) -> str:
    """Where a household paid on ``paid_on`` stood ``months`` later: eliminated by then,
    above the line or fallen back by its latest report after the payment (points are
    report day, per-capita income, line), no report, or not yet that far."""
    day = add_months(paid_on, months)
    if day > today:
        return NOT_YET
    if eliminated_on is not None and eliminated_on <= day:
        return ELIMINATED
    after = [p for p in points if paid_on < p[0] <= day]
    if not after:
        return NO_REPORT
    _day, income, line = max(after)
    return ABOVE if income >= line else FELL_BACK
