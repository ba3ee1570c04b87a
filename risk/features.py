"""Features of return-to-poverty risk (返贫风险特征), as of a day, defined once, built with pandas.

A household's features as of a day D use only what was known on D: the registry as it stood
that day (member and household versions valid on D), the monitoring lines published for D's
year and before, the income reports recorded by D of periods ended before D (with the
figures they held on D: a correction made later does not reach them), and the shock
ledger (trigger events, simulated or imported shocks) known by D, with payouts recorded by D.
The question they serve — who of the households not below the line and not monitored falls
within the next 12 months — is :func:`outcomes`; docs/risk.md defines it.

Each chunk is read with a few set-based statements (one row a household each) and finished
with pandas, so a night scores a province without a loop over households.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from policies import registry
from policies.bulk import read_frame
from policies.models import (
    INCOME_FIGURES,
    Household,
    HouseholdVersion,
    IncomeRecord,
    IncomeRecordVersion,
    MemberVersion,
)
from policies.vocab import IncomeSource
from risk.models import Shock
from risk.shocks import SPENDING

# The groups the office reads a score's factors in (risk.explain sums the features' effects
# by group).
GROUPS: dict[str, tuple[str, str]] = {
    "income": ("收入", "income"),
    "illness": ("疾病", "illness"),
    "disability": ("残疾", "disability"),
    "disaster": ("灾害", "disaster"),
    "accident": ("意外", "accident"),
    "employment": ("就业", "employment"),
    "education": ("教育", "education"),
    "household": ("家庭结构", "household structure"),
    "support": ("保障与帮扶", "support and assistance"),
    "spending": ("支出负担", "spending burden"),
    "missing": ("数据缺失", "missing data"),
}

# The trigger types the shock windows count, in the intake's words; their Chinese names.
SHOCK_KINDS: dict[str, tuple[str, str]] = {
    "illness": ("疾病", "illness"),
    "disability": ("残疾", "disability"),
    "disaster": ("灾害", "disaster"),
    "accident": ("意外", "accident"),
    "education": ("教育支出", "schooling cost"),
    "employment": ("失业", "lost job"),
}
BURDEN_KINDS = ("illness", "disaster", "accident", "education", "employment")
WINDOWS = (30, 90, 365)  # days back from D a shock window looks
YEAR_LONG = 364  # days from a year-long period's first day to its last (365 in a leap year)
INCOME_FRESH_DAYS = 365 + 90  # a report of a period ending this long before D is still recent
STALE = "income_stale"  # the latest income known where the income is missing (yuan/person)
YEARS_BACK = 3  # annual reports a household's income features look at
CARRY_YEARS = 2  # how long an unpublished year's line may be taken from an earlier year
HEALTH_RANK = {"healthy": 0, "chronic": 1, "disabled": 2, "serious_illness": 2}
AT_SCHOOL = ("primary", "junior", "senior", "vocational", "higher")

# The features that are a yes (1) or a no (0), read as such beside a score.
YES_NO = frozenset({"dibao", "tekun", "relocated", "was_monitored", "income_missing"})
# Feature → (中文, English, group): what the office reads beside a score.
_DEFINED: dict[str, tuple[str, str, str]] = {
    # the registry as it stood on D
    "size": ("家庭人口", "household members", "household"),
    "head_age": ("户主年龄", "age of the head", "household"),
    "children": ("16岁以下人口", "children under 16", "household"),
    "elderly": ("65岁以上人口", "members 65 or older", "household"),
    "dependants_share": ("被抚养人口占比", "share of dependants", "household"),
    "workers": ("劳动力人数", "members able to work", "employment"),
    "weak_labour": ("弱劳动力人数", "members with weak labour capacity", "employment"),
    "no_labour": ("无劳动力人数", "members without labour capacity", "employment"),
    "students": ("在校学生人数", "members at school", "education"),
    "disabled": ("残疾人数", "members with a disability", "disability"),
    "severe_disability": ("重度残疾(1-2级)人数", "members with a grade 1-2 disability",
                          "disability"),
    "chronic": ("慢性病人数", "members with a chronic illness", "illness"),
    "serious_illness": ("大病人数", "members with a serious illness", "illness"),
    "migrant_months": ("务工月数合计", "months of migrant work", "employment"),
    "dibao": ("享受低保", "receives dibao (the subsistence allowance)", "support"),
    "tekun": ("特困供养", "receives tekun (support of the extremely poor)", "support"),
    "relocated": ("易地搬迁户", "lives in a relocation settlement", "household"),
    "was_monitored": ("曾为监测对象", "was once in monitoring", "support"),
    "new_disability_365d": ("近一年新增或加重残疾人数",
                            "members with a new or worse disability in the last year",
                            "disability"),
    "health_worsened_365d": ("近一年健康状况变差人数",
                             "members whose health worsened in the last year", "illness"),
    # income reports known on D
    "income_last": ("最近一年人均纯收入", "latest year's income per person", "income"),
    "income_ratio": ("最近一年人均收入与当前监测线之比",
                     "latest year's income per person ÷ the current line", "income"),
    "income_trend": ("人均收入变化(近两年)", "change of income per person over two years",
                     "income"),
    "income_volatility": ("收入波动(近三年)", "income volatility over three years", "income"),
    "lowest_ratio": ("近三年最低收入与线之比", "lowest income ÷ line in three years", "income"),
    "wage_share": ("工资性收入占比", "share of income from wages", "employment"),
    "transfer_share": ("转移性收入占比", "share of income from transfers", "support"),
    "farm_share": ("经营性收入占比", "share of income from farming", "income"),
    "out_of_pocket_last": ("最近一年人均合规自付医疗费用",
                           "out-of-pocket medical cost per person, latest year", "spending"),
    "income_missing": ("缺少近期收入报告", "no recent income report", "missing"),
    "income_age_days": ("最近收入报告距今天数", "days since the latest report's period ended",
                        "missing"),
    # shocks known on D
    **{f"{kind}_count_{days}d": (f"近{days}天{zh}事件次数",
                                 f"{en} events in the last {days} days", kind)
       for kind, (zh, en) in SHOCK_KINDS.items() for days in (90, 365)},
    **{f"{kind}_burden_365d": (f"近365天人均{SHOCK_KINDS[kind][0]}自付负担",
                               f"own {SHOCK_KINDS[kind][1]} burden per person, last 365 days",
                               "spending" if kind in ("illness", "education") else kind)
       for kind in BURDEN_KINDS},
    **{f"burden_{days}d": (f"近{days}天人均冲击自付负担",
                           f"own burden of all shocks per person, last {days} days",
                           "spending") for days in WINDOWS},
    "burden_ratio_365d": ("近365天冲击负担与人均收入之比",
                          "burden of the last 365 days ÷ income per person", "spending"),
    "days_since_shock": ("距最近一次冲击天数", "days since the latest shock", "spending"),
    "payouts_365d": ("近365天人均防贫保险赔付", "poverty-prevention payouts per person, "
                     "last 365 days", "support"),
    "household_type": ("户类型", "household type", "household"),
}
LABELS: dict[str, tuple[str, str]] = {k: (zh, en) for k, (zh, en, _) in _DEFINED.items()}
GROUP_OF: dict[str, str] = {k: group for k, (_, _, group) in _DEFINED.items()}
CATEGORICAL = ["household_type"]
NUMERIC = [name for name in LABELS if name not in CATEGORICAL]
FEATURES = NUMERIC + CATEGORICAL
POPULATIONS = ("at_risk", "below_line", "monitored", "no_members")


def _where_households(query: sa.Select, column: sa.Column, household_ids: list[int] | None,
                      id_range: tuple[int, int] | None) -> sa.Select:
    if household_ids is not None:
        query = query.where(column.in_(household_ids))
    if id_range is not None:
        query = query.where(column.between(*id_range))
    return query


def _count(condition) -> sa.ColumnElement:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def valid_on(table: sa.Table, day: date) -> sa.ColumnElement:
    """The version of a registry row that was true on ``day``."""
    return sa.and_(table.c.valid_from <= day,
                   sa.or_(table.c.valid_to.is_(None), table.c.valid_to > day))


def known_by(day: date) -> datetime:
    """Records stamped before this moment (UTC) were known on ``day``: the end of the day."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _households_query(as_of: date) -> sa.Select:
    """The households active on D as they stood then, and whether a version up to D had a
    monitoring category: one pass over each household's versions."""
    v = HouseholdVersion.__table__
    now = valid_on(v, as_of)

    def on_day(column: sa.ColumnElement) -> sa.ColumnElement:
        return sa.func.max(sa.case((now, column)))

    return sa.select(
        v.c.household_id.label("id"), on_day(v.c.village_id).label("village_id"),
        on_day(v.c.household_type).label("household_type"),
        on_day(v.c.monitoring_category).label("monitoring_category"),
        on_day(sa.case((v.c.relocated, 1), else_=0)).label("relocated"),
        sa.func.max(sa.case((v.c.monitoring_category.is_not(None), 1), else_=0))
        .label("was_monitored"),
    ).where(v.c.valid_from <= as_of).group_by(v.c.household_id).having(
        sa.func.max(sa.case((sa.and_(now, v.c.status == "active"), 1), else_=0)) == 1)


