"""The features of one hand-built household, value by value: ages on the as-of day, the
annual record of each year (the latest of the whole year, whatever its source; part-year and
payout records left out), the line carried forward until the year's is published. On SQLite
and PostgreSQL."""

from datetime import date
from decimal import Decimal

import pytest

from policies import registry
from policies.models import IncomeRecordCreate, MemberCreate, MonitoringLineCreate
from risk import features
from tests.factories import county_with_villages, household_with_members, id_number


@pytest.fixture
def household(session):
    ids = county_with_villages(session, villages=1)
    for year, amount in ((2023, "7000"), (2024, "7500"), (2025, "8000")):
        registry.create_monitoring_line(session, MonitoringLineCreate(
            region_id=ids["county"], year=year, fixed_amount=Decimal(amount)))
    home, _ = household_with_members(session, ids["village0"], members=1)  # head, 1965-03-12
    # on 1 January 2026: the wife turns 65 that day (elderly), the brother is a day short of
    # 65 (of working age), the son turns 16 that day (no longer a child; at school), the
    # grandson is a day short of 16
    people = [
        ("spouse", date(1961, 1, 1), dict(health="chronic")),
        ("sibling", date(1961, 1, 2), dict()),
        ("son", date(2010, 1, 1), dict(schooling="senior")),
        ("grandson", date(2010, 1, 2), dict(schooling="junior", disability_grade=2)),
        ("father", date(1950, 6, 1), dict(labour_skill="none", health="serious_illness")),
    ]
    for seq, (relation, born, extra) in enumerate(people, start=11):
        registry.create_member(session, MemberCreate(
            household_id=home.id, name=relation, relation=relation,
            id_number=id_number(birth=born, seq=seq), **extra))

    def income(year, source="survey", start=None, end=None, **amounts):
        return registry.create_income_record(session, IncomeRecordCreate(
            household_id=home.id, source=source, period_start=start or date(year, 1, 1),
            period_end=end or date(year, 12, 31), reference=f"{source}-{year}-{start}",
            **{k: Decimal(v) for k, v in amounts.items()}))

    kept = {
        2023: income(2023, wages="30000", eligible_out_of_pocket="1000"),
        2024: None,
        2025: income(2025, source="report", wages="20000", business_crops="5000",
                     business_costs="1000", transfer_pension="2000",
                     transfer_poverty_insurance="3000", eligible_out_of_pocket="6000"),
    }
    income(2024, wages="50000", eligible_out_of_pocket="9999")  # superseded by the report:
    kept[2024] = income(2024, source="report", wages="36000", eligible_out_of_pocket="500")
    income(2025, source="report", start=date(2025, 1, 1), end=date(2025, 3, 31),
           wages="1")                                           # part of a year: left out
    income(2025, source="payout", transfer_poverty_insurance="3000")  # counted in the survey
    session.commit()
    return home, kept


def test_one_households_features_value_by_value(session, household):
    home, kept = household

    frame = features.build(session, 2026, [home.id])

    row = frame.loc[home.id]
    assert row["size"] == 6
    assert row["head_age"] == 60
    assert (row["children"], row["elderly"]) == (1, 2)  # the grandson; the wife and father
    assert row["dependants_share"] == pytest.approx(3 / 6)
    assert row["workers"] == 2  # the head and the brother: the son is at school
    last = float(kept[2025].per_capita_net_income)
    before = float(kept[2024].per_capita_net_income)
    assert row["income_last"] == pytest.approx(last)
    assert row["income_ratio"] == pytest.approx(last / 8000)  # 2025's line carried into 2026
    assert row["income_trend"] == pytest.approx((last - before) / before)
    assert row["lowest_ratio"] == pytest.approx(min(
        float(kept[2023].per_capita_net_income) / 7000, before / 7500, last / 8000))
    gross = 20000 + 4000 + 5000  # wages, farming net of costs, transfers
    assert row["wage_share"] == pytest.approx(20000 / gross)
    assert row["farm_share"] == pytest.approx(4000 / gross)
    assert row["transfer_share"] == pytest.approx(5000 / gross)
    assert row["payouts"] == 3000
    assert row["out_of_pocket"] == pytest.approx(6000 / kept[2025].household_size)
    assert row["out_of_pocket_3y"] == 1000 + 500 + 6000  # not the superseded survey's 9999
    assert (row["disabled"], row["severe_disability"]) == (1, 1)
    assert (row["chronic"], row["serious_illness"], row["no_labour"]) == (1, 1, 1)
