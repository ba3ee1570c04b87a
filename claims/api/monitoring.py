"""After the payout, for the office: households in monitoring with their income recomputed
from the ledger, income reports, alerts, follow-up cases with the assistance given, risk
elimination, and the county's outcome report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from sqlmodel import Session, select

from claims import access, audit, clock, monitoring
from claims.api.deps import PageDep, SessionDep, check_regions
from claims.api.scope import EliminationInArea, FollowUpInArea, HouseholdInArea
from claims.auth import Actor, staff
from claims.models import Role
from claims.web.monitoring import outcome_workbook
from policies import registry
from policies.models import Household
from policies.types import MultilineText, Text
from risk.models import (
    Assistance,
    Elimination,
    FollowUp,
    MonitoringAlert,
    MonitoringRun,
    MonitoringWindow,
)

router = APIRouter(prefix="/api", tags=["monitoring"])
Reader = Annotated[Actor, Depends(staff())]
Office = Annotated[Actor, Depends(staff(Role.clerk, Role.supervisor))]
CountyReader = Annotated[Actor, Depends(staff(county="the monitoring report"))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _fields(row) -> dict[str, Any]:
    return audit.jsonable(monitoring.view(row))


def _point(point: dict[str, Any]) -> dict[str, Any]:
    return audit.jsonable(point)


def window_view(session: Session, window: MonitoringWindow, today: date) -> dict[str, Any]:
    """A window with what the ledger says now: reports against the line, reports due and
    overdue, months stable."""
    seen = monitoring.picture(session, window, today)
    return {**_fields(window), "rules": monitoring.rules_of(window).model_dump(mode="json"),
            "points": [_point(p) for p in seen.points], "due": [str(d) for d in seen.due],
            "overdue": [str(d) for d in seen.overdue], "months_stable": seen.months_stable}


@router.get("/monitoring/households")
def households_in_monitoring(
    session: SessionDep, actor: Reader, page: PageDep,
    status: Annotated[str, Query(pattern="^(open|closed|eliminated|)$",
                                 description="the window's status; empty for all")] = "open",
    village_id: int | None = None,
):
    """Households in a monitoring window, the latest paid first, each with its latest
    income against the line, open alerts, open follow-up and pending proposal."""
    check_regions(session, village_id=village_id)
    query = access.households_in_area(select(MonitoringWindow, Household.household_number).join(
        Household, Household.id == MonitoringWindow.household_id), actor)
    if status:
        query = query.where(MonitoringWindow.status == status)
    if village_id is not None:
        query = query.where(Household.village_id == village_id)
    rows, count = registry.paginate(session, query.order_by(MonitoringWindow.opened_on.desc(),
                                                            MonitoringWindow.id.desc()), page)
    today, lines, data = clock.county_today(), monitoring.Lines(session), []
    for window, number in rows:
        now = monitoring.standing(session, window, today, lines)
        data.append({
            **_fields(window), "household_number": number,
            "latest": _point(now.seen.latest) if now.seen.latest else None,
            "overdue": [str(d) for d in now.seen.overdue],
            "months_stable": now.seen.months_stable, "open_alerts": now.alerts,
            "follow_up_id": now.case.id if now.case else None,
            "proposal_id": now.proposal_id,
        })
    return {"data": data, "count": count}


@router.get("/monitoring/households/{household_id}")
def household_monitoring(session: SessionDep, actor: Reader, household_id: int):
    """A household's monitoring: its windows (the latest first) with the income recomputed,
    alerts with their figures, follow-ups with the assistance given, and eliminations."""
    household = access.household(session, actor, household_id)
    windows = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == household_id).order_by(
        MonitoringWindow.id.desc())).all()
    today = clock.county_today()
    cases = session.exec(select(FollowUp).where(FollowUp.household_id == household_id)
                         .order_by(FollowUp.id.desc())).all()
    given = session.exec(select(Assistance).where(
        Assistance.follow_up_id.in_([c.id for c in cases])).order_by(Assistance.id)).all()
    return {
        "household_id": household_id, "household_number": household.household_number,
        "windows": [window_view(session, w, today) for w in windows],
        "alerts": [_fields(a) for a in session.exec(select(MonitoringAlert).where(
            MonitoringAlert.household_id == household_id).order_by(MonitoringAlert.id.desc()))],
        "follow_ups": [{**_fields(c), "assistance": [_fields(a) for a in given
                                                     if a.follow_up_id == c.id]}
                       for c in cases],
        "eliminations": [
            {**_fields(e), "steps": [_fields(s) for s in monitoring.elimination_steps(
                session, e)], "steps_missing": monitoring.steps_missing(session, e, today)
             if e.status == "proposed" else []}
            for e in session.exec(select(Elimination).where(
                Elimination.household_id == household_id).order_by(Elimination.id.desc()))],
    }


@router.post("/households/{household_id}/income-reports", status_code=201)
def report_income(session: SessionDep, actor: Office, household: HouseholdInArea,
                  report: monitoring.IncomeReportIn):
    """An income report for a household (usually the quarter's, or the 12 months to date):
    net and per-capita income derived; the answer adds the rolling 12-month per-capita
    income with and without the payout, against the line."""
    household_id = household.id
    record = monitoring.record_income_report(session, actor, household_id, report,
                                             clock.county_today())
    session.commit()
    household = session.get(Household, household_id)
    records = session.exec(select(monitoring.IncomeRecord).where(
        monitoring.IncomeRecord.household_id == household_id).order_by(
        *monitoring.LEDGER_ORDER)).all()
    points = monitoring.points_of(records, household.village_id, record.period_end,
                                  monitoring.Lines(session))
    return {**_fields(record), "rolling": _point(points[0]) if points else None}


@router.get("/monitoring/alerts")
def monitoring_alerts(session: SessionDep, actor: Reader, page: PageDep,
                      status: Annotated[str, Query(pattern="^(open|closed|)$")] = "open"):
    """Post-payout monitoring alerts, newest first, each with the figures that raised it and
    the follow-up it belongs to."""
    query = access.households_in_area(
        select(MonitoringAlert, Household.household_number, MonitoringWindow.ends_on).join(
            Household, Household.id == MonitoringAlert.household_id).join(
            MonitoringWindow, MonitoringWindow.id == MonitoringAlert.window_id), actor)
    if status:
        query = query.where(MonitoringAlert.status == status)
    rows, count = registry.paginate(session, query.order_by(MonitoringAlert.id.desc()), page)
    return {"data": [audit.jsonable({**registry.fields_of(a), "household_number": number,
                                     "window_ends_on": ends}) for a, number, ends in rows],
            "count": count}


@router.get("/monitoring/runs")
def monitoring_runs(session: SessionDep, _: CountyReader, page: PageDep):
    """The evaluations of the monitoring windows, newest first, with what each found."""
    rows, count = registry.paginate(
        session, select(MonitoringRun).order_by(MonitoringRun.id.desc()), page)
    return {"data": [_fields(r) for r in rows], "count": count}


@router.post("/monitoring/follow-ups/{follow_up_id}/helper")
def assign_helper(session: SessionDep, actor: Office, case: FollowUpInArea,
                  helper: Annotated[Text, Body(min_length=2, max_length=64, embed=True)]):
    """Name the helper (帮扶责任人) who visits the household."""
    case = monitoring.assign_helper(session, actor, case.id, helper)
    session.commit()
    return _fields(case)


@router.post("/monitoring/follow-ups/{follow_up_id}/assistance", status_code=201)
def record_assistance(session: SessionDep, actor: Office, case: FollowUpInArea,
                      given: monitoring.AssistanceIn):
    """Record assistance given: employment, industry, medical assistance, education aid, a
    further claim, other."""
    measure = monitoring.record_assistance(session, actor, case.id, given, clock.county_today())
    session.commit()
    return _fields(measure)


@router.post("/monitoring/follow-ups/{follow_up_id}/close")
def close_follow_up(session: SessionDep, actor: Office, case: FollowUpInArea,
                    outcome: monitoring.OutcomeIn):
    """Close a follow-up with its outcome; its alerts close with it."""
    case = monitoring.close_follow_up(session, actor, case.id, outcome, clock.county_today())
    session.commit()
    return _fields(case)


@router.post("/monitoring/households/{household_id}/elimination/steps/{kind}",
             status_code=201)
def record_elimination_step(
        session: SessionDep, actor: Office, household: HouseholdInArea,
        kind: Literal["home_check", "democratic_review", "notice", "objection"],
        data: Annotated[dict[str, Any], Body()]):
    """Record a step of risk elimination, in order (DOMAIN.md §7): the home check (visit_date,
    team, findings, housing_secure, schooling_secure, medical_secure, water_secure), the
    village review (outcome agree|disagree, representatives, notes), the notice
    (start_date), an objection during it (text, upheld)."""
    step = monitoring.record_elimination_step(session, actor, household.id, kind, data,
                                              clock.county_today())
    session.commit()
    return _fields(step)


@router.post("/monitoring/households/{household_id}/elimination", status_code=201)
def confirm_elimination(session: SessionDep, actor: Office, household: HouseholdInArea,
                        decision: monitoring.EliminationIn):
    """Mark the household's risk eliminated (风险消除), by assistance or naturally, on a day,
    once its steps are done (409 naming the first missing one). Refused below the line."""
    done = monitoring.confirm_elimination(session, actor, household.id, decision,
                                          clock.county_today())
    session.commit()
    return _fields(done)


@router.post("/monitoring/eliminations/{elimination_id}/decline")
def decline_elimination(session: SessionDep, actor: Office, proposal: EliminationInArea,
                        note: Annotated[MultilineText,
                                        Body(min_length=2, max_length=500, embed=True)]):
    """Decline a proposal with the reason."""
    done = monitoring.decline_elimination(session, actor, proposal.id, note)
    session.commit()
    return _fields(done)


@router.get("/reports/outcomes", tags=["reports"])
def outcomes(session: SessionDep, _: CountyReader,
             policy_year: Annotated[int, Query(ge=2000, le=2100)],
             format: Annotated[str, Query(pattern="^(json|xlsx)$")] = "json"):
    """Of the households paid in a policy year, how many stood above the line 6 and 12
    months after the payment, fell back, were eliminated: in total, by township and by
    trigger. ``format=xlsx`` for the workbook a county sends upward."""
    report = monitoring.outcome_report(session, policy_year, clock.county_today())
    if format == "json":
        return audit.jsonable(report)
    return Response(outcome_workbook(report, "zh", "en"), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="outcomes-{policy_year}.xlsx"'})
