"""The API's rows by path id, read through claims.access: a row outside the caller's area is
404 before the request's body is even read, so a write to another township's household
answers the same whatever the body holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from claims import access
from claims.api.deps import SessionDep
from claims.auth import CurrentActor
from claims.models import Claim, EarlyWarning, Household
from risk.models import Elimination, FollowUp


def _released(session, read):
    """Read a row, then end the (read-only) transaction, so the connection goes back before
    the handler runs on another worker thread: a request never holds a connection while it
    waits for a thread. Commit, not rollback: nothing was written, and the row read stays
    loaded for the handler."""
    try:
        return read()
    finally:
        session.commit()


def _household(household_id: int, session: SessionDep, actor: CurrentActor) -> Household:
    return _released(session, lambda: access.household(session, actor, household_id))


def _claim(claim_id: int, session: SessionDep, actor: CurrentActor) -> Claim:
    return _released(session, lambda: access.claim(session, actor, claim_id))


def _warning(warning_id: int, session: SessionDep, actor: CurrentActor) -> EarlyWarning:
    return _released(session, lambda: access.warning(session, actor, warning_id))


def _follow_up(follow_up_id: int, session: SessionDep, actor: CurrentActor) -> FollowUp:
    return _released(session, lambda: access.follow_up(session, actor, follow_up_id))


def _elimination(elimination_id: int, session: SessionDep,
                 actor: CurrentActor) -> Elimination:
    return _released(session, lambda: access.elimination(session, actor, elimination_id))


HouseholdInArea = Annotated[Household, Depends(_household)]
ClaimInArea = Annotated[Claim, Depends(_claim)]
WarningInArea = Annotated[EarlyWarning, Depends(_warning)]
FollowUpInArea = Annotated[FollowUp, Depends(_follow_up)]
EliminationInArea = Annotated[Elimination, Depends(_elimination)]
