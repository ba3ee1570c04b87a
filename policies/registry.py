"""Registry services: regions, households, members, the income ledger, monitoring lines and
policy contracts. Each takes a session, flushes and raises domain errors; the caller commits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, SQLModel, col, func, select

from policies import rules
from policies.bulk import among
from policies.citizen_id import parse_citizen_id
from policies.errors import Conflict, InvalidInput, NotFound
from policies.models import (
    INCOME_COMPONENTS,
    INCOME_FIGURES,
    Household,
    HouseholdCreate,
    HouseholdUpdate,
    HouseholdVersion,
    IncomeRecord,
    IncomeRecordCreate,
    IncomeRecordUpdate,
    IncomeRecordVersion,
    InconsistentContract,
    InsuredHousehold,
    Member,
    MemberCreate,
    MemberUpdate,
    MemberVersion,
    MonitoringLine,
    MonitoringLineCreate,
    MonitoringLineUpdate,
    NationalStandard,
    NationalStandardCreate,
    NationalStandardUpdate,
    PolicyContract,
    PolicyContractCreate,
    PolicyContractUpdate,
    Region,
    RegionCreate,
    RegionUpdate,
    check_contract,
    utcnow,
)
from policies.vocab import (
    ContractStatus,
    HouseholdStatus,
    InsuredBasis,
    MemberStatus,
    RegionLevel,
    Relation,
)

MAX_PAGE = 1000
PARENT_LEVEL = {
    RegionLevel.city: {RegionLevel.province},
    RegionLevel.county: {RegionLevel.province, RegionLevel.city},
    RegionLevel.township: {RegionLevel.county},
    RegionLevel.village: {RegionLevel.township},
}


@dataclass(frozen=True)
class PageRequest:
    offset: int = 0
    limit: int = 50


def _get(session: Session, model: type[SQLModel], id_: int, what: str):
    row = session.get(model, id_)
    if row is None:
        raise NotFound(f"{what} {id_} does not exist", field="id", value=id_)
    return row


def _require(session: Session, model: type[SQLModel], id_: int, field: str, what: str):
    """A row a request refers to by id: its absence is the request's fault (422)."""
    row = session.get(model, id_)
    if row is None:
        raise InvalidInput(f"{what} {id_} does not exist", field=field, value=id_,
                           code="not_recorded")
    return row


def fields_of(row: SQLModel) -> dict[str, Any]:
    """A table row's fields as a plain dict (rows loaded from the database hold raw codes)."""
    return {name: getattr(row, name) for name in type(row).model_fields}


def _apply(row: SQLModel, changes: SQLModel) -> dict[str, Any]:
    data = changes.model_dump(exclude_unset=True)
    for key, value in data.items():
        setattr(row, key, value)
    return data


def paginate(session: Session, query, page: PageRequest):
    count = session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one()
    rows = session.exec(query.offset(page.offset).limit(min(page.limit, MAX_PAGE))).all()
    return rows, count


# ---------------------------------------------------------------- regions


def get_region(session: Session, region_id: int) -> Region:
    """Return a region or raise NotFound."""
    return _get(session, Region, region_id, "region")


def create_region(session: Session, data: RegionCreate) -> Region:
    """Add a region under its parent; levels must nest (county → township → village)."""
    if session.exec(select(Region.id).where(Region.code == data.code)).first() is not None:
        raise Conflict(f"region code {data.code} is already registered", field="code",
                       value=data.code, code="region_code_taken", values={"code": data.code})
    if data.parent_id is not None:
        parent = _require(session, Region, data.parent_id, "parent_id", "region")
        allowed = PARENT_LEVEL.get(data.level, set())
        if parent.level not in allowed:
            raise InvalidInput(
                f"a {data.level} cannot sit under a {parent.level} ({parent.name})",
                field="parent_id", value=data.parent_id,
            )
    elif data.level in (RegionLevel.township, RegionLevel.village):
        raise InvalidInput(f"a {data.level} needs a parent region", field="parent_id")
    region = Region.model_validate(data)
    session.add(region)
    session.flush()
    return region


def update_region(session: Session, region_id: int, data: RegionUpdate) -> Region:
    """Rename a region."""
    region = get_region(session, region_id)
    _apply(region, data)
    session.flush()
    return region


