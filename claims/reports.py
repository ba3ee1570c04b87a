"""Reports for the office and the insurer: claims by state, trigger, township and month,
amounts entitled, approved and paid, and overdue steps, by their codes (the API words its
workbook)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, func, select

from claims import clock, lifecycle
from claims.models import FINAL_STATES as FINAL
from claims.models import Claim, Household, Region
from claims.settings import get_settings
from policies.errors import InvalidInput
from policies.models import utcnow

DIMENSIONS = ("state", "trigger", "township", "month")


def claims_report(session: Session, by: str, *, policy_year: int | None = None,
                  today: date | None = None) -> list[dict]:
    """One row per group: claims, overdue, entitled, approved and paid amounts."""
    if by not in DIMENSIONS:
        raise InvalidInput(f"by is one of {', '.join(DIMENSIONS)}", field="by", value=by)
    today = today or clock.county_today()
    if by == "township":
        village, township = sa.orm.aliased(Region), sa.orm.aliased(Region)
        key = township.name
        query = (select(key.label("grouping"))
                 .select_from(Claim)
                 .join(Household, Household.id == Claim.household_id)
                 .join(village, village.id == Household.village_id)
                 .join(township, township.id == village.parent_id))
    else:
        key = {"state": Claim.state, "trigger": Claim.trigger,
               "month": _county_month(session)}[by]
        query = select(key.label("grouping")).select_from(Claim)
    overdue = sa.case((sa.and_(Claim.due_date < today, Claim.state.not_in(FINAL)), 1), else_=0)
    query = query.add_columns(
        func.count(Claim.id).label("claims"), func.sum(overdue).label("overdue"),
        func.sum(Claim.entitled).label("entitled"),
        func.sum(lifecycle.APPROVED).label("approved"),
        func.sum(Claim.paid_amount).label("paid"),
    ).group_by(key).order_by(key)
    if policy_year is not None:
        query = query.where(Claim.policy_year == policy_year)
    return [
        {"group": row.grouping, "claims": row.claims, "overdue": int(row.overdue or 0),
         "entitled": row.entitled or Decimal("0.00"), "approved": row.approved or Decimal(
             "0.00"), "paid": row.paid or Decimal("0.00")}
        for row in session.execute(query)
    ]


def _county_month(session: Session) -> sa.ColumnElement[str]:
    """A claim's month of opening on the county's calendar, "YYYY-MM", computed in SQL: the
    report sums every claim of the county, which is the database's work, not Python's."""
    zone = get_settings().timezone
    if session.get_bind().dialect.name == "postgresql":  # it reads the zone's rules itself
        return func.to_char(func.timezone(zone, Claim.opened_at), "YYYY-MM")
    # SQLite knows no zones: the stored UTC text is shifted by the zone's offset of today,
    # exact for a zone that keeps one all year, as China's do (in a zone with summer time a
    # claim of a month's first or last hour in the other season would go to the next month)
    offset = utcnow().astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    return func.strftime("%Y-%m", Claim.opened_at, f"{minutes:+d} minutes")
