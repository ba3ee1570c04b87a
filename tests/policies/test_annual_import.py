"""A county's own history: annual household records and yearly lines imported from files,
on a small generated county, on SQLite and PostgreSQL."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from policies import demo, registry
from policies.annual_import import import_annual_records, import_lines
from policies.models import Household, IncomeRecord, MonitoringLine
from policies.tables import xlsx_bytes
from tests.claims.test_cli import fangpin
from tests.conftest import database_url
from tests.factories import id_number
from tests.files import csv_bytes

TODAY = date(2026, 6, 15)
HEADER = ["户编号", "年度", "家庭人口数", "工资性收入", "生产经营性收入: 种植业",
          "转移性收入: 养老金", "生产经营性支出", "录入日期"]



@pytest.fixture
def county(session):
    """A small generated county (households with members, no income ledger yet)."""
    demo.build_demo_county(session, households=12, seed=5, year=2025, with_incomes=False)
    numbers = session.exec(select(Household.household_number).order_by(Household.id)).all()
    return numbers


def history_rows(numbers, years=(2021, 2022, 2023, 2024)):
    """Four years of records: the size of a year differs from the household's today."""
    return [[number, str(year), str(1 + (i + year) % 5), f"{10000 + 500 * i}.50",
             "3200", "1800", "1200", ""]
            for i, number in enumerate(numbers) for year in years]


def ledger(session):
    return session.exec(select(func.count(IncomeRecord.id))).one()


def errors_of(report):
    return [(e.row, e.field, e.reason) for e in report.errors]


def test_several_years_import_with_each_years_own_household_size(session, county):
    rows = history_rows(county)
    rows[0][-1] = "2022-02-20"  # recorded on a given day
    report = import_annual_records(session, csv_bytes(HEADER, rows), "history.csv", TODAY)
    assert report.errors == [] and report.written
    assert (report.created, report.unchanged) == (len(county) * 4, 0)

    household_id = session.exec(select(Household.id).where(
        Household.household_number == county[0])).one()
    records = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household_id).order_by(IncomeRecord.period_start)).all()
    today_size = registry.household_size(session, household_id)
    for record, year in zip(records, (2021, 2022, 2023, 2024), strict=True):
        size = 1 + year % 5
        net = Decimal("10000.50") + 3200 + 1800 - 1200
        assert (record.period_start, record.period_end) == (date(year, 1, 1),
                                                            date(year, 12, 31))
        assert (record.source, record.household_size) == ("survey", size)
        assert record.net_income == net
        assert record.per_capita_net_income == (net / size).quantize(
            Decimal("0.01"), ROUND_HALF_UP)  # half-up to the fen
    assert {r.household_size for r in records} != {today_size}
    recorded = [r.recorded_at.date() for r in records]
    assert recorded == [date(2022, 2, 20), date(2023, 3, 31), date(2024, 3, 30),
                        date(2025, 3, 31)]  # given, else 90 days after the year ended


def test_an_xlsx_with_the_ledgers_own_english_names(session, county):
    header = ["household_number", "year", "household_size", "wages", "transfer_dibao",
              "eligible_out_of_pocket"]
    data = xlsx_bytes(header, [[county[1], "2024", "3", "9,600.00", "4200", "15000"]])
    report = import_annual_records(session, data, "history.xlsx", TODAY)
    assert report.errors == [] and report.created == 1
    record = session.exec(select(IncomeRecord)).one()
    assert (record.wages, record.transfer_dibao, record.eligible_out_of_pocket) == (
        Decimal("9600.00"), Decimal("4200.00"), Decimal("15000.00"))
    assert record.per_capita_net_income == Decimal("4600.00")


