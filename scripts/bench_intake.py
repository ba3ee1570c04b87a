#!/usr/bin/env python
"""Benchmark event intake under load from a second process.

Starts fangpin (uvicorn, one worker) on a fresh SQLite demo county, and a bare FastAPI
endpoint that validates the same body and stores nothing (the floor), then from this process:
  single — N single-event requests over 64 connections to each server: requests per second
           and p99 latency;
  batch  — batches of 10,000 events to fangpin: events per second.
The last line prints the figures and the ratio of fangpin's single-event throughput to the
floor's (targets: ≥ 50% with p99 < 50 ms; batches ≥ 20,000 events/s on SQLite).

    python scripts/bench_intake.py [--requests 4000] [--households 5000] [--engine postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from claims.auth import SYSTEM  # noqa: E402
from claims.db import make_engine  # noqa: E402
from claims.migrate import upgrade  # noqa: E402
from claims.people import create_client  # noqa: E402
from policies import demo  # noqa: E402
from policies.models import Member  # noqa: E402

CONNECTIONS = 64
KEY = "fpk_bench-department-key"
POSTGRES_URL = os.environ.get(
    "FANGPIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(url: str, households: int) -> list[str]:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        demo.build_demo_county(session, households=households, seed=3)
        create_client(session, SYSTEM, "bench", "medical_insurance", key=KEY)
        session.commit()
        ids = session.exec(select(Member.id_number)).all()
    engine.dispose()
    return ids


def start(args: list[str], env: dict, port: int, log: Path) -> subprocess.Popen:
    """A uvicorn server; its log (errors included) goes to ``log``."""
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"server on {port} did not start: {log.read_text()[-2000:]}")


def event(i: int, id_number: str, prefix: str) -> dict:
    day = date.today() - timedelta(days=1 + i % 200)
    if day.year != date.today().year:
        day = date(date.today().year, 1, 1)
    return {"event_id": f"{prefix}-{i}", "type": "illness", "event_date": day.isoformat(),
            "id_number": id_number,
            "amounts": {"total_cost": f"{3000 + (i * 37) % 60000}.00",
                        "basic_insurance_paid": "1500.00", "critical_illness_paid": "0.00",
                        "medical_assistance_paid": "0.00"},
            "details": {"hospital": "禹州市人民医院"}}


async def single(port: int, bodies: list[dict]) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of one request per body, 64 at a time."""
    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 headers={"Authorization": f"Bearer {KEY}"},
                                 timeout=60) as client:
        async def worker():
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/api/events", json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code not in (200, 202):
                    raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return len(bodies) / elapsed, latencies[int(len(latencies) * 0.99) - 1] * 1000


def batches(port: int, bodies: list[dict], size: int = 10_000) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                      headers={"Authorization": f"Bearer {KEY}"}) as client:
        for start_at in range(0, len(bodies), size):
            response = client.post("/api/events/batch", json=bodies[start_at:start_at + size])
            if response.status_code != 200:
                raise SystemExit(f"batch failed {response.status_code}: {response.text[:300]}")
            counts = response.json()["counts"]
            if counts.get("rejected") or counts.get("conflict"):
                raise SystemExit(f"batch rejected events: {counts}")
    return len(bodies) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--batch-events", type=int, default=20_000)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.engine == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            schema = f"fangpin_bench_{os.getpid()}"
            admin = make_engine(POSTGRES_URL)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        ids = prepare(url, args.households)
        env = {**os.environ, "FANGPIN_DATABASE_URL": url, "FANGPIN_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT), "FANGPIN_EVALUATE_EVENTS": "separately"}
        fangpin_port, floor_port = free_port(), free_port()
        log = Path(tmp) / "fangpin.log"
        servers = [start(["claims.main:app"], env, fangpin_port, log),
                   start(["--app-dir", "scripts", "bench_floor_app:app"], env, floor_port,
                         Path(tmp) / "floor.log")]
        try:
            warm = [event(i, ids[i % len(ids)], "warm") for i in range(200)]
            asyncio.run(single(floor_port, warm))
            asyncio.run(single(fangpin_port, warm))
            bodies = [event(i, ids[(i * 7) % len(ids)], "single")
                      for i in range(args.requests)]
            floor_rps, floor_p99 = asyncio.run(single(floor_port, bodies))
            rps, p99 = asyncio.run(single(fangpin_port, bodies))
            batch_bodies = [event(i, ids[(i * 13) % len(ids)], "batch")
                            for i in range(args.batch_events)]
            batch_rate = batches(fangpin_port, batch_bodies)
        except BaseException:
            print(log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
            if schema:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print(f"floor (bare endpoint): {floor_rps:,.0f} requests/s, p99 {floor_p99:.1f} ms")
    print(f"fangpin single events: {rps:,.0f} requests/s, p99 {p99:.1f} ms")
    print(f"fangpin batches: {batch_rate:,.0f} events/s")
    print(f"intake on {args.engine}: single {rps:,.0f} req/s, p99 {p99:.1f} ms, "
          f"{rps / floor_rps:.0%} of the bare endpoint's {floor_rps:,.0f} req/s (target ≥ 50%, "
          f"p99 < 50 ms); batches {batch_rate:,.0f} events/s (target ≥ 20,000)")


if __name__ == "__main__":
    main()
