"""Benefit terms (保险条款) as data: one county's poverty-prevention terms for one policy year,
written by an official in TOML, validated strictly, and handed to the pure calculator.

See docs/terms.md for the format. Every mistake is reported with the file, the key path and
the reason; unknown keys are errors, so a misspelt key is never silently ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from policies.types import decimal_text
from policies.vocab import DocumentType, HouseholdType, MonitoringCategory

# The event types fangpin knows, with the amounts (yuan) and details each event carries. A
# terms file may declare more under [event_types.NAME]; the calculator needs no change.
BUILTIN_EVENT_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "illness": {
        "amounts": ("total_cost", "basic_insurance_paid", "critical_illness_paid",
                    "medical_assistance_paid", "other_insurance_paid"),
        "details": ("hospital", "diagnosis", "admission_date", "discharge_date"),
    },
    "disability": {
        "amounts": (),
        "details": ("grade", "disability_type", "certificate_number"),
    },
    "disaster": {
        "amounts": ("assessed_loss", "relief_paid", "insurance_paid"),
        # catastrophe_reference: the emergency department's reference of a declared
        # catastrophe the loss belongs to (claims.catastrophes)
        "details": ("kind", "house_damage", "catastrophe_reference"),
    },
    "accident": {
        "amounts": ("cost", "compensation_paid", "insurance_paid"),
        "details": ("kind", "outcome"),
    },
    "education": {
        "amounts": ("tuition_cost", "living_cost", "aid_received"),
        "details": ("stage", "school"),
    },
    "housing": {
        "amounts": ("repair_cost", "subsidy_received"),
        "details": ("kind",),
    },
    "employment": {
        "amounts": ("lost_income", "unemployment_benefit"),
        "details": ("kind",),
    },
    "industry": {
        "amounts": ("loss", "insurance_paid"),
        "details": ("kind",),
    },
}

Amount = Annotated[
    Decimal,
    BeforeValidator(decimal_text),
    Field(ge=0, max_digits=14, decimal_places=2),
    AfterValidator(lambda v: v.quantize(Decimal("0.01"))),
]
Ratio = Annotated[Decimal, BeforeValidator(decimal_text), Field(ge=0, le=1)]


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"'{repeated[0]}' is listed twice")
    return names


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(Strict):
    title: str = Field(min_length=1)
    county: str = Field(min_length=1, description="county name, e.g. 南漳县")
    county_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    policy_year: int = Field(ge=2000, le=2100, strict=True)
    source: str = Field(default="", description="where the published numbers come from")


Multiple = Annotated[Decimal, BeforeValidator(decimal_text), Field(gt=0, le=10)]
Flag = Literal["dibao", "tekun", "disabled_member"]  # 低保, 特困供养, a member with a disability


class IncomeTest(Strict):
    """Per-capita income against k × the household's monitoring line, the comparison
    written out: ``below`` is <, ``at_most`` is ≤."""

    below: Multiple | None = None
    at_most: Multiple | None = None

    @model_validator(mode="after")
    def _one_comparison(self):
        if (self.below is None) == (self.at_most is None):
            raise ValueError('give one of below (income < k × line) or at_most '
                             '(income ≤ k × line), e.g. { below = "1.5" }')
        return self

    def comparison(self) -> tuple[Literal["below", "at_most"], Decimal]:
        if self.below is not None:
            return "below", self.below
        assert self.at_most is not None  # validated: exactly one
        return "at_most", self.at_most


class Condition(Strict):
    """A group of conditions that must all hold; ``any_of`` and ``all_of`` nest groups."""

    household_types: tuple[HouseholdType, ...] | None = Field(default=None, min_length=1)
    monitoring_categories: tuple[MonitoringCategory | Literal["none"], ...] | None = Field(
        default=None, min_length=1)
    flags: tuple[Flag, ...] | None = Field(
        default=None, min_length=1, description="the household has at least one of these")
    per_capita_income: IncomeTest | None = None
    waiting_days: int | None = Field(default=None, ge=0, le=366, strict=True,
                                     description="days after the coverage start")
    any_of: tuple[Condition, ...] | None = Field(default=None, min_length=1)
    all_of: tuple[Condition, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _says_something(self):
        if type(self) is Condition and not self.model_fields_set:
            raise ValueError("an empty condition: give at least one key")
        return self


class Eligibility(Condition):
    """The conditions of the whole terms: every key given must hold. The original keys keep
    their meaning: ``max_income_multiple`` is income ≤ k × line, and ``waiting_days`` is
    checked after the coverage period."""

    household_types: tuple[HouseholdType, ...] | None = Field(default=tuple(HouseholdType),
                                                              min_length=1)
    monitoring_categories: tuple[MonitoringCategory | Literal["none"], ...] | None = Field(
        default=(*MonitoringCategory, "none"), min_length=1)
    max_income_multiple: Multiple | None = Field(
        default=None,
        description="per-capita income must not exceed this multiple of the monitoring line")
    waiting_days: int | None = Field(default=0, ge=0, le=366, strict=True)

    @model_validator(mode="after")
    def _one_income_test(self):
        if self.max_income_multiple is not None and self.per_capita_income is not None:
            raise ValueError("give max_income_multiple or per_capita_income, not both")
        return self


class Base(Strict):
    add: Annotated[tuple[str, ...], AfterValidator(_unique)] = Field(min_length=1)
    subtract: Annotated[tuple[str, ...], AfterValidator(_unique)] = ()

    @model_validator(mode="after")
    def _disjoint(self):
        both = sorted(set(self.add) & set(self.subtract))
        if both:
            raise ValueError(f"{both[0]!r} is both added and subtracted")
        return self


class Deductible(Strict):
    amount: Amount
    per: Literal["year", "event"] = "year"
    unit: Literal["person", "household"] = "person"


class Band(Strict):
    up_to: Amount | None = Field(default=None, description="upper bound of the band; last: none")
    ratio: Ratio


class Caps(Strict):
    per_event: Amount | None = None
    per_person_year: Amount | None = None
    per_household_year: Amount | None = None


class FixedBy(Strict):
    detail: str = Field(min_length=1, description="the event detail that selects the amount")
    amounts: dict[str, Amount] = Field(min_length=1)


class Warning(Strict):
    amount: Amount
    unit: Literal["person", "household"] = "person"


class Trigger(Strict):
    """How one kind of shock is paid."""

    base: Base | None = None
    deductible: Deductible | None = None
    bands: tuple[Band, ...] = ()
    fixed: Amount | None = None
    fixed_by: FixedBy | None = None
    caps: Caps = Caps()
    warning: Warning | None = None
    # The documents a claim of this trigger needs before it is approved (理赔材料), codes of
    # policies.vocab.DocumentType; a supervisor may waive one with a reason.
    documents: Annotated[tuple[DocumentType, ...], AfterValidator(_unique)] = ()

    @model_validator(mode="after")
    def _one_way_to_pay(self):
        ways = [self.base is not None, self.fixed is not None, self.fixed_by is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of base (with bands), fixed or fixed_by")
        if self.base is None and (self.deductible or self.bands):
            raise ValueError("deductible and bands apply only with a base")
        if self.warning is not None and self.base is None:
            raise ValueError("a warning threshold applies only with a base")
        if (self.deductible is not None and self.deductible.unit == "household"
                and self.caps.per_person_year is not None):
            raise ValueError("a household deductible cannot go with a per-person cap: the "
                             "household's loss above it belongs to no one person")
        return self

    @field_validator("bands")
    @classmethod
    def _ordered(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        previous = Decimal(0)
        for index, band in enumerate(bands):
            last = index == len(bands) - 1
            if band.up_to is None and not last:
                raise ValueError(f"band {index + 1} has no up_to but is not the last band")
            if band.up_to is not None and band.up_to <= previous:
                raise ValueError(
                    f"band {index + 1} ends at {band.up_to}, not above the previous band's "
                    f"end {previous}: bands must be in increasing order without overlap")
            previous = band.up_to if band.up_to is not None else previous
        if bands and bands[-1].up_to is not None:
            raise ValueError(f"the last band (band {len(bands)}) must have no up_to: losses "
                             "above it would silently be paid nothing")
        return bands


class SharedCap(Strict):
    triggers: Annotated[tuple[str, ...], AfterValidator(_unique)] = Field(min_length=2)
    per_person_year: Amount | None = None
    per_household_year: Amount | None = None

    @model_validator(mode="after")
    def _some_cap(self):
        if self.per_person_year is None and self.per_household_year is None:
            raise ValueError("a shared cap needs per_person_year or per_household_year")
        return self


class Monitoring(Strict):
    """How a paid household is watched after the payout (赔付后监测); the defaults are the
    national practice."""

    window_months: int = Field(default=12, ge=1, le=36, strict=True,
                               description="a payout opens (or extends) a window this long")
    report_every_months: int = Field(default=3, ge=1, le=12, strict=True,
                                     description="an income report is due this often")
    drop_share: Ratio = Field(default=Decimal("0.30"), gt=0, lt=1,
                              description="alert when income without the payout falls more "
                                          "than this share below the year before the shock")
    score_rise: Ratio = Field(default=Decimal("0.25"), gt=0,
                              description="alert on a risk score rise of at least this")
    stable_months: int = Field(default=6, ge=1, le=36, strict=True,
                               description="months above the line before elimination is "
                                           "proposed")


class EventType(Strict):
    amounts: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


class Terms(Strict):
    """One county's terms for one policy year, validated."""

    policy: Policy
    eligibility: Eligibility = Eligibility()
    event_types: dict[str, EventType] = {}
    triggers: dict[str, Trigger] = Field(min_length=1)
    shared_caps: tuple[SharedCap, ...] = ()
    notice_days: int = Field(default=7, ge=1, le=60, strict=True,
                             description="public notice (公示) length")
    monitoring: Monitoring = Monitoring()

    def event_type(self, name: str) -> EventType | None:
        if name in self.event_types:
            return self.event_types[name]
        builtin = BUILTIN_EVENT_TYPES.get(name)
        return EventType(**builtin) if builtin else None

    @model_validator(mode="after")
    def _references(self) -> Terms:
        problems: list[tuple[tuple, str]] = []
        for name in sorted(set(self.event_types) & set(BUILTIN_EVENT_TYPES)):
            problems.append((("event_types", name), f"{name} is built in; choose another name"))
        for name, trigger in self.triggers.items():
            kind = self.event_type(name)
            if kind is None:
                known = ", ".join([*BUILTIN_EVENT_TYPES, *self.event_types])
                problems.append((("triggers", name),
                                 f"unknown trigger type {name!r}; known: {known} "
                                 "(declare new ones under [event_types.NAME])"))
                continue
            if trigger.base is not None:
                for part in ("add", "subtract"):
                    for amount in getattr(trigger.base, part):
                        if amount not in kind.amounts:
                            problems.append((
                                ("triggers", name, "base", part),
                                f"{amount!r} is not an amount of {name} events; their amounts "
                                f"are: {', '.join(kind.amounts) or 'none'}"))
            if trigger.fixed_by is not None and trigger.fixed_by.detail not in kind.details:
                problems.append((
                    ("triggers", name, "fixed_by", "detail"),
                    f"{trigger.fixed_by.detail!r} is not a detail of {name} events; their "
                    f"details are: {', '.join(kind.details) or 'none'}"))
        for index, cap in enumerate(self.shared_caps):
            for name in cap.triggers:
                if name not in self.triggers:
                    problems.append((("shared_caps", index, "triggers"),
                                     f"{name!r} is not a trigger of these terms"))
                elif (cap.per_person_year is not None
                      and (deductible := self.triggers[name].deductible) is not None
                      and deductible.unit == "household"):
                    problems.append((("shared_caps", index, "per_person_year"),
                                     f"{name} has a household deductible, which cannot go "
                                     "with a per-person cap"))
        if problems:
            raise TermsPathError(problems)
        return self


