"""The registry and the contract as tables and API shapes.

Each entity has a family in the style of SQLModel's full-stack template: ``XBase`` (shared
fields), ``X`` (the table), ``XCreate``, ``XUpdate`` (all optional), ``XPublic`` and
``XsPublic`` (a page of results with the total count).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import EllipsisType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlmodel import Field, SQLModel

from policies.citizen_id import InvalidCitizenId, parse_citizen_id
from policies.rules import BUSINESS, TRANSFERS
from policies.types import (
    EARLIEST_DATE,
    LATEST_DATE,
    Money,
    MultilineText,
    ScaledDecimal,
    Text,
    UtcDateTime,
    decimal_text,
)
from policies.vocab import (
    ContractStatus,
    Education,
    Health,
    HouseholdStatus,
    HouseholdType,
    IncomeSource,
    InsuredBasis,
    LabourSkill,
    MemberStatus,
    MonitoringCategory,
    RegionLevel,
    Relation,
    Schooling,
    Sex,
)

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Text shapes shared by the API models and the file import.
HOUSEHOLD_NUMBER = r"[0-9A-Za-z-]+"
PHONE = r"[0-9+\- ]{5,20}"
BANK_ACCOUNT = r"\d{8,32}"
MONEY_MAX = Decimal("999999999999.99")
# Decimals are normalised to their stored number of places, so a response shows "100.50"
# whether the client sent "100.5" or "100.500".
Yuan = Annotated[
    Decimal,
    BeforeValidator(decimal_text),
    Field(max_digits=14, decimal_places=2),
    AfterValidator(lambda v: v.quantize(Decimal("0.01"))),
]
Rate = Annotated[Decimal, BeforeValidator(decimal_text),
                 AfterValidator(lambda v: v.quantize(Decimal("0.0001")))]
Multiple = Annotated[Decimal, BeforeValidator(decimal_text),
                     AfterValidator(lambda v: v.quantize(Decimal("0.001")))]


def utcnow() -> datetime:
    """The present instant: every stored time, and the county's date (claims.clock)."""
    return datetime.now(UTC)


def money(*, default: Decimal | EllipsisType | None = Decimal("0.00"), nullable: bool = False,
          **kw: Any) -> Any:
    """A non-negative yuan amount with two places, stored as integer fen."""
    return Field(  # type: ignore[call-overload]  # sqlmodel types le as float; pydantic takes a Decimal bound
        default=default,
        ge=0,
        le=MONEY_MAX,
        max_digits=14,
        decimal_places=2,
        sa_type=Money,
        nullable=nullable,
        **kw,
    )


def code_field(*, default=..., nullable: bool = False, index: bool = False, **kw):
    """A coded value (see policies.vocab) stored as its code; required unless it has a
    default or may be empty."""
    if default is ... and nullable:
        default = None
    return Field(default=default, sa_type=sa.String(24), nullable=nullable, index=index, **kw)


def check_date_range(value: date | None, field: str) -> date | None:
    if value is not None and not (EARLIEST_DATE <= value <= LATEST_DATE):
        raise ValueError(f"{field} {value.isoformat()} is outside 1900-01-01..2100-12-31")
    return value


class Page(SQLModel):
    count: int


class UpdateModel(SQLModel):
    """A PATCH body: omitted fields keep their value; null only where a field may be empty;
    an unknown (misspelt or derived) field is refused, not ignored."""

    model_config = {"extra": "forbid"}
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value, info: ValidationInfo):
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("cannot be emptied; leave the field out to keep its value")
        return value


# ---------------------------------------------------------------- regions (行政区划)


class RegionBase(SQLModel):
    code: str = Field(
        min_length=2, max_length=12, schema_extra={"pattern": r"^\d+$"}, unique=True, index=True,
        description="Administrative division code (GB/T 2260 and its township/village extension)",
    )
    name: Text = Field(min_length=1, max_length=64)
    level: RegionLevel = code_field()
    parent_id: int | None = Field(default=None, foreign_key="region.id", index=True)


