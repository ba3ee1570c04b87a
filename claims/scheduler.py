"""The nightly scheduler (APScheduler): the risk scoring run every night at
``FANGPIN_SCORE_TIME`` in the county's time zone.

The job lives in the database (a persistent job store), and a scheduler started within 12
hours after the scoring time runs the night's jobs once at once when the night has no
complete run (a night missed while the machine was off, a run killed midway); never two at a
time. ``fangpin scheduler`` runs it in a process of its own; with
``FANGPIN_SCHEDULER=in_process`` the service runs it in a thread (the embedded default of
./scripts/run). Two schedulers on one database cannot score twice: the run itself holds a
lock and does nothing when the night's run is complete.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from claims import clock, distributed, nightly
from claims.db import get_engine, refresh_statistics
from claims.models import SCHEDULER_JOB_TABLE
from claims.settings import get_settings
from risk.errors import ModelError

log = logging.getLogger(__name__)
SCORING_JOB = "nightly-risk-scoring"
CATCH_UP_JOB = "nightly-catch-up"
GRACE_SECONDS = 12 * 3600


def nightly_scoring() -> None:
    """The nightly job: score every household (unless tonight's run has completed), then
    evaluate the monitoring windows, which read the scores — and run even without a model."""
    settings = get_settings()
    engine, model_dir = get_engine(), Path(settings.model_dir)
    try:
        with _computing(lambda client: distributed.range_scorer(
                client, engine, model_dir)) as score_ranges:
            result = nightly.score_households(
                engine, model_dir=model_dir,
                threshold=settings.risk_threshold, rise=settings.risk_rise,
                timezone=settings.timezone, chunk=settings.score_chunk,
                keep_runs=settings.keep_score_runs, started_by="scheduler",
                score_ranges=score_ranges)
        if result.status == "already":
            log.info("nightly scoring: tonight's run %s had completed; nothing to do",
                     result.run_id)
    except nightly.RunInProgress:
        log.info("nightly scoring: another scheduler's run is under way")
    except ModelError as error:
        log.error("nightly scoring did not run: %s", error)
    except Exception:  # a database or cluster failure: the windows are still evaluated
        log.exception("nightly scoring failed")
    nightly_monitoring()
    anchor_audit()
    try:
        refresh_statistics(engine)
    except Exception:
        log.exception("the planner's statistics were not refreshed")


def _computing(make):
    """Where the settings say the nightly jobs compute (FANGPIN_SCORE_ENGINE,
    FANGPIN_DASK_ADDRESS, FANGPIN_DASK_WORKERS)."""
    settings = get_settings()
    return distributed.computing(settings.score_engine, settings.dask_address,
                                 settings.dask_workers, make)


def nightly_monitoring() -> None:
    """Evaluate the open post-payout monitoring windows (after the scores they read)."""

    from claims import monitoring

    engine = get_engine()
    try:
        with _computing(lambda client: distributed.window_evaluator(client, engine)) as ranges:
            run = monitoring.run_monitoring(engine, clock.county_today(), "scheduler",
                                            evaluate_ranges=ranges)
    except Exception:
        log.exception("monitoring failed; recorded in monitoring_run")
        return
    if run is None:
        log.info("monitoring: another process is evaluating the windows")
    else:
        log.info("monitoring: %(windows)s windows evaluated, %(closed)s closed, %(alerts)s "
                 "new alerts, %(follow_ups)s follow-ups opened, %(proposals)s proposed for "
                 "elimination", run.counts)


def anchor_audit() -> None:
    """Sign the audit chain's head after the night's jobs and write it out (claims.anchors)."""
    from sqlmodel import Session

    from claims import anchors

    try:
        with Session(get_engine()) as session:
            head = anchors.anchor(session, get_settings())
    except anchors.ChainBroken as broken:
        log.error("audit head not signed: %s", broken.message)
    except Exception:
        log.exception("audit head not signed")
    else:
        log.info("audit head signed over %s entries", head.count)


def build(blocking: bool) -> BaseScheduler:
    """A scheduler holding the nightly scoring job (added or updated to the configured
    time)."""
    settings = get_settings()
    hour, minute = (int(part) for part in settings.score_time.split(":"))
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(
        jobstores={"default": SQLAlchemyJobStore(engine=get_engine(),
                                                 tablename=SCHEDULER_JOB_TABLE),
                   "memory": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": GRACE_SECONDS},
        timezone=settings.timezone)
    scheduler.add_job(nightly_scoring, CronTrigger(hour=hour, minute=minute,
                                                   timezone=settings.timezone),
                      id=SCORING_JOB, name="nightly risk scoring", replace_existing=True)
    # Replacing the stored job gives it its next time from now, so a night missed while the
    # machine was off, or a run killed midway, was never made up (an operator's): a start
    # within the grace after the scoring time, with no complete run of the night, runs the
    # night's jobs once now (the run does nothing if another scheduler has completed it).
    now = datetime.now(ZoneInfo(settings.timezone))
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due > now:
        due -= timedelta(days=1)
    if now - due <= timedelta(seconds=GRACE_SECONDS) and not night_complete(
            clock.county_today(settings.timezone)):
        scheduler.add_job(nightly_scoring, "date", run_date=now, id=CATCH_UP_JOB,
                          name="the night's jobs, missed", jobstore="memory")
    return scheduler


def night_complete(night) -> bool:
    """Whether a scoring run of ``night`` has completed (with any model)."""
    from risk.models import RunStatus, ScoreRun

    runs = ScoreRun.__table__.c
    with get_engine().connect() as connection:
        return connection.execute(sa.select(runs.id).where(
            runs.night == night, runs.status == RunStatus.complete).limit(1)).first() is not None
