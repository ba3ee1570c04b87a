"""The features of one hand-built household as of a day, value by value, from what was known
that day: the registry as it stood (its versions), the annual reports recorded by then, the
shock ledger's windows; and nothing recorded after the day — registry changes included. The
population and the 12-month fall. On SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from policies import history, registry
from policies.models import (
    IncomeRecord,
    IncomeRecordCreate,
    IncomeRecordUpdate,
    IncomeRecordVersion,
    MemberCreate,
    MonitoringLineCreate,
)
from risk import features
from risk.models import Shock
from tests.factories import county_with_villages, household_with_members, id_number

REGISTERED = date(2023, 6, 1)
DAY = date(2026, 3, 1)  # the day the features are as of


def recorded(session, record, on: date) -> None:
    """A record stamped as recorded at noon (UTC) of ``on``."""
    session.execute(IncomeRecord.__table__.update().where(
        IncomeRecord.__table__.c.id == record.id).values(
        recorded_at=datetime(on.year, on.month, on.day, 12, tzinfo=UTC)))
    session.expire(record, ["recorded_at"])


@pytest.fixture
def household(session, monkeypatch):
    clock = {"today": REGISTERED}
    monkeypatch.setattr(history, "clock", lambda: clock["today"])
    ids = county_with_villages(session, villages=1)
    for year, amount in ((2023, "7000"), (2024, "7500"), (2025, "8000")):
        registry.create_monitoring_line(session, MonitoringLineCreate(
            region_id=ids["county"], year=year, fixed_amount=Decimal(amount)))
    home, _ = household_with_members(session, ids["village0"], members=1)  # head, 1965-03-12
    # on 1 March 2026: the wife turns 65 that day (elderly), the brother is a day short of
    # 65 (of working age), the son turns 16 that day (no longer a child; at school), the
    # grandson is a day short of 16
    people = [
        ("spouse", date(1961, 3, 1), dict(health="chronic")),
        ("sibling", date(1961, 3, 2), dict()),
        ("son", date(2010, 3, 1), dict(schooling="senior")),
        ("grandson", date(2010, 3, 2), dict(schooling="junior", disability_grade=2)),
        ("father", date(1950, 6, 1), dict(labour_skill="none", health="serious_illness")),
    ]
    members = {}
    for seq, (relation, born, extra) in enumerate(people, start=11):
        members[relation] = registry.create_member(session, MemberCreate(
            household_id=home.id, name=relation, relation=relation,
            id_number=id_number(birth=born, seq=seq), **extra))

    def income(year, source="report", start=None, end=None, known=None, **amounts):
        record = registry.create_income_record(session, IncomeRecordCreate(
            household_id=home.id, source=source, period_start=start or date(year, 1, 1),
            period_end=end or date(year, 12, 31), reference=f"{source}-{year}-{start}",
            **{k: Decimal(v) for k, v in amounts.items()}))
        recorded(session, record, known or date(year + 1, 1, 20))
        return record

    kept = {
        2023: income(2023, wages="30000", eligible_out_of_pocket="1000"),
        2024: income(2024, wages="36000", eligible_out_of_pocket="500"),
        2025: income(2025, wages="20000", business_crops="5000", business_costs="1000",
                     transfer_pension="2000", transfer_poverty_insurance="3000",
                     eligible_out_of_pocket="6000"),
    }
    income(2025, start=date(2025, 1, 1), end=date(2025, 3, 31), wages="1")  # part of a year
    income(2025, source="payout", transfer_poverty_insurance="3000", known=date(2025, 9, 1))
    # shocks: 10, 60 and 200 days before the day, one a year and more before, one that
    # happened before the day but was learnt of after it
    for kind, days, burden, known_after in (("illness", 10, "12000", 0),
                                            ("disaster", 60, "6000", 0),
                                            ("accident", 200, "3000", 0),
                                            ("illness", 400, "50000", 0),
                                            ("education", 5, "9000", 3)):
        session.add(Shock(household_id=home.id, kind=kind, occurred_on=DAY - timedelta(days),
                          known_on=DAY - timedelta(days) + timedelta(days=days + known_after)
                          if known_after else DAY - timedelta(days), burden=Decimal(burden),
                          source="simulated"))
    session.commit()
    return home, kept, members, clock


def test_one_households_features_value_by_value(session, household):
    home, kept, _, _ = household

    row = features.build(session, DAY, [home.id]).loc[home.id]

    assert row["size"] == 6
    assert row["head_age"] == 60
    assert (row["children"], row["elderly"]) == (1, 2)  # the grandson; the wife and father
    assert row["dependants_share"] == pytest.approx(3 / 6)
    assert row["workers"] == 2  # the head and the brother: the son is at school
    assert row["students"] == 2
    last = float(kept[2025].per_capita_net_income)
    before = float(kept[2024].per_capita_net_income)
    assert row["income_last"] == pytest.approx(last)
    assert row["line"] == 8000  # 2025's line carried into 2026
    assert row["income_ratio"] == pytest.approx(last / 8000)
    assert row["income_trend"] == pytest.approx((last - before) / before)
    assert row["lowest_ratio"] == pytest.approx(min(
        float(kept[2023].per_capita_net_income) / 7000, before / 7500, last / 8000))
    gross = 20000 + 4000 + 5000  # wages, farming net of costs, transfers
    assert row["wage_share"] == pytest.approx(20000 / gross)
    assert row["farm_share"] == pytest.approx(4000 / gross)
    assert row["transfer_share"] == pytest.approx(5000 / gross)
    assert row["out_of_pocket_last"] == pytest.approx(6000 / kept[2025].household_size)
    assert (row["income_missing"], row["income_age_days"]) == (0, 60)
    assert row["payouts_365d"] == pytest.approx(3000 / 6)
    assert (row["disabled"], row["severe_disability"]) == (1, 1)
    assert (row["chronic"], row["serious_illness"], row["no_labour"]) == (1, 1, 1)
    # the shocks known on the day, by the day they happened
    assert (row["illness_count_90d"], row["illness_count_365d"]) == (1, 1)
    assert (row["disaster_count_90d"], row["accident_count_90d"],
            row["accident_count_365d"]) == (1, 0, 1)
    assert row["education_count_365d"] == 0  # learnt of after the day
    assert row["illness_burden_365d"] == pytest.approx(12000 / 6)
    assert row["burden_30d"] == pytest.approx(12000 / 6)
    assert row["burden_90d"] == pytest.approx(18000 / 6)
    assert row["burden_365d"] == pytest.approx(21000 / 6)
    assert row["burden_ratio_365d"] == pytest.approx(21000 / 6 / last)
    assert row["days_since_shock"] == 10
    assert (row["monitored"], row["was_monitored"]) == (0, 0)
    assert features.population(pd.DataFrame([row])).iloc[0] == (
        "below_line" if last < 8000 else "at_risk")


def test_a_report_not_yet_recorded_is_not_known(session, household):
    home, kept, _, _ = household

    row = features.build(session, date(2026, 1, 10), [home.id]).loc[home.id]

    # 2025's report is recorded on 20 January: the latest known is 2024's, still recent
    assert row["income_last"] == pytest.approx(float(kept[2024].per_capita_net_income))
    assert (row["income_missing"], row["income_age_days"]) == (0, 375)
    stale = features.build(session, date(2027, 6, 1), [home.id]).loc[home.id]
    assert stale["income_missing"] == 1 and pd.isna(stale["income_last"])
    # what its score is floored at: its latest income known, 2025's (not a feature)
    assert stale[features.STALE] == pytest.approx(float(kept[2025].per_capita_net_income))
    assert pd.isna(row[features.STALE])  # a household whose income is known has none
    assert features.population(pd.DataFrame([stale])).iloc[0] == "at_risk"


def test_nothing_recorded_after_the_day_changes_its_features(session, household):
    home, _, members, clock = household
    before = features.build(session, DAY, [home.id])

    later = DAY + timedelta(days=20)
    clock["today"] = later
    grandson, wife = members["grandson"], members["spouse"]
    grandson.disability_grade = 1
    wife.health = "serious_illness"
    home.monitoring_category = "sudden_hardship"
    session.add_all([grandson, wife, home])
    session.flush()
    record = registry.create_income_record(session, IncomeRecordCreate(
        household_id=home.id, source="report", period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31), reference="late correction", wages="900"))
    recorded(session, record, later)
    session.add(Shock(household_id=home.id, kind="illness", occurred_on=DAY - timedelta(1),
                      known_on=later, burden=Decimal("60000"), source="event"))
    session.commit()

    pd.testing.assert_frame_equal(features.build(session, DAY, [home.id]), before)
    after = features.build(session, later, [home.id]).loc[home.id]
    assert after["monitored"] == 1 and after["was_monitored"] == 1
    assert after["severe_disability"] == 1 and after["serious_illness"] == 2
    assert after["new_disability_365d"] == 1 and after["health_worsened_365d"] == 1
    assert after["income_last"] == pytest.approx(900 / 6)
    assert after["illness_count_90d"] == 2
    assert features.population(pd.DataFrame([after])).iloc[0] == "monitored"



def test_a_correction_made_after_the_day_does_not_reach_its_features(session, household,
                                                                      monkeypatch):
    """A record corrected twice reads, as of each day, the figures known that day: the
    correction's moment is when it became known, not the day the record was first made."""
    home, kept, _, _ = household
    before = features.build(session, DAY, [home.id])
    moments = iter([datetime(2026, 4, 1, 12, tzinfo=UTC), datetime(2026, 4, 1, 13, tzinfo=UTC),
                    datetime(2026, 5, 1, 12, tzinfo=UTC)])
    monkeypatch.setattr(registry, "utcnow", lambda: next(moments))
    size = kept[2025].household_size
    payout = session.execute(sa.select(IncomeRecord.__table__.c.id).where(
        IncomeRecord.__table__.c.source == "payout")).scalar_one()

    registry.update_income_record(session, kept[2025].id, IncomeRecordUpdate(wages="2000"))
    registry.update_income_record(session, payout, IncomeRecordUpdate(
        transfer_poverty_insurance="9000"))
    registry.update_income_record(session, kept[2025].id, IncomeRecordUpdate(wages="8000"))
    registry.update_income_record(session, kept[2025].id, IncomeRecordUpdate(wages="8000"))
    session.commit()

    pd.testing.assert_frame_equal(features.build(session, DAY, [home.id]), before)
    net = 5000 + 2000 + 3000 - 1000  # the components other than wages, less the costs

    def income_on(day: date) -> float:
        return features.build(session, day, [home.id]).loc[home.id, "income_last"]

    assert income_on(date(2026, 3, 31)) == before.loc[home.id, "income_last"]
    assert income_on(date(2026, 4, 15)) == pytest.approx((2000 + net) / size, abs=0.005)
    assert features.build(session, date(2026, 4, 15), [home.id]).loc[
        home.id, "payouts_365d"] == pytest.approx(9000 / 6)
    assert income_on(date(2026, 5, 1)) == pytest.approx((8000 + net) / size, abs=0.005)
    # a change to the same figures is no correction: nothing more is kept
    versions = session.execute(sa.select(IncomeRecordVersion.__table__.c.wages).where(
        IncomeRecordVersion.__table__.c.income_record_id == kept[2025].id).order_by(
        IncomeRecordVersion.__table__.c.id)).scalars().all()
    assert versions == [Decimal("20000.00"), Decimal("2000.00")]


