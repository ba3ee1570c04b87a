"""The service's tables: users and API clients, the audit trail, trigger events, claims,
early warnings and payments. The registry's tables are imported here too, so this module
holds the whole schema for Alembic and the tests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from policies.models import (  # noqa: F401  (the registry's tables belong to the schema)
    Household,
    IncomeRecord,
    InsuredHousehold,
    Member,
    MonitoringLine,
    NationalStandard,
    PolicyContract,
    Region,
    TermsVersion,
    utcnow,
)
from policies.types import Money, UtcDateTime
from policies.vocab import LABELS, Coded
from risk.models import (  # noqa: F401  (risk's tables, too)
    Assistance,
    Elimination,
    FollowUp,
    HouseholdScore,
    MonitoringAlert,
    MonitoringRun,
    MonitoringWindow,
    ScoreRun,
)


class Role(Coded):
    clerk = "clerk"
    investigator = "investigator"
    adjudicator = "adjudicator"
    supervisor = "supervisor"
    auditor = "auditor"
    admin = "admin"


class Organisation(Coded):
    poverty_office = "poverty_office"
    medical_insurance = "medical_insurance"
    civil_affairs = "civil_affairs"
    disabled_federation = "disabled_federation"
    emergency_management = "emergency_management"
    traffic_police = "traffic_police"
    education = "education"


class EventStatus(Coded):
    received = "received"  # stored; the evaluator takes it moments later
    accepted = "accepted"  # matched to a covered household and evaluated
    not_covered = "not_covered"  # stored, but no policy covers the household that day
    quarantined = "quarantined"  # the ID number matches no member: a clerk corrects it
    failed = "failed"  # its evaluation raised an error (in the log); a clerk replays it
    same_loss = "same_loss"  # a loss already reported (same_loss_of): linked, never paid again


class ClaimState(Coded):
    opened = "opened"
    investigating = "investigating"
    village_review = "village_review"
    public_notice = "public_notice"
    approval = "approval"
    payment_pending = "payment_pending"
    paid = "paid"
    rejected = "rejected"
    withdrawn = "withdrawn"
    reopened = "reopened"


FINAL_STATES = (ClaimState.paid, ClaimState.rejected, ClaimState.withdrawn)


def claim_closed(column: str = "state") -> str:
    """"The claim is closed" as literal SQL. The queue lists open claims first through an index
    on this expression, and a database uses such an index only for the same expression written
    out: a query that binds the states as parameters would sort a million claims."""
    return f"{column} IN ({', '.join(repr(str(s)) for s in FINAL_STATES)})"


class PaymentState(Coded):
    pending = "pending"
    exported = "exported"
    paid = "paid"
    failed = "failed"
    returned = "returned"  # paid, then sent back by the bank (退汇)


LABELS_ZH = {
    "Role": {"clerk": "扶贫办业务员", "investigator": "查勘员", "adjudicator": "理赔审核员",
             "supervisor": "理赔主管", "auditor": "审计", "admin": "管理员"},
    "Organisation": {
        "poverty_office": "乡村振兴局", "medical_insurance": "医保局", "civil_affairs": "民政局",
        "disabled_federation": "残联", "emergency_management": "应急管理局",
        "traffic_police": "交警", "education": "教育局"},
    "EventStatus": {"received": "已接收", "accepted": "已受理", "not_covered": "不在保障范围",
                    "quarantined": "待核实", "failed": "评估失败",
                    "same_loss": "同一损失已报"},
    "ClaimState": {
        "opened": "已立案", "investigating": "入户调查", "village_review": "民主评议",
        "public_notice": "公示", "approval": "审批", "payment_pending": "待支付",
        "paid": "已赔付", "rejected": "拒赔", "withdrawn": "撤案", "reopened": "重开"},
    "PaymentState": {"pending": "待导出", "exported": "已导出", "paid": "已支付",
                     "failed": "支付失败", "returned": "已退汇"},
    "WarningStatus": {"open": "待处置", "closed": "已处置"},
}


LABELS.update(LABELS_ZH)

CODE = sa.String(24)
# APScheduler creates and keeps its own job table (claims.scheduler); the schema leaves it out.
SCHEDULER_JOB_TABLE = "scheduler_job"


class AppUser(SQLModel, table=True):
    """A member of staff: insurer or poverty office. Signs in to the web workspace with a
    password (Argon2 hash) and calls the API with a personal token."""

    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=64)
    role: str = Field(sa_type=CODE)
    approval_limit: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    id_number: str | None = Field(default=None, max_length=18, description="so that nobody "
                                  "approves a payment to their own household")
    token_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    townships: list[int] | None = Field(default=None, sa_type=sa.JSON,
                                        description="the townships the user works in; none: all")
    may_reveal: bool = Field(default=False, description="may show names and ID numbers in full")
    may_export: bool = Field(default=False, description="may list many members with their "
                             "full ID numbers, phones and bank accounts")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser (登录会话): the cookie holds a random key, the table its hash."""

    __tablename__ = "web_session"
    key_hash: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_seen: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins of one user name, or from one client address, whether or not such a
    user exists (so the answer never tells), and until when further tries are refused."""

    __tablename__ = "login_throttle"
    key: str = Field(max_length=96, primary_key=True, description="name:<user> or ip:<addr>")
    failures: int = 0
    blocked_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_failure: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class ApiClient(SQLModel, table=True):
    """A submitting organisation's key: it may submit events and read their status."""

    __tablename__ = "api_client"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    organisation: str = Field(sa_type=CODE)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    active: bool = True
    # The event types this key may send; None: its department's (claims.remit.DEFAULT_REMIT).
    event_types: list[str] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AuditEntry(SQLModel, table=True):
    """An append-only record of a change, chained to the previous entry by its hash."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        # The auditor's search, newest first: the whole trail by time, or one person's, or
        # one kind of record's (claims.trail); millions of entries are never sorted.
        sa.Index("ix_audit_entry_at", "at", "id"),
        sa.Index("ix_audit_entry_actor_at", "actor", "at", "id"),
        sa.Index("ix_audit_entry_entity_at", "entity", "at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UtcDateTime)
    actor: str = Field(max_length=96)
    entity: str = Field(max_length=32, index=True)
    entity_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=48)
    reason: str = Field(default="", sa_type=sa.Text)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class TriggerEvent(SQLModel, table=True):
    """A shock reported by a department (预警信息), stored exactly once per source id."""

    __tablename__ = "trigger_event"
    __table_args__ = (
        sa.UniqueConstraint("client_id", "source_event_id"),
        # the evaluator's queue, oldest first: only the events still waiting
        sa.Index("ix_trigger_event_waiting", "id",
                 sqlite_where=sa.text("status = 'received'"),
                 postgresql_where=sa.text("status = 'received'")),
        # a household's accepted events, which the evaluator reads for each chunk's
        # households: with the household alone, SQLite's planner took the status index and
        # read every accepted event of the county
        sa.Index("ix_trigger_event_household_status", "household_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_client.id", index=True)
    source_event_id: str = Field(max_length=64)
    payload_hash: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_type=sa.JSON)
    type: str = Field(max_length=32)
    id_number: str | None = Field(default=None, max_length=18, index=True)
    event_date: date
    status: str = Field(sa_type=CODE, index=True)
    reason: str = Field(default="", max_length=255)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    household_id: int | None = Field(default=None, foreign_key="household.id")
    contract_id: int | None = Field(default=None, foreign_key="policy_contract.id")
    claim_id: int | None = Field(default=None, foreign_key="claim.id", index=True)
    payout: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    warning: bool = False
    same_loss_of: int | None = Field(default=None, foreign_key="trigger_event.id")
    catastrophe_id: int | None = Field(default=None, foreign_key="catastrophe.id", index=True,
                                       description="the declared catastrophe the loss belongs "
                                       "to (claims.catastrophes.tag)")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Claim(SQLModel, table=True):
    """A household's claim for one trigger in one policy year (理赔案件)."""

    __tablename__ = "claim"
    __table_args__ = (
        sa.UniqueConstraint("household_id", "trigger", "policy_year"),
        # The claims queue's filters and sorts: its first page is read from an index, not by
        # sorting a million claims.
        sa.Index("ix_claim_state_due", "state", "due_date", "id"),
        sa.Index("ix_claim_closed_due", sa.text(f"({claim_closed()})"), "due_date", "id"),
        sa.Index("ix_claim_state_entitled", "state", "entitled"),
        sa.Index("ix_claim_trigger_closed_due", "trigger", sa.text(f"({claim_closed()})"),
                 "due_date", "id"),
        sa.Index("ix_claim_entitled", "entitled"),
        sa.Index("ix_claim_opened_at", "opened_at"),
        sa.Index("ix_claim_state_opened", "state", "opened_at"),
        # "My work": an investigator's and an adjudicator's claims in due-date order.
        sa.Index("ix_claim_investigator_state", "investigator_id", "state", "due_date", "id"),
        sa.Index("ix_claim_adjudicator_due", "adjudicator_id", "due_date", "id"),
        # A supervisor's second approvals: the few approval claims with a first approver.
        sa.Index("ix_claim_second_approval", "state", "first_approver_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    claim_number: str = Field(max_length=32, unique=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    contract_id: int = Field(foreign_key="policy_contract.id", index=True)
    terms_version_id: int = Field(foreign_key="terms_version.id")
    trigger: str = Field(max_length=32, index=True)
    policy_year: int
    source: str = Field(max_length=16, description="event or application (申报)")
    application_reason: str = Field(default="", sa_type=sa.Text)
    state: str = Field(sa_type=CODE, index=True)
    entitled: Decimal = Field(sa_type=Money, description="the year's entitlement so far")
    approved_amount: Decimal = Field(default=Decimal("0.00"), sa_type=Money)
    paid_amount: Decimal = Field(default=Decimal("0.00"), sa_type=Money)
    calculation: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    investigator_id: int | None = Field(default=None, foreign_key="app_user.id")
    adjudicator_id: int | None = Field(default=None, foreign_key="app_user.id",
                                       description="the adjudicator who owns the claim's "
                                       "decision (claims.assignment); none: not assigned")
    first_approver_id: int | None = Field(default=None, foreign_key="app_user.id")
    rejection_code: str | None = Field(default=None, max_length=32)
    rejection_text: str = Field(default="", sa_type=sa.Text)
    due_date: date | None = Field(default=None, index=True)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ClaimRecord(SQLModel, table=True):
    """What a step of the claim recorded: survey, review, notice, objection, approval."""

    __tablename__ = "claim_record"
    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    kind: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class EarlyWarning(SQLModel, table=True):
    """A household the office should look at before it qualifies (预警): raised by an event
    that came close to the terms, or by the nightly risk score. A household has at most one
    open risk warning: a new one is raised only after the office closes the last."""

    __tablename__ = "early_warning"
    __table_args__ = (
        sa.Index("ux_early_warning_open_risk", "household_id", unique=True,
                 sqlite_where=sa.text("source = 'risk' AND status = 'open'"),
                 postgresql_where=sa.text("source = 'risk' AND status = 'open'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    trigger: str = Field(max_length=32, description=(
        "the event type, or risk_high/risk_spending/risk_rise"))
    source: str = Field(max_length=16, description="event or risk")
    event_id: int | None = Field(default=None, foreign_key="trigger_event.id")
    run_id: int | None = Field(default=None, foreign_key="score_run.id", index=True)
    score: float | None = Field(default=None, description="the risk score that raised it")
    previous_score: float | None = Field(default=None, description="the score a run before")
    factors: list[dict[str, Any]] | None = Field(default=None, sa_type=sa.JSON)
    text: str = Field(max_length=255)
    status: str = Field(default="open", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    closed_by: int | None = Field(default=None, foreign_key="app_user.id")
    outcome: str = Field(default="", max_length=500, description="what the office did")


class PaymentBatch(SQLModel, table=True):
    """Approved claims gathered for one bank file (赔付批次)."""

    __tablename__ = "payment_batch"
    id: int | None = Field(default=None, primary_key=True)
    batch_number: str = Field(max_length=32, unique=True)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Payment(SQLModel, table=True):
    """One transfer to a household's bank account; at most one under way per claim."""

    __tablename__ = "payment"
    __table_args__ = (
        sa.Index("ux_payment_claim_under_way", "claim_id", unique=True,
                 sqlite_where=sa.text("state IN ('pending', 'exported')"),
                 postgresql_where=sa.text("state IN ('pending', 'exported')")),
    )
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payment_batch.id", index=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    amount: Decimal = Field(sa_type=Money)
    bank_name: str | None = Field(default=None, max_length=64)
    bank_account: str | None = Field(default=None, max_length=32)
    account_holder: str | None = Field(default=None, max_length=64)
    state: str = Field(sa_type=CODE, index=True)
    failure_reason: str = Field(default="", max_length=255)
    bank_reference: str = Field(default="", max_length=64)
    paid_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Catastrophe(SQLModel, table=True):
    """A declared catastrophe (巨灾/灾害事件): a flood or an earthquake over some townships or
    villages between two dates, whose loss reports are handled as one event."""

    __tablename__ = "catastrophe"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    kind: str = Field(sa_type=CODE, description="a DisasterKind")
    reference: str | None = Field(default=None, max_length=64, unique=True, description=(
        "the emergency management department's reference; its events may name it"))
    regions: list[int] = Field(sa_type=sa.JSON, description="the regions declared affected "
                               "(county, townships or villages)")
    start_date: date
    end_date: date | None = Field(default=None, description="none: still going on")
    status: str = Field(default="open", sa_type=CODE, description="open or closed")
    declared_by: int | None = Field(default=None, foreign_key="app_user.id")
    declared_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class CatastropheVillage(SQLModel, table=True):
    """A village inside a catastrophe's declared regions: what tagging joins on."""

    __tablename__ = "catastrophe_village"
    catastrophe_id: int = Field(foreign_key="catastrophe.id", primary_key=True)
    village_id: int = Field(foreign_key="region.id", primary_key=True, index=True)


from claims.documents.models import Document  # noqa: E402,F401  (documents belong to the schema)
