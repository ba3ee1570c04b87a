"""One access policy, checked from the outside: every route of the app (the JSON API and the
pages, read from the app's own route table) is called as every role, as users limited to one
township (on their township's rows and on another's), as a department's key and as nobody,
and each answer is compared with a table of what each may do. A route missing from the table
fails the test, so a new route must be placed in it. Also: personal data masked in the API,
revealed and exported only with their permissions and on the audit trail, and every change
of a household (its bank account above all), member, contract, terms, line, user or key on
the audit trail, whatever the entry point; a bank-account change shortly before a payment
batch is flagged on the batch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.routing import Mount

from claims import audit, catastrophes, changes, clock, intake, masking, people, trail
from claims.auth import SYSTEM, Actor
from claims.documents import service as documents
from claims.models import (
    AppUser,
    AuditEntry,
    Claim,
    EarlyWarning,
    Household,
    IncomeRecord,
    MonitoringLine,
    Payment,
    PaymentBatch,
    PolicyContract,
    Role,
    TriggerEvent,
)
from claims.settings import get_settings
from claims.web import audit_pages
from claims.web import session as web_session
from claims.web.pages import HERE_COOKIE
from policies import registry
from policies.models import (
    IncomeRecordCreate,
    NationalStandardCreate,
    RegionCreate,
)
from risk import scoring
from risk.models import Elimination, FollowUp, MonitoringWindow
from tests.claims.conftest import DEPARTMENT_KEY, build_county
from tests.factories import household_with_members

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
# A 1×1 PNG: every claim of the walk has a document (its thumbnail a real image).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
                    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082")

# --- what each may do ----------------------------------------------------------------------------

ALL = frozenset(Role)
CLERK = frozenset({Role.clerk, Role.admin})
OFFICE = frozenset({Role.clerk, Role.supervisor, Role.admin})
PAYER = frozenset({Role.supervisor, Role.admin})
ADMIN = frozenset({Role.admin})
SUPERVISOR = frozenset({Role.supervisor})
ADMIN_READ = frozenset({Role.admin, Role.auditor})
INVESTIGATE = frozenset({Role.investigator, Role.adjudicator, Role.supervisor})
NOTICE = frozenset({Role.clerk, Role.adjudicator, Role.supervisor})
APPROVE = frozenset({Role.adjudicator, Role.supervisor})
DOCUMENTS = frozenset({Role.clerk, Role.investigator, Role.adjudicator, Role.supervisor,
                       Role.admin})  # who adds and withdraws a claim's documents
SUPERVISE = frozenset({Role.supervisor})
SURVEY = frozenset({Role.investigator})
NOBODY = frozenset()


@dataclass(frozen=True)
class May:
    """Who may use a route: staff ``roles`` (a township-limited user too, on rows of its
    area, unless the data is ``county``-wide), or the ``public``, or ``departments``."""

    roles: frozenset = NOBODY
    county: bool = False
    public: bool = False
    departments: bool = False


def county(roles: frozenset) -> May:
    return May(roles, county=True)


TABLE: dict[tuple[str, str], May] = {
    ("GET", "/openapi.json"): May(public=True),
    ("GET", "/docs"): May(public=True),
    ("GET", "/healthz"): May(public=True),
    ("GET", "/favicon.ico"): May(public=True),
    # the registry: staff read, clerks write; regions, standards, lines, contracts county-wide
    ("POST", "/api/regions"): county(CLERK),
    ("GET", "/api/regions"): May(ALL),
    ("GET", "/api/regions/{region_id}"): May(ALL),
    ("PATCH", "/api/regions/{region_id}"): county(CLERK),
    ("POST", "/api/households"): May(CLERK),
    ("GET", "/api/households"): May(ALL),
    ("GET", "/api/households/{household_id}"): May(ALL),
    ("PATCH", "/api/households/{household_id}"): May(CLERK),
    ("POST", "/api/members"): May(CLERK),
    ("GET", "/api/members"): May(ALL),
    ("GET", "/api/members/by-id-number/{id_number}"): May(ALL),
    ("POST", "/api/members/search"): May(ALL),
    ("GET", "/api/members/{member_id}"): May(ALL),
    ("PATCH", "/api/members/{member_id}"): May(CLERK),
    ("POST", "/api/income-records"): May(CLERK),
    ("GET", "/api/income-records"): May(ALL),
    ("GET", "/api/income-records/{record_id}"): May(ALL),
    ("PATCH", "/api/income-records/{record_id}"): May(CLERK),
    ("POST", "/api/national-standards"): county(CLERK),
    ("GET", "/api/national-standards"): May(ALL),
    ("GET", "/api/national-standards/{standard_id}"): May(ALL),
    ("PATCH", "/api/national-standards/{standard_id}"): county(CLERK),
    ("POST", "/api/monitoring-lines"): county(CLERK),
    ("GET", "/api/monitoring-lines"): May(ALL),
    ("GET", "/api/monitoring-lines/applicable"): May(ALL),
    ("GET", "/api/monitoring-lines/{line_id}"): May(ALL),
    ("PATCH", "/api/monitoring-lines/{line_id}"): county(CLERK),
    ("POST", "/api/contracts"): county(CLERK),
    ("GET", "/api/contracts"): May(ALL),
    ("GET", "/api/contracts/{contract_id}"): May(ALL),
    ("PATCH", "/api/contracts/{contract_id}"): county(CLERK),
    ("POST", "/api/contracts/{contract_id}/insured-households"): county(CLERK),
    ("GET", "/api/contracts/{contract_id}/insured-households"): county(ALL),
    ("DELETE", "/api/contracts/{contract_id}/insured-households"): county(CLERK),
    ("POST", "/api/imports/households"): county(CLERK),
    ("POST", "/api/imports/income-reports"): May(OFFICE),
    # terms and the fund
    ("POST", "/api/terms"): county(ADMIN),
    ("GET", "/api/terms"): May(ALL),
    ("GET", "/api/terms/{version_id}"): May(ALL),
    ("PUT", "/api/contracts/{contract_id}/terms"): county(ADMIN),
    ("GET", "/api/contracts/{contract_id}/terms"): May(ALL),
    ("POST", "/api/quotes"): May(ALL),
    ("GET", "/api/contracts/{contract_id}/fund"): county(ALL),
    ("POST", "/api/contracts/{contract_id}/settlement"): county(ADMIN),
    # events: departments submit; staff read those of their area
    ("POST", "/api/events"): May(departments=True),
    ("POST", "/api/events/batch"): May(departments=True),
    ("POST", "/api/events/file"): May(departments=True),
    ("GET", "/api/events"): May(ALL, departments=True),
    ("GET", "/api/events/{source_event_id}"): May(departments=True),
    ("GET", "/api/quarantine"): county(ALL),
    ("POST", "/api/quarantine/{event_id}/replay"): county(CLERK),
    # claims
    ("GET", "/api/claims"): May(ALL),
    ("GET", "/api/claims/{claim_id}"): May(ALL),
    ("POST", "/api/claims/{claim_id}/actions/{action}"): May(INVESTIGATE),
    ("POST", "/api/applications"): May(CLERK),
    ("GET", "/api/work"): May(ALL),
    ("POST", "/api/claims/{claim_id}/assignment"): May(SUPERVISE),
    ("POST", "/api/claims/assignments"): May(SUPERVISE),
    ("GET", "/api/audit/verify"): county(ALL),
    ("GET", "/api/audit"): county(ALL),
    ("GET", "/api/reports/claims"): county(ALL),
    # payments: county-wide
    ("POST", "/api/payment-batches"): county(PAYER),
    ("GET", "/api/payment-batches"): county(ALL),
    ("GET", "/api/payment-batches/{batch_id}"): county(ALL),
    ("POST", "/api/payment-batches/{batch_id}/bank-file"): county(PAYER),
    ("POST", "/api/payment-batches/{batch_id}/confirmation"): county(PAYER),
    # administration
    ("POST", "/api/admin/users"): county(ADMIN),
    ("GET", "/api/admin/users"): county(ADMIN_READ),
    ("POST", "/api/admin/users/{username}/token"): county(ADMIN),
    ("POST", "/api/admin/api-clients"): county(ADMIN),
    ("GET", "/api/admin/api-clients"): county(ADMIN_READ),
    ("PUT", "/api/admin/api-clients/{client_id}/event-types"): county(ADMIN),
    ("POST", "/api/admin/api-clients/{client_id}/deactivate"): county(ADMIN),
    # risk and warnings
    ("GET", "/api/warnings"): May(ALL),
    ("POST", "/api/warnings/{warning_id}/close"): May(OFFICE),
    ("POST", "/api/warnings/close"): May(OFFICE),
    ("GET", "/api/risk/runs"): county(ALL),
    ("GET", "/api/households/{household_id}/risk"): May(ALL),
    # monitoring after the payout
    ("GET", "/api/monitoring/households"): May(ALL),
    ("GET", "/api/monitoring/households/{household_id}"): May(ALL),
    ("POST", "/api/households/{household_id}/income-reports"): May(OFFICE),
    ("GET", "/api/monitoring/alerts"): May(ALL),
    ("GET", "/api/monitoring/runs"): county(ALL),
    ("POST", "/api/monitoring/follow-ups/{follow_up_id}/helper"): May(OFFICE),
    ("POST", "/api/monitoring/follow-ups/{follow_up_id}/assistance"): May(OFFICE),
    ("POST", "/api/monitoring/follow-ups/{follow_up_id}/close"): May(OFFICE),
    ("POST", "/api/monitoring/households/{household_id}/elimination"): May(OFFICE),
    ("POST", "/api/monitoring/households/{household_id}/elimination/steps/{kind}"): May(OFFICE),
    ("POST", "/api/monitoring/eliminations/{elimination_id}/decline"): May(OFFICE),
    ("GET", "/api/reports/outcomes"): county(ALL),
    # bulk steps: a village's review, the notice of a village, approving a chosen list
    ("POST", "/api/reviews/village"): May(NOTICE),  # the review's roles are the notice's
    ("POST", "/api/notices/start"): May(NOTICE),
    ("POST", "/api/notices/close"): May(NOTICE),
    ("POST", "/api/approvals"): May(APPROVE),
    # documents: staff of the claim's area; departments on their own events
    ("POST", "/api/claims/{claim_id}/documents"): May(DOCUMENTS),
    ("GET", "/api/claims/{claim_id}/documents"): May(ALL),
    ("GET", "/api/documents/{document_id}/content"): May(ALL),
    ("POST", "/api/documents/{document_id}/withdraw"): May(DOCUMENTS),
    ("POST", "/api/events/{source_event_id}/documents"): May(departments=True),
    ("GET", "/api/claims/{claim_id}/required-documents"): May(ALL),
    # supervisors waive; an administrator takes no claim step (four eyes)
    ("POST", "/api/claims/{claim_id}/document-waivers"): May(SUPERVISOR),
    ("GET", "/api/events/{source_event_id}/documents"): May(departments=True),
    # catastrophes: declared by the office (county-wide), read by staff with their area's
    # figures; a village's claims surveyed at once by an investigator of the village's area
    ("GET", "/api/catastrophes"): May(ALL),
    ("POST", "/api/catastrophes"): county(OFFICE),
    ("GET", "/api/catastrophes/{catastrophe_id}"): May(ALL),
    ("PATCH", "/api/catastrophes/{catastrophe_id}"): county(OFFICE),
    ("POST", "/api/catastrophes/{catastrophe_id}/close"): county(OFFICE),
    ("POST", "/api/catastrophes/{catastrophe_id}/surveys"): May(SURVEY),
    # the pages
    ("GET", "/login"): May(public=True),
    ("POST", "/login"): May(public=True),
    ("GET", "/language/{language}"): May(public=True),
    ("GET", "/"): May(public=True),
    ("POST", "/logout"): May(ALL),
    ("GET", "/dashboard"): May(ALL),
    ("GET", "/claims"): May(ALL),
    ("GET", "/claims/{claim_id}"): May(ALL),
    ("POST", "/claims/{claim_id}/actions/{action}"): May(INVESTIGATE),
    ("GET", "/work"): May(ALL),
    ("POST", "/work/households/{household_id}/reveal"): May(NOBODY),  # as the reveal above
    ("GET", "/claims/{claim_id}/assignment"): May(ALL),
    ("POST", "/claims/{claim_id}/assignment"): May(SUPERVISE),
    ("GET", "/assignments"): May(SUPERVISE),
    ("POST", "/assignments"): May(SUPERVISE),
    ("GET", "/warnings"): May(ALL),
    ("POST", "/warnings/{warning_id}/close"): May(OFFICE),
    ("POST", "/warnings/close"): May(OFFICE),
    ("GET", "/households"): May(ALL),
    ("POST", "/households"): May(ALL),
    ("GET", "/households/{household_id}"): May(ALL),
    ("POST", "/households/{household_id}/reveal"): May(NOBODY),  # the walkers lack may_reveal
    ("GET", "/notice"): May(ALL),
    ("GET", "/review"): May(ALL),
    ("POST", "/review"): May(NOTICE),
    ("GET", "/notice/{village}.pdf"): May(ALL),
    ("GET", "/claims/{claim_id}/payout-notice"): May(ALL),
    ("GET", "/claims/{claim_id}/payout-notice.pdf"): May(ALL),
    ("GET", "/claims/{claim_id}/rejection-notice"): May(ALL),
    ("GET", "/claims/{claim_id}/rejection-notice.pdf"): May(ALL),
    ("POST", "/notice/start"): May(NOTICE),
    ("POST", "/notice/close"): May(NOTICE),
    ("GET", "/approvals"): May(APPROVE),
    ("GET", "/catastrophes"): May(ALL),
    ("POST", "/catastrophes"): county(OFFICE),
    ("GET", "/catastrophes/{catastrophe_id}"): May(ALL),
    ("POST", "/catastrophes/{catastrophe_id}"): county(OFFICE),
    ("POST", "/catastrophes/{catastrophe_id}/close"): county(OFFICE),
    ("GET", "/catastrophes/{catastrophe_id}/survey"): May(SURVEY),
    ("POST", "/catastrophes/{catastrophe_id}/survey"): May(SURVEY),
    ("POST", "/approvals"): May(APPROVE),
    ("GET", "/payments"): county(ALL),
    ("POST", "/payments"): county(PAYER),
    ("GET", "/payments/{batch_id}"): county(ALL),
    ("POST", "/payments/{batch_id}/bank-file"): county(PAYER),
    ("POST", "/payments/{batch_id}/confirmation"): county(PAYER),
    ("GET", "/admin"): county(ADMIN),
    ("POST", "/admin/users"): county(ADMIN),
    ("POST", "/admin/clients/{client_id}/deactivate"): county(ADMIN),
    ("POST", "/admin/clients"): county(ADMIN),
    ("POST", "/admin/clients/event-types"): county(ADMIN),
    ("GET", "/monitoring"): May(ALL),
    ("POST", "/monitoring/import"): May(OFFICE),
    ("GET", "/monitoring/households/{household_id}"): May(ALL),
    ("POST", "/monitoring/households/{household_id}/reports"): May(OFFICE),
    ("POST", "/monitoring/follow-ups/{follow_up_id}/helper"): May(OFFICE),
    ("POST", "/monitoring/follow-ups/{follow_up_id}/assistance"): May(OFFICE),
    ("POST", "/monitoring/follow-ups/{follow_up_id}/close"): May(OFFICE),
    ("POST", "/monitoring/households/{household_id}/elimination"): May(OFFICE),
    ("POST", "/monitoring/households/{household_id}/elimination/steps/{kind}"): May(OFFICE),
    ("POST", "/monitoring/eliminations/{elimination_id}/decline"): May(OFFICE),
    ("GET", "/monitoring/outcomes"): county(ALL),
    ("GET", "/monitoring/outcomes.xlsx"): county(ALL),
    ("POST", "/claims/{claim_id}/documents"): May(DOCUMENTS),
    ("GET", "/documents/{document_id}"): May(ALL),
    ("GET", "/documents/{document_id}/download"): May(ALL),
    ("GET", "/documents/{document_id}/thumbnail"): May(ALL),
    ("POST", "/documents/{document_id}/withdraw"): May(DOCUMENTS),
    ("POST", "/claims/{claim_id}/documents/waive"): May(SUPERVISOR),
    # the office's configuration: the county's, read by clerks and administrators; terms
    # changed by administrators, contracts and lines by clerks too (as the API)
    ("GET", "/config/terms"): county(CLERK),
    ("POST", "/config/terms"): county(ADMIN),
    ("GET", "/config/terms/diff"): county(CLERK),
    ("POST", "/config/terms/{version_id}/in-force"): county(ADMIN),
    ("GET", "/config/contracts"): county(CLERK),
    ("POST", "/config/contracts"): county(CLERK),
    ("GET", "/config/lines"): county(CLERK),
    ("POST", "/config/lines"): county(CLERK),
    ("GET", "/config/contracts/{contract_id}"): county(CLERK),
    ("POST", "/config/contracts/{contract_id}"): county(CLERK),
    ("GET", "/config/lines/{line_id}"): county(CLERK),
    ("POST", "/config/lines/{line_id}"): county(CLERK),
    # the auditor's page and the quarantine: county-wide, as their API
    ("GET", "/audit"): county(ALL),
    ("GET", "/audit/verify"): county(ALL),
    ("GET", "/quarantine"): county(ALL),
    ("POST", "/quarantine/{event_id}/replay"): county(CLERK),
}

# Path parameters naming a row of a household: a limited user is tried on its own township's
# row and on another's.
AREA_PARAMETERS = {"household_id", "member_id", "record_id", "claim_id", "warning_id",
                   "follow_up_id", "elimination_id", "id_number", "village", "document_id"}
# Routes whose body names the household (or village) they act on, with such a body.
AREA_BODIES = {
    ("POST", "/api/households"): lambda w, t, n: {
        "household_number": f"NEW{n}", "village_id": w[f"village_{t}"],
        "household_type": "lifted_out"},
    ("POST", "/api/members"): lambda w, t, n: {
        "household_id": w[f"household_id_{t}"], "name": "新成员", "relation": "son",
        "id_number": "11010519491231002X"},
    ("POST", "/api/income-records"): lambda w, t, n: {
        "household_id": w[f"household_id_{t}"], "period_start": "2020-01-01",
        "period_end": "2020-12-31", "wages": "100"},
    ("POST", "/api/members/search"): lambda w, t, n: {"id_number": w[f"id_number_{t}"]},
    ("POST", "/api/applications"): lambda w, t, n: {
        "household_id": w[f"household_id_{t}"], "trigger": "disaster", "reason": "房屋倒塌"},
    ("POST", "/api/quotes"): lambda w, t, n: {
        "household_id": w[f"household_id_{t}"], "contract_id": w["contract_id"],
        "events": [{"event_id": "Q1", "type": "illness", "event_date": str(clock.county_today()),
                    "id_number": w[f"id_number_{t}"], "amounts": {"total_cost": "100.00"}}]},
    ("POST", "/api/catastrophes/{catastrophe_id}/surveys"): lambda w, t, n: {
        "village_id": w[f"village_{t}"], "survey": SURVEY_FORM},
    ("POST", "/api/reviews/village"): lambda w, t, n: {
        "village_id": w[f"village_{t}"], "claim_ids": [1], "representatives": ["村主任"]},
    ("POST", "/api/notices/start"): lambda w, t, n: {
        "village_id": w[f"village_{t}"], "claim_ids": [1]},
}
SURVEY_FORM = {"visit_date": str(clock.county_today()), "team": ["王查勘", "李查勘"],
               "findings": "属实", "asset_check": {"bank_deposits": "无"}}
# Forms whose fields are required before the page's own checks run.
FORMS = {
    ("POST", "/login"): {"username": "nobody", "password": "wrong password"},
    ("POST", "/admin/clients"): {"name": "测试", "organisation": "civil_affairs"},
}
FILES = {("POST", "/payments/{batch_id}/confirmation"), ("POST", "/monitoring/import")}


def routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the app, from its route table (static files aside)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            continue
        for method in sorted(getattr(context.original_route, "methods", None) or ()):
            if method != "HEAD":
                found.append((method, context.path))
    return found


# --- the walkers --------------------------------------------------------------------------------

@dataclass
class Walker:
    name: str
    client: TestClient
    role: str | None = None  # None: not staff
    limited: bool = False
    department: bool = False
    csrf: str = ""


def _world(session) -> dict:
    """Two townships: A (the county fixture's) and B, each with a household, its members,
    an income record, a claim, a warning, a monitoring window, a follow-up and a proposal."""
    county = build_county(session)
    ids = county.ids
    township_b = registry.create_region(session, RegionCreate(
        code="411081101", name="褚河镇", level="township", parent_id=ids["county"]))
    village_b = registry.create_region(session, RegionCreate(
        code="411081101200", name="乙村", level="village", parent_id=township_b.id))
    household_b, members_b = household_with_members(session, village_b.id, number="H0002",
                                                    seq_start=11)
    household_b.bank_account = "6228480000000000002"
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=household_b.id, period_start=date(2024, 1, 1),
        period_end=date(2024, 12, 31), wages=Decimal("21000")))
    standard = registry.create_national_standard(session, NationalStandardCreate(
        year=2020, amount=Decimal("4000")))
    world = {"county": ids["county"], "township_A": ids["township"],
             "township_B": township_b.id, "village_A": ids["village0"],
             "village_B": village_b.id, "contract_id": county.contract.id,
             "version_id": county.contract.terms_version_id, "standard_id": standard.id,
             "line_id": session.exec(select(MonitoringLine.id)).first(),
             "client_id": county.client_id,
             "username": "spare"}  # a user the route walk makes (claims' token route)
    for t, household, members in (("A", county.household, county.members),
                                  ("B", household_b, members_b)):
        claim = intake.apply(session, SYSTEM, household.id, "illness", "看病")
        window = MonitoringWindow(household_id=household.id, opened_on=clock.county_today(),
                                  ends_on=clock.county_today() + timedelta(days=365),
                                  claim_id=claim.id, identified_on=clock.county_today())
        session.add(window)
        session.flush()
        case = FollowUp(window_id=window.id, household_id=household.id,
                        opened_on=clock.county_today())
        proposal = Elimination(household_id=household.id, window_id=window.id,
                               proposed_on=clock.county_today())
        warning = EarlyWarning(household_id=household.id, trigger=scoring.HIGH, source="risk",
                               text=scoring.warning_text(scoring.HIGH, 0.81, 0.42, 0.5))
        session.add_all([case, proposal, warning])
        session.flush()
        photo, = documents._add(session, SYSTEM, [documents.Upload("a.png", PNG)], claim=claim,
                                event=None)
        world.update({
            f"household_id_{t}": household.id, f"member_id_{t}": members[0].id,
            f"id_number_{t}": members[0].id_number, f"claim_id_{t}": claim.id,
            f"warning_id_{t}": warning.id, f"follow_up_id_{t}": case.id,
            f"elimination_id_{t}": proposal.id, f"document_id_{t}": photo.id,
            f"record_id_{t}": session.exec(select(IncomeRecord.id).where(
                IncomeRecord.household_id == household.id)).first()})
    event = TriggerEvent(client_id=county.client_id, source_event_id="Q-1", payload_hash="0",
                         payload={}, type="illness", event_date=clock.county_today(),
                         status="quarantined", id_number="11010519491231002X")
    batch = PaymentBatch(batch_number="PB-TEST")
    session.add_all([event, batch])
    session.flush()
    flood = catastrophes.declare(session, Actor("user", None, "clerk", role=Role.clerk),
                                 catastrophes.CatastropheIn(
                                     name="七月洪涝", kind="flood", regions=[ids["county"]],
                                     start_date=clock.county_today(),
                                     reference="豫应急〔2026〕12号"))
    world["catastrophe_id"] = flood.id
    world.update(event_id=event.id, source_event_id="Q-1", batch_id=batch.id,
                 region_id=ids["village0"], language="en", action="start_investigation",
                 kind="home_check")
    session.commit()
    return world


def _walkers(app, session, world) -> list[Walker]:
    walkers = []

    def staff(name: str, role: str, townships: list[int] | None = None) -> None:
        user, token = people.create_user(session, SYSTEM, username=name, full_name=name,
                                         role=role, approval_limit=Decimal("100000"))
        user.townships = townships
        web_session.set_password(session, SYSTEM, user, PASSWORD)
        key, web = web_session.sign_in(session, name, PASSWORD)
        session.commit()
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"}, cookies={
            web_session.COOKIE: key, HERE_COOKIE: "1", "fangpin_lang": "en"})
        walkers.append(Walker(name, client, role, townships is not None, csrf=web.csrf_token))

    for role in Role:
        staff(role.value, role)
    staff("clerk-of-a", Role.clerk, [world["township_A"]])
    staff("investigator-of-a", Role.investigator, [world["township_A"]])
    walkers.append(Walker("department", TestClient(
        app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"}), department=True))
    walkers.append(Walker("nobody", TestClient(app)))
    return walkers


def expected(may: May, walker: Walker, target: str) -> bool:
    if may.public:
        return True
    if walker.department:
        return may.departments
    if walker.role is None:
        return False
    if walker.role not in may.roles:
        return False
    if walker.limited:
        return not may.county and target == "A"
    return True


def allowed(method: str, path: str, answer) -> bool:
    """Whether an answer let the caller through: not 401/403/404, not sent to sign in (a
    sign-out goes to /login too, without a next page), and
    not refused the household named in the body (422 on it, as for a missing one)."""
    if answer.status_code in (401, 403, 404):
        return False
    if answer.status_code in (302, 303, 307) and answer.headers["location"].startswith(
            "/login?next="):
        return False
    if (method, path) in AREA_BODIES and answer.status_code == 422:
        return answer.json().get("field") not in ("household_id", "village_id")
    return True


def _call(walker: Walker, method: str, path: str, world: dict, target: str, n: int):
    values = {**world, **{k.removesuffix(f"_{target}"): v for k, v in world.items()
                          if k.endswith(f"_{target}")}}
    url = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)
    if path.startswith("/api/") or method in ("GET", "DELETE"):
        body = AREA_BODIES.get((method, path))
        json = body(world, target, n) if body else ({} if method != "GET" else None)
        return walker.client.request(method, url, json=json, follow_redirects=False)
    files = {"file": ("x.csv", b"a,b\n")} if (method, path) in FILES else None
    return walker.client.request(
        method, url, data={"csrf_token": walker.csrf, **FORMS.get((method, path), {})},
        files=files, follow_redirects=False)


def test_every_route_as_every_role_and_area_against_the_table(app, session):
    world = _world(session)
    # a user whose token the administrators' walk may replace: none of the walkers'
    people.create_user(session, SYSTEM, username=world["username"], full_name="备用",
                       role="auditor")
    walkers = _walkers(app, session, world)
    table = routes(app)
    missing = [route for route in table if route not in TABLE]
    assert not missing, f"routes missing from the access table: {missing}"
    assert not set(TABLE) - set(table), "the table names routes the app does not have"

    connection = session.bind
    wrongly_allowed, wrongly_denied, failed, calls = [], [], [], 0
    for method, path in table:
        may = TABLE[(method, path)]
        targeted = (set(re.findall(r"{(\w+)}", path)) & AREA_PARAMETERS
                    or (method, path) in AREA_BODIES)
        for walker in walkers:
            for target in ("A", "B") if walker.limited and targeted else ("A",):
                # Each call in a savepoint rolled back afterwards: what one allowed call
                # changes (a key deactivated, a claim moved on) never decides the next.
                session.close()
                savepoint = connection.begin_nested()
                try:
                    calls += 1
                    answer = _call(walker, method, path, world, target, calls)
                finally:
                    session.close()
                    savepoint.rollback()
                seen = (f"{method} {path} as {walker.name} on {target}: {answer.status_code} "
                        f"{' '.join(answer.text.split())[:120]}")
                if answer.status_code >= 500:
                    failed.append(seen)
                elif may.public:  # a public route may answer anything but a server error
                    continue
                elif allowed(method, path, answer) and not expected(may, walker, target):
                    wrongly_allowed.append(seen)
                elif not allowed(method, path, answer) and expected(may, walker, target):
                    wrongly_denied.append(seen)
    for walker in walkers:
        walker.client.close()
    print(f"{len(table)} routes, {calls} calls: {len(wrongly_allowed)} wrongly allowed, "
          f"{len(wrongly_denied)} wrongly denied, {len(failed)} server errors")
    assert not (failed or wrongly_allowed or wrongly_denied), "\n".join(
        ["server errors:", *failed, "wrongly allowed:", *wrongly_allowed,
         "wrongly denied:", *wrongly_denied])


# --- lists of a township-limited user -----------------------------------------------------------

def _token_of(session, username: str, role: str, **settings) -> dict:
    user, token = people.create_user(session, SYSTEM, username=username, full_name=username,
                                     role=role)
    people.update_user(session, SYSTEM, user, **settings)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


LISTS = {"/api/households": "id", "/api/members": "household_id",
         "/api/income-records": "household_id", "/api/claims": "household_id",
         "/api/warnings": "household_id", "/api/monitoring/households": "household_id"}


def test_a_township_limited_user_lists_only_the_rows_of_its_townships(app, session):
    world = _world(session)
    limited = TestClient(app, headers=_token_of(session, "limited", Role.clerk,
                                                townships=[world["township_A"]]))
    everyone = TestClient(app, headers=_token_of(session, "whole", Role.clerk))
    for path, household_field in LISTS.items():
        seen = {row[household_field] for row in limited.get(path).json()["data"]}
        assert seen == {world["household_id_A"]}, path
        assert {row[household_field] for row in everyone.get(path).json()["data"]} == {
            world["household_id_A"], world["household_id_B"]}, path
    # a filter naming the other township's household finds nothing, as if it did not exist
    other = limited.get("/api/claims", params={"household_id": world["household_id_B"]})
    assert other.json() == {"data": [], "count": 0}
    assert limited.get(f"/api/households/{world['household_id_B']}").json()["message"] == (
        f"household {world['household_id_B']} does not exist or is not in your area")
    assert limited.get("/api/households/999999").json()["message"] == (
        "household 999999 does not exist or is not in your area")


def test_a_taken_number_is_refused_alike_inside_and_outside_the_users_area(app, session):
    """Registering a person or a household number already registered in another township
    answers as in one's own: "already registered", naming no household; the ID number's
    refusal told whether the person is covered, so it is on the trail as a look-up is."""
    world = _world(session)
    limited = TestClient(app, headers=_token_of(session, "limited", Role.clerk,
                                                townships=[world["township_A"]]))
    answers = {}
    for t in ("A", "B"):
        member = limited.post("/api/members", json={
            "household_id": world["household_id_A"], "name": "新成员", "relation": "son",
            "id_number": world[f"id_number_{t}"]})
        household = limited.post("/api/households", json={
            "household_number": "H0001" if t == "A" else "H0002",
            "village_id": world["village_A"], "household_type": "lifted_out"})
        answers[t] = [(a.status_code, a.json()["code"], a.json()["field"],
                       a.json()["message"].replace(a.json()["value"], "…"))
                      for a in (member, household)]
    assert answers["A"] == answers["B"]
    assert not [m for _, _, _, m in answers["B"] if re.search(r"\d", m)]  # no household id
    assert [code for _, code, _, _ in answers["B"]] == ["id_number_taken",
                                                          "household_number_taken"]
    looked_up = session.exec(select(AuditEntry.actor, AuditEntry.entity_id).where(
        AuditEntry.action == "search_by_id_number").order_by(AuditEntry.id)).all()
    assert looked_up == [("user:limited", masking.id_number(world[f"id_number_{t}"]))
                         for t in ("A", "B")]


def test_a_member_is_searched_by_id_number_with_the_number_out_of_the_address(app, session):
    """GET /api/members/by-id-number/{id} put the full number in the address, which proxies
    and browsers log (a security tester's): POST /api/members/search takes it in the body,
    answers as the GET does and is on the trail alike."""
    world = _world(session)
    clerk = TestClient(app, headers=_token_of(session, "searcher", Role.clerk))
    found = clerk.post("/api/members/search", json={"id_number": world["id_number_A"]})
    assert found.status_code == 200
    assert found.json() == clerk.get(
        f"/api/members/by-id-number/{world['id_number_A']}").json()
    assert world["id_number_A"] not in found.text  # masked, unless revealed
    missing = clerk.post("/api/members/search", json={"id_number": "11010519491231002X"})
    assert missing.status_code == 404
    looked_up = session.exec(select(AuditEntry.entity_id).where(
        AuditEntry.action == "search_by_id_number", AuditEntry.actor == "user:searcher")).all()
    assert len(looked_up) == 3 and world["id_number_A"] not in looked_up


# --- personal data ------------------------------------------------------------------------------

def test_pure_masking_of_personal_fields():
    masked = masking.fields({"name": "张三丰", "id_number": "41108119650312001X",
                             "phone": "13800001234", "bank_account": "6228480000000000001",
                             "household_number": "H0001", "head_name": None})
    assert masked == {"name": "张*丰", "id_number": "4110**********001X",
                      "phone": "138****1234", "bank_account": "****0001",
                      "household_number": "H0001", "head_name": None}
    before, after = changes.diff({"bank_account": "6228480000000000001", "relocated": False},
                                 {"bank_account": "6228480000000000099", "relocated": False})
    assert (before, after) == ({"bank_account": "****0001"}, {"bank_account": "****0099"})
    assert changes.diff({"name": "火龙镇"}, {"name": "火龙街道"}, personal=False) == (
        {"name": "火龙镇"}, {"name": "火龙街道"})  # a region's name is no secret


def test_the_api_masks_personal_data_and_reveals_it_only_with_permission_on_the_trail(
        app, session):
    world = _world(session)
    household_id, member_id = world["household_id_A"], world["member_id_A"]
    plain = TestClient(app, headers=_token_of(session, "plain", Role.clerk))
    shown = plain.get(f"/api/households/{household_id}").json()
    assert shown["bank_account"] == "****0001" and shown["head_name"] == "成*0"
    member = plain.get(f"/api/members/{member_id}").json()
    assert member["id_number"] == masking.id_number(world["id_number_A"])
    assert member["name"] == "成*0"
    listed = plain.get("/api/members", params={"household_id": household_id}).json()
    assert all("*" in m["id_number"] for m in listed["data"])
    events = TestClient(app, headers=_token_of(session, "reader", Role.auditor)).get(
        "/api/events").json()["data"]
    assert [e["id_number"] for e in events] == ["1101**********002X"]
    # the full values: no permission, no values
    assert plain.get(f"/api/households/{household_id}?reveal=true").status_code == 403
    assert plain.get("/api/members?reveal=true").status_code == 403

    revealer = TestClient(app, headers=_token_of(session, "revealer", Role.clerk,
                                                 may_reveal=True))
    full = revealer.get(f"/api/households/{household_id}?reveal=true").json()
    assert full["bank_account"] == "6228480000000000001"
    one = revealer.get("/api/members", params={"household_id": household_id,
                                                "reveal": "true"}).json()
    assert world["id_number_A"] in {m["id_number"] for m in one["data"]}
    # revealing one household is not exporting many
    assert revealer.get("/api/members?reveal=true").status_code == 403
    exporter = TestClient(app, headers=_token_of(session, "exporter", Role.auditor,
                                                 may_export=True))
    everyone = exporter.get("/api/members?reveal=true&limit=1000").json()
    assert {m["id_number"] for m in everyone["data"]} >= {world["id_number_A"],
                                                          world["id_number_B"]}
    trail = session.exec(select(AuditEntry.actor, AuditEntry.action, AuditEntry.after)
                         .where(AuditEntry.action.in_(["reveal", "export"]))
                         .order_by(AuditEntry.id)).all()
    assert [(a, action) for a, action, _ in trail] == [
        ("user:revealer", "reveal"), ("user:revealer", "reveal"), ("user:exporter", "export")]
    assert trail[-1][2]["rows"] == len(everyone["data"])


def test_the_api_searches_the_audit_trail_as_the_page_does_masked_alike(app, session):
    """The audit page had a search and the API none: an auditor's tools could only verify the
    chain. Both now search through claims.trail, masked alike."""
    world = _world(session)
    full = world["id_number_A"]
    actor = Actor("user", None, "old-import")
    # an entry written before the trail stored personal data masked, and a typed note
    audit.record(session, actor, "member", "m-1", "update", before={"id_number": full},
                 after={"phone": "13812345678", "note": f"换号 {full}"},
                 reason="户主电话 13912345678")
    for n in range(55):  # more than a page
        audit.record(session, actor, "household", f"H9{n:03d}", "update",
                     after={"bank_account": "6228480000000000001"})
    session.commit()
    auditor = TestClient(app, headers=_token_of(session, "aud", Role.auditor))
    found = auditor.get("/api/audit", params={"kind": "member", "user": "old-import"})
    assert found.status_code == 200
    [entry] = found.json()["data"]
    assert entry["before"] == {"id_number": masking.id_number(full)}
    assert entry["after"] == {"phone": "138****5678",
                              "note": f"换号 {masking.id_number(full)}"}
    assert entry["reason"] == "户主电话 139****5678" and full not in found.text
    first = auditor.get("/api/audit", params={"kind": "household"}).json()
    assert len(first["data"]) == 50 and first["older"] == first["data"][-1]["id"]
    assert {e["after"]["bank_account"] for e in first["data"]} == {"****0001"}
    rest = auditor.get("/api/audit", params={"kind": "household",
                                             "before": first["older"]}).json()
    assert rest["older"] is None and len(rest["data"]) == 5
    # the page shows the same entry masked alike
    user = session.exec(select(AppUser).where(AppUser.username == "aud")).one()
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    key, _web = web_session.sign_in(session, "aud", PASSWORD)
    session.commit()
    page = TestClient(app, cookies={web_session.COOKIE: key, HERE_COOKIE: "1",
                                    "fangpin_lang": "en"}).get(
        "/audit", params={"kind": "member", "user": "old-import"}).text
    assert masking.id_number(full) in page and "139****5678" in page and full not in page
    # a kind the trail does not have is named, not an empty answer
    wrong = auditor.get("/api/audit", params={"kind": "claims"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "kind"
    bad_day = auditor.get("/api/audit", params={"since": "2026-13-01"})
    assert bad_day.status_code == 422 and "since" in bad_day.text


def _world_contract(session) -> int:
    return session.exec(select(PolicyContract.id)).first()


def test_a_field_a_request_does_not_take_is_refused_on_every_route_of_fields(app, session):
    """A route whose JSON body is several fields ignored the others: "amount" sent to
    /api/approvals had approved the whole amount due (a security tester's). A walk over the
    route table: every such route refuses a field it does not take, naming it."""
    from fastapi import params
    from fastapi.routing import APIRoute

    _world(session)
    admin = TestClient(app, headers=_token_of(session, "walker", Role.supervisor))
    walked = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute):
            continue
        body = original.dependant.body_params
        if len(body) < 2 and not (body and getattr(body[0].field_info, "embed", False)):
            continue
        if any(isinstance(p.field_info, params.Form) for p in body):
            continue  # forms and uploads: not JSON
        path = re.sub(r"\{[^}]+\}", "1", route.path_format)
        for method in route.methods:
            answer = admin.request(method, path, json={"bogus": 1})
            assert answer.status_code == 422 and answer.json()["field"] == "bogus", (
                method, path, answer.text[:200])
            walked.append(path)
    assert "/api/approvals" in walked and len(walked) >= 10
    exact = admin.post("/api/approvals", json={"claim_ids": [1], "amount": "100.00"})
    assert exact.status_code == 422 and exact.json()["field"] == "amount"
    for media in ("Application/JSON", "application/merge-patch+json"):  # read as JSON too
        typed = admin.post("/api/approvals", content='{"claim_ids": [1], "amount": "1.00"}',
                           headers={"content-type": media})
        assert typed.status_code == 422 and typed.json()["field"] == "amount", media
    clerk = TestClient(app, headers=_token_of(session, "lister", Role.clerk))
    extra = clerk.post(f"/api/contracts/{_world_contract(session)}/insured-households",
                       json={"household_numbers": ["H0001"], "remove": True})
    assert extra.status_code == 422 and "remove" in extra.text


def page_form_takes(app, url: str):
    """Whether the page that a form at this address posts to reads a field (its Form
    parameters, or the fields its FormFields declares for the address), as a function of the
    field's name; None where no page takes a POST there."""
    from fastapi.routing import APIRoute

    from claims.web.pages import FormFields

    def dependencies(dependant):
        for dependency in dependant.dependencies:
            yield dependency.call
            yield from dependencies(dependency)

    path = urlsplit(url).path
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        match = re.fullmatch(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", context.path), path)
        if isinstance(route, APIRoute) and "POST" in route.methods and match:
            taken = {param.alias for param in route.dependant.body_params}
            declared = [call for call in dependencies(route.dependant)
                        if isinstance(call, FormFields)]
            return lambda name: name == "csrf_token" or name in taken or any(
                form.takes(name, match.groupdict()) for form in declared)
    return None


# A step's or an elimination step's kind, in the address.
KINDS = {"action": ["start_investigation", "submit_survey", "record_review", "start_notice",
                    "record_objection", "close_notice", "approve", "reject", "withdraw",
                    "reconsider", "mark_paid", "reopen"],
         "kind": ["home_check", "democratic_review", "notice", "objection"]}


def page_posts(app) -> list[str]:
    """Every address a page's form posts to, from the route table, a step's address once for
    each step; the ids left as they are."""
    found = []
    for method, path in routes(app):
        if method == "POST" and not path.startswith(("/api", "/language")):
            names = [name for name in KINDS if "{" + name + "}" in path]
            found += ([path.replace("{" + names[0] + "}", kind) for kind in KINDS[names[0]]]
                      if names else [path])
    return found


def test_a_field_a_page_does_not_read_is_refused_on_every_page(app, session):
    """Eight pages took a field of no form of theirs without a word, a withdrawal among them,
    and "may_reveal=yes" on the admin page was read as nothing said (a hostile tester's). A
    walk over the route table: every page's form refuses a field it does not read, naming
    it, in the reader's language, before anything is done."""
    world = _world(session)
    walkers = {w.name: w for w in _walkers(app, session, world)}
    supervisor, admin = walkers["supervisor"], walkers["admin"]
    before = session.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first()
    walked = 0
    for path in page_posts(app):
        url = re.sub(r"\{\w+\}", "1", path)
        for language, words in (("en", "This form has no field “bogus”"),
                                ("zh", "此表单没有“bogus”一项")):
            supervisor.client.cookies.set("fangpin_lang", language)
            answer = supervisor.client.post(url, data={"csrf_token": supervisor.csrf,
                                                       "note": "x", "bogus": "1"},
                                            follow_redirects=False)
            assert answer.status_code == 422 and words in answer.text, (
                url, language, answer.status_code, answer.text[-300:])
        assert page_form_takes(app, url)("bogus") is False
        walked += 1
    assert walked >= 50 and {"/logout", "/login", "/admin/users"} <= set(page_posts(app))
    session.expire_all()
    assert session.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first() == before
    # a flag of the admin page is yes, no or unchanged: anything else is named
    flag = admin.client.post("/admin/users", data={
        "csrf_token": admin.csrf, "username": "clerk", "may_reveal": "yes"})
    assert flag.status_code == 422 and "May show personal data in full" in flag.text
    clerk = session.exec(select(AppUser).where(AppUser.username == "clerk")).one()
    assert clerk.may_reveal is False


def test_a_page_reads_each_field_once_and_a_box_ticked_or_not(app, session):
    """A hostile tester's: a field given twice took its last value ("amount=6500&amount=1"
    was read as 1.00), a field in the address's query was ignored, "upheld=yes" read as not
    upheld, a village review's typed reason was dropped when its box was left unticked, and
    an unknown step answered in English in a Chinese page. Each is refused, naming it."""
    world = _world(session)
    walkers = {w.name: w for w in _walkers(app, session, world)}
    supervisor, clerk = walkers["supervisor"], walkers["clerk"]
    claim = world["claim_id_A"]
    number = session.get(Claim, claim).claim_number
    before = session.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first()

    def refused(walker, url: str, data: dict, words: str, **options) -> None:
        walker.client.cookies.set("fangpin_lang", "zh")
        answer = walker.client.post(url, data={"csrf_token": walker.csrf, **data},
                                    follow_redirects=False, **options)
        assert answer.status_code in (404, 422) and words in answer.text, (
            url, answer.status_code, answer.text[-400:])

    refused(supervisor, f"/claims/{claim}/actions/approve",
            {"amount": ["6500", "1"]}, "此表单的“amount”一项出现了不止一次")
    refused(supervisor, "/payments?bogus=1", {}, "此表单没有“bogus”一项")
    refused(clerk, f"/claims/{claim}/actions/record_objection",
            {"text": "邻居有异议", "upheld": "yes"}, "“upheld”是勾选项")
    refused(clerk, "/warnings/close", {"all": "yes", "outcome": "helped"}, "“all”是勾选项")
    review = {"village": world["village_A"], "claim": claim, "representatives": "甲, 乙"}
    refused(clerk, "/review", {**review, f"reason_{claim}": "有工资收入未申报"},
            f"已为 {number} 填写不同意的理由，但未勾选“不同意”")
    refused(clerk, "/review", {**review, f"reason_0{claim}": "x"}, f"没有“reason_0{claim}”一项")
    refused(clerk, f"/claims/{claim}/actions/bogus_step", {}, "案件没有这一步骤")
    session.expire_all()
    assert session.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first() == before
    # a list is a list: several claims approved at once, several townships chosen
    admin = walkers["admin"]
    admin.client.cookies.set("fangpin_lang", "en")
    listed = admin.client.post("/admin/users", data={
        "csrf_token": admin.csrf, "username": "clerk", "set_townships": "1",
        "townships": [world["township_A"], world["township_B"]]}, follow_redirects=False)
    assert listed.status_code == 303, listed.text[-300:]
    session.expire_all()
    assert session.exec(select(AppUser.townships).where(AppUser.username == "clerk")).one() == \
        sorted([world["township_A"], world["township_B"]])


def test_a_query_parameter_an_api_route_does_not_read_is_refused_on_every_route(app, session):
    """/api/warnings?household_id=868 listed the county's 210 warnings, the filter unread,
    and /api/claims?state=bogus answered an empty list (a tester's). A walk over the route
    table: every API route refuses a parameter it does not read, naming it, before it
    answers anything."""
    from fastapi.routing import APIRoute

    _world(session)
    admin = TestClient(app, headers=_token_of(session, "asker", Role.supervisor))
    walked = 0
    for route in iter_route_contexts(app.routes):
        if not (isinstance(route.original_route, APIRoute)
                and route.path.startswith("/api/")):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path_format)
        for method in route.methods:
            answer = admin.request(method, path, params={"bogus": "1"})
            assert answer.status_code == 422 and answer.json()["field"] == "bogus", (
                method, path, answer.text[:200])
            walked += 1
    assert walked >= 80
    filtered = admin.get("/api/warnings", params={"household_id": 1})
    assert filtered.status_code == 422 and filtered.json()["field"] == "household_id"
    assert "township_id" in filtered.json()["message"]  # what it does read
    bogus = admin.get("/api/claims", params={"state": "bogus"})
    assert bogus.status_code == 422 and bogus.json()["field"] == "state"
    # an enumeration's field by its name, not pydantic's tag of it (a re-tester's read
    # monitoring_category.str-enum[MonitoringCategory])
    category = admin.get("/api/households", params={"monitoring_category": "bogus"})
    assert category.status_code == 422 and category.json()["field"] == "monitoring_category"


def test_a_filter_is_read_whole_or_refused(app, session):
    """/api/claims?trigger=bogus and /api/events?status=bogus answered an empty list, as if
    the county had none, and ?state=paid&state=opened was read as its last value (a
    tester's). A walk over the route table: each query parameter an API route reads, given
    twice, is refused naming it; an unknown trigger or status is refused naming it."""
    from fastapi.routing import APIRoute

    from claims.api.deps import route_parameters

    world = _world(session)
    admin = TestClient(app, headers=_token_of(session, "twice", Role.supervisor))
    walked = 0
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not (isinstance(original, APIRoute) and route.path.startswith("/api/")):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path_format)
        for name in sorted(route_parameters(original)):
            for method in route.methods:
                answer = admin.request(method, path, params=[(name, "1"), (name, "2")])
                assert answer.status_code == 422 and answer.json()["field"] == name, (
                    method, path, name, answer.text[:200])
                walked += 1
    assert walked >= 40
    for path, name in (("/api/claims", "trigger"), ("/api/warnings", "trigger"),
                       ("/api/events", "status")):
        bogus = admin.get(path, params={name: "bogus"})
        assert bogus.status_code == 422 and bogus.json()["field"] == name, (path, bogus.text)
    # an empty trigger, a region of another level or of none, scores that cannot meet, and
    # a body sent where none is taken (a hostile tester's, each answered as if unsaid)
    for path, params, field in (
            ("/api/claims", {"trigger": ""}, "trigger"),
            ("/api/warnings", {"trigger": ""}, "trigger"),
            ("/api/warnings", {"township_id": 999_999}, "township_id"),
            ("/api/warnings", {"township_id": world["village_A"]}, "township_id"),
            ("/api/warnings", {"village_id": world["township_A"]}, "village_id"),
            ("/api/warnings", {"min_score": 0.9, "max_score": 0.1}, "max_score"),
            ("/api/households", {"township_id": world["village_A"]}, "township_id"),
            ("/api/households", {"village_id": world["township_A"]}, "village_id"),
            ("/api/monitoring/households", {"village_id": world["township_A"]},
             "village_id")):
        refused = admin.get(path, params=params)
        assert refused.status_code == 422 and refused.json()["field"] == field, (
            path, params, refused.text)
    sent = admin.post("/api/payment-batches", json={"bogus": 1})
    assert sent.status_code == 422 and sent.json()["field"] == "body"
    # a trigger of the terms, and what raised a risk warning, are read
    assert admin.get("/api/claims", params={"trigger": "illness"}).status_code == 200
    assert admin.get("/api/warnings", params={"trigger": "risk_high"}).status_code == 200
    assert admin.get("/api/events", params={"status": "same_loss"}).status_code == 200


def test_a_form_field_an_api_route_does_not_take_is_refused_on_every_route_of_forms(
        app, session):
    """A "dry_run=1" sent with a bank's answer had confirmed its lines, and a document's
    "kind" (not doc_type) stored it with no type (a re-tester's). A walk over the route
    table: every API route that takes a form or a file refuses a field it does not take,
    naming it, before anything is done."""
    from fastapi import params
    from fastapi.routing import APIRoute

    _world(session)
    admin = TestClient(app, headers=_token_of(session, "former", Role.supervisor))
    walked = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not (isinstance(original, APIRoute) and route.path.startswith("/api/")
                and any(isinstance(p.field_info, params.Form)
                        for p in original.dependant.body_params)):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path_format)
        for method in route.methods:
            answer = admin.request(method, path, data={"dry_run": "1"},
                                   files={"file": ("a.csv", b"x,y\n1,2\n")})
            assert answer.status_code == 422 and answer.json()["field"] == "dry_run", (
                method, path, answer.text[:200])
            walked.append(path)
    assert len(walked) >= 5 and any("confirmation" in p for p in walked), walked


def test_the_trails_kinds_are_the_audit_pages_and_every_kind_recorded():
    assert set(audit_pages.KINDS) == set(trail.ENTITIES)
    recorded = set()  # audit.record(session, actor, "<kind>", ...) throughout the code
    for source in ROOT.glob("*/**/*.py"):
        if source.parts[len(ROOT.parts)] in ("claims", "policies", "risk"):
            recorded |= set(re.findall(r"audit\.record\(\s*\w+,\s*[\w.]+,\s*\"(\w+)\"",
                                       source.read_text()))
    assert len(recorded) > 15 and recorded <= set(trail.ENTITIES), recorded - set(
        trail.ENTITIES)


# --- every change on the audit trail ------------------------------------------------------------

def _trail(session, entity: str, entity_id) -> list[tuple]:
    return [(e.action, e.before, e.after) for e in session.exec(
        select(AuditEntry).where(AuditEntry.entity == entity,
                                 AuditEntry.entity_id == str(entity_id))
        .order_by(AuditEntry.id))]


def test_registry_changes_are_on_the_trail_from_the_api_the_pages_and_imports(app, session):
    world = _world(session)
    clerk = TestClient(app, headers=_token_of(session, "clerk", Role.clerk))
    household_id = world["household_id_A"]
    number = session.get(Household, household_id).household_number
    # the API: a new bank account, a member's name
    assert clerk.patch(f"/api/households/{household_id}",
                       json={"bank_account": "6228480000000000777"}).status_code == 200
    assert clerk.patch(f"/api/members/{world['member_id_A']}",
                       json={"name": "李四光"}).status_code == 200
    assert _trail(session, "household", number)[-1] == (
        "change_bank_account", {"bank_account": "****0001"}, {"bank_account": "****0777"})
    assert _trail(session, "member", world["member_id_A"])[-1] == (
        "update", {"name": "成*0"}, {"name": "李*光"})
    # nothing changed, nothing recorded
    clerk.patch(f"/api/households/{household_id}", json={"bank_account": "6228480000000000777"})
    assert len(_trail(session, "household", number)) == 1
    # an import (the CLI's `fangpin import` calls the same function): one entry for the file,
    # one for each household whose bank account it changed
    csv = ("户编号,行政区划代码,户类型,姓名,证件号码,与户主关系,开户银行,银行账号\n"
           f"{number},411081100200,脱贫户,成员0,{world['id_number_A']},户主,农商行,"
           "6228480000000000888\n").encode()
    report = changes.import_households(session, SYSTEM, csv, "households.csv")
    session.commit()
    assert report.written, report.errors
    assert _trail(session, "household_import", "households.csv")[0][0] == "import"
    assert _trail(session, "household", number)[-1] == (
        "change_bank_account", {"bank_name": "农村商业银行", "bank_account": "****0777"},
        {"bank_name": "农商行", "bank_account": "****0888"})
    # contracts and users, as administrators change them
    admin = TestClient(app, headers=_token_of(session, "boss", Role.admin))
    assert admin.patch(f"/api/contracts/{world['contract_id']}",
                       json={"insured_headcount": 12000}).status_code == 200
    assert _trail(session, "policy_contract", "FPB-TEST")[-1] == (
        "update", {"insured_headcount": 10000}, {"insured_headcount": 12000})
    line = admin.patch(f"/api/monitoring-lines/{world['line_id']}",
                       json={"fixed_amount": "9000"})
    assert line.status_code == 200
    assert _trail(session, "monitoring_line", world["line_id"])[-1][0] == "update"
    user = session.exec(select(AppUser).where(AppUser.username == "clerk")).one()
    people.update_user(session, SYSTEM, user, townships=[world["township_A"]],
                       may_reveal=True)
    session.commit()  # the trail's entries join the chain when the change commits
    assert _trail(session, "user", "clerk")[-1] == (
        "update", {"townships": None, "may_reveal": False},
        {"townships": [world["township_A"]], "may_reveal": True})


def test_a_bank_account_changed_shortly_before_a_batch_is_flagged_for_the_supervisor(
        app, session, monkeypatch):
    world = _world(session)
    household_id, claim_id = world["household_id_A"], world["claim_id_A"]
    clerk = TestClient(app, headers=_token_of(session, "clerk", Role.clerk))
    assert clerk.patch(f"/api/households/{household_id}",
                       json={"bank_account": "6228480000000000777"}).status_code == 200
    batch = PaymentBatch(batch_number="PB-FLAG")
    session.add(batch)
    session.flush()
    session.add(Payment(batch_id=batch.id, claim_id=claim_id, amount=Decimal("100.00"),
                        bank_account="6228480000000000777", state="pending"))
    session.commit()
    supervisor = TestClient(app, headers=_token_of(session, "sup", Role.supervisor))
    read = supervisor.get(f"/api/payment-batches/{batch.id}").json()
    assert read["bank_changes_flagged"] == 1 and read["bank_change_flag_days"] == 30
    assert read["lines"][0]["bank_account_changed_at"] is not None
    assert read["lines"][0]["bank_account"] == "****0777"  # masked in the API too
    # a batch made more than FANGPIN_BANK_CHANGE_FLAG_DAYS after the change: no flag
    batch.created_at += timedelta(days=31)
    session.add(batch)
    session.commit()
    assert supervisor.get(f"/api/payment-batches/{batch.id}").json()[
        "bank_changes_flagged"] == 0
    monkeypatch.setattr(get_settings(), "bank_change_flag_days", 40)
    assert supervisor.get(f"/api/payment-batches/{batch.id}").json()[
        "bank_changes_flagged"] == 1
    # and on the batch's page
    user = session.exec(select(AppUser).where(AppUser.username == "sup")).one()
    web_session.set_password(session, SYSTEM, user, PASSWORD)
    key, _web = web_session.sign_in(session, "sup", PASSWORD)
    session.commit()
    page = TestClient(app, cookies={
        web_session.COOKIE: key, HERE_COOKIE: "1", "fangpin_lang": "en"}).get(
        f"/payments/{batch.id}")
    assert "bank account changed within 40 days before this batch" in page.text


def test_an_administrator_creates_a_township_limited_user_through_the_api(app, session):
    world = _world(session)
    admin = TestClient(app, headers=_token_of(session, "boss", Role.admin))
    refused = admin.post("/api/admin/users", json={
        "username": "wrong", "full_name": "错", "role": "clerk",
        "townships": [world["village_A"]]})
    assert refused.status_code == 422 and refused.json()["field"] == "townships"
    made = admin.post("/api/admin/users", json={
        "username": "zhou", "full_name": "周", "role": "clerk",
        "townships": [world["township_A"]]})
    assert made.status_code == 201 and made.json()["townships"] == [world["township_A"]]
    limited = TestClient(app, headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert limited.get("/api/households").json()["count"] == 1
    assert _trail(session, "user", "zhou")[-1][2] == {"townships": [world["township_A"]]}
    # a leaked token is replaced: the old one stops working at once (it never changed before)
    renewed = admin.post("/api/admin/users/zhou/token")
    assert renewed.status_code == 200 and renewed.json()["token"] != made.json()["token"]
    assert made.headers["cache-control"] == renewed.headers["cache-control"] == "no-store"
    assert limited.get("/api/households").status_code == 401
    again = TestClient(app, headers={"Authorization": f"Bearer {renewed.json()['token']}"})
    assert again.get("/api/households").json()["count"] == 1
    assert _trail(session, "user", "zhou")[-1][0] == "new_token"
    assert admin.post("/api/admin/users/nobody/token").status_code == 404