class Region(RegionBase, table=True):
    """A province, city, county, township (乡镇) or village (行政村)."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    id: int | None = Field(default=None, primary_key=True)


class RegionCreate(RegionBase):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"code": "411081101001", "name": "城关村", "level": "village", "parent_id": 23}
            ]
        }
    }


class RegionUpdate(UpdateModel):
    name: Text | None = Field(default=None, min_length=1, max_length=64)


class RegionPublic(RegionBase):
    id: int
    name: str  # shown as stored, even when stored before the rule of Text


class RegionsPublic(Page):
    data: list[RegionPublic]


# ---------------------------------------------------------------- households (农户)


class HouseholdBase(SQLModel):
    household_number: str = Field(
        min_length=1, max_length=32, schema_extra={"pattern": f"^{HOUSEHOLD_NUMBER}$"},
        unique=True, index=True,
        description="户编号 from the monitoring system",
    )
    village_id: int = Field(foreign_key="region.id", index=True)
    household_type: HouseholdType = code_field(index=True, description="户类型")
    monitoring_category: MonitoringCategory | None = code_field(
        nullable=True, index=True, description="监测对象类别; empty when not monitored"
    )
    phone: str | None = Field(default=None, max_length=20, schema_extra={"pattern": f"^{PHONE}$"})
    bank_name: Text | None = Field(default=None, max_length=64)
    bank_account: str | None = Field(
        default=None, max_length=32, schema_extra={"pattern": f"^{BANK_ACCOUNT}$"}
    )
    relocated: bool = Field(default=False, description="lives in a relocation settlement")
    status: HouseholdStatus = code_field(default=HouseholdStatus.active, index=True)


class Household(HouseholdBase, table=True):
    """A covered rural household (农户), the unit of the policy and of the income ledger."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class HouseholdCreate(HouseholdBase):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "household_number": "4110810101010001",
                    "village_id": 25,
                    "household_type": "lifted_out",
                    "monitoring_category": "unstable_lifted_out",
                    "phone": "13800000000",
                    "bank_name": "农村信用社",
                    "bank_account": "6228480000000000000",
                    "relocated": False,
                }
            ]
        }
    }


class HouseholdUpdate(UpdateModel):
    NULLABLE = frozenset({"monitoring_category", "phone", "bank_name", "bank_account"})

    village_id: int | None = None
    household_type: HouseholdType | None = None
    monitoring_category: MonitoringCategory | None = None
    phone: str | None = Field(default=None, max_length=20, schema_extra={"pattern": f"^{PHONE}$"})
    bank_name: Text | None = Field(default=None, max_length=64)
    bank_account: str | None = Field(
        default=None, max_length=32, schema_extra={"pattern": f"^{BANK_ACCOUNT}$"}
    )
    relocated: bool | None = None
    status: HouseholdStatus | None = None


class HouseholdPublic(HouseholdBase):
    id: int
    bank_name: str | None = None  # shown as stored (see RegionPublic)
    size: int = Field(description="active members, derived from the member list")
    head_name: str | None = None
    created_at: datetime
    updated_at: datetime


class HouseholdsPublic(Page):
    data: list[HouseholdPublic]


# ---------------------------------------------------------------- members (家庭成员)


class MemberFields(SQLModel):
    """What a clerk states about a member; sex and birth date come from the ID number."""

    name: Text = Field(min_length=1, max_length=64)
    relation: Relation = code_field(description="与户主关系")
    education: Education | None = code_field(nullable=True, description="文化程度")
    schooling: Schooling = code_field(default=Schooling.not_in_school, description="在校生状况")
    health: Health = code_field(default=Health.healthy, description="健康状况")
    disability_grade: int | None = Field(default=None, ge=1, le=4, description="残疾等级 1-4")
    labour_skill: LabourSkill = code_field(default=LabourSkill.ordinary, description="劳动技能")
    migrant_work_months: int = Field(default=0, ge=0, le=12, description="务工时间(月)")
    resident_medical: bool = Field(default=True, description="城乡居民基本医疗保险")
    critical_illness: bool = Field(default=True, description="大病保险")
    pension: bool = Field(default=False, description="城乡居民基本养老保险")
    dibao: bool = Field(default=False, description="享受低保")
    tekun: bool = Field(default=False, description="特困供养")
    status: MemberStatus = code_field(default=MemberStatus.active)


