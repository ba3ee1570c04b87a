"""Owning work in the workspace (我的工作): each user's start page lists what waits for their
next step (an investigator's visits with the household's village, address and phone,
masked), and a supervisor reassigns a claim's investigator or adjudicator, one claim or a
selected list, with a reason. The service is claims.assignment, as for the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session, select

from claims import access, assignment, clock, lifecycle, masking
from claims.api.deps import SessionDep
from claims.models import AppUser, Claim, Household, Region, Role
from claims.web.i18n import N_, translator
from claims.web.pages import (
    PageError,
    User,
    check_csrf,
    gate,
    language_of,
    need_role,
    posted,
    render,
    text_for,
    whole_number,
)
from claims.web.session import SignedIn
from policies.errors import DomainError

router = APIRouter(include_in_schema=False)

# The actions of the assignment, named on the claim's history by code("Action").
ACTION_NAMES = [N_("reassign_investigator"), N_("reassign_adjudicator")]
# What "my work" asks for next (assignment.next_step), in words.
STEPS = {
    "start_investigation": N_("Start the investigation: choose the investigator"),
    "submit_survey": N_("Visit the household and record the survey"),
    "record_review": N_("Record the village review"),
    "notice": N_("Start or close the public notice"),
    "approve": N_("Decide: approve or reject"),
    "assign": N_("Assign an adjudicator"),
}

# assignment.REFUSALS in the user's language, by code.
REFUSAL_TEXTS = {
    "not_supervisor": N_("Only a supervisor reassigns claims."),
    "unknown_kind": N_("Choose whether to assign the investigator or the adjudicator."),
    "no_reason": N_("Give the reason (at least %(min)s characters)."),
    "closed": N_("The claim is closed: there is nothing to assign."),
    "not_investigating": N_("The investigator can be changed only while the claim is being "
                            "investigated; before that, start the investigation and choose "
                            "one."),
    "not_eligible": N_("This person may not take the claim: it needs an active user of that "
                       "role who works in the household's township."),
    "unchanged": N_("This person is already assigned."),
    "investigated": N_("The four-eyes rule: whoever investigated the claim may not be its "
                       "adjudicator."),
    "is_adjudicator": N_("The four-eyes rule: the claim's adjudicator may not be its "
                         "investigator."),
    "own_household": N_("Nobody takes a claim of their own household."),
    "no_claims": N_("Choose at least one claim."),
    "not_found": N_("Not found, or not in your area."),
    "refused": N_("Refused."),
}
KIND_NAMES = {"investigator": N_("Investigator"), "adjudicator": N_("Adjudicator")}


def refusal_text(gettext, code: str | None, values: dict | None = None) -> str:
    return gettext(REFUSAL_TEXTS.get(code or "refused", REFUSAL_TEXTS["refused"]),
                   **(values or {}))


def _refused(request: Request, error: DomainError) -> str:
    return refusal_text(translator(language_of(request)), getattr(error, "code", None),
                        getattr(error, "values", None))


# --- my work ------------------------------------------------------------------------------------

@router.get("/work")
def my_work(request: Request, session: SessionDep, user: User):
    return _work(request, session, user, revealed=None)


@router.post("/work/households/{household_id}/reveal")
def reveal(request: Request, session: SessionDep, user: User, household_id: int,
           csrf_token: Annotated[str, Form()] = ""):
    """A visit's head of household and phone in full, once: the household's reveal
    (``access.reveal``, with its permission), on the audit trail."""
    check_csrf(request, user, csrf_token)
    if not user.actor.may_reveal:
        raise PageError(403, text_for(request, "You may not show personal data in full."))
    household = gate(request, lambda: access.household(session, user.actor, household_id),
                     N_("No such household, or not in your area."))
    access.reveal(session, user.actor, household)
    session.commit()
    return _work(request, session, user, revealed=household_id)


def _work(request: Request, session: Session, user: SignedIn, revealed: int | None):
    work = assignment.my_work(session, user.actor)
    return render(request, "work.html", user=user, work=work, mask=masking, steps=STEPS,
                  may_reveal=user.actor.may_reveal, revealed=revealed)


# --- one claim ----------------------------------------------------------------------------------

def _names(session: Session, ids) -> dict[int, AppUser]:
    ids = [i for i in ids if i is not None]
    return {u.id: u for u in session.exec(select(AppUser).where(AppUser.id.in_(ids))).all()} \
        if ids else {}


def _assignment_page(request: Request, session: Session, user: SignedIn, claim_id: int, *,
                     error: str = "", done: str = "", status: int = 200) -> HTMLResponse:
    claim = gate(request, lambda: access.claim(session, user.actor, claim_id),
                 N_("No such claim, or not in your area."))
    household = session.get(Household, claim.household_id)
    names = _names(session, [claim.investigator_id, claim.adjudicator_id])
    supervisor = user.user.role == Role.supervisor
    choices = {kind: assignment.eligible(session, claim, kind) for kind in assignment.KINDS
               if supervisor and claim.state in assignment.REASSIGNABLE[kind]}
    history = lifecycle.history(session, claim, ["reassign_investigator",
                                                 "reassign_adjudicator", "start_investigation"])
    # Who did it and whom it gave the claim to, by name (the trail keeps user:<username>).
    usernames = {h.actor.removeprefix("user:") for h in history}
    by_username = {u.username: u for u in session.exec(select(AppUser).where(
        AppUser.username.in_(usernames))).all()} if usernames else {}
    given = _names(session, [next(iter((h.after or {}).values()), None) for h in history
                             if h.action.startswith("reassign_")])
    rows = [(h, by_username.get(h.actor.removeprefix("user:")),
             given.get(next(iter((h.after or {}).values()), None))
             if h.action.startswith("reassign_") else None) for h in history]
    return render(request, "assignment.html", status=status, user=user, claim=claim,
                  household=household, investigator=names.get(claim.investigator_id),
                  adjudicator=names.get(claim.adjudicator_id), choices=choices,
                  kinds=KIND_NAMES, history=rows, error=error, done=done,
                  closed=claim.state not in lifecycle.OPEN_STATES)


@router.get("/claims/{claim_id}/assignment")
def assignment_page(request: Request, session: SessionDep, user: User, claim_id: int,
                    done: str = ""):
    return _assignment_page(request, session, user, claim_id,
                            done=done if done in assignment.KINDS else "")


@router.post("/claims/{claim_id}/assignment")
def reassign(request: Request, session: SessionDep, user: User, claim_id: int,
             kind: Annotated[str, Form()] = "", user_id: Annotated[str, Form()] = "",
             reason: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    check_csrf(request, user, csrf_token)
    need_role(request, user, Role.supervisor)
    claim = gate(request, lambda: access.claim(session, user.actor, claim_id, lock=True),
                 N_("No such claim, or not in your area."))
    try:
        assignment.reassign(session, user.actor, claim, kind, _int(user_id), reason)
        session.commit()
    except DomainError as error:
        session.rollback()
        return _assignment_page(request, session, user, claim_id, error=_refused(request, error),
                                status=error.status_code)
    return RedirectResponse(f"/claims/{claim_id}/assignment?done={kind}", status_code=303)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0  # nobody: refused as not eligible


# --- a selected list ----------------------------------------------------------------------------

LIST_ROWS = 200


def _list_page(request: Request, session: Session, user: SignedIn, kind: str, holder: str,
               *, outcomes=None, error: str = "", status: int = 200) -> HTMLResponse:
    need_role(request, user, Role.supervisor)
    kind = kind if kind in assignment.KINDS else "investigator"
    column = getattr(Claim, f"{kind}_id")
    query = access.households_in_area(
        select(Claim, Household.household_number, Region.name)
        .join(Household, Household.id == Claim.household_id)
        .join(Region, Region.id == Household.village_id)
        .where(Claim.state.in_(assignment.REASSIGNABLE[kind])), user.actor)
    if holder == "none":
        query = query.where(column.is_(None))
    elif (holder_id := whole_number(holder)) is not None:
        query = query.where(column == holder_id)
    rows = session.exec(query.order_by(Claim.due_date.asc().nulls_last(), Claim.id)
                        .limit(LIST_ROWS)).all()
    people = assignment.candidates(session, user.actor, kind)
    holders = _names(session, {getattr(c, f"{kind}_id") for c, *_ in rows})
    gettext = translator(language_of(request))
    results = [(o, refusal_text(gettext, o.code, o.values) if o.code else "")
               for o in outcomes or []]
    return render(request, "assignments.html", status=status, user=user, kind=kind,
                  holder=holder, rows=rows, people=people, holders=holders, kinds=KIND_NAMES,
                  results=results, error=error, today=clock.county_today(), limit=LIST_ROWS)


@router.get("/assignments")
def assignments_page(request: Request, session: SessionDep, user: User,
                     kind: str = "investigator", holder: str = ""):
    return _list_page(request, session, user, kind, holder)


ReassignForm = posted("kind", "holder", "claim_id", "user_id", "reason", lists=("claim_id",))


@router.post("/assignments")
def reassign_list(request: Request, session: SessionDep, user: User, form: ReassignForm):
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, Role.supervisor)
    kind, holder = str(form.get("kind", "")), str(form.get("holder", ""))
    claim_ids = [n for n in map(whole_number, form.getlist("claim_id")) if n is not None]
    try:
        outcomes = assignment.reassign_many(session, user.actor, claim_ids, kind,
                                            _int(str(form.get("user_id", ""))),
                                            str(form.get("reason", "")))
        session.commit()
    except DomainError as error:
        session.rollback()
        return _list_page(request, session, user, kind, holder,
                          error=_refused(request, error), status=error.status_code)
    # Each claim's outcome is listed; nothing reassigned at all is a refusal of the form.
    return _list_page(request, session, user, kind, holder, outcomes=outcomes,
                      status=200 if any(o.code is None for o in outcomes) else 409)
