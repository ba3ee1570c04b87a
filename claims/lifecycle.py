"""The claim lifecycle (理赔流程): one function performs every transition, checks that it is
legal for the state, the role and the four-eyes rules, records what the step needs, sets the
next due date and writes the audit trail.

opened → investigating (入户调查) → village_review (民主评议) → public_notice (公示) → approval
(审批) → payment_pending → paid; rejected or withdrawn from any open state; a paid claim is
reopened when new bills raise the year's entitlement, and pays only the supplement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlmodel import Session, select

from claims import audit, clock, locks, masking
from claims.auth import Actor, Forbidden
from claims.models import (
    AppUser,
    AuditEntry,
    Claim,
    ClaimRecord,
    ClaimState,
    Household,
    Member,
    Region,
    Role,
    TriggerEvent,
    utcnow,
)
from claims.settings import get_settings
from policies import registry
from policies.errors import Conflict, InvalidInput
from policies.models import ContractStatus, PolicyContract, Yuan
from policies.types import Day, MultilineText, Text

S = ClaimState
OPEN_STATES = {S.opened, S.investigating, S.village_review, S.public_notice, S.approval,
               S.reopened}
ADJUDICATORS = {Role.adjudicator, Role.supervisor}
REJECTION_CODES = {
    "not_covered": "the household or the shock is not covered",
    "not_eligible": "the household does not meet the eligibility conditions",
    "below_deductible": "the loss is not above the deductible",
    "duplicate": "the same loss was already claimed",
    "false_information": "the information given was false",
    "village_review": "the village review did not agree",
    "other": "other (see the text)",
}
# Days each state may last before the claim is overdue; payment counts working days.
DEFAULT_SERVICE_LEVELS = {
    S.opened: 3, S.reopened: 3, S.investigating: 10, S.village_review: 7,
    S.approval: 5, S.payment_pending: 5,
}
WORKING_DAY_STATES = {S.payment_pending}


class InvalidTransition(Conflict):
    """The action is not allowed in the claim's state."""


# ---------------------------------------------------------------- what each step records


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


# An entry of a list a step records (a representative, a document, an asset checked): an
# empty one records nothing, and a village's whole review must not rest on it.
# Each with a limit: a hostile tester's 100,000-character team member and 200,000-character
# rejection went into the claim's records, the audit chain, its pages and printed notices.
Entry = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
Finding = Annotated[MultilineText, StringConstraints(min_length=1, max_length=2000)]
Person = Annotated[Text, StringConstraints(max_length=64)]  # a name, as a member's is
Note = Annotated[MultilineText, StringConstraints(max_length=2000)]
Account = Annotated[MultilineText, StringConstraints(max_length=10_000)]  # a survey's findings


class StartInvestigation(Step):
    investigator_id: int | None = Field(
        default=None, description="an active investigator working in the household's "
        "township (see eligible_investigators); default: the caller, when one. An "
        "adjudicator or supervisor who starts the investigation becomes the claim's "
        "adjudicator when it has none")


class Location(Step):
    """Where the browser said the survey was recorded (WGS 84, as navigator.geolocation
    reports it)."""

    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy: float = Field(ge=0, le=100_000, allow_inf_nan=False,
                            description="metres, the browser's radius of 95% confidence")


def loss_date(session: Session, claim: Claim) -> date:
    """The day the claim's loss began: its earliest event's date, or the county's date it
    was opened (a claim opened by hand). No survey visits a household before it."""
    first = session.exec(select(sa.func.min(TriggerEvent.event_date)).where(
        TriggerEvent.claim_id == claim.id)).one()
    return first or clock.county_date(claim.opened_at)


