"""Pure registry rules over plain values: derived income, monitoring lines, premiums."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import cast

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


# The plausible range of a monitoring line, in yuan per person per year, both ends included.
# The lines DOMAIN.md (§2) gathers from published plans run from 5,100 (one county's 2019
# line, 1.5 × the 2018 national standard) through 8,050, 8,700 and 9,000 to 10,560 (one
# province's 2023 line). 1,000 is a fifth of the lowest; 50,000 is nearly five times the
# highest, room for decades of yearly rises. A line outside is a typing mistake far more
# often than a policy (870 or 87,000 for 8,700), and it would silently change who is eligible
# and who is warned: refused by line_fault below on every path that sets a line (the API and
# the workspace's form through policies.registry, which also checks the lines a change of a
# national standard moves; the file import, from the workspace or the command line, in
# policies.annual_import).
LINE_LOW = Decimal("1000.00")
LINE_HIGH = Decimal("50000.00")

# Why a monitoring line is refused, by code (the values named are strings).
LINE_PROBLEMS = {
    "line_out_of_range": N_("a line of %(amount)s yuan a person a year is outside the "
                            "plausible range of %(low)s to %(high)s yuan: check the figure"),
    "line_multiple_out_of_range": N_("%(multiple)s × the national standard of %(year)s "
                                     "(%(standard)s) makes a line of %(amount)s yuan a person "
                                     "a year, outside the plausible range of %(low)s to "
                                     "%(high)s yuan: check the multiple and the year"),
}


def line_fault(fixed_amount: Decimal | None, multiple: Decimal | None,
               standard_amount: Decimal | None, standard_year: int | None = None
               ) -> tuple[str, str, dict[str, str]] | None:
    """A monitoring line resolves (line_amount) to LINE_LOW..LINE_HIGH yuan: when it does
    not, the field to name (``fixed_amount``, or ``multiple`` for a line set as a multiple of
    the national standard of ``standard_year``), the code of LINE_PROBLEMS and its values."""
    amount = line_amount(fixed_amount, multiple, standard_amount)
    if LINE_LOW <= amount <= LINE_HIGH:
        return None
    values = {"amount": f"{amount:,.2f}", "low": f"{LINE_LOW:,.2f}", "high": f"{LINE_HIGH:,.2f}"}
    if fixed_amount is not None:
        return "fixed_amount", "line_out_of_range", values
    values.update(multiple=f"{cast(Decimal, multiple).normalize():f}", year=f"{standard_year}",
                  standard=f"{standard_amount:,.2f}")
    return "multiple", "line_multiple_out_of_range", values


def line_problem(fault: tuple[str, str, dict[str, str]]) -> str:
    """The English words of a line_fault, the field first."""
    field, code, values = fault
    return f"{field}: {LINE_PROBLEMS[code] % values}"


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