def test_every_bad_row_is_named_and_nothing_is_written(session, county):
    good = [county[0], "2023", "3", "9000", "", "", "", ""]
    rows = [
        good,
        ["NOPE", "2023", "3", "9000", "", "", "", ""],
        [county[1], "二〇二三", "3", "9000", "", "", "", ""],
        [county[1], "2026", "3", "9000", "", "", "", ""],
        [county[2], "2023", "0", "9000", "", "", "", ""],
        [county[3], "2023", "3", "9000.555", "-5", "", "", ""],
        [county[4], "2023", "3", "9000", "", "", "", "2023-13-40"],
        [county[5], "2023", "3", "9000", "", "", "", "2026-07-01"],
        [county[6], "2023", "3", "9000", "", "", "", "2022-12-31"],
        [county[0], "2023", "4", "9000", "", "", "", ""],
        # no amount at all: once a zero-income year, read as a fall (a hostile tester's)
        [county[7], "2023", "3", "", "", "", "", ""],
    ]
    report = import_annual_records(session, csv_bytes(HEADER, rows), "history.csv", TODAY)
    assert not report.written and ledger(session) == 0
    found = errors_of(report)
    assert [(row, field) for row, field, _ in found] == [
        (3, "household_number"), (4, "year"), (5, "year"), (6, "household_size"),
        (7, "business_crops"), (7, "wages"), (8, "recorded_on"),
        (9, "recorded_on"), (10, "recorded_on"), (11, "year"), (12, "wages")]
    reasons = dict(((row, field), reason) for row, field, reason in found)
    assert "import the households first" in reasons[(3, "household_number")]
    assert "whole number from 2000" in reasons[(4, "year")]
    assert "has not ended" in reasons[(5, "year")]
    assert "from 1 to 50" in reasons[(6, "household_size")]
    assert "at most two decimals" in reasons[(7, "wages")]
    assert "not a date" in reasons[(8, "recorded_on")]
    assert "after today" in reasons[(9, "recorded_on")]
    assert "before the year it reports began" in reasons[(10, "recorded_on")]
    assert reasons[(11, "year")] == "the same household and year as row 2"
    assert "every other amount of the row are empty" in reasons[(12, "wages")]

    partial = import_annual_records(session, csv_bytes(HEADER, rows), "history.csv", TODAY,
                                    partial=True)
    assert partial.written and partial.created == 1 and partial.skipped == 11 - 1
    assert ledger(session) == 1


def test_importing_the_same_file_again_changes_nothing(session, county):
    data = csv_bytes(HEADER, history_rows(county[:5]))
    assert import_annual_records(session, data, "history.csv", TODAY).created == 20
    again = import_annual_records(session, data, "history.csv", TODAY)
    assert again.written and (again.created, again.unchanged) == (0, 20)
    assert ledger(session) == 20

    rows = history_rows(county[:5])
    rows[3][2] = "9"  # another size for a year already in the ledger
    changed = import_annual_records(session, csv_bytes(HEADER, rows), "history.csv", TODAY)
    assert not changed.written and ledger(session) == 20
    [(row, field, reason)] = errors_of(changed)
    assert (row, field) == (5, "year") and "already has this household's record of 2024" in (
        reason)


def test_an_office_limited_to_villages_imports_only_its_households(session, county):
    village = session.exec(select(Household.village_id).where(
        Household.household_number == county[0])).one()
    rows = history_rows(county)[:8]
    report = import_annual_records(session, csv_bytes(HEADER, rows), "history.csv", TODAY,
                                   villages=[village + 10_000])
    assert not report.written
    assert {e.field for e in report.errors} == {"household_number"}


LINE_HEADER = ["行政区划代码", "年度", "防返贫监测线", "备注"]


def test_yearly_lines_import_once_and_bad_rows_are_named(session, county):
    session.execute(sa.delete(MonitoringLine))
    rows = [[demo.COUNTY[0], str(year), amount, "省乡村振兴局文件"]
            for year, amount in ((2021, "6900"), (2022, "7400"), (2023, "8050"))]
    report = import_lines(session, csv_bytes(LINE_HEADER, rows), "lines.csv")
    assert report.errors == [] and report.created == 3
    assert registry.monitoring_line_for(
        session, session.exec(select(Household.village_id)).first(), 2022)["amount"] == (
        Decimal("7400.00"))
    again = import_lines(session, csv_bytes(LINE_HEADER, rows), "lines.csv")
    assert (again.created, again.unchanged) == (0, 3)
    as_the_form = ["行政区划代码", "年度", "固定金额（元/人·年）", "备注"]  # the form's label
    assert import_lines(session, csv_bytes(as_the_form, rows), "lines.csv").unchanged == 3

    bad = [
        ["999999", "2024", "8400", ""],
        [demo.COUNTY[0], "1999", "8400", ""],
        [demo.COUNTY[0], "2025", "0", ""],
        [demo.COUNTY[0], "2024", "8400", ""],
        [demo.COUNTY[0], "2024", "8400", ""],
        [demo.COUNTY[0], "2023", "8100", ""],
    ]
    refused = import_lines(session, csv_bytes(LINE_HEADER, bad), "lines.csv")
    assert not refused.written
    found = errors_of(refused)
    assert [(row, field) for row, field, _ in found] == [
        (2, "region_code"), (3, "year"), (4, "fixed_amount"), (6, "year"),
        (7, "fixed_amount")]
    assert "not a registered region code" in found[0][2]
    assert "more than 0" in found[2][2]
    assert found[3][2] == "the same region and year as row 5"
    assert "already set at 8050.00" in found[4][2]
    assert session.exec(select(func.count(MonitoringLine.id))).one() == 3