def _members_query(as_of: date) -> sa.Select:
    """The members of each household on D, counted by the database (one row a household),
    with the changes of disability and health since the day a year before (a member whose
    version of that day is unknown counts as unchanged). Ages are as of D."""
    now = MemberVersion.__table__
    then = MemberVersion.__table__.alias("then")
    year_ago = as_of - timedelta(days=365)
    child = now.c.birth_date > _years_before(as_of, 16)
    elderly = now.c.birth_date <= _years_before(as_of, 65)
    grade = now.c.disability_grade

    def rank(column: sa.Column) -> sa.ColumnElement:
        return sa.case(*[(column == name, value) for name, value in HEALTH_RANK.items()],
                       else_=0)

    return sa.select(
        now.c.household_id,
        sa.func.count().label("size"),
        # the oldest head, should the registry hold two
        sa.func.min(sa.case((now.c.relation == "head", now.c.birth_date))).label("head_born"),
        _count(child).label("children"),
        _count(elderly).label("elderly"),
        _count(sa.and_(now.c.labour_skill.in_(["skilled", "ordinary"]), ~child, ~elderly,
                       now.c.schooling == "not_in_school")).label("workers"),
        _count(now.c.labour_skill == "weak").label("weak_labour"),
        _count(now.c.labour_skill.in_(["lost", "none"])).label("no_labour"),
        _count(now.c.schooling.in_(AT_SCHOOL)).label("students"),
        _count(grade.is_not(None)).label("disabled"),
        _count(grade <= 2).label("severe_disability"),
        _count(now.c.health == "chronic").label("chronic"),
        _count(now.c.health == "serious_illness").label("serious_illness"),
        sa.func.sum(now.c.migrant_work_months).label("migrant_months"),
        sa.func.max(sa.case((now.c.dibao, 1), else_=0)).label("dibao"),
        sa.func.max(sa.case((now.c.tekun, 1), else_=0)).label("tekun"),
        _count(sa.and_(then.c.id.is_not(None), grade.is_not(None), sa.or_(
            then.c.disability_grade.is_(None), grade < then.c.disability_grade))
               ).label("new_disability_365d"),
        _count(sa.and_(then.c.id.is_not(None), rank(now.c.health) > rank(then.c.health))
               ).label("health_worsened_365d"),
    ).select_from(now.outerjoin(then, sa.and_(
        then.c.member_id == now.c.member_id, valid_on(then, year_ago)))
    ).where(valid_on(now, as_of), now.c.status == "active").group_by(now.c.household_id)


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


