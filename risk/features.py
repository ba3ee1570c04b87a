"""Features of return-to-poverty risk (返贫风险特征), defined once, built with pandas.

A household's features as of 1 January of a year use only what was known then: the members
as registered, the monitoring lines published for that year and before, and the income
ledger of the years before. The label of that year — per-capita income of the year below the
year's line — uses only the year itself.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from policies import registry
from policies.bulk import read_frame
from policies.models import Household, IncomeRecord, Member
from policies.vocab import IncomeSource

# Feature → (中文, English): what the office reads beside a score.
LABELS: dict[str, tuple[str, str]] = {
    "size": ("家庭人口", "household members"),
    "head_age": ("户主年龄", "age of the head"),
    "children": ("16岁以下人口", "children under 16"),
    "elderly": ("65岁以上人口", "members 65 or older"),
    "dependants_share": ("被抚养人口占比", "share of dependants"),
    "workers": ("劳动力人数", "members able to work"),
    "weak_labour": ("弱劳动力人数", "members with weak labour capacity"),
    "no_labour": ("无劳动力人数", "members without labour capacity"),
    "disabled": ("残疾人数", "members with a disability"),
    "severe_disability": ("重度残疾(1-2级)人数", "members with a grade 1-2 disability"),
    "chronic": ("慢性病人数", "members with a chronic illness"),
    "serious_illness": ("大病人数", "members with a serious illness"),
    "migrant_months": ("务工月数合计", "months of migrant work"),
    "dibao": ("享受低保", "receives 低保"),
    "tekun": ("特困供养", "receives 特困 support"),
    "relocated": ("易地搬迁户", "lives in a relocation settlement"),
    "income_last": ("上年人均纯收入", "income per person last year"),
    "income_ratio": ("上年人均收入与今年监测线之比",
                     "last year's income per person ÷ this year's line"),
    "income_trend": ("人均收入变化(近两年)", "change of income per person over two years"),
    "income_volatility": ("收入波动(近三年)", "income volatility over three years"),
    "lowest_ratio": ("近三年最低收入与线之比", "lowest income ÷ line in three years"),
    "wage_share": ("工资性收入占比", "share of income from wages"),
    "transfer_share": ("转移性收入占比", "share of income from transfers"),
    "farm_share": ("经营性收入占比", "share of income from farming"),
    "out_of_pocket": ("上年人均合规自付医疗费用",
                      "out-of-pocket medical cost per person last year"),
    "out_of_pocket_3y": ("近三年合规自付医疗费用", "out-of-pocket medical cost over three years"),
    "payouts": ("上年防贫保险赔付", "poverty-prevention payouts last year"),
    "disaster_relief": ("上年受灾救助", "disaster relief last year"),
    "household_type": ("户类型", "household type"),
    "monitoring_category": ("监测对象类别", "monitoring category"),
}
CATEGORICAL = ["household_type", "monitoring_category"]
NUMERIC = [name for name in LABELS if name not in CATEGORICAL]
FEATURES = NUMERIC + CATEGORICAL
YEARS_BACK = 3  # ledger years a household's features look at
CARRY_YEARS = 2  # how long an unpublished year's line may be taken from an earlier year


def _where_households(query: sa.Select, column: sa.Column, household_ids: list[int] | None,
                      id_range: tuple[int, int] | None) -> sa.Select:
    if household_ids is not None:
        query = query.where(column.in_(household_ids))
    if id_range is not None:
        query = query.where(column.between(*id_range))
    return query


def _count(condition) -> sa.ColumnElement:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _members_query(as_of: date) -> sa.Select:
    """The active members of each household, counted by the database (one row a household
    instead of one a person). Ages are as of ``as_of``: younger than 16 means born after
    the day 16 years before it."""
    t = Member.__table__

    def years_before(years: int) -> date:
        return as_of.replace(year=as_of.year - years)

    child = t.c.birth_date > years_before(16)
    elderly = t.c.birth_date <= years_before(65)
    grade = t.c.disability_grade
    return sa.select(
        t.c.household_id,
        sa.func.count().label("size"),
        # the oldest head, should the registry hold two
        sa.func.min(sa.case((t.c.relation == "head", t.c.birth_date))).label("head_born"),
        _count(child).label("children"),
        _count(elderly).label("elderly"),
        _count(sa.and_(t.c.labour_skill.in_(["skilled", "ordinary"]), ~child, ~elderly,
                       t.c.schooling == "not_in_school")).label("workers"),
        _count(t.c.labour_skill == "weak").label("weak_labour"),
        _count(t.c.labour_skill.in_(["lost", "none"])).label("no_labour"),
        _count(grade.is_not(None)).label("disabled"),
        _count(grade <= 2).label("severe_disability"),
        _count(t.c.health == "chronic").label("chronic"),
        _count(t.c.health == "serious_illness").label("serious_illness"),
        sa.func.sum(t.c.migrant_work_months).label("migrant_months"),
        sa.func.max(sa.case((t.c.dibao, 1), else_=0)).label("dibao"),
        sa.func.max(sa.case((t.c.tekun, 1), else_=0)).label("tekun"),
    ).where(t.c.status == "active").group_by(t.c.household_id)


def _members(rows: pd.DataFrame, as_of: date) -> pd.DataFrame:
    out = rows.set_index("household_id")
    counts = out.columns.drop("head_born")
    out[counts] = out[counts].apply(pd.to_numeric).astype(float)
    born = pd.to_datetime(out.pop("head_born"), format="ISO8601")
    before_birthday = (born.dt.month > as_of.month) | (
        (born.dt.month == as_of.month) & (born.dt.day > as_of.day))
    out["head_age"] = as_of.year - born.dt.year - before_birthday.astype(float)
    out["dependants_share"] = (out["children"] + out["elderly"]) / out["size"]
    return out


def _components(t: sa.Table) -> dict[str, sa.ColumnElement]:
    """Last year's income components the features use."""
    return {
        "wages": t.c.wages,
        "farm": t.c.business_crops + t.c.business_livestock + t.c.business_other
        - t.c.business_costs,
        "transfers": t.c.transfer_pension + t.c.transfer_dibao + t.c.transfer_tekun
        + t.c.transfer_disaster_relief + t.c.transfer_poverty_insurance + t.c.transfer_other,
        "disaster_relief": t.c.transfer_disaster_relief,
        "payouts": t.c.transfer_poverty_insurance,
        "property_income": t.c.property_income,
        "eligible_out_of_pocket": t.c.eligible_out_of_pocket,
    }


