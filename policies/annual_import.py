"""A county's own history (历年监测数据导入): several years of annual household records and
the monitoring line of each region and year, from the monitoring system's exports.

An annual record is one household's income of one calendar year with the household's size
*of that year*: per-capita income divides by that size, never by today's member count. It is
kept in the ledger as the year's survey record (source ``survey``, as the annual collection
is), dated by the day it was recorded, so a model trained on a past day reads only the years
known then. As in the other imports, every bad value is reported with its row, field, value
and reason, and nothing is written unless the whole file is valid (or ``partial``);
importing the same file again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import cast

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, col, select

from policies import rules
from policies.bulk import insert_columns
from policies.income_import import day_of, household_ids
from policies.models import (
    INCOME_COMPONENTS,
    INCOME_FIGURES,
    IncomeRecord,
    MonitoringLine,
    Region,
)
from policies.tables import (
    FileReport,
    RowError,
    normalise_header,
    read_table,
    typed_numbers,
)
from policies.types import text_fault
from policies.vocab import IncomeSource

AMOUNTS = INCOME_FIGURES
RECORD_HEADERS: dict[str, tuple[str, ...]] = {
    "household_number": ("户编号", "户编码", "household_number"),
    "year": ("年度", "年份", "统计年度", "收入年度", "year"),
    "household_size": ("家庭人口数", "家庭人口", "户人口数", "人口数", "家庭成员数",
                       "household_size"),
    "recorded_on": ("录入日期", "采集日期", "填报日期", "recorded_on"),
    **{name: (name,) for name in AMOUNTS},
}
RECORD_ALIASES = {normalise_header(s): f for f, spellings in RECORD_HEADERS.items()
                  for s in spellings}
# The ledger's own Chinese names of the amounts (工资性收入, 生产经营性收入: 种植业, …).
RECORD_ALIASES.update({normalise_header(cast(str, IncomeRecord.model_fields[name].description)
                                        .split(" (")[0]): name for name in AMOUNTS})
# and an income column: a year's record of no income at all reads as a household below the
# line to the risk model
RECORD_REQUIRED: list[tuple[str, ...]] = [("household_number",), ("year",),
                                          ("household_size",), tuple(INCOME_COMPONENTS)]
LINE_HEADERS: dict[str, tuple[str, ...]] = {
    "region_code": ("行政区划代码", "区划代码", "地区代码", "region_code"),
    "year": ("年度", "年份", "year"),
    # 固定金额: the workspace's own form names it so, and a clerk's sheet follows the form
    "fixed_amount": ("监测线", "防返贫监测线", "监测标准", "监测范围", "固定金额",
                     "固定金额(元/人·年)", "fixed_amount", "amount"),
    "note": ("备注", "来源", "依据", "note"),
}
LINE_ALIASES = {normalise_header(s): f for f, spellings in LINE_HEADERS.items()
                for s in spellings}
LINE_REQUIRED: list[tuple[str, ...]] = [("region_code",), ("year",), ("fixed_amount",)]

FIRST_YEAR = 2000
MAX_SIZE = 50
# Without a recorded date, a year's record counts as known this many days after the year
# ended (the annual collection closes in the first quarter): never earlier than it could be.
DEFAULT_LAG_DAYS = 90


@dataclass
class HistoryReport(FileReport):
    """What an import of a county's history (records, lines, shocks) found and did."""

    created: int = 0
    unchanged: int = 0
    skipped: int = 0


