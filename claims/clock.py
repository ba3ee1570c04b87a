"""The county's calendar: every business date (a step's day, a due date, a notice's start,
a document's date, a form's default and latest day) is the county's (FANGPIN_TIMEZONE), not
the server's, which is still yesterday in the county's morning hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import partial
from zoneinfo import ZoneInfo

from claims.settings import get_settings
from policies import history
from policies.models import utcnow


def county_today(timezone: str | None = None) -> date:
    """Today on the county's calendar (``timezone``, default FANGPIN_TIMEZONE)."""
    return county_date(utcnow(), timezone)


def county_date(instant: datetime, timezone: str | None = None) -> date:
    """The county's date of an instant stored in UTC."""
    moment = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(timezone or get_settings().timezone)).date()


def use_county_clock(timezone: str) -> None:
    """Registry changes take effect on the county's date (policies.history), not the
    server's: set at the application's start and by the command line."""
    history.clock = partial(county_today, timezone)


def county_start(day: date) -> datetime:
    """The instant (UTC) a day of the county's calendar (FANGPIN_TIMEZONE) begins."""
    zone = ZoneInfo(get_settings().timezone)
    return datetime.combine(day, time(), zone).astimezone(UTC)
