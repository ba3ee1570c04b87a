"""A simulated county written out as the files a county exports from the national monitoring
system, in the shape docs/risk.md ("A county's own history") describes: the registry as it
stood at each year-end (one row a member, the household's fields repeated), the monitoring
lines, the annual records of each year with that year's household size, and the past shocks.
So a test can import a county's history with ``fangpin import`` the way an office does, and
train on what came in through the files, not on the simulator's tables.

What the files cannot carry is lost as it would be for a real county: a registry change is
known from the year-end export after it (not from the day the simulator's registry learnt
it), and a member who died or left stays in the registry (the import never removes anyone;
docs/risk.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from policies.bulk import read_frame
from policies.models import (
    Household,
    HouseholdVersion,
    IncomeRecord,
    Member,
    MemberVersion,
    MonitoringLine,
    Region,
)
from policies.vocab import LABELS
from risk.models import Shock
from tests.files import csv_bytes

COUNTY_ZONE = ZoneInfo("Asia/Shanghai")
REGISTRY = {  # column → (field, vocabulary whose Chinese label is written)
    "户编号": ("household_number", None), "行政村代码": ("village_code", None),
    "姓名": ("name", None), "证件号码": ("id_number", None),
    "与户主关系": ("relation", "Relation"), "户类型": ("household_type", "HouseholdType"),
    "监测对象类别": ("monitoring_category", "MonitoringCategory"),
    "是否易地扶贫搬迁": ("relocated", bool), "文化程度": ("education", "Education"),
    "在校生状况": ("schooling", "Schooling"), "健康状况": ("health", "Health"),
    "残疾等级": ("disability_grade", "grade"), "劳动技能": ("labour_skill", "LabourSkill"),
    "务工时间(月)": ("migrant_work_months", None), "是否享受低保": ("dibao", bool),
    "是否特困供养": ("tekun", bool),
}
# The annual record's amounts as docs/risk.md names them (the ledger's own names).
AMOUNTS = {
    "工资性收入": "wages", "生产经营性收入: 种植业": "business_crops",
    "生产经营性收入: 养殖业": "business_livestock", "生产经营性收入: 其他": "business_other",
    "财产性收入": "property_income", "转移性收入: 养老金": "transfer_pension",
    "转移性收入: 低保金": "transfer_dibao", "转移性收入: 特困供养金": "transfer_tekun",
    "转移性收入: 受灾救助": "transfer_disaster_relief",
    "转移性收入: 防贫保险": "transfer_poverty_insurance", "转移性收入: 其他": "transfer_other",
    "生产经营性支出": "business_costs", "合规自付医疗支出": "eligible_out_of_pocket",
}
# The monitoring system's risk types (风险类型) of the shock kinds.
RISK_TYPES = {"illness": "因病", "disability": "因残", "education": "因学", "disaster": "因灾",
              "accident": "因意外事故", "employment": "因务工就业不稳"}
GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}


def _labelled(column: pd.Series, vocabulary) -> pd.Series:
    """A column as the system exports it: Chinese labels, 是/否, 一级…, empty for none."""
    present = column.notna()
    if vocabulary is bool:
        text = column.map(lambda v: "是" if v else "否")
    elif vocabulary == "grade":
        text = column.map(lambda v: GRADES[int(v)] if pd.notna(v) else "")
    elif vocabulary is None:
        text = column.map(lambda v: str(int(v)) if isinstance(v, float) else str(v))
    else:
        labels = {code: label.split("|")[0] for code, label in LABELS[vocabulary].items()}
        text = column.map(labels)
    return text.where(present, "")


def _yuan(fen: pd.Series) -> pd.Series:
    """Stored fen as yuan with two decimals."""
    return fen.astype("int64").map(lambda v: f"{v // 100}.{v % 100:02d}")


def _rows(frame: pd.DataFrame) -> list[list[str]]:
    return frame.astype(str).to_numpy().tolist()


def registry_on(connection: sa.Connection, day: date) -> list[list[str]]:
    """The registry as it stood on ``day``: every member registered by then (the versions
    valid that day) in the household as it stood, labelled as the system exports it."""
    mv, hv = MemberVersion.__table__, HouseholdVersion.__table__
    m, h, r = Member.__table__, Household.__table__, Region.__table__

    def valid(v):
        return sa.and_(v.c.valid_from <= day, sa.or_(v.c.valid_to.is_(None), v.c.valid_to > day))

    frame = read_frame(connection, sa.select(
        h.c.household_number, r.c.code.label("village_code"), m.c.name, m.c.id_number,
        mv.c.relation, hv.c.household_type, hv.c.monitoring_category, hv.c.relocated,
        m.c.education, mv.c.schooling, mv.c.health, mv.c.disability_grade, mv.c.labour_skill,
        mv.c.migrant_work_months, mv.c.dibao, mv.c.tekun,
    ).select_from(mv.join(m, m.c.id == mv.c.member_id)
                  .join(hv, sa.and_(hv.c.household_id == mv.c.household_id, valid(hv)))
                  .join(h, h.c.id == mv.c.household_id).join(r, r.c.id == hv.c.village_id))
        .where(valid(mv)).order_by(h.c.household_number, mv.c.relation != "head", m.c.id))
    return _rows(pd.DataFrame({column: _labelled(frame[field], vocabulary)
                               for column, (field, vocabulary) in REGISTRY.items()}))


def county_day(instants: pd.Series) -> pd.Series:
    """The county's dates of instants stored in UTC."""
    return pd.to_datetime(instants, utc=True).dt.tz_convert(COUNTY_ZONE).dt.strftime(
        "%Y-%m-%d")


