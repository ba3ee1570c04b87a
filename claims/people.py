"""Staff users and department API clients: created with a token that is shown once and
stored only as its hash; every change is on the audit trail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from claims import audit
from claims.auth import CLIENT_PREFIX, USER_PREFIX, Actor, hash_token, new_token
from claims.models import ApiClient, AppUser
from policies.citizen_id import InvalidCitizenId, parse_citizen_id
from policies.errors import Conflict, InvalidInput
from policies.types import check_text


def user_view(user: AppUser) -> dict[str, Any]:
    return audit.jsonable({k: getattr(user, k) for k in (
        "id", "username", "full_name", "role", "approval_limit", "active", "created_at")})


def client_view(client: ApiClient) -> dict[str, Any]:
    return audit.jsonable({k: getattr(client, k) for k in (
        "id", "name", "organisation", "active", "created_at")})


def create_user(session: Session, actor: Actor, *, username: str, full_name: str, role: str,
                approval_limit: Decimal | None = None, id_number: str | None = None,
                token: str | None = None) -> tuple[AppUser, str]:
    """Add a staff user; returns the user and their token (given, or a fresh one)."""
    check_text("full_name", full_name)
    if session.exec(select(AppUser.id).where(AppUser.username == username)).first():
        raise Conflict(f"user {username} already exists", field="username", value=username)
    if id_number:
        try:
            id_number = parse_citizen_id(id_number).number
        except InvalidCitizenId as exc:
            raise InvalidInput(f"ID number: {exc}", field="id_number", value=id_number) from None
        holder = session.exec(select(AppUser.username).where(AppUser.id_number == id_number))
        if holder.first():
            raise Conflict("another account belongs to the same person (ID number); one "
                           "person, one account, so that four eyes are two people",
                           field="id_number", value=id_number)
    token = token or new_token(USER_PREFIX)[0]
    user = AppUser(username=username, full_name=full_name, role=role,
                   approval_limit=approval_limit, id_number=id_number,
                   token_hash=hash_token(token))
    session.add(user)
    session.flush()
    audit.record(session, actor, "user", username, "create",
                 after={"role": role, "approval_limit": approval_limit})
    return user, token


def create_client(session: Session, actor: Actor, name: str, organisation: str,
                  key: str | None = None) -> tuple[ApiClient, str]:
    """Add a submitting organisation; returns it and its API key (given, or fresh)."""
    check_text("name", name)
    key = key or new_token(CLIENT_PREFIX)[0]
    client = ApiClient(name=name, organisation=organisation, key_hash=hash_token(key))
    session.add(client)
    session.flush()
    audit.record(session, actor, "api_client", client.id, "create",
                 after={"name": name, "organisation": organisation})
    return client, key
