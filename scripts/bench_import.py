#!/usr/bin/env python
"""Benchmark the household import against the driver's bulk insert of the same rows.

Builds a demo export of about N members (CSV, Chinese headers), then on each database:
  floor  — the same household and member rows written with the driver's executemany alone
           (prepared in advance, one transaction), on a fresh schema;
  import — ``fangpin import households`` end to end (read, decode, validate, look up, write,
           commit) on another fresh schema.
The last line prints rows per second and the ratio import/floor (target: within 3×).

    python scripts/bench_import.py [--members 100000] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claims import migrate  # noqa: E402
from claims.db import make_engine  # noqa: E402
from policies import demo  # noqa: E402
from policies.household_import import import_households  # noqa: E402
from policies.vocab import (  # noqa: E402
    HouseholdType,
    LabourSkill,
    MonitoringCategory,
    Relation,
)

POSTGRES_URL = os.environ.get(
    "FANGPIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def build_export(members: int, workdir: Path) -> tuple[bytes, pd.DataFrame]:
    """A monitoring-system style export of about ``members`` people from a demo county."""
    url = f"sqlite:///{workdir}/source.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        demo.build_demo_county(session, households=int(members / 3.5) + 1, seed=1)
        session.commit()
    query = """
        SELECT h.household_number, t.name AS township, v.name AS village,
               m.name, m.id_number, m.relation, h.household_type, h.monitoring_category,
               h.phone, h.bank_name, h.bank_account, m.disability_grade, m.labour_skill,
               m.migrant_work_months
        FROM member m JOIN household h ON h.id = m.household_id
        JOIN region v ON v.id = h.village_id JOIN region t ON t.id = v.parent_id
        ORDER BY h.id, m.id
    """
    frame = pd.read_sql(query, engine).head(members)
    engine.dispose()
    # Cut at a household boundary so every household keeps its head.
    last = frame["household_number"].iloc[-1]
    frame = frame[frame["household_number"] != last] if len(frame) == members else frame
    labels = {
        "relation": {m.value: m.label for m in Relation},
        "household_type": {m.value: m.label for m in HouseholdType},
        "monitoring_category": {m.value: m.label for m in MonitoringCategory},
        "labour_skill": {m.value: m.label for m in LabourSkill},
    }
    export = frame.copy()
    for column, mapping in labels.items():
        export[column] = export[column].map(mapping).fillna("")
    export["disability_grade"] = export["disability_grade"].map(
        lambda g: "" if pd.isna(g) else f"{int(g)}级")
    export.columns = ["户编号", "乡镇", "行政村", "姓名", "证件号码", "与户主关系", "户类型",
                      "监测对象类别", "联系电话", "开户银行", "银行账号", "残疾等级", "劳动技能",
                      "务工时间(月)"]
    return export.to_csv(index=False).encode("utf-8"), frame


def fresh_database(kind: str, workdir: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        path = workdir / f"{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    schema = f"fangpin_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", drop


def prepared(url: str) -> sa.Engine:
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        demo._regions(session)
        session.commit()
    return engine


def floor_rows(engine: sa.Engine, frame: pd.DataFrame):
    with engine.connect() as conn:
        village_ids = dict(conn.execute(sa.text(
            "SELECT v.name || '/' || t.name, v.id FROM region v JOIN region t ON t.id = v.parent_id"
            " WHERE v.level = 'village'")).all())
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    households = frame.drop_duplicates("household_number").reset_index(drop=True)
    hh_id = {n: i + 1 for i, n in enumerate(households["household_number"])}
    hh_rows = [
        (hh_id[r.household_number], r.household_number,
         village_ids[f"{r.village}/{r.township}"], r.household_type, r.monitoring_category,
         r.phone, r.bank_name, r.bank_account, False, "active", now, now)
        for r in households.itertuples()
    ]
    birth = pd.to_datetime(frame["id_number"].str[6:14], format="%Y%m%d").dt.date
    m_rows = [
        (hh_id[r.household_number], r.name, r.id_number,
         "male" if int(r.id_number[16]) % 2 else "female", b, r.relation, None,
         "not_in_school", "healthy", None if pd.isna(r.disability_grade)
         else int(r.disability_grade), r.labour_skill, int(r.migrant_work_months), True, True,
         False, False, False, "active")
        for r, b in zip(frame.itertuples(), birth, strict=True)
    ]
    return hh_rows, m_rows


def run_floor(engine: sa.Engine, hh_rows, m_rows) -> float:
    raw = engine.raw_connection()
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    hh_sql = (
        "INSERT INTO household (id, household_number, village_id, household_type,"
        " monitoring_category, phone, bank_name, bank_account, relocated, status, created_at,"
        f" updated_at) VALUES ({', '.join([marker] * 12)})"
    )
    m_sql = (
        "INSERT INTO member (household_id, name, id_number, sex, birth_date, relation,"
        " education, schooling, health, disability_grade, labour_skill, migrant_work_months,"
        " resident_medical, critical_illness, pension, dibao, tekun, status)"
        f" VALUES ({', '.join([marker] * 18)})"
    )
    started = time.perf_counter()
    cursor = raw.cursor()
    if engine.dialect.name == "sqlite":
        cursor.execute("BEGIN")
    cursor.executemany(hh_sql, hh_rows)
    cursor.executemany(m_sql, m_rows)
    raw.commit()
    elapsed = time.perf_counter() - started
    raw.close()
    return elapsed


def run_import(engine: sa.Engine, data: bytes) -> float:
    started = time.perf_counter()
    with Session(engine) as session:
        report = import_households(session, data, "export.csv")
        assert report.written and not report.errors, report.errors[:3]
        session.commit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data, frame = build_export(args.members, workdir)
        rows = len(frame)
        print(f"export: {rows:,} members in {frame['household_number'].nunique():,} households,"
              f" {len(data) / 1e6:.1f} MB")
        for kind in args.engines.split(","):
            floor_url, drop_floor = fresh_database(kind, workdir)
            import_url, drop_import = fresh_database(kind, workdir)
            try:
                floor_engine = prepared(floor_url)
                hh_rows, m_rows = floor_rows(floor_engine, frame)
                floor = run_floor(floor_engine, hh_rows, m_rows)
                import_engine = prepared(import_url)
                elapsed = run_import(import_engine, data)
                floor_engine.dispose()
                import_engine.dispose()
            finally:
                drop_floor()
                drop_import()
            ratio = elapsed / floor
            print(f"{kind}: floor {floor:.2f}s ({rows / floor:,.0f} rows/s), import "
                  f"{elapsed:.2f}s ({rows / elapsed:,.0f} rows/s), ratio {ratio:.2f}x")
            results.append(f"{kind} {rows / elapsed:,.0f} rows/s ({ratio:.2f}x floor)")
    print(f"import of {rows:,} members: " + "; ".join(results) + " — target ≤ 3x")


if __name__ == "__main__":
    main()
