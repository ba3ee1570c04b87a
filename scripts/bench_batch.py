"""The nightly risk scoring run, end to end, against a floor measured in the same run.

    python scripts/bench_batch.py --households 100000 1000000 [--engine postgresql]

For each size: a simulated county of N households (built once and kept under var/bench/,
a few minutes for a million), a model trained once on a 15,000-household county, then in
fresh processes:

- the floor: the same rows read with the raw driver (the statements the run reads, chunk
  by chunk), ``predict_proba`` on a ready array of the model's inputs, and the scores written
  with the driver's bulk insert (executemany), committed chunk by chunk;
- the run: the job ``fangpin score`` and the scheduler run (claims.nightly.score_households)
  on a county's first night (every warning is new, each with its factors), and again on a
  second night (only new warnings).

Each prints wall time and peak memory (the peak RSS of its own process; the run's reading
process, which reads each range ahead, apart). The last line gives, for the largest size,
households per second, peak memory and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = ROOT / "var" / "bench"
POSTGRES_URL = os.environ.get(
    "FANGPIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHUNK = 50_000


def county_url(engine: str, households: int) -> str:
    if engine == "sqlite":
        return f"sqlite:///{BENCH}/batch-{households}.db"
    return f"{POSTGRES_URL}?options=-csearch_path%3Dbench_batch_{households}"


def migrated(url: str):
    """An engine on the bench database at ``url``, its PostgreSQL schema created and the
    schema migrated to head."""
    import sqlalchemy as sa

    from claims import migrate
    from claims.db import make_engine

    if url.startswith("postgresql"):
        schema = url.rsplit("%3D", 1)[1]
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
    migrate.upgrade(url)
    return make_engine(url)


def build_county(url: str, households: int, first_year: int) -> None:
    """A simulated county with the ledger the features read (kept for later runs)."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from risk import simulator

    engine = migrated(url)
    with Session(engine) as session:
        if session.execute(sa.text("SELECT count(*) FROM household")).scalar():
            return
        print(f"  building a county of {households:,} households (kept for later runs)…",
              file=sys.stderr)
        params = simulator.parameters()
        params["panel"]["first_year"] = first_year
        simulator.simulate_county(session, households=households, params=params)
        session.commit()
    engine.dispose()
    seed_shocks(url)


NIGHT = date(2026, 12, 1)  # the benchmark's first night; the second is the day after
SHOCK_SHARE = 0.15  # households with a shock in the year before the night


def seed_shocks(url: str, seed: int = 0) -> None:
    """Shocks through the year before the night for a share of the households, and each
    year's reports recorded by 20 January of the next, so the run's event windows and
    income reads are not empty (kept; done once per database)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    import numpy as np
    import sqlalchemy as sa
    from sqlmodel import Session

    from claims.db import make_engine
    from policies.bulk import insert_columns
    from policies.models import IncomeRecord
    from risk.features import SHOCK_KINDS
    from risk.models import Shock

    engine = make_engine(url)
    with Session(engine) as session:
        if session.execute(sa.select(sa.func.count()).select_from(Shock.__table__)).scalar():
            return
        ids = np.asarray(session.execute(sa.text("SELECT id FROM household")).scalars().all())
        rng = np.random.default_rng(seed)
        hit = ids[rng.random(len(ids)) < SHOCK_SHARE]
        occurred = [NIGHT - timedelta(days=int(d)) for d in rng.integers(0, 365, len(hit))]
        insert_columns(session, Shock.__table__, {
            "household_id": hit.tolist(),
            "kind": rng.choice(list(SHOCK_KINDS), len(hit)).tolist(),
            "occurred_on": occurred,
            "known_on": [d + timedelta(days=int(k)) for d, k in zip(
                occurred, rng.integers(0, 20, len(hit)), strict=True)],
            "burden": [Decimal(f"{b:.2f}") for b in rng.exponential(8000, len(hit))],
            "source": ["simulated"] * len(hit),
            "reference": [""] * len(hit)})
        records = IncomeRecord.__table__
        session.execute(records.update().values(
            recorded_at=datetime(NIGHT.year, 1, 20, tzinfo=UTC)))
        session.commit()
    engine.dispose()


def ensure_model() -> Path:
    directory = BENCH / "model"
    if (directory / "IN_FORCE").is_file() or (directory / "model.skops").is_file():
        return directory
    from sqlmodel import Session

    from claims import migrate
    from claims.db import make_engine
    from risk import model, simulator, training

    url = f"sqlite:///{BENCH}/train-15000.db"
    migrate.upgrade(url)
    with Session(make_engine(url)) as session:
        simulator.simulate_county(session, households=15_000)
        session.commit()
        trained = training.train(session, test_day=date(2025, 1, 1))
    version, in_force, _ = model.add_version(trained, directory)
    if not in_force:  # the benchmark measures scoring, whatever the model's merit
        model.promote(directory, version)
    return directory


def reset(url: str) -> None:
    """Forget earlier runs, so each measurement is a county's first night."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from claims import nightly
    from claims.db import make_engine
    from claims.models import EarlyWarning
    from risk.models import HouseholdScore, ScoreRun

    engine = make_engine(url)
    with Session(engine) as session:
        nightly.drop_scores(session, session.execute(sa.select(ScoreRun.id)).scalars().all())
        session.execute(HouseholdScore.__table__.delete())
        session.execute(EarlyWarning.__table__.delete().where(
            EarlyWarning.__table__.c.source == "risk"))
        session.execute(ScoreRun.__table__.delete())
        session.commit()
    engine.dispose()


