"""The catastrophes' pages (巨灾/灾害事件): the list and the declaration form, one catastrophe's
figures in the reader's area (with its change and close forms for the office), and a team's
visit to a village recorded as the survey of each of its claims. The same services as the
API (claims.catastrophes)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import select

from claims import access, catastrophes, clock, masking
from claims.api.deps import SessionDep
from claims.models import Member, Region
from claims.web.bulk import _claim_rows, chosen_village
from claims.web.i18n import N_, translator
from claims.web.pages import (
    FORM_PROBLEM,
    STEP_FIELDS,
    PageError,
    User,
    check_csrf,
    form_data,
    form_numbers,
    gate,
    language_of,
    need_role,
    posted,
    problem_reason,
    refusal,
    render,
    village_named,
)
from claims.web.records import ASSET_CHECKS
from policies.errors import DomainError
from policies.vocab import DisasterKind, MemberStatus, RegionLevel, Relation

router = APIRouter(include_in_schema=False)
DECLARERS = tuple(sorted(catastrophes.DECLARERS))
SURVEYORS = tuple(sorted(catastrophes.SURVEYORS))
# A catastrophe's name is not a person's (姓名): a msgid of its own.
FIELDS = {"name": N_("Name of the catastrophe"), "kind": N_("Kind of disaster"),
          "regions": N_("Affected regions"), "start_date": N_("Start date"),
          "end_date": N_("End date"),
          "reference": N_("Emergency department's reference"), "status": N_("Status")}
NOT_VALID = N_("Please correct the form: %(field)s.")
STATUSES = {"open": N_("Going on"), "ended": N_("Ended, not yet closed"),
            "closed": N_("Closed")}


def shown_status(catastrophe, today) -> str:
    """What a catastrophe's status reads as: an open one whose declared end has passed has
    ended, though the office has not closed it yet."""
    if catastrophe.status == "open" and catastrophe.end_date and catastrophe.end_date < today:
        return "ended"
    return catastrophe.status
NO_SUCH = N_("No such catastrophe.")


def _may_declare(user) -> bool:
    return user.user.role in catastrophes.DECLARERS and not access.limited(user.actor)


def _regions(session) -> dict[str, Any]:
    """The county, its townships and their villages, for the declaration's chooser."""
    township = sa.orm.aliased(Region)
    counties = session.exec(select(Region.id, Region.name).where(
        Region.level == RegionLevel.county).order_by(Region.code)).all()
    towns = session.exec(select(Region.id, Region.name).where(
        Region.level == RegionLevel.township).order_by(Region.code)).all()
    villages: dict[int, list] = {}
    for village_id, name, parent in session.exec(select(Region.id, Region.name, township.id)
                                                 .join(township, township.id == Region.parent_id)
                                                 .where(Region.level == RegionLevel.village)
                                                 .order_by(Region.code)).all():
        villages.setdefault(parent, []).append((village_id, name))
    return {"counties": counties, "townships": [(t, n, villages.get(t, [])) for t, n in towns]}


def _declaration(request: Request, form, model: type[BaseModel], partial: bool = False):
    """The declaration's fields from a form; a value that is not valid is the page's 422
    naming the field."""
    values: dict[str, Any] = {}
    for name in ("name", "kind", "start_date", "end_date", "reference"):
        text = str(form.get(name, "")).strip()
        if text or not partial and name in ("name", "kind", "start_date"):
            values[name] = text
        elif partial and name in ("end_date", "reference") and name in form:
            values[name] = None
    regions = form_numbers(request, form, "regions", FIELDS["regions"])
    if regions:  # none chosen: required of a declaration, unchanged by a change
        values["regions"] = regions
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        _ = translator(language_of(request))
        error = exc.errors()[0]
        name = str(error["loc"][0])
        field = _(FIELDS[name]) if name in FIELDS else name
        reason = problem_reason(name, error["type"],
                                error["msg"].removeprefix("Value error, "), _)
        raise PageError(422, _(FORM_PROBLEM, field=field, reason=reason) if reason
                        else _(NOT_VALID, field=field)) from None


def _refused(request: Request, error: DomainError) -> PageError:
    _ = translator(language_of(request))
    if error.field in FIELDS:  # the field, then the refusal in words of its own if coded
        why = refusal(error, _) if error.code else f"({error.message})"
        return PageError(error.status_code,
                         f"{_(NOT_VALID, field=_(FIELDS[error.field]))} {why}")
    return PageError(error.status_code, refusal(error, _))


@router.get("/catastrophes")
def catastrophes_page(request: Request, session: SessionDep, user: User):
    """Every catastrophe, and the declaration form for the office."""
    may = _may_declare(user)
    return render(request, "catastrophes.html", user=user,
                  rows=catastrophes.listing(session), may_declare=may,
                  regions=_regions(session) if may else None, kinds=list(DisasterKind),
                  statuses=STATUSES, status_of=shown_status, today=clock.county_today())


def _office_form(request: Request, user, form):
    """The form of a change to a declaration: the office's, county-wide."""
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, *DECLARERS)
    gate(request, lambda: access.require_county(user.actor, "a catastrophe"))
    return form


def _run(request: Request, session, step):
    """Run a service's step and commit; its refusal is the page's error, nothing kept."""
    try:
        done = step()
    except DomainError as error:
        session.rollback()
        raise _refused(request, village_named(session, error)) from None
    session.commit()
    return done


def _to(catastrophe) -> RedirectResponse:
    return RedirectResponse(f"/catastrophes/{catastrophe.id}", status_code=303)


