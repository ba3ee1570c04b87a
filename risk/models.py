"""Risk tables: the nightly scoring runs and their scores; post-payout monitoring windows, their
alerts, follow-ups with the assistance given, and risk eliminations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from policies.models import utcnow
from policies.types import Money, UtcDateTime
from policies.vocab import LABELS, Coded


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
    population: str = Field(
        default="at_risk", max_length=16, sa_column_kwargs={"server_default": "at_risk"},
        description="at_risk: can newly fall (ranked, warned); below_line or monitored: "
                    "the office's caseload; no_members: nobody left in it "
                    "(risk.features.population)")


SHOCK_IMPORTED = "imported"  # Shock.source of a shock from a county's history file


class Shock(SQLModel, table=True):
    """A shock to a household as the risk model knows it (风险事件台账): an illness, a
    disability, a disaster, an accident, schooling costs, a lost job … on the day it
    happened and the day it became known, with the household's own burden (what it pays
    or loses after the payments of others; risk.shocks.burden). Written by the claims
    engine for every trigger event matched to a household, by the simulator for its
    households, and by an import of a county's history, so one feature code reads all."""

    __tablename__ = "shock"
    __table_args__ = (sa.Index("ix_shock_household_known", "household_id", "known_on"),
                      # what the evaluator asks before recording an event (exactly once)
                      sa.Index("ix_shock_reference", "reference", "source"))
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    member_id: int | None = Field(default=None, foreign_key="member.id")
    kind: str = Field(max_length=32, description="the trigger event type")
    occurred_on: date
    known_on: date = Field(description="the county's date it was recorded")
    burden: Decimal = Field(sa_type=Money, description="the household's own cost or loss")
    disability_grade: int | None = None
    source: str = Field(max_length=16, description="event, simulated or imported")
    reference: str = Field(default="", max_length=64, description="e.g. the trigger event")


class MonitoringWindow(SQLModel, table=True):
    """The months after a payout in which a household's income is watched (赔付后监测期);
    a later payout extends the open window. At most one is open per household; it ends
    closed (its months are over) or eliminated (风险消除 confirmed)."""

    __tablename__ = "monitoring_window"
    __table_args__ = (
        sa.Index("ux_monitoring_window_open", "household_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"),
                 postgresql_where=sa.text("status = 'open'")),
        # what an alert's or a follow-up's key names: the window with its household
        sa.Index("ux_monitoring_window_household", "id", "household_id", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    opened_on: date
    ends_on: date
    status: str = Field(default="open", max_length=16, index=True)
    claim_id: int = Field(foreign_key="claim.id", description="the latest payout's claim")
    before_shock: Decimal | None = Field(
        default=None, sa_type=Money, description="per-capita income of the year before the shock")
    identified_on: date = Field(description="the day the risk was identified: the claim opened")
    rules: dict[str, Any] | None = Field(
        default=None, sa_type=sa.JSON, description="the terms' [monitoring] section in force")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# An alert's or a follow-up's window and household, checked as one key against the window:
# the household is the window's (two keys checked the window and the household apart, and
# the household's row-by-row check was a seventh of the monitoring night at a million windows).
def _of_window(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["window_id", "household_id"],
                                   ["monitoring_window.id", "monitoring_window.household_id"],
                                   name=f"fk_{table}_window_id_monitoring_window")


class MonitoringAlert(SQLModel, table=True):
    """What a window's household calls for (监测预警), with the figures that raised it. A kind
    is raised once while an alert of it is open."""

    __tablename__ = "monitoring_alert"
    __table_args__ = (
        sa.Index("ux_monitoring_alert_open", "window_id", "kind", unique=True,
                 sqlite_where=sa.text("status = 'open'"),
                 postgresql_where=sa.text("status = 'open'")),
        _of_window("monitoring_alert"),
    )
    id: int | None = Field(default=None, primary_key=True)
    window_id: int = Field(index=True)
    household_id: int = Field(index=True)
    kind: str = Field(max_length=32)
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    raised_on: date
    status: str = Field(default="open", max_length=16, index=True)
    follow_up_id: int | None = Field(default=None, foreign_key="follow_up.id", index=True)


class MonitoringRun(SQLModel, table=True):
    """One evaluation of the open monitoring windows (监测评估批次): by the nightly job after
    the scores, or by the command; with what it found."""

    __tablename__ = "monitoring_run"
    id: int | None = Field(default=None, primary_key=True)
    night: date = Field(index=True, description="the county's date it evaluated for")
    started_by: str = Field(max_length=32, description="scheduler, command or a user")
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    status: str = Field(default=RunStatus.running, max_length=16)
    counts: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    note: str = Field(default="", max_length=1000)


class FollowUp(SQLModel, table=True):
    """The office's case for a household an alert was raised for (跟踪帮扶): a helper
    (帮扶责任人), the assistance given, and an outcome without which it does not close — nor
    do its alerts. At most one is open per window; later alerts join it."""

    __tablename__ = "follow_up"
    __table_args__ = (
        sa.Index("ux_follow_up_open", "window_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"),
                 postgresql_where=sa.text("status = 'open'")),
        _of_window("follow_up"),
    )
    id: int | None = Field(default=None, primary_key=True)
    window_id: int = Field(index=True)
    household_id: int = Field(index=True)
    opened_on: date
    helper: str = Field(default="", max_length=64, description="who visits and helps")
    status: str = Field(default="open", max_length=16, index=True)
    outcome: str | None = Field(default=None, max_length=24)
    outcome_note: str = Field(default="", max_length=500)
    closed_on: date | None = None
    closed_by: str = Field(default="", max_length=96)


