"""Bulk work through the API (批量办理): close many early warnings, record a village meeting's
review of every claim waiting for it, start or close the public notice of a village, approve a
chosen list of claims. The same services as the pages
(claims.warnings, claims.bulk): each warning and claim checked and audited on its own, the
township limits of claims.access enforced; the answer lists each one's outcome, with a
reason code, its values and the service's words for those that did not take the step."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from claims import bulk, lifecycle
from claims import warnings as warning_service
from claims.api.deps import SessionDep
from claims.auth import Actor, CurrentActor, require_role, staff
from claims.models import Role
from policies.types import Day, MultilineText

router = APIRouter(prefix="/api", tags=["bulk"])
Office = Annotated[Actor, Depends(staff(Role.clerk, Role.supervisor))]


def _notice(actor: CurrentActor) -> Actor:
    """The roles that take the notice's steps (an administrator takes no claim step)."""
    require_role(actor, bulk.NOTICE)
    return actor


def _reviewer(actor: CurrentActor) -> Actor:
    require_role(actor, bulk.REVIEWERS)
    return actor


def _approver(actor: CurrentActor) -> Actor:
    require_role(actor, bulk.APPROVERS)
    return actor


Notice = Annotated[Actor, Depends(_notice)]
Approver = Annotated[Actor, Depends(_approver)]
Reviewer = Annotated[Actor, Depends(_reviewer)]


class WarningSelection(BaseModel):
    """Which warnings to close: their ids, or every open one a filter selects (at most
    500; more is refused)."""

    model_config = ConfigDict(extra="forbid")
    warning_ids: list[int] | None = Field(default=None, max_length=warning_service.BULK_LIMIT)
    township_id: int | None = None
    min_score: float | None = Field(default=None, ge=0, le=1)
    max_score: float | None = Field(default=None, ge=0, le=1)
    source: str | None = Field(default=None, pattern="^(risk|event)$")
    outcome: str = Field(min_length=2, max_length=32, description=(
        "visited, assisted, monitored, no_risk or other (other needs a note)"))
    note: MultilineText = Field(default="", max_length=warning_service.NOTE_LENGTH)


@router.post("/warnings/close")
def close_warnings(session: SessionDep, actor: Office, selection: WarningSelection
                   ) -> dict[str, Any]:
    """Close many warnings with one outcome and note, each on the audit trail; warnings
    that cannot be closed (closed already, not in your area) are listed with the reason."""
    if selection.warning_ids is not None:
        ids = selection.warning_ids
    else:
        ids = warning_service.ids_matching(session, actor, warning_service.WarningFilter(
            selection.township_id, selection.min_score, selection.max_score, "open",
            selection.source or ""))
    results = warning_service.close_many(session, actor, ids, selection.outcome,
                                         selection.note)
    session.commit()
    return {"closed": sum(r.done for r in results), "results": [
        {"warning_id": r.warning_id, "closed": r.done,
         "reason": None if r.error is None else type(r.error).__name__,
         "message": None if r.error is None else r.error.message} for r in results]}


def _answer(results: list[bulk.Result]) -> dict[str, Any]:
    return {"done": sum(r.outcome == "done" for r in results),
            "waiting": sum(r.outcome == "waiting" for r in results),
            "refused": sum(r.outcome == "refused" for r in results),
            "results": [r.view() for r in results]}


class VillageReview(BaseModel):
    """One village meeting's review (民主评议) of every claim of the village waiting for it."""

    model_config = ConfigDict(extra="forbid")
    village_id: int
    claim_ids: list[int] = Field(min_length=1, max_length=bulk.APPROVAL_LIMIT, description=(
        "the claims the meeting reviewed, as its list showed them: a claim of the village "
        "that came to wait since is left for the next meeting"))
    representatives: list[lifecycle.Entry] = Field(min_length=1, max_length=100)
    notes: MultilineText = ""
    disagree: dict[int, MultilineText] = Field(default_factory=dict, description=(
        "the claims the meeting did not agree to, by claim id, each with the reason"))


@router.post("/reviews/village")
def review_village(session: SessionDep, actor: Reviewer, review: VillageReview
                   ) -> dict[str, Any]:
    """Record the meeting's review of the claims it reviewed: agreed (to the public notice),
    or not agreed (rejected with the reason) for those named in ``disagree``."""
    results = bulk.review_village(session, actor, review.village_id,
                                  claim_ids=review.claim_ids,
                                  representatives=review.representatives, notes=review.notes,
                                  disagree=review.disagree)
    session.commit()
    return _answer(results)


@router.post("/notices/start")
def start_notices(session: SessionDep, actor: Notice, village_id: Annotated[int, Body()],
                  claim_ids: Annotated[list[int], Body(
                      min_length=1, max_length=bulk.APPROVAL_LIMIT, description=(
                          "the claims the posted notice lists: one that came into notice "
                          "since is not on the paper, and waits"))],
                  start_date: Annotated[Day | None, Body()] = None) -> dict[str, Any]:
    """Start the public notice of the claims of a village the posted notice lists."""
    results = bulk.start_notices(session, actor, village_id, claim_ids=claim_ids,
                                 start_date=start_date)
    session.commit()
    return _answer(results)


@router.post("/notices/close")
def close_notices(session: SessionDep, actor: Notice, village_id: Annotated[int, Body(
        embed=True)]) -> dict[str, Any]:
    """Close the public notice of every claim of a village whose period has ended."""
    results = bulk.close_notices(session, actor, village_id)
    session.commit()
    return _answer(results)


@router.post("/approvals")
def approve_claims(session: SessionDep, actor: Approver,
                   claim_ids: Annotated[list[int], Body(min_length=1,
                                                        max_length=bulk.APPROVAL_LIMIT)],
                   note: Annotated[MultilineText, Body(max_length=500)] = "") -> dict[str, Any]:
    """Approve each chosen claim for the amount due, by the rules of one approval: done
    (to payment), waiting (a first approval above your limit) or refused, each listed."""
    results = bulk.approve(session, actor, claim_ids, note)
    session.commit()
    return _answer(results)
