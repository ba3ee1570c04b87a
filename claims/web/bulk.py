"""The workspace's pages where work is bulk (批量办理): the early warnings (filtered by township,
score and status, exported, closed one at a time or many at once), a village meeting's review
of every claim waiting for it, the public notice of a village started or closed at once, and a
chosen list of claims approved. Every warning and every claim goes through the same service as
a single step (claims.warnings, claims.bulk), each on the audit trail; the result page lists
what was done and, translated, why the rest was not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import select

from claims import access, bulk, clock, lifecycle, masking
from claims import warnings as warning_service
from claims.api.deps import SessionDep
from claims.models import Claim, Household, Region, Role
from claims.web.i18n import N_, code_label, county_time, translator, warning_text
from claims.web.pages import (
    APPROVAL_BARS,
    NO_SUCH_FIELD,
    NOT_A_NUMBER,
    NOT_A_SCORE,
    PAGE,
    STEP_REFUSALS,
    PageError,
    User,
    approval_hint,
    check_csrf,
    filter_refused,
    form_data,
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
from policies import registry
from policies.errors import Conflict, DomainError, NotFound
from policies.registry import PageRequest
from policies.tables import xlsx_bytes

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OFFICE = (Role.clerk, Role.supervisor, Role.admin)
NOTICE_ROLES = tuple(sorted(bulk.NOTICE))
APPROVERS = tuple(sorted(bulk.APPROVERS))
REVIEWERS = tuple(sorted(bulk.REVIEWERS))

WARNING_OUTCOMES = {
    "visited": N_("Visited: the household is managing"),
    "assisted": N_("Assistance arranged"),
    "monitored": N_("Taken into monitoring"),
    "no_risk": N_("Checked: no risk"),
    "other": N_("Other (see the note)"),
}
# the night's own closing, never offered on the form
CLOSED_BY_THE_NIGHT = {warning_service.CASELOAD: N_(
    "Closed by the night's run: the household is now below the line or monitored (the "
    "office's caseload)")}
WARNING_STATUSES = {"open": N_("Open"), "closed": N_("Closed")}
WARNING_SOURCES = {"risk": N_("risk score"), "event": N_("events")}
SCORE_ORDER = N_("The lowest score is above the highest.")

# Why a claim did not take a bulk step (claims.bulk.REASONS), in the user's language.
REASONS = {
    "not_found": N_("No such claim, or not in your area."),
    "not_waiting": N_("This claim does not wait for this village's review (any more)."),
    "not_in_notice": N_("This claim is not in this village's public notice (any more)."),
    "state": N_("The claim is %(state)s: this step is not possible now."),
    "notice_started": N_("The notice already started on %(date)s."),
    "notice_running": N_("The notice runs until %(end)s: it can be closed from %(date)s."),
    "start_date": N_("The notice of this claim can start from %(date)s (the day of the "
                     "review) to today."),
    "nothing_due": N_("Nothing is due on this claim."),
    "above_limit": N_("The amount is above your approval limit of %(limit)s yuan."),
    "role": N_("Your role may not take this step."),
    "not_the_investigator": N_("Another investigator was sent to this claim: the survey is "
                               "theirs."),
    **APPROVAL_BARS,
}
DONE = {
    "start_notice": N_("Notice started"),
    "close_notice": N_("Notice closed: the claim waits for approval"),
    "approve": N_("Approved: the claim waits for payment"),
    "submit_survey": N_("Survey recorded: the claim waits for the village review"),
    "record_review": N_("Agreed by the village: the claim waits for its public notice"),
    "review_disagreed": N_("Not agreed by the village: the claim is rejected"),
}
WAITING = N_("First approval given: a supervisor gives the second.")


# --- the early warnings -------------------------------------------------------------------------

def _score(request: Request, text: str, label: str) -> float | None:
    try:
        value = float(text) if text.strip() else None
    except ValueError:
        value = -1.0
    if value is not None and not 0 <= value <= 1:
        raise filter_refused(translator(language_of(request)), label, NOT_A_SCORE, text)
    return value


def warning_filter(request: Request, township: str = "", min_score: str = "",
                   max_score: str = "", status: str = "open",
                   source: str = "") -> warning_service.WarningFilter:
    """The page's filter from its query (or form) fields; bad values are the page's 422."""
    try:
        chosen = int(township) if township.strip() else None
    except ValueError:
        raise filter_refused(translator(language_of(request)), N_("Township"), NOT_A_NUMBER,
                             township) from None
    f = warning_service.WarningFilter(
        chosen, _score(request, min_score, N_("Risk from")),
        _score(request, max_score, N_("Risk to")),
        status if status in ("", *warning_service.STATUSES) else "open",
        source if source in WARNING_SOURCES else "")
    if f.min_score is not None and f.max_score is not None and f.min_score > f.max_score:
        raise PageError(422, text_for(request, SCORE_ORDER))
    return f


def _query_string(f: warning_service.WarningFilter) -> str:
    from urllib.parse import urlencode

    return urlencode({"township": "" if f.township is None else f.township,
                      "min_score": "" if f.min_score is None else f.min_score,
                      "max_score": "" if f.max_score is None else f.max_score,
                      "status": f.status, "source": f.source})


def outcome_text(stored: str, gettext) -> str:
    """A closed warning's outcome in the user's language (older free text as written)."""
    code, note = warning_service.outcome_parts(stored)
    if code is None:
        return note
    return gettext({**WARNING_OUTCOMES, **CLOSED_BY_THE_NIGHT}[code]) + (
        f": {note}" if note else "")


@router.get("/warnings")
def warnings_page(request: Request, session: SessionDep, user: User,
                  page: Annotated[int, Query(ge=1)] = 1, township: str = "",
                  min_score: str = "", max_score: str = "", status: str = "open",
                  source: str = "", export: str = ""):
    f = warning_filter(request, township, min_score, max_score, status, source)
    gettext = translator(language_of(request))
    townships = warning_service.townships_of(session, user.actor)
    if f.township is not None and f.township not in {t for t, _ in townships}:
        f.township = -1  # another area's township selects nothing, as a missing one
    if export == "xlsx":
        return _export(request, session, user, f)
    rows, total = registry.paginate(session, warning_service.filtered(
        user.actor, f, Household.household_number),
        PageRequest(offset=(page - 1) * PAGE, limit=PAGE))
    return render(request, "warnings.html", user=user, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // PAGE)), f=f, filter_query=_query_string(f),
                  townships=townships, outcomes=WARNING_OUTCOMES, statuses=WARNING_STATUSES,
                  sources=WARNING_SOURCES, limit=warning_service.BULK_LIMIT,
                  outcome_text=lambda stored: outcome_text(stored, gettext),
                  may_close=user.user.role in OFFICE)


def _export(request: Request, session, user, f) -> Response:
    """The filtered warnings as a workbook: labelled columns in the user's language, times
    in the county's clock, scores with two places."""
    language = language_of(request)
    _ = translator(language)
    headings = [_("Household"), _("Township"), _("Village"), _("Raised at"), _("Source"),
                _("Risk"), _("What raised it"), _("Status"), _("Closed at"), _("Outcome")]
    table = [[number, township, village, county_time(w.created_at, language),
              _(WARNING_SOURCES.get(w.source, w.source)),
              None if w.score is None else Decimal(str(w.score)).quantize(Decimal("0.01")),
              warning_text(w.text, language), _(WARNING_STATUSES.get(w.status, w.status)),
              county_time(w.closed_at, language),
              outcome_text(w.outcome, _) if w.status == "closed" else ""]
             for w, number, village, township in warning_service.export_rows(
                 session, user.actor, f)]
    return Response(xlsx_bytes(headings, table, _("Early warnings")), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="warnings.xlsx"'})


CloseForm = posted("outcome", "note", "back")


@router.post("/warnings/{warning_id}/close")
def close_warning_page(request: Request, session: SessionDep, user: User,
                       warning_id: int, posted: CloseForm):
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    check_csrf(request, user, form.get("csrf_token"))
    need_role(request, user, *OFFICE)
    warning = gate(request, lambda: access.warning(session, user.actor, warning_id),
                   N_("No such warning, or not in your area."))
    outcome = form.get("outcome", "")
    try:
        warning_service.close(session, user.actor, warning, outcome, form.get("note", ""))
    except Conflict:
        raise PageError(409, text_for(request, "This warning is closed already.")) from None
    except DomainError:
        raise PageError(422, text_for(request, "Choose the outcome; for “other”, say in the "
                                               "note what the office did.")) from None
    session.commit()
    # back to the list as it was filtered (only ever this site's /warnings)
    back = form.get("back", "").replace("\n", "")
    return RedirectResponse(f"/warnings?{back}{'&' if back else ''}closed={warning.id}",
                            status_code=303)


CloseManyForm = posted("township", "min_score", "max_score", "source", "outcome", "note", "all",
                       "warning_id", lists=("warning_id",), ticks=("all",))


@router.post("/warnings/close")
def close_warnings_page(request: Request, session: SessionDep, user: User,
                        form: CloseManyForm):
    """Close the chosen warnings (or every open one the filter selects, up to a bound)."""
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, *OFFICE)
    _ = translator(language_of(request))
    text = {k: str(form.get(k, "")) for k in ("township", "min_score", "max_score", "source",
                                              "outcome", "note", "all")}
    f = warning_filter(request, text["township"], text["min_score"], text["max_score"],
                       "open", text["source"])
    try:
        if text["all"] == "1":
            ids = warning_service.ids_matching(session, user.actor, f)
        else:
            ids = form_numbers(request, form, "warning_id", N_("Early warning"))
        results = warning_service.close_many(session, user.actor, ids, text["outcome"],
                                             text["note"])
    except DomainError as refused:
        session.rollback()
        messages = {"all": _("The filter selects more than %(limit)s open warnings: narrow "
                             "it and close them in parts.", limit=warning_service.BULK_LIMIT),
                    "warning_ids": _("Choose at least one warning (at most %(limit)s).",
                                     limit=warning_service.BULK_LIMIT)}
        raise PageError(422, messages.get(refused.field or "", _(
            "Choose the outcome; for “other”, say in the note what the office did."))
        ) from None
    session.commit()
    rows = []
    for r in results:
        if r.done:
            why = ""
        elif isinstance(r.error, NotFound):
            why = _("No such warning, or not in your area.")
        elif isinstance(r.error, Conflict):
            why = _("This warning is closed already.")
        else:
            why = refusal(r.error, _) if r.error else ""
        rows.append({"label": r.household_number or f"#{r.warning_id}",
                     "done": r.done, "text": _("Closed") if r.done else why})
    return render(request, "bulk_result.html", user=user, title=_("Close early warnings"),
                  rows=rows, back="/warnings?" + _query_string(f),
                  summary=_("%(done)s of %(total)s closed.", done=sum(r.done for r in results),
                            total=len(results)))


