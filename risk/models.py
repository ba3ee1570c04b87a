"""Risk tables: the nightly scoring runs and their scores; post-payout monitoring windows and
their alerts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from policies.models import utcnow
from policies.types import Money, UtcDateTime
from policies.vocab import Coded


class RunStatus(Coded):
    running = "running"
    complete = "complete"
    abandoned = "abandoned"  # killed or failed half-way; its scores are removed
    failed = "failed"


class ScoreRun(SQLModel, table=True):
    """One scoring of every household (风险评分批次). The current scores are those of the
    latest complete run; a run that did not complete is never current."""

    __tablename__ = "score_run"
    id: int | None = Field(default=None, primary_key=True)
    night: date = Field(index=True, description="the county's date the run belongs to")
    model_version: str = Field(max_length=40)
    as_of_year: int
    status: str = Field(default=RunStatus.running, max_length=16, index=True)
    started_by: str = Field(max_length=32, description="scheduler, command or a user")
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    households: int = 0
    warnings: int = 0
    threshold: float
    rise: float
    drift: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    drift_flag: bool = False
    note: str = Field(default="", max_length=1000)


class HouseholdScore(SQLModel, table=True):
    """A household's probability of falling below the line within the year, in one run."""

    __tablename__ = "household_score"
    # A run's households from the riskiest down: the claims queue's risk order, without
    # sorting a county's scores.
    __table_args__ = (sa.Index("ix_household_score_run_score", "run_id", "score"),)
    run_id: int = Field(foreign_key="score_run.id", primary_key=True)
    household_id: int = Field(foreign_key="household.id", primary_key=True)
    score: float


class MonitoringWindow(SQLModel, table=True):
    """The months after a payout in which a household's income is watched (赔付后监测期);
    a later payout extends the open window. At most one is open per household."""

    __tablename__ = "monitoring_window"
    __table_args__ = (
        sa.Index("ux_monitoring_window_open", "household_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"),
                 postgresql_where=sa.text("status = 'open'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    opened_on: date
    ends_on: date
    status: str = Field(default="open", max_length=16, index=True)
    claim_id: int = Field(foreign_key="claim.id", description="the latest payout's claim")
    before_shock: Decimal | None = Field(
        default=None, sa_type=Money, description="per-capita income of the year before the shock")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class MonitoringAlert(SQLModel, table=True):
    """What a window's household calls for (监测预警), with the figures that raised it. A kind
    is raised once while an alert of it is open."""

    __tablename__ = "monitoring_alert"
    __table_args__ = (
        sa.Index("ux_monitoring_alert_open", "window_id", "kind", unique=True,
                 sqlite_where=sa.text("status = 'open'"),
                 postgresql_where=sa.text("status = 'open'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    window_id: int = Field(foreign_key="monitoring_window.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: str = Field(max_length=32)
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    raised_on: date
    status: str = Field(default="open", max_length=16, index=True)
