"""JSON API of the benefit terms, quotes and the fund of a policy year."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlmodel import SQLModel, select

from claims import access, changes, clock
from claims.api.deps import PageDep, SessionDep
from claims.auth import Actor, staff
from claims.models import EventStatus, Role, TriggerEvent
from policies import benefits, registry
from policies.errors import NotFound
from policies.models import (
    PolicyContractPublic,
    TermsUpload,
    TermsVersionPublic,
    TermsVersionsPublic,
)
from policies.types import Day

router = APIRouter(prefix="/api")
# Staff read; only administrators write, county-wide.
Admin = Annotated[Actor, Depends(staff(county_writes="the benefit terms and the fund"))]
Fund = Annotated[Actor, Depends(staff(county="a contract's fund"))]
AnyStaff = Annotated[Actor, Depends(staff(*Role))]  # every staff role, quotes included


@router.post("/terms", response_model=TermsVersionPublic, tags=["terms"],
             responses={201: {"description": "a new version"},
                        200: {"description": "the same text was already stored"}})
def upload_terms(body: TermsUpload, session: SessionDep, actor: Admin):
    """Store a terms file (TOML) as the next version of its key; the same text again
    returns the version already stored."""
    version, created = changes.store_terms(session, actor, body.key, body.source_text,
                                           f"{body.key}.toml")
    session.commit()
    view = TermsVersionPublic.model_validate(benefits.terms_view(version))
    return JSONResponse(view.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/terms", response_model=TermsVersionsPublic, tags=["terms"])
def list_terms(session: SessionDep, _: Admin, page: PageDep, key: str | None = None,
               policy_year: int | None = None):
    """List terms versions by key and policy year."""
    rows, count = benefits.list_terms_versions(session, page, key=key, policy_year=policy_year)
    return {"data": [benefits.terms_view(v) for v in rows], "count": count}


@router.get("/terms/{version_id}", response_model=TermsVersionPublic, tags=["terms"])
def read_terms(version_id: int, session: SessionDep, _: Admin):
    """Read one terms version with its text and validated content."""
    return benefits.terms_view(benefits.get_terms_version(session, version_id))


class TermsAttach(SQLModel):
    model_config = {"extra": "forbid"}
    terms_version_id: int


@router.put("/contracts/{contract_id}/terms", response_model=PolicyContractPublic,
            tags=["contracts"])
def attach_terms(contract_id: int, body: TermsAttach, session: SessionDep, actor: Admin):
    """Put a terms version in force for a contract (same policy year)."""
    contract = changes.attach_terms(session, actor, contract_id, body.terms_version_id)
    session.commit()
    return registry.contract_view(session, contract)


@router.get("/contracts/{contract_id}/terms", response_model=TermsVersionPublic,
            tags=["contracts"])
def terms_in_force(contract_id: int, session: SessionDep, _: Admin):
    """The terms version in force for a contract."""
    contract = registry.get_contract(session, contract_id)
    if contract.terms_version_id is None:
        raise NotFound(f"contract {contract.contract_number} has no terms in force",
                       field="terms_version_id")
    return benefits.terms_view(benefits.get_terms_version(session, contract.terms_version_id))


@router.post("/quotes", response_model=benefits.QuoteOut, tags=["terms"])
def create_quote(body: benefits.QuoteRequest, session: SessionDep, actor: AnyStaff):
    """Compute payouts for one household's events in one policy year, with the trace;
    nothing is stored. With household_id and contract_id, the events already received for
    the household under that contract count too (marked by their ids)."""
    recorded = []
    if body.household_id is not None:
        access.referenced_household(session, actor, body.household_id)
    if body.household_id is not None and body.contract_id is not None:
        recorded = [benefits.EventIn.model_validate(e.payload) for e in session.exec(
            select(TriggerEvent).where(TriggerEvent.household_id == body.household_id,
                                       TriggerEvent.contract_id == body.contract_id,
                                       TriggerEvent.status == EventStatus.accepted)
            .order_by(TriggerEvent.id))]
    return benefits.quote_request(session, body, recorded)



@router.get("/contracts/{contract_id}/fund", tags=["contracts"])
def fund_position(
    contract_id: int, session: SessionDep, _: Fund,
    as_of: Annotated[Day | None, Query(description="default: today")] = None,
):
    """Premium, carried-in balance, payouts, fee and balance; the projection to year end
    (county-wide)."""
    position = benefits.fund_position(session, contract_id, as_of or clock.county_today())
    return _jsonable(position.__dict__)


class SettlementRequest(SQLModel):
    model_config = {"extra": "forbid"}
    next_contract_id: int | None = None


@router.post("/contracts/{contract_id}/settlement", tags=["contracts"])
def settle(contract_id: int, body: SettlementRequest, session: SessionDep, actor: Admin):
    """Settle a finished policy year: the surplus carries over to the next contract, or the
    shortfall is the county's top-up; the contract is closed."""
    settlement = changes.settle_contract(session, actor, contract_id, clock.county_today(),
                                         body.next_contract_id)
    session.commit()
    return _jsonable(settlement.__dict__)


def _jsonable(values: dict) -> dict:
    """Money as decimal strings, dates as ISO text."""
    return {k: (str(v) if v is not None and not isinstance(v, int | bool) else v)
            for k, v in values.items()}