class Member(MemberFields, table=True):
    """A person of a household, identified by the citizen ID number."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    id_number: str = Field(max_length=18, unique=True, index=True)
    sex: Sex = code_field()
    birth_date: date


class MemberCreate(MemberFields):
    household_id: int
    id_number: str = Field(description="18-character citizen ID number (证件号码)")

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        try:
            return parse_citizen_id(value).number
        except InvalidCitizenId as exc:
            raise ValueError(f"ID number {value!r}: {exc}") from None

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "household_id": 1,
                    "name": "张三",
                    "id_number": "41108119650312001X",
                    "relation": "head",
                    "education": "primary",
                    "health": "chronic",
                    "labour_skill": "ordinary",
                    "migrant_work_months": 0,
                }
            ]
        }
    }


class MemberUpdate(UpdateModel):
    NULLABLE = frozenset({"education", "disability_grade"})

    household_id: int | None = None
    name: Text | None = Field(default=None, min_length=1, max_length=64)
    relation: Relation | None = None
    education: Education | None = None
    schooling: Schooling | None = None
    health: Health | None = None
    disability_grade: int | None = Field(default=None, ge=1, le=4)
    labour_skill: LabourSkill | None = None
    migrant_work_months: int | None = Field(default=None, ge=0, le=12)
    resident_medical: bool | None = None
    critical_illness: bool | None = None
    pension: bool | None = None
    dibao: bool | None = None
    tekun: bool | None = None
    status: MemberStatus | None = None


class MemberPublic(MemberFields):
    id: int
    name: str  # shown as stored (see RegionPublic)
    household_id: int
    id_number: str
    sex: Sex
    birth_date: date


class MembersPublic(Page):
    data: list[MemberPublic]


# ---------------------------------------------------------------- income ledger (收入台账)

# Everything that adds to net income; business costs are subtracted (policies.rules).
INCOME_COMPONENTS = ("wages", *BUSINESS, "property_income", *TRANSFERS)


class IncomeFields(SQLModel):
    """Income components of one period, as the monitoring system records them (yuan)."""

    wages: Yuan = money(description="工资性收入")
    business_crops: Yuan = money(description="生产经营性收入: 种植业")
    business_livestock: Yuan = money(description="生产经营性收入: 养殖业")
    business_other: Yuan = money(description="生产经营性收入: 其他")
    property_income: Yuan = money(description="财产性收入")
    transfer_pension: Yuan = money(description="转移性收入: 养老金")
    transfer_dibao: Yuan = money(description="转移性收入: 低保金")
    transfer_tekun: Yuan = money(description="转移性收入: 特困供养金")
    transfer_disaster_relief: Yuan = money(description="转移性收入: 受灾救助")
    transfer_poverty_insurance: Yuan = money(description="转移性收入: 防贫保险")
    transfer_other: Yuan = money(description="转移性收入: 其他")
    business_costs: Yuan = money(description="生产经营性支出")
    eligible_out_of_pocket: Yuan = money(description="合规自付医疗支出 (not deducted)")


# Every figure of a period's income record: the components, the costs, the medical spending.
INCOME_FIGURES = tuple(IncomeFields.model_fields)


class IncomeRecordBase(IncomeFields):
    household_id: int = Field(foreign_key="household.id", index=True)
    period_start: date
    period_end: date
    source: IncomeSource = code_field(default=IncomeSource.survey)
    reference: Text = Field(default="", max_length=64, description="source's own reference")


class IncomeRecord(IncomeRecordBase, table=True):
    """One period's income of a household; net and per-capita income are derived."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    __tablename__ = "income_record"
    __table_args__ = (
        sa.UniqueConstraint("household_id", "period_start", "period_end", "source", "reference"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_size: int = Field(description="active members when recorded")
    net_income: Decimal = Field(sa_type=Money, description="家庭纯收入, derived")
    per_capita_net_income: Decimal = Field(sa_type=Money, description="人均纯收入, derived")
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    revised_at: datetime | None = Field(
        default=None, sa_type=UtcDateTime,
        description="when a correction set the figures (none: as first recorded)")


class IncomeRecordVersion(IncomeFields, table=True):
    """The figures an income record held before a correction (收入台账更正前数据), known from
    ``known_from`` until ``known_to`` (UTC): what a past day's risk features read, so a
    correction made later never rewrites what was known then. Written by
    ``policies.registry.update_income_record``; the current figures are the record itself."""

    if TYPE_CHECKING:
        __table__: ClassVar[sa.Table]

    __tablename__ = "income_record_version"
    id: int | None = Field(default=None, primary_key=True)
    income_record_id: int = Field(foreign_key="income_record.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    period_start: date
    period_end: date
    source: str = Field(max_length=24)
    household_size: int
    net_income: Decimal = Field(sa_type=Money)
    per_capita_net_income: Decimal = Field(sa_type=Money)
    recorded_at: datetime = Field(sa_type=UtcDateTime, description="the record's first moment")
    known_from: datetime = Field(sa_type=UtcDateTime)
    known_to: datetime = Field(sa_type=UtcDateTime)


class IncomeRecordCreate(IncomeRecordBase):
    @model_validator(mode="after")
    def _period(self):
        check_date_range(self.period_start, "period_start")
        check_date_range(self.period_end, "period_end")
        if self.period_end < self.period_start:
            raise ValueError(
                f"period_end {self.period_end} is before period_start {self.period_start}"
            )
        return self

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "household_id": 1,
                    "period_start": "2025-01-01",
                    "period_end": "2025-12-31",
                    "source": "survey",
                    "wages": "18000.00",
                    "business_crops": "3200.00",
                    "transfer_pension": "1800.00",
                    "business_costs": "1200.00",
                }
            ]
        }
    }


