"""The flags an eligibility rule tests are read from the household's active members."""

from policies import benefits
from tests.factories import county_with_villages, household_with_members


def test_flags_come_from_the_active_members(session):
    ids = county_with_villages(session, villages=1)
    household, members = household_with_members(session, ids["village0"], members=3)
    assert benefits.household_flags(session, [household.id]) == {household.id: frozenset()}
    members[1].dibao = True
    members[2].disability_grade = 2
    members[2].status = "deceased"  # a member who died no longer makes the household one
    session.flush()
    assert benefits.household_flags(session, [household.id]) == {household.id: {"dibao"}}
    snapshot = benefits.household_snapshot(session, household.id, policy_year=2026)
    assert snapshot.flags == {"dibao"}