def list_regions(
    session: Session, page: PageRequest, *, level: str | None = None,
    parent_id: int | None = None, name: str | None = None,
):
    """Regions filtered by level, parent or name, ordered by code."""
    query = select(Region).order_by(Region.code)
    if level:
        query = query.where(Region.level == level)
    if parent_id is not None:
        query = query.where(Region.parent_id == parent_id)
    if name:
        query = query.where(col(Region.name).contains(name))
    return paginate(session, query, page)


def ancestry(session: Session, region_id: int) -> list[Region]:
    """The region and its parents, nearest first."""
    chain = []
    current: int | None = region_id
    while current is not None:
        region = get_region(session, current)
        chain.append(region)
        current = region.parent_id
    return chain


# ---------------------------------------------------------------- households

_active_size = (
    select(func.count(col(Member.id)))
    .where(Member.household_id == Household.id, Member.status == MemberStatus.active)
    .correlate(Household)
    .scalar_subquery()
)
# The name of a household's head among its active members, as SQL over a query of households.
HEAD_NAME = (
    select(Member.name)
    .where(
        Member.household_id == Household.id,
        Member.relation == Relation.head,
        Member.status == MemberStatus.active,
    )
    .correlate(Household)
    .limit(1)
    .scalar_subquery()
)


def active_on(session: Session, member: Any, household: Any, day: date) -> bool:
    """Whether the member and the household were active in the registry on ``day``, as its
    history holds them: a member who has died since (a bill of her last weeks in hospital)
    was covered on the day. A day before its first version is answered by that version."""
    for version, key, current in (
            (MemberVersion, MemberVersion.member_id == member.id, member.status),
            (HouseholdVersion, HouseholdVersion.household_id == household.id, household.status)):
        status = session.exec(select(version.status).where(
            key, sa.or_(col(version.valid_to).is_(None), col(version.valid_to) > day))
            .order_by(col(version.valid_from))).first()
        if (status or current) != "active":
            return False
    return True


def moves_since(session: Session, member_ids: list[int], day: date
                ) -> dict[int, list[tuple[date, int]]]:
    """The members' households before a change recorded after ``day``: for each member
    with versions that ended after it, (the day each ended, its household), in order. A
    bulk read for :func:`household_on`; most members have none."""
    found: dict[int, list[tuple[date, int]]] = {}
    versions = MemberVersion.__table__.c
    for start in range(0, len(member_ids), 1000):
        for member_id, ended, household_id in session.execute(sa.select(
                versions.member_id, versions.valid_to, versions.household_id).where(
                among(session, versions.member_id, member_ids[start:start + 1000]),
                versions.valid_to > day).order_by(versions.member_id, versions.valid_to)):
            found.setdefault(member_id, []).append((ended, household_id))
    return found


def household_on(moves: list[tuple[date, int]], current: int, day: date) -> int:
    """The household a member belonged to on ``day``, from :func:`moves_since` of a day no
    later (the version that ended first after it; none: her household now)."""
    return next((household for ended, household in moves if ended > day), current)


def head_of(session: Session, household_id: int) -> Member | None:
    """The household's head (户主) among its active members: never one who died or left,
    whom a notice or a payment must not name."""
    return session.exec(select(Member).where(
        Member.household_id == household_id, Member.relation == Relation.head,
        Member.status == MemberStatus.active).order_by(col(Member.id))).first()


def _household_view(household: Household, size: int, head_name: str | None) -> dict[str, Any]:
    return {**fields_of(household), "size": size, "head_name": head_name}


def get_household(session: Session, household_id: int) -> Household:
    """Return a household or raise NotFound."""
    return _get(session, Household, household_id, "household")


def household_view(session: Session, household_id: int) -> dict[str, Any]:
    """A household with its derived size and head's name."""
    row = session.exec(
        select(Household, _active_size, HEAD_NAME).where(Household.id == household_id)
    ).first()
    if row is None:
        raise NotFound(f"household {household_id} does not exist", field="id",
                       value=household_id)
    return _household_view(*row)


def _check_village(session: Session, village_id: int) -> None:
    village = session.get(Region, village_id)
    if village is None or village.level != RegionLevel.village:
        raise InvalidInput(f"village {village_id} is not a registered village",
                           field="village_id", value=village_id)