def _components(t: sa.Table | sa.Subquery) -> dict[str, sa.ColumnElement]:
    """A year's income components the features use."""
    return {
        "wages": t.c.wages,
        "farm": t.c.business_crops + t.c.business_livestock + t.c.business_other
        - t.c.business_costs,
        "transfers": t.c.transfer_pension + t.c.transfer_dibao + t.c.transfer_tekun
        + t.c.transfer_disaster_relief + t.c.transfer_poverty_insurance + t.c.transfer_other,
        "property_income": t.c.property_income,
        "eligible_out_of_pocket": t.c.eligible_out_of_pocket,
        "household_size": t.c.household_size,
    }


def annual(t: sa.Table | sa.Subquery, year: int) -> sa.ColumnElement:
    """A ledger record of the whole calendar year."""
    return sa.and_(t.c.period_start == date(year, 1, 1), t.c.period_end == date(year, 12, 31))


def income_years(as_of: date) -> list[int]:
    """The calendar years whose annual reports the features of D read, latest first."""
    return [as_of.year - k for k in range(1, YEARS_BACK + 1)]


def _latest_years(as_of: date) -> list[int]:
    """The years a household's latest report known on D may be of: the last year, and the
    one before while D is within :data:`INCOME_FRESH_DAYS` of its end."""
    years = income_years(as_of)
    fresh = (as_of - date(years[1], 12, 31)).days <= INCOME_FRESH_DAYS
    return years[:2] if fresh else years[:1]


