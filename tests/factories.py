"""Small builders of registry data for tests."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from policies import registry
from policies.citizen_id import check_character
from policies.models import HouseholdCreate, MemberCreate, RegionCreate


def id_number(region: str = "411081", birth: date = date(1965, 3, 12), seq: int = 1) -> str:
    """A valid citizen ID number (odd sequence: male, even: female)."""
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def county_with_villages(session: Session, villages: int = 2) -> dict:
    """A county with one township and its villages: the ids by name."""
    county = registry.create_region(
        session, RegionCreate(code="411081", name="禹州市", level="county")
    )
    township = registry.create_region(
        session, RegionCreate(code="411081100", name="火龙镇", level="township",
                              parent_id=county.id)
    )
    ids = {"county": county.id, "township": township.id}
    for v in range(villages):
        village = registry.create_region(
            session, RegionCreate(code=f"411081100{200 + v}", name=f"村{v}", level="village",
                                  parent_id=township.id)
        )
        ids[f"village{v}"] = village.id
    return ids


def household_with_members(session: Session, village_id: int, number: str = "H0001",
                           members: int = 3, seq_start: int = 1):
    household = registry.create_household(
        session, HouseholdCreate(household_number=number, village_id=village_id,
                                 household_type="lifted_out")
    )
    people = []
    for i in range(members):
        people.append(registry.create_member(session, MemberCreate(
            household_id=household.id, name=f"成员{i}",
            id_number=id_number(seq=seq_start + i),
            relation="head" if i == 0 else "son",
        )))
    return household, people
