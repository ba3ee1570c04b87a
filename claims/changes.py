"""Audited changes to what a payout depends on: households (their bank accounts above all),
members, income records, regions, standards and lines, contracts, terms and imports. Each
function checks the caller's access (claims.access), makes the change through the registry
(which knows nothing of the audit trail) and records it with the fields that changed, before
and after, personal ones masked. The API, the pages, the imports and the command line call
these and nothing else, so no entry point changes the registry without a trace. The
searches for people by name or ID number are here too, each on the trail wherever it is made.

Imports are recorded as one entry per file with its counts, plus one entry per household
whose bank account the file changed (what the payment batch's flag reads)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from claims import access, audit, catastrophes, clock, masking, monitoring, payments
from claims.auth import Actor
from claims.models import (
    FINAL_STATES,
    AuditEntry,
    Claim,
    Household,
    Payment,
    PaymentBatch,
    Region,
)
from claims.settings import get_settings
from policies import benefits, registry
from policies.citizen_id import InvalidCitizenId, parse_citizen_id
from policies.errors import Conflict, InvalidInput, NotFound
from policies.household_import import ImportReport
from policies.household_import import import_households as _import_households
from policies.income_import import import_income_reports as _import_income_reports
from policies.models import (
    HOUSEHOLD_NUMBER,
    HouseholdCreate,
    HouseholdUpdate,
    IncomeRecordCreate,
    IncomeRecordUpdate,
    Member,
    MemberCreate,
    MemberUpdate,
    MonitoringLineCreate,
    MonitoringLineUpdate,
    NationalStandardCreate,
    NationalStandardUpdate,
    PolicyContractCreate,
    PolicyContractUpdate,
    RegionCreate,
    RegionUpdate,
)
from policies.vocab import ContractStatus, IncomeSource

BANK_FIELDS = ("bank_name", "bank_account")
BANK_CHANGE = "change_bank_account"  # the action of an entry that changed a bank account


def _values(row: SQLModel) -> dict[str, Any]:
    """A row's fields as the trail records them: not its id, nor the moments it was made or
    changed (the entry has its own)."""
    return {k: v for k, v in registry.fields_of(row).items()
            if k not in ("id", "created_at", "updated_at", "revised_at")}


def diff(before: dict[str, Any], after: dict[str, Any], personal: bool = True
         ) -> tuple[dict, dict]:
    """The fields that changed, before and after; a person's fields masked (``personal``:
    the row is a household's or a person's, not a region's, whose name is no secret)."""
    changed = [k for k in after if before.get(k) != after[k]]
    shown = masking.fields if personal else dict
    return (shown({k: before.get(k) for k in changed}), shown({k: after[k] for k in changed}))


def _update(session: Session, actor: Actor, entity: str, entity_id: Any, row: SQLModel,
            change: Callable[[], Any], personal: bool = True):
    """Make a change to a row and record what changed (nothing when nothing did)."""
    before = _values(row)
    result = change()
    after = _values(row)
    old, new = diff(before, after, personal)
    action = "update"
    if new:
        if any(f in new for f in BANK_FIELDS):
            action = BANK_CHANGE
        audit.record(session, actor, entity, entity_id, action, before=old, after=new)
    return result


def _created(session: Session, actor: Actor, entity: str, entity_id: Any, row: SQLModel,
             personal: bool = True):
    values = {k: v for k, v in _values(row).items() if v is not None}
    audit.record(session, actor, entity, entity_id, "create",
                 after=masking.fields(values) if personal else values)
    return row


# --- households, members, income ----------------------------------------------------------------

def create_household(session: Session, actor: Actor, data: HouseholdCreate):
    access.require_village(actor, data.village_id)
    household = registry.create_household(session, data)
    return _created(session, actor, "household", household.household_number, household)


def update_household(session: Session, actor: Actor, household_id: int, data: HouseholdUpdate):
    household = access.household(session, actor, household_id, lock=True)
    if data.village_id is not None:
        access.require_village(actor, data.village_id)
    return _update(session, actor, "household", household.household_number, household,
                   lambda: registry.update_household(session, household_id, data))


def create_member(session: Session, actor: Actor, data: MemberCreate) -> Member:
    """Add a member. Refused because the ID number is registered (anywhere in the county),
    the refusal told whether the person is covered, as a look-up does: it is on the trail
    as one, which the caller commits with the refusal."""
    access.referenced_household(session, actor, data.household_id)
    try:
        member = registry.create_member(session, data)
    except Conflict as refused:
        if refused.code == "id_number_taken":
            access.searched(session, actor, "id_number", data.id_number, "new_member", 1)
        raise
    return _created(session, actor, "member", member.id, member)


