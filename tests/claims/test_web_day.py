"""A working day in the workspace (issue 17): administration with township-limited users,
error pages in the user's language for every page route, choosing the investigator and the
four-eyes rule before anyone presses, and times in the county's clock. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlmodel import select

from claims.auth import SYSTEM
from claims.models import AppUser, Region
from claims.people import create_user
from claims.web import session as web_session
from tests.claims import test_web
from tests.claims.test_web import PASSWORD


@pytest.fixture
def browser(app, session):
    """test_web's signed-in browser: ``browser("clerk", townships=[...])``."""
    yield from test_web.browser.__wrapped__(app, session)

# --- administration -----------------------------------------------------------------------------

def test_administration_opens_when_a_user_is_limited_to_townships(browser, session, county):
    """Regression: a township-limited user once made /admin answer 500 on every visit (the
    template called a Jinja filter that does not exist)."""
    township = session.get(Region, county.ids["village0"]).parent_id
    browser("clerk", "limited-clerk", townships=[township])
    page = browser("admin").get("/admin")
    assert page.status_code == 200
    name = session.exec(select(Region.name).where(Region.id == township)).one()
    row = page.text.split("limited-clerk", 1)[1].split("</tr>", 1)[0]
    assert name in row  # the user's townships by name


# --- signing in ---------------------------------------------------------------------------------

def test_passwords_are_hashed_at_owasps_argon2id_and_old_hashes_are_rehashed_at_sign_in(
        session):
    """OWASP's Password Storage Cheat Sheet: Argon2id with at least 19 MiB, two passes, one
    lane. A hash made with other parameters (argon2-cffi's default before) still signs in,
    and is replaced by one with today's parameters."""
    user, _ = create_user(session, SYSTEM, username="old", full_name="老用户", role="clerk")
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    made = extract_parameters(user.password_hash)
    assert (made.type, made.memory_cost, made.time_cost, made.parallelism) == (
        Type.ID, 19 * 1024, 2, 1)
    user.password_hash = PasswordHasher(time_cost=3, memory_cost=65536,
                                        parallelism=4).hash(PASSWORD)
    session.commit()
    web_session.sign_in(session, "old", PASSWORD)
    session.commit()
    rehashed = session.get(AppUser, user.id).password_hash
    assert extract_parameters(rehashed) == made and PasswordHasher().verify(rehashed, PASSWORD)
    web_session.sign_in(session, "old", PASSWORD)  # and signs in with the new one
    session.commit()
    assert session.get(AppUser, user.id).password_hash == rehashed  # not rehashed again
