#!/usr/bin/env python
"""Benchmark one person's many events: evaluation stays linear and the service keeps answering.

Issue 14 found evaluation growing with the square of one person's events (1,500 events for one
ID number took 307 s) while the evaluator held SQLite's only pooled connection, so /healthz and
intake waited behind it. This starts fangpin (uvicorn, one worker, its evaluator thread on) on
a fresh demo county, measures /healthz with nothing to evaluate (the floor), then sends 1,500
bills of ONE person as three 500-event batches and, while the service evaluates them, polls
/healthz every 20 ms. It prints the evaluation time (from the first batch sent to the last
event evaluated) against the pure calculator's own time over the same 1,500 events (its floor),
and /healthz's max and p99 during the evaluation against the idle floor.

Targets (issue 14): 1,500 events of one person evaluated in under 10 s; /healthz within 100 ms
throughout.

    python scripts/bench_evaluate_person.py [--events 1500] [--engine postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_intake import KEY, drop, event, free_port, prepare, scratch_database, start  # noqa: E402

from claims.db import make_engine  # noqa: E402
from claims.models import PolicyContract, TriggerEvent  # noqa: E402
from policies import benefits, calculator  # noqa: E402
from policies.benefits import EventIn  # noqa: E402


async def healthz(port: int, until: asyncio.Event, every: float = 0.02) -> list[float]:
    """/healthz latencies (s), one request every ``every`` seconds until ``until`` is set."""
    latencies = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        while not until.is_set():
            started = time.perf_counter()
            response = await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"/healthz answered {response.status_code}: {response.text}")
            await asyncio.sleep(every)
    return sorted(latencies)


async def evaluate_one_person(port: int, url: str, bodies: list[dict]) -> tuple[float, list]:
    """Send the bodies as 500-event batches and wait until none is left received; the
    seconds that took and /healthz's latencies meanwhile."""
    done = asyncio.Event()
    probe = asyncio.create_task(healthz(port, done))
    reader = make_engine(url, read_only=True)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                 headers={"Authorization": f"Bearer {KEY}"}) as client:
        for start_at in range(0, len(bodies), 500):
            response = await client.post("/api/events/batch", json=bodies[start_at:start_at + 500])
            if response.status_code != 200 or response.json()["counts"] != {"accepted": len(
                    bodies[start_at:start_at + 500])}:
                raise SystemExit(f"batch {response.status_code}: {response.text[:300]}")
    while True:
        with reader.connect() as connection:
            waiting = connection.execute(sa.select(sa.func.count()).select_from(
                TriggerEvent).where(TriggerEvent.status == "received")).scalar()
        if not waiting:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    done.set()
    reader.dispose()
    return elapsed, await probe


def calculator_floor(url: str) -> float:
    """The pure calculator's time over the person's evaluated events, in one calculation."""
    engine = make_engine(url)
    with Session(engine) as session:
        events = session.exec(select(TriggerEvent).where(TriggerEvent.status == "accepted")
                              .order_by(TriggerEvent.id)).all()
        if not events:
            raise SystemExit("no event was accepted: the person is not covered")
        contract = session.get(PolicyContract, events[0].contract_id)
        terms = benefits.terms_of(benefits.get_terms_version(session,
                                                             contract.terms_version_id))
        snapshot = benefits.household_snapshot(session, events[0].household_id,
                                               policy_year=contract.policy_year,
                                               contract=contract)
        values = [EventIn.model_validate(e.payload).to_event(event_id=f"{e.id:012d}")
                  for e in events]
    engine.dispose()
    started = time.perf_counter()
    calculator.calculate(terms, snapshot, values)
    return time.perf_counter() - started


def ms(values: list[float], share: float) -> float:
    return values[max(0, int(len(values) * share) - 1)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--households", type=int, default=500)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = scratch_database(args.engine, tmp, "fangpin_bench_person")
        try:
            ids = prepare(url, args.households)
            person = ids[0]
            bodies = [event(i, person, "person") for i in range(args.events)]
            env = {**os.environ, "FANGPIN_DATABASE_URL": url, "FANGPIN_LOG_LEVEL": "WARNING",
                   "PYTHONPATH": str(ROOT), "FANGPIN_EVALUATE_EVENTS": "in_process"}
            port, log = free_port(), Path(tmp) / "fangpin.log"
            server = start(["claims.main:app"], env, port, log)
            try:
                quiet_done = asyncio.Event()

                async def quiet() -> list[float]:
                    asyncio.get_running_loop().call_later(3, quiet_done.set)
                    return await healthz(port, quiet_done)

                idle = asyncio.run(quiet())
                elapsed, busy = asyncio.run(evaluate_one_person(port, url, bodies))
            except BaseException:
                print(log.read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                server.terminate()
                server.wait(timeout=60)
            floor = calculator_floor(url)
        finally:
            drop(schema)
    print(f"{args.events:,} events of one person on {args.engine}: evaluated in {elapsed:.1f} s "
          f"(target < 10 s); the calculator alone over all of them once: {floor * 1000:.0f} ms "
          f"({elapsed / floor:.0f}× the floor)")
    print(f"/healthz during the evaluation: max {busy[-1] * 1000:.0f} ms, p99 "
          f"{ms(busy, 0.99):.0f} ms over {len(busy)} requests (target < 100 ms); idle: max "
          f"{idle[-1] * 1000:.0f} ms, p99 {ms(idle, 0.99):.0f} ms")


if __name__ == "__main__":
    main()