def update_member(session: Session, actor: Actor, member_id: int, data: MemberUpdate) -> Member:
    member = access.member(session, actor, member_id)
    if data.household_id is not None:
        access.referenced_household(session, actor, data.household_id)
    return _update(session, actor, "member", member.id, member,
                   lambda: registry.update_member(session, member_id, data))


PAYOUT_BY_PAYMENT = ("a payout is recorded when the bank confirms its payment, and the fund "
                     "counts it: it is not typed or corrected by hand")


def create_income_record(session: Session, actor: Actor, data: IncomeRecordCreate):
    access.referenced_household(session, actor, data.household_id)
    if data.source == IncomeSource.payout:
        raise InvalidInput(f"source: {PAYOUT_BY_PAYMENT}", field="source", value=data.source,
                           code="payout_by_payment")
    # the period rules of the office's reports hold for every record, however it is sent: a
    # period still to come or of years would pass the eligibility and monitoring tests
    monitoring.check_report_period(data.period_start, data.period_end, clock.county_today())
    record = registry.create_income_record(session, data)
    return _created(session, actor, "income_record", record.id, record)


def update_income_record(session: Session, actor: Actor, record_id: int,
                         data: IncomeRecordUpdate):
    record = access.income_record(session, actor, record_id)
    if record.source == IncomeSource.payout:
        raise Conflict(f"income record {record_id}: {PAYOUT_BY_PAYMENT}", field="source",
                       value=record.source, code="payout_by_payment")
    return _update(session, actor, "income_record", record.id, record,
                   lambda: registry.update_income_record(session, record_id, data))


# --- searches for people ------------------------------------------------------------------------

SEARCH_ROWS = 50


@dataclass(frozen=True)
class Found:
    households: list  # (Household, village name)
    claims: list  # (Claim, household number)
    searched: bool  # whether the text was searched for (an ID number only by the form)


def find_households(session: Session, actor: Actor, q: str, by_id_number: bool) -> Found:
    """The households of the actor's area whose number starts with ``q`` or a member of which
    is named with ``q`` in part — or, ``by_id_number`` and ``q`` one, whose member has that
    ID number — and their claims, with the claims whose number holds ``q``. The search is on
    the trail (the households page's, ``households_search``)."""
    try:
        number = parse_citizen_id(q).number if q else None
    except InvalidCitizenId:
        number = None
    if not q or (number is not None and not by_id_number):
        return Found([], [], False)
    query = (select(Household, Region.name).join(Region, Region.id == Household.village_id)
             .order_by(Household.household_number).limit(SEARCH_ROWS))
    if number:
        query = query.where(Household.id.in_(select(Member.household_id).where(
            Member.id_number == number)))
    else:
        query = query.where(sa.or_(
            Household.household_number.startswith(q, autoescape=True),
            Household.id.in_(select(Member.household_id).where(
                Member.name.contains(q, autoescape=True)))))
    rows = list(session.exec(access.households_in_area(query, actor)).all())
    # a household's or a claim's number is no one's name: not a search for people
    if number or not re.fullmatch(HOUSEHOLD_NUMBER, q):
        access.searched(session, actor, "id_number" if number else "name", number or q,
                        "households_search", len(rows))
    found = Claim.household_id.in_([h.id for h, _village in rows])
    if number is None:
        found = sa.or_(found, Claim.claim_number.contains(q, autoescape=True))
    claims = list(session.exec(access.households_in_area(
        select(Claim, Household.household_number)
        .join(Household, Household.id == Claim.household_id).where(found)
        .order_by(Claim.claim_number.desc()).limit(SEARCH_ROWS), actor)).all())
    return Found(rows, claims, True)


def list_members(session: Session, actor: Actor, page: registry.PageRequest, *,
                 household_id: int | None = None, status: str | None = None,
                 name: str | None = None) -> tuple[list[Member], int]:
    """Members of the actor's area by household, status or part of the name; a search by
    name is on the trail (``members_list``, with the page read); a blank name is none, as on
    the page."""
    name = (name or "").strip() or None
    rows, count = registry.list_members(session, page, household_id=household_id,
                                        status=status, name=name, villages=actor.villages)
    if name:
        access.searched(session, actor, "name", name, "members_list", count, page)
    return rows, count


def member_by_id_number(session: Session, actor: Actor, id_number: str) -> Member:
    """The member of the actor's area with this ID number, or NotFound (404); the look-up
    is on the trail (``id_number_lookup``) either way, which the caller commits also with a
    refusal."""
    number = id_number.strip().upper()
    try:
        member = registry.member_by_id_number(session, number)
    except NotFound:
        member = None
    if member is not None and not access.in_area(
            actor, session.get(Household, member.household_id).village_id):
        member = None
    access.searched(session, actor, "id_number", number, "id_number_lookup",
                    int(member is not None))
    if member is None:
        where = " of your area" if access.limited(actor) else ""
        raise NotFound(f"no member{where} has ID number {number}", field="id_number",
                       value=id_number)
    return member


