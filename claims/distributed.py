"""The nightly runs on Dask (分布式计算), for when a province outgrows one machine: the same
scoring code as the single-process run, on an existing cluster or a local one.

The driver (the process holding the run's lock) plans the ranges of households and writes
every result in bulk; each worker reads the features of a range from the database itself,
scores it with the model loaded once per worker process, and sends back the scores, the
warnings with their factors and the drift counts. Workers use one thread each for the numeric
libraries, so a cluster's processes do not fight over cores. Monitoring windows are
evaluated on the workers in ranges of windows, each committed by its worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from claims.db import make_engine, url_of

THREAD_LIMITS = {name: "1" for name in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _require():
    try:
        import distributed
    except ImportError:
        raise SystemExit("the Dask engine needs Dask: pip install 'fangpin[dask]'") from None
    return distributed


@contextmanager
def cluster(address: str | None, workers: int = 2):
    """A client of the cluster at ``address``, or of a local cluster of ``workers`` worker
    processes with one thread each, closed afterwards."""
    distributed = _require()
    if address:
        with distributed.Client(address) as client:
            yield client
        return
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, env=THREAD_LIMITS) as local, \
            distributed.Client(local) as client:
        yield client


@contextmanager
def computing(engine_kind: str, address: str | None, workers: int, make):
    """Where a nightly job computes: None for this process, or ``make(client)`` for a Dask
    cluster (the one at ``address``, or a local one of ``workers`` processes)."""
    if engine_kind != "dask":
        yield None
        return
    with cluster(address or None, workers=workers) as client:
        yield make(client)


@cache
def reader(url: str) -> Engine:
    """A worker's (or the nightly run's reading process's) read-only engine, made once per
    process."""
    return make_engine(url, read_only=True, pool_size=1)


def peak_mb() -> float | None:
    """This process's peak resident memory (Linux VmHWM), in MB."""
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _score_range(url: str, model_dir: str, id_range: tuple[int, int], context: dict[str, Any]):
    """On a worker: score a range of households (reads only)."""
    from sqlmodel import Session
    from threadpoolctl import threadpool_limits

    from claims import nightly

    with threadpool_limits(1), Session(reader(url)) as session:
        done = nightly.score_range(session, nightly.saved_model(Path(model_dir)),
                                   id_range=id_range, **context)
        session.rollback()
    done.peak_mb = peak_mb()
    return done


def range_scorer(client, engine: Engine, model_dir: Path, in_flight: int | None = None):
    """A ``score_ranges`` for :func:`claims.nightly.score_households` that scores the ranges
    on the client's workers, a few at a time so the driver's memory stays flat, and yields
    the results as they complete."""
    distributed = _require()
    url = url_of(engine)
    limit = in_flight or 2 * max(1, len(client.scheduler_info()["workers"]))

    def score_ranges(ranges: list[tuple[int, int]], context: dict[str, Any]) -> Iterator:
        pending = iter(ranges)
        shared = client.scatter(context, broadcast=True)
        running = distributed.as_completed([
            client.submit(_score_range, url, str(model_dir), id_range, shared, pure=False)
            for id_range in _take(pending, limit)])
        for future in running:
            yield future.result()
            future.release()
            for id_range in _take(pending, 1):
                running.add(client.submit(_score_range, url, str(model_dir), id_range, shared,
                                          pure=False))

    return score_ranges


def _take(items: Iterator, count: int) -> list:
    return [item for _, item in zip(range(count), items, strict=False)]


def _evaluate_windows(url: str, today: date, id_range: tuple[int, int]) -> dict[str, int]:
    """On a worker: evaluate the open monitoring windows of an id range, and commit."""
    from sqlmodel import Session

    from claims import monitoring

    with Session(_writer(url)) as session:
        counts = monitoring.evaluate(session, today, id_range=id_range)
        session.commit()
    return counts


@cache
def _writer(url: str) -> Engine:
    return make_engine(url, pool_size=1)


def window_evaluator(client, engine: Engine):
    """An ``evaluate_ranges`` for :func:`claims.monitoring.run_monitoring` that evaluates
    ranges of windows on the client's workers and sums what they found."""
    url = url_of(engine)

    def evaluate_ranges(ranges: list[tuple[int, int]], today: date) -> dict[str, int]:
        totals: dict[str, int] = {}
        for counts in client.gather([client.submit(_evaluate_windows, url, today, id_range,
                                                   pure=False) for id_range in ranges]):
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        return totals

    return evaluate_ranges
