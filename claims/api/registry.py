"""JSON API of the registry: regions, households, members, income, lines and contracts."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from claims import access, changes, masking
from claims.api.deps import PageDep, SessionDep, check_regions
from claims.auth import Actor, staff
from claims.models import Household, Role
from policies import registry
from policies.errors import Conflict, NotFound
from policies.models import (
    HouseholdCreate,
    HouseholdPublic,
    HouseholdsPublic,
    HouseholdUpdate,
    IncomeRecordCreate,
    IncomeRecordPublic,
    IncomeRecordsPublic,
    IncomeRecordUpdate,
    InsuredHouseholdsChange,
    MemberCreate,
    MemberPublic,
    MembersPublic,
    MemberUpdate,
    MonitoringLineCreate,
    MonitoringLinePublic,
    MonitoringLinesPublic,
    MonitoringLineUpdate,
    NationalStandardCreate,
    NationalStandardPublic,
    NationalStandardsPublic,
    NationalStandardUpdate,
    PolicyContractCreate,
    PolicyContractPublic,
    PolicyContractsPublic,
    PolicyContractUpdate,
    RegionCreate,
    RegionPublic,
    RegionsPublic,
    RegionUpdate,
)
from policies.vocab import (
    ContractStatus,
    HouseholdStatus,
    HouseholdType,
    IncomeSource,
    MemberStatus,
    MonitoringCategory,
    RegionLevel,
)

router = APIRouter(prefix="/api")
CREATED = {"status_code": status.HTTP_201_CREATED}
# Staff read, clerks (and administrators) write; claims.access limits both to the caller's area.
Clerk = Annotated[Actor, Depends(staff(Role.clerk))]
# Regions, standards, lines and contracts are read by all and changed county-wide only.
CountyClerk = Annotated[Actor, Depends(staff(
    Role.clerk, county_writes="the county's regions, standards, lines and contracts"))]
InsuredList = Annotated[Actor, Depends(staff(Role.clerk, county="a contract's insured list"))]
Reveal = Annotated[bool, Query(description=(
    "show names, ID numbers, phones and bank accounts in full: one household's with the "
    "reveal permission, a list's with the export permission; on the audit trail"))]
MASKED = "masked (138****0000) unless revealed"


class HouseholdOut(HouseholdPublic):
    phone: str | None = Field(default=None, description=MASKED)
    bank_account: str | None = Field(default=None, description="masked (****1234) unless "
                                     "revealed")
    head_name: str | None = Field(default=None, description="masked (张*三) unless revealed")


class HouseholdsOut(HouseholdsPublic):
    data: list[HouseholdOut]


class MemberOut(MemberPublic):
    name: str = Field(description="masked (张*三) unless revealed")
    id_number: str = Field(description="masked (4110**********123X) unless revealed")
    birth_date: date | None = Field(description="withheld (null) unless revealed: with the "
                                                "masked ID number it would spell the number out")


class MembersOut(MembersPublic):
    data: list[MemberOut]


def _household_out(session, actor: Actor, household_id: int, reveal: bool = False) -> dict:
    household = access.household(session, actor, household_id)
    if reveal:
        access.reveal(session, actor, household)
        session.commit()
    return access.shown(registry.household_view(session, household_id), reveal)


def _member_out(member, revealed: bool = False) -> dict:
    return access.shown(registry.fields_of(member), revealed)

# ---------------------------------------------------------------- regions


@router.post("/regions", response_model=RegionPublic, tags=["regions"], **CREATED)
def create_region(body: RegionCreate, session: SessionDep, actor: CountyClerk):
    """Add a province, city, county, township or village."""
    region = changes.create_region(session, actor, body)
    session.commit()
    return region


@router.get("/regions", response_model=RegionsPublic, tags=["regions"])
def list_regions(
    session: SessionDep, page: PageDep, _: Clerk, level: RegionLevel | None = None,
    parent_id: int | None = None, name: str | None = None,
):
    """List regions, filtered by level, parent or part of the name."""
    rows, count = registry.list_regions(session, page, level=level, parent_id=parent_id,
                                        name=name)
    return {"data": rows, "count": count}


@router.get("/regions/{region_id}", response_model=RegionPublic, tags=["regions"])
def read_region(region_id: int, session: SessionDep, _: Clerk):
    """Read one region."""
    return registry.get_region(session, region_id)


@router.patch("/regions/{region_id}", response_model=RegionPublic, tags=["regions"])
def update_region(region_id: int, body: RegionUpdate, session: SessionDep, actor: CountyClerk):
    """Rename a region."""
    region = changes.update_region(session, actor, region_id, body)
    session.commit()
    return region


# ---------------------------------------------------------------- households


@router.post("/households", response_model=HouseholdOut, tags=["households"], **CREATED)
def create_household(body: HouseholdCreate, session: SessionDep, actor: Clerk):
    """Register a household (members are added separately or by file import). 409 (code
    household_number_taken) when the number is registered, naming no household."""
    household = changes.create_household(session, actor, body)
    session.commit()
    return _household_out(session, actor, household.id)


@router.get("/households", response_model=HouseholdsOut, tags=["households"])
def list_households(
    session: SessionDep, page: PageDep, actor: Clerk, village_id: int | None = None,
    township_id: int | None = None, household_type: HouseholdType | None = None,
    monitoring_category: Annotated[
        MonitoringCategory | Literal["none"] | None,
        Query(description="a category, or 'none' for households not monitored"),
    ] = None,
    status: HouseholdStatus | None = None,
    household_number: Annotated[str | None, Query(description="prefix")] = None,
    reveal: Reveal = False,
):
    """List households of your area by village, township, type, monitoring category and
    status."""
    check_regions(session, village_id=village_id, township_id=township_id)
    rows, count = registry.list_households(
        session, page, village_id=village_id, township_id=township_id,
        household_type=household_type, monitoring_category=monitoring_category,
        status=status, household_number=household_number, villages=actor.villages,
    )
    if reveal:
        access.export(session, actor, "household", {
            "village_id": village_id, "township_id": township_id, "offset": page.offset,
            "household_number": household_number}, len(rows))
        session.commit()
    return {"data": [access.shown(r, reveal) for r in rows], "count": count}


@router.get("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
def read_household(household_id: int, session: SessionDep, actor: Clerk,
                   reveal: Reveal = False):
    """Read one household with its size and head."""
    return _household_out(session, actor, household_id, reveal)


@router.patch("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
def update_household(household_id: int, body: HouseholdUpdate, session: SessionDep,
                     actor: Clerk):
    """Change a household's fields (on the audit trail; a new bank account is flagged on
    the next payment batch)."""
    changes.update_household(session, actor, household_id, body)
    session.commit()
    return _household_out(session, actor, household_id)


# ---------------------------------------------------------------- members


@router.post("/members", response_model=MemberOut, tags=["members"], **CREATED)
def create_member(body: MemberCreate, session: SessionDep, actor: Clerk):
    """Add a member; sex and birth date are derived from the ID number. 409 (code
    id_number_taken) when the number is registered, naming no household."""
    try:
        member = changes.create_member(session, actor, body)
    except Conflict:
        session.commit()  # nothing was written but the refusal's audit entry
        raise
    session.commit()
    return _member_out(member)


@router.get("/members", response_model=MembersOut, tags=["members"])
def list_members(
    session: SessionDep, page: PageDep, actor: Clerk, household_id: int | None = None,
    status: MemberStatus | None = None, name: str | None = None, reveal: Reveal = False,
):
    """List members of your area, filtered by household, status or part of the name.
    Revealed, one household's members need the reveal permission; any other list the
    export permission."""
    if household_id is not None:
        household = access.household(session, actor, household_id)
    rows, count = changes.list_members(session, actor, page, household_id=household_id,
                                       status=status, name=name)
    if reveal:
        if household_id is not None and name is None and status is None:
            access.reveal(session, actor, household)
        else:
            access.export(session, actor, "member", {
                "household_id": household_id, "status": status, "name": name,
                "offset": page.offset}, len(rows))
    session.commit()  # a search by name, a reveal or an export is on the trail
    return {"data": [_member_out(m, reveal) for m in rows], "count": count}


class IdNumberSearch(BaseModel):
    model_config = {"extra": "forbid"}
    id_number: str = Field(min_length=1, max_length=32)
    reveal: bool = False


# A look-up sent by POST, but a read: outside the router's rule that writes are clerks'.
searches = APIRouter(prefix="/api")


@searches.post("/members/search", response_model=MemberOut, tags=["members"], responses={
    404: {"description": "no member of your area has this ID number"}})
def search_member_by_id_number(body: IdNumberSearch, session: SessionDep,
                               actor: Annotated[Actor, Depends(staff(*Role))]):  # a read
    """Look a member of your area up by citizen ID number, sent in the body (on the audit
    trail): the number stays out of addresses, which proxies and browsers log (the page
    searches so too)."""
    return member_by_id_number(body.id_number, session, actor, body.reveal)


@router.get("/members/by-id-number/{id_number}", response_model=MemberOut, tags=["members"])
def member_by_id_number(id_number: str, session: SessionDep, actor: Clerk,
                        reveal: Reveal = False):
    """Look a member of your area up by citizen ID number (on the audit trail). The number
    is in the address, which a proxy's log keeps: prefer POST /api/members/search."""
    try:
        member = changes.member_by_id_number(session, actor, id_number)
    except NotFound:
        session.commit()  # the look-up is on the trail, found or not
        raise
    session.commit()
    household = session.get(Household, member.household_id)
    if reveal:
        access.reveal(session, actor, household)
        session.commit()
    return _member_out(member, reveal)