# --- county-wide reference data -----------------------------------------------------------------

def create_region(session: Session, actor: Actor, data: RegionCreate):
    access.require_county(actor, "the list of regions")
    region = registry.create_region(session, data)
    catastrophes.place_village(session, region)
    return _created(session, actor, "region", region.code, region, personal=False)


def update_region(session: Session, actor: Actor, region_id: int, data: RegionUpdate):
    access.require_county(actor, "the list of regions")
    region = registry.get_region(session, region_id)
    return _update(session, actor, "region", region.code, region,
                   lambda: registry.update_region(session, region_id, data), personal=False)


def create_national_standard(session: Session, actor: Actor, data: NationalStandardCreate):
    access.require_county(actor, "the national standard")
    standard = registry.create_national_standard(session, data)
    return _created(session, actor, "national_standard", standard.year, standard)


def update_national_standard(session: Session, actor: Actor, standard_id: int,
                             data: NationalStandardUpdate):
    access.require_county(actor, "the national standard")
    standard = registry.get_national_standard(session, standard_id)
    return _update(session, actor, "national_standard", standard.year, standard,
                   lambda: registry.update_national_standard(session, standard_id, data))


def create_monitoring_line(session: Session, actor: Actor, data: MonitoringLineCreate):
    access.require_county(actor, "the monitoring line")
    line = registry.create_monitoring_line(session, data)
    return _created(session, actor, "monitoring_line", line.id, line)


def update_monitoring_line(session: Session, actor: Actor, line_id: int,
                           data: MonitoringLineUpdate):
    access.require_county(actor, "the monitoring line")
    line = registry.get_monitoring_line(session, line_id)
    return _update(session, actor, "monitoring_line", line.id, line,
                   lambda: registry.update_monitoring_line(session, line_id, data))


def create_contract(session: Session, actor: Actor, data: PolicyContractCreate):
    access.require_county(actor, "a policy contract")
    contract = registry.create_contract(session, data)
    return _created(session, actor, "policy_contract", contract.contract_number, contract)


def update_contract(session: Session, actor: Actor, contract_id: int,
                    data: PolicyContractUpdate):
    access.require_county(actor, "a policy contract")
    contract = registry.get_contract(session, contract_id)
    if data.status == ContractStatus.closed and contract.status != ContractStatus.closed:
        _nothing_moving(session, contract_id)  # closed by hand as a settlement would be
    return _update(session, actor, "policy_contract", contract.contract_number, contract,
                   lambda: registry.update_contract(session, contract_id, data))


def name_insured_households(session: Session, actor: Actor, contract_id: int,
                            numbers: list[str]) -> int:
    access.require_county(actor, "a contract's insured list")
    contract = registry.get_contract(session, contract_id)
    added = registry.name_insured_households(session, contract_id, numbers)
    audit.record(session, actor, "policy_contract", contract.contract_number, "name_insured",
                 after={"household_numbers": numbers, "added": added})
    return added


def remove_insured_households(session: Session, actor: Actor, contract_id: int,
                              numbers: list[str]) -> int:
    access.require_county(actor, "a contract's insured list")
    contract = registry.get_contract(session, contract_id)
    removed = registry.remove_insured_households(session, contract_id, numbers)
    audit.record(session, actor, "policy_contract", contract.contract_number,
                 "remove_insured", before={"household_numbers": numbers},
                 after={"removed": removed})
    return removed


def store_terms(session: Session, actor: Actor, key: str, text: str, filename: str):
    """Store a terms text as the next version of its key; (version, created)."""
    access.require_county(actor, "the benefit terms")
    version, created = benefits.store_terms(session, key, text, filename)
    if created:
        audit.record(session, actor, "terms_version", f"{version.key}/{version.version}",
                     "create", after={"sha256": version.sha256, "title": version.title})
    return version, created


def attach_terms(session: Session, actor: Actor, contract_id: int, version_id: int):
    access.require_county(actor, "the benefit terms")
    before = registry.get_contract(session, contract_id).terms_version_id
    contract = benefits.attach_terms(session, contract_id, version_id)
    if before != version_id:
        audit.record(session, actor, "policy_contract", contract.contract_number,
                     "attach_terms", before={"terms_version_id": before},
                     after={"terms_version_id": version_id})
    return contract


def settle_contract(session: Session, actor: Actor, contract_id: int, today: date,
                    next_contract_id: int | None):
    access.require_county(actor, "a contract's fund")
    contract = registry.get_contract(session, contract_id)
    _nothing_moving(session, contract_id)
    settlement = benefits.settle_contract(session, contract_id, today=today,
                                          next_contract_id=next_contract_id)
    audit.record(session, actor, "policy_contract", contract.contract_number, "settle",
                 after=settlement.__dict__)
    return settlement


