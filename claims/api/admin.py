"""Administration: staff users and department API keys (each token is shown once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field
from sqlmodel import SQLModel, select

from claims import audit, people
from claims.api.deps import SessionDep
from claims.auth import Actor, Forbidden, staff
from claims.models import ApiClient, AppUser, Organisation, Role
from policies.models import Yuan
from policies.types import Text

router = APIRouter(prefix="/api/admin", tags=["administration"])
def _administration(actor: Annotated[Actor, Depends(staff())]) -> Actor:
    """Administrators manage users and keys; auditors may read the lists; nobody else."""
    if actor.role not in (Role.admin, Role.auditor):
        raise Forbidden("users and API clients are for administrators (auditors may read)",
                        field="role", value=actor.role)
    return actor


Admin = Annotated[Actor, Depends(_administration)]


class UserCreate(SQLModel):
    model_config = {"extra": "forbid"}
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    full_name: Text = Field(min_length=1, max_length=64)
    role: Role
    approval_limit: Yuan | None = Field(default=None, ge=0)
    id_number: str | None = None


class ClientCreate(SQLModel):
    model_config = {"extra": "forbid"}
    name: Text = Field(min_length=1, max_length=128)
    organisation: Organisation


@router.post("/users", status_code=201)
def create_user(body: UserCreate, session: SessionDep, actor: Admin):
    """Add a staff user; the answer carries their API token, shown this once."""
    user, token = people.create_user(session, actor, **body.model_dump())
    session.commit()
    return {**people.user_view(user), "token": token}


@router.get("/users")
def list_users(session: SessionDep, _: Admin):
    users = session.exec(select(AppUser).order_by(AppUser.username)).all()
    return {"data": [people.user_view(u) for u in users], "count": len(users)}


@router.post("/api-clients", status_code=201)
def create_client(body: ClientCreate, session: SessionDep, actor: Admin):
    """Add a submitting organisation; the answer carries its API key, shown this once."""
    client, key = people.create_client(session, actor, body.name, body.organisation)
    session.commit()
    return {**audit.jsonable(people.client_view(client)), "key": key}


@router.get("/api-clients")
def list_clients(session: SessionDep, _: Admin):
    clients = session.exec(select(ApiClient).order_by(ApiClient.id)).all()
    return {"data": [people.client_view(c) for c in clients], "count": len(clients)}