def chosen_village(session, form, gettext) -> int:
    """The village a bulk form names (its id), or the page's 422: none chosen, or a region
    that is not a village (a township's id sent instead)."""
    village = whole_number(form.get("village", ""))
    if village is None:
        raise PageError(422, gettext("Choose the village."))
    region = session.get(Region, village)
    if region is None or region.level != "village":
        raise PageError(422, gettext(STEP_REFUSALS["not_a_village"]))
    return village


# --- a village meeting's review of every waiting claim -------------------------------------------

@router.get("/review")
def review_page(request: Request, session: SessionDep, user: User, village: int | None = None):
    """The villages with claims waiting for the village review (民主评议), and a chosen
    village's claims with one form for the meeting."""
    found = session.exec(
        select(Region.id, Region.name, sa.func.count(Claim.id))
        .join(Household, Household.village_id == Region.id)
        .join(Claim, Claim.household_id == Household.id)
        .where(Claim.state == lifecycle.S.village_review)
        .group_by(Region.id, Region.name).order_by(Region.name)).all()
    villages = [(v, name, count) for v, name, count in found if access.in_area(user.actor, v)]
    claims, chosen = [], None
    if village is not None:
        chosen = gate(request, lambda: _village(session, user, village),
                      N_("Not found, or not in your area."))
        # the head's name, masked, by which the meeting knows the family (a browser walk's
        # list gave claim and household numbers only)
        claims = [(claim, number, masking.name(head)) for claim, number, head in session.exec(
            select(Claim, Household.household_number, registry.HEAD_NAME)
            .join(Household, Household.id == Claim.household_id)
            .where(Household.village_id == village, Claim.state == lifecycle.S.village_review)
            .order_by(Claim.claim_number)).all()]
    return render(request, "review.html", user=user, villages=villages, chosen=chosen,
                  claims=claims, may_review=user.user.role in REVIEWERS)