@router.get("/members/{member_id}", response_model=MemberOut, tags=["members"])
def read_member(member_id: int, session: SessionDep, actor: Clerk, reveal: Reveal = False):
    """Read one member."""
    member = access.member(session, actor, member_id)
    if reveal:
        access.reveal(session, actor, session.get(Household, member.household_id))
        session.commit()
    return _member_out(member, reveal)


@router.patch("/members/{member_id}", response_model=MemberOut, tags=["members"])
def update_member(member_id: int, body: MemberUpdate, session: SessionDep, actor: Clerk):
    """Change a member's fields (not the ID number); on the audit trail."""
    member = changes.update_member(session, actor, member_id, body)
    session.commit()
    return _member_out(member)


# ---------------------------------------------------------------- income ledger


@router.post("/income-records", response_model=IncomeRecordPublic, tags=["income"], **CREATED)
def create_income_record(body: IncomeRecordCreate, session: SessionDep, actor: Clerk):
    """Record a period's income; net and per-capita income are derived."""
    record = changes.create_income_record(session, actor, body)
    session.commit()
    return _income_out(record)


@router.get("/income-records", response_model=IncomeRecordsPublic, tags=["income"])
def list_income_records(
    session: SessionDep, page: PageDep, actor: Clerk, household_id: int | None = None,
    year: int | None = None, source: IncomeSource | None = None,
):
    """List income records of your area by household, year of the period's end, or source."""
    rows, count = registry.list_income_records(session, page, household_id=household_id,
                                               year=year, source=source,
                                               villages=actor.villages)
    return {"data": [_income_out(r) for r in rows], "count": count}


