"""The nightly scheduler (APScheduler): the risk scoring run every night at
``FANGPIN_SCORE_TIME`` in the county's time zone.

Jobs live in the database (a persistent job store), so a night missed while the machine was
off runs once when it is back (missed runs are coalesced, within a grace of 12 hours), and
never two at a time. ``fangpin scheduler`` runs it in a process of its own; with
``FANGPIN_SCHEDULER=in_process`` the service runs it in a thread (the embedded default of
./scripts/run). Two schedulers on one database cannot score twice: the run itself holds a
lock and does nothing when the night's run is complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

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
                                                 tablename=SCHEDULER_JOB_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": GRACE_SECONDS},
        timezone=settings.timezone)
    scheduler.add_job(nightly_scoring, CronTrigger(hour=hour, minute=minute,
                                                   timezone=settings.timezone),
                      id=SCORING_JOB, name="nightly risk scoring", replace_existing=True)
    return scheduler
