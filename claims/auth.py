"""Who is calling: staff users with personal API tokens, and submitting organisations with
API keys. Tokens are random and long, so they are stored as SHA-256 hashes; the web UI's
passwords (Argon2) are a separate matter."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select

from claims.api.deps import SessionDep
from claims.models import ApiClient, AppUser, Region, Role
from policies.errors import DomainError

USER_PREFIX, CLIENT_PREFIX = "fpu_", "fpk_"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class NotAuthenticated(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> tuple[str, str]:
    """A fresh token (shown once) and its stored hash."""
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_token(token)


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as the services and the audit trail see it."""

    kind: str  # user | client | system
    id: int | None
    name: str
    role: str | None = None
    organisation: str | None = None
    approval_limit: Decimal | None = None
    # The villages of the user's townships; None: the whole county (see claims.access).
    villages: frozenset[int] | None = None
    may_reveal: bool = False
    may_export: bool = False
    event_types: tuple[str, ...] | None = None  # a key's own remit (claims.remit)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}" if self.kind != "system" else "system"


SYSTEM = Actor("system", None, "system")


def actor_for_user(user, villages: frozenset[int] | None = None) -> Actor:
    """The actor of a user (a row or an object with id, username, role, approval_limit and
    the permissions), working in ``villages`` (None: the whole county)."""
    return Actor("user", user.id, user.username, role=user.role,
                 approval_limit=user.approval_limit, villages=villages,
                 may_reveal=bool(getattr(user, "may_reveal", False)),
                 may_export=bool(getattr(user, "may_export", False)))


def villages_of(session: Session, townships: list[int] | None) -> frozenset[int] | None:
    """The villages of some townships; None (the whole county) when there is no limit."""
    if townships is None:
        return None
    return frozenset(session.exec(select(Region.id).where(
        Region.parent_id.in_(townships))).all())


def actor_for_client(client) -> Actor:
    """The actor of a department key (a row or an object with id, name, organisation,
    event_types)."""
    return Actor("client", client.id, client.name, organisation=client.organisation,
                 event_types=None if client.event_types is None else tuple(client.event_types))


def authenticate(session: Session, token: str) -> Actor | None:
    """The active user or client a token belongs to, or None."""
    digest = hash_token(token)
    # Core rows, not ORM objects: this runs on every request.
    connection = session.connection()
    if token.startswith(USER_PREFIX):
        user = connection.execute(select(
            AppUser.id, AppUser.username, AppUser.role, AppUser.approval_limit,
            AppUser.townships, AppUser.may_reveal, AppUser.may_export).where(
            AppUser.token_hash == digest, AppUser.active)).first()
        return actor_for_user(user, villages_of(session, user.townships)) if user else None
    if token.startswith(CLIENT_PREFIX):
        client = connection.execute(select(
            ApiClient.id, ApiClient.name, ApiClient.organisation, ApiClient.event_types).where(
            ApiClient.key_hash == digest, ApiClient.active)).first()
        if client:
            return actor_for_client(client)
    return None


bearer = HTTPBearer(auto_error=False, description="a staff token (fpu_…) or a department "
                    "API key (fpk_…)")


# Who a token belongs to, remembered for a few seconds so that a busy department's requests
# do not each read it: a revoked key or a changed role takes effect within ACTOR_TTL seconds
# (at once in the process that made the change, which calls forget_actors()). When the time
# is up, one request reads it again while the others go on with what was remembered: when
# every request in flight read it again, 64 connections on PostgreSQL made a pile of pool
# connections and worker threads every 10 seconds, the p99 of single events (issue 19).
ACTOR_TTL = 10.0
_actors: dict[str, tuple[float, Actor]] = {}
_reading: set[str] = set()  # tokens one request is reading again


def forget_actors() -> None:
    _actors.clear()
    _reading.clear()


def _look_up(session: Session, token: str) -> Actor | None:
    try:
        return authenticate(session, token)
    finally:
        # Give the connection back before the handler runs on another worker thread: a
        # request must never hold a connection while it waits for a thread (SQLite has one).
        session.rollback()


async def current_actor(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("send 'Authorization: Bearer <token>' (a staff token or a "
                               "department API key)", field="authorization")
    token = credentials.credentials.strip()
    key, now = hash_token(token), time.monotonic()
    remembered = _actors.get(key)
    if remembered is not None and (remembered[0] > now or key in _reading):
        return remembered[1]
    _reading.add(key)
    try:
        actor = await run_in_threadpool(_look_up, session, token)
    finally:
        _reading.discard(key)
    if actor is None:
        _actors.pop(key, None)
        raise NotAuthenticated("the token is unknown or revoked", field="authorization")
    if len(_actors) > 10_000:  # tokens are few; this only bounds a flood of new ones
        _actors.clear()
    _actors[key] = (time.monotonic() + ACTOR_TTL, actor)
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def known_token(session: Session, token: str) -> bool:
    """Whether a token is an active user's or client's (remembered, or read): what a request
    may carry beyond a stranger's size (claims.app.BodyLimit) waits on it."""
    remembered = _actors.get(hash_token(token))
    return (remembered is not None and remembered[0] > time.monotonic()) or _look_up(
        session, token) is not None


def require_role(actor: Actor, roles) -> None:
    """Refuse (403) a caller whose role is not one of ``roles``: the one role check of the
    API's dependencies and the pages alike."""
    if actor.kind != "user":
        raise Forbidden("department API keys may only submit events and read their status",
                        field="authorization")
    if actor.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise Forbidden(f"the role {actor.role} may not do this; roles that may: {allowed}",
                        field="role", value=actor.role)


def require_county(actor: Actor, what: str) -> None:
    """Refuse county-wide data or changes to a user limited to some townships (403)."""
    if actor.villages is not None:
        raise Forbidden(f"{what}: county-wide, and your account is limited to some townships",
                        field="townships")


def staff(*write_roles: str, county: str = "", county_writes: str = ""):
    """Any staff member may read; writing needs one of ``write_roles`` (admins always may).
    ``county`` names data that is county-wide (refused to a user limited to some
    townships), ``county_writes`` data that only its changes are; the rest of the area rule
    is claims.access's."""

    def check(request: Request, actor: CurrentActor) -> Actor:
        reading = request.method in READ_METHODS
        require_role(actor, set(Role) if reading else {*write_roles, Role.admin})
        if county or (county_writes and not reading):
            require_county(actor, county or county_writes)
        return actor

    return check


async def department(actor: CurrentActor) -> Actor:
    """A submitting organisation's key."""
    if actor.kind != "client":
        raise Forbidden("events are submitted with a department API key", field="authorization")
    return actor
