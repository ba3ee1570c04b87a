"""Catastrophes through the API (巨灾/灾害事件): declared, changed and closed by the office or
a supervisor (county-wide), read by every staff member with the figures of their own area,
and a team's visit to a village recorded as the survey of each of its claims. The same
services as the pages (claims.catastrophes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from claims import catastrophes
from claims.api.bulk import _answer
from claims.api.deps import SessionDep
from claims.auth import Actor, CurrentActor, require_role, staff
from claims.models import Catastrophe, Role
from policies.types import Day

router = APIRouter(prefix="/api", tags=["catastrophes"])
Staff = Annotated[Actor, Depends(staff(Role.clerk, Role.supervisor,
                                        county_writes="a catastrophe"))]


def _surveyor(actor: CurrentActor) -> Actor:
    require_role(actor, catastrophes.SURVEYORS)
    return actor


Surveyor = Annotated[Actor, Depends(_surveyor)]


class VillageSurvey(BaseModel):
    """One team's visit to a village: the survey recorded on each chosen claim (every one
    of the catastrophe's claims there waiting for a survey, when none are chosen)."""

    model_config = ConfigDict(extra="forbid")
    village_id: int
    survey: dict[str, Any] = Field(description="as submit_survey: visit_date, team (two "
                                   "people at least), findings, asset_check, documents")
    claim_ids: list[int] | None = Field(default=None,
                                       max_length=catastrophes.SURVEY_LIMIT)


def _view(catastrophe: Catastrophe) -> dict[str, Any]:
    return {"id": catastrophe.id, **catastrophes.snapshot(catastrophe),
            "status": catastrophe.status, "declared_at": catastrophe.declared_at,
            "closed_at": catastrophe.closed_at}


@router.get("/catastrophes")
def list_catastrophes(session: SessionDep, actor: Staff) -> dict[str, Any]:
    """Every catastrophe, the latest first."""
    found = catastrophes.listing(session)
    return {"data": [_view(c) for c in found], "count": len(found)}


@router.post("/catastrophes", status_code=201)
def declare(session: SessionDep, actor: Staff, declaration: catastrophes.CatastropheIn
            ) -> dict[str, Any]:
    """Declare a catastrophe; the reports already received in its area and days are tagged."""
    catastrophe = catastrophes.declare(session, actor, declaration)
    session.commit()
    return _view(catastrophe)


@router.get("/catastrophes/{catastrophe_id}")
def catastrophe_figures(session: SessionDep, actor: Staff, catastrophe_id: int
                        ) -> dict[str, Any]:
    """A catastrophe with its figures in your area: affected households and events, claims
    by state and township, amounts entitled and paid; for the whole county also the fund of
    each contract involved (its reserve and the loss ratio projected with what is due)."""
    catastrophe = catastrophes.get(session, catastrophe_id)
    f = catastrophes.figures(session, actor, catastrophe)
    return {**_view(catastrophe), "households": f.households, "events": f.events,
            "unmatched_events": f.unmatched, "claims": f.claims, "entitled": f.entitled,
            "paid": f.paid,
            "by_state": [{"state": s, "claims": n, "entitled": e, "paid": p}
                         for s, n, e, p in f.by_state],
            "townships": [t.__dict__ for t in f.townships],
            "villages": [v.__dict__ for v in f.villages],
            "funds": None if f.funds is None else [
                {"contract_number": line.contract_number, "premium": line.position.premium,
                 "payouts": line.position.payouts, "reserve": line.position.balance,
                 "projected_payouts": line.position.projected_payouts, "due": line.due,
                 "projected_loss_ratio": line.projected_loss_ratio} for line in f.funds]}


@router.patch("/catastrophes/{catastrophe_id}")
def change(session: SessionDep, actor: Staff, catastrophe_id: int,
           declaration: catastrophes.CatastropheChange) -> dict[str, Any]:
    """Change an open catastrophe; a new area or new dates tag its reports afresh."""
    catastrophe = catastrophes.change(session, actor, catastrophe_id, declaration)
    session.commit()
    return _view(catastrophe)


@router.post("/catastrophes/{catastrophe_id}/close")
def close(session: SessionDep, actor: Staff, catastrophe_id: int,
          end_date: Annotated[Day | None, Body(embed=True)] = None
          ) -> dict[str, Any]:
    """Close a catastrophe: its end date fixed (the one given, the declared one, or today)."""
    catastrophe = catastrophes.close(session, actor, catastrophe_id, end_date)
    session.commit()
    return _view(catastrophe)


@router.post("/catastrophes/{catastrophe_id}/surveys")
def survey_village(session: SessionDep, actor: Surveyor, catastrophe_id: int,
                   visit: VillageSurvey) -> dict[str, Any]:
    """Record one team's visit to a village as the survey of each of the catastrophe's
    claims there: each claim its own record and audit entry; one that cannot take the step
    is listed with the reason."""
    results = catastrophes.survey_village(session, actor, catastrophe_id, visit.village_id,
                                          visit.survey, visit.claim_ids)
    session.commit()
    return _answer(results)
