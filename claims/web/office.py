"""The workspace's other pages: households (search, the household page, revealing personal
data), the public notice of a village (公示, printable), payment batches, administration."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from claims import (
    access,
    changes,
    intake,
    lifecycle,
    masking,
    nightly,
    payments,
    people,
    printed,
    remit,
)
from claims.api.deps import SessionDep
from claims.models import (
    ApiClient,
    AppUser,
    Claim,
    EarlyWarning,
    Household,
    IncomeRecord,
    Member,
    PaymentBatch,
    PaymentState,
    Region,
    Role,
    TriggerEvent,
)
from claims.settings import get_settings
from claims.uploads import read_upload
from claims.web.i18n import N_, code_label, template_pattern, translator
from claims.web.pages import (
    CASELOAD,
    FORM_PROBLEM,
    PageError,
    User,
    came_from_here,
    check_csrf,
    form_numbers,
    gate,
    language_of,
    need_role,
    posted,
    refusal,
    render,
    text_for,
    whole_number,
)
from claims.web.printed import NO_SUCH_VILLAGE
from claims.web.printed import words as printed_words
from claims.web.session import set_password
from policies import registry
from policies.errors import DomainError
from policies.tables import typed_number

router = APIRouter(include_in_schema=False)
ROLES = ["clerk", "investigator", "adjudicator", "supervisor", "auditor", "admin"]


NO_HOUSEHOLD = "No such household, or not in your area."


# --- households ---------------------------------------------------------------------------------

@router.get("/households", dependencies=[Depends(came_from_here)])
def households(request: Request, session: SessionDep, user: User, q: str = ""):
    """Search by claim number, household number or a member's name (each in part). An ID
    number is looked up only by the form (a POST with its token), since the search is on the
    audit trail (a search by name too: not opened by another site's link)."""
    return _search(request, session, user, q.strip(), by_id_number=False)


@router.post("/households")
def households_by_form(request: Request, session: SessionDep, user: User,
                       q: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    check_csrf(request, user, csrf_token)
    return _search(request, session, user, q.strip(), by_id_number=True)


def _search(request, session: Session, user, q: str, by_id_number: bool):
    """The households found and their claims, with the claims whose number holds ``q``."""
    found = changes.find_households(session, user.actor, q, by_id_number)
    session.commit()  # the search's entry on the trail
    return render(request, "households.html", user=user, q=q, rows=found.households,
                  claims=found.claims, searched=found.searched)


@router.get("/households/{household_id}")
def household_page(request: Request, session: SessionDep, user: User, household_id: int):
    return _household(request, session, user, household_id, reveal=False)


@router.post("/households/{household_id}/reveal")
def reveal(request: Request, session: SessionDep, user: User, household_id: int,
           csrf_token: Annotated[str, Form()] = ""):
    """Show the household's names and ID numbers in full, once, on the audit trail."""
    check_csrf(request, user, csrf_token)
    if not user.actor.may_reveal:
        raise PageError(403, text_for(request, "You may not show personal data in full."))
    household = gate(request, lambda: access.household(session, user.actor, household_id),
                     NO_HOUSEHOLD)
    access.reveal(session, user.actor, household)
    session.commit()
    return _household(request, session, user, household_id, reveal=True)


def _household(request, session: Session, user, household_id: int, reveal: bool):
    household = gate(request, lambda: access.household(session, user.actor, household_id),
                     NO_HOUSEHOLD)
    members = session.exec(select(Member).where(Member.household_id == household_id)
                           .order_by(Member.id)).all()
    incomes = session.exec(select(IncomeRecord).where(IncomeRecord.household_id == household_id)
                           .order_by(IncomeRecord.period_start)).all()
    events = session.exec(select(TriggerEvent).where(TriggerEvent.household_id == household_id)
                          .order_by(TriggerEvent.id.desc()).limit(50)).all()
    claims = session.exec(select(Claim).where(Claim.household_id == household_id)
                          .order_by(Claim.id.desc())).all()
    warnings = session.exec(select(EarlyWarning).where(
        EarlyWarning.household_id == household_id).order_by(EarlyWarning.id.desc())).all()
    scored = nightly.current_score(session, household_id)
    lines = {}
    for record in incomes:
        year = record.period_start.year
        if year not in lines:
            try:
                lines[year] = registry.monitoring_line_for(session, household.village_id,
                                                           year)["amount"]
            except DomainError:
                lines[year] = None
    village = session.get(Region, household.village_id)
    return render(request, "household.html", user=user, household=household, village=village,
                  members=members, incomes=incomes, events=events, claims=claims,
                  warnings=warnings, score=scored.score, lines=lines, reveal=reveal,
                  caseload=CASELOAD.get(scored.population or ""),
                  # the factors of a warning raised by the current run, of the score shown
                  factors=next((w.factors for w in warnings if w.source == "risk"
                                and scored.run is not None and w.run_id == scored.run.id),
                               None),
                  name=(lambda n: n) if reveal else masking.name,
                  id_number=(lambda n: n) if reveal else masking.id_number)


# --- the public notice --------------------------------------------------------------------------

@router.get("/notice")
def notice(request: Request, session: SessionDep, user: User, village: int | None = None):
    """The claims in public notice in a village, ready to print on A4 (公示)."""
    villages = session.exec(
        select(Region.id, Region.name).join(Household, Household.village_id == Region.id)
        .join(Claim, Claim.household_id == Household.id)
        .where(Claim.state == "public_notice").distinct().order_by(Region.name)).all()
    villages = [v for v in villages if access.in_area(user.actor, v[0])]
    notice = None
    if village is not None:  # on screen, on the trail as viewed (it had been left out)
        came_from_here(request)
        notice = gate(request, lambda: printed.village_notice(session, user.actor, village,
                                                              fmt="html"), NO_SUCH_VILLAGE)
        session.commit()
    return render(request, "notice.html", user=user, villages=villages, n=notice,
                  may_notice=user.user.role in lifecycle.ACTIONS["start_notice"].roles,
                  # an auditor was offered to record an objection, always refused
                  may_object=user.user.role in lifecycle.ACTIONS["record_objection"].roles,
                  **printed_words(request))


# --- payments -----------------------------------------------------------------------------------

def county_wide(request: Request, user) -> None:
    """Payment batches hold the whole county's households: not for a user limited to some
    townships."""
    try:
        access.require_county(user.actor, "payment batches")
    except DomainError:
        raise PageError(403, text_for(request, "Payments are county-wide; your account is "
                                               "limited to some townships.")) from None


@router.get("/payments")
def payment_batches(request: Request, session: SessionDep, user: User):
    county_wide(request, user)
    batches = session.exec(select(PaymentBatch).order_by(PaymentBatch.id.desc()).limit(100)
                           ).all()
    summary = [(b, payments.batch_lines(session, b.id)) for b in batches]
    waiting = payments.claims_to_pay(session)
    return render(request, "payments.html", user=user, batches=summary, waiting=waiting,
                  may_pay=user.user.role in (Role.supervisor, Role.admin),
                  amount_of=payments.amount_of)


@router.post("/payments")
def new_batch(request: Request, session: SessionDep, user: User,
              csrf_token: Annotated[str, Form()] = ""):
    county_wide(request, user)
    check_csrf(request, user, csrf_token)
    need_role(request, user, Role.supervisor, Role.admin)
    try:
        batch = payments.create_batch(session, user.actor)
    except DomainError as refused:
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    session.commit()
    return RedirectResponse(f"/payments/{batch.id}", status_code=303)


@router.get("/payments/{batch_id}")
def batch_page(request: Request, session: SessionDep, user: User, batch_id: int):
    county_wide(request, user)
    try:
        batch = payments.get_batch(session, batch_id)
    except DomainError as refused:
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    lines = changes.flagged_lines(session, batch)
    return render(request, "batch.html", user=user, batch=batch, lines=lines, results=None,
                  amount=payments.amount_of(lines), settled=payments.settled(lines),
                  paid=payments.amount_of(lines, PaymentState.paid),
                  may_pay=user.user.role in (Role.supervisor, Role.admin),
                  account=masking.account, flag_days=get_settings().bank_change_flag_days)


@router.post("/payments/{batch_id}/bank-file")
def batch_file(request: Request, session: SessionDep, user: User, batch_id: int,
               csrf_token: Annotated[str, Form()] = "", format: Annotated[str, Form()] = "csv"):
    county_wide(request, user)
    check_csrf(request, user, csrf_token)
    need_role(request, user, Role.supervisor, Role.admin)
    if format not in ("csv", "xlsx"):
        raise PageError(422, text_for(request, "Choose the file's format: CSV or Excel."))
    try:
        name, data = payments.bank_file(session, user.actor, batch_id, format)
    except DomainError as refused:
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    session.commit()
    media = {"csv": "text/csv; charset=utf-8", "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}[format]
    return Response(data, media_type=media, headers={
        "content-disposition": f'attachment; filename="{name}"'})


@router.post("/payments/{batch_id}/confirmation")
def batch_confirmation(request: Request, session: SessionDep, user: User, batch_id: int,
                       file: Annotated[UploadFile, File()],
                       csrf_token: Annotated[str, Form()] = ""):
    county_wide(request, user)
    check_csrf(request, user, csrf_token)
    need_role(request, user, Role.supervisor, Role.admin)
    try:
        data = read_upload(file)
        results = payments.confirm(session, user.actor, batch_id, data,
                                   file.filename or "confirmation.csv")
    except DomainError as refused:
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    session.commit()
    language = language_of(request)
    results = [replace(r, reason=line_reason_text(r.reason, language)) for r in results]
    batch = payments.get_batch(session, batch_id)
    lines = changes.flagged_lines(session, batch)
    return render(request, "batch.html", user=user, batch=batch, lines=lines, results=results,
                  amount=payments.amount_of(lines), settled=payments.settled(lines),
                  paid=payments.amount_of(lines, PaymentState.paid),
                  may_pay=True,
                  account=masking.account, flag_days=get_settings().bank_change_flag_days)


LINE_PATTERNS = [(template, template_pattern(template)) for template in payments.LINE_REASONS]


def line_reason_text(text: str, language: str) -> str:
    """Why a line of the bank's answer was not applied, in the reader's language (a failed
    line's reason is the bank's own, as written)."""
    for template, pattern in LINE_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            values = found.groupdict()
            if "state" in values:
                values["state"] = code_label("PaymentState", values["state"], language)
            return translator(language)(template, **values)
    return text


# --- administration -----------------------------------------------------------------------------

def _administrator(request: Request, user) -> None:
    """Users and keys are the county's: administrators who work county-wide."""
    need_role(request, user, Role.admin)
    gate(request, lambda: access.require_county(user.actor, "users and API clients"))


@router.get("/admin")
def admin_page(request: Request, session: SessionDep, user: User, saved: str = "",
               added: bool = False):
    _administrator(request, user)
    # the user just saved, said (a save had only reloaded the page: a tester's)
    known = saved and session.exec(select(AppUser.id).where(AppUser.username == saved)).first()
    return _admin(request, session, user, saved=(saved, added) if known else None)


def _admin(request, session: Session, user, **shown):
    users = session.exec(select(AppUser).order_by(AppUser.username)).all()
    clients = session.exec(select(ApiClient).order_by(ApiClient.name)).all()
    townships = session.exec(select(Region.id, Region.name).where(
        Region.level == "township").order_by(Region.code)).all()
    return render(request, "admin.html", user=user, users=users, clients=clients,
                  remits={c.id: remit.view(c) for c in clients},
                  event_types=sorted(intake.event_types(session)),
                  townships=townships, roles=ROLES, names=dict(townships), **shown)


# An account's yes-or-no fields, under the admin page's labels.
FLAGS = {"may_reveal": N_("May show personal data in full"),
         "may_export": N_("May export members with full identifiers"), "active": N_("Active")}
UserForm = posted("username", "role", "approval_limit", "full_name", "set_townships", "townships",
                  "may_reveal", "may_export", "active", "id_number", "password",
                  lists=("townships",), ticks=("set_townships",))


@router.post("/admin/users")
def admin_user(request: Request, session: SessionDep, user: User, form: UserForm):
    """Add a user, or change one: only the fields given change (an empty field, or
    "unchanged", leaves it as it is)."""
    _administrator(request, user)
    check_csrf(request, user, form.get("csrf_token"))
    username = str(form.get("username", "")).strip()
    role = str(form.get("role", ""))
    limit_text = str(form.get("approval_limit", "")).strip()
    if role and role not in ROLES:
        raise PageError(422, text_for(request, "Choose a role."))
    try:
        existing = session.exec(select(AppUser).where(AppUser.username == username)).first()
        added = existing is None
        if existing is None:
            if not role:
                raise PageError(422, text_for(request, "Choose a role."))
            existing, _token = people.create_user(
                session, user.actor, username=username,
                full_name=str(form.get("full_name", "")) or username, role=role)
        settings = {}
        if role:
            settings["role"] = role
        if limit_text in ("none", "无"):
            settings["approval_limit"] = None
        elif limit_text:
            # as every typed amount is read: no sign, at most two decimals (a hostile
            # tester's -100 was saved, 0.001 became 0.00 and NaN was a server error)
            settings["approval_limit"] = typed_number(limit_text)
            if settings["approval_limit"] is None:
                raise PageError(422, text_for(request, "The approval limit is not an amount."))
        if form.get("set_townships") == "1":
            # none chosen: all; one the page cannot read is refused, not dropped (a typo had
            # made a township's clerk county-wide: a hostile tester's)
            settings["townships"] = form_numbers(request, form, "townships", "Townships") or None
        for flag in FLAGS:
            # "1", "0", or unchanged: "may_reveal=yes" had been read as nothing said (a
            # hostile tester's)
            value = str(form.get(flag, ""))
            if value not in ("1", "0", ""):
                _ = translator(language_of(request))
                raise PageError(422, _(FORM_PROBLEM, field=_(FLAGS[flag]),
                                       reason=_("choose yes, no or unchanged")))
            if value:
                settings[flag] = value == "1"
        people.update_user(session, user.actor, existing, **settings)
        if str(form.get("id_number", "")).strip():
            people.set_person(session, user.actor, existing, str(form.get("id_number")).strip())
        if form.get("password"):
            set_password(session, user.actor, existing, str(form.get("password")))
        session.commit()
    except DomainError as refused:
        session.rollback()
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    return RedirectResponse(f"/admin?saved={quote(username)}&added={int(added)}",
                            status_code=303)


@router.post("/admin/clients/{client_id}/deactivate")
def deactivate_client(request: Request, session: SessionDep, user: User, client_id: int,
                      csrf_token: Annotated[str, Form()] = ""):
    """A department's key stops working (within the 10 seconds a key is remembered)."""
    _administrator(request, user)
    check_csrf(request, user, csrf_token)
    client = session.get(ApiClient, client_id)
    if client is None:
        raise PageError(404, text_for(request, "Not found."))
    people.deactivate_client(session, user.actor, client)
    session.commit()
    return RedirectResponse("/admin", status_code=303)


RemitForm = posted("client_id", "department", "event_types", lists=("event_types",),
                   ticks=("department",))


@router.post("/admin/clients/event-types")
def client_remit(request: Request, session: SessionDep, user: User, form: RemitForm):
    """Set the event types a department's key may send, as PUT
    /api/admin/api-clients/{id}/event-types ("its department's": back to the default)."""
    _administrator(request, user)
    check_csrf(request, user, form.get("csrf_token"))
    client_id = str(form.get("client_id", ""))
    chosen_key = whole_number(client_id)
    if chosen_key is None:
        raise PageError(422, text_for(request, "Choose a key."))
    chosen = None if form.get("department") == "1" else [
        str(t) for t in form.getlist("event_types")]
    try:
        remit.set_remit(session, user.actor, chosen_key, chosen,
                        intake.event_types(session))
    except DomainError as refused:
        session.rollback()
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    session.commit()
    return RedirectResponse("/admin?remit=1", status_code=303)


@router.post("/admin/clients")
def admin_client(request: Request, session: SessionDep, user: User,
                 name: Annotated[str, Form()] = "", organisation: Annotated[str, Form()] = "",
                 csrf_token: Annotated[str, Form()] = ""):
    """Add a department's API key; the key is shown once, on this page (an empty form is
    refused by the service, in words of its own)."""
    _administrator(request, user)
    check_csrf(request, user, csrf_token)
    try:
        client, key = people.create_client(session, user.actor, name.strip(), organisation)
    except DomainError as refused:
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None
    session.commit()
    return _admin(request, session, user, new_key=(client.name, key))
