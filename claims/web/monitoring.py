"""The workspace's monitoring pages (赔付后监测): households in monitoring with their latest
income against the line, a household's income chart, alerts, reports due, follow-up case and
elimination; income reports entered or imported; the outcome report of a policy year."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import select

from claims import access, changes, clock, monitoring
from claims.api.deps import SessionDep
from claims.models import Claim, Household, Region, Role
from claims.uploads import read_upload
from claims.web import records as records_view
from claims.web.i18n import actor_text, code_label, translator
from claims.web.pages import (
    FORM_PROBLEM,
    PAGE,
    REFUSED_FIELDS,
    PageError,
    User,
    check_csrf,
    gate,
    language_of,
    need_role,
    posted,
    problem_reason,
    refusal,
    render,
    row_problem,
    template_pattern,
    text_for,
    typed_amount,
)
from policies import registry
from policies.errors import DomainError
from policies.messages import N_
from policies.models import IncomeFields, IncomeRecord, IncomeSource
from policies.registry import PageRequest
from policies.rules import PERIOD_PROBLEMS
from policies.tables import RowError, xlsx_bytes
from policies.types import TEXT_PROBLEMS
from risk.models import Assistance, Elimination, FollowUp, MonitoringAlert, MonitoringWindow

router = APIRouter(include_in_schema=False)
OFFICE = (Role.clerk, Role.supervisor, Role.admin)
# The lists of households in monitoring (?show=), by their names.
FILTERS = {"": N_("all"), "alerts": N_("with open alerts"), "overdue": N_("report overdue"),
           "follow_ups": N_("follow-up open"), "proposals": N_("proposed for elimination")}
NO_SUCH_LIST = N_("No such list; the lists are %(lists)s.")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INCOME_FIELDS = [name for name in IncomeFields.model_fields if name != "eligible_out_of_pocket"]


def _office(request: Request, user, csrf_token: str) -> None:
    check_csrf(request, user, csrf_token)
    need_role(request, user, *OFFICE)


# The office's forms' fields, by the labels the forms give them.
FORM_FIELDS = {"kind": N_("Assistance"), "description": N_("What was done"),
               "way": N_("Way"), "period_start": N_("Period from"),
               "period_end": N_("Period to"), "helper": N_("Helper"),
               "reference": N_("Reference"), "note": N_("Note")}
# The office's refusals by their code (claims.monitoring) whose words are the monitoring
# pages' own; the others are the workspace's (pages.refusal).
MONITORING_REFUSALS = {
    "no_figures": N_("An income report gives at least one figure: 0 where the household "
                     "earned nothing."),
    "steps_missing": N_("The risk cannot be confirmed eliminated yet. %(missing)s"),
    "step_order": N_("%(step)s comes after the %(needs)s."),
    "step_recorded": N_("This %(step)s is recorded already."),
    "unknown_step": N_("No such step of risk elimination; the steps are %(steps)s."),
    "assistance_recorded": N_("This measure is recorded already."),
    "before_identified": N_("The day is before the risk was identified (%(identified_on)s)."),
    "below_line": N_("The income per person, %(income)s, is below the line (%(line)s): the "
                     "risk is not eliminated."),
    "income_recorded": N_("The household's income report for %(start)s to %(end)s is "
                          "recorded already: correct that record instead."),
}
# A refusal's values that name steps of risk elimination.
STEP_VALUES = ("step", "needs", "steps")


def _field_label(field: str, language: str) -> str:
    """A form's field by its label in the reader's language."""
    label = (FORM_FIELDS.get(field) or records_view.FIELDS.get(field)
             or REFUSED_FIELDS.get(field))
    if label:
        return translator(language)(label)
    if field in IncomeFields.model_fields:
        return income_label(field, language)
    return field or "form"


def _value(name: str, value: Any, language: str) -> str:
    if name in STEP_VALUES:
        return ("、" if language == "zh" else ", ").join(
            code_label("Action", str(step), language)
            for step in (value if isinstance(value, list) else [value]))
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def refused_text(error: DomainError, language: str) -> str:
    """A refusal of the monitoring services in the reader's language: by its code, a bad
    text or period as the form's problem, the rest as every page words a refusal."""
    gettext = translator(language)
    code, values = error.code, error.values
    if code == "steps_missing" and values.get("missing") in STEP_PROBLEMS:
        return gettext(MONITORING_REFUSALS[code],
                       missing=gettext(STEP_PROBLEMS[values["missing"]]))
    if code in MONITORING_REFUSALS and code != "steps_missing":
        return gettext(MONITORING_REFUSALS[code], **{
            name: _value(name, value, language) for name, value in values.items()})
    problems = {**TEXT_PROBLEMS, **PERIOD_PROBLEMS}
    if code in problems:
        return gettext(FORM_PROBLEM, field=_field_label(error.field or "", language),
                       reason=gettext(problems[code], **{
                           name: str(value) for name, value in values.items()}))
    return refusal(error, gettext)


