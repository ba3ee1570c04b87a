"""Who owns a claim (案件分派): its investigator, who visits the household (入户调查), and its
adjudicator, who owns the decision. The investigator is chosen when the investigation starts
(``lifecycle``: start_investigation); an adjudicator or supervisor who starts it becomes the
claim's adjudicator, never its investigator. A supervisor reassigns either, one claim or a
selected list, with a reason, each claim checked and audited on its own trail. "My work"
(我的工作) lists what each person must do next, in due-date order, within their townships.

Refusals carry a ``code`` (REFUSALS) and the values the pages translate them with; the API
answers the code in its error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import access, audit, clock, lifecycle, locks
from claims.auth import Actor, Forbidden
from claims.models import AppUser, Claim, Household, Region, Role
from policies import registry
from policies.errors import Conflict, DomainError, InvalidInput

S = lifecycle.S
KINDS = ("investigator", "adjudicator")
# The states in which each may be reassigned: the investigator while the visit is to come.
REASSIGNABLE = {"investigator": frozenset({S.investigating}),
                "adjudicator": frozenset(lifecycle.OPEN_STATES)}
MIN_REASON = 2
MY_WORK_ROWS = 100

# Why an assignment is refused, by code (the pages translate the code, not these words).
REFUSALS = {
    "not_supervisor": "only a supervisor reassigns claims",
    "unknown_kind": "assign an investigator or an adjudicator",
    "no_reason": f"give the reason (at least {MIN_REASON} characters)",
    "closed": "the claim is closed: nothing to assign",
    "not_investigating": "the investigator is reassigned only while the claim is being "
                         "investigated (before, start the investigation and choose one)",
    "not_eligible": "this person may not take the claim: an active user of the role "
                    "working in the household's township",
    "unchanged": "this person is already assigned",
    "investigated": "whoever investigated a claim may not be its adjudicator (four eyes)",
    "own_household": "nobody takes a claim of their own household",
    "is_adjudicator": "the claim's adjudicator may not be its investigator (four eyes)",
    "no_claims": "choose at least one claim",
}


class AssignmentForbidden(Forbidden):
    pass


class AssignmentInvalid(InvalidInput):
    pass


class AssignmentConflict(Conflict):
    pass


def refused(kind: type[DomainError], code: str, field_: str, value: Any = None,
            **values: Any) -> DomainError:
    return kind(REFUSALS[code], field=field_, value=value, code=code, values=values)


# --- who may take a claim -----------------------------------------------------------------------

def township_of(session: Session, claim: Claim) -> int:
    return session.exec(select(Region.parent_id).join(
        Household, Household.village_id == Region.id).where(
        Household.id == claim.household_id)).one()


def _works_in(user: AppUser, township: int) -> bool:
    return user.townships is None or township in user.townships


def eligible_adjudicators(session: Session, claim: Claim) -> list[AppUser]:
    """Active adjudicators and supervisors working in the household's township who did not
    investigate the claim (nobody decides on their own visit), by name."""
    township = township_of(session, claim)
    investigated = lifecycle.people_who_investigated(session, claim)
    return [user for user in session.exec(select(AppUser).where(
        AppUser.role.in_(lifecycle.ADJUDICATORS), AppUser.active).order_by(
        AppUser.full_name, AppUser.id)).all()
        if _works_in(user, township) and not any(
            lifecycle._same_person(session, user.id, other) for other in investigated)
        and not lifecycle.of_household(session, user, claim)]


def eligible(session: Session, claim: Claim, kind: str) -> list[AppUser]:
    if kind == "investigator":
        return [user for user in lifecycle.eligible_investigators(session, claim)
                if not lifecycle._same_person(session, user.id, claim.adjudicator_id)]
    return eligible_adjudicators(session, claim)


def candidates(session: Session, actor: Actor, kind: str) -> list[AppUser]:
    """Whom a supervisor may choose from for a list of claims: active users of the role
    sharing a township with the supervisor (each claim is still checked on its own)."""
    roles = [Role.investigator] if kind == "investigator" else list(lifecycle.ADJUDICATORS)
    mine = None if actor.id is None else session.get(AppUser, actor.id)
    area = None if mine is None else mine.townships
    return [user for user in session.exec(select(AppUser).where(
        AppUser.role.in_(roles), AppUser.active).order_by(AppUser.full_name, AppUser.id)).all()
        if area is None or user.townships is None or set(area) & set(user.townships)]


# --- reassigning --------------------------------------------------------------------------------

def _check(session: Session, claim: Claim, kind: str, user_id: int) -> None:
    if claim.state not in lifecycle.OPEN_STATES:
        raise refused(AssignmentConflict, "closed", "state", claim.state)
    if claim.state not in REASSIGNABLE[kind]:
        raise refused(AssignmentConflict, "not_investigating", "state", claim.state)
    if getattr(claim, f"{kind}_id") == user_id:
        raise refused(AssignmentInvalid, "unchanged", "user_id", user_id)
    if kind == "adjudicator" and any(lifecycle._same_person(session, user_id, other) for other
                                     in lifecycle.people_who_investigated(session, claim)):
        raise refused(AssignmentInvalid, "investigated", "user_id", user_id)
    if kind == "investigator" and lifecycle._same_person(session, user_id,
                                                         claim.adjudicator_id):
        raise refused(AssignmentInvalid, "is_adjudicator", "user_id", user_id)
    if lifecycle.of_household(session, session.get(AppUser, user_id), claim):
        # a tester's adjudicator was a member of the claimant's household: refused only
        # at approval, the claim in their work meanwhile
        raise refused(AssignmentInvalid, "own_household", "user_id", user_id)
    if user_id not in {u.id for u in eligible(session, claim, kind)}:
        raise refused(AssignmentInvalid, "not_eligible", "user_id", user_id)


def _preconditions(actor: Actor, kind: str, reason: str) -> str:
    if actor.kind != "user" or actor.role != Role.supervisor:
        raise refused(AssignmentForbidden, "not_supervisor", "role", actor.role)
    if kind not in KINDS:
        raise refused(AssignmentInvalid, "unknown_kind", "kind", kind)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise refused(AssignmentInvalid, "no_reason", "reason", min=MIN_REASON)
    return reason


def reassign(session: Session, actor: Actor, claim: Claim, kind: str, user_id: int,
             reason: str) -> Claim:
    """Give a claim's investigator or adjudicator to another person (a supervisor, with a
    reason); on the claim's audit trail. The caller has found the claim in its area
    (``access.claim``). Flushes."""
    reason = _preconditions(actor, kind, reason)
    locks.claims(session, [claim.id])
    _check(session, claim, kind, user_id)
    column = f"{kind}_id"
    before = {column: getattr(claim, column)}
    setattr(claim, column, user_id)
    session.add(claim)
    audit.record(session, actor, "claim", claim.claim_number, f"reassign_{kind}",
                 reason=reason, before=before, after={column: user_id})
    session.flush()
    return claim


@dataclass
class Outcome:
    claim_id: int
    claim_number: str = ""
    code: str | None = None  # None: reassigned
    values: dict[str, Any] = field(default_factory=dict)


def reassign_many(session: Session, actor: Actor, claim_ids: list[int], kind: str,
                  user_id: int, reason: str) -> list[Outcome]:
    """Reassign a selected list: each claim checked and audited on its own; a claim that may
    not be reassigned (or is not in the supervisor's area) is reported with its code and the
    others go ahead. Flushes."""
    reason = _preconditions(actor, kind, reason)
    if not claim_ids:
        raise refused(AssignmentInvalid, "no_claims", "claim_ids")
    outcomes = []
    for claim_id in dict.fromkeys(claim_ids):
        try:
            claim = access.claim(session, actor, claim_id, lock=True)
        except DomainError:
            outcomes.append(Outcome(claim_id, code="not_found"))
            continue
        try:
            reassign(session, actor, claim, kind, user_id, reason)
            outcomes.append(Outcome(claim_id, claim.claim_number))
        except DomainError as error:
            outcomes.append(Outcome(claim_id, claim.claim_number,
                                    getattr(error, "code", "refused"),
                                    getattr(error, "values", {})))
    return outcomes


# --- my work ------------------------------------------------------------------------------------

@dataclass
class WorkItem:
    claim: Claim
    household_number: str
    village: str
    township: str
    step: str  # the next step: an action of lifecycle.ACTIONS, or "assign"
    overdue: bool
    phone: str | None = None
    head_name: str | None = None


@dataclass
class MyWork:
    steps: list[WorkItem]  # claims waiting for this person's next step, by due date
    visits: list[WorkItem]  # an investigator's households to visit, by due date
    waiting: list[WorkItem]  # claims assigned to this person, waiting for someone else
    more: bool = False  # a list was cut at MY_WORK_ROWS




_SECOND_APPROVALS = lifecycle.SECOND_APPROVAL_PENDING
SECOND_APPROVALS_READ = 5000


def _rows(session: Session, actor: Actor, *conditions) -> list[tuple]:
    """The claims meeting any of ``conditions`` in the actor's area, earliest due first (no
    due date last), at most MY_WORK_ROWS + 1, with their household's number, village,
    township, phone and head. Each condition is read on its own, in due-date order from an
    index and cut at the limit, and the parts merged here; only the claims kept are joined
    to their households (an OR of them, joined first, sorted every open claim of a county)."""
    keys: dict[int, tuple] = {}
    for condition in conditions:
        query = select(Claim.id, Claim.due_date).where(condition)
        if actor.villages is not None:
            query = access.households_in_area(
                query.join(Household, Household.id == Claim.household_id), actor)
        if condition is not _SECOND_APPROVALS:
            query = query.order_by(Claim.due_date, Claim.id).limit(MY_WORK_ROWS + 1)
        else:
            # Few claims wait for a second approval: read them all from their own index
            # (ordering them in the database made SQLite walk every claim in approval).
            query = query.limit(SECOND_APPROVALS_READ)
        for id_, due in session.exec(query).all():
            keys[id_] = (due is None, due or date.min, id_)
    ids = sorted(keys, key=keys.__getitem__)[:MY_WORK_ROWS + 1]
    if not ids:
        return []
    township, village = sa.orm.aliased(Region), sa.orm.aliased(Region)
    found = {row[0].id: row for row in session.exec(
        select(Claim, Household.household_number, village.name, township.name,
               Household.phone, registry.HEAD_NAME)
        .join(Household, Household.id == Claim.household_id)
        .join(village, village.id == Household.village_id)
        .join(township, township.id == village.parent_id)
        .where(Claim.id.in_(ids))).all()}
    return [found[i] for i in ids]


def _item(row: tuple, step: str, today: date) -> WorkItem:
    claim, number, village, township, phone, head = row
    overdue = claim.due_date is not None and claim.due_date < today
    return WorkItem(claim, number, village, township, step, overdue, phone, head)


ADJUDICATOR_STEPS = {S.opened: "start_investigation", S.reopened: "start_investigation",
                     S.approval: "approve"}
CLERK_STEPS = {S.village_review: "record_review", S.public_notice: "notice"}


def next_step(session: Session, claim: Claim, actor: Actor) -> str | None:
    """This person's next step on a claim, or None when it waits for someone else."""
    if claim.state == S.investigating:
        return "submit_survey" if claim.investigator_id == actor.id else None
    if claim.state == S.approval:
        if actor.role not in lifecycle.ADJUDICATORS:
            return None
        return "approve" if lifecycle.approval_bar(session, claim, actor) is None else None
    if actor.role in lifecycle.ADJUDICATORS and claim.state in ADJUDICATOR_STEPS:
        return ADJUDICATOR_STEPS[claim.state]
    if actor.role in (Role.clerk, *lifecycle.ADJUDICATORS) and claim.state in CLERK_STEPS:
        return CLERK_STEPS[claim.state]
    return None