def _village(session, user: User, village_id: int) -> Region:
    village = session.get(Region, village_id)
    if village is None or village.level != "village" or not access.in_area(user.actor,
                                                                            village_id):
        raise NotFound(f"village {village_id} does not exist or is not in your area",
                       field="village", value=village_id)
    return village


REASON_UNTICKED = N_("A reason is written for %(claim)s but “Did not agree” is not ticked: "
                     "tick it, or clear the reason.")
# the village, its claims shown, the meeting's fields, and a reason_N for each claim N the
# meeting did not agree to
ReviewForm = posted("village", "claim", "disagree", "representatives", "notes",
                    pattern=r"reason_[0-9]{1,18}", lists=("claim", "disagree"))


@router.post("/review")
def review_village_page(request: Request, session: SessionDep, user: User, form: ReviewForm):
    """Record the meeting's review of the claims its page listed."""
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, *REVIEWERS)
    _ = translator(language_of(request))
    village_id = chosen_village(session, form, _)
    data = form_data("record_review", {k: str(v) for k, v in form.items()})
    disagree = {v: str(form.get(f"reason_{v}", ""))
                for v in form_numbers(request, form, "disagree", N_("Did not agree"))}
    shown = form_numbers(request, form, "claim", N_("Claim"))
    for name in (name for name in form.keys() if name.startswith("reason_")):
        claim_id = whole_number(name.removeprefix("reason_"))
        if claim_id not in shown or name != f"reason_{claim_id}":  # reason_033, another's
            raise PageError(422, _(NO_SUCH_FIELD, field=name))
        if str(form.get(name, "")).strip() and claim_id not in disagree:
            # a reason typed, the box left unticked: it had been agreed, the reason lost (a
            # hostile tester's)
            raise PageError(422, _(REASON_UNTICKED, claim=session.get(
                Claim, claim_id).claim_number))
    results = gate(request, lambda: bulk.review_village(
        session, user.actor, village_id, claim_ids=shown, representatives=data["representatives"],
        notes=data["notes"], disagree=disagree), session=session)
    session.commit()
    name = session.get(Region, village_id).name
    done = sum(r.outcome == "done" for r in results)
    return render(request, "bulk_result.html", user=user,
                  title=f"{name} · " + _("Village review"),
                  rows=_claim_rows(request, results, "record_review",
                                   dict.fromkeys(disagree, "review_disagreed")),
                  back=f"/review?village={village_id}",
                  summary=_("%(done)s of %(total)s claims took the step.", done=done,
                            total=len(results)) if results else
                  _("No claim of this village waits for the village review."))


