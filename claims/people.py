"""Staff users and department API clients: created with a token that is shown once and
stored only as its hash; every change is on the audit trail."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlmodel import Session, SQLModel, select

from claims import audit, masking, remit
from claims.auth import (
    CLIENT_PREFIX,
    USER_PREFIX,
    Actor,
    Forbidden,
    forget_actors,
    hash_token,
    new_token,
)
from claims.models import ApiClient, AppUser, Region, Role, WebSession
from policies.citizen_id import InvalidCitizenId, parse_citizen_id
from policies.errors import Conflict, InvalidInput
from policies.models import Yuan
from policies.types import Text, check_text
from policies.vocab import RegionLevel

SETTINGS = ("role", "approval_limit", "townships", "may_reveal", "may_export", "active")


def user_view(user: AppUser) -> dict[str, Any]:
    return audit.jsonable({k: getattr(user, k) for k in (
        "id", "username", "full_name", "role", "approval_limit", "townships", "may_reveal",
        "may_export", "active", "created_at")})


def names_of(session: Session, labels) -> dict[str, str]:
    """The names of the users among audit-trail labels (``user:<username>``), by username:
    pages name people, the trail keeps their usernames."""
    usernames = {label.partition(":")[2] for label in labels
                 if label and label.startswith("user:")}
    return dict(session.exec(select(AppUser.username, AppUser.full_name).where(
        AppUser.username.in_(usernames))).all()) if usernames else {}


def client_view(client: ApiClient) -> dict[str, Any]:
    return audit.jsonable({**{k: getattr(client, k) for k in (
        "id", "name", "organisation", "active", "created_at")}, **remit.view(client)})


# A username: what the trail writes as user:<name>, typed the same on every path (the admin
# page had taken "", "ADMIN", "a b", "user:admin" and "admin" with a zero-width space, which
# reads as admin on the trail; a security tester's).
USERNAME = re.compile(r"^[a-z0-9_.-]{2,64}$")


class UserCreate(SQLModel):
    """A new staff user as the API and the command line take one."""

    model_config = {"extra": "forbid"}
    username: str = Field(min_length=2, max_length=64, pattern=USERNAME.pattern)
    full_name: Text = Field(min_length=1, max_length=64)
    role: Role
    approval_limit: Yuan | None = Field(default=None, ge=0)
    id_number: str | None = None
    townships: list[int] | None = Field(default=None, description="the townships the user "
                                        "works in (region ids); none: the whole county")
    may_reveal: bool = False
    may_export: bool = False


def create_user(session: Session, actor: Actor, *, username: str, full_name: str, role: str,
                approval_limit: Decimal | None = None, id_number: str | None = None,
                token: str | None = None) -> tuple[AppUser, str]:
    """Add a staff user; returns the user and their token (given, or a fresh one)."""
    if not USERNAME.match(username):
        raise InvalidInput(f"username {username!r}: 2 to 64 small letters, digits, '.', '_' "
                           "or '-'", field="username", value=username, code="username_shape")
    check_text("full_name", full_name)
    if session.exec(select(AppUser.id).where(AppUser.username == username)).first():
        raise Conflict(f"user {username} already exists", field="username", value=username,
                       code="user_exists", values={"username": username})
    id_number = _person(session, id_number)
    token = token or new_token(USER_PREFIX)[0]
    user = AppUser(username=username, full_name=full_name, role=role,
                   approval_limit=approval_limit, id_number=id_number,
                   token_hash=hash_token(token))
    session.add(user)
    session.flush()
    audit.record(session, actor, "user", username, "create",
                 after={k: getattr(user, k) for k in SETTINGS})
    return user, token


def _person(session: Session, id_number: str | None, user: AppUser | None = None
            ) -> str | None:
    """The person's ID number a staff account carries, checked: one person, one account."""
    if not id_number:
        return None
    try:
        id_number = parse_citizen_id(id_number).number
    except InvalidCitizenId as exc:
        raise InvalidInput(f"ID number: {exc}", field="id_number", value=id_number,
                           code="invalid_id_number") from None
    holder = session.exec(select(AppUser.id).where(AppUser.id_number == id_number)).first()
    if holder is not None and (user is None or holder != user.id):
        raise Conflict("another account belongs to the same person (ID number); one "
                       "person, one account, so that four eyes are two people",
                       field="id_number", value=id_number, code="one_person_one_account")
    return id_number


def _not_oneself(actor: Actor, user: AppUser) -> None:
    """Nobody changes their own role, limit, townships, permissions or person: an
    administrator made itself a supervisor with a limit of a million and approved a claim
    alone (a hostile tester's). Another administrator does, or the CLI."""
    if actor.kind == "user" and actor.id == user.id:
        raise Forbidden("nobody changes their own role, approval limit, townships, "
                        "permissions or ID number: another administrator does",
                        field="username", value=user.username, code="own_account")


def set_person(session: Session, actor: Actor, user: AppUser, id_number: str) -> AppUser:
    """Record whose account it is (the person's ID number): the four-eyes rules (own
    household, one person's two accounts) know only accounts that carry one, and before
    only the API's creation of a user could give it. Audited masked; flushes."""
    number = _person(session, id_number, user)
    if number != user.id_number:
        _not_oneself(actor, user)
        before = masking.id_number(user.id_number) if user.id_number else None
        user.id_number = number
        session.add(user)
        session.flush()
        audit.record(session, actor, "user", user.username, "update",
                     before={"id_number": before},
                     after={"id_number": masking.id_number(number)})
    return user