def create_household(session: Session, data: HouseholdCreate) -> Household:
    """Register a household in a village; household numbers are unique."""
    _check_village(session, data.village_id)
    taken = session.exec(
        select(Household.id).where(Household.household_number == data.household_number)
    ).first()
    if taken is not None:  # naming no household: it may be in a township the caller may not see
        raise Conflict(
            f"household number {data.household_number} is already registered",
            field="household_number", value=data.household_number,
            code="household_number_taken", values={"number": data.household_number},
        )
    household = Household.model_validate(data)
    session.add(household)
    session.flush()
    return household


def update_household(session: Session, household_id: int, data: HouseholdUpdate) -> Household:
    """Change a household's registry fields."""
    household = get_household(session, household_id)
    if data.village_id is not None:
        _check_village(session, data.village_id)
    _apply(household, data)
    household.updated_at = utcnow()
    session.flush()
    return household


def list_households(
    session: Session, page: PageRequest, *, village_id: int | None = None,
    township_id: int | None = None, household_type: str | None = None,
    monitoring_category: str | None = None, status: str | None = None,
    household_number: str | None = None, villages: Collection[int] | None = None,
):
    """Households with their size and head, filtered and ordered by household number; with
    ``villages``, of those villages only (a user limited to some townships)."""
    query = select(Household, _active_size, HEAD_NAME).order_by(Household.household_number)
    if villages is not None:
        query = query.where(col(Household.village_id).in_(villages))
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    if township_id is not None:
        township_villages = select(Region.id).where(Region.parent_id == township_id)
        query = query.where(col(Household.village_id).in_(township_villages))
    if household_type:
        query = query.where(Household.household_type == household_type)
    if monitoring_category == "none":
        query = query.where(col(Household.monitoring_category).is_(None))
    elif monitoring_category:
        query = query.where(Household.monitoring_category == monitoring_category)
    if status:
        query = query.where(Household.status == status)
    if household_number:
        # substr, not LIKE: exact and case-sensitive on both engines, no wildcards to escape
        prefix = func.substr(Household.household_number, 1, len(household_number))
        query = query.where(prefix == household_number)
    count_query = select(func.count()).select_from(
        query.with_only_columns(col(Household.id)).order_by(None).subquery()
    )
    count = session.exec(count_query).one()
    rows = session.exec(query.offset(page.offset).limit(min(page.limit, MAX_PAGE))).all()
    return [_household_view(*row) for row in rows], count


def household_size(session: Session, household_id: int) -> int:
    """Active members of a household."""
    return session.exec(
        select(func.count(col(Member.id))).where(
            Member.household_id == household_id, Member.status == MemberStatus.active
        )
    ).one()


# ---------------------------------------------------------------- members


def get_member(session: Session, member_id: int) -> Member:
    """Return a member or raise NotFound."""
    return _get(session, Member, member_id, "member")


def member_by_id_number(session: Session, id_number: str) -> Member:
    """Find a member by citizen ID number (case of the X ignored)."""
    number = id_number.strip().upper()
    member = session.exec(select(Member).where(Member.id_number == number)).first()
    if member is None:
        raise NotFound(f"no member has ID number {number}", field="id_number", value=number)
    return member


def _check_single_head(session: Session, household_id: int, member_id: int | None) -> None:
    query = select(Member.id).where(
        Member.household_id == household_id,
        Member.relation == Relation.head,
        Member.status == MemberStatus.active,
    )
    if member_id is not None:
        query = query.where(Member.id != member_id)
    other = session.exec(query).first()
    if other is not None:
        raise Conflict(
            f"household {household_id} already has a head (member {other})",
            field="relation", value=Relation.head, code="head_exists", values={"member": other},
        )


def create_member(session: Session, data: MemberCreate) -> Member:
    """Add a member to a household; sex and birth date are read from the ID number."""
    _require(session, Household, data.household_id, "household_id", "household")
    owner = session.exec(
        select(Member.household_id).where(Member.id_number == data.id_number)
    ).first()
    if owner is not None:  # naming no household: it may be in a township the caller may not see
        raise Conflict(f"ID number {data.id_number} is already registered", field="id_number",
                       value=data.id_number, code="id_number_taken")
    if data.relation == Relation.head and data.status == MemberStatus.active:
        _check_single_head(session, data.household_id, None)
    parsed = parse_citizen_id(data.id_number)
    member = Member.model_validate(
        data, update={"sex": parsed.sex, "birth_date": parsed.birth_date}
    )
    session.add(member)
    session.flush()
    return member