def _refused(request: Request, error: Exception) -> PageError:
    """A refused form in the user's language: a rule of the service, or a bad field by its
    label and the kind of mistake (the English words of pydantic's only for a kind no
    catalog names)."""
    language = language_of(request)
    gettext = translator(language)
    if isinstance(error, DomainError):
        return PageError(error.status_code, refused_text(error, language))
    problem = error.errors()[0]
    field = str(problem["loc"][0]) if problem["loc"] else ""
    name = _field_label(field, language)
    reason = problem_reason(field, problem["type"],
                            str(problem["msg"]).removeprefix("Value error, "), gettext)
    return PageError(422, gettext(FORM_PROBLEM, field=name, reason=reason)
                     if reason is not None else gettext("Check %(field)s: %(reason)s",
                                                        field=name, reason=problem["msg"]))


# What an elimination's flags say, by code (claims.monitoring.confirm_elimination), and why
# the system did not propose it (risk.monitoring.propose_elimination). The English words
# are those the flags were stored in before they were codes: such a row reads back by them.
ELIMINATION_FLAGS = {
    "quick_assistance": N_("eliminated by assistance within %(months)s months of "
                           "identification"),
    "not_proposed": N_("not proposed by the system: %(reason)s"),
}
NOT_PROPOSED = {
    "months_short": N_("income above the line for %(months)s of the %(needed)s months "
                       "needed"),
    "costs_unsettled": N_("large unavoidable costs are not settled"),
    "new_risk": N_("a new risk has appeared"),
    "no_labour": N_("no member has labour capacity: the office decides, not the system"),
}
# A lapsed proposal's note by its code (claims.monitoring.open_or_extend), likewise.
ELIMINATION_NOTES = {monitoring.NEW_WINDOW: N_("a new payout opened a new monitoring window")}


def _patterns(table: dict[str, str]) -> list[tuple[re.Pattern, str]]:
    return [(template_pattern(text), code) for code, text in table.items()]


_OLD_FLAGS, _OLD_REASONS = _patterns(ELIMINATION_FLAGS), _patterns(NOT_PROPOSED)


def _read_back(text: str, patterns: list[tuple[re.Pattern, str]]) -> dict[str, Any] | None:
    for pattern, code in patterns:
        found = pattern.fullmatch(text)
        if found:
            return {"code": code, **found.groupdict()}
    return None


def flag_code(flag: Any) -> dict[str, Any] | None:
    """A stored flag as its code and values; one stored in English before, read back to
    them; None for words no code has."""
    if isinstance(flag, dict):
        return flag
    found = _read_back(str(flag), _OLD_FLAGS)
    if found is not None and found["code"] == "not_proposed":
        reason = _read_back(found.pop("reason"), _OLD_REASONS)
        if reason is None:
            return None
        found.update(reason=reason.pop("code"), **reason)
    return found


def flag_text(flag: Any, language: str) -> str:
    """An elimination's flag in the reader's language."""
    gettext = translator(language)
    coded = flag_code(flag)
    if coded is None or coded.get("code") not in ELIMINATION_FLAGS:
        return str(flag)
    values = {k: v for k, v in coded.items() if k != "code"}
    if coded["code"] == "not_proposed":
        reason = NOT_PROPOSED.get(values.pop("reason", ""))
        if reason is None:
            return str(flag)
        values = {"reason": gettext(reason, **values)}
    return gettext(ELIMINATION_FLAGS[coded["code"]], **values)


_OLD_NOTES = {text: code for code, text in ELIMINATION_NOTES.items()}