COUNTY_ROLES = (Role.admin, Role.auditor)  # work on the whole county's records only


def update_user(session: Session, actor: Actor, user: AppUser, **changes: Any) -> AppUser:
    """Change a user's role, limit, townships, permissions or active flag; flushes and
    records the settings that changed, before and after."""
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise InvalidInput(f"{', '.join(sorted(unknown))}: not a user setting",
                           field=sorted(unknown)[0])
    if any(getattr(user, k) != v for k, v in changes.items()):
        _not_oneself(actor, user)
    if changes.get("townships") == []:
        # seeing nothing of the county: the way to the whole county is none (null)
        raise InvalidInput("townships: choose at least one township, or none (null) for the "
                           "whole county", field="townships", value="[]",
                           code="no_townships")
    townships = changes["townships"] if "townships" in changes else user.townships
    if townships is not None and changes.get("role", user.role) in COUNTY_ROLES:
        # their pages are county-wide: limited, they were refused every one (a tester's; a
        # re-tester's limited investigator was made an auditor, keeping her township)
        raise InvalidInput(f"a user of the role {changes.get('role', user.role)} works for "
                           "the whole county: give no townships", field="townships",
                           value=str(townships), code="county_role")
    if changes.get("townships"):
        changes["townships"] = sorted(set(changes["townships"]))  # [4, 4] had been kept so
        known = set(session.exec(select(Region.id).where(
            Region.id.in_(changes["townships"]), Region.level == RegionLevel.township)))
        unknown_townships = [t for t in changes["townships"] if t not in known]
        if unknown_townships:
            raise InvalidInput(f"{unknown_townships[0]} is not a township", field="townships",
                               value=unknown_townships[0])
    limit = changes.get("approval_limit")
    if limit is not None and not (isinstance(limit, Decimal) and limit.is_finite()
                                  and limit >= 0 and limit == limit.quantize(Decimal("0.01"))):
        raise InvalidInput(f"approval_limit {limit} is not an amount of yuan (0 or more, at "
                           "most two decimals)", field="approval_limit", value=str(limit))
    before = {k: getattr(user, k) for k in SETTINGS}
    for key, value in changes.items():
        setattr(user, key, value)
    after = {k: getattr(user, k) for k in SETTINGS}
    if after != before:
        session.add(user)
        session.flush()
        changed = [k for k in SETTINGS if before[k] != after[k]]
        audit.record(session, actor, "user", user.username, "update",
                     before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
        if not user.active:  # signed out everywhere: reactivated, an old cookie had worked
            session.execute(WebSession.__table__.delete().where(
                WebSession.__table__.c.user_id == user.id))
            # and the token dropped: reactivated, the token of before had worked again (a
            # tester's); a returning user is given a new one (new_user_token)
            user.token_hash = hash_token(new_token(USER_PREFIX)[0])
            session.flush()
        forget_actors()  # this process's remembered tokens: a role or a deactivation at once
    return user


def new_user_token(session: Session, actor: Actor, user: AppUser) -> str:
    """Give a staff user a new API token and return it (shown once): the old one stops working
    at once in this process, within the seconds a token is remembered in the others. A token
    had never changed: a password change or a sign-out left a leaked one working (a security
    tester's). Flushes."""
    token = new_token(USER_PREFIX)[0]
    user.token_hash = hash_token(token)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user", user.username, "new_token")
    forget_actors()
    return token


def create_client(session: Session, actor: Actor, name: str, organisation: str,
                  key: str | None = None) -> tuple[ApiClient, str]:
    """Add a submitting organisation; returns it and its API key (given, or fresh). Its
    remit is its department's (claims.remit.set_remit gives it another)."""
    check_text("name", name)
    if not name.strip():  # check_text lets an empty text by: a department is named
        raise InvalidInput("name the department", field="name", value=name,
                           code="department_name")
    if session.exec(select(ApiClient.id).where(ApiClient.name == name,
                                                ApiClient.active)).first() is not None:
        # two keys of one name could no longer be told apart by the commands that name one
        # (an operator's): a new key for a department is named anew (医保局-2027)
        raise Conflict(f"an active key is named {name} already: give the new one another "
                       "name", field="name", value=name, code="department_name_taken",
                       values={"name": name})
    key = key or new_token(CLIENT_PREFIX)[0]
    client = ApiClient(name=name, organisation=organisation, key_hash=hash_token(key))
    session.add(client)
    session.flush()
    audit.record(session, actor, "api_client", client.id, "create",
                 after={"name": name, "organisation": organisation})
    return client, key


def deactivate_client(session: Session, actor: Actor, client: ApiClient) -> None:
    """A department's key stops working (at once in this process, within the seconds a key
    is remembered in the others); flushes."""
    if client.active:
        client.active = False
        session.add(client)
        session.flush()
        audit.record(session, actor, "api_client", client.id, "deactivate",
                     before={"active": True}, after={"active": False})
        forget_actors()
