"""The auditor's page (审计查询) and the quarantine of events (待核实事件).

The audit trail is searched by claim number, by who acted, by the kind of record and by the
county's dates, newest first, a page at a time (claims.trail, read from an index); each entry
reads as staff read it: the county's time, the person's name, the action's name, the reason
and the fields it changed under their labels. "Verify the chain" runs the chain's check
against the newest signed head (claims.anchors.verify, as ``GET /api/audit/verify``).

The quarantine lists the events whose ID number matched no member (or whose evaluation
failed); a clerk corrects the number and the event is evaluated again (claims.intake.replay,
as ``POST /api/quarantine/{id}/replay``). Both are county-wide, as in the API: any staff
member reads them, a user limited to some townships is refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlmodel import Session, func, select

from claims import access, anchors, audit, intake, masking, trail
from claims.api.deps import SessionDep
from claims.models import (
    ApiClient,
    AuditEntry,
    Claim,
    EventStatus,
    Household,
    Member,
    Region,
    Role,
    TriggerEvent,
)
from claims.people import names_of
from claims.settings import get_settings
from claims.web import bulk as bulk_view
from claims.web import catastrophes as catastrophes_view
from claims.web import config as config_view
from claims.web import monitoring as monitoring_view
from claims.web import printed as printed_view
from claims.web import records as records_view
from claims.web.i18n import (
    N_,
    actor_text,
    catalog,
    code_label,
    county_time,
    money,
    translator,
)
from claims.web.pages import (
    COUNTY_WIDE,
    PageError,
    User,
    check_csrf,
    language_of,
    need_role,
    render,
    text_for,
)
from claims.web.session import SignedIn
from policies.errors import DomainError
from policies.models import IncomeFields

router = APIRouter(include_in_schema=False)

# The kinds of record on the trail, as the search offers them.
KINDS = {
    "claim": N_("Claim"), "household": N_("Household"), "member": N_("Member"),
    "income_record": N_("Income record"), "trigger_event": N_("Trigger event"),
    "payment": N_("Payment"), "payment_batch": N_("Payment batch"),
    "policy_contract": N_("Contract"), "terms_version": N_("Terms version"),
    "monitoring_line": N_("Monitoring line"), "national_standard": N_("National standard"),
    "region": N_("Region"), "user": N_("User"), "api_client": N_("Department key"),
    "document": N_("Document"), "early_warning": N_("Early warning"),
    "elimination": N_("Risk elimination"), "follow_up": N_("Follow-up"),
    "household_import": N_("Household import"), "income_import": N_("Income import"),
    "catastrophe": N_("Catastrophe"), "risk_model": N_("Risk model"),
    "annual_records_import": N_("Annual records import"),
    "lines_import": N_("Monitoring lines import"), "shocks_import": N_("Shocks import"),
}
# Actions on the trail beyond a claim's steps (those are in claims.web.i18n).
ACTION_NAMES = [N_("update"), N_("reveal"), N_("export"), N_("correct_and_replay"),
                N_("locked"), N_("change_bank_account"), N_("deactivate"), N_("add"),
                N_("confirm"), N_("paid"), N_("failed"), N_("returned"), N_("settle"), N_("import"),
                N_("print"), N_("report"), N_("recalculate"), N_("assign_helper"),
                N_("assistance"), N_("decline"), N_("name_insured"), N_("set_remit"),
                N_("village_notice"), N_("view"), N_("download"), N_("thumbnail"),
                N_("search_by_id_number"), N_("search_by_name"), N_("declare"),
                N_("refresh_payees"), N_("promote"), N_("rollback"), N_("train"),
                N_("refused"), N_("new_token"), N_("attach_terms"), N_("remove_insured")]
# The fields an entry's before and after hold, under their labels.
FIELDS = {
    **records_view.FIELDS,
    "state": N_("State"), "entitled": N_("Entitled"), "approved_amount": N_("Approved amount"),
    "paid_amount": N_("Paid amount"), "due_date": N_("Due date"),
    "per_capita_net_income": N_("Income per person"),
    "adjudicator_id": N_("Adjudicator"), "household_number": N_("Household number"),
    "village_id": N_("Village"), "household_type": N_("Household type"),
    "monitoring_category": N_("Monitoring category"), "phone": N_("Phone"),
    "bank_name": N_("Bank"), "bank_account": N_("Bank account"),
    "relocated": N_("Relocated"), "status": N_("Status"), "name": N_("Name"),
    "id_number": N_("ID number"), "relation": N_("Relation"), "sex": N_("Sex"),
    "username": N_("Username"), "full_name": N_("Name"), "role": N_("Role"),
    "townships": N_("Townships"), "active": N_("Active"),
    "approval_limit": N_("Approval limit"), "contract_number": N_("Contract number"),
    "policy_year": N_("Policy year"), "end_date": N_("End date"),
    "claim_number": N_("Claim number"), "count": N_("Count"), "rows": N_("Rows"),
    "total": N_("Total"),
    "claim": N_("Claim"), "event": N_("Event"), "filename": N_("File name"),
    "content_type": N_("File type"), "doc_type": N_("Kind of document"), "size": N_("Size"),
    "sha256": N_("Fingerprint (SHA-256)"), "may_reveal": N_("May show personal data"),
    "may_export": N_("May export personal data"), "organisation": N_("Organisation"),
    "format": N_("Form"), "names": N_("Names"), "document": N_("Document"),
    "about": N_("About"), "claims": N_("Claims"), "household": N_("Household"),
    "withdrawn": N_("Withdrawn"), "filters": N_("Filters"), "event_types": N_("Event types"),
    "kind": N_("Kind"), "reference": N_("Reference"), "regions": N_("Affected regions"),
    "start_date": N_("Start date"), "events_tagged": N_("Reports tagged"),
    "events_retagged": N_("Reports whose catastrophe changed"),
    "lines": N_("Lines"), "helper": N_("Helper"), "household_id": N_("Household"),
    "household_numbers": N_("Household numbers"), "added": N_("Added"),
    "removed": N_("Removed"), "terms_version_id": N_("Terms version"),
    "document_type": N_("Kind of document"), "period_end": N_("Period ends"),
    "title": N_("Title"), "way": N_("Way"), "where": N_("Searched in"),
    "found": N_("Found"),
    # the page of a search's answer read, as the API names it (claims.access.searched)
    "offset": N_("Rows skipped (offset)"), "limit": N_("Rows per page (limit)"),
    # a member's and an import's counts (the Chinese page had shown labour_skill, written …
    # as stored); an income record's figures are in records_view.FIELDS
    "period_start": N_("Period starts"), "source": N_("Source"),
    "written": N_("Written"), "created": N_("Rows created"), "updated": N_("Rows updated"),
    "unchanged": N_("Rows unchanged"), "skipped": N_("Rows skipped"),
    # a household file's counts (they had been shown as stored), a refused one's too
    "households_in_file": N_("Households in the file"),
    "households_created": N_("Households created"),
    "households_updated": N_("Households updated"),
    "households_unchanged": N_("Households unchanged"),
    "households_skipped": N_("Households skipped"),
    "members_created": N_("Members created"), "members_updated": N_("Members updated"),
    "members_unchanged": N_("Members unchanged"), "errors": N_("Bad values"),
    "registered_elsewhere": N_("ID numbers found registered in another household"),
    "monitoring_window_removed": N_("Monitoring window removed (opened on)"),
    "eliminated_on": N_("Eliminated on"), "description": N_("Description"),
    "given_on": N_("Given on"),
    "health": N_("Health"), "disability_grade": N_("Disability grade"),
    "labour_skill": N_("Labour skill"), "education": N_("Education"),
    "schooling": N_("Schooling"), "migrant_work_months": N_("Months of migrant work"),
    "dibao": N_("Dibao"), "tekun": N_("Tekun support"),
    "in_force": N_("In force"), "test_day": N_("Test day"), "why": N_("Why not"),
    "replaced": N_("Version it replaced"),
    "recorded_at": N_("Recorded at"), "revised_at": N_("Revised at"),
    # a member's insurance and birth date, a region's place in the tree (the Chinese page had
    # shown resident_medical as stored: a tester's)
    "resident_medical": N_("Resident medical insurance"),
    "critical_illness": N_("Critical-illness insurance"), "pension": N_("Pension"),
    "birth_date": N_("Birth date"), "level": N_("Level"), "parent_id": N_("Part of"),
    # a contract's and a line's, as their forms name them
    **config_view.CONTRACT_FIELDS, **config_view.LINE_FIELDS,
}
# Where a search for people was made (claims.access.searched).
SEARCHES = {"households_search": N_("the households page's search"),
            "members_list": N_("the API's list of members"),
            "id_number_lookup": N_("the API's look-up by ID number"),
            "new_member": N_("a new member refused: the ID number is registered")}
# Values of fields that name something in words.
VALUES = {"full": N_("in full"), "masked": N_("masked"), "html": N_("web page"),
          **printed_view.TITLES, **SEARCHES}
# Codes a field holds, by the vocabulary's kind.
FIELD_KINDS = {"state": "ClaimState", "household_type": "HouseholdType",
               "monitoring_category": "MonitoringCategory", "role": "Role",
               "relation": "Relation", "sex": "Sex", "organisation": "Organisation",
               "doc_type": "DocumentType", "document_type": "DocumentType",
               "kind": "DisasterKind", "way": "EliminationWay", "health": "Health",
               "labour_skill": "LabourSkill", "education": "Education",
               "schooling": "Schooling", "source": "IncomeSource",
               "insured_basis": "InsuredBasis", "level": "RegionLevel"}
# Codes whose words depend on the record: a warning's status and outcome (its "open" had
# read 立案, a claim's, and "closed" and "visited" as stored).
ENTITY_VALUES = {("early_warning", "status"): bulk_view.WARNING_STATUSES,
                 ("early_warning", "outcome"): {**bulk_view.WARNING_OUTCOMES,
                                                **bulk_view.CLOSED_BY_THE_NIGHT},
                 ("early_warning", "source"): bulk_view.WARNING_SOURCES,
                 ("catastrophe", "status"): catastrophes_view.STATUSES}
CODES = {"sha256", "content_type", "filename"}  # shown as stored, as a code
SIZE = N_("%(n)s bytes")
MONEY = {"entitled", "approved_amount", "paid_amount", "amount", "approval_limit", "total",
         # an income record's figures, a contract's and a line's amounts, as every page
         # writes money (they had read 7500.00: a re-tester's)
         *IncomeFields.model_fields, "net_income", "per_capita_net_income",
         "premium_per_person", "balance_carried_in", "fixed_amount"}
TIMES = {"recorded_at", "revised_at"}  # instants, in the county's clock

VERIFIED = N_("The audit chain is intact: %(checked)s entries checked.")
SIGNED = N_("The newest signed head vouches for the first %(signed)s of them.")
UNSIGNED = N_("No signed head was found: entries removed from the end would not be seen.")
# Why the chain does not verify, found in the check's own words (claims.audit.verify).
PROBLEMS = [
    ("is missing", N_("The audit chain is broken at entry %(entry)s: an entry was removed.")),
    ("does not follow", N_("The audit chain is broken at entry %(entry)s: an entry before "
                           "it was altered or removed.")),
    ("was altered", N_("The audit chain is broken at entry %(entry)s: the entry was "
                       "altered.")),
    ("is not the one signed", N_("The audit chain is broken at entry %(entry)s: entries were "
                                 "altered and the hashes after them recomputed.")),
    ("were removed", N_("The audit chain is broken at entry %(entry)s: the newest entries "
                        "were removed.")),
    ("anchors", N_("The signed heads cannot be trusted: one is unreadable or signed with "
                   "another key.")),
]
NOT_VERIFIED = N_("The audit chain does not verify.")
BAD_DATE = N_("Not a date: %(field)s (write it as 2026-03-01).")


def _county(request: Request, user: SignedIn) -> None:
    try:
        access.require_county(user.actor, "the audit trail")
    except DomainError:
        raise PageError(403, text_for(request, COUNTY_WIDE)) from None


def _day(request: Request, value: str, label: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        _ = translator(language_of(request))
        raise PageError(422, _(BAD_DATE, field=_(label))) from None


def value_text(key: str, value: Any, language: str) -> str:
    """A field's value as staff read it: codes by their names, amounts as money, personal
    data masked (an ID number in any text too)."""
    return masking.in_text(_value_text(key, value, language))


def _value_text(key: str, value: Any, language: str) -> str:
    _ = translator(language)
    if value is None or value == "":
        return "—"
    if key in trail.PERSONAL and isinstance(value, str):
        return masking.FIELDS[key](value) or "—"
    if isinstance(value, bool):
        return _(records_view.YES if value else records_view.NO)
    if isinstance(value, list):
        return ("，" if language == "zh" else ", ").join(value_text("", v, language)
                                                        for v in value)
    if isinstance(value, dict):
        return ("；" if language == "zh" else "; ").join(
            f"{label}{'：' if language == 'zh' else ': '}{text}"
            for label, text in fields_text(value, language))
    if key in MONEY and not isinstance(value, bool):
        try:
            return money(value)
        except ArithmeticError:
            return str(value)
    if key in TIMES and isinstance(value, str):
        try:
            return county_time(datetime.fromisoformat(value), language)
        except ValueError:
            return value
    if key in FIELD_KINDS:
        return code_label(FIELD_KINDS[key], str(value), language)
    if key == "reason":
        return records_view.reason_text(str(value), language)
    if key == "format" and str(value) in ("pdf", "xlsx", "csv"):
        return str(value).upper()
    if key == "size" and isinstance(value, int):
        return _(SIZE, n=f"{value:,}")
    text = str(value)
    if text in VALUES:
        return _(VALUES[text])
    if language == "zh" and text in catalog("zh"):
        return catalog("zh")[text]
    return text


def fields_text(data: dict | None, language: str) -> list[tuple[str, str]]:
    _ = translator(language)
    return [(_(FIELDS[key]) if key in FIELDS else key, value_text(key, value, language))
            for key, value in (data or {}).items()]


# Fields whose label depends on what the entry is about: a catastrophe's name is no person's.
ENTITY_FIELDS = {("catastrophe", "name"): N_("Name of the catastrophe"),
                 ("region", "name"): N_("Region name"), ("api_client", "name"): N_("Department"),
                 ("elimination", "flags"): N_("Data-quality flags")}
# Codes of a field whose vocabulary depends on the record: a follow-up's assistance "kind"
# (its employment had read 因失业, as a disaster's kind).
ENTITY_KINDS = {("follow_up", "kind"): "AssistanceKind",
                # a member's, a household's and a contract's status ("active → deceased" had
                # read as stored on the Chinese page: a tester's)
                ("member", "status"): "MemberStatus", ("household", "status"): "HouseholdStatus",
                ("policy_contract", "status"): "ContractStatus"}
# Fields that hold a region's id, shown by its name, and a household's, by its number.
REGION_IDS = {"county_id", "region_id", "parent_id", "village_id", "regions", "townships"}


def entry_fields(data: dict | None, language: str, entity: str = "",
                 names: dict[str, dict[int, str]] | None = None
                 ) -> list[tuple[str, str, bool]]:
    """An entry's before or after as (label, text, whether the text is a code shown as
    stored: a file's name, type or fingerprint); ``names`` (see named_ids) names the
    regions and households whose ids it holds."""
    _ = translator(language)
    shown = []
    for key, (label, text) in zip((data or {}), fields_text(data, language), strict=True):
        if (entity, key) in ENTITY_FIELDS:
            label = _(ENTITY_FIELDS[(entity, key)])
        if isinstance(data[key], str) and data[key] in ENTITY_VALUES.get((entity, key), {}):
            text = _(ENTITY_VALUES[(entity, key)][data[key]])
        if isinstance(data[key], str) and (entity, key) in ENTITY_KINDS:
            text = code_label(ENTITY_KINDS[(entity, key)], data[key], language)
        if entity == "elimination" and key == "flags":
            text = ("；" if language == "zh" else "; ").join(
                monitoring_view.flag_text(flag, language) for flag in data[key] or []) or "—"
        looked_up = (names or {}).get("region" if key in REGION_IDS else key, {})
        if looked_up and isinstance(data[key], int | list) and not isinstance(data[key], bool):
            text = ("，" if language == "zh" else ", ").join(
                looked_up.get(r, str(r)) if isinstance(r, int) else str(r)
                for r in (data[key] if isinstance(data[key], list) else [data[key]])) or "—"
        shown.append((label, text, key in CODES))
    return shown


def named_ids(session: Session, entries: list[AuditEntry]) -> dict[str, dict[int, str]]:
    """The names of the ids the entries hold: regions by name, households by number (an
    income record's 农户 had read 11180, its id: a tester's), members masked."""
    wanted: dict[str, set[int]] = {"region": set(), "household_id": set(), "member": set()}
    for e in entries:
        for data in (e.before, e.after):
            for key, value in (data or {}).items():
                kind = "region" if key in REGION_IDS else key
                if kind in wanted and not isinstance(value, bool):
                    wanted[kind].update(v for v in (value if isinstance(value, list)
                                                    else [value]) if isinstance(v, int))
        if e.entity == "member" and e.entity_id.isdigit():
            wanted["member"].add(int(e.entity_id))
    found: dict[str, dict[int, str]] = {}
    for kind, query in (("region", select(Region.id, Region.name)),
                        ("household_id", select(Household.id, Household.household_number)),
                        ("member", select(Member.id, Member.name))):
        ids = wanted[kind]
        found[kind] = {i: masking.name(n) if kind == "member" else n for i, n in session.exec(
            query.where(query.selected_columns[0].in_(ids))).all()} if ids else {}
    return found


def reason_of(entry: AuditEntry, language: str) -> str:
    if entry.reason in VALUES:  # a printed document's kind
        return translator(language)(VALUES[entry.reason])
    return masking.in_text(records_view.reason_text(entry.reason, language))


def chain_text(result: audit.Verification, language: str) -> tuple[bool, list[str]]:
    """The chain check's result in the language: whether intact, and the sentences."""
    _ = translator(language)
    if not result.problem:
        lines = [_(VERIFIED, checked=result.checked)]
        lines.append(_(SIGNED, signed=result.signed_count) if result.signed_count is not None
                     else _(UNSIGNED))
        return True, lines
    for words, text in PROBLEMS:
        if words in result.problem:
            return False, [_(text, entry=result.first_bad or "")]
    return False, [_(NOT_VERIFIED)]