def note_text(elimination: Elimination, language: str) -> str:
    """An elimination's note: the system's (a lapsed proposal's, by its code or the English
    words of before) in the reader's language, a person's as typed."""
    note = monitoring.view(elimination)["note"] or ""
    if elimination.status == "lapsed":
        code = note if note in ELIMINATION_NOTES else _OLD_NOTES.get(note)
        if code is not None:
            return translator(language)(ELIMINATION_NOTES[code])
    return note


NO_HOUSEHOLD = "No such household, or not in your area."


def _household_in_area(request: Request, session, user, household_id: int) -> Household:
    return gate(request, lambda: access.household(session, user.actor, household_id),
                NO_HOUSEHOLD)


def _case_in_area(request: Request, session, user, follow_up_id: int) -> FollowUp:
    return gate(request, lambda: access.follow_up(session, user.actor, follow_up_id),
                NO_HOUSEHOLD)


def _back(household_id: int) -> RedirectResponse:
    return RedirectResponse(f"/monitoring/households/{household_id}", status_code=303)


def _has(model, *where):
    return sa.exists().where(model.window_id == MonitoringWindow.id, *where)


# --- households in monitoring -------------------------------------------------------------------

@router.get("/monitoring")
def monitoring_page(request: Request, session: SessionDep, user: User, show: str = "",
                    page: Annotated[int, Query(ge=1)] = 1):
    if show not in FILTERS:
        gettext = translator(language_of(request))
        raise PageError(422, gettext(NO_SUCH_LIST, lists=("、" if language_of(request) == "zh"
                                                          else ", ").join(
            gettext(name) for name in FILTERS.values())))
    query = select(MonitoringWindow, Household.household_number, Region.name).join(
        Household, Household.id == MonitoringWindow.household_id).join(
        Region, Region.id == Household.village_id).where(MonitoringWindow.status == "open")
    query = access.households_in_area(query, user.actor)
    if show == "alerts":
        query = query.where(_has(MonitoringAlert, MonitoringAlert.status == "open"))
    elif show == "overdue":
        query = query.where(_has(MonitoringAlert, MonitoringAlert.status == "open",
                                 MonitoringAlert.kind == "report_overdue"))
    elif show == "follow_ups":
        query = query.where(_has(FollowUp, FollowUp.status == "open"))
    elif show == "proposals":
        query = query.where(_has(Elimination, Elimination.status == "proposed"))
    windows, total = registry.paginate(session, query.order_by(
        MonitoringWindow.opened_on.desc(), MonitoringWindow.id.desc()),
        PageRequest(offset=(page - 1) * PAGE, limit=PAGE))
    today, lines, rows = clock.county_today(), monitoring.Lines(session), []
    for window, number, village in windows:
        rows.append({"window": window, "number": number, "village": village,
                     "now": monitoring.standing(session, window, today, lines)})
    return render(request, "monitoring.html", user=user, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // PAGE)), show=show, filters=FILTERS,
                  may_act=user.user.role in OFFICE, imported=None, typed=monitoring.view)


@router.post("/monitoring/import")
def import_reports(request: Request, session: SessionDep, user: User,
                   file: Annotated[UploadFile, File()],
                   partial: Annotated[bool, Form()] = False,
                   csrf_token: Annotated[str, Form()] = ""):
    """Income reports from a file: the same checks and report as the API's import."""
    _office(request, user, csrf_token)
    try:
        data = read_upload(file)
        report = changes.import_income_reports(session, user.actor, data,
                                               file.filename or "reports.csv", clock.county_today(),
                                               partial=partial)
    except DomainError as refused:
        raise _refused(request, refused) from None
    if report.written:
        session.commit()
    else:
        session.rollback()
    # nothing written is a refusal, as the API's 422: the page lists why, row by row
    return render(request, "monitoring.html", status=200 if report.written else 422,
                  user=user, rows=[], total=0, page=1, pages=1,
                  show="", filters=FILTERS, may_act=True, imported=report,
                  problems=row_problems(report.errors, language_of(request)))


# The import's own fields; the income columns are named as the ledger names them.
IMPORT_FIELDS = {"household_number": N_("Household number"), "period_start": N_("Period start"),
                 "period_end": N_("Period end"), "reference": N_("Report reference")}


def income_label(name: str, language: str) -> str:
    """An income column by the ledger's Chinese name, or its English one."""
    if language != "zh":
        return name.replace("_", " ")
    return str(IncomeFields.model_fields[name].description).split(" (")[0]