def test_a_years_record_is_the_one_recorded_last_not_the_one_stored_last(session, household):
    """A history import stores old records today: a record recorded on 10 January 2026 but
    stored after the one recorded on the 20th is not the latest known."""
    home, kept, _, _ = household
    older = registry.create_income_record(session, IncomeRecordCreate(
        household_id=home.id, source="survey", period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31), reference="annual-2025", wages=Decimal("900")))
    recorded(session, older, date(2026, 1, 10))
    session.commit()
    assert older.id > kept[2025].id

    row = features.build(session, DAY, [home.id]).loc[home.id]

    assert row["income_last"] == pytest.approx(float(kept[2025].per_capita_net_income))
    # before the 20th, the one of the 10th is the latest known
    row = features.build(session, date(2026, 1, 15), [home.id]).loc[home.id]
    assert row["income_last"] == pytest.approx(900 / older.household_size)

def test_the_population_of_each_household():
    frame = pd.DataFrame({"monitored": [1, 0, 0, 0, 1, 0],
                          "income_ratio": [0.5, 0.99, 1.0, float("nan"), float("nan"), 0.2],
                          "size": [3, 2, 4, 1, 2, float("nan")]})
    assert features.population(frame).tolist() == [
        "monitored", "below_line", "at_risk", "at_risk", "monitored", "no_members"]