def _as_known(moment: datetime) -> tuple[sa.FromClause, Callable[[str], sa.ColumnElement]]:
    """The income ledger with each record's figures as they stood at ``moment``: the
    version of them known then when the record was corrected later, else its own. Returns
    the ledger to select from and a figure's column by name."""
    t, v = IncomeRecord.__table__, IncomeRecordVersion.__table__
    ledger = t.outerjoin(v, sa.and_(v.c.income_record_id == t.c.id, v.c.known_from < moment,
                                    v.c.known_to >= moment))
    return ledger, lambda name: sa.func.coalesce(v.c[name], t.c[name])


def _recorded_last(t: sa.Table, moment: datetime | None) -> sa.ColumnElement:
    """A record of ``t`` is the latest of its household and period known at ``moment`` (or
    ever): no other one known then was recorded later (nor at the same moment with a later
    id). By when it was first recorded, whatever order records were inserted in (a history
    import inserts old records today); payout records, which the reports count, aside."""
    other = t.alias("other")
    return ~sa.exists().where(
        other.c.household_id == t.c.household_id, other.c.period_start == t.c.period_start,
        other.c.period_end == t.c.period_end, other.c.source != IncomeSource.payout.value,
        *([] if moment is None else [other.c.recorded_at < moment]), sa.or_(
            other.c.recorded_at > t.c.recorded_at,
            sa.and_(other.c.recorded_at == t.c.recorded_at, other.c.id > t.c.id)))


def _incomes_query(as_of: date, household_ids: list[int] | None,
                   id_range: tuple[int, int] | None) -> sa.Select:
    """Each household's annual reports known on D, one row a household: per-capita net
    income of each year (column = the year) and the components of the two latest years (a
    household's latest report is one of them). A year's record is the household's record
    of it recorded last by D (survey or report), with the figures it held on D: a record
    corrected after D reads as it stood (:class:`IncomeRecordVersion`). Payout records are
    left out, as the reports already count payouts among transfers."""
    t = IncomeRecord.__table__
    moment, years = known_by(as_of), income_years(as_of)
    ledger, figure = _as_known(moment)
    known = sa.select(t.c.household_id, t.c.period_start, t.c.period_end, *[
        figure(name).label(name) for name in (
            *INCOME_FIGURES, "household_size", "per_capita_net_income")]).select_from(ledger).where(
        t.c.source != IncomeSource.payout.value, t.c.recorded_at < moment,
        t.c.period_end < as_of, sa.or_(*[annual(t, y) for y in years]),
        _recorded_last(t, moment))
    known = _where_households(known, t.c.household_id, household_ids, id_range
                              ).subquery("known")
    columns = [sa.func.max(sa.case((annual(known, year), known.c.per_capita_net_income)))
               .label(str(year)) for year in years]
    for year in _latest_years(as_of):
        for name, value in _components(known).items():
            columns.append(sa.func.max(sa.case((annual(known, year), value)))
                           .label(f"{name}_{year}"))
    return sa.select(known.c.household_id, *columns).group_by(known.c.household_id)