def annual(t: sa.Table, year: int) -> sa.ColumnElement:
    """A ledger record of the whole calendar year."""
    return sa.and_(t.c.period_start == date(year, 1, 1), t.c.period_end == date(year, 12, 31))


def _incomes_query(years: list[int], household_ids: list[int] | None,
                   id_range: tuple[int, int] | None, components: int | None = None
                   ) -> sa.Select:
    """Each household's annual income records of ``years``, one row a household: per-capita
    net income of each year (column = the year), the out-of-pocket costs of all of them, and
    the income components of the year ``components``. A year's record is the household's
    latest record of the whole year (survey or report); payout records are left out, as the
    survey already counts payouts among transfers."""
    t = IncomeRecord.__table__
    latest = _where_households(
        sa.select(sa.func.max(t.c.id)).where(
            t.c.source != IncomeSource.payout.value, sa.or_(*[annual(t, y) for y in years])),
        t.c.household_id, household_ids, id_range,
    ).group_by(t.c.household_id, t.c.period_start)
    columns = [sa.func.max(sa.case((annual(t, year), t.c.per_capita_net_income)))
               .label(str(year)) for year in years]
    columns.append(sa.func.sum(t.c.eligible_out_of_pocket).label("out_of_pocket_total"))
    if components is not None:
        for name, value in _components(t).items():
            columns.append(sa.func.max(sa.case((annual(t, components), value))).label(name))
        columns.append(sa.func.max(sa.case((annual(t, components), t.c.household_size)))
                       .label("household_size"))
    return _where_households(sa.select(t.c.household_id, *columns).where(t.c.id.in_(latest)),
                             t.c.household_id, household_ids, id_range
                             ).group_by(t.c.household_id)


