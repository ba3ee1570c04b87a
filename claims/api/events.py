"""Trigger-event intake for departments: one event, a batch, or a department file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, UploadFile
from fastapi.responses import JSONResponse
from sqlmodel import select

from claims import access, clock, evaluator, group_commit, intake, masking
from claims.api.deps import PageDep, SessionDep
from claims.auth import Actor, CurrentActor, department, staff
from claims.models import Claim, EventStatus, Role, TriggerEvent
from claims.uploads import read_upload
from policies import registry
from policies.benefits import EventIn
from policies.errors import NotFound
from policies.event_files import read_events

router = APIRouter(prefix="/api", tags=["events"])
Department = Annotated[Actor, Depends(department)]
STATUS = {"accepted": 202, "duplicate": 200}


def _body(o: intake.Outcome) -> dict[str, Any]:
    """An event's outcome; what it does not have yet (a claim, a reason …) is left out, which
    keeps the answer to a 10,000-event batch small."""
    body = {"source_event_id": o.source_event_id, "result": o.result}
    if o.event_id is not None:
        body["event_id"], body["status"] = o.event_id, o.status
    if o.reason:
        body["reason"] = o.reason
    if o.field:
        body["field"] = o.field
    if o.claim_number:
        body["claim_number"] = o.claim_number
    if o.payout is not None:
        body["payout"] = str(o.payout)
    if o.warning:
        body["warning"] = True
    return body


@router.post("/events", responses={
    202: {"description": "stored (status received); evaluated moments later — read "
                         "GET /api/events/{event_id} for the claim it opened"},
    200: {"description": "a duplicate: the first outcome so far, nothing changed"},
    403: {"description": "the event type is outside this key's remit (the reason names the "
                         "type and the remit)"},
    409: {"description": "the same event id was sent before with other content"},
    422: {"description": "invalid: the field and the reason"}})
async def submit_event(event: EventIn, session: SessionDep, actor: Department):
    """Submit one event; the same event id again returns the first outcome."""
    intake.check_event(event, clock.county_today())
    outcome = await group_commit.receive(session, actor, event)
    evaluator.notify()
    return JSONResponse(_body(outcome), status_code=STATUS[outcome.result])


@router.post("/events/batch")
def submit_batch(session: SessionDep, actor: Department,
                 events: Annotated[list[Any], Body(max_length=intake.MAX_BATCH, description=(
                     "events, each shaped as for POST /api/events"))]):
    """Submit up to 10,000 events; each gets its own outcome and bad ones never block the rest."""
    outcomes = intake.receive(session, actor, events, commit_chunk=session.commit)
    session.commit()
    evaluator.notify()
    return JSONResponse({"results": [_body(o) for o in outcomes], "counts": _counts(outcomes)})


@router.post("/events/file")
def submit_file(session: SessionDep, actor: Department,
                file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX")]):
    """Submit a department file; Chinese or English headers (see README)."""
    raw, row_errors = read_events(read_upload(file), file.filename or "events.csv")
    outcomes = intake.receive(session, actor, raw, commit_chunk=session.commit)
    session.commit()
    evaluator.notify()
    results = [*row_errors, *[_body(o) for o in outcomes]]
    return {"results": results, "counts": _counts(outcomes, len(row_errors))}


def _counts(outcomes: list[intake.Outcome], extra_rejected: int = 0) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    if extra_rejected:
        counts["rejected"] = counts.get("rejected", 0) + extra_rejected
    return counts


def _event_views(session, events: list[TriggerEvent], masked: bool = True
                 ) -> list[dict[str, Any]]:
    """Events as departments and staff read them, with the number of the claim each joined;
    ``masked``, as staff see them: the ID number (in the event, its payload and its reason)
    and any number typed into the payload's texts masked, and no payload hash (unsalted, it
    gave the masked number away to a search of the birth dates in a fraction of a second)."""
    numbers = dict(session.execute(select(Claim.id, Claim.claim_number).where(
        Claim.id.in_({e.claim_id for e in events if e.claim_id}))).all())
    views = []
    for e in events:
        view = {**registry.fields_of(e), "payout": None if e.payout is None else str(e.payout),
                "claim_number": numbers.get(e.claim_id)}
        if masked:
            view = {**masking.fields(view), **masking.typed(e)}  # an older reason names the number
            del view["payload_hash"]
            if isinstance(e.payload, dict):
                view["payload"] = masking.in_texts(masking.fields(e.payload))
        views.append(view)
    return views


@router.get("/events")
def list_events(session: SessionDep, actor: CurrentActor, page: PageDep,
                status: EventStatus | None = None):
    """A department sees the events it submitted; staff see those of their area (a user
    limited to some townships: only events matched to a household there)."""
    query = select(TriggerEvent).order_by(TriggerEvent.id.desc())
    if actor.kind == "client":
        query = query.where(TriggerEvent.client_id == actor.id)
    else:
        query = access.by_household_in_area(query, TriggerEvent.household_id, actor)
    if status:
        query = query.where(TriggerEvent.status == status)
    rows, count = registry.paginate(session, query, page)
    return {"data": _event_views(session, rows, masked=actor.kind != "client"),
            "count": count}


@router.get("/events/{source_event_id}")
def read_event(source_event_id: str, session: SessionDep, actor: Department):
    """The status of one event the department submitted, by its own id."""
    event = session.exec(select(TriggerEvent).where(
        TriggerEvent.client_id == actor.id,
        TriggerEvent.source_event_id == source_event_id)).first()
    if event is None:
        raise NotFound(f"you submitted no event {source_event_id}", field="event_id",
                       value=source_event_id)
    return _event_views(session, [event], masked=False)[0]  # the department's own event


# Quarantined events are matched to no household yet: county-wide.
quarantine = APIRouter(prefix="/api/quarantine", tags=["events"], dependencies=[
    Depends(staff(Role.clerk, county="the quarantine"))])


@quarantine.get("")
def list_quarantine(session: SessionDep, page: PageDep):
    """Events waiting for a clerk: their ID number matches no member, or their evaluation
    failed (county-wide: whose household they are is not known yet)."""
    query = select(TriggerEvent).where(TriggerEvent.status.in_(
        [EventStatus.quarantined, EventStatus.failed])).order_by(TriggerEvent.id)
    rows, count = registry.paginate(session, query, page)
    return {"data": _event_views(session, rows), "count": count}


@quarantine.post("/{event_id}/replay")
def replay(event_id: int, session: SessionDep, actor: CurrentActor,
           id_number: Annotated[str, Body(embed=True)]):
    """Correct a quarantined event's ID number and evaluate it again."""
    outcome = intake.replay(session, actor, event_id, id_number)
    session.commit()
    return _body(outcome)
