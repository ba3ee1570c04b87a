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


def _members(session: Session, household_ids: list[int] | None,
             id_range: tuple[int, int] | None, as_of: date) -> pd.DataFrame:
    table = Member.__table__
    query = sa.select(table.c.household_id, table.c.relation, table.c.birth_date,
                      table.c.health, table.c.disability_grade, table.c.labour_skill,
                      table.c.migrant_work_months, table.c.schooling, table.c.dibao,
                      table.c.tekun).where(table.c.status == "active")
    people = read_frame(session.connection(),
                        _where_households(query, table.c.household_id, household_ids, id_range))
    born = pd.to_datetime(people["birth_date"], format="ISO8601")
    before_birthday = (born.dt.month > as_of.month) | (
        (born.dt.month == as_of.month) & (born.dt.day > as_of.day))
    people["age"] = as_of.year - born.dt.year - before_birthday.astype(int)
    labour = people["labour_skill"]
    grade = pd.to_numeric(people["disability_grade"])
    frame = pd.DataFrame({
        "household_id": people["household_id"],
        "size": 1,
        "head_age": np.where(people["relation"] == "head", people["age"], np.nan),
        "children": people["age"] < 16,
        "elderly": people["age"] >= 65,
        "workers": labour.isin(["skilled", "ordinary"]) & (people["age"] >= 16)
        & (people["age"] < 65) & (people["schooling"] == "not_in_school"),
        "weak_labour": labour == "weak",
        "no_labour": labour.isin(["lost", "none"]),
        "disabled": grade.notna(),
        "severe_disability": grade.fillna(9) <= 2,
        "chronic": people["health"] == "chronic",
        "serious_illness": people["health"] == "serious_illness",
        "migrant_months": pd.to_numeric(people["migrant_work_months"]),
        "dibao": people["dibao"].astype(bool),
        "tekun": people["tekun"].astype(bool),
    })
    grouped = frame.groupby("household_id")
    out = grouped.sum(numeric_only=True)
    out["head_age"] = grouped["head_age"].max()
    out["dibao"] = grouped["dibao"].any().astype(int)
    out["tekun"] = grouped["tekun"].any().astype(int)
    out["dependants_share"] = (out["children"] + out["elderly"]) / out["size"]
    return out


def _ledger(session: Session, household_ids: list[int] | None,
            id_range: tuple[int, int] | None, first: int, last: int) -> pd.DataFrame:
    """Annual records of the years first..last in yuan (payout records apart: the survey
    counts payouts among transfers)."""
    t = IncomeRecord.__table__
    query = sa.select(
        t.c.household_id,
        sa.cast(sa.extract("year", t.c.period_start), sa.Integer).label("year"),
        t.c.wages,
        (t.c.business_crops + t.c.business_livestock + t.c.business_other
         - t.c.business_costs).label("farm"),
        (t.c.transfer_pension + t.c.transfer_dibao + t.c.transfer_tekun
         + t.c.transfer_disaster_relief + t.c.transfer_poverty_insurance
         + t.c.transfer_other).label("transfers"),
        t.c.transfer_disaster_relief, t.c.transfer_poverty_insurance, t.c.property_income,
        t.c.eligible_out_of_pocket, t.c.household_size, t.c.per_capita_net_income,
    ).where(t.c.period_start >= date(first, 1, 1), t.c.period_end <= date(last, 12, 31),
            t.c.source != IncomeSource.payout.value)
    rows = read_frame(session.connection(),
                      _where_households(query, t.c.household_id, household_ids, id_range))
    for column in rows.columns[2:]:  # money is stored as integer fen
        if column != "household_size":
            rows[column] = pd.to_numeric(rows[column]).astype(float) / 100
    return rows


def lines_by_village(session: Session, year: int, *, carry_forward: bool = False
                     ) -> dict[int, float]:
    """The line that applies to each village in a year (none: no line). With
    ``carry_forward``, a village whose line of the year is not yet published keeps the latest
    earlier one, as offices do until the new line is announced."""
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


