"""A county's past shocks imported into the shock ledger, on SQLite and PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import func, select

from policies import demo
from policies.errors import InvalidInput
from policies.models import Household, Member
from risk.history_import import import_shocks
from risk.models import Shock
from tests.files import csv_bytes

TODAY = date(2026, 6, 15)
HEADER = ["户编号", "证件号码", "风险类型", "发生日期", "登记日期", "自付负担", "残疾等级",
          "事件编号", "医疗总费用", "基本医保支付", "大病保险支付"]



@pytest.fixture
def county(session):
    demo.build_demo_county(session, households=6, seed=5, year=2025, with_incomes=False)
    households = session.exec(select(Household).order_by(Household.id)).all()
    people = {h.household_number: session.exec(select(Member).where(
        Member.household_id == h.id).order_by(Member.id)).all() for h in households}
    return households, people


def ledger(session):
    return session.exec(select(func.count(Shock.id))).one()


def good_rows(households, people):
    a, b = households[0].household_number, households[1].household_number
    return [
        [a, people[a][0].id_number, "因病", "2023-05-04", "2023-05-20", "", "", "H-1",
         "60000", "30000", "12000"],
        [b, "", "因灾", "2024-07-21", "", "8000", "", "", "", "", ""],
        [a, people[a][-1].id_number, "因残", "2022-11-02", "2022-11-30", "", "二级", "", "",
         "", ""],
    ]


def test_past_shocks_reach_the_ledger_with_their_burden_and_known_day(session, county):
    households, people = county
    report = import_shocks(session, csv_bytes(HEADER, good_rows(households, people)), "shocks.csv",
                           TODAY)
    assert report.errors == [] and report.created == 3
    shocks = {s.kind: s for s in session.exec(select(Shock)).all()}
    illness, disaster, disability = shocks["illness"], shocks["disaster"], shocks["disability"]
    assert illness.burden == Decimal("18000.00")  # 60000 − 30000 − 12000, as for an event
    assert (illness.known_on, illness.reference, illness.source) == (
        date(2023, 5, 20), "H-1", "imported")
    assert illness.member_id == people[households[0].household_number][0].id
    assert disaster.burden == Decimal("8000.00")
    assert disaster.known_on == date(2024, 7, 21) + timedelta(days=30)  # none given
    assert (disability.disability_grade, disability.burden) == (2, Decimal("0.00"))


def test_every_bad_row_is_named_and_nothing_is_written(session, county):
    households, people = county
    a, b = households[0].household_number, households[1].household_number
    rows = [
        ["NOPE", "", "因病", "2023-01-01", "", "100", "", "", "", "", ""],
        [a, "", "缺劳动力", "2023-01-01", "", "100", "", "", "", "", ""],
        [a, "", "因病", "2023-02-30", "", "100", "", "", "", "", ""],
        [a, "", "因病", "2026-07-01", "", "100", "", "", "", "", ""],
        [a, "", "因病", "2023-03-01", "2023-02-01", "100", "", "", "", "", ""],
        [a, people[b][0].id_number, "因病", "2023-04-01", "", "100", "", "", "", "", ""],
        [a, "", "因病", "2023-05-01", "", "", "三级", "", "", "", ""],
        [a, "", "因病", "2023-06-01", "", "", "", "", "9.999", "", ""],
        [b, "", "因灾", "2023-07-01", "", "100", "", "", "", "", ""],
        [b, "", "因灾", "2023-07-01", "", "200", "", "", "", "", ""],
    ]
    report = import_shocks(session, csv_bytes(HEADER, rows), "shocks.csv", TODAY)
    assert not report.written and ledger(session) == 0
    found = {(e.row, e.field): e.reason for e in report.errors}
    assert list(found) == [
        (2, "household_number"), (3, "kind"), (4, "occurred_on"), (5, "occurred_on"),
        (6, "known_on"), (7, "id_number"), (8, "disability_grade"), (9, "total_cost"),
        (11, "occurred_on")]
    assert "import the households first" in found[(2, "household_number")]
    assert "因病" in found[(3, "kind")]
    assert "not a date" in found[(4, "occurred_on")]
    assert "after today" in found[(5, "occurred_on")]
    assert "before the day the shock happened" in found[(6, "known_on")]
    assert "another household" in found[(7, "id_number")]
    assert "only given for a disability" in found[(8, "disability_grade")]
    assert "at most two decimals" in found[(9, "total_cost")]
    assert found[(11, "occurred_on")].startswith(
        "the same household, kind, day and 事件编号 as row 10")


def test_the_same_file_again_changes_nothing_and_no_shock_counts_twice(session, county):
    households, people = county
    data = csv_bytes(HEADER, good_rows(households, people))
    assert import_shocks(session, data, "shocks.csv", TODAY).created == 3
    again = import_shocks(session, data, "shocks.csv", TODAY)
    assert again.written and (again.created, again.unchanged) == (0, 3)

    rows = good_rows(households, people)
    rows[1][5] = "9000"
    changed = import_shocks(session, csv_bytes(HEADER, rows), "shocks.csv", TODAY)
    assert not changed.written
    assert [(e.row, e.field) for e in changed.errors] == [(3, "occurred_on")]
    assert "with other figures" in changed.errors[0].reason

    session.add(Shock(household_id=households[2].id, kind="accident",
                      occurred_on=date(2025, 3, 3), known_on=date(2025, 3, 4),
                      burden=Decimal("5000"), source="event", reference="77"))
    session.flush()
    twice = import_shocks(session, csv_bytes(HEADER, [[households[2].household_number, "",
                                                       "意外", "2025-03-03", "", "5000", "",
                                                       "", "", "", ""]]), "shocks.csv", TODAY)
    assert not twice.written and "from trigger event 77" in twice.errors[0].reason
    assert ledger(session) == 4


def test_a_heading_no_one_knows_refuses_the_file_and_writes_nothing(session, county):
    """Found by a hostile tester: 基本医疗保险支付 (the basic insurance's payment, spelt
    otherwise than 基本医保支付) was ignored with a note, and the bill of 100,000 stored as a
    burden of 80,000 instead of 10,000. A misspelt amount changes what the score reads: the
    file is refused naming the heading, as an event file is."""
    households, _ = county
    header = [*HEADER[:8], "医疗总费用", "基本医疗保险支付", "大病保险支付"]
    row = [households[0].household_number, "", "因病", "2023-05-04", "", "", "", "H-9",
           "100000", "70000", "20000"]
    with pytest.raises(InvalidInput) as refused:
        import_shocks(session, csv_bytes(header, [row]), "shocks.csv", TODAY)
    assert "基本医疗保险支付" in str(refused.value.message)
    assert ledger(session) == 0