def _payouts_query(as_of: date, household_ids: list[int] | None,
                   id_range: tuple[int, int] | None) -> sa.Select:
    """Poverty-prevention payouts recorded in the 365 days up to D, as they stood on D, a row
    a household."""
    t = IncomeRecord.__table__
    ledger, figure = _as_known(known_by(as_of))
    return _where_households(sa.select(
        t.c.household_id, sa.func.sum(figure("transfer_poverty_insurance")).label("payouts"),
    ).select_from(ledger).where(
        t.c.source == IncomeSource.payout.value,
        t.c.recorded_at >= known_by(as_of - timedelta(days=365)),
        t.c.recorded_at < known_by(as_of)),
        t.c.household_id, household_ids, id_range).group_by(t.c.household_id)


def _shocks_query(as_of: date, household_ids: list[int] | None,
                  id_range: tuple[int, int] | None) -> sa.Select:
    """The shock ledger known on D, a row a household: counts and own burdens by kind and
    window (by the day a shock happened), the latest shock's day."""
    s = Shock.__table__

    def within(days: int) -> sa.ColumnElement:
        return s.c.occurred_on > as_of - timedelta(days=days)

    columns = []
    for kind in SHOCK_KINDS:
        for days in (90, 365):
            columns.append(_count(sa.and_(s.c.kind == kind, within(days)))
                           .label(f"{kind}_count_{days}d"))
    for kind in BURDEN_KINDS:
        columns.append(sa.func.sum(sa.case((s.c.kind == kind, s.c.burden), else_=0))
                       .label(f"{kind}_burden_365d"))
    for days in WINDOWS:
        columns.append(sa.func.sum(sa.case((within(days), s.c.burden), else_=0))
                       .label(f"burden_{days}d"))
    columns.append(sa.func.max(s.c.occurred_on).label("latest_shock"))
    return _where_households(sa.select(s.c.household_id, *columns).where(
        s.c.known_on <= as_of, within(365), s.c.occurred_on <= as_of),
        s.c.household_id, household_ids, id_range).group_by(s.c.household_id)


def _numbers(rows: pd.DataFrame, money: list[str]) -> pd.DataFrame:
    """Rows keyed by household as floats, the ``money`` columns from fen to yuan."""
    rows = rows.set_index("household_id").apply(pd.to_numeric).astype(float)
    rows[money] = rows[money] / 100
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


def feature_lines(session: Session, as_of: date, villages: list[int] | None = None
                  ) -> dict[int, dict[int, float]]:
    """The lines the features of D compare incomes with: D's year's (carried forward when
    not yet published) and those of the years of the reports looked back on. Read once per
    run and passed to :func:`build` for every chunk."""
    return {year: lines_by_village(session, year, carry_forward=year == as_of.year,
                                   villages=villages)
            for year in [as_of.year, *income_years(as_of)]}


def queries(as_of: date, household_ids: list[int] | None = None,
            id_range: tuple[int, int] | None = None) -> dict[str, sa.Select]:
    """The statements :func:`build` reads (one row a household each), for the households
    of ``household_ids`` or ``id_range``, or all."""
    return {
        "households": _where_households(
            _households_query(as_of), HouseholdVersion.__table__.c.household_id,
            household_ids, id_range),
        "members": _where_households(_members_query(as_of),
                                     MemberVersion.__table__.c.household_id,
                                     household_ids, id_range),
        "incomes": _incomes_query(as_of, household_ids, id_range),
        "payouts": _payouts_query(as_of, household_ids, id_range),
        "shocks": _shocks_query(as_of, household_ids, id_range),
    }