class TermsPathError(ValueError):
    """Rules broken at known places in the file: (key path, reason) pairs."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        super().__init__("; ".join(reason for _, reason in problems))
        self.problems = problems


@dataclass(frozen=True)
class TermsProblem:
    """One mistake in a terms file: where and why."""

    file: str
    path: str
    reason: str
    code: str = ""  # the kind of mistake (pydantic's error type, "toml"), for translation

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(top)'}: {self.reason}"


class InvalidTerms(ValueError):
    """A terms file that cannot be used; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[TermsProblem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_terms(text: str, filename: str = "<terms>") -> Terms:
    """Parse and validate terms from TOML text, or raise InvalidTerms listing every mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidTerms([TermsProblem(filename, "", f"not valid TOML: {exc}", "toml")]) from None
    except RecursionError:  # 2,000 nested arrays had been a server error (a tester's)
        raise InvalidTerms([TermsProblem(filename, "", "not valid TOML: nested too deeply",
                                         "toml")]) from None
    try:
        return Terms.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            context = error.get("ctx", {}).get("error")
            if isinstance(context, TermsPathError):
                problems += [TermsProblem(filename, _dotted(path), reason)
                             for path, reason in context.problems]
                continue
            reason = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                reason = "unknown key (misspelt?)"
            problems.append(TermsProblem(filename, _dotted(error["loc"]), reason, error["type"]))
        raise InvalidTerms(problems) from None


def load_terms(path) -> Terms:
    """Read a terms file from disk."""
    from pathlib import Path

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidTerms([TermsProblem(str(file), "", "save the file as UTF-8")]) from None
    return parse_terms(text, str(file))


def policy_year_bounds(terms: Terms) -> tuple[date, date]:
    """The calendar year of the policy (contracts may set other dates)."""
    return date(terms.policy.policy_year, 1, 1), date(terms.policy.policy_year, 12, 31)
