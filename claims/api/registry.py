"""JSON API of the registry: regions, households, members, income, lines and contracts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from claims.api.deps import PageDep, SessionDep
from policies import registry
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

# ---------------------------------------------------------------- regions


@router.post("/regions", response_model=RegionPublic, tags=["regions"], **CREATED)
def create_region(body: RegionCreate, session: SessionDep):
    """Add a province, city, county, township or village."""
    region = registry.create_region(session, body)
    session.commit()
    return region


@router.get("/regions", response_model=RegionsPublic, tags=["regions"])
def list_regions(
    session: SessionDep, page: PageDep, level: RegionLevel | None = None,
    parent_id: int | None = None, name: str | None = None,
):
    """List regions, filtered by level, parent or part of the name."""
    rows, count = registry.list_regions(session, page, level=level, parent_id=parent_id,
                                        name=name)
    return {"data": rows, "count": count}


@router.get("/regions/{region_id}", response_model=RegionPublic, tags=["regions"])
def read_region(region_id: int, session: SessionDep):
    """Read one region."""
    return registry.get_region(session, region_id)


@router.patch("/regions/{region_id}", response_model=RegionPublic, tags=["regions"])
def update_region(region_id: int, body: RegionUpdate, session: SessionDep):
    """Rename a region."""
    region = registry.update_region(session, region_id, body)
    session.commit()
    return region


# ---------------------------------------------------------------- households


@router.post("/households", response_model=HouseholdPublic, tags=["households"], **CREATED)
def create_household(body: HouseholdCreate, session: SessionDep):
    """Register a household (members are added separately or by file import)."""
    household = registry.create_household(session, body)
    session.commit()
    return registry.household_view(session, household.id)


@router.get("/households", response_model=HouseholdsPublic, tags=["households"])
def list_households(
    session: SessionDep, page: PageDep, village_id: int | None = None,
    township_id: int | None = None, household_type: HouseholdType | None = None,
    monitoring_category: Annotated[
        MonitoringCategory | Literal["none"] | None,
        Query(description="a category, or 'none' for households not monitored"),
    ] = None,
    status: HouseholdStatus | None = None,
    household_number: Annotated[str | None, Query(description="prefix")] = None,
):
    """List households by village, township, type, monitoring category and status."""
    rows, count = registry.list_households(
        session, page, village_id=village_id, township_id=township_id,
        household_type=household_type, monitoring_category=monitoring_category,
        status=status, household_number=household_number,
    )
    return {"data": rows, "count": count}


@router.get("/households/{household_id}", response_model=HouseholdPublic, tags=["households"])
def read_household(household_id: int, session: SessionDep):
    """Read one household with its size and head."""
    return registry.household_view(session, household_id)


@router.patch("/households/{household_id}", response_model=HouseholdPublic, tags=["households"])
def update_household(household_id: int, body: HouseholdUpdate, session: SessionDep):
    """Change a household's fields."""
    registry.update_household(session, household_id, body)
    session.commit()
    return registry.household_view(session, household_id)


# ---------------------------------------------------------------- members


@router.post("/members", response_model=MemberPublic, tags=["members"], **CREATED)
def create_member(body: MemberCreate, session: SessionDep):
    """Add a member; sex and birth date are derived from the ID number."""
    member = registry.create_member(session, body)
    session.commit()
    return member


@router.get("/members", response_model=MembersPublic, tags=["members"])
def list_members(
    session: SessionDep, page: PageDep, household_id: int | None = None,
    status: MemberStatus | None = None, name: str | None = None,
):
    """List members, filtered by household, status or part of the name."""
    rows, count = registry.list_members(session, page, household_id=household_id,
                                        status=status, name=name)
    return {"data": rows, "count": count}


@router.get("/members/by-id-number/{id_number}", response_model=MemberPublic, tags=["members"])
def member_by_id_number(id_number: str, session: SessionDep):
    """Look a member up by citizen ID number."""
    return registry.member_by_id_number(session, id_number)


@router.get("/members/{member_id}", response_model=MemberPublic, tags=["members"])
def read_member(member_id: int, session: SessionDep):
    """Read one member."""
    return registry.get_member(session, member_id)


@router.patch("/members/{member_id}", response_model=MemberPublic, tags=["members"])
def update_member(member_id: int, body: MemberUpdate, session: SessionDep):
    """Change a member's fields (not the ID number)."""
    member = registry.update_member(session, member_id, body)
    session.commit()
    return member


# ---------------------------------------------------------------- income ledger


@router.post("/income-records", response_model=IncomeRecordPublic, tags=["income"], **CREATED)
def create_income_record(body: IncomeRecordCreate, session: SessionDep):
    """Record a period's income; net and per-capita income are derived."""
    record = registry.create_income_record(session, body)
    session.commit()
    return record


@router.get("/income-records", response_model=IncomeRecordsPublic, tags=["income"])
def list_income_records(
    session: SessionDep, page: PageDep, household_id: int | None = None,
    year: int | None = None, source: IncomeSource | None = None,
):
    """List income records by household, year of the period's end, or source."""
    rows, count = registry.list_income_records(session, page, household_id=household_id,
                                               year=year, source=source)
    return {"data": rows, "count": count}


@router.get("/income-records/{record_id}", response_model=IncomeRecordPublic, tags=["income"])
def read_income_record(record_id: int, session: SessionDep):
    """Read one income record."""
    return registry.get_income_record(session, record_id)