# --- measured in child processes ----------------------------------------------------------------

def floor(url: str, model_dir: str, night: str) -> dict:
    """Raw driver reads of the run's statements (the registry as of the night, the reports,
    the payouts and the shock windows), predict_proba on a ready array, the driver's
    executemany of the scores; chunk by chunk, committed each chunk."""
    import numpy as np
    import sqlalchemy as sa
    from sqlmodel import Session

    from claims import nightly
    from claims.db import make_engine
    from risk import features, model
    from risk.models import ScoreRun

    trained = model.load_in_force(Path(model_dir))
    as_of = date.fromisoformat(night)
    engine = make_engine(url)
    with Session(engine) as session:
        sample = features.build(session, as_of, id_range=(1, 2000))
        inputs = trained.matrix(sample)  # the ready array, reused for every chunk
        run = ScoreRun(night=date(2000, 1, 1), model_version="floor", as_of_year=as_of.year,
                       started_by="floor", threshold=0.5, rise=0.25)
        session.add(run)
        session.commit()
        run_id = run.id
        nightly.open_scores(session, run_id)  # its partition on PostgreSQL, as a run has
        connection = session.connection()
        ids = [row[0] for row in connection.exec_driver_sql(
            "SELECT id FROM household WHERE status = 'active' ORDER BY id")]
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        insert = f"INSERT INTO household_score (run_id, household_id, score) VALUES " \
                 f"({marker}, {marker}, {marker})"
        started = time.perf_counter()
        for start in range(0, len(ids), CHUNK):
            part = ids[start:start + CHUNK]
            for query in features.queries(as_of, id_range=(part[0], part[-1])).values():
                session.connection().execute(query).cursor.fetchall()  # the driver's rows
            cursor = session.connection().connection.dbapi_connection.cursor()
            array = np.resize(inputs, (len(part), inputs.shape[1]))
            scores = trained.pipeline[-1].predict_proba(array)[:, 1]
            cursor.executemany(insert, list(zip([run_id] * len(part), part, scores.tolist(),
                                                strict=True)))
            session.commit()
        seconds = time.perf_counter() - started
        nightly.drop_scores(session, [run_id])
        session.execute(sa.text("DELETE FROM score_run WHERE id = :r"), {"r": run_id})
        session.commit()
    return {"seconds": seconds, "households": len(ids)}


def run(url: str, model_dir: str, night: str) -> dict:
    from claims import nightly
    from claims.db import make_engine

    started = time.perf_counter()
    result = nightly.score_households(
        make_engine(url), model_dir=Path(model_dir), threshold=0.5, rise=0.25,
        timezone="Asia/Shanghai", night=date.fromisoformat(night), chunk=CHUNK,
        started_by="bench")
    return {"seconds": time.perf_counter() - started, "households": result.households,
            "warnings": result.warnings, "drift_flag": result.drift.get("flag"),
            "reader_mb": result.worker_peak_mb or 0.0}


def peak_rss_mb() -> float:
    """This process's own peak RSS. (Not getrusage: on Linux its maximum carries over exec
    from the parent that forked the process.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, *args: str, script: str = __file__) -> dict:
    """Run one measurement of ``script`` in a fresh process; its peak memory is its own."""
    out = subprocess.run([sys.executable, script, "--child", kind, *args], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, nargs="+", default=[100_000])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        found = floor(rest[0], rest[1], rest[2]) if kind == "floor" else \
            run(rest[0], rest[1], rest[2])
        found["peak_mb"] = peak_rss_mb()
        print(json.dumps(found))
        return

    BENCH.mkdir(parents=True, exist_ok=True)
    model_dir = str(ensure_model())
    print(f"engine {args.engine}, {os.cpu_count()} cores, chunks of {CHUNK:,} households")
    results = []
    for households in args.households:
        url = county_url(args.engine, households)
        build_county(url, households, first_year=2022)
        seed_shocks(url)
        reset(url)
        base = child("floor", url, model_dir, NIGHT.isoformat())
        first = child("run", url, model_dir, NIGHT.isoformat())
        second = child("run", url, model_dir, (NIGHT + timedelta(days=1)).isoformat())
        reset(url)
        print(f"{households:>10,} households: floor {base['seconds']:.1f} s "
              f"({base['peak_mb']:.0f} MB); first night {first['seconds']:.1f} s "
              f"({first['warnings']:,} warnings, {first['peak_mb']:.0f} MB, its reading "
              f"process {first['reader_mb']:.0f} MB) = "
              f"{first['seconds'] / base['seconds']:.2f}x floor; second night "
              f"{second['seconds']:.1f} s ({second['warnings']:,} new warnings) = "
              f"{second['seconds'] / base['seconds']:.2f}x floor")
        results.append((households, base, first, second))
    households, base, first, second = results[-1]
    peaks = ", ".join(f"{n:,}: {f['peak_mb']:.0f} MB" for n, _, f, _ in results)
    print(f"RESULT {args.engine} {households:,} households: "
          f"{households / first['seconds']:,.0f} households/s, {first['seconds']:.1f} s, "
          f"peak memory {first['peak_mb']:.0f} MB ({peaks}), "
          f"{first['seconds'] / base['seconds']:.2f}x the floor of {base['seconds']:.1f} s "
          f"(second night {second['seconds'] / base['seconds']:.2f}x)")


if __name__ == "__main__":
    main()