def test_an_implausible_line_in_a_file_is_a_row_error_and_nothing_is_written(session, county):
    """A line outside the plausible range (policies.rules.line_fault) is refused with its
    row, field and reason, as the API refuses it; the file's other lines wait for it."""
    session.execute(sa.delete(MonitoringLine))
    rows = [[demo.COUNTY[0], "2022", "7400", ""], [demo.COUNTY[0], "2023", "80500", "8050?"],
            [demo.COUNTY[0], "2024", "8400", ""]]
    refused = import_lines(session, csv_bytes(LINE_HEADER, rows), "lines.csv")
    assert not refused.written and refused.created == 0
    assert errors_of(refused) == [(3, "fixed_amount", "a line of 80,500.00 yuan a person a "
                                   "year is outside the plausible range of 1,000.00 to "
                                   "50,000.00 yuan: check the figure")]
    (error,) = refused.errors
    assert (error.value, error.code) == ("80500", "line_out_of_range")
    assert session.exec(select(func.count(MonitoringLine.id))).one() == 0
    # the edges are plausible; partial writes the plausible rows only
    rows += [[demo.COUNTY[0], "2020", "1,000.00", ""], [demo.COUNTY[0], "2021", "50000", ""],
             [demo.COUNTY[0], "2019", "999.99", ""]]
    partial = import_lines(session, csv_bytes(LINE_HEADER, rows), "lines.csv", partial=True)
    assert [(e.row, e.code) for e in partial.errors] == [(3, "line_out_of_range"),
                                                         (7, "line_out_of_range")]
    assert (partial.created, partial.skipped) == (4, 2)
    assert sorted(session.exec(select(MonitoringLine.year, MonitoringLine.fixed_amount))) == [
        (2020, Decimal("1000.00")), (2021, Decimal("50000.00")), (2022, Decimal("7400.00")),
        (2024, Decimal("8400.00"))]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path_factory):
    yield from database_url(request.param, tmp_path_factory, "history")


def test_a_countys_history_from_the_command_line(fresh_url, tmp_path):
    """The commands of docs/risk.md in their order, as a clerk runs them."""
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    assert fangpin(fresh_url, "demo", "--households", "5", "--seed", "3").returncode == 0
    registry_2019 = tmp_path / "registry-2019.csv"
    registry_2019.write_bytes(csv_bytes(
        ["户编号", "行政村代码", "姓名", "证件号码", "与户主关系", "户类型"],
        [["OLD1", "411081100200", "张三", id_number(region="410102", seq=1), "户主", "脱贫户"]]))
    past = fangpin(fresh_url, "import", "households", str(registry_2019), "--as-of",
                   "2019-12-31")
    assert past.returncode == 0 and "households 1 new" in past.stdout, past.stdout + past.stderr
    lines = tmp_path / "lines.csv"
    lines.write_bytes(csv_bytes(LINE_HEADER, [[demo.COUNTY[0], "2019", "6300", ""],
                                              [demo.COUNTY[0], "2020", "6600", ""]]))
    done = fangpin(fresh_url, "import", "lines", str(lines))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "written: 2 new lines, 0 unchanged" in done.stdout

    numbers = [f"{demo.COUNTY[0]}{i:010d}" for i in range(1, 5)] + ["OLD1"]
    records = tmp_path / "records.csv"
    records.write_bytes(csv_bytes(HEADER, history_rows(numbers, years=(2019, 2020))))
    first = fangpin(fresh_url, "import", "annual-records", str(records))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "written: 10 new annual records, 0 unchanged" in first.stdout
    again = fangpin(fresh_url, "import", "annual-records", str(records))
    assert "written: 0 new annual records, 10 unchanged" in again.stdout

    shocks = tmp_path / "shocks.csv"
    shocks.write_bytes(csv_bytes(["户编号", "风险类型", "发生日期", "自付负担"], [
        [numbers[0], "因病", "2020-03-01", "20000"], ["NOPE", "因灾", "2020-07-01", "1"]]))
    bad = fangpin(fresh_url, "import", "shocks", str(shocks), "--report",
                  str(tmp_path / "errors.csv"))
    assert bad.returncode == 1
    assert "row 3: household_number = 'NOPE'" in bad.stdout and "nothing written" in bad.stdout
    assert "import the households first" in (tmp_path / "errors.csv").read_text("utf-8-sig")
