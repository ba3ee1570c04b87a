"""Registry history (登记历史): every version of a member's and a household's changeable
fields, with the day it became true and the day it stopped being so.

Every change through the ORM is recorded by a flush hook, so a service, a page, an API route
and an import cannot forget it; bulk writers (Core inserts and updates) call :func:`record`
with the ids they wrote. A change takes effect on the county's date (:data:`clock`, set by
the application from its time zone); a second change the same day replaces that day's
version, so a day has exactly one version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from policies.models import Household, HouseholdVersion, Member, MemberVersion

MEMBER_FIELDS = ("household_id", "relation", "birth_date", "schooling", "health",
                 "disability_grade", "labour_skill", "migrant_work_months", "dibao", "tekun",
                 "status")
HOUSEHOLD_FIELDS = ("village_id", "household_type", "monitoring_category", "relocated",
                    "status")

clock: Callable[[], date] = date.today  # the county's date; claims sets it from the settings

_PENDING = "fangpin_history_pending"


def record(connection: sa.Connection, *, members: Iterable[int] = (),
           households: Iterable[int] = (), on: date | None = None) -> None:
    """A new version, valid from ``on`` (today), of each member and household named, read
    from its current row; the open version before it ends that day."""
    on = on or clock()
    for table, version, key, fields, ids in (
            (Member.__table__, MemberVersion.__table__, "member_id", MEMBER_FIELDS,
             sorted(set(members))),
            (Household.__table__, HouseholdVersion.__table__, "household_id",
             HOUSEHOLD_FIELDS, sorted(set(households)))):
        for start in range(0, len(ids), 5000):
            part = ids[start:start + 5000]
            owner = version.c[key]
            connection.execute(sa.delete(version).where(
                owner.in_(part), version.c.valid_from >= on))
            connection.execute(version.update().where(
                owner.in_(part), version.c.valid_to.is_(None)).values(valid_to=on))
            columns = [table.c[f] for f in fields]
            connection.execute(version.insert().from_select(
                [key, *fields, "valid_from"],
                sa.select(table.c.id, *columns, sa.literal(on, sa.Date))
                .where(table.c.id.in_(part))))


def _changed(obj: object, fields: tuple[str, ...]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[f].history.has_changes() for f in fields)


OFF = "fangpin_history_off"  # session.info key: a session writing at an older schema


@event.listens_for(OrmSession, "before_flush")
def _note_changes(session: OrmSession, _context, _instances) -> None:
    if session.info.get(OFF):
        return
    pending = session.info.setdefault(_PENDING, [])
    for obj in session.new:
        if isinstance(obj, Member | Household):
            pending.append(obj)
    for obj in session.dirty:
        if isinstance(obj, Member) and _changed(obj, MEMBER_FIELDS):
            pending.append(obj)
        elif isinstance(obj, Household) and _changed(obj, HOUSEHOLD_FIELDS):
            pending.append(obj)


@event.listens_for(OrmSession, "after_flush")
def _write_versions(session: OrmSession, _context) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    # after a flush every row has its id
    record(session.connection(),
           members=[o.id for o in pending if isinstance(o, Member) and o.id is not None],
           households=[o.id for o in pending if isinstance(o, Household) and o.id is not None])


def backfill(connection: sa.Connection, on: date) -> None:
    """A first version, valid from ``on``, of every member and household that has none
    (rows a bulk writer inserted)."""
    for table, version, key, fields in (
            (Member.__table__, MemberVersion.__table__, "member_id", MEMBER_FIELDS),
            (Household.__table__, HouseholdVersion.__table__, "household_id",
             HOUSEHOLD_FIELDS)):
        connection.execute(version.insert().from_select(
            [key, *fields, "valid_from"],
            sa.select(table.c.id, *[table.c[f] for f in fields], sa.literal(on, sa.Date))
            .where(~sa.exists().where(version.c[key] == table.c.id))))