class Survey(Step):
    visit_date: Day
    team: list[Person] = Field(min_length=2, max_length=20,
                               description="at least two people visited")
    findings: Account = Field(min_length=1)
    asset_check: dict[Entry, Finding] = Field(
        min_length=1, description="cross-check results: bank deposits, vehicles, housing …")
    documents: list[Entry] = Field(default_factory=list, max_length=100)
    location: Location | None = Field(default=None, description=(
        "optional: the browser's location when the survey was recorded"))

    @field_validator("team")
    @classmethod
    def _distinct(cls, team: list[str]) -> list[str]:
        names = [n.strip() for n in team if n.strip()]
        if len(set(names)) < 2:
            raise ValueError("a field survey needs a team of at least two different people")
        return names


class Review(Step):
    outcome: str = Field(pattern="^(agree|disagree)$")
    representatives: list[Entry] = Field(min_length=1, max_length=100)
    notes: Note = ""

    @field_validator("representatives")
    @classmethod
    def _once_each(cls, names: list[str]) -> list[str]:
        # a meeting's record naming one person twice is no record of who met (a hostile
        # tester's 甲, 甲 was taken)
        names = [n.strip() for n in names]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each representative once: {', '.join(twice)} named twice")
        return names


class NoticeStart(Step):
    start_date: Day | None = Field(default=None, description=(
        "default: the day of the review or of the last objection (the county's date)"))


class Objection(Step):
    text: Note = Field(min_length=1)
    upheld: bool


class CloseNotice(Step):
    pass


class Approve(Step):
    amount: Yuan = Field(gt=0)
    note: Note = ""


class Reject(Step):
    code: str
    text: Note = ""

    @field_validator("code")
    @classmethod
    def _known(cls, code: str) -> str:
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}; use one of "
                             f"{', '.join(REJECTION_CODES)}")
        return code


class Withdraw(Step):
    reason: Note = Field(min_length=1)


class SystemStep(Step):
    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[str]
    roles: frozenset[str]  # empty: only the system performs it
    form: type[Step]


ACTIONS = {a.name: a for a in (
    Action("start_investigation", frozenset({S.opened, S.reopened}),
           frozenset({Role.investigator, *ADJUDICATORS}), StartInvestigation),
    Action("submit_survey", frozenset({S.investigating}), frozenset({Role.investigator}), Survey),
    Action("record_review", frozenset({S.village_review}), frozenset({Role.clerk, *ADJUDICATORS}),
           Review),
    Action("start_notice", frozenset({S.public_notice}), frozenset({Role.clerk, *ADJUDICATORS}),
           NoticeStart),
    Action("record_objection", frozenset({S.public_notice}),
           frozenset({Role.clerk, *ADJUDICATORS}), Objection),
    Action("close_notice", frozenset({S.public_notice}), frozenset({Role.clerk, *ADJUDICATORS}),
           CloseNotice),
    Action("approve", frozenset({S.approval}), frozenset(ADJUDICATORS), Approve),
    Action("reject", frozenset(OPEN_STATES), frozenset(ADJUDICATORS), Reject),
    Action("withdraw", frozenset(OPEN_STATES), frozenset({Role.clerk, *ADJUDICATORS}), Withdraw),
    Action("mark_paid", frozenset({S.payment_pending}), frozenset(), SystemStep),
    Action("reopen", frozenset({S.paid}), frozenset(), SystemStep),
    # a rejected or withdrawn claim too: one that had been paid, reopened by a bill and its
    # supplement refused still owes what was approved and paid before (a hostile tester's
    # returned 50,000 was never paid again)
    Action("payment_returned", frozenset({S.paid, S.rejected, S.withdrawn}), frozenset(),
           SystemStep),
    Action("notice_again", frozenset({S.approval}), frozenset(), SystemStep),
    Action("reconsider", frozenset({S.rejected, S.withdrawn}), frozenset({Role.supervisor}),
           Withdraw),
)}


def service_levels() -> dict[str, int]:
    return {**DEFAULT_SERVICE_LEVELS, **get_settings().service_level_days}


def due_after(start: date, days: int, working: bool) -> date:
    """The due date ``days`` after ``start``; working days skip Saturdays and Sundays."""
    if not working:
        return start + timedelta(days=days)
    current, left = start, days
    while left:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def snapshot(claim: Claim) -> dict[str, Any]:
    return {"state": claim.state, "entitled": claim.entitled,
            "approved_amount": claim.approved_amount, "paid_amount": claim.paid_amount,
            "due_date": claim.due_date}


