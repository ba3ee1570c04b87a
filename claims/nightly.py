"""The nightly risk scoring run (夜间风险评分): every active household scored with the current
model in chunks, the scores stored per run, early warnings raised with their factors, and the
run recorded. The scheduler and ``fangpin score`` both run :func:`score_households`.

A run holds a lock for its whole length (one run at a time across processes) and commits
chunk by chunk, so memory stays flat as the county grows. Until it completes, the current
scores are the previous complete run's. A run that fails removes its scores and the warnings
it raised that are still open (closed ones stay: the office acted on them) and records why; a
run that was killed is marked abandoned by the next, which does the same and starts afresh.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from threadpoolctl import threadpool_limits

from claims import clock
from claims import warnings as warning_service
from claims.db import run_lock, url_of
from claims.distributed import peak_mb, reader
from claims.models import EarlyWarning
from policies.bulk import insert_columns, read_frame
from policies.errors import DomainError, InvalidInput
from policies.models import Household, utcnow
from risk import features, model, scoring
from risk.models import HouseholdScore, RunStatus, ScoreRun

log = logging.getLogger(__name__)
SCORING_LOCK = 3  # the PostgreSQL advisory lock of a scoring run (audit 1, evaluator 2)
runs = ScoreRun.__table__
scores_table = HouseholdScore.__table__
warnings_table = EarlyWarning.__table__


class RunInProgress(DomainError):
    status_code = 409


@dataclass
class RunResult:
    run_id: int
    status: str  # complete, or already: tonight's run with this model had completed
    households: int = 0
    warnings: int = 0
    seconds: float = 0.0
    drift: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    worker_peak_mb: float | None = None  # the peak of the reading process or Dask workers


_saved: dict[str, tuple[tuple[str | None, int | None], model.TrainedModel]] = {}


def saved_model(model_dir: Path) -> model.TrainedModel:
    """The model in force (risk.model.load_in_force: the version the pointer names, or a model
    saved flat before versions), loaded once a process and again when it changes."""
    version = model.in_force(model_dir)
    path = (model_dir if version is None else model_dir / "versions" / version) / "model.skops"
    stamp = (version, path.stat().st_mtime_ns if path.is_file() else None)
    key = str(model_dir.resolve())
    if stamp[1] is None or key not in _saved or _saved[key][0] != stamp:
        _saved[key] = (stamp, model.load_in_force(model_dir))
    return _saved[key][1]


def current_run(session: Session, model_version: str | None = None,
                before: date | None = None) -> ScoreRun | None:
    """The run whose scores are current: the complete one of the latest night (of a model
    version; of a night ``before`` a date). By night, not by when it ran: a past night
    scored again is history, not tonight's scores."""
    query = select(ScoreRun).where(ScoreRun.status == RunStatus.complete)
    if model_version is not None:
        query = query.where(ScoreRun.model_version == model_version)
    if before is not None:
        query = query.where(ScoreRun.night < before)
    return session.exec(query.order_by(ScoreRun.night.desc(), ScoreRun.id.desc())
                        .limit(1)).first()


@dataclass
class CurrentScore:
    """A household's score in the current run (none: not scored), with its population: the
    caseload (below the line, monitored) is scored for information, never warned."""

    run: ScoreRun | None
    score: float | None = None
    population: str | None = None


def current_score(session: Session, household_id: int) -> CurrentScore:
    run = current_run(session)
    if run is None:
        return CurrentScore(None)
    found = session.execute(sa.select(scores_table.c.score, scores_table.c.population).where(
        scores_table.c.run_id == run.id, scores_table.c.household_id == household_id)).first()
    return CurrentScore(run, *found) if found else CurrentScore(run)


