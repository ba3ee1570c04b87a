"""One access policy (权限): who may see or change which households, claims, payments and
warnings, and who sees personal data in full. The API's routes, the pages, the imports and
the command line all call these functions, so an entry point cannot differ from another.

- **Role.** Every staff member reads; each change names the roles that may make it
  (``claims.auth.require_role``, used by the API's ``staff(...)`` and the pages alike).
  Department API keys submit events and read their own events' status, nothing else.
- **Area.** A user limited to some townships (``AppUser.townships``) sees and changes only the
  households of those townships' villages and what hangs off a household: members, income
  records, events, claims, warnings, risk scores, monitoring windows, follow-ups and
  eliminations. Lists leave the rest out. A single row outside the area is answered
  **404, exactly as a row that does not exist** (a 403 would tell that it exists elsewhere);
  writing into a village outside the area (a new household there, moving one there) is 403;
  a household named in a request's body (a new member, an application) outside the area is
  refused as a missing one is (422 naming the field).
- **County-wide data** is refused (403) to a limited user: payment batches (each holds the
  whole county's payees), the fund and settlement of a contract, the insured list of a
  contract, the scoring and monitoring runs, the claims and outcome reports (county totals),
  the audit trail, the quarantine of events whose household is not known yet, the household
  import (a county's file), and every change to regions, standards, lines, contracts, terms,
  users and keys. Reference data needed to work (regions, standards, lines, contracts, terms)
  may be read.
- **Personal data** (names, ID numbers, phones, bank accounts) is masked everywhere
  (``claims.masking``). ``may_reveal`` shows one household's in full, on the audit trail;
  ``may_export`` lists many members in full, each list on the audit trail.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, SQLModel, select

from claims import audit, masking
from claims.auth import Actor, Forbidden, require_county, require_role
from claims.models import Claim, EarlyWarning, Household, IncomeRecord, Member, Role
from policies.errors import InvalidInput, NotFound
from policies.registry import PageRequest
from risk.models import Elimination, FollowUp

__all__ = ["require_county", "require_role"]

OFFICE = frozenset({Role.clerk, Role.supervisor, Role.admin})  # monitoring and warnings


# --- area ---------------------------------------------------------------------------------------

def limited(actor: Actor) -> bool:
    """Whether the actor works in some townships only."""
    return actor.villages is not None


def in_area(actor: Actor, village_id: int | None) -> bool:
    """Whether a village lies in the actor's area (every village, for the whole county)."""
    return actor.villages is None or village_id in actor.villages


def require_village(actor: Actor, village_id: int) -> None:
    """Refuse writing into a village outside the actor's area (403); the code and the
    village's id let a page say it in words, with the village's name."""
    if not in_area(actor, village_id):
        raise Forbidden(f"village {village_id} is not in your area", field="village_id",
                        value=village_id, code="outside_area",
                        values={"village": village_id})


def households_in_area(query, actor: Actor):
    """Limit a query that selects or joins households to the actor's area."""
    if actor.villages is not None:
        query = query.where(Household.village_id.in_(actor.villages))
    return query


def claims_in_area(query, actor: Actor):
    """Limit a query of claims to the actor's area (joining households only then)."""
    if actor.villages is None:
        return query
    return households_in_area(query.join(Household, Household.id == Claim.household_id), actor)


def by_household_in_area(query, column, actor: Actor):
    """Limit a query of rows that name a household (``column``) to the actor's area."""
    if actor.villages is None:
        return query
    return query.where(column.in_(select(Household.id).where(
        Household.village_id.in_(actor.villages))))


def _absent(actor: Actor, what: str, id_: Any) -> NotFound:
    where = " or is not in your area" if limited(actor) else ""
    return NotFound(f"{what} {id_} does not exist{where}", field="id", value=id_)


def household(session: Session, actor: Actor, household_id: int, *,
              lock: bool = False) -> Household:
    """A household in the actor's area, or NotFound (404) — also when it lies elsewhere."""
    query = select(Household).where(Household.id == household_id)
    found = session.exec(query.with_for_update() if lock else query).first()
    if found is None or not in_area(actor, found.village_id):
        raise _absent(actor, "household", household_id)
    return found


