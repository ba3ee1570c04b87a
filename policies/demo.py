"""A demo county (演示县) shaped like the one in DOMAIN.md §9: 禹州市 (Henan), 22 townships,
about 15,000 registered households and 53,000 people by default.

Every figure marked ``demo`` below is an assumption chosen to look plausible, not a published
county term. Generation is vectorised and chunked, so a million households take minutes and
flat memory; the output is deterministic for a seed and chunk size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from importlib import resources

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col

from policies import benefits, history
from policies.bulk import insert_columns, lookup
from policies.citizen_id import check_characters
from policies.errors import Conflict
from policies.models import (
    INCOME_FIGURES,
    Household,
    IncomeRecord,
    InsuredHousehold,
    Member,
    MonitoringLine,
    PolicyContract,
    Region,
    utcnow,
)

PROVINCE = ("41", "河南省")
CITY = ("4110", "许昌市")
COUNTY = ("411081", "禹州市")
TOWNSHIPS = (
    "火龙镇", "顺店镇", "方山镇", "神垕镇", "鸿畅镇", "梁北镇", "古城镇", "无梁镇", "文殊镇",
    "鸠山镇", "褚河镇", "范坡镇", "郭连镇", "朱阁镇", "浅井镇", "方岗镇", "花石镇", "张得镇",
    "苌庄镇", "磨街乡", "小吕乡", "山货乡",
)
VILLAGES_PER_TOWNSHIP = 30  # demo
VILLAGE_STEMS = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "高", "林", "罗", "东", "西", "南", "北", "大", "小", "前", "后", "新", "老",
)
VILLAGE_ENDINGS = ("庄村", "寨村", "沟村", "岗村", "营村", "楼村", "店村", "河村", "湾村", "坡村")
# Registration codes for ID numbers: the county first, then neighbours once a birth date and sex
# has used all 499 sequence numbers of the county (only for very large demo counties).
ID_REGION_CODES = (
    "411081", "411082", "411002", "411003", "411024", "411025", "410182", "410183", "410184",
    "410185", "410122", "411102",
)
SURNAMES = np.array(list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程"))
SURNAME_WEIGHTS = np.linspace(3.0, 1.0, len(SURNAMES))
GIVEN = np.array(list("建国华明军伟芳秀英玉兰桂花志强丽红春梅海涛云霞金凤德福文静亮"))

# ---- demo assumptions, documented so nobody mistakes them for published terms (the notes
# and names written into the county are in Chinese: its staff read them on the pages)
SIZE_PROBABILITIES = {1: 0.11, 2: 0.20, 3: 0.20, 4: 0.20, 5: 0.17, 6: 0.08, 7: 0.03, 8: 0.01}
LIFTED_OUT_SHARE = 0.85  # demo: 脱贫户 among covered households
MONITORED_SHARE = {"lifted_out": 0.08, "ordinary": 0.55}  # demo: share with a category
DISABILITY_RATE = 0.07  # demo; the registered-poor population carries more disability
SERIOUS_ILLNESS_RATE = 0.03  # demo
DIBAO_SHARE = 0.10  # demo: households receiving 低保
RELOCATED_SHARE = 0.05  # demo
MONITORING_LINE = Decimal("8700.00")  # demo: the figure one province published for 2025
PREMIUM_PER_PERSON = Decimal("50.00")  # the premium 魏县 and 南漳 paid (DOMAIN.md §4)
INSURER_FEE_RATE = Decimal("0.15")  # one 2022 plan's operating fee (DOMAIN.md §5)
PENSION_PER_YEAR_FEN = 180_000  # demo: basic resident pension, 150 a month
DIBAO_PER_PERSON_FEN = 420_000  # demo
CHUNK = 20_000
DEMO_TERMS = "yuzhou-demo-2026"  # its year is replaced by the demo's year


@dataclass
class DemoSummary:
    county_id: int
    households: int
    members: int
    villages: int
    contract_id: int


def _regions(session: Session) -> tuple[int, list[int]]:
    table = Region.__table__

    def add(code: str, name: str, level: str, parent: int | None) -> int:
        existing = session.execute(sa.select(table.c.id).where(table.c.code == code)).scalar()
        if existing is not None:  # a registry that already holds the province or city
            return existing
        return session.execute(
            sa.insert(table).values(code=code, name=name, level=level, parent_id=parent)
            .returning(table.c.id)
        ).scalar_one()

    province = add(*PROVINCE, "province", None)
    city = add(*CITY, "city", province)
    county = add(*COUNTY, "county", city)
    villages: list[int] = []
    for t, township_name in enumerate(TOWNSHIPS):
        township_code = f"{COUNTY[0]}{100 + t:03d}"
        township = add(township_code, township_name, "township", county)
        names = [
            VILLAGE_STEMS[(t * 7 + v) % len(VILLAGE_STEMS)]
            + VILLAGE_STEMS[(t * 3 + v * 11) % len(VILLAGE_STEMS)]
            + VILLAGE_ENDINGS[v % len(VILLAGE_ENDINGS)]
            for v in range(VILLAGES_PER_TOWNSHIP)
        ]
        rows = [
            {"code": f"{township_code}{200 + v:03d}", "name": name, "level": "village",
             "parent_id": township}
            for v, name in enumerate(names)
        ]
        villages.extend(
            session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True),
                            rows).scalars()
        )
    return county, villages


class _IdNumbers:
    """Unique, valid ID numbers: sequence numbers are counted per birth date and sex."""

    EPOCH = date(1900, 1, 1)
    DAYS = 60_000
    PER_CODE = 499

    def __init__(self) -> None:
        self.used = np.zeros(self.DAYS * 2, dtype=np.int64)

    def issue(self, birth_days: np.ndarray, male: np.ndarray) -> np.ndarray:
        key = birth_days * 2 + male.astype(np.int64)
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
        run_start = np.repeat(starts, np.diff(np.r_[starts, len(key)]))
        rank = np.empty_like(key)
        rank[order] = np.arange(len(key)) - run_start + self.used[sorted_keys]
        np.add.at(self.used, key, 1)
        code_index = rank // self.PER_CODE
        if code_index.max(initial=0) >= len(ID_REGION_CODES):
            raise ValueError("too many demo people share a birth date; lower --households")
        seq = (rank % self.PER_CODE) * 2 + np.where(male, 1, 2)
        births = np.datetime64(self.EPOCH) + birth_days.astype("timedelta64[D]")
        yyyymmdd = np.char.replace(np.datetime_as_string(births, unit="D"), "-", "")
        codes = np.array(ID_REGION_CODES)[code_index]
        first17 = np.char.add(
            np.char.add(codes, yyyymmdd),
            np.char.zfill(seq.astype(str), 3),
        )
        digits = np.frombuffer(first17.astype("S17"), dtype=np.uint8).reshape(-1, 17) - 48
        return np.char.add(first17, check_characters(digits).astype(str))


def _names(rng: np.random.Generator, surnames: np.ndarray) -> np.ndarray:
    first = rng.choice(GIVEN, len(surnames))
    second = np.where(rng.random(len(surnames)) < 0.7, rng.choice(GIVEN, len(surnames)), "")
    return np.char.add(np.char.add(surnames, first), second)


def _members(rng: np.random.Generator, sizes: np.ndarray, ids: _IdNumbers, today: date):
    """People of a chunk of households, one row each, ordered by household."""
    n = len(sizes)
    household = np.repeat(np.arange(n), sizes)
    position = np.arange(len(household)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    head_age = np.clip(rng.normal(56, 13, n), 22, 92).astype(int)
    hage = head_age[household]
    relation = np.full(len(household), "other", dtype=object)
    age = np.zeros(len(household), dtype=int)
    head_male = rng.random(n) < 0.85
    male = np.zeros(len(household), dtype=bool)

    is_head = position == 0
    relation[is_head] = "head"
    age[is_head] = hage[is_head]
    male[is_head] = head_male[household[is_head]]
    has_spouse = rng.random(n) < 0.85
    spouse = (position == 1) & has_spouse[household]
    relation[spouse] = "spouse"
    age[spouse] = np.clip(hage[spouse] + rng.integers(-4, 4, spouse.sum()), 20, 95)
    male[spouse] = ~head_male[household[spouse]]
    rest = ~is_head & ~spouse
    child_age = hage - rng.integers(22, 34, len(household))
    grandchild = rest & (position >= 4) & (hage >= 55)
    parent = rest & ~grandchild & (hage < 45) & (position >= 2) & (rng.random(len(household)) < 0.5)
    child = rest & ~grandchild & ~parent
    male[rest] = rng.random(rest.sum()) < 0.52
    relation[child] = np.where(male[child], "son", "daughter")
    age[child] = np.clip(child_age[child], 0, 70)
    relation[grandchild] = np.where(male[grandchild], "grandson", "granddaughter")
    age[grandchild] = np.clip(hage[grandchild] - rng.integers(45, 62, grandchild.sum()), 0, 30)
    relation[parent] = np.where(male[parent], "father", "mother")
    age[parent] = np.clip(hage[parent] + rng.integers(22, 32, parent.sum()), 40, 100)

    # Health rises with age; disability grades 1 (most severe) to 4.
    u = rng.random(len(household))
    chronic_p = np.clip(0.03 + 0.006 * (age - 30), 0.02, 0.45)
    health = np.full(len(household), "healthy", dtype=object)
    health[u < chronic_p] = "chronic"
    health[u < SERIOUS_ILLNESS_RATE] = "serious_illness"
    disabled = rng.random(len(household)) < DISABILITY_RATE * np.where(age >= 60, 1.6, 0.8)
    health[disabled] = "disabled"
    grade = np.where(disabled, rng.choice([1, 2, 3, 4], len(household), p=[.15, .25, .3, .3]), 0)

    labour = np.full(len(household), "ordinary", dtype=object)
    labour[(age >= 16) & (age < 60) & (rng.random(len(household)) < 0.2)] = "skilled"
    labour[(health == "chronic") | (age >= 65)] = "weak"
    labour[(health == "serious_illness") | (disabled & (grade <= 2))] = "lost"
    labour[(age < 16) | (age >= 80)] = "none"
    working = np.isin(labour, ["ordinary", "skilled"]) & (age >= 16) & (age < 56)
    migrant = np.where(working & (rng.random(len(household)) < 0.5),
                       rng.integers(3, 13, len(household)), 0)

    schooling = np.full(len(household), "not_in_school", dtype=object)
    for low, high, stage in ((3, 6, "preschool"), (6, 12, "primary"), (12, 15, "junior"),
                             (15, 18, "senior"), (18, 22, "higher")):
        in_school = (age >= low) & (age < high)
        if stage == "higher":
            in_school &= rng.random(len(household)) < 0.3
        schooling[in_school] = stage
    migrant[schooling != "not_in_school"] = 0
    education = np.select(
        [age < 6, age >= 70, age >= 50, age >= 35, age >= 18],
        ["preschool", "illiterate", "primary", "junior_secondary", "senior_secondary"],
        default="primary",
    ).astype(object)
    education[(schooling == "higher")] = "tertiary"

    days_old = (age * 365.25).astype(np.int64) + rng.integers(1, 365, len(household))
    born = np.datetime64(today, "D") - days_old.astype("timedelta64[D]")
    birth_days = (born - np.datetime64(_IdNumbers.EPOCH)).astype(np.int64)
    surname = rng.choice(SURNAMES, n, p=SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum())[household]
    own_surname = np.isin(relation, ["spouse", "daughter_in_law", "mother"])
    surname = np.where(own_surname, rng.choice(SURNAMES, len(household)), surname)
    return {
        "household": household,
        "name": _names(rng, surname),
        "id_number": ids.issue(birth_days, male),
        "sex": np.where(male, "male", "female"),
        "birth_date": born.astype(object),  # datetime.date
        "relation": relation,
        "age": age,
        "education": education,
        "schooling": schooling,
        "health": health,
        "disability_grade": grade,
        "labour_skill": labour,
        "migrant_work_months": migrant,
    }


MONEY_COLUMNS = frozenset({
    *INCOME_FIGURES, "net_income",
    "per_capita_net_income",
})


def _income_columns(rng, household_ids, sizes, people, dibao, year: int, line_fen: int):
    """Annual survey records for the two years before ``year``, spread around the line, as
    columns with money in fen."""
    n = len(sizes)
    household = people["household"]
    workers = np.bincount(household, weights=people["migrant_work_months"] > 0, minlength=n)
    pensioners = np.bincount(household, weights=people["age"] >= 60, minlength=n)
    no_labour = np.bincount(household, weights=np.isin(people["labour_skill"], ["lost", "none"]),
                            minlength=n)
    shift = 0.45 + 0.12 * workers - 0.25 * (no_labour / sizes)
    columns: dict[str, list] = {}

    def add(**values) -> None:
        for name, value in values.items():
            columns.setdefault(name, []).extend(
                value.tolist() if isinstance(value, np.ndarray) else [value] * n
            )

    drift = np.zeros(n)
    for offset in (2, 1):
        period_year = year - offset
        drift = drift + rng.normal(0.04, 0.12, n)
        target = (line_fen * np.exp(rng.normal(shift + drift, 0.40)) * sizes).astype(np.int64)
        pension = (pensioners * PENSION_PER_YEAR_FEN).astype(np.int64)
        dibao_fen = np.where(dibao, sizes * DIBAO_PER_PERSON_FEN, 0).astype(np.int64)
        crops = (target * rng.uniform(0.05, 0.25, n)).astype(np.int64)
        livestock = np.where(rng.random(n) < 0.3, (target * rng.uniform(0, 0.15, n)), 0)
        livestock = livestock.astype(np.int64)
        costs = ((crops + livestock) * rng.uniform(0.1, 0.35, n)).astype(np.int64)
        other = (target * rng.uniform(0, 0.05, n)).astype(np.int64)
        wages = np.maximum(target - pension - dibao_fen - crops - livestock + costs - other, 0)
        wages = (wages // 100) * 100
        net = wages + crops + livestock + pension + dibao_fen + other - costs
        per_capita = (2 * net + sizes) // (2 * sizes)  # half-up to the fen (net is positive)
        add(household_id=household_ids, period_start=date(period_year, 1, 1),
            period_end=date(period_year, 12, 31), source="survey",
            reference=f"annual-{period_year}", wages=wages, business_crops=crops,
            business_livestock=livestock, business_other=0, property_income=0,
            transfer_pension=pension, transfer_dibao=dibao_fen, transfer_tekun=0,
            transfer_disaster_relief=0, transfer_poverty_insurance=0, transfer_other=other,
            business_costs=costs, eligible_out_of_pocket=0, household_size=sizes,
            net_income=net, per_capita_net_income=per_capita)
    return columns


def _contract(session: Session, county_id: int, year: int) -> int:
    """The demo insurer's contract for a calendar year, active, with the demo terms of that
    year in force; no household named yet."""
    contract_id = session.execute(
        sa.insert(PolicyContract.__table__).values(
            contract_number=f"FPB-{COUNTY[0]}-{year}-DEMO", county_id=county_id,
            insurer="演示保险公司", policy_year=year,
            start_date=date(year, 1, 1), end_date=date(year, 12, 31),
            premium_per_person=PREMIUM_PER_PERSON, insured_basis="named",
            insured_headcount=None, insurer_fee_rate=INSURER_FEE_RATE,
            balance_carried_in=Decimal("0.00"), status="active", created_at=utcnow(),
        ).returning(PolicyContract.__table__.c.id)
    ).scalar_one()
    text = resources.files("policies").joinpath(f"county_terms/{DEMO_TERMS}.toml").read_text(
        encoding="utf-8").replace("2026", str(year))
    terms_version, _ = benefits.store_terms(session, f"yuzhou-demo-{year}", text)
    session.execute(sa.update(PolicyContract.__table__)
                    .where(PolicyContract.__table__.c.id == contract_id)
                    .values(terms_version_id=terms_version.id))
    return contract_id


def cover_through(session: Session, county: DemoSummary, last_year: int) -> DemoSummary:
    """Renew the demo county's contract for every year after its own up to ``last_year``
    (naming the same households), with the latest monitoring line carried into a year that
    has none, so that events up to that year are covered; the summary names the last
    contract. Flushes."""
    contracts, lines = PolicyContract.__table__, MonitoringLine.__table__
    insured = InsuredHousehold.__table__
    year = session.execute(sa.select(contracts.c.policy_year)
                           .where(contracts.c.id == county.contract_id)).scalar_one()
    contract_id = county.contract_id
    for renewal in range(year + 1, last_year + 1):
        named_by = contract_id
        contract_id = _contract(session, county.county_id, renewal)
        session.execute(insured.insert().from_select(
            ["contract_id", "household_id"],
            sa.select(sa.literal(contract_id), insured.c.household_id)
            .where(insured.c.contract_id == named_by)))
        latest = session.execute(
            sa.select(lines.c.year, lines.c.fixed_amount)
            .where(lines.c.region_id == county.county_id, lines.c.year <= renewal)
            .order_by(lines.c.year.desc()).limit(1)).one()
        if latest.year < renewal:
            session.execute(lines.insert().values(
                region_id=county.county_id, year=renewal, fixed_amount=latest.fixed_amount,
                note=f"演示假设：沿用 {latest.year} 年的监测线，直至县里公布 {renewal} 年监测线"))
    session.flush()
    return replace(county, contract_id=contract_id)


def renew(session: Session) -> list[int]:
    """Carry a demo county seeded in an earlier year into the county's present year (see
    cover_through): ./scripts/run on a database it seeded last year finds events of today
    covered again. The years renewed; none without a demo county or when it is current.
    Flushes."""
    contracts = PolicyContract.__table__
    county_id = session.execute(sa.select(col(Region.id)).where(
        col(Region.code) == COUNTY[0])).scalar()
    if county_id is None:
        return []
    latest = session.execute(
        sa.select(contracts.c.id, contracts.c.policy_year)
        .where(contracts.c.county_id == county_id,
               contracts.c.contract_number.like(f"FPB-{COUNTY[0]}-%-DEMO"))
        .order_by(contracts.c.policy_year.desc()).limit(1)).first()
    present = history.clock().year
    if latest is None or latest.policy_year >= present:
        return []
    cover_through(session, DemoSummary(county_id, 0, 0, 0, latest.id), present)
    return list(range(latest.policy_year + 1, present + 1))


def build_demo_county(
    session: Session, *, households: int = 15_000, seed: int = 20171106,
    year: int | None = None, progress: Callable[[int, int], None] | None = None,
    with_incomes: bool = True, on: date | None = None,
) -> DemoSummary:
    """Write the demo county, its households, members, incomes, lines and contract; flushes.
    Without incomes, the caller writes the income ledger (the risk simulator does). Ages are
    counted back from ``on`` (default: the county's date)."""
    if session.execute(sa.select(col(Region.id)).where(col(Region.code) == COUNTY[0])).first():
        raise Conflict(f"the demo county {COUNTY[1]} ({COUNTY[0]}) is already in this database",
                       field="county", value=COUNTY[0])
    today = on or history.clock()  # the county's date
    year = year or today.year
    county_id, villages = _regions(session)
    session.execute(sa.insert(MonitoringLine.__table__), [
        {"region_id": county_id, "year": y, "fixed_amount": MONITORING_LINE,
         "note": "演示假设（某省公布的 2025 年标准）"}
        for y in (year - 2, year - 1, year)
    ])
    contract_id = _contract(session, county_id, year)

    ids = _IdNumbers()
    line_fen = int(MONITORING_LINE * 100)
    sizes_all = np.array(list(SIZE_PROBABILITIES))
    size_p = np.array(list(SIZE_PROBABILITIES.values()))
    total_members = 0
    now = utcnow()
    for start in range(0, households, CHUNK):
        rng = np.random.default_rng([seed, start // CHUNK])
        n = min(CHUNK, households - start)
        sizes = rng.choice(sizes_all, n, p=size_p)
        lifted = rng.random(n) < LIFTED_OUT_SHARE
        # numpy's stubs do not take None as a value of where(); it makes an object array
        category: np.ndarray = np.where(  # type: ignore[assignment]
            lifted,
            np.where(  # type: ignore[call-overload]
                rng.random(n) < MONITORED_SHARE["lifted_out"], "unstable_lifted_out", None),
            np.where(  # type: ignore[call-overload]
                rng.random(n) < MONITORED_SHARE["ordinary"],
                rng.choice(["marginal", "sudden_hardship"], n, p=[0.8, 0.2]), None),
        )
        dibao = rng.random(n) < DIBAO_SHARE
        numbers = [f"{COUNTY[0]}{start + i + 1:010d}" for i in range(n)]
        insert_columns(session, Household.__table__, {
            "household_number": numbers,
            "village_id": rng.choice(villages, n).tolist(),
            "household_type": np.where(lifted, "lifted_out", "ordinary").tolist(),
            "monitoring_category": category.tolist(),
            "phone": [f"13{p:09d}" for p in rng.integers(0, 10**9, n)],
            "bank_name": ["农村商业银行"] * n,
            "bank_account": [f"6228{b:015d}" for b in rng.integers(0, 10**15, n)],
            "relocated": (rng.random(n) < RELOCATED_SHARE).tolist(),
            "status": ["active"] * n, "created_at": [now] * n, "updated_at": [now] * n,
        })
        found = lookup(session, Household.__table__, "household_number", numbers, ("id",))
        household_ids = np.array([found[number][0] for number in numbers])

        people = _members(rng, sizes, ids, today)
        household = people["household"]
        m = len(household)
        pension = (people["age"] >= 60) | ((people["age"] >= 16) & (rng.random(m) < 0.8))
        single_elderly = (sizes == 1)[household] & (people["age"] >= 60)
        grade = people["disability_grade"]
        insert_columns(session, Member.__table__, {
            "household_id": household_ids[household].tolist(),
            **{name: people[name].tolist() for name in (
                "name", "id_number", "sex", "birth_date", "relation", "education", "schooling",
                "health", "labour_skill", "migrant_work_months")},
            # numpy's stubs do not take None as a value of where(); it makes an object array
            "disability_grade": np.where(grade > 0, grade, None).tolist(),  # type: ignore[attr-defined]
            "resident_medical": [True] * m, "critical_illness": [True] * m,
            "pension": pension.tolist(), "dibao": dibao[household].tolist(),
            "tekun": (single_elderly & (rng.random(m) < 0.3)).tolist(),
            "status": ["active"] * m,
        })
        if with_incomes:
            income = _income_columns(rng, household_ids, sizes, people, dibao, year, line_fen)
            income["recorded_at"] = [now] * len(income["household_id"])
            insert_columns(session, IncomeRecord.__table__, income, stored=MONEY_COLUMNS)
        insert_columns(session, InsuredHousehold.__table__, {
            "contract_id": [contract_id] * n, "household_id": household_ids.tolist(),
        })
        total_members += m
        if progress:
            progress(start + n, households)
    # The registry as the demo knows it has been so since the first line year.
    history.backfill(session.connection(), date(year - 2, 1, 1))
    session.flush()
    return DemoSummary(county_id=county_id, households=households, members=total_members,
                       villages=len(villages), contract_id=contract_id)