# --- the audit trail ----------------------------------------------------------------------------

@router.get("/audit")
def audit_page(request: Request, session: SessionDep, user: User,
               claim: str = "", who: Annotated[str, Query(alias="user")] = "",
               kind: str = "", since: str = "", until: str = "", before: int | None = None):
    return _audit(request, session, user, claim, who, kind, since, until, before)


@router.get("/audit/verify")
def verify_page(request: Request, session: SessionDep, user: User):
    _county(request, user)
    result = anchors.verify(session, get_settings())
    intact, lines = chain_text(result, language_of(request))
    return _audit(request, session, user, verified=(intact, lines))


def _audit(request: Request, session: Session, user: SignedIn, claim: str = "",
           who: str = "", kind: str = "", since: str = "", until: str = "",
           before: int | None = None, verified: tuple[bool, list[str]] | None = None):
    _county(request, user)
    language = language_of(request)
    wanted = trail.Search(claim=claim, actor=trail.who_was_typed(session, who),
                          entity=kind if kind in KINDS else "",
                          since=_day(request, since, N_("From the day")),
                          until=_day(request, until, N_("Up to the day")))
    rows, older = trail.search(session, user.actor, wanted, before=before)
    # each person by name and username: an administrator's second account under its own
    # name read as the administrator on the trail (a re-tester's)
    people = {username: f"{name}（{username}）" if language == "zh" else f"{name} ({username})"
              for username, name in names_of(session, (e.actor for e in rows)).items()}
    names = named_ids(session, rows)
    entries = [{
        "entry": e, "who": actor_text(e.actor, language, people),
        "kind": translator(language)(KINDS[e.entity]) if e.entity in KINDS else e.entity,
        "reason": reason_of(e, language),
        "record": (names["member"].get(int(e.entity_id), e.entity_id)
                   if e.entity == "member" and e.entity_id.isdigit() else e.entity_id),
        "before": entry_fields(e.before, language, e.entity, names),
        "after": entry_fields(e.after, language, e.entity, names),
    } for e in rows]
    return render(request, "audit.html", user=user, entries=entries, older=older,
                  kinds=KINDS, form={"claim": claim, "user": who, "kind": kind,
                                     "since": since, "until": until},
                  verified=verified)