def test_a_fall_within_the_year_by_income_or_by_spending(session):
    ids = county_with_villages(session, villages=1)
    home, _ = household_with_members(session, ids["village0"], members=3)
    for year, line, wages in ((2026, "8700", "30000"), (2027, "9000", "15000")):
        registry.create_monitoring_line(session, MonitoringLineCreate(
            region_id=ids["county"], year=year, fixed_amount=Decimal(line)))
        registry.create_income_record(session, IncomeRecordCreate(
            household_id=home.id, source="report", period_start=date(year, 1, 1),
            period_end=date(year, 12, 31), wages=Decimal(wages)))
    session.commit()

    # 2026: 10,000 a head, above the line of 8,700
    assert features.outcomes(session, DAY, [home.id]).to_dict() == {home.id: 0}
    # a hospital bill of 6,000 of its own in 2026 leaves 8,000 a head: fell (突发严重困难)
    session.add(Shock(household_id=home.id, kind="illness", occurred_on=date(2026, 7, 1),
                      known_on=date(2026, 7, 2), burden=Decimal("6000"), source="event"))
    session.commit()
    assert features.outcomes(session, DAY, [home.id]).to_dict() == {home.id: 1}
    # from the first day of 2027, 2027's report (5,000 a head) is the one in the window
    assert features.outcomes(session, date(2027, 1, 1), [home.id]).to_dict() == {home.id: 1}
    # a day whose next 12 months end before any report ends has no outcome yet
    assert features.outcomes(session, date(2025, 12, 30), [home.id]).empty