def refuse_future_visit(visit_date: date, today: date) -> None:
    """A survey's visit is one that took place."""
    if visit_date > today:
        raise InvalidInput(f"visit_date {visit_date} is in the future", field="visit_date",
                           value=visit_date, code="future_visit")


def parse_step(action: Action, data: dict[str, Any] | None) -> Step:
    try:
        return action.form.model_validate(data or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or action.name
        value = error.get("input")
        needs = ", ".join(f for f, info in action.form.model_fields.items() if info.is_required())
        why = error['msg'].removeprefix('Value error, ')
        raise InvalidInput(f"{field}: {why} ({action.name} needs: {needs or 'nothing'})",
                           field=field, value=None if isinstance(value, dict | list) else value,
                           code="form", values={"field": field, "kind": error["type"],
                                                "why": why}) from None


def transition(
    session: Session, claim: Claim, action_name: str, actor: Actor, *,
    data: dict[str, Any] | None = None, reason: str = "", today: date | None = None,
    notice_days: int = 7, before: dict[str, Any] | None = None,
) -> Claim:
    """Perform one action on a claim, or refuse it (409 illegal in this state, 403 not this
    person's to do, 422 bad data); flushes. ``before``: the claim's snapshot before what
    brought the step about (a payment's amount, a bill's entitlement), for the trail."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise InvalidInput(f"unknown action {action_name!r}; actions: {', '.join(ACTIONS)}",
                           field="action", value=action_name, code="unknown_action")
    if action.roles:
        # Administrators manage users and terms; they take no claim steps (four eyes).
        if actor.kind != "user" or actor.role not in action.roles:
            raise Forbidden(f"{action_name} is for: {', '.join(sorted(action.roles))}",
                            field="role", value=actor.role, code="role_step",
                            values={"action": action_name, "roles": sorted(action.roles)})
    elif actor.kind != "system":
        raise Forbidden(f"{action_name} happens only through payments and new events",
                        field="action", value=action_name, code="not_by_hand",
                        values={"action": action_name})
    # Every step holds its claim, read fresh when first locked: a step taken at the same
    # moment by someone else is seen here, never overwritten.
    locks.claims(session, [claim.id])
    if claim.state not in action.sources:
        raise InvalidTransition(
            f"claim {claim.claim_number} is {claim.state}; {action_name} needs it to be "
            f"{' or '.join(sorted(action.sources))}", field="state", value=claim.state,
            code="wrong_state", values={"state": claim.state, "action": action_name,
                                        "needs": sorted(action.sources)})
    if actor.kind == "user" and action_name != "approve" and of_household(
            session, session.get(AppUser, actor.id), claim):
        # nobody takes a step of their own family's claim (a re-tester's adjudicator started
        # the investigation of one, became its adjudicator and rejected it); an approval
        # says so among its bars (approval_bar)
        raise Forbidden("nobody takes a step on a claim of their own household",
                        field="actor", value=actor.name, code="own_household")
    step = parse_step(action, data)
    today = today or clock.county_today()
    before = before or snapshot(claim)
    new_state = _apply(session, claim, action_name, step, actor, today, notice_days)
    claim.state = new_state
    claim.updated_at = utcnow()
    if new_state != before["state"]:
        claim.due_date = due_date_for(new_state, today, notice_days)
    session.add(ClaimRecord(claim_id=claim.id, kind=action_name,
                            data=audit.jsonable(step.model_dump()), actor_id=actor.id
                            if actor.kind == "user" else None))
    if new_state == S.public_notice and action_name in ("start_notice", "record_objection"):
        # due the day it may be closed: from the start date chosen, or again from an
        # objection not upheld (the due date had stayed the review's, and a notice still
        # running was listed overdue)
        session.flush()
        claim.due_date = notice_start(session, claim, recorded=True) + timedelta(
            days=notice_days)
    audit.record(session, actor, "claim", claim.claim_number, action_name,
                 reason=reason or _reason_of(step), before=before, after=snapshot(claim))
    session.flush()
    return claim


def _reason_of(step: Step) -> str:
    for name in ("text", "reason", "note", "findings", "notes"):
        value = getattr(step, name, "")
        if value:
            return str(value)
    return ""


def due_date_for(state: str, today: date, notice_days: int) -> date | None:
    """When a claim entering ``state`` today is due to leave it."""
    if state == S.public_notice:  # the day it may be closed, as from start_notice
        return today + timedelta(days=notice_days)
    days = service_levels().get(state)
    if days is None:
        return None
    return due_after(today, days, state in WORKING_DAY_STATES)


def _apply(session, claim, name, step, actor, today, notice_days) -> str:
    if name == "start_investigation":
        chosen = step.investigator_id or (actor.id if actor.role == Role.investigator
                                          else None)
        if chosen is None:
            raise InvalidInput("choose the investigator (investigator_id): only an "
                               "investigator carries out the survey, and whoever investigates "
                               "a claim may not approve it", field="investigator_id",
                               code="choose_investigator")
        if of_household(session, session.get(AppUser, chosen), claim):
            raise InvalidInput(f"user {chosen} is a member of the claim's household",
                               field="investigator_id", value=chosen, code="own_household")
        if chosen not in {u.id for u in eligible_investigators(session, claim)}:
            raise InvalidInput(f"user {chosen} may not investigate this claim: an investigator "
                               "is an active user with the role investigator working in the "
                               "household's township", field="investigator_id", value=chosen,
                               code="not_an_investigator")
        # Who sends the investigator owns the decision, when nobody does yet.
        adjudicator = claim.adjudicator_id or (actor.id if actor.role in ADJUDICATORS
                                               else None)
        if _same_person(session, chosen, adjudicator):
            raise InvalidInput(f"user {chosen} is this claim's adjudicator, who may not "
                               "investigate it", field="investigator_id", value=chosen,
                               code="adjudicator_investigates")
        claim.investigator_id, claim.adjudicator_id = chosen, adjudicator
        return S.investigating
    if name == "submit_survey":
        # the survey is the sent investigator's: another's would put a second person's
        # visit on the claim, unseen by the four-eyes rules (a hostile tester's did)
        if claim.investigator_id is not None and actor.id != claim.investigator_id:
            sent = session.get(AppUser, claim.investigator_id)
            raise Forbidden(f"the survey of claim {claim.claim_number} is for the investigator "
                            f"sent, {sent.full_name if sent else claim.investigator_id}",
                            field="investigator_id", value=actor.name,
                            code="not_the_investigator",
                            values={"name": sent.full_name if sent else ""})
        refuse_future_visit(step.visit_date, today)
        earliest = loss_date(session, claim)
        if step.visit_date < earliest:
            raise InvalidInput(f"visit_date {step.visit_date} is before the loss ({earliest})",
                               field="visit_date", value=step.visit_date,
                               code="visit_before_loss", values={"earliest": earliest})
        return S.village_review
    if name == "record_review":
        if step.outcome == "disagree":
            claim.rejection_code, claim.rejection_text = "village_review", step.notes
            claim.approved_amount, claim.first_approver_id = claim.paid_amount, None
            return S.rejected
        return S.public_notice
    if name == "start_notice":
        if step.start_date is not None:
            earliest = notice_start(session, claim)
            # A notice already running is not moved back: started again from an earlier
            # day, it could be closed at once (a hostile tester closed one the day it began).
            running = notice_start(session, claim, recorded=True)
            if running > earliest and step.start_date < running:
                raise InvalidInput(f"start_date {step.start_date} is before the start of the "
                                   f"notice already running ({running})", field="start_date",
                                   value=step.start_date, code="notice_running_since",
                                   values={"start": running})
            if not earliest <= step.start_date <= today:
                raise InvalidInput(f"start_date {step.start_date} must fall between the day "
                                   f"of the review ({earliest}) and today",
                                   field="start_date", value=step.start_date,
                                   code="notice_start", values={"earliest": earliest})
        return S.public_notice
    if name == "record_objection":
        return S.investigating if step.upheld else S.public_notice
    if name == "close_notice":
        started = notice_start(session, claim, recorded=True)
        ends = started + timedelta(days=notice_days)
        if today < ends:
            raise InvalidTransition(f"the public notice runs {notice_days} days from {started}:"
                                    f" it can be closed from {ends}", field="state",
                                    value=claim.state, code="notice_running", values={
                                        "days": notice_days, "start": started, "end": ends})
        return S.approval
    if name == "approve":
        return _approve(session, claim, step, actor)
    if name in ("reject", "withdraw"):
        if claim.first_approver_id is not None:  # this round's first approval lapses
            claim.approved_amount, claim.first_approver_id = claim.paid_amount, None
            claim.calculation = {key: value for key, value in (claim.calculation or {}).items()
                                 if key != ROUND_CUT}
        if claim.approved_amount > 0:
            # An earlier round was approved: what is refused is this round's supplement, cut
            # with its reason, which the payout notice gives. The claim stays paid (a
            # tester's reopened claim read 拒赔 with 4,500 paid, its payout notice refused,
            # and a withdrawn supplement left 5,000 unexplained on it); an earlier payment
            # the bank sent back while it was reopened is still owed (a tester's returned
            # 30,000 was lost when the supplement was then rejected).
            why = (step.text if name == "reject" else step.reason).strip()
            if not why:
                raise InvalidInput("say in the text why the supplement is refused: the "
                                   "household's payout notice gives it", field="text",
                                   code="refusal_reason")
            refused = max(claim.entitled - claim.approved_amount - earlier_cut(claim),
                          Decimal("0.00"))
            claim.calculation = {**(claim.calculation or {}),
                                 CUT: str(earlier_cut(claim) + refused),
                                 **({REDUCTION: why} if refused else {})}
            return S.payment_pending if claim.approved_amount > claim.paid_amount else S.paid
        if name == "withdraw":
            return S.withdrawn
        claim.rejection_code, claim.rejection_text = step.code, step.text
        return S.rejected
    if name == "reconsider":
        _refuse_settled(session, claim)
        claim.rejection_code, claim.rejection_text = None, ""
        return S.reopened
    if name == "mark_paid":
        return S.paid
    if name == "payment_returned":  # the bank sent the money back: it is owed again
        # (a refused supplement's reason stays on the trail; the claim is no longer refused)
        claim.rejection_code, claim.rejection_text = None, ""
        return S.payment_pending
    if name == "notice_again":  # a new amount before any approval: the village sees it
        return S.public_notice
    if name == "reopen":
        claim.first_approver_id = None
        return S.reopened
    raise AssertionError(name)


def notice_start(session: Session, claim: Claim, *, recorded: bool = False) -> date:
    """The day of the last review or objection; with ``recorded``, the start date that
    start_notice set since then, if any."""
    records = session.exec(
        select(ClaimRecord).where(ClaimRecord.claim_id == claim.id,
                                  ClaimRecord.kind.in_(["start_notice", "record_review",
                                                        "record_objection"]))
        .order_by(ClaimRecord.id.desc())
    ).all()
    for record in records:
        if recorded and record.kind == "start_notice" and record.data.get("start_date"):
            return date.fromisoformat(record.data["start_date"])
        if record.kind in ("record_review", "record_objection"):  # on the county's calendar
            return clock.county_date(record.created_at)
    return clock.county_today()


def eligible_investigators(session: Session, claim: Claim) -> list[AppUser]:
    """Who may be sent to investigate a claim (入户调查): active investigators whose
    townships include the household's (or who work county-wide), not of the household, by
    name."""
    township = session.exec(select(Region.parent_id).join(
        Household, Household.village_id == Region.id).where(
        Household.id == claim.household_id)).one()
    return [user for user in session.exec(select(AppUser).where(
        AppUser.role == Role.investigator, AppUser.active).order_by(AppUser.full_name,
                                                                    AppUser.id)).all()
            if (user.townships is None or township in user.townships)
            and not of_household(session, user, claim)]


def of_household(session: Session, user: AppUser | None, claim: Claim) -> bool:
    """Whether the staff user is a member of the claim's household (by the ID number the
    account carries): nobody investigates, decides or approves their own family's claim."""
    return user is not None and bool(user.id_number) and session.exec(
        select(Member.id).where(Member.household_id == claim.household_id,
                                Member.id_number == user.id_number)).first() is not None