def update_member(session: Session, member_id: int, data: MemberUpdate) -> Member:
    """Change a member's fields; the ID number itself is not editable."""
    member = get_member(session, member_id)
    household_id = data.household_id if data.household_id is not None else member.household_id
    _require(session, Household, household_id, "household_id", "household")
    relation = data.relation or member.relation
    status = data.status or member.status
    if relation == Relation.head and status == MemberStatus.active:
        _check_single_head(session, household_id, member.id)
    _apply(member, data)
    session.flush()
    return member


def list_members(
    session: Session, page: PageRequest, *, household_id: int | None = None,
    status: str | None = None, name: str | None = None, villages: Collection[int] | None = None,
):
    """Members filtered by household, status or name (and ``villages``, as households)."""
    query = select(Member).order_by(col(Member.household_id), col(Member.id))
    if villages is not None:
        query = query.where(col(Member.household_id).in_(
            select(Household.id).where(col(Household.village_id).in_(villages))))
    if household_id is not None:
        query = query.where(Member.household_id == household_id)
    if status:
        query = query.where(Member.status == status)
    if name:
        query = query.where(col(Member.name).contains(name))
    return paginate(session, query, page)


# ---------------------------------------------------------------- income ledger


def _derive(record: IncomeRecord, size: int) -> None:
    components = {name: getattr(record, name) for name in (*INCOME_COMPONENTS, "business_costs")}
    record.household_size = size
    record.net_income = rules.net_income(components)
    record.per_capita_net_income = rules.per_capita(record.net_income, size)


def create_income_record(session: Session, data: IncomeRecordCreate) -> IncomeRecord:
    """Record a period's income; net and per-capita income are derived, never typed."""
    _require(session, Household, data.household_id, "household_id", "household")
    duplicate = session.exec(
        select(IncomeRecord.id).where(
            IncomeRecord.household_id == data.household_id,
            IncomeRecord.period_start == data.period_start,
            IncomeRecord.period_end == data.period_end,
            IncomeRecord.source == data.source,
            IncomeRecord.reference == data.reference,
        )
    ).first()
    if duplicate is not None:
        raise Conflict(
            f"household {data.household_id} already has a {data.source} record for "
            f"{data.period_start}..{data.period_end} (income record {duplicate}); update it",
            field="period_start", value=data.period_start, code="income_recorded",
            values={"start": data.period_start, "end": data.period_end},
        )
    size = household_size(session, data.household_id)
    if size < 1:
        raise InvalidInput(
            f"household {data.household_id} has no active member to divide income by",
            field="household_id", value=data.household_id,
        )
    record = IncomeRecord.model_validate(
        data, update={"household_size": size, "net_income": 0, "per_capita_net_income": 0}
    )
    _derive(record, size)
    session.add(record)
    session.flush()
    return record


def get_income_record(session: Session, record_id: int) -> IncomeRecord:
    """Return an income record or raise NotFound."""
    return _get(session, IncomeRecord, record_id, "income record")


def update_income_record(
    session: Session, record_id: int, data: IncomeRecordUpdate
) -> IncomeRecord:
    """Correct a record's components; the derived figures follow. The figures it held are
    kept as a version known until now (:class:`IncomeRecordVersion`), so what a past day
    knew stays as it was; a change that changes nothing keeps none."""
    # locked: two corrections at once would each keep the same figures as known until
    # their own moment, and a past day would read two versions of one record
    record = get_income_record(session, record_id)
    session.refresh(record, with_for_update=True)
    before = {name: getattr(record, name) for name in INCOME_FIGURES}
    kept = {name: getattr(record, name) for name in (
        *INCOME_FIGURES, "household_id", "period_start", "period_end", "source", "household_size",
        "net_income", "per_capita_net_income", "recorded_at")}
    _apply(record, data)
    if all(getattr(record, name) == value for name, value in before.items()):
        return record
    now = utcnow()
    session.add(IncomeRecordVersion(**kept, income_record_id=record_id,
                                    known_from=record.revised_at or record.recorded_at,
                                    known_to=now))
    record.revised_at = now
    _derive(record, record.household_size)
    session.flush()
    return record