@router.patch("/income-records/{record_id}", response_model=IncomeRecordPublic, tags=["income"])
def update_income_record(record_id: int, body: IncomeRecordUpdate, session: SessionDep):
    """Correct an income record's components."""
    record = registry.update_income_record(session, record_id, body)
    session.commit()
    return record


# ---------------------------------------------------------------- standards and lines


@router.post("/national-standards", response_model=NationalStandardPublic, tags=["lines"],
             **CREATED)
def create_national_standard(body: NationalStandardCreate, session: SessionDep):
    """Record a year's national rural poverty standard."""
    standard = registry.create_national_standard(session, body)
    session.commit()
    return standard


@router.get("/national-standards", response_model=NationalStandardsPublic, tags=["lines"])
def list_national_standards(session: SessionDep, page: PageDep):
    """List national standards by year."""
    rows, count = registry.list_national_standards(session, page)
    return {"data": rows, "count": count}


@router.get("/national-standards/{standard_id}", response_model=NationalStandardPublic,
            tags=["lines"])
def read_national_standard(standard_id: int, session: SessionDep):
    """Read one national standard."""
    return registry.get_national_standard(session, standard_id)


@router.patch("/national-standards/{standard_id}", response_model=NationalStandardPublic,
              tags=["lines"])
def update_national_standard(standard_id: int, body: NationalStandardUpdate,
                             session: SessionDep):
    """Correct a national standard."""
    standard = registry.update_national_standard(session, standard_id, body)
    session.commit()
    return standard


@router.post("/monitoring-lines", response_model=MonitoringLinePublic, tags=["lines"],
             **CREATED)
def create_monitoring_line(body: MonitoringLineCreate, session: SessionDep):
    """Set a region's monitoring line for a year."""
    line = registry.create_monitoring_line(session, body)
    session.commit()
    return registry.line_view(session, line)


@router.get("/monitoring-lines", response_model=MonitoringLinesPublic, tags=["lines"])
def list_monitoring_lines(
    session: SessionDep, page: PageDep, region_id: int | None = None, year: int | None = None
):
    """List monitoring lines by region and year."""
    rows, count = registry.list_monitoring_lines(session, page, region_id=region_id, year=year)
    return {"data": [registry.line_view(session, line) for line in rows], "count": count}


@router.get("/monitoring-lines/applicable", response_model=MonitoringLinePublic,
            tags=["lines"])
def applicable_monitoring_line(region_id: int, year: int, session: SessionDep):
    """The line that applies to a region in a year (its own or its nearest parent's)."""
    return registry.monitoring_line_for(session, region_id, year)


@router.get("/monitoring-lines/{line_id}", response_model=MonitoringLinePublic, tags=["lines"])
def read_monitoring_line(line_id: int, session: SessionDep):
    """Read one monitoring line."""
    return registry.line_view(session, registry.get_monitoring_line(session, line_id))


@router.patch("/monitoring-lines/{line_id}", response_model=MonitoringLinePublic,
              tags=["lines"])
def update_monitoring_line(line_id: int, body: MonitoringLineUpdate, session: SessionDep):
    """Change how a line is set."""
    line = registry.update_monitoring_line(session, line_id, body)
    session.commit()
    return registry.line_view(session, line)


# ---------------------------------------------------------------- policy contracts


@router.post("/contracts", response_model=PolicyContractPublic, tags=["contracts"], **CREATED)
def create_contract(body: PolicyContractCreate, session: SessionDep):
    """Record the policy a county bought for a policy year."""
    contract = registry.create_contract(session, body)
    session.commit()
    return registry.contract_view(session, contract)


@router.get("/contracts", response_model=PolicyContractsPublic, tags=["contracts"])
def list_contracts(
    session: SessionDep, page: PageDep, county_id: int | None = None,
    policy_year: int | None = None, status: ContractStatus | None = None,
):
    """List policy contracts by county, year and status."""
    rows, count = registry.list_contracts(session, page, county_id=county_id,
                                          policy_year=policy_year, status=status)
    return {"data": [registry.contract_view(session, c) for c in rows], "count": count}


@router.get("/contracts/{contract_id}", response_model=PolicyContractPublic, tags=["contracts"])
def read_contract(contract_id: int, session: SessionDep):
    """Read one contract with its premium and insured people."""
    return registry.contract_view(session, registry.get_contract(session, contract_id))


@router.patch("/contracts/{contract_id}", response_model=PolicyContractPublic,
              tags=["contracts"])
def update_contract(contract_id: int, body: PolicyContractUpdate, session: SessionDep):
    """Change a contract."""
    contract = registry.update_contract(session, contract_id, body)
    session.commit()
    return registry.contract_view(session, contract)


@router.post("/contracts/{contract_id}/insured-households", tags=["contracts"])
def name_insured_households(contract_id: int, body: InsuredHouseholdsChange,
                            session: SessionDep):
    """Name households (by household number) as insured by a contract."""
    added = registry.name_insured_households(session, contract_id, body.household_numbers)
    session.commit()
    return {"added": added}


@router.get("/contracts/{contract_id}/insured-households", tags=["contracts"])
def list_insured_households(contract_id: int, session: SessionDep, page: PageDep):
    """The households a contract names as insured, by household number."""
    rows, count = registry.list_insured_households(session, contract_id, page)
    return {"data": rows, "count": count}


@router.delete("/contracts/{contract_id}/insured-households", tags=["contracts"])
def remove_insured_households(contract_id: int, body: InsuredHouseholdsChange,
                              session: SessionDep):
    """Take households off a contract's named list."""
    removed = registry.remove_insured_households(session, contract_id, body.household_numbers)
    session.commit()
    return {"removed": removed}