# --- the public notice of a village at once -----------------------------------------------------

def _claim_rows(request: Request, results: list[bulk.Result], action: str,
                done_as: dict[int, str] | None = None) -> list[dict]:
    """The result page's rows; ``done_as`` words a claim's done step otherwise than
    ``action`` (a review the village did not agree to)."""
    language = language_of(request)
    _ = translator(language)
    rows = []
    for r in results:
        if r.outcome == "done":
            text = _(DONE[(done_as or {}).get(r.claim_id, action)])
        elif r.outcome == "waiting":
            text = _(WAITING)
        elif r.reason in REASONS:
            values = {k: (code_label("ClaimState", v, language) if k == "state"
                          else f"{v:,.2f}" if k == "limit" and v is not None else v)
                      for k, v in r.values.items()}
            text = _(REASONS[r.reason], **values) if values else _(REASONS[r.reason])
        else:
            text = refusal(r.error, _) if r.error is not None else r.message
        rows.append({"label": r.claim_number or f"#{r.claim_id}", "href": f"/claims/{r.claim_id}"
                     if r.claim_number else None, "done": r.outcome != "refused",
                     "text": text})
    return rows


NoticeStartForm = posted("village", "claim", "start_date", lists=("claim",))
NoticeCloseForm = posted("village")


@router.post("/notice/start")
def start_notices_page(request: Request, session: SessionDep, user: User,
                       form: NoticeStartForm):
    """Start the public notice of every claim of a village that waits for it."""
    return _notice_bulk(request, session, user, form, "start")