def list_income_records(
    session: Session, page: PageRequest, *, household_id: int | None = None,
    year: int | None = None, source: str | None = None, villages: Collection[int] | None = None,
):
    """Income records, newest period first (of ``villages`` only, when given)."""
    query = select(IncomeRecord).order_by(
        col(IncomeRecord.household_id), col(IncomeRecord.period_end).desc(), col(IncomeRecord.id)
    )
    if villages is not None:
        query = query.where(col(IncomeRecord.household_id).in_(
            select(Household.id).where(col(Household.village_id).in_(villages))))
    if household_id is not None:
        query = query.where(IncomeRecord.household_id == household_id)
    if year is not None:
        query = query.where(sa.extract("year", col(IncomeRecord.period_end)) == year)
    if source:
        query = query.where(IncomeRecord.source == source)
    return paginate(session, query, page)


# ---------------------------------------------------------------- lines and standards


def create_national_standard(session: Session, data: NationalStandardCreate) -> NationalStandard:
    """Record a year's national rural poverty standard."""
    if session.exec(
        select(NationalStandard.id).where(NationalStandard.year == data.year)
    ).first():
        raise Conflict(f"the national standard of {data.year} is already recorded",
                       field="year", value=data.year)
    standard = NationalStandard.model_validate(data)
    session.add(standard)
    session.flush()
    return standard


def get_national_standard(session: Session, standard_id: int) -> NationalStandard:
    """Return a national standard or raise NotFound."""
    return _get(session, NationalStandard, standard_id, "national standard")


def update_national_standard(
    session: Session, standard_id: int, data: NationalStandardUpdate
) -> NationalStandard:
    """Correct a national standard."""
    standard = get_national_standard(session, standard_id)
    if data.amount is not None:
        _check_standard_lines(session, standard.year, data.amount)
    _apply(standard, data)
    session.flush()
    return standard


def list_national_standards(session: Session, page: PageRequest):
    """National standards by year."""
    return paginate(session, select(NationalStandard).order_by(col(NationalStandard.year)), page)


def _standard_amount(session: Session, year: int | None) -> Decimal | None:
    if year is None:
        return None
    return session.exec(
        select(col(NationalStandard.amount)).where(NationalStandard.year == year)
    ).first()


def line_view(session: Session, line: MonitoringLine) -> dict[str, Any]:
    """A monitoring line with its amount resolved."""
    amount = rules.line_amount(
        line.fixed_amount, line.multiple, _standard_amount(session, line.standard_year)
    )
    return {**fields_of(line), "amount": amount}


def _check_line(session: Session, data: MonitoringLineCreate,
                changed: Collection[str] = ()) -> None:
    """A line's region and standard are recorded, and its amount is plausible (rules.
    line_fault); a line set as a multiple is named by ``standard_year`` when a change set that
    year alone (``changed``: the fields a PATCH sets)."""
    _require(session, Region, data.region_id, "region_id", "region")
    standard = _standard_amount(session, data.standard_year)
    if data.standard_year is not None and standard is None:
        raise InvalidInput(
            f"no national standard is recorded for {data.standard_year}; record it first",
            field="standard_year", value=data.standard_year, code="no_standard",
            values={"year": data.standard_year},
        )
    fault = rules.line_fault(data.fixed_amount, data.multiple, standard, data.standard_year)
    if fault is not None:
        field, code, values = fault
        if field == "multiple" and "standard_year" in changed and "multiple" not in changed:
            field = "standard_year"
        raise InvalidInput(rules.line_problem((field, code, values)), field=field,
                           value=getattr(data, field), code=code, values=values)


def _check_standard_lines(session: Session, year: int, amount: Decimal) -> None:
    """The lines set as a multiple of the national standard of ``year`` stay plausible
    (rules.line_fault) at its new ``amount``: a standard typed wrong would move them all."""
    for line in session.exec(select(MonitoringLine).where(
            MonitoringLine.standard_year == year,
            col(MonitoringLine.multiple).is_not(None)).order_by(col(MonitoringLine.id))):
        fault = rules.line_fault(None, line.multiple, amount, year)
        if fault is not None:
            _, code, values = fault
            raise InvalidInput(
                f"amount: monitoring line {line.id} (region {line.region_id}, {line.year}) "
                f"would be refused: {rules.LINE_PROBLEMS[code] % values}", field="amount",
                value=amount, code=code, values=values)


