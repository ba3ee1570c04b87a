"""Signing in to the web workspace (登录): Argon2 password hashes, server-side sessions whose
key lives in an HttpOnly cookie, an idle timeout and an absolute lifetime, sign-in throttling
per user name and per client address, and a CSRF token for every form."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from claims import audit
from claims.auth import Actor, actor_for_user, villages_of
from claims.models import AppUser, LoginThrottle, WebSession
from policies.errors import InvalidInput
from policies.messages import N_
from policies.models import utcnow

COOKIE = "fangpin_session"
# Throttling: a typed user name (whether or not such a user exists, so the answer never tells)
# and a client address each have some failures before the next try must wait; from then on
# every failure makes the next try wait twice as long, from FIRST_DELAY up to a cap. A try while
# waiting is refused without being counted, so nobody can stretch the wait; a name's wait is
# capped low, so a stranger cannot keep its owner out for long, while the stranger's own
# address soon waits an hour between guesses. Counts start again after QUIET without failures.
FAILURES_BEFORE_WAIT = {"name": 5, "ip": 10}
MAX_DELAY = {"name": timedelta(minutes=15), "ip": timedelta(hours=1)}
FIRST_DELAY = timedelta(seconds=30)
QUIET = timedelta(hours=1)
MIN_PASSWORD = 10
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often
# Argon2id at the OWASP Password Storage Cheat Sheet's recommended configuration (19 MiB, two
# passes, one lane). argon2-cffi's default (64 MiB, three passes, four lanes) is five times the
# work in four threads per sign-in: 0.3 s alone and 1.2-1.5 s for four sign-ins at once on a
# shared two-core machine (scripts/bench_signin.py). Hashes made with other parameters still
# verify, and are rehashed with these at the next sign-in.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_NOBODY = HASHER.hash("a password nobody has")  # unknown names cost as much as known ones


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
                           field="password", code="password_too_short",
                           values={"length": MIN_PASSWORD})
    user.password_hash = HASHER.hash(password)
    session.add(user)
    # Whoever was signed in with the old password is signed out.
    session.execute(WebSession.__table__.delete().where(
        WebSession.__table__.c.user_id == user.id))
    session.flush()
    audit.record(session, actor, "user", user.username, "set_password")


def sign_in(session: Session, username: str, password: str, address: str = "unknown",
            now: datetime | None = None) -> tuple[str, WebSession]:
    """Check a password and open a session; returns the cookie's key (shown only to the
    browser) and the session. Refused, with the same words whether or not the user exists,
    while the client address must wait, or the name must and this address has failed
    before (see FAILURES_BEFORE_WAIT)."""
    now = now or utcnow()
    username = username.strip()
    keys = {"name": f"name:{username.casefold()[:80]}", "ip": f"ip:{address[:80]}"}
    # The rows are locked while failures are counted, so parallel guesses count each.
    throttles = {kind: session.get(LoginThrottle, key, with_for_update=True)
                 for kind, key in keys.items()}
    waits = {kind: t.blocked_until for kind, t in throttles.items()
             if t is not None and t.blocked_until is not None and t.blocked_until > now}
    # A name's wait holds back the addresses that have failed (its guessers), not one with
    # no failure of its own within the hour: there the owner's password is still checked,
    # and a stranger's new address gets one guess. A stranger guessing as each wait ended
    # had kept a supervisor out all day (a security tester's).
    ip = throttles["ip"]
    clean = ip is None or ip.failures == 0 or now - ip.last_failure > QUIET
    if "ip" in waits or ("name" in waits and not clean):
        _waste(password)  # a refused try answers as slowly as any other
        raise LoginRefused(LOCKED, max(waits.values()))
    user = session.exec(select(AppUser).where(AppUser.username == username)).first()
    try:
        if user is None or not user.active or not user.password_hash:
            _waste(password)
            raise VerificationError
        HASHER.verify(user.password_hash, password)
    except VerificationError:
        for kind, key in keys.items():
            _count_failure(session, kind, key, throttles[kind], now, user)
        raise LoginRefused(WRONG) from None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    if throttles["name"] is not None:
        session.delete(throttles["name"])
    key = secrets.token_urlsafe(32)
    web = WebSession(key_hash=_digest(key), user_id=user.id,
                     csrf_token=secrets.token_urlsafe(24), created_at=now, last_seen=now)
    session.add_all([user, web])
    session.flush()
    return key, web


def _count_failure(session: Session, kind: str, key: str, throttle: LoginThrottle | None,
                   now: datetime, user: AppUser | None) -> None:
    """Count one failed try of a name or an address; from its FAILURES_BEFORE_WAIT on, make
    the next try wait (doubling, capped). Flushes."""
    if throttle is None:
        try:
            with session.begin_nested():  # a parallel first failure may have made the row
                throttle = LoginThrottle(key=key, last_failure=now)
                session.add(throttle)
        except IntegrityError:
            throttle = session.get(LoginThrottle, key, with_for_update=True,
                                   populate_existing=True)
    if now - throttle.last_failure > QUIET:
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure = now
    over = throttle.failures - FAILURES_BEFORE_WAIT[kind]
    if over >= 0:
        throttle.blocked_until = now + min(FIRST_DELAY * 2 ** min(over, 20), MAX_DELAY[kind])
        if over == 0 and kind == "name" and user is not None:
            audit.record(session, actor_for_user(user), "user", user.username, "locked",
                         reason=f"{throttle.failures} failed logins")
    session.add(throttle)
    # Forgotten failures go: strangers' guessed names do not pile up.
    session.execute(LoginThrottle.__table__.delete().where(
        LoginThrottle.__table__.c.last_failure < now - QUIET,
        LoginThrottle.__table__.c.key != key))
    session.flush()


def _waste(password: str) -> None:
    """Spend an Argon2 check, so the time of an answer says nothing about the account."""
    try:
        HASHER.verify(_NOBODY, password)
    except VerificationError:
        pass


def signed_in(session: Session, key: str | None, idle: timedelta, lifetime: timedelta,
              now: datetime | None = None) -> SignedIn | None:
    """The user behind a session cookie, or None when it is unknown, idle too long, older
    than ``lifetime`` however busy, or the user was deactivated. Flushes the session's
    last-seen time (now and then)."""
    if not key:
        return None
    now = now or utcnow()
    web = session.get(WebSession, _digest(key))
    if web is None:
        return None
    user = session.get(AppUser, web.user_id)
    if (now - web.last_seen > idle or now - web.created_at > lifetime or user is None
            or not user.active):
        session.delete(web)
        session.flush()
        return None
    if now - web.last_seen > TOUCH_EVERY:
        web.last_seen = now
        session.add(web)
        session.flush()
    villages = villages_of(session, user.townships)
    return SignedIn(user, actor_for_user(user, villages), web.csrf_token, villages)


def known(session: Session, key: str, settings) -> bool:
    """Whether a session cookie signs its user in now (claims.app.BodyLimit), as signed_in
    reads it but changing nothing: an idle one, kept until a page is opened with it, had
    still been given 128 MB on every API route (a hostile tester's)."""
    web = session.get(WebSession, _digest(key))
    if web is None:
        return False
    user = session.get(AppUser, web.user_id)
    now = utcnow()
    return (user is not None and user.active
            and now - web.last_seen <= timedelta(minutes=settings.session_idle_minutes)
            and now - web.created_at <= timedelta(hours=settings.session_max_hours))


def sign_out(session: Session, key: str | None) -> None:
    if key:
        web = session.get(WebSession, _digest(key))
        if web is not None:
            session.delete(web)
            session.flush()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected, given)