def people_who_investigated(session: Session, claim: Claim) -> set[int]:
    """Everyone sent to investigate this claim or who carried out a survey of it (who
    chose the investigator did not investigate; before the choice was recorded, whoever
    started the investigation was the investigator)."""
    people = {claim.investigator_id}
    for kind, actor_id, data in session.exec(select(
            ClaimRecord.kind, ClaimRecord.actor_id, ClaimRecord.data).where(
            ClaimRecord.claim_id == claim.id,
            ClaimRecord.kind.in_(["start_investigation", "submit_survey"]))).all():
        chosen = (data or {}).get("investigator_id") if kind == "start_investigation" else None
        people.add(chosen or actor_id)
    return {p for p in people if p is not None}


def _same_person(session: Session, a: int | None, b: int | None) -> bool:
    """Two accounts are the same person when they are one account or share an ID number."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    first, second = session.get(AppUser, a), session.get(AppUser, b)
    return bool(first and second and first.id_number and first.id_number == second.id_number)


# Why the four-eyes rules (四眼原则) keep a person from approving a claim, whatever the amount.
APPROVAL_BARS = {
    "investigated": "nobody approves a claim they investigated",
    "own_household": "nobody approves a payment to their own household",
    "first_approver": "the second approval must come from another person",
    "second_by_supervisor": "the first approval is given: the second is a supervisor's",
}


def approval_bar(session: Session, claim: Claim, actor: Actor) -> str | None:
    """The key of APPROVAL_BARS that forbids this person to approve this claim, or None:
    the one check of the API, the page's form and its hint."""
    if any(_same_person(session, actor.id, other)
           for other in people_who_investigated(session, claim)):
        return "investigated"
    if of_household(session, session.get(AppUser, actor.id) if actor.id is not None else None,
                    claim):
        return "own_household"
    if claim.first_approver_id is not None:
        if _same_person(session, claim.first_approver_id, actor.id):
            return "first_approver"
        if actor.role != Role.supervisor:
            return "second_by_supervisor"
    return None