def annual_records(connection: sa.Connection) -> pd.DataFrame:
    """One row a household and year: the size of that year, the components, the day it was
    recorded (录入日期); the year in ``year``."""
    t, h = IncomeRecord.__table__, Household.__table__
    frame = read_frame(connection, sa.select(
        h.c.household_number, t.c.period_start, t.c.household_size, t.c.recorded_at,
        *[t.c[name] for name in AMOUNTS.values()],
    ).join(h, h.c.id == t.c.household_id).where(t.c.source == "survey").order_by(t.c.id))
    year = pd.to_datetime(frame["period_start"]).dt.year
    return pd.DataFrame({"户编号": frame["household_number"], "年度": year.astype(str),
                         "家庭人口数": frame["household_size"].astype(int).astype(str),
                         **{column: _yuan(frame[name]) for column, name in AMOUNTS.items()},
                         "录入日期": county_day(frame["recorded_at"]), "year": year})


def lines(connection: sa.Connection) -> list[list[str]]:
    t, r = MonitoringLine.__table__, Region.__table__
    rows = connection.execute(sa.select(r.c.code, t.c.year, t.c.fixed_amount, t.c.note).join(
        r, r.c.id == t.c.region_id).order_by(t.c.year)).all()
    return [[code, str(year), f"{amount:.2f}", note or ""] for code, year, amount, note in rows]


def shocks(connection: sa.Connection) -> list[list[str]]:
    """One row a shock, with the household's own burden; the record number tells apart two
    of a kind on the same day."""
    s, h, m = Shock.__table__, Household.__table__, Member.__table__
    frame = read_frame(connection, sa.select(
        s.c.id, h.c.household_number, m.c.id_number, s.c.kind, s.c.occurred_on, s.c.known_on,
        s.c.burden, s.c.disability_grade,
    ).join(h, h.c.id == s.c.household_id).outerjoin(m, m.c.id == s.c.member_id)
        .order_by(s.c.id))
    return _rows(pd.DataFrame({
        "household_number": frame["household_number"],
        "id_number": frame["id_number"].fillna(""),
        "kind": frame["kind"].map(RISK_TYPES),
        **{day: pd.to_datetime(frame[day]).dt.strftime("%Y-%m-%d")
           for day in ("occurred_on", "known_on")},
        "burden": _yuan(frame["burden"]),
        "grade": _labelled(frame["disability_grade"], "grade"),
        "reference": "SIM" + frame["id"].astype(str)}))


def export_county(engine: Engine, directory: Path, years: list[int]) -> dict[str, list[Path]]:
    """Write the county's files into ``directory``: ``registry`` (one file a year-end, oldest
    first), ``lines``, ``records`` (one file a year) and ``shocks``."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {"registry": [], "records": []}

    def write(name: str, header: list[str], rows: list[list[str]]) -> Path:
        path = directory / name
        path.write_bytes(csv_bytes(header, rows))
        return path

    with engine.connect() as connection:
        records = annual_records(connection)
        for year in years:
            files["registry"].append(write(f"registry-{year}-12-31.csv", list(REGISTRY),
                                           registry_on(connection, date(year, 12, 31))))
            of_year = records[records["year"] == year].drop(columns="year")
            files["records"].append(write(f"records-{year}.csv", list(of_year.columns),
                                          _rows(of_year)))
        files["lines"] = [write("lines.csv", ["行政区划代码", "年度", "防返贫监测线", "备注"],
                                lines(connection))]
        files["shocks"] = [write("shocks.csv", [
            "户编号", "证件号码", "风险类型", "发生日期", "登记日期", "自付负担", "残疾等级",
            "事件编号"], shocks(connection))]
    return files


def regions(engine: Engine) -> list[dict]:
    """The county's administrative divisions, parents first (set up once by the office)."""
    r = Region.__table__
    with engine.connect() as connection:
        rows = connection.execute(sa.select(r.c.id, r.c.code, r.c.name, r.c.level,
                                            r.c.parent_id).order_by(r.c.id)).mappings().all()
    return [dict(row) for row in rows]

