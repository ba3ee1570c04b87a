"""The demo county looks like a real one and can be trusted as test data."""

from collections import Counter
from decimal import Decimal

import pytest
from sqlmodel import func, select

from policies import demo, registry, rules
from policies.citizen_id import parse_citizen_id
from policies.errors import Conflict
from policies.models import (
    INCOME_COMPONENTS,
    Household,
    IncomeRecord,
    Member,
    PolicyContract,
    Region,
)


@pytest.fixture
def county(session):
    summary = demo.build_demo_county(session, households=400, seed=7, year=2026)
    return summary


def test_demo_county_has_22_townships_with_villages(session, county):
    townships = session.exec(select(Region).where(Region.parent_id == county.county_id)).all()
    assert len(townships) == 22
    assert session.exec(select(func.count(Region.id)).where(Region.level == "village")).one() \
        == county.villages
    assert county.households == 400


def test_every_member_has_a_valid_unique_id_number_matching_sex_and_birth(session, county):
    members = session.exec(select(Member)).all()
    assert len(members) == county.members
    assert len({m.id_number for m in members}) == len(members)
    for member in members:
        parsed = parse_citizen_id(member.id_number)
        assert parsed.sex == member.sex
        assert parsed.birth_date == member.birth_date


def test_households_have_one_head_and_realistic_sizes(session, county):
    heads = Counter(session.exec(select(Member.household_id).where(Member.relation == "head")))
    assert len(heads) == 400 and set(heads.values()) == {1}
    mean_size = county.members / county.households
    assert 3.2 < mean_size < 3.8  # the seed report: 52,991 people in 15,205 households (3.49)
    disabled = session.exec(select(func.count(Member.id)).where(
        Member.disability_grade.is_not(None))).one()
    assert 0.03 < disabled / county.members < 0.15


def test_incomes_are_spread_around_the_line_and_derived_by_the_rules(session, county):
    line = registry.monitoring_line_for(session, county.county_id, 2026)["amount"]
    records = session.exec(select(IncomeRecord).where(IncomeRecord.reference == "annual-2025"))
    records = records.all()
    assert len(records) == 400
    below = sum(r.per_capita_net_income < line for r in records) / len(records)
    assert 0.03 < below < 0.30
    for record in records:
        components = {k: getattr(record, k) for k in (*INCOME_COMPONENTS, "business_costs")}
        assert record.net_income == rules.net_income(components)
        assert record.per_capita_net_income == rules.per_capita(record.net_income,
                                                                record.household_size)


def test_demo_contract_names_every_household(session, county):
    contract = session.get(PolicyContract, county.contract_id)
    view = registry.contract_view(session, contract)
    assert view["insured_households"] == 400
    assert view["insured_people"] == county.members
    assert view["premium"] == Decimal("50.00") * county.members


def test_demo_is_deterministic_for_a_seed(session):
    def snapshot(seed):
        savepoint = session.begin_nested()
        demo.build_demo_county(session, households=150, seed=seed, year=2026)
        rows = session.exec(select(Member.name, Member.id_number, Member.health)
                            .order_by(Member.id_number)).all()
        incomes = session.exec(select(IncomeRecord.wages).order_by(IncomeRecord.id)).all()
        savepoint.rollback()
        return rows, incomes

    assert snapshot(1) == snapshot(1)
    assert snapshot(1) != snapshot(2)


def test_demo_refuses_to_seed_twice(session, county):
    with pytest.raises(Conflict, match="already in this database"):
        demo.build_demo_county(session, households=10)
    assert session.exec(select(func.count(Household.id))).one() == 400
