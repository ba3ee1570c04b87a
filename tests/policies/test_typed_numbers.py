"""What people type into a file is read by one rule in every import (policies.tables.
typed_number): the same cells fed to each import that reads yuan — income reports, annual
records, monitoring lines, past shocks (a burden and a trigger amount) and department event
files — are all accepted as the same exact amount or all refused, with the row and the field
named. A second opinion: the expected amounts below are written out by hand, and every import
is held to them, so that none of them can drift from the others again. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from policies import rules
from policies.annual_import import import_annual_records, import_lines
from policies.event_files import read_events
from policies.household_import import import_households
from policies.income_import import import_income_reports
from policies.models import Household, IncomeRecord, Member, MonitoringLine
from policies.tables import ROW_PROBLEMS, typed_number
from risk.history_import import import_shocks
from risk.models import Shock
from tests.factories import county_with_villages, household_with_members, id_number
from tests.files import csv_bytes

TODAY = date(2026, 6, 15)
REFUSED = "refused"
BLANK = Decimal("0.00")  # an empty amount cell is no amount: 0 in a ledger, none in an event
# Spellings offices type, and what each is: an amount, or refused.
TRICKY: dict[str, Decimal | str] = {
    "１２,３４５.６０": Decimal("12345.60"),  # full-width digits (a Chinese input method)
    "１２，３４５．６０": Decimal("12345.60"),  # full-width comma and point too
    "12,345.60": Decimal("12345.60"),
    "12345.6": Decimal("12345.60"),
    " 12345.60 ": Decimal("12345.60"),
    "1,234,567.8": Decimal("1234567.80"),
    "0.5": Decimal("0.50"),
    "1,2345": REFUSED,  # a comma that is no thousands comma
    "12,34": REFUSED,
    "12.345": REFUSED,  # a fen has two places
    "1234.5000": Decimal("1234.50"),  # a sheet formatted with four places: the same amount
    "100.000": Decimal("100.00"),
    "1e3": REFUSED,
    "-0": REFUSED,
    "+5": REFUSED,
    ".5": REFUSED,
    "٧٥٠٠": REFUSED,  # Arabic-Indic digits: not what a Chinese clerk types or reads
    "10²": REFUSED,  # NFKC reads ² as 2: 102
    "１２ ３４５": REFUSED,
    "": BLANK,
}
CELLS = list(TRICKY)


@pytest.fixture
def county(session):
    ids = county_with_villages(session, villages=1)
    _, people = household_with_members(session, ids["village0"], number="H0001", members=3)
    session.commit()  # each import below is rolled back to this
    return people


def refused_rows(errors, field: str) -> dict[str, str]:
    """The cell of each refused row (rows count from 2 below the headings), by its code,
    checking that the error names the field."""
    found = {}
    for error in errors:
        assert error.field == field, error
        found[CELLS[error.row - 2]] = error.code
    return found


def outcome(values: dict[str, Decimal], refused: dict[str, str]) -> dict[str, Decimal | str]:
    assert set(values) | set(refused) == set(CELLS) and not set(values) & set(refused)
    return {cell: values[cell] if cell in values else (
        REFUSED if refused[cell] == "amount" else refused[cell]) for cell in CELLS}


def income_reports(session, people) -> dict[str, Decimal | str]:
    rows = [["H0001", "2026-01-01", "2026-03-31", cell, f"R{i}"] for i, cell in enumerate(CELLS)]
    report = import_income_reports(session, csv_bytes(
        ["户编号", "起始日期", "截止日期", "工资性收入", "报告编号"], rows), "r.csv", TODAY,
        partial=True)
    stored = {r.reference: r.wages for r in session.exec(select(IncomeRecord))}
    return outcome({cell: stored[f"R{i}"] for i, cell in enumerate(CELLS) if f"R{i}" in stored},
                   refused_rows(report.errors, "wages"))


def annual_records(session, people) -> dict[str, Decimal | str]:
    rows = [["H0001", str(2005 + i), "3", cell] for i, cell in enumerate(CELLS)]
    report = import_annual_records(session, csv_bytes(
        ["户编号", "年度", "家庭人口数", "工资性收入"], rows), "a.csv", TODAY, partial=True)
    stored = {r.period_start.year: r.wages for r in session.exec(select(IncomeRecord))}
    return outcome({cell: stored[2005 + i] for i, cell in enumerate(CELLS) if 2005 + i in stored},
                   refused_rows(report.errors, "wages"))


def lines(session, people) -> dict[str, Decimal | str]:
    rows = [["411081", str(2005 + i), cell] for i, cell in enumerate(CELLS)]
    report = import_lines(session, csv_bytes(["行政区划代码", "年度", "监测线"], rows), "l.csv",
                          partial=True)
    stored = {line.year: line.fixed_amount for line in session.exec(select(MonitoringLine))}
    # a cell read as an amount outside a line's plausible range (policies.rules.line_fault)
    # is refused for that, naming the amount it was read as
    implausible = [e for e in report.errors if e.code == "line_out_of_range"]
    read = {CELLS[e.row - 2]: Decimal(e.values["amount"].replace(",", "")) for e in implausible}
    assert read and all(not rules.LINE_LOW <= amount <= rules.LINE_HIGH
                        for amount in read.values())
    assert all(e.field == "fixed_amount" for e in implausible)
    return outcome({**{cell: stored[2005 + i] for i, cell in enumerate(CELLS)
                       if 2005 + i in stored}, **read},
                   refused_rows([e for e in report.errors if e not in implausible],
                                "fixed_amount"))


def shocks(column: str, field: str):
    def run(session, people) -> dict[str, Decimal | str]:
        header = ["户编号", "风险类型", "发生日期", column, "事件编号"]
        rows = [["H0001", "因灾", "2024-07-21", cell, f"E{i}"] for i, cell in enumerate(CELLS)]
        report = import_shocks(session, csv_bytes(header, rows), "s.csv", TODAY, partial=True)
        stored = {s.reference: s.burden for s in session.exec(select(Shock))}
        return outcome({cell: stored[f"E{i}"] for i, cell in enumerate(CELLS)
                        if f"E{i}" in stored}, refused_rows(report.errors, field))
    return run


def event_files(session, people) -> dict[str, Decimal | str]:
    header = ["事件编号", "事件类型", "事件日期", "证件号码", "医疗总费用"]
    rows = [[f"E{i}", "因病", "2026-05-01", people[0].id_number, cell]
            for i, cell in enumerate(CELLS)]
    events, errors = read_events(csv_bytes(header, rows), "events.csv")
    values = {CELLS[int(e["event_id"][1:])]: Decimal(e["amounts"].get("total_cost", BLANK))
              for e in events}
    refused = {}
    for error in errors:
        i = int(error["source_event_id"][1:])
        assert error["field"] == "amounts.total_cost", error
        assert error["reason"].startswith(f"row {i + 2}: amounts.total_cost = "), error
        assert ROW_PROBLEMS["amount"] in error["reason"]
        refused[CELLS[i]] = "amount"
    return outcome(values, refused)


IMPORTS = {
    "income reports": income_reports,
    "annual records": annual_records,
    "lines": lines,
    "shocks' burden": shocks("自付负担", "burden"),
    "shocks' trigger amount": shocks("核定损失", "assessed_loss"),
    "event files": event_files,
}


def test_every_import_reads_the_same_cells_as_the_same_amounts(session, county):
    seen = {}
    for name, run in IMPORTS.items():
        seen[name] = run(session, county)
        session.rollback()
    # a line is a required amount of more than 0: an empty cell is refused as missing; a
    # year's record whose only amount is empty gives no income at all, and is refused too
    assert seen["lines"].pop("") == "required"
    assert seen["annual records"].pop("") == "no_amounts"
    for name, found in seen.items():
        expected = {cell: value for cell, value in TRICKY.items() if cell in found}
        assert found == expected, name
        # and what the one rule itself says of each cell
        assert found == {c: BLANK if c == "" else REFUSED if typed_number(c) is None
                         else typed_number(c) for c in found}, name


# Whole numbers are read by the same rule, without decimals: a household's size in the
# annual records and a member's months of migrant work in the registry's export.
WHOLE: dict[str, int | str] = {"６": 6, "6": 6, " 6 ": 6, "6,0": REFUSED, "6.0": 6, "6.5": REFUSED,
                               "1e1": REFUSED, "-0": REFUSED, "+6": REFUSED, "٦": REFUSED,
                               "①": REFUSED, "6²": REFUSED}


def test_whole_numbers_are_read_by_the_same_rule(session):
    ids = county_with_villages(session, villages=1)
    cells = list(WHOLE)
    households = import_households(session, csv_bytes(
        ["户编号", "行政村代码", "姓名", "证件号码", "与户主关系", "户类型", "务工时间（月）"],
        [[f"N{i}", "411081100200", "张三", id_number(seq=i + 1), "户主", "脱贫户", cell]
         for i, cell in enumerate(cells)]), "h.csv", partial=True)
    months = {m.id_number: m.migrant_work_months for m in session.exec(select(Member))}
    in_registry = {cell: months.get(id_number(seq=i + 1), REFUSED)
                   for i, cell in enumerate(cells)}
    assert {(e.field, e.code) for e in households.errors} == {
        ("migrant_work_months", "whole_number")}
    assert in_registry == WHOLE

    for i in range(len(cells)):
        household_with_members(session, ids["village0"], number=f"A{i}", members=1,
                               seq_start=100 + i)
    records = import_annual_records(session, csv_bytes(
        ["户编号", "年度", "家庭人口数", "工资性收入"],
        [[f"A{i}", "2024", cell, "9000"] for i, cell in enumerate(cells)]), "a.csv", TODAY,
        partial=True)
    sizes = dict(session.exec(select(Household.household_number, IncomeRecord.household_size)
                              .join(Household, Household.id == IncomeRecord.household_id)).all())
    in_ledger = {cell: sizes.get(f"A{i}", REFUSED) for i, cell in enumerate(cells)}
    assert {(e.field, e.code) for e in records.errors} == {("household_size", "whole_number")}
    assert in_ledger == WHOLE