def create_monitoring_line(session: Session, data: MonitoringLineCreate) -> MonitoringLine:
    """Set the monitoring line of a region for a year."""
    _check_line(session, data)
    exists = session.exec(
        select(MonitoringLine.id).where(
            MonitoringLine.region_id == data.region_id, MonitoringLine.year == data.year
        )
    ).first()
    if exists is not None:
        raise Conflict(
            f"region {data.region_id} already has a line for {data.year} (line {exists})",
            field="year", value=data.year, code="line_exists", values={"year": data.year},
        )
    line = MonitoringLine.model_validate(data)
    session.add(line)
    session.flush()
    return line


def get_monitoring_line(session: Session, line_id: int) -> MonitoringLine:
    """Return a monitoring line or raise NotFound."""
    return _get(session, MonitoringLine, line_id, "monitoring line")


def update_monitoring_line(
    session: Session, line_id: int, data: MonitoringLineUpdate
) -> MonitoringLine:
    """Change how a line is set; the result must still be one way (fixed or a multiple)."""
    line = get_monitoring_line(session, line_id)
    changes = data.model_dump(exclude_unset=True)
    try:
        stored = {k: v for k, v in fields_of(line).items() if k != "id"}
        merged = MonitoringLineCreate.model_validate({**stored, **changes})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else next(iter(changes), None)
        raise InvalidInput(error["msg"].removeprefix("Value error, "), field=field,
                           code=error["type"]) from None
    _check_line(session, merged, changes)
    for key in ("fixed_amount", "multiple", "standard_year", "note"):
        setattr(line, key, getattr(merged, key))
    session.flush()
    return line


def list_monitoring_lines(
    session: Session, page: PageRequest, *, region_id: int | None = None, year: int | None = None
):
    """Monitoring lines by region and year."""
    query = select(MonitoringLine).order_by(col(MonitoringLine.region_id), col(MonitoringLine.year))
    if region_id is not None:
        query = query.where(MonitoringLine.region_id == region_id)
    if year is not None:
        query = query.where(MonitoringLine.year == year)
    return paginate(session, query, page)


def applicable_lines(
    session: Session, region_ids: list[int], year: int, parent: dict[int, int | None] | None = None
) -> dict[int, MonitoringLine | None]:
    """For each region, the line that applies in a year: its own or its nearest ancestor's.
    ``parent`` maps region → parent (default: every region, read once)."""
    if parent is None:
        # stored regions always have an id
        parent = cast(dict[int, int | None],
                      dict(session.exec(select(Region.id, Region.parent_id)).all()))
    lines = {line.region_id: line for line in session.exec(
        select(MonitoringLine).where(MonitoringLine.year == year))}
    found: dict[int, MonitoringLine | None] = {}
    for region_id in region_ids:
        region: int | None = region_id
        while region is not None and region not in lines:
            region = parent.get(region)
        found[region_id] = lines.get(region) if region is not None else None
    return found


def monitoring_line_for(session: Session, region_id: int, year: int) -> dict[str, Any]:
    """The line that applies to a region in a year: its own, or its nearest ancestor's."""
    chain = ancestry(session, region_id)
    parent = {cast(int, region.id): region.parent_id for region in chain}  # stored, so set
    line = applicable_lines(session, [region_id], year, parent)[region_id]
    if line is None:
        raise NotFound(
            f"no monitoring line is set for {chain[0].name} or its parents in {year}",
            field="year", value=year,
        )
    return line_view(session, line)


# ---------------------------------------------------------------- policy contracts


def get_contract(session: Session, contract_id: int) -> PolicyContract:
    """Return a policy contract or raise NotFound."""
    return _get(session, PolicyContract, contract_id, "policy contract")