def row_problems(errors: list[RowError], language: str) -> list[tuple[int, str, str, str]]:
    """An import's bad values as the reader reads them: the row, the field by its label, the
    value, and why."""
    gettext = translator(language)
    return [(error.row, gettext(IMPORT_FIELDS[error.field]) if error.field in IMPORT_FIELDS
             else income_label(error.field, language)
             if error.field in IncomeFields.model_fields else error.field,
             error.value, row_problem(error, gettext)) for error in errors]


# --- one household --------------------------------------------------------------------------------

@router.get("/monitoring/households/{household_id}")
def household_monitoring(request: Request, session: SessionDep, user: User, household_id: int,
                         recorded: int | None = None):
    """``recorded``: the income report just entered here, confirmed at the top."""
    household = _household_in_area(request, session, user, household_id)
    window = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == household_id).order_by(
        MonitoringWindow.id.desc())).first()
    if window is None:
        raise PageError(404, text_for(request, "This household has not been paid: it is not "
                                               "monitored."))
    today = clock.county_today()
    language = language_of(request)
    seen = monitoring.picture(session, window, today)
    eliminations = session.exec(select(Elimination).where(
        Elimination.household_id == household_id).order_by(Elimination.id.desc())).all()
    pending = next((e for e in eliminations if e.status == "proposed"), None)
    cases = session.exec(select(FollowUp).where(FollowUp.household_id == household_id)
                         .order_by(FollowUp.id.desc())).all()
    reports = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household_id, IncomeRecord.source == IncomeSource.report,
        IncomeRecord.period_end >= window.opened_on).order_by(
        IncomeRecord.period_end.desc(), IncomeRecord.id.desc())).all()
    given = session.exec(select(Assistance).where(
        Assistance.follow_up_id.in_([c.id for c in cases] or [-1])).order_by(Assistance.id)
    ).all()
    return render(
        request, "monitoring_household.html", user=user, household=household, window=window,
        village=session.get(Region, household.village_id), seen=seen, today=today,
        rules=monitoring.rules_of(window), reports=reports,
        # the report just saved, confirmed even when it ends before the monitoring began
        # and is not listed with the monitoring's (a tester's saved one without a word)
        recorded=_report_of(session, household_id, recorded),
        claim=session.get(Claim, window.claim_id),
        alerts=session.exec(select(MonitoringAlert).where(
            MonitoringAlert.household_id == household_id).order_by(
            MonitoringAlert.id.desc())).all(),
        cases=cases, given={c.id: [a for a in given if a.follow_up_id == c.id] for c in cases},
        eliminations=eliminations, fields_label=records_view.FIELDS,
        done={s.kind for s in monitoring.elimination_steps(session, pending)} if pending else (),
        steps={e.id: [(s, actor_text(s.actor, language, {}),
                       records_view.record_fields(s.kind, monitoring.view(s)["data"],
                                                  language, {}))
                      for s in monitoring.elimination_steps(session, e)]
               for e in eliminations},
        missing=[STEP_PROBLEMS[code] for code in monitoring.steps_missing(
            session, pending, today)] if pending else [STEP_PROBLEMS["home_check_missing"]],
        income_fields=INCOME_FIELDS,
        income_label=lambda name: income_label(name, language),
        flag_text=lambda flag: flag_text(flag, language),
        note_text=lambda elimination: note_text(elimination, language),
        typed=monitoring.view,
        may_act=user.user.role in OFFICE)


ReportForm = posted("period_start", "period_end", "reference", *INCOME_FIELDS)


@router.post("/monitoring/households/{household_id}/reports")
def enter_report(request: Request, session: SessionDep, user: User, household_id: int,
                 form: ReportForm):
    _office(request, user, str(form.get("csrf_token", "")))
    _household_in_area(request, session, user, household_id)
    values = {k: typed_amount(v) if k in INCOME_FIELDS else v for k, v in form.items()
              if k in ("period_start", "period_end", "reference", *INCOME_FIELDS) and v != ""}
    try:
        report = monitoring.IncomeReportIn.model_validate(values)
        record = monitoring.record_income_report(session, user.actor, household_id, report,
                                                 clock.county_today())
    except (DomainError, ValidationError) as refused:
        raise _refused(request, refused) from None
    session.commit()
    return RedirectResponse(f"/monitoring/households/{household_id}?recorded={record.id}",
                            status_code=303)