@router.get("/income-records/{record_id}", response_model=IncomeRecordPublic, tags=["income"])
def read_income_record(record_id: int, session: SessionDep, actor: Clerk):
    """Read one income record."""
    return _income_out(access.income_record(session, actor, record_id))


@router.patch("/income-records/{record_id}", response_model=IncomeRecordPublic, tags=["income"])
def update_income_record(record_id: int, body: IncomeRecordUpdate, session: SessionDep,
                         actor: Clerk):
    """Correct an income record's components."""
    record = changes.update_income_record(session, actor, record_id, body)
    session.commit()
    return _income_out(record)


def _income_out(record) -> dict:
    """An income record as readers see it: an ID number or phone typed into its reference
    masked (a hostile tester's reference was returned in full)."""
    return {**registry.fields_of(record), **masking.typed(record)}


# ---------------------------------------------------------------- standards and lines


@router.post("/national-standards", response_model=NationalStandardPublic, tags=["lines"],
             **CREATED)
def create_national_standard(body: NationalStandardCreate, session: SessionDep, actor: CountyClerk):
    """Record a year's national rural poverty standard."""
    standard = changes.create_national_standard(session, actor, body)
    session.commit()
    return standard


@router.get("/national-standards", response_model=NationalStandardsPublic, tags=["lines"])
def list_national_standards(session: SessionDep, page: PageDep, _: Clerk):
    """List national standards by year."""
    rows, count = registry.list_national_standards(session, page)
    return {"data": rows, "count": count}


@router.get("/national-standards/{standard_id}", response_model=NationalStandardPublic,
            tags=["lines"])
def read_national_standard(standard_id: int, session: SessionDep, _: Clerk):
    """Read one national standard."""
    return registry.get_national_standard(session, standard_id)


@router.patch("/national-standards/{standard_id}", response_model=NationalStandardPublic,
              tags=["lines"])
def update_national_standard(standard_id: int, body: NationalStandardUpdate,
                             session: SessionDep, actor: CountyClerk):
    """Correct a national standard."""
    standard = changes.update_national_standard(session, actor, standard_id, body)
    session.commit()
    return standard