def contract_view(session: Session, contract: PolicyContract) -> dict[str, Any]:
    """A contract with its insured people, named households and premium derived.

    On a named basis the households and members count as the registry stood on the day the
    contract began (a household named later: on the day it was named), active
    ones only, from the registry's history: the premium the county paid does not change when
    a member dies or leaves during the year, nor a settled year's afterwards (it had moved
    with today's registry, after 341,900 was carried over from it).
    """
    named = people = 0
    if contract.insured_basis == InsuredBasis.named:
        first = (select(InsuredHousehold.household_id, col(InsuredHousehold.named_on),
                        func.min(HouseholdVersion.valid_from).label("first"))
                 .join(HouseholdVersion,
                       col(HouseholdVersion.household_id) == InsuredHousehold.household_id)
                 .where(InsuredHousehold.contract_id == contract.id)
                 .group_by(col(InsuredHousehold.household_id), col(InsuredHousehold.named_on))
                 .subquery())
        start = sa.literal(contract.start_date, sa.Date)
        days = select(first.c.household_id, sa.case(  # named on (or registered, before
            (first.c.named_on > start, first.c.named_on),  # the day was kept) after the start
            (first.c.named_on.is_(None) & (first.c.first > start), first.c.first),
            else_=start).label("day")).subquery()

        def held_on(version: Any, on: Any, status: str) -> Any:
            """The version of a household's (or member's) that held on ``on.c.day``."""
            table = version.__table__.c
            return sa.and_(table.household_id == on.c.household_id,
                           table.valid_from <= on.c.day,
                           sa.or_(table.valid_to.is_(None), table.valid_to > on.c.day),
                           table.status == status)

        insured = select(days.c.household_id, days.c.day).join(
            HouseholdVersion, held_on(HouseholdVersion, days, HouseholdStatus.active)).subquery()
        named = session.exec(select(func.count()).select_from(insured)).one()
        people = session.exec(select(func.count(col(MemberVersion.id))).join(
            insured, held_on(MemberVersion, insured, MemberStatus.active))).one()
    else:
        people = contract.insured_headcount or 0
    return {
        **fields_of(contract),
        "insured_people": people,
        "insured_households": named,
        "premium": rules.premium(contract.premium_per_person, people),
    }


def _check_county(session: Session, county_id: int) -> None:
    county = session.get(Region, county_id)
    if county is None or county.level != RegionLevel.county:
        raise InvalidInput(f"region {county_id} is not a registered county",
                           field="county_id", value=county_id, code="not_a_county")


def create_contract(session: Session, data: PolicyContractCreate) -> PolicyContract:
    """Record the policy a county bought for a policy year."""
    _check_county(session, data.county_id)
    if session.exec(
        select(PolicyContract.id).where(PolicyContract.contract_number == data.contract_number)
    ).first():
        raise Conflict(f"contract number {data.contract_number} is already recorded",
                       field="contract_number", value=data.contract_number,
                       code="contract_number_taken", values={"number": data.contract_number})
    contract = PolicyContract.model_validate(data)
    if contract.status == ContractStatus.active:
        _check_no_overlap(session, contract)
    session.add(contract)
    session.flush()
    return contract


CONTRACT_TRANSITIONS = {
    ContractStatus.draft: {ContractStatus.active},
    ContractStatus.active: {ContractStatus.closed},
    ContractStatus.closed: set(),
}


def _check_no_overlap(session: Session, contract: PolicyContract) -> None:
    """One county has at most one active contract covering any day."""
    query = select(PolicyContract.contract_number).where(
        PolicyContract.county_id == contract.county_id,
        PolicyContract.status == ContractStatus.active,
        PolicyContract.start_date <= contract.end_date,
        PolicyContract.end_date >= contract.start_date,
    )
    if contract.id is not None:
        query = query.where(PolicyContract.id != contract.id)
    other = session.exec(query).first()
    if other is not None:
        raise Conflict(f"contract {other} is already active for this county on these dates",
                       field="status", value=ContractStatus.active, code="contract_overlap",
                       values={"number": other})