def build(session: Session, as_of: date, household_ids: list[int] | None = None, *,
          id_range: tuple[int, int] | None = None,
          lines: dict[int, dict[int, float]] | None = None) -> pd.DataFrame:
    """Features as of ``as_of`` of the households active that day, indexed by id: every
    household, those in ``household_ids``, or those with an id in ``id_range`` (inclusive).
    Columns: :data:`FEATURES`, and ``village_id``, ``monitored`` (0/1) and ``line`` (D's
    line), which the model does not read. Missing values stay missing."""
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a date, not {type(as_of).__name__} ({as_of!r})")
    lines = lines if lines is not None else feature_lines(session, as_of)
    rows = {name: read_frame(session.connection(), query)
            for name, query in queries(as_of, household_ids, id_range).items()}
    frame = rows["households"].set_index("id")
    frame["monitored"] = frame.pop("monitoring_category").notna().astype(int)
    frame["relocated"] = frame["relocated"].astype(int)
    frame["was_monitored"] = frame["was_monitored"].astype(int)
    frame = frame.join(_members(rows["members"], as_of), how="left")
    frame["line"] = frame["village_id"].map(lines[as_of.year])
    incomes = rows["incomes"]
    ledger = _numbers(incomes, [c for c in incomes.columns
                                if c != "household_id" and not c.startswith("household_size")])
    _income_features(frame, ledger.reindex(frame.index), as_of, lines)
    size = frame["size"].clip(lower=1)
    payouts = _numbers(rows["payouts"], ["payouts"]).reindex(frame.index)["payouts"].fillna(0)
    frame["payouts_365d"] = payouts / size
    shocks = rows["shocks"].set_index("household_id")
    latest = pd.to_datetime(shocks.pop("latest_shock"), format="ISO8601")
    shocks = _numbers(shocks.reset_index(), money=[c for c in shocks.columns if "burden" in c])
    shocks = shocks.reindex(frame.index).fillna(0)
    for column in shocks.columns:
        frame[column] = shocks[column] / size if "burden" in column else shocks[column]
    frame["days_since_shock"] = (pd.Timestamp(as_of) - latest).dt.days.reindex(frame.index)
    frame["burden_ratio_365d"] = frame["burden_365d"] / frame["income_last"].clip(lower=1000)
    return frame.reindex(columns=[*FEATURES, "village_id", "monitored", "line", STALE])


def _income_features(frame: pd.DataFrame, ledger: pd.DataFrame, as_of: date,
                     lines: dict[int, dict[int, float]]) -> None:
    """The income features from the annual reports known on D (in place). The latest report
    is the one of the last year, or of the year before while D is within
    :data:`INCOME_FRESH_DAYS` of that year's end; with neither, the income is missing."""
    years, latest = income_years(as_of), _latest_years(as_of)
    per_capita = ledger[[str(y) for y in years]].set_axis(years, axis=1)
    use_previous = per_capita[years[0]].isna() & (len(latest) == 2)
    last_year = pd.Series(np.where(per_capita[years[0]].notna(), years[0],
                                   np.where(use_previous & per_capita[years[1]].notna(),
                                            years[1], 0)), index=frame.index)
    fresh = last_year > 0

    def of_last(name: str, offset: int = 0) -> pd.Series:
        """A column of each household's latest year (or the one ``offset`` before it)."""
        out = pd.Series(np.nan, index=frame.index)
        for year in latest:
            source = (per_capita[year - offset] if name == "income"
                      else ledger[f"{name}_{year}"])
            out = out.where(last_year != year, source)
        return out

    last = of_last("income")
    frame["income_last"] = last
    frame["income_ratio"] = last / frame["line"]
    previous = of_last("income", 1)
    frame["income_trend"] = (last - previous) / previous.abs().clip(lower=1000)
    frame["income_volatility"] = np.log(per_capita.clip(lower=500)).std(axis=1)
    past_lines = pd.DataFrame({y: frame["village_id"].map(lines[y]) for y in years},
                              index=frame.index)
    frame["lowest_ratio"] = (per_capita / past_lines).min(axis=1)
    farm = of_last("farm").clip(lower=0)
    wages, transfers = of_last("wages"), of_last("transfers")
    gross = (wages + farm + transfers + of_last("property_income")).clip(lower=1)
    frame["wage_share"] = wages / gross
    frame["transfer_share"] = transfers / gross
    frame["farm_share"] = farm / gross
    frame["out_of_pocket_last"] = of_last("eligible_out_of_pocket") / of_last(
        "household_size").clip(lower=1)
    frame["income_missing"] = (~fresh).astype(int)
    # Not a feature: the latest income known of a household whose income is missing, which
    # its score is floored at (risk.model.TrainedModel.matrix).
    frame[STALE] = per_capita.bfill(axis=1).iloc[:, 0].where(~fresh)
    ended = per_capita.notna().to_numpy().argmax(axis=1)
    any_report = per_capita.notna().any(axis=1)
    latest_end = pd.to_datetime([f"{years[i]}-12-31" for i in ended])
    age = (pd.Timestamp(as_of) - pd.Series(latest_end, index=frame.index)).dt.days
    frame["income_age_days"] = age.where(any_report)