class IncomeRecordUpdate(UpdateModel):
    wages: Yuan | None = money(default=None)
    business_crops: Yuan | None = money(default=None)
    business_livestock: Yuan | None = money(default=None)
    business_other: Yuan | None = money(default=None)
    property_income: Yuan | None = money(default=None)
    transfer_pension: Yuan | None = money(default=None)
    transfer_dibao: Yuan | None = money(default=None)
    transfer_tekun: Yuan | None = money(default=None)
    transfer_disaster_relief: Yuan | None = money(default=None)
    transfer_poverty_insurance: Yuan | None = money(default=None)
    transfer_other: Yuan | None = money(default=None)
    business_costs: Yuan | None = money(default=None)
    eligible_out_of_pocket: Yuan | None = money(default=None)


class IncomeRecordPublic(IncomeRecordBase):
    id: int
    reference: str  # shown as stored (see RegionPublic)
    household_size: int
    net_income: Decimal
    per_capita_net_income: Decimal
    recorded_at: datetime
    revised_at: datetime | None


class IncomeRecordsPublic(Page):
    data: list[IncomeRecordPublic]


# ---------------------------------------------------------------- lines and standards


class NationalStandardBase(SQLModel):
    year: int = Field(ge=1978, le=2100, unique=True, index=True)
    amount: Yuan = money(default=..., description="yuan per person per year")
    note: Text = Field(default="", max_length=255, description="source, or 'demo assumption'")