class Assistance(SQLModel, table=True):
    """One measure given in a follow-up (帮扶措施): employment, industry support, medical
    assistance, education aid, a further claim."""

    __tablename__ = "assistance"
    id: int | None = Field(default=None, primary_key=True)
    follow_up_id: int = Field(foreign_key="follow_up.id", index=True)
    kind: str = Field(max_length=24)
    description: str = Field(max_length=500)
    amount: Decimal | None = Field(default=None, sa_type=Money)
    given_on: date
    reference: str = Field(default="", max_length=64, description="e.g. the further claim")
    recorded_by: str = Field(max_length=96)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Elimination(SQLModel, table=True):
    """Risk elimination (风险消除): proposed by the nightly run or started by the office,
    then confirmed with its way and date, or declined. The record stays. At most one
    proposal is pending per household."""

    __tablename__ = "elimination"
    __table_args__ = (
        sa.Index("ux_elimination_proposed", "household_id", unique=True,
                 sqlite_where=sa.text("status = 'proposed'"),
                 postgresql_where=sa.text("status = 'proposed'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    window_id: int = Field(foreign_key="monitoring_window.id", index=True)
    status: str = Field(default="proposed", max_length=16, index=True)
    proposed_on: date | None = Field(default=None, description="none: the office started it")
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    way: str | None = Field(default=None, max_length=16, description="assistance or natural")
    eliminated_on: date | None = None
    flags: list[str] = Field(default_factory=list, sa_type=sa.JSON,
                             description="the national data-quality flags to review")
    decided_by: str = Field(default="", max_length=96)
    decided_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    note: str = Field(default="", max_length=500)


class EliminationStep(SQLModel, table=True):
    """A step of risk elimination before the office decides (DOMAIN.md §7): the home check
    (入户核实), the village review (民主评议), the notice (公示) and objections to it."""

    __tablename__ = "elimination_step"
    id: int | None = Field(default=None, primary_key=True)
    elimination_id: int = Field(foreign_key="elimination.id", index=True)
    kind: str = Field(max_length=24)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    actor: str = Field(max_length=96)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


LABELS.update({
    "AlertKind": {"below_line": "收入低于监测线", "income_drop": "收入较冲击前大幅下降",
                  "score_rise": "返贫风险评分骤升", "new_shock": "监测期内新的风险事件",
                  "report_overdue": "收入报告逾期"},
    "AssistanceKind": {"employment": "就业帮扶", "industry": "产业帮扶",
                       "medical_assistance": "医疗救助", "education_aid": "教育资助",
                       "further_claim": "再次理赔", "other": "其他帮扶"},
    "FollowUpOutcome": {"recovered": "收入恢复", "assisted": "帮扶后稳定",
                        "referred": "转介其他保障(低保等)",
                        "not_applicable": "不再适用(迁出或注销)"},
    "EliminationWay": {"assistance": "帮扶消除", "natural": "自然消除"},
    "EliminationStatus": {"proposed": "待确认", "confirmed": "已确认消除", "declined": "未通过",
                          "lapsed": "已失效(新的赔付)"},
    "AlertFigure": {"income": "人均纯收入", "income_without_payout": "不含赔款人均纯收入",
                    "line": "监测线", "before_shock": "冲击前一年人均纯收入",
                    "drop_share": "下降幅度阈值", "score": "风险评分", "score_before": "上次评分",
                    "due": "应报日期"},
    "AlertStatus": {"open": "未结", "closed": "已结"},
    "WindowStatus": {"open": "监测中", "closed": "监测期满", "eliminated": "风险已消除"},
    "Outcome": {"above": "线上", "above_only_with_payout": "仅计赔款线上", "fell_back": "线下",
                "eliminated": "风险消除", "no_report": "无收入报告", "not_yet": "未到期"},
})