@router.post("/monitoring-lines", response_model=MonitoringLinePublic, tags=["lines"],
             **CREATED)
def create_monitoring_line(body: MonitoringLineCreate, session: SessionDep, actor: CountyClerk):
    """Set a region's monitoring line for a year."""
    line = changes.create_monitoring_line(session, actor, body)
    session.commit()
    return registry.line_view(session, line)


@router.get("/monitoring-lines", response_model=MonitoringLinesPublic, tags=["lines"])
def list_monitoring_lines(
    session: SessionDep, page: PageDep, _: Clerk, region_id: int | None = None,
    year: int | None = None,
):
    """List monitoring lines by region and year."""
    rows, count = registry.list_monitoring_lines(session, page, region_id=region_id, year=year)
    return {"data": [registry.line_view(session, line) for line in rows], "count": count}


@router.get("/monitoring-lines/applicable", response_model=MonitoringLinePublic,
            tags=["lines"])
def applicable_monitoring_line(region_id: int, year: int, session: SessionDep, _: Clerk):
    """The line that applies to a region in a year (its own or its nearest parent's)."""
    return registry.monitoring_line_for(session, region_id, year)


@router.get("/monitoring-lines/{line_id}", response_model=MonitoringLinePublic, tags=["lines"])
def read_monitoring_line(line_id: int, session: SessionDep, _: Clerk):
    """Read one monitoring line."""
    return registry.line_view(session, registry.get_monitoring_line(session, line_id))


@router.patch("/monitoring-lines/{line_id}", response_model=MonitoringLinePublic,
              tags=["lines"])
def update_monitoring_line(line_id: int, body: MonitoringLineUpdate, session: SessionDep,
                           actor: CountyClerk):
    """Change how a line is set."""
    line = changes.update_monitoring_line(session, actor, line_id, body)
    session.commit()
    return registry.line_view(session, line)


# ---------------------------------------------------------------- policy contracts


@router.post("/contracts", response_model=PolicyContractPublic, tags=["contracts"], **CREATED)
def create_contract(body: PolicyContractCreate, session: SessionDep, actor: CountyClerk):
    """Record the policy a county bought for a policy year."""
    contract = changes.create_contract(session, actor, body)
    session.commit()
    return registry.contract_view(session, contract)


@router.get("/contracts", response_model=PolicyContractsPublic, tags=["contracts"])
def list_contracts(
    session: SessionDep, page: PageDep, _: Clerk, county_id: int | None = None,
    policy_year: int | None = None, status: ContractStatus | None = None,
):
    """List policy contracts by county, year and status."""
    rows, count = registry.list_contracts(session, page, county_id=county_id,
                                          policy_year=policy_year, status=status)
    return {"data": [registry.contract_view(session, c) for c in rows], "count": count}


@router.get("/contracts/{contract_id}", response_model=PolicyContractPublic, tags=["contracts"])
def read_contract(contract_id: int, session: SessionDep, _: Clerk):
    """Read one contract with its premium and insured people."""
    return registry.contract_view(session, registry.get_contract(session, contract_id))


@router.patch("/contracts/{contract_id}", response_model=PolicyContractPublic,
              tags=["contracts"])
def update_contract(contract_id: int, body: PolicyContractUpdate, session: SessionDep,
                    actor: CountyClerk):
    """Change a contract."""
    contract = changes.update_contract(session, actor, contract_id, body)
    session.commit()
    return registry.contract_view(session, contract)


@router.post("/contracts/{contract_id}/insured-households", tags=["contracts"])
def name_insured_households(contract_id: int, body: InsuredHouseholdsChange,
                            session: SessionDep, actor: CountyClerk):
    """Name households (by household number) as insured by a contract."""
    added = changes.name_insured_households(session, actor, contract_id,
                                            body.household_numbers)
    session.commit()
    return {"added": added}


@router.get("/contracts/{contract_id}/insured-households", tags=["contracts"])
def list_insured_households(contract_id: int, session: SessionDep, page: PageDep,
                            _: InsuredList):
    """The households a contract names as insured, by household number (county-wide)."""
    rows, count = registry.list_insured_households(session, contract_id, page)
    return {"data": rows, "count": count}


@router.delete("/contracts/{contract_id}/insured-households", tags=["contracts"])
def remove_insured_households(contract_id: int, body: InsuredHouseholdsChange,
                              session: SessionDep, actor: CountyClerk):
    """Take households off a contract's named list."""
    removed = changes.remove_insured_households(session, actor, contract_id,
                                                body.household_numbers)
    session.commit()
    return {"removed": removed}