def update_contract(
    session: Session, contract_id: int, data: PolicyContractUpdate
) -> PolicyContract:
    """Change a contract; dates, year and insured basis must still agree, and the status
    moves only draft → active → closed."""
    contract = get_contract(session, contract_id)
    changes = data.model_dump(exclude_unset=True)
    merged = PolicyContractCreate.model_construct(**{**fields_of(contract), **changes})
    try:
        check_contract(merged)
    except InconsistentContract as exc:
        raise InvalidInput(str(exc), field=exc.field, code=exc.code, values=exc.values) from None
    status = changes.get("status")
    if status is not None and status != contract.status:
        if status not in CONTRACT_TRANSITIONS[ContractStatus(contract.status)]:
            raise Conflict(f"a {contract.status} contract cannot become {status}",
                           field="status", value=status, code="contract_transition",
                           values={"status": contract.status, "to": status})
    _apply(contract, data)
    if contract.status == ContractStatus.active:
        _check_no_overlap(session, contract)
    session.flush()
    return contract


def list_contracts(
    session: Session, page: PageRequest, *, county_id: int | None = None,
    policy_year: int | None = None, status: str | None = None,
):
    """Policy contracts, newest year first."""
    query = select(PolicyContract).order_by(col(PolicyContract.policy_year).desc(),
                                          col(PolicyContract.id))
    if county_id is not None:
        query = query.where(PolicyContract.county_id == county_id)
    if policy_year is not None:
        query = query.where(PolicyContract.policy_year == policy_year)
    if status:
        query = query.where(PolicyContract.status == status)
    return paginate(session, query, page)


def _household_ids(session: Session, numbers: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(numbers), 1000):
        chunk = numbers[start : start + 1000]
        found.update(
            cast(list[tuple[str, int]], session.exec(  # stored households always have an id
                select(Household.household_number, Household.id).where(
                    col(Household.household_number).in_(chunk)
                )
            ).all())
        )
    missing = [n for n in numbers if n not in found]
    if missing:
        raise InvalidInput(
            f"{len(missing)} household number(s) are not registered, first {missing[0]}",
            field="household_numbers", value=missing[0],
        )
    return found


def name_insured_households(session: Session, contract_id: int, numbers: list[str]) -> int:
    """Name households as insured by a contract from today (or its start, if later); returns
    how many were newly named."""
    contract = get_contract(session, contract_id)
    if contract.insured_basis != InsuredBasis.named:
        raise InvalidInput("this contract insures a headcount; set insured_basis to named first",
                           field="insured_basis", value=contract.insured_basis)
    found = _household_ids(session, sorted(set(numbers)))
    village, township = sa.orm.aliased(Region), sa.orm.aliased(Region)
    outside = session.exec(
        select(Household.household_number)
        .join(village, col(village.id) == Household.village_id)
        .join(township, col(township.id) == village.parent_id)
        .where(col(Household.id).in_(list(found.values())),
               township.parent_id != contract.county_id)
    ).first()
    if outside is not None:
        raise InvalidInput(f"household {outside} lives outside the contract's county",
                           field="household_numbers", value=outside)
    ids = set(found.values())
    already = set(
        session.exec(
            select(InsuredHousehold.household_id).where(
                InsuredHousehold.contract_id == contract_id
            )
        ).all()
    )
    new = sorted(ids - already)
    if new:
        from policies import history  # the county's date (history imports these models)

        named_on = max(history.clock(), contract.start_date)
        session.execute(
            sa.insert(InsuredHousehold),
            [{"contract_id": contract_id, "household_id": h, "named_on": named_on}
             for h in new],
        )
    session.flush()
    return len(new)


def remove_insured_households(session: Session, contract_id: int, numbers: list[str]) -> int:
    """Take households off a contract's named list; returns how many were removed."""
    get_contract(session, contract_id)
    ids = list(_household_ids(session, sorted(set(numbers))).values())
    # a DELETE's result is a CursorResult (it has rowcount); Session.execute is typed as Result
    result = cast(sa.CursorResult[Any], session.execute(
        sa.delete(InsuredHousehold).where(
            col(InsuredHousehold.contract_id) == contract_id,
            col(InsuredHousehold.household_id).in_(ids)
        )
    ))
    session.flush()
    return result.rowcount


def list_insured_households(session: Session, contract_id: int, page: PageRequest):
    """The household numbers a contract names, in order."""
    get_contract(session, contract_id)
    query = (select(Household.household_number)
             .join(InsuredHousehold, col(InsuredHousehold.household_id) == Household.id)
             .where(InsuredHousehold.contract_id == contract_id)
             .order_by(Household.household_number))
    return paginate(session, query, page)
