"""Bulk import of income reports (收入监测报告导入): one row a household and period, as the
village or the office collects them during post-payout monitoring.

Every row is checked field by field with the same rules as a report entered alone, but for
its amounts, which are read as people type them into a file, by every import's one rule
(policies.tables.typed_number: full-width digits, a thousands comma); the report lists each
bad value with its row, field, value and reason. Nothing is written unless the
whole file is valid, or with ``partial`` the valid rows are written and the bad ones left out.
A row already in the ledger with the same figures is unchanged (importing a file twice
changes nothing); the same household, period and reference with other figures is an error:
correct the ledger's record instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import cast

import pandas as pd
from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from policies import registry
from policies.models import (
    INCOME_COMPONENTS,
    INCOME_FIGURES,
    Household,
    IncomeRecord,
    IncomeRecordCreate,
    Member,
)
from policies.rules import report_period_fault
from policies.tables import (
    FileReport,
    RowError,
    normalise_header,
    read_table,
    typed_number,
)
from policies.types import EARLIEST_DATE, LATEST_DATE, text_fault
from policies.vocab import IncomeSource, MemberStatus

AMOUNTS = INCOME_FIGURES
HEADERS: dict[str, tuple[str, ...]] = {
    "household_number": ("户编号", "户编码", "household_number"),
    "period_start": ("起始日期", "统计起始日期", "开始日期", "period_start"),
    "period_end": ("截止日期", "统计截止日期", "结束日期", "period_end"),
    # not 备注, a remark no import reads (policies.tables): as the reference, a report whose
    # remark differed was a second report of the same period, both stored (a hostile tester's
    # 8,000 and 30,000 for one half-year)
    "reference": ("报告编号", "reference"),
    **{name: (name,) for name in AMOUNTS},
}
ALIASES = {normalise_header(s): f for f, spellings in HEADERS.items() for s in spellings}
# The Chinese column names of the ledger's own fields (工资性收入, 生产经营性收入: 种植业, …).
# (every amount field has a description, so it is never None here)
ALIASES.update({normalise_header(cast(str, IncomeRecord.model_fields[name].description)
                                 .split(" (")[0]): name for name in AMOUNTS})
# and at least one income column: a file whose incomes are all under other headings would
# write reports of no income at all
NFKC_COLUMNS = ("household_number", "period_start", "period_end")
REQUIRED: list[tuple[str, ...]] = [("household_number",), ("period_start",), ("period_end",),
                                   tuple(INCOME_COMPONENTS)]
# The reason of row problem no_active_member (until policies.tables.ROW_PROBLEMS and the
# pages' catalog name it, the pages show these English words).
NO_ACTIVE_MEMBER = ("the household has no active member to divide its income by (a member "
                    "who has died or left is not counted)")


@dataclass
class IncomeImportReport(FileReport):
    """What an import of income reports found and did."""

    created: int = 0
    unchanged: int = 0
    skipped: int = 0


# A whole day: 2026-06-30, 2026/6/30 or 20260630, with a time of day after it as Excel writes
# a date cell (00:00:00) or an export its recorded moment (录入日期 2025-02-14 10:23:45; the
# day is kept). A month, a year, words ("today") or a note after the day are not days.
_DAY = re.compile(r"(?P<year>[0-9]{4})(?:(?P<sep>[-/])(?P<month>[0-9]{1,2})(?P=sep)"
                  r"(?P<day>[0-9]{1,2})|(?P<month8>[0-9]{2})(?P<day8>[0-9]{2}))"
                  r"(?:[ T](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?)?")


def day_of(text: str) -> date | str:
    """A day written 2026-06-30, 2026/6/30, 20260630 or as Excel saves a date cell or an
    export a moment (2026-06-30 00:00:00, 2026-06-30 14:30); the code of the row problem if
    not (required, not_a_date).
    The one rule of every import's days (the annual records' and the past shocks' too)."""
    if not text:
        return "required"
    found = _DAY.fullmatch(text)
    if found is None:
        return "not_a_date"
    try:
        day = date(int(found["year"]), int(found["month"] or found["month8"]),
                   int(found["day"] or found["day8"]))
    except ValueError:  # 2026-02-30, month 13, year 0
        return "not_a_date"
    return day if EARLIEST_DATE <= day <= LATEST_DATE else "not_a_date"


def import_income_reports(session: Session, data: bytes, filename: str, today: date, *,
                          partial: bool = False, villages: list[int] | None = None
                          ) -> IncomeImportReport:
    """Validate a file of income reports and, if it is valid (or ``partial``), write them to
    the ledger with net and per-capita income derived; flushes only. With ``villages``, only
    households of those villages are known (a user limited to some townships)."""
    table = read_table(data, filename, ALIASES, REQUIRED, refuse_unknown=True)
    frame = table.frame
    # full-width digits (an input method's) read as the household and annual imports read
    # them: a hostile tester's ４１１０… was an unknown household, its dates no dates
    for column in NFKC_COLUMNS:
        if column in frame:
            frame[column] = frame[column].str.normalize("NFKC")
    report = IncomeImportReport(rows=len(frame), encoding=table.encoding,
                                ignored_columns=table.ignored_columns)
    households, sizes = _households(session, sorted(set(frame["household_number"]) - {""}),
                                    villages)
    valid: dict[int, IncomeRecordCreate] = {}
    seen: dict[tuple, int] = {}
    for row, cells in frame.iterrows():
        errors = _check_row(int(row), cells, households, sizes, today)
        if errors:
            report.errors.extend(errors)
            continue
        record = _record(int(row), cells, households)
        if isinstance(record, list):
            report.errors.extend(record)
            continue
        key = (record.household_id, record.period_start, record.period_end, record.reference)
        if key in seen:
            report.errors.append(RowError(int(row), "period_start", str(record.period_start),
                                          "same_period", {"row": str(seen[key])}))
            continue
        seen[key] = int(row)
        valid[int(row)] = record
    writes = _against_ledger(session, valid, report)
    report.errors.sort(key=lambda e: (e.row, e.field))
    bad_rows = {e.row for e in report.errors}
    if report.errors and not partial:
        return report
    report.skipped = len(bad_rows)
    for row, record in writes.items():
        if row not in bad_rows:
            # every check it makes (the household, its active members, the ledger's same
            # report) was made of each row above, so no row stops the others here
            registry.create_income_record(session, record)
            report.created += 1
    report.written = True
    return report


