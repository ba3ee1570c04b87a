"""Administration: staff users and department API keys (each token is shown once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import Field
from sqlmodel import SQLModel, select

from claims import audit, intake, people, remit
from claims.api.deps import SessionDep
from claims.auth import Actor, Forbidden, require_county, staff
from claims.models import ApiClient, AppUser, Organisation, Role
from policies.errors import NotFound
from policies.types import Text

router = APIRouter(prefix="/api/admin", tags=["administration"])
def _administration(actor: Annotated[Actor, Depends(staff())]) -> Actor:
    """Administrators manage users and keys; auditors may read the lists; nobody else."""
    if actor.role not in (Role.admin, Role.auditor):
        raise Forbidden("users and API clients are for administrators (auditors may read)",
                        field="role", value=actor.role)
    require_county(actor, "users and API clients")
    return actor


Admin = Annotated[Actor, Depends(_administration)]


class ClientCreate(SQLModel):
    model_config = {"extra": "forbid"}
    name: Text = Field(min_length=1, max_length=128)
    organisation: Organisation
    event_types: list[str] | None = Field(default=None, max_length=64, description=(
        "the event types the key may send; omitted: its department's (see README)"))


class RemitUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    event_types: list[str] | None = Field(max_length=64, description=(
        "the event types the key may send; null: back to its department's"))


# An answer that carries a token or key: kept by no cache (a re-tester's).
SECRET = "no-store"


@router.post("/users", status_code=201)
def create_user(body: people.UserCreate, session: SessionDep, actor: Admin,
                response: Response):
    """Add a staff user; the answer carries their API token, shown this once."""
    response.headers["Cache-Control"] = SECRET
    settings = body.model_dump(include={"townships", "may_reveal", "may_export"})
    user, token = people.create_user(session, actor, **body.model_dump(exclude=set(settings)))
    people.update_user(session, actor, user, **settings)
    session.commit()
    return {**people.user_view(user), "token": token}


@router.get("/users")
def list_users(session: SessionDep, _: Admin):
    users = session.exec(select(AppUser).order_by(AppUser.username)).all()
    return {"data": [people.user_view(u) for u in users], "count": len(users)}


@router.post("/users/{username}/token", responses={404: {"description": "no such user"}})
def new_user_token(username: str, session: SessionDep, actor: Admin, response: Response):
    """Give a user a new API token, shown this once; the old one stops working."""
    response.headers["Cache-Control"] = SECRET
    user = session.exec(select(AppUser).where(AppUser.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username}", field="username", value=username)
    token = people.new_user_token(session, actor, user)
    session.commit()
    return {"username": user.username, "token": token}


@router.post("/api-clients", status_code=201)
def create_client(body: ClientCreate, session: SessionDep, actor: Admin,
                  response: Response):
    """Add a submitting organisation; the answer carries its API key, shown this once."""
    response.headers["Cache-Control"] = SECRET
    client, key = people.create_client(session, actor, body.name, body.organisation)
    if body.event_types is not None:
        remit.set_remit(session, actor, client.id, body.event_types,
                        intake.event_types(session))
    session.commit()
    return {**audit.jsonable(people.client_view(client)), "key": key}


@router.put("/api-clients/{client_id}/event-types", responses={
    404: {"description": "no such key"}, 422: {"description": "an unknown event type"}})
def set_client_remit(client_id: int, body: RemitUpdate, session: SessionDep, actor: Admin):
    """Set the event types a department key may send (null: its department's default)."""
    client = remit.set_remit(session, actor, client_id, body.event_types,
                             intake.event_types(session))
    session.commit()
    return people.client_view(client)


@router.post("/api-clients/{client_id}/deactivate", responses={
    404: {"description": "no such key"}})
def deactivate_client(client_id: int, session: SessionDep, actor: Admin):
    """Revoke a department's key: it stops working (within the seconds a key is remembered)."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"no department API key {client_id}", field="client_id",
                       value=client_id)
    people.deactivate_client(session, actor, client)
    session.commit()
    return people.client_view(client)


@router.get("/api-clients")
def list_clients(session: SessionDep, _: Admin):
    clients = session.exec(select(ApiClient).order_by(ApiClient.id)).all()
    return {"data": [people.client_view(c) for c in clients], "count": len(clients)}