# In SQL: a claim whose first approval waits for a supervisor's second, and what the claim
# is approved for so far (a first approval is not yet one: the dashboard's approved total
# had counted first approvals nobody could confirm).
SECOND_APPROVAL_PENDING = sa.and_(Claim.state == S.approval, Claim.first_approver_id.is_not(None))
APPROVED = sa.case((SECOND_APPROVAL_PENDING, Claim.paid_amount), else_=Claim.approved_amount)


REDUCTION = "reduction_reason"  # in a claim's calculation: why less than is due was approved
# ... and how much less, over the rounds paid or under way (text); an approval still waiting
# for its second approver keeps its cut apart, in force once the approval is.
CUT, ROUND_CUT = "cut", "round_cut"


def earlier_cut(claim: Claim) -> Decimal:
    """What approvals of earlier rounds cut from the amount due, in force: a claim reopened
    by a new bill proposes the bill's supplement, not the cut again (the whole remaining due
    had been approved without a word, silently undoing the cut: a tester's)."""
    return Decimal((claim.calculation or {}).get(CUT, "0.00"))


def net_due(claim: Claim) -> Decimal:
    """The amount due less the cuts of earlier rounds: what an approval proposes."""
    return max(claim.entitled - claim.paid_amount - earlier_cut(claim), Decimal("0.00"))