# --- the quarantine -----------------------------------------------------------------------------

WAITING = [EventStatus.quarantined, EventStatus.failed]
PAGE = 50
# Why an event waits, by its status (the stored reason is the evaluator's, in English).
WHY = {EventStatus.quarantined: N_("The ID number matches no member: correct it and "
                                   "replay."),
       EventStatus.failed: N_("Its evaluation failed: replay it (correct the ID number if "
                              "it is wrong).")}
REPLAY_REFUSALS = {  # by the code of intake.replay's refusal
    "bad_id_number": N_("The ID number is not valid: check its 18 characters and the last "
                        "one."),
    "not_in_quarantine": N_("This event is no longer in quarantine."),
    "no_event": N_("No such event."),
}
OUTCOMES = {
    EventStatus.accepted: N_("Event %(event)s was evaluated: claim %(claim)s."),
    EventStatus.quarantined: N_("Event %(event)s still matches no member: check the ID "
                                "number again."),
    EventStatus.not_covered: N_("Event %(event)s matches a member, but no policy covers the "
                                "household on the event date."),
    EventStatus.same_loss: N_("Event %(event)s is a loss already reported: it joined claim "
                              "%(claim)s."),
    EventStatus.failed: N_("Event %(event)s could not be evaluated; it stays here."),
}


