"""A working day in the workspace (issue 17): administration with township-limited users,
error pages in the user's language for every page route, choosing the investigator and the
four-eyes rule before anyone presses, and times in the county's clock. On SQLite and
PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from claims.models import Region
from tests.claims.test_web import browser  # noqa: F401  (the signed-in browser fixture)


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