class Checks:
    """Column checks of a history file, each bad value kept as a row error."""

    def __init__(self, frame: pd.DataFrame):
        # the cells as typed: numbers are read by the imports' one rule (typed_numbers)
        self.typed = frame.copy()
        # fullwidth digits and letters (from Chinese input methods) become ASCII
        for column in frame.columns:
            if column != "note":
                frame[column] = frame[column].str.normalize("NFKC")
        self.frame = frame
        self.errors: list[RowError] = []

    def flag(self, mask: pd.Series, column: str, code: str | pd.Series,
             values: dict[str, str] | None = None, *, typed: bool = False) -> None:
        """A row error for each row of ``mask``: one code for all, or each row's own (a
        Series by row); ``typed``: with the cell's value as typed."""
        cells = self.typed if typed else self.frame
        for row in mask.index[mask.fillna(False).astype(bool)]:
            self.errors.append(RowError(
                int(row), column, str(cells[column][row]),
                code if isinstance(code, str) else code[row], values or {}))

    def whole(self, column: str, low: int, high: int) -> pd.Series:
        """Whole numbers from ``low`` to ``high`` (policies.tables.typed_number); NaN where
        empty or bad."""
        text = self.typed[column]
        numbers = pd.to_numeric(typed_numbers(text, places=0), errors="coerce")
        self.flag(text == "", column, "required", typed=True)
        self.flag((text != "") & (numbers.isna() | (numbers < low) | (numbers > high)), column,
                  "whole_number", {"low": str(low), "high": str(high)}, typed=True)
        return numbers

    def amount(self, column: str, *, required: bool, positive: bool = False) -> pd.Series:
        """Yuan as typed (policies.tables.typed_number: at most two decimals, a thousands
        comma allowed); empty is 0 unless ``required``."""
        if column not in self.frame:
            if required:
                raise ValueError(f"{column} is a required column")  # read_table checked it
            return pd.Series([Decimal("0.00")] * len(self.frame), index=self.frame.index,
                             dtype=object)
        text = self.typed[column]
        values = typed_numbers(text)  # at most MONEY_MAX: twelve digits before the point
        if required:
            self.flag(text == "", column, "required", typed=True)
        self.flag((text != "") & values.isna(), column, "amount", typed=True)
        if positive:
            self.flag(values.map(lambda v: v is not None and v == 0), column, "not_positive",
                      typed=True)
        return values.where(text != "", Decimal("0.00") if not required else None)

    def text_faults(self, texts: pd.Series, column: str) -> None:
        """The texts (of ``column``) that break the rule of Text."""
        for row, fault in texts[texts != ""].map(text_fault).dropna().items():
            self.errors.append(RowError(int(row), column, str(texts[row]), *fault))

    def nothing(self) -> pd.Series:
        """A column of None, for an optional column the file does not have."""
        return pd.Series([None] * len(self.frame), index=self.frame.index, dtype=object)

    def households(self, session: Session, villages: list[int] | None = None) -> pd.Series:
        """The registered household of each row's 户编号 (of ``villages`` only, if given)."""
        numbers = sorted(set(self.frame["household_number"]) - {""})
        households = household_ids(session, numbers, villages)
        ids = self.frame["household_number"].map(households)
        self.flag(self.frame["household_number"] == "", "household_number", "required")
        self.flag((self.frame["household_number"] != "") & ids.isna(), "household_number",
                  "unknown_household_to_import")
        return ids

    def repeated(self, keys: list[pd.Series], column: str, code: str) -> None:
        """Rows whose keys (all known) are those of an earlier row: ``code``, with the
        earlier row."""
        first: dict[tuple, int] = {}
        for row, *key in zip(self.frame.index, *keys, strict=True):
            if any(k is None or k != k for k in key):  # an unknown key (None or NaN)
                continue
            if tuple(key) in first:
                self.errors.append(RowError(int(row), column, str(self.frame[column][row]),
                                            code, {"row": str(first[tuple(key)])}))
            else:
                first[tuple(key)] = row

    def day(self, column: str, today: date, *, required: bool) -> pd.Series:
        """Days (2026-06-30, 2026/6/30, 20260630); None where empty or bad."""
        text = self.frame[column] if column in self.frame else pd.Series(
            "", index=self.frame.index)
        days = text.map(lambda t: day_of(t) if t else None)
        not_day = days.map(lambda d: isinstance(d, str))
        self.flag(not_day & ((text != "") | required), column, days.where(not_day, ""))
        days = days.map(lambda d: d if isinstance(d, date) else None)
        self.flag(days.map(lambda d: d is not None and d > today), column, "after_today",
                  {"today": str(today)})
        return days