def _quarantine_county(request: Request, user: SignedIn) -> None:
    try:
        access.require_county(user.actor, "the quarantine")
    except DomainError:
        raise PageError(403, text_for(request, COUNTY_WIDE)) from None


@router.get("/quarantine")
def quarantine_page(request: Request, session: SessionDep, user: User, page: int = 1):
    return _quarantine(request, session, user, page=max(page, 1))


@router.post("/quarantine/{event_id}/replay")
def replay(request: Request, session: SessionDep, user: User, event_id: int,
           id_number: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    check_csrf(request, user, csrf_token)
    _quarantine_county(request, user)
    need_role(request, user, Role.clerk, Role.admin)
    _ = translator(language_of(request))
    try:
        outcome = intake.replay(session, user.actor, event_id, id_number.strip())
        session.commit()
    except DomainError as refused:
        # the error page every page's refusal uses, in the user's language; back to the list
        session.rollback()
        text = REPLAY_REFUSALS.get(refused.code or "", NOT_REPLAYED)
        raise PageError(refused.status_code, _(text)) from None
    event = session.get(TriggerEvent, event_id)
    status = outcome.status or EventStatus.failed
    done = _(OUTCOMES.get(status, OUTCOMES[EventStatus.failed]),
             event=event.source_event_id if event else event_id,
             claim=outcome.claim_number or "—")
    return _quarantine(request, session, user, done=done, claim_number=outcome.claim_number)


NOT_REPLAYED = N_("The event could not be replayed.")


def _quarantine(request: Request, session: Session, user: SignedIn, page: int = 1,
                done: str = "", claim_number: str | None = None):
    _quarantine_county(request, user)
    query = select(TriggerEvent).where(TriggerEvent.status.in_(WAITING))
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    events = session.exec(query.order_by(TriggerEvent.id).offset((page - 1) * PAGE)
                          .limit(PAGE)).all()
    departments = dict(session.exec(select(ApiClient.id, ApiClient.name).where(
        ApiClient.id.in_({e.client_id for e in events}))).all()) if events else {}
    claim_id = session.exec(select(Claim.id).where(
        Claim.claim_number == claim_number)).first() if claim_number else None
    return render(request, "quarantine.html", user=user, events=events,
                  count=count, page=page, pages=max(1, -(-count // PAGE)),
                  departments=departments, why=WHY, mask=masking,
                  done=done, claim_id=claim_id, claim_number=claim_number,
                  may_replay=user.user.role in (Role.clerk, Role.admin))