class NationalStandard(NationalStandardBase, table=True):
    """The national rural poverty standard of a year (国家农村贫困标准), as data."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    __tablename__ = "national_standard"
    id: int | None = Field(default=None, primary_key=True)


class NationalStandardCreate(NationalStandardBase):
    model_config = {"extra": "forbid"}


class NationalStandardUpdate(UpdateModel):
    amount: Yuan | None = money(default=None)
    note: Text | None = Field(default=None, max_length=255)


class NationalStandardPublic(NationalStandardBase):
    note: str  # shown as stored (see RegionPublic)
    id: int


class NationalStandardsPublic(Page):
    data: list[NationalStandardPublic]


class MonitoringLineBase(SQLModel):
    region_id: int = Field(foreign_key="region.id", index=True)
    year: int = Field(ge=2000, le=2100)
    fixed_amount: Yuan | None = money(
        default=None, nullable=True, description="yuan per person per year, when fixed"
    )
    multiple: Multiple | None = Field(
        default=None, gt=0, le=10, max_digits=6, decimal_places=3,
        sa_type=ScaledDecimal(3), description="multiple of a national standard, e.g. 1.5",
    )
    standard_year: int | None = Field(
        default=None, ge=1978, le=2100, description="year of the national standard multiplied"
    )
    note: Text = Field(default="", max_length=255, description="source, or 'demo assumption'")


class MonitoringLine(MonitoringLineBase, table=True):
    """The monitoring line (监测线 / 防贫线) of a region and year."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    __tablename__ = "monitoring_line"
    __table_args__ = (sa.UniqueConstraint("region_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)


class MonitoringLineCreate(MonitoringLineBase):
    @model_validator(mode="after")
    def _one_way(self):
        fixed = self.fixed_amount is not None
        multiple = self.multiple is not None or self.standard_year is not None
        if fixed == multiple:
            raise PydanticCustomError(
                "line_one_way",
                "give either fixed_amount, or multiple with standard_year — exactly one way"
            )
        if multiple and (self.multiple is None or self.standard_year is None):
            raise PydanticCustomError("line_together", "multiple and standard_year go together")
        return self

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"region_id": 3, "year": 2025, "fixed_amount": "8700.00", "note": "demo"},
                {"region_id": 3, "year": 2019, "multiple": "1.5", "standard_year": 2018},
            ]
        }
    }


class MonitoringLineUpdate(UpdateModel):
    NULLABLE = frozenset({"fixed_amount", "multiple", "standard_year"})

    fixed_amount: Yuan | None = money(default=None, nullable=True)
    multiple: Multiple | None = Field(default=None, gt=0, le=10, max_digits=6, decimal_places=3)
    standard_year: int | None = Field(default=None, ge=1978, le=2100)
    note: Text | None = Field(default=None, max_length=255)


class MonitoringLinePublic(MonitoringLineBase):
    note: str  # shown as stored (see RegionPublic)
    id: int
    amount: Decimal = Field(description="the line in yuan, resolved")


class MonitoringLinesPublic(Page):
    data: list[MonitoringLinePublic]


# ---------------------------------------------------------------- policy contracts (保单)


class PolicyContractBase(SQLModel):
    contract_number: Text = Field(min_length=1, max_length=64, unique=True, index=True)
    county_id: int = Field(foreign_key="region.id", index=True)
    insurer: Text = Field(min_length=1, max_length=128)
    policy_year: int = Field(ge=2000, le=2100, index=True)
    start_date: date
    end_date: date
    premium_per_person: Yuan = money(default=...)
    insured_basis: InsuredBasis = code_field(default=InsuredBasis.headcount)
    insured_headcount: int | None = Field(default=None, ge=1, le=100_000_000)
    insurer_fee_rate: Rate = Field(
        default=Decimal("0"), ge=0, le=1, max_digits=5, decimal_places=4,
        sa_type=ScaledDecimal(4), description="fee as a share of payouts, e.g. 0.15",
    )
    balance_carried_in: Yuan = money(description="结余结转 from the previous year")
    status: ContractStatus = code_field(default=ContractStatus.draft)
    terms_version_id: int | None = Field(
        default=None, foreign_key="terms_version.id", description="the benefit terms in force"
    )