def referenced_household(session: Session, actor: Actor, household_id: int,
                         field: str = "household_id") -> Household:
    """A household a request's body refers to: outside the area it is refused as a missing
    one is (422 naming the field), so the answer does not tell which exists."""
    found = session.get(Household, household_id)
    if found is None or not in_area(actor, found.village_id):
        where = " in your area" if limited(actor) else ""
        raise InvalidInput(f"household {household_id} does not exist{where}", field=field,
                           value=household_id, code="no_household")
    return found


def _of_household(session: Session, actor: Actor, model: type[SQLModel], id_: int,
                  what: str, lock: bool = False):
    query = select(model).where(model.id == id_)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = session.exec(query).first()
    if row is None:
        raise _absent(actor, what, id_)
    if actor.villages is not None:
        village = session.exec(select(Household.village_id).where(
            Household.id == row.household_id)).first()
        if village not in actor.villages:
            raise _absent(actor, what, id_)
    return row


def member(session: Session, actor: Actor, member_id: int) -> Member:
    return _of_household(session, actor, Member, member_id, "member")


def claim(session: Session, actor: Actor, claim_id: int, *, lock: bool = False) -> Claim:
    """A claim of a household in the actor's area (locked and read afresh with ``lock``)."""
    return _of_household(session, actor, Claim, claim_id, "claim", lock=lock)


def warning(session: Session, actor: Actor, warning_id: int) -> EarlyWarning:
    return _of_household(session, actor, EarlyWarning, warning_id, "warning")


def income_record(session: Session, actor: Actor, record_id: int) -> IncomeRecord:
    return _of_household(session, actor, IncomeRecord, record_id, "income record")


def follow_up(session: Session, actor: Actor, follow_up_id: int) -> FollowUp:
    return _of_household(session, actor, FollowUp, follow_up_id, "follow-up")


def elimination(session: Session, actor: Actor, elimination_id: int) -> Elimination:
    return _of_household(session, actor, Elimination, elimination_id, "elimination")


# --- personal data ------------------------------------------------------------------------------

def shown(values: dict[str, Any], revealed: bool) -> dict[str, Any]:
    """A household's or member's values as the caller may see them: masked unless revealed."""
    return values if revealed else masking.fields(values)


def reveal(session: Session, actor: Actor, household: Household) -> None:
    """Allow one household's personal data in full (``may_reveal``); on the audit trail."""
    if not actor.may_reveal:
        raise Forbidden("you may not show personal data in full (the reveal permission)",
                        field="reveal")
    audit.record(session, actor, "household", household.household_number, "reveal")


def export(session: Session, actor: Actor, what: str, filters: dict[str, Any],
           count: int) -> None:
    """Allow a list of many people's personal data in full (``may_export``); on the audit
    trail with its filters and size."""
    if not actor.may_export:
        raise Forbidden("listing members with full identifiers needs the export permission",
                        field="reveal")
    audit.record(session, actor, what, "list", "export",
                 after={"filters": filters, "rows": count})


# What a search for people was by, and how the trail keeps the value searched (as it keeps
# that kind of personal data elsewhere).
SEARCHED_AS = {"id_number": masking.id_number, "name": masking.name}


def searched(session: Session, actor: Actor, by: str, value: str, where: str,
             found: int, page: PageRequest | None = None) -> None:
    """A search for people on the audit trail: by ID number (the answer tells whether the
    person is covered) or by part of a name (a name shown masked is spelt out one character
    at a time). The entry says who searched, the value masked, where (the search's code)
    and how many were found; for a paged answer, the page read as the API names it (offset
    and limit), so that 40 pages of one search read apart from 40 searches."""
    after: dict[str, Any] = {"where": where, "found": found}
    if page is not None:
        after.update(offset=page.offset, limit=page.limit)
    audit.record(session, actor, "member", SEARCHED_AS[by](value)[:64], f"search_by_{by}",
                 after=after)