def feature_lines(session: Session, as_of_year: int) -> dict[int, dict[int, float]]:
    """The lines the features of ``as_of_year`` compare incomes with: that year's (carried
    forward when not yet published) and those of the years looked back on. Read once per
    run and passed to :func:`build` for every chunk."""
    return {year: lines_by_village(session, year, carry_forward=year == as_of_year)
            for year in range(as_of_year - YEARS_BACK, as_of_year + 1)}


def build(session: Session, as_of_year: int, household_ids: list[int] | None = None, *,
          id_range: tuple[int, int] | None = None,
          lines: dict[int, dict[int, float]] | None = None) -> pd.DataFrame:
    """Features of the active households as of 1 January of ``as_of_year``, indexed by id:
    every household, those in ``household_ids``, or those with an id in ``id_range``
    (inclusive)."""
    as_of = date(as_of_year, 1, 1)
    lines = lines if lines is not None else feature_lines(session, as_of_year)
    table = Household.__table__
    query = sa.select(table.c.id, table.c.village_id, table.c.household_type,
                      table.c.monitoring_category, table.c.relocated).where(
        table.c.status == "active")
    homes = read_frame(session.connection(),
                       _where_households(query, table.c.id, household_ids, id_range)
                       ).set_index("id")
    frame = homes.join(_members(session, household_ids, id_range, as_of), how="left")
    frame["relocated"] = frame["relocated"].astype(int)
    frame["monitoring_category"] = frame["monitoring_category"].fillna("none")
    line = frame["village_id"].map(lines[as_of_year])
    ledger = _ledger(session, household_ids, id_range, as_of_year - YEARS_BACK,
                     as_of_year - 1)
    per_capita = ledger.pivot_table(index="household_id", columns="year",
                                    values="per_capita_net_income", aggfunc="last")
    years = [as_of_year - k for k in range(1, YEARS_BACK + 1)]
    per_capita = per_capita.reindex(index=frame.index, columns=years)
    last = per_capita[as_of_year - 1]
    frame["income_last"] = last
    frame["income_ratio"] = last / line
    previous = per_capita[as_of_year - 2]
    frame["income_trend"] = (last - previous) / previous.abs().clip(lower=1000)
    logs = np.log(per_capita.clip(lower=500))
    frame["income_volatility"] = logs.std(axis=1)
    past_lines = pd.DataFrame({y: frame["village_id"].map(lines[y]) for y in years},
                              index=frame.index)
    frame["lowest_ratio"] = (per_capita / past_lines).min(axis=1)
    recent = ledger[ledger["year"] == as_of_year - 1].set_index("household_id")
    farm = recent["farm"].clip(lower=0)
    gross = (recent["wages"] + farm + recent["transfers"] + recent["property_income"]
             ).clip(lower=1)
    frame["wage_share"] = recent["wages"] / gross
    frame["transfer_share"] = recent["transfers"] / gross
    frame["farm_share"] = farm / gross
    frame["out_of_pocket"] = recent["eligible_out_of_pocket"] / recent["household_size"].clip(
        lower=1)
    frame["out_of_pocket_3y"] = ledger.groupby("household_id")["eligible_out_of_pocket"].sum()
    frame["payouts"] = recent["transfer_poverty_insurance"]
    frame["disaster_relief"] = recent["transfer_disaster_relief"]
    return frame.reindex(columns=FEATURES)


def labels(session: Session, year: int, household_ids: list[int] | None = None) -> pd.Series:
    """Whether each household's per-capita income of ``year`` fell below the year's line;
    households with no record of the year are left out (nothing to learn from)."""
    table = Household.__table__
    homes = pd.read_sql(sa.select(table.c.id, table.c.village_id), session.connection()
                        ).set_index("id")
    line = homes["village_id"].map(lines_by_village(session, year))
    ledger = _ledger(session, household_ids, None, year, year).set_index("household_id")
    income = ledger["per_capita_net_income"]
    fell = (income < line.reindex(income.index)).astype(int)
    return fell[line.reindex(income.index).notna()].rename("fell_below_line")