def score_households(
    engine: Engine, *, model_dir: Path, threshold: float, rise: float, timezone: str,
    night: date | None = None, chunk: int = 50_000,
    keep_runs: int = 7, started_by: str = "command",
    progress: Callable[[int, int], None] | None = None,
    score_ranges: ScoreRanges | None = None,
) -> RunResult:
    """Score every household active on the night, with its features as of the night,
    unless tonight's run with this model completed already (then nothing changes).
    ``progress(done, total)`` follows the chunks.
    ``score_ranges`` scores the ranges elsewhere (claims.distributed: on Dask workers) and
    yields their results in any order; by default this process scores them one by one."""
    today = clock.county_today(timezone)
    if night is not None and not date(2000, 1, 1) <= night <= today:
        # a night to come would raise warnings from features no one knows yet, and become
        # the current run every page and the next night compare against
        raise InvalidInput(f"the night {night} is not between 2000-01-01 and today ({today}): "
                           "a run scores a night that has come", field="night", value=night)
    trained = saved_model(model_dir)
    version = model.model_version(trained.metadata)
    night = night or today
    with run_lock(engine, "scoring", SCORING_LOCK) as held:
        if not held:
            raise RunInProgress("another scoring run is in progress; it will complete the "
                                "night's scores")
        with Session(engine) as session:
            _abandon_unfinished(session)
            done = session.execute(sa.select(runs.c.id).where(
                runs.c.night == night, runs.c.model_version == version,
                runs.c.status == RunStatus.complete)).scalar()
            if done is not None:
                session.commit()
                return RunResult(done, "already")
            # A rise is measured against the same model: a new model's scores differ from
            # the old one's without anything having happened to the household.
            previous = current_run(session, version, before=night)
            # A past night scored again (a missed night filled in) is history: the office is
            # not warned today of what was known then.
            past = session.execute(sa.select(runs.c.id).where(
                runs.c.status == RunStatus.complete, runs.c.night > night).limit(1)
            ).scalar() is not None
            run = ScoreRun(night=night, model_version=version, as_of_year=night.year,
                           started_by=started_by, threshold=threshold, rise=rise)
            session.add(run)
            session.commit()
            run_id = run.id
            try:
                return _score(session, trained, run, previous.id if previous else None,
                              chunk=chunk, keep_runs=keep_runs, progress=progress,
                              score_ranges=score_ranges, warn=not past)
            except BaseException as error:  # a failed run is never current; Ctrl-C too
                session.rollback()
                try:
                    _discard(session, [run_id], RunStatus.failed,
                             f"{type(error).__name__}: {error}"[:1000])
                    session.commit()
                except Exception:  # the database itself failed: the next run cleans up
                    log.exception("could not record scoring run %s as failed", run_id)
                raise


@dataclass
class RangeScores:
    """What scoring a range of households gives its run: the scores with each household's
    population, the warnings to raise (with their factors) and the drift counts;
    ``peak_mb`` is the peak memory of another process that worked on it (a distributed
    engine's worker, or the reading process)."""

    scores: pd.Series
    populations: pd.Series
    warnings: pd.DataFrame
    tally: model.DriftTally
    peak_mb: float | None = None


ScoreRanges = Callable[[list[tuple[int, int]], dict[str, Any]], Iterator[RangeScores]]


@dataclass
class RangeInputs:
    """What scoring a range of households reads: their features as of the night, their
    scores of the previous run, and those with an open risk warning already."""

    frame: pd.DataFrame
    previous: pd.Series
    open_warnings: pd.Index
    peak_mb: float | None = None  # of the process that read them, when not this one


def read_range(session: Session, *, id_range: tuple[int, int], as_of: date, lines: dict,
               previous_run: int | None) -> RangeInputs:
    """Read what scoring the households of an id range active on ``as_of`` needs."""
    return RangeInputs(features.build(session, as_of, id_range=id_range, lines=lines),
                       _previous_scores(session, previous_run, id_range),
                       _open_warnings(session, id_range))


def judge_range(trained: model.TrainedModel, inputs: RangeInputs, *, as_of: date,
                threshold: float, rise: float) -> RangeScores:
    """Apply the pure :func:`risk.scoring.score_chunk` to a range's inputs; tally drift."""
    done = scoring.score_chunk(trained, inputs.frame, inputs.previous, inputs.open_warnings,
                               threshold=threshold, rise=rise)
    tally = model.DriftTally(trained, as_of=as_of)
    tally.add(inputs.frame, done.scores.to_numpy())
    return RangeScores(done.scores, done.populations, done.warnings, tally)


def score_range(session: Session, trained: model.TrainedModel, *, id_range: tuple[int, int],
                as_of: date, lines: dict, previous_run: int | None, threshold: float,
                rise: float) -> RangeScores:
    """Score the households of an id range active on ``as_of`` (reads only)."""
    return judge_range(trained, read_range(session, id_range=id_range, as_of=as_of,
                                           lines=lines, previous_run=previous_run),
                       as_of=as_of, threshold=threshold, rise=rise)