def _noon(day: date) -> datetime:
    """A recorded day as a timestamp that is that same day in UTC and in China's time zone."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def import_annual_records(session: Session, data: bytes, filename: str, today: date, *,
                          partial: bool = False, lag_days: int = DEFAULT_LAG_DAYS,
                          villages: list[int] | None = None) -> HistoryReport:
    """Validate a file of annual household records and, if valid (or ``partial``), write
    each as the year's survey record with net and per-capita income derived from that
    year's household size; flushes only. Without a recorded date a record is dated
    ``lag_days`` after its year ended (at most today). With ``villages``, only households
    of those villages are known."""
    table = read_table(data, filename, RECORD_ALIASES, RECORD_REQUIRED, refuse_unknown=True)
    frame = table.frame
    report = HistoryReport(rows=len(frame), encoding=table.encoding,
                           ignored_columns=table.ignored_columns)
    check = Checks(frame)
    ids = check.households(session, villages)
    years = check.whole("year", FIRST_YEAR, today.year)
    check.flag(years == today.year, "year", "year_not_ended", {"year": str(today.year)})
    sizes = check.whole("household_size", 1, MAX_SIZE)
    amounts = {name: check.amount(name, required=False) for name in AMOUNTS}
    # a row of empty amounts would be a year of no income, which the score reads as a fall
    given = [name for name in AMOUNTS if name in frame]
    check.flag(pd.concat([check.typed[name] == "" for name in given], axis=1).all(axis=1),
               given[0], "no_amounts", typed=True)

    recorded = check.day("recorded_on", today, required=False)
    check.flag(pd.Series([d is not None and y == y and d < date(int(y), 1, 1)
                          for d, y in zip(recorded, years, strict=True)], index=frame.index),
               "recorded_on", "before_the_year")

    check.repeated([ids, years], "year", "same_year")

    bad = {e.row for e in check.errors}
    good = [row for row in frame.index if row not in bad]
    columns = {name: dict(zip(frame.index, values, strict=True)) for name, values in (
        ("year", years.tolist()), ("size", sizes.tolist()), ("household_id", ids.tolist()),
        ("recorded", recorded.tolist()), *((name, amounts[name].tolist()) for name in AMOUNTS))}
    rows = []
    for row in good:
        year, size = int(columns["year"][row]), int(columns["size"][row])
        values = {name: columns[name][row] for name in AMOUNTS}
        net = rules.net_income(values)
        on = columns["recorded"][row] or min(
            date(year, 12, 31) + timedelta(days=lag_days), today)
        rows.append({"row": row, "household_id": int(columns["household_id"][row]),
                     "year": year, "household_size": size, "net_income": net,
                     "per_capita_net_income": rules.per_capita(net, size),
                     "recorded_at": _noon(on), **values})
    writes = _records_against_ledger(session, rows, check)
    report.errors = sorted(check.errors, key=lambda e: (e.row, e.field))
    if report.errors and not partial:
        return report
    bad = {e.row for e in report.errors}
    report.skipped = len(bad)
    writes = [r for r in writes if r["row"] not in bad]
    report.unchanged = len(good) - len(writes) - len(bad & set(good))
    if writes:
        insert_columns(session, IncomeRecord.__table__, {
            "household_id": [r["household_id"] for r in writes],
            "period_start": [date(r["year"], 1, 1) for r in writes],
            "period_end": [date(r["year"], 12, 31) for r in writes],
            "source": [IncomeSource.survey.value] * len(writes),
            "reference": [f"annual-{r['year']}" for r in writes],
            **{name: [r[name] for r in writes] for name in (
                *AMOUNTS, "household_size", "net_income", "per_capita_net_income",
                "recorded_at")},
        })
    report.created = len(writes)
    report.written = True
    return report


def _records_against_ledger(session: Session, rows: list[dict], check: Checks) -> list[dict]:
    """Rows whose household already has that year's survey record: the same figures and
    size are unchanged; other figures are an error (correct the ledger's record instead)."""
    table = IncomeRecord.__table__
    ids = sorted({r["household_id"] for r in rows})
    stored: dict[tuple[int, int], sa.Row] = {}
    for start in range(0, len(ids), 5000):
        for record in session.execute(sa.select(table).where(
                table.c.household_id.in_(ids[start:start + 5000]),
                table.c.source == IncomeSource.survey.value)):
            if (record.period_start.month, record.period_start.day,
                    record.period_end) == (1, 1, date(record.period_start.year, 12, 31)):
                stored[(record.household_id, record.period_start.year)] = record
    writes = []
    for r in rows:
        existing = stored.get((r["household_id"], r["year"]))
        if existing is None:
            writes.append(r)
        elif any(Decimal(getattr(existing, name)) != r[name] for name in AMOUNTS) or (
                existing.household_size != r["household_size"]):
            check.errors.append(RowError(r["row"], "year", str(r["year"]), "record_differs",
                                         {"year": str(r["year"]), "record": str(existing.id)}))
    return writes


def import_lines(session: Session, data: bytes, filename: str, *, partial: bool = False
                 ) -> HistoryReport:
    """Validate a file of yearly monitoring lines (a region's code, a year, a fixed amount
    a person a year) and, if valid (or ``partial``), write the new ones; flushes only. A
    region and year already set to the same amount is unchanged; to another amount or way,
    an error."""
    table = read_table(data, filename, LINE_ALIASES, LINE_REQUIRED)
    frame = table.frame
    report = HistoryReport(rows=len(frame), encoding=table.encoding,
                           ignored_columns=table.ignored_columns)
    check = Checks(frame)
    regions = dict(session.exec(select(Region.code, Region.id).where(
        col(Region.code).in_(sorted(set(frame["region_code"]) - {""})))).all())
    ids = frame["region_code"].map(regions)
    check.flag(frame["region_code"] == "", "region_code", "required")
    check.flag((frame["region_code"] != "") & ids.isna(), "region_code", "unknown_region")
    years = check.whole("year", FIRST_YEAR, 2100)
    amounts = check.amount("fixed_amount", required=True, positive=True)
    for row, amount in amounts.items():
        fault = rules.line_fault(amount, None, None) if (  # 0 is not_positive
            isinstance(amount, Decimal) and amount) else None
        if fault is not None:
            check.errors.append(RowError(int(row), fault[0], check.typed["fixed_amount"][row],
                                         fault[1], fault[2]))
    notes = frame["note"] if "note" in frame else pd.Series("", index=frame.index)
    check.flag(notes.str.len() > 255, "note", "too_long", {"limit": "255"})
    check.text_faults(notes, "note")

    check.repeated([ids, years], "year", "same_region_year")

    bad = {e.row for e in check.errors}
    good = [row for row in frame.index if row not in bad]
    stored = {(line.region_id, line.year): line for line in session.exec(
        select(MonitoringLine).where(col(MonitoringLine.region_id).in_(
            sorted({int(ids[row]) for row in good}))))} if good else {}
    writes = []
    for row in good:
        key = (int(ids[row]), int(years[row]))
        existing = stored.get(key)
        if existing is None:
            writes.append((row, key))
        elif existing.fixed_amount is None or Decimal(existing.fixed_amount) != amounts[row]:
            values = {"region": frame["region_code"][row], "year": str(key[1]),
                      "line": str(existing.id)}
            if existing.fixed_amount is not None:
                values["amount"] = str(existing.fixed_amount)
            check.errors.append(RowError(
                int(row), "fixed_amount", frame["fixed_amount"][row],
                "line_set_as_multiple" if existing.fixed_amount is None else "line_set_at",
                values))
    report.errors = sorted(check.errors, key=lambda e: (e.row, e.field))
    if report.errors and not partial:
        return report
    bad = {e.row for e in report.errors}
    report.skipped = len(bad)
    writes = [(row, key) for row, key in writes if row not in bad]
    report.unchanged = len(good) - len(writes) - len(bad & set(good))
    session.add_all([MonitoringLine(region_id=key[0], year=key[1], fixed_amount=amounts[row],
                                    note=notes[row]) for row, key in writes])
    session.flush()
    report.created = len(writes)
    report.written = True
    return report