def proposed_amount(claim: Claim) -> Decimal:
    """What an approval proposes: the amount due less earlier rounds' cuts, or at a second
    approval what the first approver approved (a supervisor approving many at once
    confirmed the whole amount due, above an adjudicator's partial approval, without
    seeing it)."""
    if claim.first_approver_id is not None and claim.approved_amount > claim.paid_amount:
        return claim.approved_amount - claim.paid_amount
    return net_due(claim)


def _refuse_settled(session: Session, claim: Claim) -> None:
    """A settled contract's fund is closed: money approved now would be paid outside the
    settlement, and a claim reconsidered could never be approved (a re-tester's)."""
    contract = session.get(PolicyContract, claim.contract_id)
    if contract is not None and contract.status == ContractStatus.closed:
        raise Conflict(f"the contract {contract.contract_number} was settled: its claims are "
                       "no longer approved", field="contract", value=contract.contract_number,
                       code="contract_closed", values={"contract": contract.contract_number})


def _approve(session: Session, claim: Claim, step: Approve, actor: Actor) -> str:
    _refuse_settled(session, claim)
    due = claim.entitled - claim.paid_amount
    if step.amount > due:
        raise InvalidInput(f"amount {step.amount} is more than the {due} due "
                           f"(entitled {claim.entitled}, already paid {claim.paid_amount})",
                           field="amount", value=step.amount, code="above_due", values={
                               "amount": step.amount, "due": due, "entitled": claim.entitled,
                               "paid": claim.paid_amount})
    bar = approval_bar(session, claim, actor)
    if bar is not None:
        raise Forbidden(APPROVAL_BARS[bar], field="role" if bar == "second_by_supervisor"
                        else "actor", value=actor.role if bar == "second_by_supervisor"
                        else actor.name)
    if claim.first_approver_id is not None and \
            claim.paid_amount + step.amount > claim.approved_amount:
        # Four eyes on one amount: a supervisor's single approval had confirmed 6,000 as
        # 90,000, and a bill that came after the notice had been approved unseen by the
        # village (a hostile tester's). What grew waits: the claim reopens for it once paid.
        first = claim.approved_amount - claim.paid_amount
        raise InvalidInput(f"amount {step.amount} is more than the first approval's {first}: "
                           "a second approval confirms that amount or less",
                           field="amount", value=step.amount, code="above_first_approval",
                           values={"amount": step.amount, "first": first})
    first = claim.approved_amount - claim.paid_amount if claim.first_approver_id else None
    confirming = step.amount == first
    net = net_due(claim)
    if not confirming:
        # Less than the terms give: the household is told why (a second approver had cut
        # 10,000 to 9,000 without a word, and the notice said nothing: a tester's); more
        # gives back an earlier round's cut; less than a first approval overrules it: each
        # is said too. A second approval confirming the first's amount decides nothing new
        # (a bill that came after the first waits for its own round).
        if not step.note.strip():
            if step.amount < net:
                raise InvalidInput(f"approving {step.amount} of the {net} due: say in the "
                                   "note why less is paid", field="note", value=step.amount,
                                   code="reduction_reason",
                                   values={"amount": step.amount, "due": net})
            if step.amount > net:
                raise InvalidInput(f"approving {step.amount} gives back {step.amount - net} "
                                   f"an earlier approval cut ({net} is due after it): say in "
                                   "the note why", field="note", value=step.amount,
                                   code="cut_given_back", values={
                                       "amount": step.amount, "due": net,
                                       "cut": step.amount - net})
            if first is not None and step.amount < first:
                # (a supervisor's 11,000 had overruled, unsaid, the first approver's 12,000
                # that gave a cut back with a note: a tester's)
                raise InvalidInput(f"approving {step.amount}, less than the first "
                                   f"approval's {first}: say in the note why", field="note",
                                   value=step.amount, code="overrules_first",
                                   values={"amount": step.amount, "first": first})
        calculation = {**(claim.calculation or {}), ROUND_CUT: str(net - step.amount)}
        if step.amount < net:
            # the reason of this cut, which the payout notice gives: not the note of whoever
            # confirms it later ("批量通过" had replaced "自费药品不予赔付": a re-tester's)
            calculation[REDUCTION] = step.note.strip()
        claim.calculation = calculation
    from claims.documents import requirements  # documents import this module's models

    lacking = requirements.missing(session, claim)
    if lacking:
        raise InvalidTransition(
            f"the documents the terms require are missing: {', '.join(lacking)}; add them, "
            "or a supervisor waives each with a reason", field="documents",
            value=", ".join(lacking), code="documents_missing", values={"missing": lacking})
    # Limits apply to everything the claim will have been approved for, so a claim cannot
    # be split into rounds that each fit under a limit.
    total = claim.paid_amount + step.amount
    limit = actor.approval_limit
    supervisor = actor.role == Role.supervisor
    # A supervisor without a limit may approve any amount; an adjudicator without one, none.
    within_limit = (limit is None or total <= limit) if supervisor else (
        limit is not None and total <= limit)
    if not within_limit:  # a second approval is a supervisor's (approval_bar)
        if supervisor:
            raise Forbidden(f"a total of {total} is above your approval limit {limit}",
                            field="amount", value=step.amount, code="above_limit",
                            values={"total": total, "limit": limit})
        claim.first_approver_id = actor.id
        claim.approved_amount = total
        return S.approval  # waits for a supervisor (四眼原则)
    claim.approved_amount = total
    calculation = dict(claim.calculation or {})
    cut = earlier_cut(claim) + Decimal(calculation.pop(ROUND_CUT, "0.00"))
    claim.calculation = {**calculation, CUT: str(max(cut, Decimal("0.00")))}
    return S.payment_pending