def _end_with(parent: int) -> None:
    """End the reading process soon after the run's: a run killed outright (the power, the
    OOM killer) does not tell its pool, and the reader would wait for work for ever."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _start_reading(parent: int) -> None:
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()


def _read_ahead(url: str, id_range: tuple[int, int], reading: dict[str, Any]) -> RangeInputs:
    """In the reading process: a range's inputs, and the process's peak memory so far."""
    with Session(reader(url)) as session:
        try:
            inputs = read_range(session, id_range=id_range, **reading)
        finally:
            session.rollback()  # a read transaction held on would pin SQLite's WAL
    inputs.peak_mb = peak_mb()
    return inputs


def _score_here(session: Session, trained: model.TrainedModel, ranges: list[tuple[int, int]],
                context: dict[str, Any]) -> Iterator[RangeScores]:
    """Score the ranges on this machine. With more than one range, each is read one range
    ahead by a reading process of its own while this process scores the range before: the
    database's aggregation and the building of the features, about half of a night's work,
    run on the other core and outside this interpreter's lock (a thread of this process
    overlapped them with the explanations poorly). The booster keeps to one thread
    meanwhile: two OpenMP threads of it waited for each other at every step while the
    reader held a core."""
    reading = {name: context[name] for name in ("as_of", "lines", "previous_run")}
    judging = {name: context[name] for name in ("as_of", "threshold", "rise")}
    if len(ranges) <= 1:  # nothing to overlap
        for id_range in ranges:
            yield judge_range(trained, read_range(session, id_range=id_range, **reading),
                              **judging)
        return
    url = url_of(session.get_bind())
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_reading, initargs=(os.getpid(),)) as pool, \
            threadpool_limits(1):
        ahead = pool.submit(_read_ahead, url, ranges[0], reading)
        for following in [*ranges[1:], None]:
            inputs = ahead.result()
            ahead = pool.submit(_read_ahead, url, following, reading) if following else None
            done = judge_range(trained, inputs, **judging)
            done.peak_mb = inputs.peak_mb
            yield done


def household_ranges(session: Session, chunk: int) -> list[tuple[int, int]]:
    """Id ranges of ``chunk`` households each, from one pass over the ids (a server-side
    cursor on PostgreSQL, so a province's ids are never all in memory). Every household
    counts: which were active is the night's registry's say (risk.features.build)."""
    homes = Household.__table__
    result = session.connection().execute(
        sa.select(homes.c.id).order_by(homes.c.id)
        .execution_options(stream_results=True))
    ranges, after = [], 0
    for part in result.partitions(chunk):
        ranges.append((after + 1, part[-1][0]))
        after = part[-1][0]
    return ranges


def _score(session: Session, trained: model.TrainedModel, run: ScoreRun,
           previous_run: int | None, *, chunk: int, keep_runs: int,
           progress: Callable[[int, int], None] | None,
           score_ranges: ScoreRanges | None, warn: bool = True) -> RunResult:
    started = time.perf_counter()
    run_id, night, threshold, rise = run.id, run.night, run.threshold, run.rise
    open_scores(session, run_id)
    ranges = household_ranges(session, chunk)
    total = session.execute(sa.select(sa.func.count()).select_from(Household.__table__).where(
        Household.__table__.c.status == "active")).scalar()
    lines = features.feature_lines(session, night)
    note = _line_note(session, night.year, lines[night.year])
    context = {"as_of": night, "lines": lines, "previous_run": previous_run,
               "threshold": threshold, "rise": rise}
    if score_ranges is None:
        results = _score_here(session, trained, ranges, context)
    else:
        results = score_ranges(ranges, context)
    tally = model.DriftTally(trained, as_of=night)
    scored = raised = 0
    peaks: list[float] = []
    for done in results:
        tally.merge(done.tally)
        scores = done.scores
        insert_columns(session, scores_table, {
            "run_id": [run_id] * len(scores), "household_id": scores.index.tolist(),
            "score": scores.to_numpy().tolist(),
            "population": done.populations.reindex(scores.index).tolist()})
        if warn:
            _raise_warnings(session, run_id, threshold, done.warnings)
            raised += len(done.warnings)
            populations = done.populations.reindex(scores.index)
            warning_service.close_caseload(
                session, populations.index[populations != "at_risk"].tolist())
        scored += len(scores)
        if done.peak_mb is not None:
            peaks.append(done.peak_mb)
        session.execute(runs.update().where(runs.c.id == run_id).values(
            households=scored, warnings=raised))
        session.commit()
        if progress:
            progress(scored, total)
    drift = tally.result()
    session.execute(runs.update().where(runs.c.id == run_id).values(
        status=RunStatus.complete, finished_at=utcnow(), households=scored, warnings=raised,
        drift=drift, drift_flag=drift["flag"], note=note))
    _prune(session, keep_runs)
    session.commit()
    seconds = time.perf_counter() - started
    log.info("scoring run %s complete: %s households, %s warnings, %.1f s%s", run_id, scored,
             raised, seconds, "; drift flagged" if drift["flag"] else "")
    return RunResult(run_id, RunStatus.complete, scored, raised, seconds, drift, note,
                     worker_peak_mb=max(peaks) if peaks else None)


def _previous_scores(session: Session, previous_run: int | None, id_range: tuple[int, int]
                     ) -> pd.Series:
    if previous_run is None:
        return pd.Series(dtype=float)
    rows = read_frame(session.connection(), sa.select(
        scores_table.c.household_id, scores_table.c.score).where(
        scores_table.c.run_id == previous_run,
        scores_table.c.household_id.between(*id_range)))
    return rows.set_index("household_id")["score"].astype(float)


def _open_warnings(session: Session, id_range: tuple[int, int]) -> pd.Index:
    """Households of the range with an open risk warning (the office is on them)."""
    return pd.Index(session.execute(sa.select(warnings_table.c.household_id).where(
        warnings_table.c.source == "risk", warnings_table.c.status == "open",
        warnings_table.c.household_id.between(*id_range))).scalars().all())


def _raise_warnings(session: Session, run_id: int, threshold: float, warned: pd.DataFrame
                    ) -> None:
    if warned.empty:
        return
    previous_scores = [None if np.isnan(p) else round(float(p), 4)
                       for p in warned["previous_score"]]
    now = utcnow()
    insert_columns(session, warnings_table, {
        "household_id": warned.index.tolist(),
        "trigger": warned["trigger"].tolist(),
        "source": ["risk"] * len(warned),
        "run_id": [run_id] * len(warned),
        "score": warned["score"].round(4).tolist(),
        "previous_score": previous_scores,
        "factors": warned["factors"].tolist(),
        "text": [scoring.warning_text(t, s, p, threshold, left) for t, s, p, left in zip(
            warned["trigger"], warned["score"], previous_scores, warned["left"],
            strict=True)],
        "status": ["open"] * len(warned),
        "created_at": [now] * len(warned),
        "outcome": [""] * len(warned),
    })


def _abandon_unfinished(session: Session) -> None:
    """Runs still marked running were killed (the caller holds the lock): discard them."""
    unfinished = session.execute(sa.select(runs.c.id).where(
        runs.c.status == RunStatus.running)).scalars().all()
    if unfinished:
        log.warning("scoring runs %s did not finish; their scores are discarded", unfinished)
        _discard(session, unfinished, RunStatus.abandoned,
                 "did not finish (the process was stopped); a later run replaced it")


def _discard(session: Session, run_ids: list[int], status: str, note: str) -> None:
    """Remove what unfinished runs wrote and record why they ended."""
    drop_scores(session, run_ids)
    session.execute(warnings_table.delete().where(warnings_table.c.run_id.in_(run_ids),
                                                  warnings_table.c.status == "open"))
    session.execute(runs.update().where(runs.c.id.in_(run_ids)).values(
        status=status, finished_at=utcnow(), note=note))


def _prune(session: Session, keep_runs: int) -> None:
    """Keep the scores of the complete runs of the latest ``keep_runs`` nights; older runs
    keep their record (and their warnings), not their scores."""
    old = session.execute(sa.select(runs.c.id).where(runs.c.status == RunStatus.complete)
                          .order_by(runs.c.night.desc(), runs.c.id.desc())
                          .offset(keep_runs)).scalars().all()
    if old:
        drop_scores(session, old)


def open_scores(session: Session, run_id: int) -> None:
    """On PostgreSQL a run's scores go into a partition of their own (migration 0010)."""
    if session.connection().dialect.name == "postgresql":
        session.execute(sa.text(f"CREATE TABLE IF NOT EXISTS household_score_r{int(run_id)} "
                                f"PARTITION OF household_score FOR VALUES IN ({int(run_id)})"))
        session.commit()


def drop_scores(session: Session, run_ids: list[int]) -> None:
    """Let runs' scores go: their partitions dropped on PostgreSQL, their rows deleted on
    SQLite."""
    if session.connection().dialect.name == "postgresql":
        for run_id in run_ids:
            session.execute(sa.text(f"DROP TABLE IF EXISTS household_score_r{int(run_id)}"))
    else:
        session.execute(scores_table.delete().where(scores_table.c.run_id.in_(run_ids)))


def _line_note(session: Session, as_of_year: int, used: dict[int, float]) -> str:
    """Say so when the year's monitoring line is not yet published somewhere."""
    missing = len(used) - len(features.lines_by_village(session, as_of_year))
    if missing:
        return (f"{missing} village(s) have no monitoring line for {as_of_year} yet; their "
                "latest earlier line was used")
    return ""
