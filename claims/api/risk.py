"""Risk scores and early warnings for the office: the ranked list of warned households with
what raised each warning, a household's score with its factors, the scoring runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from sqlmodel import select

from claims import access, audit, nightly
from claims import warnings as warning_service
from claims.api.deps import PageDep, SessionDep, check_regions
from claims.api.scope import WarningInArea
from claims.auth import Actor, staff
from claims.models import EarlyWarning, Region, Role
from claims.settings import get_settings
from policies import benefits, registry
from policies.errors import InvalidInput
from policies.models import Household
from policies.types import MultilineText
from risk import features, model, scoring
from risk.errors import ModelError
from risk.models import HouseholdScore, ScoreRun

router = APIRouter(prefix="/api", tags=["risk"])
Reader = Annotated[Actor, Depends(staff())]
Office = Annotated[Actor, Depends(staff(Role.clerk, Role.supervisor))]


def _warning_view(warning: EarlyWarning, household_number: str) -> dict[str, Any]:
    return audit.jsonable({**warning_service.view(warning), "household_number": household_number})


@router.get("/warnings")
def list_warnings(
    session: SessionDep, actor: Reader, page: PageDep,
    status: Annotated[str, Query(pattern="^(open|closed|)$",
                                 description="open (default), closed, or empty for all")] = "open",
    source: Annotated[str | None, Query(pattern="^(event|risk)$")] = None,
    trigger: str | None = None,
    village_id: int | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    township_id: int | None = None,
):
    """Early warnings for the office with what raised each: the riskiest first (risk
    warnings by score), then the newest."""
    # a filter that can match nothing is refused, not answered with an empty list (a
    # tester's township_id of a village, of none, and scores from 0.9 to 0.1)
    check_regions(session, village_id=village_id, township_id=township_id)
    if min_score is not None and max_score is not None and min_score > max_score:
        raise InvalidInput(f"max_score {max_score} is below min_score {min_score}",
                           field="max_score", value=max_score, code="below_minimum")
    query = access.households_in_area(select(EarlyWarning, Household.household_number).join(
        Household, Household.id == EarlyWarning.household_id), actor)
    if status:
        query = query.where(EarlyWarning.status == status)
    if source:
        query = query.where(EarlyWarning.source == source)
    if trigger is not None:  # an event's trigger, or what raised a risk warning
        query = query.where(EarlyWarning.trigger == benefits.check_trigger(
            session, trigger, also=scoring.WARNING_TRIGGERS))
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    if min_score is not None:
        query = query.where(EarlyWarning.score >= min_score)
    if max_score is not None:
        query = query.where(EarlyWarning.score <= max_score)
    if township_id is not None:
        query = query.where(Household.village_id.in_(
            select(Region.id).where(Region.parent_id == township_id)))
    rows, count = registry.paginate(session, query.order_by(
        EarlyWarning.score.desc().nulls_last(), EarlyWarning.id.desc()), page)
    return {"data": [_warning_view(w, number) for w, number in rows], "count": count}


@router.post("/warnings/{warning_id}/close")
def close_warning(session: SessionDep, actor: Office, warning: WarningInArea,
                  outcome: Annotated[MultilineText, Body(min_length=2, max_length=500)],
                  note: Annotated[MultilineText, Body(max_length=400)] = ""):
    """Close a warning with what the office did about it: an outcome (visited, assisted,
    monitored, no_risk, other — or, as before, the office's own words) and a note; a later
    run may raise a new one."""
    warning_service.close(session, actor, warning, outcome, note)
    session.commit()
    number = session.get(Household, warning.household_id).household_number
    return _warning_view(warning, number)


@router.get("/risk/runs")
def list_runs(session: SessionDep, _: Annotated[Actor, Depends(staff(
        county="the scoring runs"))], page: PageDep):
    """The scoring runs, newest first: when, which model, how many households and warnings,
    drift, and how each ended."""
    query = select(ScoreRun).order_by(ScoreRun.id.desc())
    rows, count = registry.paginate(session, query, page)
    return {"data": [audit.jsonable(registry.fields_of(r)) for r in rows], "count": count}


@router.get("/households/{household_id}/risk")
def household_risk(session: SessionDep, actor: Reader, household_id: int):
    """A household's current risk score with the factors behind it, its scores in the runs
    kept, and its risk warnings."""
    household = access.household(session, actor, household_id)
    history = session.exec(
        select(ScoreRun.id, ScoreRun.night, ScoreRun.model_version, HouseholdScore.score)
        .join(HouseholdScore, HouseholdScore.run_id == ScoreRun.id)
        .where(HouseholdScore.household_id == household_id,
               ScoreRun.status == "complete")
        .order_by(ScoreRun.night.desc(), ScoreRun.id.desc())).all()
    scored = nightly.current_score(session, household_id)
    current = scored.run
    found: dict[str, Any] = {"household_id": household_id, "score": None, "factors": None,
                             "run": None, "population": None}
    if current is not None and scored.score is not None:
        found["run"] = {"id": current.id, "night": current.night.isoformat(),
                        "model_version": current.model_version,
                        "as_of_year": current.as_of_year}
        # at_risk: ranked and warned; below_line, monitored: the caseload, for information
        found["score"], found["population"] = scored.score, scored.population
        found["factors"], found["factors_note"] = _factors(session, current, household_id,
                                                           scored.score)
    found["history"] = [{"run_id": r, "night": n.isoformat(), "model_version": v, "score": s}
                        for r, n, v, s in history]
    warnings = session.exec(select(EarlyWarning).where(
        EarlyWarning.household_id == household_id, EarlyWarning.source == "risk")
        .order_by(EarlyWarning.id.desc())).all()
    found["warnings"] = [_warning_view(w, household.household_number) for w in warnings]
    return found


def _factors(session, run: ScoreRun, household_id: int, score: float
             ) -> tuple[list | None, str]:
    """The factors of the household's current score, from the model that gave it, read again
    from the night's figures; none when those figures no longer give the score (a record of
    the night stored after its run: a data team's factors added up to 0.317 beside a score
    0.017 above the average)."""
    try:
        trained = nightly.saved_model(Path(get_settings().model_dir))
    except ModelError as error:
        return None, str(error)
    if model.model_version(trained.metadata) != run.model_version:
        return None, (f"the score came from model {run.model_version}, no longer the saved "
                      "one; the next run explains it")
    household = session.get(Household, household_id)
    frame = features.build(session, run.night, [household_id],
                           lines=features.feature_lines(session, run.night,
                                                        [household.village_id]))
    if frame.empty:
        return None, "the household is no longer active"
    if abs(float(trained.probability(frame)[0]) - score) > SAME_SCORE:
        return None, ("figures of the night were recorded after its run and no longer give "
                      "this score; the next run explains it")
    return model.factors(trained, frame)[0], ("explained with what was known on the run's "
                                              "night")


SAME_SCORE = 1e-6  # the same model on the same figures gives the same score; float noise only
