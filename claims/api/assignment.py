"""Who owns which claim, in the API: each user's work, and a supervisor's reassignment of a
claim's investigator or adjudicator (one claim or a list) — the service of the pages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from claims import access, assignment, audit, lifecycle, masking
from claims.api.deps import SessionDep
from claims.auth import Actor, CurrentActor, staff
from claims.models import Role
from policies.types import MultilineText

router = APIRouter(prefix="/api", tags=["claims"])
Reader = Annotated[Actor, Depends(staff())]


def supervisor(actor: CurrentActor) -> Actor:
    """Only a supervisor reassigns (an administrator takes no claim steps): refused, with its
    code, before the body is read."""
    if actor.kind != "user" or actor.role != Role.supervisor:
        raise assignment.refused(assignment.AssignmentForbidden, "not_supervisor", "role",
                                 actor.role)
    return actor


Supervisor = Annotated[Actor, Depends(supervisor)]


class Reassign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["investigator", "adjudicator"]
    user_id: int = Field(description="the person who takes the claim over")
    reason: MultilineText = Field(min_length=assignment.MIN_REASON, description="why; on the "
                                  "claim's audit trail")


class ReassignMany(Reassign):
    claim_ids: list[int] = Field(min_length=1, max_length=500)


@router.post("/claims/{claim_id}/assignment")
def reassign(claim_id: int, body: Reassign, session: SessionDep, actor: Supervisor):
    """Give the claim's investigator (while it is being investigated) or its adjudicator (while
    it is open) to another eligible person, with a reason. Refusals carry a ``code``:
    closed, not_investigating, not_eligible, unchanged, investigated, is_adjudicator."""
    claim = access.claim(session, actor, claim_id, lock=True)
    assignment.reassign(session, actor, claim, body.kind, body.user_id, body.reason)
    session.commit()
    return lifecycle.view(claim)


@router.post("/claims/assignments")
def reassign_many(body: ReassignMany, session: SessionDep, actor: Supervisor):
    """Reassign a list of claims: each is checked and audited on its own; those refused are
    answered with their code (``not_found`` for a claim outside your area) and the others
    are reassigned."""
    outcomes = assignment.reassign_many(session, actor, body.claim_ids, body.kind,
                                        body.user_id, body.reason)
    session.commit()
    return {"reassigned": sum(o.code is None for o in outcomes),
            "results": [{"claim_id": o.claim_id, "claim_number": o.claim_number or None,
                         "reassigned": o.code is None, "code": o.code} for o in outcomes]}


def _item(item: assignment.WorkItem) -> dict[str, Any]:
    return audit.jsonable({
        "claim_id": item.claim.id, "claim_number": item.claim.claim_number,
        "state": item.claim.state, "next_step": item.step or None,
        "due_date": item.claim.due_date, "overdue": item.overdue,
        "household_number": item.household_number, "township": item.township,
        "village": item.village, "head_name": masking.name(item.head_name),
        "phone": masking.phone(item.phone)})


@router.get("/work")
def my_work(session: SessionDep, actor: Reader):
    """Your work: the claims waiting for your next step and, for an investigator, the
    households to visit, earliest due first, within your townships (names and phones
    masked); claims assigned to you that wait for someone else."""
    work = assignment.my_work(session, actor)
    return {"steps": [_item(i) for i in work.steps], "visits": [_item(i) for i in work.visits],
            "waiting": [_item(i) for i in work.waiting], "more": work.more}