class PolicyContract(PolicyContractBase, table=True):
    """A county's government-purchased poverty-prevention policy for one policy year."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    __tablename__ = "policy_contract"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class InconsistentContract(ValueError):
    """A contract whose fields contradict each other; ``field`` names the one to correct,
    ``code`` and ``values`` the rule broken, for a page to say in the user's language."""

    def __init__(self, field: str, code: str, message: str, **values: Any):
        super().__init__(message)
        self.field, self.code, self.values = field, code, values


def check_contract(contract: PolicyContractBase) -> None:
    """Raise InconsistentContract when dates, year and insured basis contradict each other."""
    start, end = contract.start_date, contract.end_date
    for name, value in (("start_date", start), ("end_date", end)):
        try:
            check_date_range(value, name)
        except ValueError as exc:
            raise InconsistentContract(name, "date_out_of_range", str(exc)) from None
    if end <= start:
        raise InconsistentContract("end_date", "end_before_start",
                                   f"end_date {end} must be after start_date {start}",
                                   start=start)
    if (end - start).days + 1 > 366:  # days of the year, both ends counted
        raise InconsistentContract(
            "end_date", "year_too_long",
            f"a policy year runs at most 366 days; {start}..{end} is longer")
    if start.year != contract.policy_year:
        raise InconsistentContract(
            "policy_year", "year_of_start", f"policy year {contract.policy_year} must be the "
            f"year of start_date {start}", year=start.year)
    if contract.insured_basis == InsuredBasis.headcount and not contract.insured_headcount:
        raise InconsistentContract(
            "insured_headcount", "headcount_required",
            "insured_headcount is required when insured_basis is headcount")
    if contract.insured_basis == InsuredBasis.named and contract.insured_headcount is not None:
        raise InconsistentContract(
            "insured_headcount", "headcount_derived",
            "insured_headcount is derived from the named households; leave it empty")


class PolicyContractCreate(PolicyContractBase):
    @model_validator(mode="after")
    def _consistent(self):
        check_contract(self)
        return self

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "contract_number": "FPB-411081-2026",
                    "county_id": 3,
                    "insurer": "中国太平洋财产保险股份有限公司",
                    "policy_year": 2026,
                    "start_date": "2026-01-01",
                    "end_date": "2026-12-31",
                    "premium_per_person": "50.00",
                    "insured_basis": "headcount",
                    "insured_headcount": 53000,
                    "insurer_fee_rate": "0.15",
                    "balance_carried_in": "0.00",
                }
            ]
        }
    }


class PolicyContractUpdate(UpdateModel):
    NULLABLE = frozenset({"insured_headcount"})

    insurer: Text | None = Field(default=None, min_length=1, max_length=128)
    start_date: date | None = None
    end_date: date | None = None
    premium_per_person: Yuan | None = money(default=None)
    insured_basis: InsuredBasis | None = None
    insured_headcount: int | None = Field(default=None, ge=1, le=100_000_000)
    insurer_fee_rate: Rate | None = Field(
        default=None, ge=0, le=1, max_digits=5, decimal_places=4
    )
    balance_carried_in: Yuan | None = money(default=None)
    status: ContractStatus | None = None


class PolicyContractPublic(PolicyContractBase):
    contract_number: str  # shown as stored (see RegionPublic)
    insurer: str
    id: int
    insured_people: int = Field(description="headcount, or members of the named households")
    insured_households: int = Field(description="named households (0 on a headcount basis)")
    premium: Decimal = Field(description="premium per person × insured people")
    created_at: datetime


class PolicyContractsPublic(Page):
    data: list[PolicyContractPublic]


