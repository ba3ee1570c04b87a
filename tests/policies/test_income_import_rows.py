"""The income-report import checks each row in full before it writes anything: a household
with no active member is that row's error (not the whole file's, and named by its 户编号),
and a date cell is a whole day or an error, never a guess. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlmodel import func, select

from policies.annual_import import import_annual_records
from policies.income_import import import_income_reports
from policies.models import Household, IncomeRecord, Member
from policies.tables import xlsx_bytes
from policies.vocab import MemberStatus
from tests.factories import county_with_villages, household_with_members
from tests.files import csv_bytes

TODAY = date(2026, 6, 15)
HEADER = ["户编号", "起始日期", "截止日期", "工资性收入", "报告编号"]


@pytest.fixture
def households(session):
    """H0001 with three active members, H0002 whose only member has died, H0003 whose
    members have all left."""
    ids = county_with_villages(session, villages=1)
    household_with_members(session, ids["village0"], number="H0001", members=3)
    for number, members, start, status in (("H0002", 1, 10, MemberStatus.deceased),
                                           ("H0003", 2, 20, MemberStatus.left)):
        _, people = household_with_members(session, ids["village0"], number=number,
                                           members=members, seq_start=start)
        for person in people:
            person.status = status
            session.add(person)
    session.flush()
    return ids


def reports(session) -> list[IncomeRecord]:
    return list(session.exec(select(IncomeRecord).order_by(IncomeRecord.id)).all())


def errors_of(report) -> list[tuple[int, str, str, str]]:
    return [(e.row, e.field, e.value, e.code) for e in report.errors]


def test_a_household_without_an_active_member_is_its_rows_error(session, households):
    rows = [["H0001", "2026-01-01", "2026-03-31", "6000", "Q1"],
            ["H0002", "2026-01-01", "2026-03-31", "6000", "Q1"],
            ["H0003", "2026-01-01", "2026-03-31", "6000", "Q1"]]
    data = csv_bytes(HEADER, rows)

    refused = import_income_reports(session, data, "r.csv", TODAY)
    assert not refused.written
    assert errors_of(refused) == [(3, "household_number", "H0002", "no_active_member"),
                                  (4, "household_number", "H0003", "no_active_member")]
    # the reason is the row's, in words; never the household's internal id
    assert "no active member" in refused.errors[0].reason
    assert reports(session) == []

    written = import_income_reports(session, data, "r.csv", TODAY, partial=True)
    assert written.written
    assert (written.created, written.skipped) == (1, 2)
    assert errors_of(written) == errors_of(refused)
    (record,) = reports(session)
    assert (record.household_size, str(record.wages)) == (3, "6000.00")


def test_a_household_without_an_active_member_is_found_with_the_other_bad_values(
        session, households):
    """The check is made in the first pass: the same row's other bad values and the other
    rows' are listed with it, and a row already refused is not written in part."""
    rows = [["H0002", "2026-01-01", "2026-13-01", "6000", "Q1"],
            ["H0001", "2026", "2026-03-31", "6000", "Q2"]]
    report = import_income_reports(session, csv_bytes(HEADER, rows), "r.csv", TODAY,
                                   partial=True)
    assert errors_of(report) == [(2, "household_number", "H0002", "no_active_member"),
                                 (2, "period_end", "2026-13-01", "not_a_date"),
                                 (3, "period_start", "2026", "not_a_date")]
    assert (report.created, report.skipped) == (0, 2) and reports(session) == []


def test_a_household_whose_member_returns_is_imported(session, households):
    member = session.exec(select(Member).join(Household).where(
        Household.household_number == "H0002")).one()
    member.status = MemberStatus.active
    session.add(member)
    session.flush()
    report = import_income_reports(session, csv_bytes(HEADER, [
        ["H0002", "2026-01-01", "2026-03-31", "6000", "Q1"]]), "r.csv", TODAY)
    assert report.errors == [] and report.created == 1
    assert reports(session)[0].household_size == 1


# Cells a reader once took for a day: a month, a year, words, a day with a note after it.
NOT_DAYS = ["2026-02", "2026", "today", "now", "2026-01-05 这是备注", "2026-01-05 junk",
            "2026-01-05 24:00", "2026-01-05 9:00", "2026-13-01", "2026/2/30", "2026-1",
            "05/01/2026", "01-05-2026", "2026-01-05-", "2026.01.05",
            "46027", "-5", "2026-01/05", "0000-01-01", "1899-12-31", "2101-01-01", "+2026-01-05"]


# each cell in one of the two date columns, by turns: the same rule reads both
@pytest.mark.parametrize(("cell", "field"), [
    (cell, ("period_start", "period_end")[i % 2]) for i, cell in enumerate(NOT_DAYS)])
def test_a_date_cell_that_is_not_a_whole_day_is_a_row_error(session, households, cell, field):
    row = {"period_start": "2026-01-05", "period_end": "2026-03-31"} | {field: cell}
    rows = [["H0001", row["period_start"], row["period_end"], "6000", "Q1"],
            ["H0001", "2026-04-01", "2026-05-31", "6000", "Q2"]]
    report = import_income_reports(session, csv_bytes(HEADER, rows), "r.csv", TODAY)
    assert errors_of(report) == [(2, field, cell, "not_a_date")]
    assert "not a date" in report.errors[0].reason
    assert not report.written and reports(session) == []

    partial = import_income_reports(session, csv_bytes(HEADER, rows), "r.csv", TODAY,
                                    partial=True)
    assert (partial.created, partial.skipped) == (1, 1)
    assert [(r.period_start, r.period_end) for r in reports(session)] == [
        (date(2026, 4, 1), date(2026, 5, 31))]


