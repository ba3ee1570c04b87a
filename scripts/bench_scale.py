"""Province-scale nightly scoring on PostgreSQL: one process against a Dask local cluster.

    python scripts/bench_scale.py --households 1000000 10000000 [--workers 2]

For each size: a county of N households with members and two years of income surveys, built
once with the demo generator through COPY and kept in its own PostgreSQL schema
(bench_scale_N; tens of minutes and about 1.5 GB a million households the first time); a
model trained once (var/bench/model, shared with bench_batch.py). Then, in fresh processes,
each on a county's first night:

- the floor of the risk batch issue (scripts/bench_batch.py): the statements the run reads,
  read with the raw driver, ``predict_proba`` on a ready array, the driver's executemany of
  the scores, chunk by chunk;
- the run in one process (``fangpin score``);
- the run on a Dask local cluster of ``--workers`` worker processes with one thread each
  (``fangpin score --engine dask``): the driver plans and writes, the workers read and score.

Peak memory is each process's own VmHWM: the driver's, and the largest of the workers'. The
last line gives households per second for every size and engine, peak memory per process and
the ratios to the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import bench_batch  # noqa: E402  (the floor, the model, the reset and the child runner)

POSTGRES_URL = bench_batch.POSTGRES_URL
CHUNK = bench_batch.CHUNK
YEAR = 2026  # the demo's surveys are of 2024 and 2025; the runs score as of nights of 2026


def county_url(households: int) -> str:
    return f"{POSTGRES_URL}?options=-csearch_path%3Dbench_scale_{households}"


def build_county(url: str, households: int) -> None:
    """The demo county at ``households`` households, committed chunk by chunk (kept)."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from policies.demo import build_demo_county

    schema = url.rsplit("%3D", 1)[1]
    engine = bench_batch.migrated(url)
    with Session(engine) as session:
        found = session.execute(sa.text("SELECT count(*) FROM household")).scalar()
        if found == households:
            return
        if found:
            raise SystemExit(f"schema {schema} holds {found:,} households, not "
                             f"{households:,}: drop it (DROP SCHEMA {schema} CASCADE)")
        print(f"  building {households:,} households in schema {schema} (kept)…",
              file=sys.stderr)
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            session.commit()  # a chunk at a time: nothing huge is left to a last commit
            if done % 500_000 < 20_000:
                print(f"    {done:,} of {total:,} ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr)

        build_demo_county(session, households=households, year=YEAR, progress=progress)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    print(f"  built in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def run(url: str, model_dir: str, night: str, engine_kind: str, workers: int) -> dict:
    from claims import distributed, nightly
    from claims.db import make_engine

    engine = make_engine(url)
    started = time.perf_counter()
    options = {"model_dir": Path(model_dir), "threshold": 0.5, "rise": 0.25,
               "timezone": "Asia/Shanghai", "night": date.fromisoformat(night), "chunk": CHUNK,
               "started_by": "bench"}
    if engine_kind == "dask":
        with distributed.cluster(None, workers=workers) as client:
            started = time.perf_counter()  # the cluster's start-up is not the run's
            result = nightly.score_households(engine, score_ranges=distributed.range_scorer(
                client, engine, Path(model_dir)), **options)
    else:
        result = nightly.score_households(engine, **options)
    return {"seconds": time.perf_counter() - started, "households": result.households,
            "warnings": result.warnings, "worker_peak_mb": result.worker_peak_mb}


def child(kind: str, *args: str) -> dict:
    return bench_batch.child(kind, *args, script=__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "floor":
            found = bench_batch.floor(rest[0], rest[1], rest[2])
        else:
            found = run(rest[0], rest[1], rest[2], kind, int(rest[3]))
        found["peak_mb"] = bench_batch.peak_rss_mb()
        print(json.dumps(found))
        return

    bench_batch.BENCH.mkdir(parents=True, exist_ok=True)
    model_dir = str(bench_batch.ensure_model())
    print(f"PostgreSQL, {os.cpu_count()} cores, chunks of {CHUNK:,} households, Dask local "
          f"cluster of {args.workers} workers x 1 thread")
    results = []
    for households in args.households:
        url = county_url(households)
        build_county(url, households)
        bench_batch.seed_shocks(url)
        bench_batch.reset(url)
        base = child("floor", url, model_dir, bench_batch.NIGHT.isoformat())
        alone = child("process", url, model_dir, "2026-12-01", str(args.workers))
        bench_batch.reset(url)
        spread = child("dask", url, model_dir, "2026-12-01", str(args.workers))
        bench_batch.reset(url)
        print(f"{households:>11,} households: floor {base['seconds']:.1f} s; one process "
              f"{alone['seconds']:.1f} s = {households / alone['seconds']:,.0f}/s "
              f"({alone['peak_mb']:.0f} MB, {alone['seconds'] / base['seconds']:.2f}x floor); "
              f"Dask {spread['seconds']:.1f} s = {households / spread['seconds']:,.0f}/s "
              f"(driver {spread['peak_mb']:.0f} MB, workers {spread['worker_peak_mb']:.0f} MB, "
              f"{spread['seconds'] / base['seconds']:.2f}x floor); "
              f"{alone['warnings']:,} / {spread['warnings']:,} warnings")
        results.append((households, base, alone, spread))
    print("RESULT " + "; ".join(
        f"{n:,} households: one process {n / a['seconds']:,.0f}/s "
        f"({a['seconds']:.0f} s, {a['peak_mb']:.0f} MB, {a['seconds'] / b['seconds']:.2f}x "
        f"floor), Dask {n / d['seconds']:,.0f}/s ({d['seconds']:.0f} s, driver "
        f"{d['peak_mb']:.0f} MB, worker {d['worker_peak_mb']:.0f} MB, "
        f"{d['seconds'] / b['seconds']:.2f}x floor)" for n, b, a, d in results))


if __name__ == "__main__":
    main()
