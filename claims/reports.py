"""Reports for the office and the insurer: claims by state, trigger, township and month,
amounts entitled, approved and paid, and overdue steps. JSON, or XLSX for a spreadsheet."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, func, select

from claims import clock
from claims.models import FINAL_STATES as FINAL
from claims.models import Claim, Household, Region
from policies.errors import InvalidInput
from policies.tables import xlsx_bytes

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
               "month": func.substr(sa.cast(Claim.opened_at, sa.String), 1, 7)}[by]
        query = select(key.label("grouping")).select_from(Claim)
    overdue = sa.case((sa.and_(Claim.due_date < today, Claim.state.not_in(FINAL)), 1), else_=0)
    query = query.add_columns(
        func.count(Claim.id).label("claims"), func.sum(overdue).label("overdue"),
        func.sum(Claim.entitled).label("entitled"),
        func.sum(Claim.approved_amount).label("approved"),
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


def to_xlsx(rows: list[dict], title: str) -> bytes:
    columns = list(rows[0]) if rows else ["group", "claims"]
    return xlsx_bytes(columns, [list(row.values()) for row in rows], title)
