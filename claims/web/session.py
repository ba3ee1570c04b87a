"""Signing in to the web workspace (登录): Argon2 password hashes, server-side sessions whose
key lives in an HttpOnly cookie, an idle timeout, a lock after repeated failed logins, and a
CSRF token for every form."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlmodel import Session, select

from claims import audit
from claims.auth import Actor, actor_for_user, villages_of
from claims.models import AppUser, WebSession
from claims.web.i18n import N_
from policies.errors import InvalidInput
from policies.models import utcnow

COOKIE = "fangpin_session"
MAX_FAILED_LOGINS = 5
LOCK = timedelta(minutes=15)
MIN_PASSWORD = 10
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often
_hasher = PasswordHasher()
_NOBODY = _hasher.hash("a password nobody has")  # unknown names cost as much as known ones


WRONG = N_("wrong username or password")
LOCKED = N_("too many failed logins; try again after %(time)s")


class LoginRefused(Exception):
    """Why a login did not succeed, in words safe to show (never which half was wrong)."""

    def __init__(self, message: str, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


@dataclass
class SignedIn:
    user: AppUser
    actor: Actor
    csrf_token: str
    villages: frozenset[int] | None  # the villages the user may see; None: every one


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def set_password(session: Session, actor: Actor, user: AppUser, password: str) -> None:
    """Give a user a new password (at least MIN_PASSWORD characters); flushes."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters",
                           field="password")
    user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    # Whoever was signed in with the old password is signed out.
    session.execute(WebSession.__table__.delete().where(
        WebSession.__table__.c.user_id == user.id))
    session.flush()
    audit.record(session, actor, "user", user.username, "set_password")


def sign_in(session: Session, username: str, password: str, now: datetime | None = None
            ) -> tuple[str, WebSession]:
    """Check a password and open a session; returns the cookie's key (shown only to the
    browser) and the session. Five failures lock the account for 15 minutes."""
    now = now or utcnow()
    # The row is locked while its failures are counted, so parallel guesses count each.
    user = session.exec(select(AppUser).where(AppUser.username == username.strip())
                        .with_for_update()).first()
    if user is None or not user.active or not user.password_hash:
        _waste(password)
        raise LoginRefused(WRONG)
    if user.locked_until is not None and user.locked_until > now:
        _waste(password)  # a locked account answers as slowly as any other
        raise LoginRefused(LOCKED, user.locked_until)
    try:
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCK, 0
            audit.record(session, actor_for_user(user), "user", user.username, "locked",
                         reason=f"{MAX_FAILED_LOGINS} failed logins")
        session.add(user)
        session.flush()
        raise LoginRefused(WRONG) from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until = 0, None
    key = secrets.token_urlsafe(32)
    web = WebSession(key_hash=_digest(key), user_id=user.id,
                     csrf_token=secrets.token_urlsafe(24), created_at=now, last_seen=now)
    session.add_all([user, web])
    session.flush()
    return key, web


def _waste(password: str) -> None:
    """Spend an Argon2 check, so the time of an answer says nothing about the account."""
    try:
        _hasher.verify(_NOBODY, password)
    except VerificationError:
        pass


def signed_in(session: Session, key: str | None, idle: timedelta,
              now: datetime | None = None) -> SignedIn | None:
    """The user behind a session cookie, or None when it is unknown, idle too long, or the
    user was deactivated. Flushes the session's last-seen time (now and then)."""
    if not key:
        return None
    now = now or utcnow()
    web = session.get(WebSession, _digest(key))
    if web is None:
        return None
    user = session.get(AppUser, web.user_id)
    if now - web.last_seen > idle or user is None or not user.active:
        session.delete(web)
        session.flush()
        return None
    if now - web.last_seen > TOUCH_EVERY:
        web.last_seen = now
        session.add(web)
        session.flush()
    villages = villages_of(session, user.townships)
    return SignedIn(user, actor_for_user(user, villages), web.csrf_token, villages)


def sign_out(session: Session, key: str | None) -> None:
    if key:
        web = session.get(WebSession, _digest(key))
        if web is not None:
            session.delete(web)
            session.flush()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected, given)