# a declaration's fields (_declaration reads them), and a change's
DeclarationForm = posted("name", "kind", "start_date", "end_date", "reference", "regions",
                         lists=("regions",))


@router.post("/catastrophes")
def declare_page(request: Request, session: SessionDep, user: User, posted: DeclarationForm):
    form = _office_form(request, user, posted)
    data = _declaration(request, form, catastrophes.CatastropheIn)
    return _to(_run(request, session, lambda: catastrophes.declare(session, user.actor, data)))


@router.get("/catastrophes/{catastrophe_id}")
def catastrophe_page(request: Request, session: SessionDep, user: User, catastrophe_id: int):
    """One catastrophe's figures in the reader's area."""
    catastrophe = gate(request, lambda: catastrophes.get(session, catastrophe_id), NO_SUCH)
    names = dict(session.exec(select(Region.id, Region.name).where(
        Region.id.in_(catastrophe.regions))).all())
    may = _may_declare(user) and catastrophe.status == "open"
    return render(request, "catastrophe.html", user=user, c=catastrophe,
                  f=catastrophes.figures(session, user.actor, catastrophe),
                  region_names=[names.get(r, str(r)) for r in catastrophe.regions],
                  may_change=may, regions=_regions(session) if may else None,
                  kinds=list(DisasterKind), statuses=STATUSES, status_of=shown_status,
                  today=clock.county_today(),
                  may_survey=user.user.role in catastrophes.SURVEYORS)


@router.post("/catastrophes/{catastrophe_id}")
def change_page(request: Request, session: SessionDep, user: User, catastrophe_id: int,
                posted: DeclarationForm):
    form = _office_form(request, user, posted)
    data = _declaration(request, form, catastrophes.CatastropheChange, partial=True)
    return _to(_run(request, session, lambda: catastrophes.change(
        session, user.actor, catastrophe_id, data)))


CloseForm = posted("end_date")


@router.post("/catastrophes/{catastrophe_id}/close")
def close_page(request: Request, session: SessionDep, user: User, catastrophe_id: int,
               posted: CloseForm):
    form = _office_form(request, user, posted)
    text = str(form.get("end_date", "")).strip()
    try:
        end = date.fromisoformat(text) if text else None
    except ValueError:
        _ = translator(language_of(request))
        raise PageError(422, _(NOT_VALID, field=_(FIELDS["end_date"]))) from None
    return _to(_run(request, session, lambda: catastrophes.close(
        session, user.actor, catastrophe_id, end)))


def _whom_to_ask(session, households: set[int]) -> dict[int, tuple[str, str | None]]:
    """Each family as the team finds it in the village: its head's name, masked; where no
    head is living in it (the disaster's own dead among them), its eldest member's, with the
    relation (the page had shown nobody)."""
    found: dict[int, tuple[str, str | None]] = {}
    for household, name, relation in session.exec(
            select(Member.household_id, Member.name, Member.relation).where(
                Member.household_id.in_(households), Member.status == MemberStatus.active)
            .order_by(Member.household_id, Member.relation != Relation.head,
                      Member.birth_date, Member.id)) if households else ():
        found.setdefault(household, (masking.name(name),
                                     None if relation == Relation.head else relation))
    return found


@router.get("/catastrophes/{catastrophe_id}/survey")
def survey_page(request: Request, session: SessionDep, user: User, catastrophe_id: int,
                village: int | None = None):
    """A team's visit to a village: the catastrophe's claims there waiting for a survey,
    and the one survey form recorded on each chosen claim."""
    need_role(request, user, *SURVEYORS)
    catastrophe = gate(request, lambda: catastrophes.get(session, catastrophe_id), NO_SUCH)
    villages = catastrophes.figures(session, user.actor, catastrophe).villages
    # none asked for: the first village with claims waiting, as the picker would show it
    chosen = next((v for v in villages if (v.id == village if village is not None
                                           else v.to_survey)), None)
    claims = [] if chosen is None else gate(request, lambda: catastrophes.survey_claims(
        session, user.actor, catastrophe, chosen.id))
    heads = _whom_to_ask(session, {c.household_id for c in claims})
    return render(request, "catastrophe_survey.html", user=user, c=catastrophe,
                  villages=villages, chosen=chosen, claims=claims, heads=heads,
                  asset_checks=ASSET_CHECKS, today=clock.county_today())


SurveyForm = posted("village", "claim_id", *STEP_FIELDS["submit_survey"], lists=("claim_id",))


@router.post("/catastrophes/{catastrophe_id}/survey")
def survey_village_page(request: Request, session: SessionDep, user: User,
                        catastrophe_id: int, form: SurveyForm):
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, *SURVEYORS)
    _ = translator(language_of(request))
    village = chosen_village(session, form, _)
    ids = form_numbers(request, form, "claim_id", N_("Claim"))
    if not ids:
        raise PageError(422, _("Choose at least one claim."))
    survey = form_data("submit_survey", {k: str(v) for k, v in form.items()})
    results = _run(request, session, lambda: catastrophes.survey_village(
        session, user.actor, catastrophe_id, village, survey, ids))
    name = session.get(Region, village).name
    done = sum(r.outcome == "done" for r in results)
    return render(request, "bulk_result.html", user=user,
                  title=f"{name} · " + _("Survey of the village's claims"),
                  rows=_claim_rows(request, results, "submit_survey"),
                  back=f"/catastrophes/{catastrophe_id}/survey?village={village}",
                  summary=_("%(done)s of %(total)s claims took the step.", done=done,
                            total=len(results)))
