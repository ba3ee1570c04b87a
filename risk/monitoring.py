"""After the payout (赔付后监测): the rules that watch a paid household's income. Pure
functions over plain values, so the nightly run, the API and the tests share them.

A payout opens (or extends) a monitoring window; income reports are expected at a cadence
within it; alerts say what fell and by how much; a household stable above the line long
enough is proposed for risk elimination (风险消除), with the data-quality checks of the
national records (DOMAIN.md §7).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

BELOW_LINE, DROP, SCORE_RISE, NEW_SHOCK = "below_line", "income_drop", "score_rise", "new_shock"
BY_ASSISTANCE, NATURALLY = "assistance", "natural"  # 帮扶消除, 自然消除


@dataclass(frozen=True)
class MonitoringRules:
    """What the terms may configure; the defaults are the national practice."""

    window_months: int = 12
    report_every_months: int = 3
    drop_share: Decimal = Decimal("0.30")  # below the pre-shock income by more than this
    score_rise: float = 0.25
    stable_months: int = 6  # above the line at least this long before elimination
    suspect_within_months: int = 2  # 帮扶消除 this soon after identification is suspect


@dataclass(frozen=True)
class Alert:
    kind: str
    figures: dict[str, str] = field(default_factory=dict)


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


def per_capita(net_income: Decimal, payouts: Decimal, size: int) -> tuple[Decimal, Decimal]:
    """Per-capita income as the national records count it (the payout is transfer income)
    and without the payout, so nobody mistakes the payout for recovery."""
    size = max(size, 1)
    return (net_income / size).quantize(Decimal("0.01")), (
        (net_income - payouts) / size).quantize(Decimal("0.01"))


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
            rules.score_rise - 1e-9):
        found.append(Alert(SCORE_RISE, {"score": f"{score:.2f}",
                                        "score_before": f"{score_before:.2f}"}))
    if new_shock:
        found.append(Alert(NEW_SHOCK))
    return found


def months_above_line(monthly: list[tuple[date, Decimal, Decimal]]) -> int:
    """How many of the latest consecutive months (month, per-capita income, line) had income
    at or above the line."""
    count = 0
    for _month, income, line in sorted(monthly, reverse=True):
        if income < line:
            break
        count += 1
    return count


def propose_elimination(*, months_above: int, costs_settled: bool, new_risk: bool,
                        has_labour: bool, rules: MonitoringRules) -> tuple[bool, list[str]]:
    """Whether to propose the household for risk elimination, and why not when not.
    Households without labour capacity are never proposed automatically."""
    reasons = []
    if months_above < rules.stable_months:
        reasons.append(f"income above the line for {months_above} of the "
                       f"{rules.stable_months} months needed")
    if not costs_settled:
        reasons.append("large unavoidable costs are not settled")
    if new_risk:
        reasons.append("a new risk has appeared")
    if not has_labour:
        reasons.append("no member has labour capacity: the office decides, not the system")
    return not reasons, reasons


def check_elimination(*, way: str, identified: date, eliminated: date, income: Decimal,
                      line: Decimal, rules: MonitoringRules) -> tuple[list[str], list[str]]:
    """The data-quality rules of an elimination: (errors that refuse it, flags to review)."""
    errors, flags = [], []
    if way not in (BY_ASSISTANCE, NATURALLY):
        errors.append(f"way is {BY_ASSISTANCE} (帮扶消除) or {NATURALLY} (自然消除)")
    if eliminated < identified:
        errors.append("elimination cannot come before identification")
    if income < line:
        errors.append(f"per-capita income {income} is below the line {line}")
    if way == BY_ASSISTANCE and eliminated < add_months(identified,
                                                        rules.suspect_within_months):
        flags.append(f"eliminated by assistance within {rules.suspect_within_months} months "
                     "of identification")
    return errors, flags