def population(frame: pd.DataFrame) -> pd.Series:
    """Each household's population on D (pure): ``monitored`` when in monitoring, else
    ``below_line`` when its latest income known is below the line, else ``at_risk``. A
    missing income is at risk: it never lowers the risk nor hides a household. A household
    with no active member on D (the last one died or left, not yet cancelled) is
    ``no_members``: nobody in it can fall."""
    below = frame["income_ratio"] < 1  # NaN compares False
    empty = ~(frame["size"] > 0)  # no active member: the members' counts are missing
    out = np.where(empty, "no_members", np.where(
        frame["monitored"].astype(bool), "monitored",
        np.where(below, "below_line", "at_risk")))
    return pd.Series(out, index=frame.index, name="population")


def outcomes(session: Session, as_of: date, household_ids: list[int] | None = None,
             horizon_days: int = 365) -> pd.Series:
    """Whether each household fell within ``horizon_days`` after D (0/1, named ``fell``): a
    report of a period ending in (D, D + horizon] shows per-capita net income below that
    period's year's line, or per-capita income less the own burden of the spending shocks
    that happened within that period below it (突发严重困难, spending-driven;
    ``risk.shocks.SPENDING``: a lost income is in the report already). Only reports of a
    year's income (a period of twelve months) tell it against the year's line: a quarter's
    income is a quarter of the year's, and the quarterly reports of post-payout monitoring
    had labelled every household that filed one as fallen (a hostile tester's). Only
    households with such a report; the truth is read whenever it was recorded (labels are
    known later)."""
    t, s = IncomeRecord.__table__, Shock.__table__
    end = as_of + timedelta(days=horizon_days)
    latest = _where_households(sa.select(
        t.c.household_id, t.c.period_start, t.c.period_end, t.c.per_capita_net_income,
        t.c.household_size,
    ).where(t.c.source != IncomeSource.payout.value, t.c.period_end > as_of,
            t.c.period_end <= end, _recorded_last(t, None)),
        t.c.household_id, household_ids, None).subquery("latest")
    burden = (sa.select(sa.func.coalesce(sa.func.sum(s.c.burden), 0))
              .where(s.c.household_id == latest.c.household_id,
                     s.c.occurred_on.between(latest.c.period_start, latest.c.period_end),
                     s.c.kind.in_(sorted(SPENDING)))
              .scalar_subquery())
    reports = read_frame(session.connection(), sa.select(
        latest.c.household_id, latest.c.period_start, latest.c.period_end,
        latest.c.per_capita_net_income,
        latest.c.household_size, burden.label("burden"), Household.__table__.c.village_id,
    ).join(Household.__table__, Household.__table__.c.id == latest.c.household_id))
    ends = pd.to_datetime(reports["period_end"], format="ISO8601")
    reports = reports[(ends - pd.to_datetime(reports["period_start"], format="ISO8601")).dt.days
                      >= YEAR_LONG].copy()
    if reports.empty:
        return pd.Series(dtype=int, name="fell")
    reports["year"] = pd.to_datetime(reports["period_end"], format="ISO8601").dt.year
    line = pd.Series(np.nan, index=reports.index)
    for year in reports["year"].unique():
        by_village = lines_by_village(session, int(year),
                                      villages=reports["village_id"].unique().tolist())
        here = reports["year"] == year
        line[here] = reports.loc[here, "village_id"].map(by_village)
    income = pd.to_numeric(reports["per_capita_net_income"]).astype(float) / 100
    own = pd.to_numeric(reports["burden"]).astype(float) / 100 / pd.to_numeric(
        reports["household_size"]).clip(lower=1)
    reports["fell"] = ((income < line) | (income - own < line)).astype(int)
    reports = reports[line.notna()]
    return reports.groupby("household_id")["fell"].max().rename("fell")