def _nothing_moving(session: Session, contract_id: int) -> None:
    """Refuse to close a contract while a claim of it is open or a payment line waits for
    the bank: settled with money still moving, the fund no longer added up (a hostile
    tester's contract was settled with two approved lines at the bank, which were paid after
    it), and closed by hand, its open claims could never be approved (a re-tester's)."""
    open_claims = session.exec(select(sa.func.count(Claim.id)).where(
        Claim.contract_id == contract_id, Claim.state.not_in(FINAL_STATES))).one()
    unanswered = session.exec(select(sa.func.count(Payment.id)).join(
        Claim, Claim.id == Payment.claim_id).where(
        Claim.contract_id == contract_id,
        Payment.state.in_(payments.UNDER_WAY))).one()
    if open_claims or unanswered:
        raise Conflict(f"{open_claims} claims of the contract are still open and {unanswered} "
                       "payment lines wait for the bank's answer: settle once every claim is "
                       "paid, rejected or withdrawn", field="claims", value=open_claims,
                       code="claims_open", values={"claims": open_claims, "lines": unanswered})


# --- imports ------------------------------------------------------------------------------------

def import_households(session: Session, actor: Actor, data: bytes, filename: str, *,
                      partial: bool = False, as_of: date | None = None) -> ImportReport:
    """Import a household file (county-wide); one audit entry for the file with its counts,
    a refused one's too, one per household whose bank account it changed. A refused file
    writes nothing else: the caller commits either way. Flushes only."""
    access.require_county(actor, "the household import")
    attempt = session.begin_nested()  # a refused file writes nothing but its audit entry
    report = _import_households(session, data, filename, partial=partial, as_of=as_of)
    if report.written:
        attempt.commit()
    else:
        attempt.rollback()
    counts = {k: v for k, v in report.as_dict().items() if isinstance(v, int)}
    # A file answers for each of its ID numbers whether it is registered in another
    # household: a refused file too is on the trail, as a search by ID number is (a hostile
    # tester checked a thousand numbers a file, unrecorded).
    counts["registered_elsewhere"] = sum(e.code == "registered_elsewhere" for e in report.errors)
    counts["errors"] = len(report.errors)
    audit.record(session, actor, "household_import", filename[:64],
                 "import" if report.written else "refused", after=counts)
    if not report.written:
        return report
    for number, before, after in report.bank_changes:
        audit.record(session, actor, "household", number, BANK_CHANGE,
                     before=masking.fields(before), after=masking.fields(after),
                     reason=f"import of {filename}")
    return report


def import_income_reports(session: Session, actor: Actor, data: bytes, filename: str,
                          today: date, *, partial: bool = False):
    """Import income reports, of the actor's area only; one audit entry for the file."""
    report = _import_income_reports(
        session, data, filename, today, partial=partial,
        villages=None if actor.villages is None else sorted(actor.villages))
    if report.written:
        counts = {k: v for k, v in report.as_dict().items() if isinstance(v, int)}
        audit.record(session, actor, "income_import", filename[:64], "import", after=counts)
    return report


# --- the bank-account flag of a payment batch -------------------------------------------------

def flagged_lines(session: Session, batch: PaymentBatch) -> list[dict[str, Any]]:
    """A batch's lines, each with ``bank_account_changed_at``: the latest change of the
    household's bank account from FANGPIN_BANK_CHANGE_FLAG_DAYS before the batch was made
    on, after it too (None when there was none) — for the supervisor to check before the
    bank file goes out, which sends to the account as it is then."""
    lines = payments.batch_lines(session, batch.id)
    changed = recent_bank_changes(session, batch, [line["household_number"] for line in lines],
                                  get_settings().bank_change_flag_days)
    return [{**line, "bank_account_changed_at": changed.get(line["household_number"])}
            for line in lines]


def recent_bank_changes(session: Session, batch: PaymentBatch, numbers: list[str],
                        days: int) -> dict[str, datetime]:
    """Of these households (by number), those whose bank account changed from ``days``
    before the batch was made on, with the latest such change."""
    if not numbers:
        return {}
    rows = session.exec(
        select(AuditEntry.entity_id, sa.func.max(AuditEntry.at))
        .where(AuditEntry.entity == "household", AuditEntry.action == BANK_CHANGE,
               AuditEntry.entity_id.in_(sorted(set(numbers))),
               AuditEntry.at >= batch.created_at - timedelta(days=days))
        .group_by(AuditEntry.entity_id)).all()
    return dict(rows)