@router.post("/monitoring/follow-ups/{follow_up_id}/helper")
def assign_helper(request: Request, session: SessionDep, user: User, follow_up_id: int,
                  helper: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    _office(request, user, csrf_token)
    case = _case_in_area(request, session, user, follow_up_id)
    try:
        monitoring.assign_helper(session, user.actor, follow_up_id, helper)
    except DomainError as refused:
        raise _refused(request, refused) from None
    session.commit()
    return _back(case.household_id)


AssistanceForm = posted("kind", "description", "amount", "given_on", "reference")


@router.post("/monitoring/follow-ups/{follow_up_id}/assistance")
def record_assistance(request: Request, session: SessionDep, user: User,
                      follow_up_id: int, form: AssistanceForm):
    _office(request, user, str(form.get("csrf_token", "")))
    case = _case_in_area(request, session, user, follow_up_id)
    values = {k: typed_amount(v) if k == "amount" else v for k, v in form.items()
              if k in ("kind", "description", "amount", "given_on", "reference") and v != ""}
    try:
        monitoring.record_assistance(session, user.actor, follow_up_id,
                                     monitoring.AssistanceIn.model_validate(values),
                                     clock.county_today())
    except (DomainError, ValidationError) as refused:
        raise _refused(request, refused) from None
    session.commit()
    return _back(case.household_id)


@router.post("/monitoring/follow-ups/{follow_up_id}/close")
def close_follow_up(request: Request, session: SessionDep, user: User, follow_up_id: int,
                    outcome: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                    csrf_token: Annotated[str, Form()] = ""):
    _office(request, user, csrf_token)
    case = _case_in_area(request, session, user, follow_up_id)
    try:
        monitoring.close_follow_up(session, user.actor, follow_up_id,
                                   monitoring.OutcomeIn(outcome=outcome, note=note),
                                   clock.county_today())
    except (DomainError, ValidationError) as refused:
        raise _refused(request, refused) from None
    session.commit()
    return _back(case.household_id)


# What the office must still do before confirming an elimination (monitoring.steps_missing).
STEP_PROBLEMS = {
    "home_check_missing": N_("Next: the home check."),
    "needs_not_secure": N_("The home check found a basic need not secure: the risk is not "
                           "eliminated. Decline the proposal, or check again later."),
    "review_missing": N_("Next: the village review."),
    "review_disagreed": N_("The village review disagreed: decline the proposal, or review "
                           "again."),
    "notice_missing": N_("Next: the public notice."),
    "objection_upheld": N_("An objection to the notice was upheld: decline the proposal, or "
                           "start again from the home check."),
    "notice_running": N_("The notice is running; the office decides when it has ended."),
}


def _report_of(session, household_id: int, record_id: int | None) -> IncomeRecord | None:
    record = session.get(IncomeRecord, record_id) if record_id is not None else None
    return record if record is not None and record.household_id == household_id \
        and record.source == IncomeSource.report else None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", ",").replace("、", ",").split(",")
            if part.strip()]


# The fields each step of an elimination posts.
ELIMINATION_FIELDS = {"home_check": ("visit_date", "team", "findings", *monitoring.SECURE),
                      "democratic_review": ("outcome", "representatives", "notes"),
                      "notice": ("start_date",), "objection": ("text", "upheld")}
EliminationForm = posted(by=lambda path: ELIMINATION_FIELDS.get(path["kind"]),
                         ticks=(*monitoring.SECURE, "upheld"))


@router.post("/monitoring/households/{household_id}/elimination/steps/{kind}")
def record_elimination_step(request: Request, session: SessionDep, user: User,
                            household_id: int, kind: str, posted: EliminationForm):
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    _office(request, user, form.get("csrf_token", ""))
    _household_in_area(request, session, user, household_id)
    data: dict[str, Any]
    if kind == "home_check":
        data = {"visit_date": form.get("visit_date", ""), "team": _names(form.get("team", "")),
                "findings": form.get("findings", ""),
                **{name: form.get(name) == "1" for name in monitoring.SECURE}}
    elif kind == "democratic_review":
        data = {"outcome": form.get("outcome", ""),
                "representatives": _names(form.get("representatives", "")),
                "notes": form.get("notes", "")}
    elif kind == "notice":
        data = {"start_date": form.get("start_date") or clock.county_today().isoformat()}
    else:
        data = {"text": form.get("text", ""), "upheld": form.get("upheld") == "1"}
    try:
        monitoring.record_elimination_step(session, user.actor, household_id, kind, data,
                                           clock.county_today())
    except DomainError as refused:
        raise _refused(request, refused) from None
    session.commit()
    return _back(household_id)