def my_work(session: Session, actor: Actor, today: date | None = None) -> MyWork:
    """What this person must do next, within their townships, earliest due first:
    - an investigator: the households to visit (claims under investigation sent to them);
    - an adjudicator: the claims assigned to them to start or to approve;
    - a supervisor: the same, and claims waiting for a second approval or for an adjudicator;
    - a clerk: the village reviews and public notices of their area.
    Claims assigned to the person whose next step is someone else's are listed apart."""
    today = today or clock.county_today()
    steps: list[WorkItem] = []
    visits: list[WorkItem] = []
    waiting: list[WorkItem] = []
    more = False
    if actor.kind != "user" or actor.id is None:
        return MyWork(steps, visits, waiting)
    open_ = Claim.state.in_(lifecycle.OPEN_STATES)
    if actor.role == Role.investigator:
        rows = _rows(session, actor, sa.and_(Claim.investigator_id == actor.id,
                                             Claim.state == S.investigating))
        more = len(rows) > MY_WORK_ROWS
        visits = [_item(row, "submit_survey", today) for row in rows[:MY_WORK_ROWS]]
    elif actor.role in lifecycle.ADJUDICATORS:
        conditions = [sa.and_(Claim.adjudicator_id == actor.id, open_)]
        if actor.role == Role.supervisor:
            # Open claims have a due date; closed ones (mostly without) are not read.
            conditions += [sa.and_(Claim.adjudicator_id.is_(None), Claim.due_date.is_not(None),
                                   open_),
                           _SECOND_APPROVALS]
        rows = _rows(session, actor, *conditions)
        more = len(rows) > MY_WORK_ROWS
        for row in rows[:MY_WORK_ROWS]:
            claim = row[0]
            step = next_step(session, claim, actor) if claim.adjudicator_id == actor.id or (
                claim.state == S.approval and claim.first_approver_id is not None) else None
            if step is None and claim.adjudicator_id is None and actor.role == Role.supervisor:
                step = "assign"
            if step is not None:
                steps.append(_item(row, step, today))
            elif claim.adjudicator_id == actor.id:
                waiting.append(_item(row, "", today))
    elif actor.role == Role.clerk:
        rows = _rows(session, actor, *(Claim.state == state for state in CLERK_STEPS))
        more = len(rows) > MY_WORK_ROWS
        steps = [_item(row, CLERK_STEPS[row[0].state], today) for row in rows[:MY_WORK_ROWS]]
    return MyWork(steps, visits, waiting, more)
