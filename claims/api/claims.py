"""The insurer's claim API: claims and their actions, applications, warnings, audit, reports."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from sqlmodel import select

from claims import access, anchors, audit, clock, intake, lifecycle, reports, trail
from claims.api.deps import PageDep, SessionDep
from claims.auth import Actor, staff
from claims.models import Claim, ClaimState, Role, TriggerEvent
from claims.settings import get_settings
from claims.web.i18n import code_label, translator
from policies import benefits, registry
from policies.messages import N_
from policies.tables import xlsx_bytes
from policies.types import Day, MultilineText, Text

router = APIRouter(prefix="/api", tags=["claims"])
Reader = Annotated[Actor, Depends(staff())]
Worker = Annotated[Actor, Depends(staff(Role.clerk, Role.investigator, Role.adjudicator,
                                        Role.supervisor))]
Clerk = Annotated[Actor, Depends(staff(Role.clerk))]
AuditReader = Annotated[Actor, Depends(staff(county="the audit trail"))]
ReportReader = Annotated[Actor, Depends(staff(county="the claims report"))]


@router.get("/claims")
def list_claims(
    session: SessionDep, actor: Reader, page: PageDep, state: ClaimState | None = None,
    trigger: str | None = None, household_id: int | None = None,
    policy_year: int | None = None,
    overdue: Annotated[bool, Query(description="only claims past their due date")] = False,
    today: Day | None = None,
):
    """Claims of your area, filtered; ``overdue`` lists open claims past the due date of
    their state."""
    query = access.claims_in_area(select(Claim).order_by(Claim.due_date, Claim.id), actor)
    if state:
        query = query.where(Claim.state == state)
    if trigger is not None:  # an empty one too: it had read as no filter (a tester's)
        query = query.where(Claim.trigger == benefits.check_trigger(session, trigger))
    if household_id is not None:
        query = query.where(Claim.household_id == household_id)
    if policy_year is not None:
        query = query.where(Claim.policy_year == policy_year)
    if overdue:
        query = query.where(Claim.due_date < (today or clock.county_today()),
                            Claim.state.not_in(reports.FINAL))
    rows, count = registry.paginate(session, query, page)
    return {"data": [lifecycle.view(c) for c in rows], "count": count}


@router.get("/claims/{claim_id}")
def read_claim(claim_id: int, session: SessionDep, actor: Reader):
    """A claim with its calculation, events, step records and audit history."""
    claim = access.claim(session, actor, claim_id)
    events = session.exec(select(TriggerEvent).where(TriggerEvent.claim_id == claim.id)).all()
    return audit.jsonable({
        **lifecycle.view(claim), "calculation": claim.calculation,
        "events": [{"id": e.id, "source_event_id": e.source_event_id, "type": e.type,
                    "event_date": e.event_date, "payout": e.payout} for e in events],
        "records": [asdict(r) for r in lifecycle.records(session, claim)],
        "history": [asdict(h) for h in lifecycle.history(session, claim)],
    })


@router.post("/claims/{claim_id}/actions/{action}")
def act(claim_id: int, action: str, session: SessionDep, actor: Worker,
        data: Annotated[dict[str, Any] | None, Body()] = None):
    """Take a claim one step: start_investigation, submit_survey, record_review,
    start_notice, record_objection, close_notice, approve, reject, withdraw."""
    claim = access.claim(session, actor, claim_id, lock=True)
    terms = benefits.terms_of(benefits.get_terms_version(session, claim.terms_version_id))
    lifecycle.transition(session, claim, action, actor, data=data,
                         notice_days=terms.notice_days)
    session.commit()
    return lifecycle.view(claim)


@router.post("/applications", status_code=201)
def apply(session: SessionDep, actor: Clerk, household_id: Annotated[int, Body()],
          trigger: Annotated[Text, Body()], reason: Annotated[MultilineText, Body(min_length=1)],
          loss_date: Annotated[Day | None, Body(description=(
              "the day of the loss, whose contract takes the claim (default: today)"))] = None):
    """A household's or village's own application (申报) for a trigger, with its reason and
    the day of the loss."""
    access.referenced_household(session, actor, household_id)
    claim = intake.apply(session, actor, household_id, trigger, reason, loss_date=loss_date)
    session.commit()
    return lifecycle.view(claim)


@router.get("/audit", tags=["audit"])
def search_audit(
    session: SessionDep, actor: AuditReader,
    claim: Annotated[str, Query(max_length=64, description="a claim's number")] = "",
    user: Annotated[str, Query(max_length=128, description=(
        "who acted: a username, a person's full name, or a label as stored (client:…, "
        "system)"))] = "",
    kind: Annotated[str, Query(description="the kind of record: " + ", ".join(
        trail.ENTITIES))] = "",
    since: Annotated[Day | None, Query(description="from the county's day")] = None,
    until: Annotated[Day | None, Query(description="up to the county's day")] = None,
    before: Annotated[int | None, Query(description=(
        "continue after this entry (the previous page's `older`)"))] = None,
):
    """Search the audit trail as the audit page does (county-wide staff), newest first, 50
    entries a page; ``older`` is the number to continue from, null on the last page. Personal
    data is masked as the page shows it."""
    wanted = trail.Search(claim=claim, actor=trail.who_was_typed(session, user), entity=kind,
                          since=since, until=until)
    rows, older = trail.search(session, actor, wanted, before=before)
    return audit.jsonable({"data": [trail.view(e) for e in rows], "older": older})


@router.get("/audit/verify", tags=["audit"])
def verify_audit(session: SessionDep, _: AuditReader):
    """Check the audit chain against its newest signed head; reports the first entry altered
    or removed."""
    result = anchors.verify(session, get_settings())
    return {"intact": not result.problem, **result.__dict__}


# The claims report's columns by the pages' labels, and the codes its groups may be.
REPORT_COLUMNS = {"state": N_("State"), "trigger": N_("Trigger"), "township": N_("Township"),
                  "month": N_("Month"), "claims": N_("Claims"), "overdue": N_("Overdue"),
                  "entitled": N_("Entitled"), "approved": N_("Approved"), "paid": N_("Paid")}
REPORT_TITLE = N_("Claims by %(group)s")
REPORT_CODES = {"state": "ClaimState", "trigger": "Trigger"}


def report_workbook(rows: list[dict], by: str) -> bytes:
    """The claims report as a workbook in Chinese and English, "状态 state", as the API's
    outcome workbook is: a caller with a token has no language of the workspace."""
    zh = translator("zh")
    columns = [by, "claims", "overdue", "entitled", "approved", "paid"]
    kind = REPORT_CODES.get(by)
    lines = [[f"{code_label(kind, row['group'], 'zh')} {code_label(kind, row['group'], 'en')}"
              if kind else row["group"], *(row[c] for c in columns[1:])] for row in rows]
    return xlsx_bytes([f"{zh(REPORT_COLUMNS[c])} {c}" for c in columns], lines,
                      f"{zh(REPORT_TITLE, group=zh(REPORT_COLUMNS[by]))} claims by {by}")


@router.get("/reports/claims", tags=["reports"])
def claims_report(session: SessionDep, _: ReportReader,
                  by: Annotated[str, Query(description="state, trigger, township or month")],
                  policy_year: int | None = None,
                  format: Annotated[str, Query(pattern="^(json|xlsx)$")] = "json"):
    """Claims and amounts entitled, approved and paid, by state, trigger, township or month."""
    rows = reports.claims_report(session, by, policy_year=policy_year)
    if format == "xlsx":
        return Response(report_workbook(rows, by), media_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            headers={"content-disposition": f'attachment; filename="claims-by-{by}.xlsx"'})
    return {"by": by, "rows": audit.jsonable(rows)}
