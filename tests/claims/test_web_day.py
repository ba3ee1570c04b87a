"""A working day in the workspace (issue 17): administration with township-limited users,
error pages in the user's language for every page route, choosing the investigator and the
four-eyes rule before anyone presses, and times in the county's clock. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlmodel import select

from claims.auth import SYSTEM
from claims.models import AppUser, Region
from claims.people import create_user
from claims.web import pages
from claims.web import session as web_session
from claims.web.pages import is_page
from tests.claims import test_web
from tests.claims.test_access import routes
from tests.claims.test_web import PASSWORD, csrf_of


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


# --- error pages --------------------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")


def page_routes(app) -> list[tuple[str, str]]:
    """The workspace's routes, from the app's route table (the API's answer in JSON)."""
    return [(method, path) for method, path in routes(app) if is_page(path)]


def provocations(method: str, path: str, token: str) -> list[tuple[str, str, dict | None]]:
    """Ways to make a route refuse: a number that is not one or a row that does not exist in
    the path, a form without its token, the other method."""
    tried = []
    if "_id}" in path:
        tried.append((method, re.sub(r"{\w+_id}", "abc", path), {"csrf_token": token}))
        tried.append((method, re.sub(r"{\w+_id}", "999999", path), {"csrf_token": token}))
    concrete = re.sub(r"{\w+_id}", "1", path).replace("{language}", "en").replace(
        "{action}", "approve")
    if method == "POST":
        tried.append((method, concrete, {}))  # no CSRF token
    tried.append(("DELETE", concrete, None))  # no page answers DELETE
    return tried


def assert_error_page(answer, language: str, seen: str) -> None:
    """An error page in the language: HTML with a title and a message in words, no JSON."""
    assert answer.headers["content-type"].startswith("text/html"), seen
    page = answer.text
    assert f'<html lang="{"zh-CN" if language == "zh" else "en"}">' in page, seen
    title = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1).strip()
    message = re.search(r"<h1>.*?</h1>\s*<p>(.*?)</p>", page, re.S).group(1).strip()
    assert title and message and '{"' not in page, seen
    if language == "zh":
        assert CJK.search(title) and CJK.search(message), f"{seen}: {title} / {message}"
    else:
        assert not CJK.search(title + message), f"{seen}: {title} / {message}"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_page_route_refuses_with_an_error_page_in_the_users_language(
        app, browser, claim, language):
    admin = browser("admin", language=language)
    auditor = browser("auditor", language=language)
    token = csrf_of(admin.get("/dashboard").text)
    refused: dict[tuple[str, str], list[int]] = {}
    for method, path in page_routes(app):
        for who in (admin, auditor):
            csrf = token if who is admin else csrf_of(who.get("/dashboard").text)
            for verb, url, form in provocations(method, path, csrf):
                answer = who.request(verb, url, data=form, follow_redirects=False)
                seen = f"{verb} {url} as {who.user.role}: {answer.status_code}"
                if answer.status_code >= 400:
                    assert_error_page(answer, language, seen)
                    refused.setdefault((method, path), []).append(answer.status_code)
    assert {(m, p) for m, p in page_routes(app)} - set(refused) == set()
    statuses = {status for found in refused.values() for status in found}
    assert {403, 404, 405, 422} <= statuses
    unknown = admin.get("/no-such-page")
    assert unknown.status_code == 404
    assert_error_page(unknown, language, "/no-such-page")
    # the API keeps answering in JSON
    assert admin.get("/api/no-such-thing").headers["content-type"] == "application/json"


def test_a_server_error_on_a_page_is_shown_in_the_users_language(app, browser, monkeypatch):
    clerk = browser("clerk")

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pages, "dashboard_figures", broken)
    answer = clerk.get("/dashboard")
    assert answer.status_code == 500
    assert_error_page(answer, "zh", "GET /dashboard")
    assert answer.headers["x-request-id"] in answer.text
    assert "a bug" not in answer.text