# --- a claim as its readers see it ------------------------------------------------------------
# What staff type (a rejection's explanation, a survey's findings, a reason) may name a person
# by ID number; every reader gets it masked (masking.TYPED).


def texts(claim: Claim) -> dict[str, str]:
    """What staff typed into the claim, as every reader sees it: any ID number masked."""
    return masking.typed(claim)


def view(claim: Claim) -> dict[str, Any]:
    """A claim's fields as the API gives them (without the calculation), typed text masked,
    with what an approval proposes now and what approvals cut (a client had to work them
    out from the calculation: a tester's)."""
    return audit.jsonable({**{k: v for k, v in registry.fields_of(claim).items()
                              if k != "calculation"}, **texts(claim),
                           "proposed": proposed_amount(claim), "cut": earlier_cut(claim)})


@dataclass(frozen=True)
class Record:
    """What a step recorded, as its readers see it."""

    id: int
    claim_id: int
    kind: str
    data: dict[str, Any]
    actor_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    """An entry of the claim's audit trail, as its readers see it."""

    at: datetime
    actor: str
    action: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def records(session: Session, claim: Claim) -> list[Record]:
    """The claim's step records in order, any ID number in what staff typed masked."""
    return [Record(r.id, r.claim_id, r.kind, masking.typed(r)["data"], r.actor_id, r.created_at)
            for r in session.exec(select(ClaimRecord).where(ClaimRecord.claim_id == claim.id)
                                  .order_by(ClaimRecord.id))]


def history(session: Session, claim: Claim,
            actions: list[str] | None = None) -> list[HistoryEntry]:
    """The claim's audit entries in order (of those ``actions`` only, if given), any ID
    number in a reason, before or after masked."""
    query = select(AuditEntry).where(AuditEntry.entity == "claim",
                                     AuditEntry.entity_id == claim.claim_number)
    if actions is not None:
        query = query.where(AuditEntry.action.in_(actions))
    entries = []
    for h in session.exec(query.order_by(AuditEntry.id)):
        typed = masking.typed(h)  # named, so that a new masked column is not a new field here
        entries.append(HistoryEntry(h.at, h.actor, h.action, typed["reason"], typed["before"],
                                    typed["after"]))
    return entries