@pytest.mark.parametrize("cell", ["2026-01-05", "2026/01/05", "2026/1/5", "2026-1-5",
                                  "20260105", "2026-01-05 00:00:00", "2026/01/05 00:00:00",
                                  "2026-01-05 00:00", "2026-01-05 14:30:00", "2026-01-05T09:00",
                                  "2026-01-05 23:59:59.5",
                                  "２０２６-０１-０５"])  # as an input method types it
def test_a_whole_day_is_read_as_written(session, households, cell):
    report = import_income_reports(session, csv_bytes(HEADER, [
        ["H0001", cell, "2026-03-31", "6000", "Q1"]]), "r.csv", TODAY)
    assert report.errors == [] and report.created == 1
    assert reports(session)[0].period_start == date(2026, 1, 5)


def test_excel_date_cells_are_days_with_or_without_a_time_of_day(session, households):
    rows = [["H0001", date(2026, 1, 5), datetime(2026, 3, 31), "6000", "Q1"],
            ["H0001", datetime(2026, 4, 1, 14, 30), date(2026, 5, 31), "6000", "Q2"]]
    report = import_income_reports(session, xlsx_bytes(HEADER, rows), "r.xlsx", TODAY,
                                   partial=True)
    assert errors_of(report) == []
    assert [(r.period_start, r.period_end) for r in reports(session)] == [
        (date(2026, 1, 5), date(2026, 3, 31)), (date(2026, 4, 1), date(2026, 5, 31))]


def test_the_annual_import_reads_its_recorded_day_the_same_way(session, households):
    """The annual records' 录入日期 is read by the same rule (policies.income_import.day_of)."""
    header = ["户编号", "年度", "家庭人口数", "工资性收入", "录入日期"]
    rows = [["H0001", "2024", "3", "12000", "2025-02"],
            ["H0001", "2023", "3", "12000", "2024-02-01 00:00:00"]]
    report = import_annual_records(session, csv_bytes(header, rows), "a.csv", TODAY,
                                   partial=True)
    assert errors_of(report) == [(2, "recorded_on", "2025-02", "not_a_date")]
    assert session.exec(select(func.count(IncomeRecord.id))).one() == 1


def test_amounts_are_read_as_typed_into_a_file(session, households):
    """Full-width digits (a Chinese input method) and a thousands comma are the amounts they
    show, as in the annual records (policies.tables.typed_number); a comma that is no
    thousands comma or a third decimal is its row's error naming the field."""
    header = ["户编号", "起始日期", "截止日期", "工资性收入", "转移性收入: 低保金", "报告编号"]
    rows = [["H0001", "2026-01-01", "2026-03-31", "１２,３４５.６０", "1，200", "Q1"],
            ["H0001", "2026-04-01", "2026-05-31", "1,2345", "12.345", "Q2"]]
    report = import_income_reports(session, csv_bytes(header, rows), "r.csv", TODAY,
                                   partial=True)
    assert errors_of(report) == [(3, "transfer_dibao", "12.345", "amount"),
                                 (3, "wages", "1,2345", "amount")]
    assert "at most two decimals" in report.errors[0].reason
    (record,) = reports(session)
    assert (record.wages, record.transfer_dibao, record.net_income) == (
        Decimal("12345.60"), Decimal("1200.00"), Decimal("13545.60"))


def test_full_width_numbers_days_and_colons_are_read_as_the_other_imports_read_them(
        session, households):
    """A hostile tester's report typed with an input method: a household number (Ｈ０００１)
    and days in full-width digits were an unknown household and no dates, and the heading
    转移性收入：养老金 with its full-width colon refused the whole file."""
    wide = str.maketrans("0123456789-H", "０１２３４５６７８９－Ｈ")
    report = import_income_reports(session, csv_bytes(
        ["户编号", "起始日期", "截止日期", "转移性收入：养老金"],
        [["H0001".translate(wide), "2026-01-01".translate(wide), "2026-03-31".translate(wide),
          "1200"]]), "r.csv", TODAY)
    assert report.errors == [] and report.created == 1
    record = reports(session)[0]
    assert (record.period_start, record.transfer_pension) == (date(2026, 1, 1),
                                                              Decimal("1200.00"))


def test_a_remark_is_no_report_number(session, households):
    """备注 is a remark, which no import reads: it had been taken as the report's number, so
    two reports of one half-year with different remarks were both stored (a hostile tester's
    8,000 and 30,000), and a second file's changed figures went in beside the first's."""
    header = ["户编号", "起始日期", "截止日期", "工资性收入", "备注"]
    twice = import_income_reports(session, csv_bytes(header, [
        ["H0001", "2025-01-01", "2025-06-30", "8000", "村报"],
        ["H0001", "2025-01-01", "2025-06-30", "30000", "乡复核"]]), "r.csv", TODAY)
    assert errors_of(twice) == [(3, "period_start", "2025-01-01", "same_period")]
    assert reports(session) == []
    first = import_income_reports(session, csv_bytes(header, [
        ["H0001", "2025-01-01", "2025-12-31", "12345.60", "已核实"]]), "a.csv", TODAY)
    assert first.written and "备注" in first.ignored_columns
    changed = import_income_reports(session, csv_bytes(header, [
        ["H0001", "2025-01-01", "2025-12-31", "20000", "复核"]]), "b.csv", TODAY)
    assert errors_of(changed) == [(2, "period_start", "2025-01-01", "report_differs")]
    assert [r.wages for r in reports(session)] == [Decimal("12345.60")]