@router.post("/notice/close")
def close_notices_page(request: Request, session: SessionDep, user: User,
                       form: NoticeCloseForm):
    """Close the public notice of every claim of a village whose period has ended."""
    return _notice_bulk(request, session, user, form, "close")


def _notice_bulk(request: Request, session, user, form, step: str):
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, *NOTICE_ROLES)
    _ = translator(language_of(request))
    village_id = chosen_village(session, form, _)
    start = str(form.get("start_date", "")).strip()
    try:
        start_date = date.fromisoformat(start) if start else None
    except ValueError:
        raise PageError(422, _("“%(value)s” is not a date.", value=start)) from None
    if start_date is not None and start_date > clock.county_today():
        raise PageError(422, _("The notice cannot start after today."))
    if step == "start":
        listed = form_numbers(request, form, "claim", N_("Claim"))
        results = gate(request, lambda: bulk.start_notices(
            session, user.actor, village_id, claim_ids=listed, start_date=start_date),
            N_("Not found, or not in your area."), session=session)
    else:
        results = gate(request, lambda: bulk.close_notices(session, user.actor, village_id),
                       N_("Not found, or not in your area."), session=session)
    session.commit()
    action = "start_notice" if step == "start" else "close_notice"
    name = session.get(Region, village_id).name
    done = sum(r.outcome == "done" for r in results)
    return render(request, "bulk_result.html", user=user,
                  title=f"{name} · " + (_("Start the notice") if step == "start"
                                        else _("Close the notice")),
                  rows=_claim_rows(request, results, action), back=f"/notice?village={village_id}",
                  summary=_("%(done)s of %(total)s claims took the step.", done=done,
                            total=len(results)) if results else
                  _("No claim of this village is in public notice."))


# --- approving a chosen list --------------------------------------------------------------------

@router.get("/approvals")
def approvals_page(request: Request, session: SessionDep, user: User):
    """The claims waiting for approval in the user's area, each with whether the user may
    approve it and what their limit allows."""
    need_role(request, user, *APPROVERS)
    _ = translator(language_of(request))
    village = sa.orm.aliased(Region)
    found = session.exec(access.households_in_area(
        select(Claim, Household.household_number, village.name)
        .join(Household, Household.id == Claim.household_id)
        .join(village, village.id == Household.village_id)
        .where(Claim.state == lifecycle.S.approval), user.actor)
        .order_by(Claim.due_date, Claim.id).limit(bulk.APPROVAL_LIMIT)).all()
    limit = user.user.approval_limit
    rows = []
    for claim, number, village_name in found:
        bar = lifecycle.approval_bar(session, claim, user.actor)
        due = lifecycle.proposed_amount(claim)
        # the claim page's hints, before the user approves (the list had said "first
        # approval given" of a claim nobody had approved)
        hint = _(REASONS["nothing_due"]) if bar is None and due <= 0 else " ".join(
            approval_hint(claim, user, bar, _))
        rows.append({"claim": claim, "household": number, "village": village_name,
                     "due": due, "bar": bar is not None or due <= 0, "hint": hint})
    return render(request, "approvals.html", user=user, rows=rows,
                  limit=limit, most=bulk.APPROVAL_LIMIT)


ApprovalForm = posted("claim_id", "note", lists=("claim_id",))


@router.post("/approvals")
def approve_page(request: Request, session: SessionDep, user: User, form: ApprovalForm):
    check_csrf(request, user, str(form.get("csrf_token", "")))
    need_role(request, user, *APPROVERS)
    _ = translator(language_of(request))
    ids = form_numbers(request, form, "claim_id", N_("Claim"))
    note = str(form.get("note", ""))[:500]
    try:
        results = bulk.approve(session, user.actor, ids, note)
    except DomainError:
        session.rollback()
        raise PageError(422, _("Choose at least one claim (at most %(limit)s).",
                               limit=bulk.APPROVAL_LIMIT)) from None
    session.commit()
    done = sum(r.outcome != "refused" for r in results)
    return render(request, "bulk_result.html", user=user, title=_("Approve claims"),
                  rows=_claim_rows(request, results, "approve"), back="/approvals",
                  summary=_("%(done)s of %(total)s claims took the step.", done=done,
                            total=len(results)))
