"""Pure registry rules over plain values: derived income, monitoring lines, premiums."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from policies.messages import N_
from policies.types import to_fen_decimal

BUSINESS = ("business_crops", "business_livestock", "business_other")
TRANSFERS = (
    "transfer_pension",
    "transfer_dibao",
    "transfer_tekun",
    "transfer_disaster_relief",
    "transfer_poverty_insurance",
    "transfer_other",
)


def net_income(components: Mapping[str, Decimal]) -> Decimal:
    """家庭纯收入: wages + business + property + transfers − business costs."""
    gross = (
        components["wages"]
        + sum((components[k] for k in BUSINESS), Decimal(0))
        + components["property_income"]
        + sum((components[k] for k in TRANSFERS), Decimal(0))
    )
    return to_fen_decimal(gross - components["business_costs"])


def per_capita(net: Decimal, household_size: int) -> Decimal:
    """人均纯收入: net income over the household's members, half-up to the fen."""
    if household_size < 1:
        raise ValueError("a household with no active member has no per-capita income")
    return to_fen_decimal(net / household_size)


def line_amount(
    fixed_amount: Decimal | None, multiple: Decimal | None, standard_amount: Decimal | None
) -> Decimal:
    """The monitoring line in yuan: a fixed figure, or a multiple of a national standard."""
    if fixed_amount is not None:
        return fixed_amount
    if multiple is None or standard_amount is None:
        raise ValueError("a line needs a fixed amount or a multiple of a known standard")
    return to_fen_decimal(multiple * standard_amount)


def premium(premium_per_person: Decimal, insured_people: int) -> Decimal:
    """Premium = premium per person × insured people."""
    return to_fen_decimal(premium_per_person * insured_people)


# Why an income report's period is refused, by code.
PERIOD_PROBLEMS = {
    "period_not_ended": N_("the period ends %(end)s, after today (%(today)s): report a "
                           "period that has ended"),
    "period_reversed": N_("the period ends %(end)s, before it starts (%(start)s)"),
    "period_too_long": N_("the period %(start)s..%(end)s is longer than a year"),
}


def report_period_fault(start: date, end: date, today: date
                        ) -> tuple[str, str, dict[str, str]] | None:
    """An income report covers a period that has ended and is at most a year long: the
    field, the code of PERIOD_PROBLEMS and its values when it does not."""
    values = {"start": str(start), "end": str(end), "today": str(today)}
    if end > today:
        return "period_end", "period_not_ended", values
    if end < start:
        return "period_end", "period_reversed", values
    year_before = end.replace(year=end.year - 1, day=min(
        end.day, calendar.monthrange(end.year - 1, end.month)[1]))
    if start <= year_before:
        return "period_start", "period_too_long", values
    return None


def report_period_problem(start: date, end: date, today: date) -> tuple[str, str] | None:
    """The (field, reason) in English when an income report's period is refused."""
    fault = report_period_fault(start, end, today)
    return None if fault is None else (fault[0], PERIOD_PROBLEMS[fault[1]] % fault[2])