def earning_10000_a_head(session):
    """A household of three that earned 10,000 a head in 2026, above its line of 8,700."""
    ids = county_with_villages(session, villages=1)
    home, _ = household_with_members(session, ids["village0"], members=3)
    registry.create_monitoring_line(session, MonitoringLineCreate(
        region_id=ids["county"], year=2026, fixed_amount=Decimal("8700")))
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=home.id, source="report", period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31), wages=Decimal("30000")))
    return ids, home


def test_a_quarters_report_is_no_years_fall(session):
    """Post-payout monitoring files quarterly reports: a quarter's income (a quarter of the
    year's) against the year's line had labelled the household fallen (a hostile tester's);
    a 12-month report to date still tells a fall."""
    ids, home = earning_10000_a_head(session)
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=home.id, source="report", period_start=date(2026, 10, 1),
        period_end=date(2026, 12, 31), wages=Decimal("7500")))  # its last quarter
    session.commit()
    assert features.outcomes(session, DAY, [home.id]).to_dict() == {home.id: 0}
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=home.id, source="report", period_start=date(2026, 4, 1),
        period_end=date(2027, 3, 31), wages=Decimal("21000")))  # 7,000 a head, to date
    registry.create_monitoring_line(session, MonitoringLineCreate(
        region_id=ids["county"], year=2027, fixed_amount=Decimal("8700")))
    session.commit()
    assert features.outcomes(session, date(2026, 6, 1), [home.id]).to_dict() == {home.id: 1}


def test_a_lost_income_is_in_the_report_and_not_counted_against_it_again(session):
    """A lay-off's lost wages and a business's loss are already missing from the year's
    report: they do not make a fall; a spending of the same size does."""
    ids, home = earning_10000_a_head(session)
    for kind, burden in (("employment", "12000"), ("industry", "9000")):
        session.add(Shock(household_id=home.id, kind=kind, occurred_on=date(2026, 4, 1),
                          known_on=date(2026, 5, 1), burden=Decimal(burden), source="event"))
    session.commit()
    assert features.outcomes(session, DAY, [home.id]).to_dict() == {home.id: 0}
    # a house repair of 6,000 of its own is spending: 8,000 a head after it, under 8,700
    session.add(Shock(household_id=home.id, kind="housing", occurred_on=date(2026, 8, 1),
                      known_on=date(2026, 8, 2), burden=Decimal("6000"), source="event"))
    session.commit()
    assert features.outcomes(session, DAY, [home.id]).to_dict() == {home.id: 1}