def household_ids(session: Session, numbers: list[str], villages: list[int] | None
                  ) -> dict[str, int]:
    """The id of each registered 户编号 among ``numbers`` (of ``villages`` only, if given):
    what every import of household records looks its rows up by."""
    households: dict[str, int] = {}
    for start in range(0, len(numbers), 5000):
        query = select(Household.household_number, Household.id).where(
            col(Household.household_number).in_(numbers[start:start + 5000]))
        if villages is not None:
            query = query.where(col(Household.village_id).in_(villages))
        # stored households always have an id
        households.update(cast(dict[str, int], dict(session.exec(query).all())))
    return households


def _households(session: Session, numbers: list[str], villages: list[int] | None
                ) -> tuple[dict[str, int], dict[int, int]]:
    """The id of each known 户编号 (of ``villages`` only, if given), and the number of
    active members of each of those households (absent: none)."""
    households = household_ids(session, numbers, villages)
    ids = sorted(households.values())
    sizes: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        sizes.update(session.exec(
            select(Member.household_id, func.count(col(Member.id)))
            .where(col(Member.household_id).in_(ids[start:start + 5000]),
                   Member.status == MemberStatus.active)
            .group_by(col(Member.household_id))).all())
    return households, sizes


def _check_row(row: int, cells: pd.Series, households: dict[str, int], sizes: dict[int, int],
               today: date) -> list[RowError]:
    errors = []
    number = cells["household_number"]
    if not number:
        errors.append(RowError(row, "household_number", "", "required"))
    elif number not in households:
        errors.append(RowError(row, "household_number", number, "unknown_household"))
    elif sizes.get(households[number], 0) < 1:
        # per-capita income divides by the active members (registry.create_income_record)
        errors.append(RowError(row, "household_number", number, "no_active_member",
                               reason=NO_ACTIVE_MEMBER))
    fault = text_fault(cells.get("reference", ""))
    if fault is not None:
        errors.append(RowError(row, "reference", cells["reference"], *fault))
    days = {name: day_of(cells[name]) for name in ("period_start", "period_end")}
    for name, found in days.items():
        if isinstance(found, str):
            errors.append(RowError(row, name, cells[name], found))
    if not errors:
        # a day that is not a date was an error above
        problem = report_period_fault(cast(date, days["period_start"]),
                                      cast(date, days["period_end"]), today)
        if problem is not None:
            name, code, values = problem
            errors.append(RowError(row, name, cells[name], code, values))
    errors.extend(RowError(row, name, cells[name], "amount") for name in AMOUNTS
                  if cells.get(name, "") != "" and typed_number(cells[name]) is None)
    return errors


def _record(row: int, cells: pd.Series, households: dict[str, int]
            ) -> IncomeRecordCreate | list[RowError]:
    # yuan as typed (full-width digits, a thousands comma): _check_row refused any other
    values = {name: amount for name in AMOUNTS
              if (amount := typed_number(cells.get(name, ""))) is not None}
    try:
        return IncomeRecordCreate(
            household_id=households[cells["household_number"]],
            # _check_row passed, so both days are dates
            period_start=cast(date, day_of(cells["period_start"])),
            period_end=cast(date, day_of(cells["period_end"])),
            source=IncomeSource.report, reference=cells.get("reference", ""), **values)
    except ValidationError as error:
        return [RowError(row, str(problem["loc"][0]) if problem["loc"] else "row",
                         str(cells.get(problem["loc"][0], "")) if problem["loc"] else "",
                         problem["type"], reason=problem["msg"]) for problem in error.errors()]


def _against_ledger(session: Session, valid: dict[int, IncomeRecordCreate],
                    report: IncomeImportReport) -> dict[int, IncomeRecordCreate]:
    """Rows already in the ledger: the same figures are unchanged, others are errors."""
    writes: dict[int, IncomeRecordCreate] = {}
    ids = sorted({record.household_id for record in valid.values()})
    stored: dict[tuple, IncomeRecord] = {}
    existing: IncomeRecord | None
    for start in range(0, len(ids), 5000):
        for existing in session.exec(select(IncomeRecord).where(
                col(IncomeRecord.household_id).in_(ids[start:start + 5000]),
                IncomeRecord.source == IncomeSource.report)):
            stored[(existing.household_id, existing.period_start, existing.period_end,
                    existing.reference)] = existing
    for row, record in valid.items():
        existing = stored.get((record.household_id, record.period_start, record.period_end,
                               record.reference))
        if existing is None:
            writes[row] = record
        elif all(Decimal(getattr(existing, name)) == getattr(record, name) for name in AMOUNTS):
            report.unchanged += 1
        else:
            report.errors.append(RowError(
                row, "period_start", str(record.period_start), "report_differs",
                {"start": str(record.period_start), "end": str(record.period_end),
                 "record": str(existing.id)}))
    return writes