@router.post("/monitoring/households/{household_id}/elimination")
def confirm_elimination(request: Request, session: SessionDep, user: User, household_id: int,
                        way: Annotated[str, Form()] = "",
                        eliminated_on: Annotated[str, Form()] = "",
                        note: Annotated[str, Form()] = "",
                        csrf_token: Annotated[str, Form()] = ""):
    _office(request, user, csrf_token)
    _household_in_area(request, session, user, household_id)
    try:
        decision = monitoring.EliminationIn.model_validate(
            {"way": way, "eliminated_on": eliminated_on, "note": note})
        monitoring.confirm_elimination(session, user.actor, household_id, decision,
                                       clock.county_today())
    except (DomainError, ValidationError) as refused:
        raise _refused(request, refused) from None
    session.commit()
    return _back(household_id)


@router.post("/monitoring/eliminations/{elimination_id}/decline")
def decline_elimination(request: Request, session: SessionDep, user: User,
                        elimination_id: int, note: Annotated[str, Form()] = "",
                        csrf_token: Annotated[str, Form()] = ""):
    _office(request, user, csrf_token)
    proposal = gate(request, lambda: access.elimination(session, user.actor, elimination_id),
                    NO_HOUSEHOLD)
    try:
        monitoring.decline_elimination(session, user.actor, elimination_id, note)
    except DomainError as refused:
        raise _refused(request, refused) from None
    session.commit()
    return _back(proposal.household_id)


# --- the outcome report -------------------------------------------------------------------------

def _outcomes(request: Request, session, user, year: int | None) -> dict[str, Any]:
    if access.limited(user.actor):
        raise PageError(403, text_for(request, "The outcome report is county-wide; your "
                                               "account is limited to some townships."))
    years = session.exec(select(Claim.policy_year).distinct().order_by(
        Claim.policy_year.desc())).all()
    year = year or (years[0] if years else clock.county_today().year)
    return monitoring.outcome_report(session, year, clock.county_today()) | {"years": years}


@router.get("/monitoring/outcomes")
def outcomes_page(request: Request, session: SessionDep, user: User,
                  year: Annotated[int | None, Query(ge=2000, le=2100)] = None):
    report = _outcomes(request, session, user, year)
    return render(request, "outcomes.html", user=user, report=report)


@router.get("/monitoring/outcomes.xlsx")
def outcomes_workbook(request: Request, session: SessionDep, user: User,
                      year: Annotated[int | None, Query(ge=2000, le=2100)] = None):
    report = _outcomes(request, session, user, year)
    return Response(outcome_workbook(report, language_of(request)), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="outcomes-{report["policy_year"]}.xlsx"'})


def outcome_workbook(report: dict[str, Any], *languages: str) -> bytes:
    """The outcome report as a workbook under the page's labels, in the reader's language;
    the API's, for a caller with a token and no language, in Chinese and English ("疾病
    illness": its triggers had been codes, its labels a second copy of the page's)."""
    def say(text: str, **values: Any) -> str:
        return " ".join(translator(language)(text, **values) for language in languages)

    def code(kind: str, value: str) -> str:
        return " ".join(code_label(kind, value, language) for language in languages)

    groups = {"total": say("All households paid"), "township": say("By township"),
              "trigger": say("By trigger")}
    headings = [say("Group"), say("Group name"), say("Households paid"), *(
        " ".join(translator(language)(
            "%(months)s months: %(outcome)s", months=column.rsplit("_", 1)[1],
            outcome=code_label("Outcome", column.rsplit("_", 1)[0], language))
            for language in languages)
        for column in report["columns"][1:])]
    rows = [[groups[row["by"]], code("Trigger", row["name"])
             if row["by"] == "trigger" else row["name"], *(row[c] for c in report["columns"])]
            for row in report["rows"]]
    return xlsx_bytes(headings, rows, f"{say('Outcome report')} {report['policy_year']}")