class InsuredHousehold(SQLModel, table=True):
    """A household named as insured by a contract (按名单参保)."""

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    __tablename__ = "insured_household"
    contract_id: int = Field(foreign_key="policy_contract.id", primary_key=True)
    household_id: int = Field(foreign_key="household.id", primary_key=True, index=True)
    # The county's day it was named: covered (and its waiting days counted) from then, or
    # from the contract's start if later; none: named before the day was kept, the start.
    named_on: date | None = None


class InsuredHouseholdsChange(SQLModel):
    model_config = {"extra": "forbid"}  # {"remove": true} to the add route had added
    household_numbers: list[str] = Field(min_length=1, max_length=1_000_000)


# ---------------------------------------------------------------- benefit terms (保险条款)


class TermsVersion(SQLModel, table=True):
    """An immutable version of a county's benefit terms: the TOML text exactly as loaded.

    Changing terms means loading a new version; claims record the version they used.
    """

    if TYPE_CHECKING:  # set by SQLModel on table classes, but not declared in its stubs
        __table__: ClassVar[sa.Table]

    __tablename__ = "terms_version"
    __table_args__ = (sa.UniqueConstraint("key", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, index=True, description="e.g. nanzhang-2018")
    version: int = Field(ge=1)
    title: str = Field(max_length=255)
    county: str = Field(max_length=64)
    county_code: str | None = Field(default=None, max_length=6)
    policy_year: int
    source_text: str = Field(sa_type=sa.Text)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class TermsVersionPublic(SQLModel):
    id: int
    key: str
    version: int
    title: str
    county: str
    county_code: str | None
    policy_year: int
    sha256: str
    created_at: datetime
    source_text: str
    terms: dict = Field(description="the validated terms, as the calculator reads them")


class TermsVersionsPublic(Page):
    data: list[TermsVersionPublic]


class TermsUpload(SQLModel):
    model_config = {"extra": "forbid"}
    key: str = Field(min_length=1, max_length=64, schema_extra={"pattern": r"^[a-z0-9-]+$"})
    source_text: MultilineText = Field(min_length=1, max_length=200_000,
                                       description="the TOML file")


# ---------------------------------------------------------------- registry history (登记历史)


class MemberVersion(SQLModel, table=True):
    """A member's changeable fields as they stood from ``valid_from`` (inclusive) until
    ``valid_to`` (exclusive; none: still so): what the registry knew on each day, so past
    days' risk features never read today's registry. Written on every change of a member
    (policies.history); the current version is the member row itself."""

    __tablename__ = "member_version"
    __table_args__ = (sa.Index("ix_member_version_household_valid", "household_id",
                               "valid_from", "valid_to"),)
    if TYPE_CHECKING:
        __table__: ClassVar[sa.Table]

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    valid_from: date
    valid_to: date | None = None
    relation: str = Field(max_length=32)
    birth_date: date
    schooling: str = Field(max_length=32)
    health: str = Field(max_length=32)
    disability_grade: int | None = None
    labour_skill: str = Field(max_length=32)
    migrant_work_months: int = 0
    dibao: bool = False
    tekun: bool = False
    status: str = Field(max_length=32)


class HouseholdVersion(SQLModel, table=True):
    """A household's changeable fields from ``valid_from`` until ``valid_to`` (see
    :class:`MemberVersion`)."""

    __tablename__ = "household_version"
    __table_args__ = (sa.Index("ix_household_version_household_valid", "household_id",
                               "valid_from", "valid_to"),)
    if TYPE_CHECKING:
        __table__: ClassVar[sa.Table]

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    valid_from: date
    valid_to: date | None = None
    village_id: int = Field(foreign_key="region.id")
    household_type: str = Field(max_length=32)
    monitoring_category: str | None = Field(default=None, max_length=32)
    relocated: bool = False
    status: str = Field(max_length=32)


# Registers the flush hook that versions every change of a member or household: importing the
# models is enough, so no writer can forget it.
from policies import history as _history  # noqa: E402,F401