def _incomes(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.set_index("household_id").apply(pd.to_numeric).astype(float)
    money = rows.columns.drop("household_size", errors="ignore")
    rows[money] = rows[money] / 100  # stored as integer fen
    rows.columns = [int(c) if c.isdigit() else c for c in rows.columns]
    return rows


def lines_by_village(session: Session, year: int, *, carry_forward: bool = False,
                     villages: list[int] | None = None) -> dict[int, float]:
    """The line that applies to each village (of the households, or of ``villages``) in a
    year; none: no line. With ``carry_forward``, a village whose line of the year is not yet
    published keeps the latest earlier one, as offices do until the new line is announced."""
    if villages is None:
        villages = session.execute(sa.select(Household.__table__.c.village_id).distinct()
                                   ).scalars().all()
    found: dict[int, float] = {}
    for line_year in range(year, year - (CARRY_YEARS if carry_forward else 0) - 1, -1):
        wanted = [v for v in villages if v not in found]
        if not wanted:
            break
        for village, line in registry.applicable_lines(session, wanted, line_year).items():
            if line is not None:
                found[village] = float(registry.line_view(session, line)["amount"])
    return found


def feature_lines(session: Session, as_of_year: int, villages: list[int] | None = None
                  ) -> dict[int, dict[int, float]]:
    """The lines the features of ``as_of_year`` compare incomes with: that year's (carried
    forward when not yet published) and those of the years looked back on. Read once per
    run and passed to :func:`build` for every chunk."""
    return {year: lines_by_village(session, year, carry_forward=year == as_of_year,
                                   villages=villages)
            for year in range(as_of_year - YEARS_BACK, as_of_year + 1)}


def queries(as_of_year: int, household_ids: list[int] | None = None,
            id_range: tuple[int, int] | None = None) -> dict[str, sa.Select]:
    """The statements :func:`build` reads (one row a household each), for the households
    of ``household_ids`` or ``id_range``, or all."""
    homes = Household.__table__
    members = Member.__table__.c.household_id
    years = [as_of_year - k for k in range(1, YEARS_BACK + 1)]
    return {
        "households": _where_households(sa.select(
            homes.c.id, homes.c.village_id, homes.c.household_type,
            homes.c.monitoring_category, homes.c.relocated).where(homes.c.status == "active"),
            homes.c.id, household_ids, id_range),
        "members": _where_households(_members_query(date(as_of_year, 1, 1)), members,
                                     household_ids, id_range),
        "incomes": _incomes_query(years, household_ids, id_range, components=as_of_year - 1),
    }


def build(session: Session, as_of_year: int, household_ids: list[int] | None = None, *,
          id_range: tuple[int, int] | None = None,
          lines: dict[int, dict[int, float]] | None = None) -> pd.DataFrame:
    """Features of the active households as of 1 January of ``as_of_year``, indexed by id:
    every household, those in ``household_ids``, or those with an id in ``id_range``
    (inclusive)."""
    lines = lines if lines is not None else feature_lines(session, as_of_year)
    rows = {name: read_frame(session.connection(), query)
            for name, query in queries(as_of_year, household_ids, id_range).items()}
    frame = rows["households"].set_index("id").join(
        _members(rows["members"], date(as_of_year, 1, 1)), how="left")
    frame["relocated"] = frame["relocated"].astype(int)
    frame["monitoring_category"] = frame["monitoring_category"].fillna("none")
    years = [as_of_year - k for k in range(1, YEARS_BACK + 1)]
    ledger = _incomes(rows["incomes"]).reindex(frame.index)
    line = frame["village_id"].map(lines[as_of_year])
    per_capita = ledger[years]
    last = per_capita[as_of_year - 1]
    frame["income_last"] = last
    frame["income_ratio"] = last / line
    previous = per_capita[as_of_year - 2]
    frame["income_trend"] = (last - previous) / previous.abs().clip(lower=1000)
    frame["income_volatility"] = np.log(per_capita.clip(lower=500)).std(axis=1)
    past_lines = pd.DataFrame({y: frame["village_id"].map(lines[y]) for y in years},
                              index=frame.index)
    frame["lowest_ratio"] = (per_capita / past_lines).min(axis=1)
    farm = ledger["farm"].clip(lower=0)
    gross = (ledger["wages"] + farm + ledger["transfers"] + ledger["property_income"]
             ).clip(lower=1)
    frame["wage_share"] = ledger["wages"] / gross
    frame["transfer_share"] = ledger["transfers"] / gross
    frame["farm_share"] = farm / gross
    frame["out_of_pocket"] = ledger["eligible_out_of_pocket"] / ledger["household_size"].clip(
        lower=1)
    frame["out_of_pocket_3y"] = ledger["out_of_pocket_total"]
    frame["payouts"] = ledger["payouts"]
    frame["disaster_relief"] = ledger["disaster_relief"]
    return frame.reindex(columns=FEATURES)


def labels(session: Session, year: int, household_ids: list[int] | None = None) -> pd.Series:
    """Whether each household's per-capita income of ``year`` fell below the year's line;
    households with no record of the year are left out (nothing to learn from)."""
    table = Household.__table__
    homes = read_frame(session.connection(), sa.select(table.c.id, table.c.village_id)
                       ).set_index("id")
    line = homes["village_id"].map(lines_by_village(session, year))
    income = _incomes(read_frame(session.connection(), _incomes_query(
        [year], household_ids, None)))[year].dropna()
    line = line.reindex(income.index)
    fell = (income < line).astype(int)
    return fell[line.notna()].rename("fell_below_line")
