"""The office's configuration (配置): the benefit terms (upload a TOML file, see what changed
between two versions, put one in force for a contract), the policy contracts and the
monitoring lines of each region and year. What the JSON API and the command line do, through
the same services (claims.changes: access and the audit trail), county-wide: administrators
and clerks read; administrators change the terms, clerks and administrators record and change
the contracts (their status too: draft, active, closed) and lines, as in the API."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session, col, select

from claims import access, changes
from claims.api.deps import SessionDep
from claims.models import Role
from claims.uploads import read_upload
from claims.web.i18n import code_label, translator
from claims.web.pages import (
    REASONS,
    PageError,
    User,
    check_csrf,
    gate,
    language_of,
    need_role,
    posted,
    refusal,
    typed_amount,
    whole_number,
)
from claims.web.pages import render as render_page
from policies import registry, rules
from policies.errors import DomainError, InvalidInput, NotFound
from policies.messages import N_
from policies.models import (
    MonitoringLine,
    MonitoringLineCreate,
    MonitoringLineUpdate,
    PolicyContract,
    PolicyContractCreate,
    PolicyContractUpdate,
    Region,
    TermsVersion,
)
from policies.vocab import ContractStatus, InsuredBasis

router = APIRouter(include_in_schema=False)
READERS = (Role.clerk, Role.admin)  # the office's configuration: who sees it
TERMS_WRITERS = (Role.admin,)  # as POST /api/terms
REGISTRY_WRITERS = (Role.clerk, Role.admin)  # as POST /api/contracts, /api/monitoring-lines
LIST_ROWS = 500


def _office(request: Request, user, *roles: str) -> None:
    """The configuration is the county's: refused to other roles and to a user limited to
    some townships."""
    need_role(request, user, *(roles or READERS))
    gate(request, lambda: access.require_county(user.actor, "the office's configuration"))


def _refused(request: Request, refused: DomainError) -> str:
    return refusal(refused, translator(language_of(request)))


# --- what a form or a terms file got wrong, in the user's language -----------------------------

# the services' refusals of a contract or a line, by their code
REFUSED = {
    "date_out_of_range": N_("not a date between 1900-01-01 and 2100-12-31"),
    "end_before_start": N_("must be after the start date (%(start)s)"),
    "year_too_long": N_("a policy year runs at most 366 days"),
    "year_of_start": N_("must be the year of the start date (%(year)s)"),
    "headcount_required": N_("required when the basis is a headcount"),
    "headcount_derived": N_("leave it empty: the named households are counted"),
    "contract_transition": N_("a contract that is %(status)s cannot become %(to)s (a contract "
                              "goes from draft to active to closed)"),
    "contract_overlap": N_("contract %(number)s is already active for this county on these "
                           "dates: close it first, or change the dates"),
    "contract_number_taken": N_("contract %(number)s is already recorded"),
    "line_one_way": N_("give either a fixed amount, or a multiple with the year of the "
                       "national standard: one way only"),
    "line_together": N_("a multiple and the year of the national standard go together"),
    "no_standard": N_("no national standard is recorded for %(year)s: record it first"),
    "line_exists": N_("this region already has a line for %(year)s: change that one"),
    "not_a_county": N_("not a registered county"),
    "not_recorded": N_("not recorded: choose one of the list"),
    **rules.LINE_PROBLEMS,  # a line outside the plausible range
}
STATUS_VALUES = ("status", "to")  # values of a refusal that are a contract's status
NOT_TOML = N_("not valid TOML")
NOT_TOML_AT = N_("not valid TOML at line %(line)s, column %(column)s")
TOML_PLACE = re.compile(r"at line (\d+), column (\d+)")
TOP = N_("(the whole file)")
NOT_UTF8 = N_("Save the file as UTF-8 text.")


def problem_text(code: str | None, reason: str, gettext, values: dict | None = None,
                 language: str = "en") -> str:
    """A mistake in the user's language where its kind is known, else the service's words."""
    if code == "toml":  # the parser's English names the place, which the reader needs
        place = TOML_PLACE.search(reason)
        return gettext(NOT_TOML_AT, line=place[1], column=place[2]) if place else gettext(
            NOT_TOML)
    if code in REASONS:
        return gettext(REASONS[code])
    if code in REFUSED:
        return gettext(REFUSED[code], **{
            name: code_label("ContractStatus", str(value), language)
            if name in STATUS_VALUES else value for name, value in (values or {}).items()})
    return reason


def form_problems(error: ValidationError, gettext, language: str) -> list[tuple[str, str]]:
    """(field, reason) of each mistake of a form checked by the API's model."""
    found = []
    for item in error.errors():
        context = item.get("ctx", {}).get("error")
        field = getattr(context, "field", None) or ".".join(str(p) for p in item["loc"])
        found.append((field, gettext(REASONS["missing"]) if item.get("input") == "" else
                      problem_text(getattr(context, "code", None) or item["type"],
                                   item["msg"].removeprefix("Value error, "), gettext,
                                   getattr(context, "values", None), language)))
    return found


# --- the terms -----------------------------------------------------------------------------------

def _terms_page(request: Request, session: Session, user, status: int = 200, **shown: Any):
    versions = session.exec(select(TermsVersion).order_by(
        TermsVersion.key, col(TermsVersion.version)).limit(LIST_ROWS)).all()
    contracts = session.exec(select(PolicyContract).order_by(
        col(PolicyContract.policy_year).desc(), PolicyContract.contract_number)).all()
    using: dict[int, list[PolicyContract]] = {}
    for contract in contracts:
        if contract.terms_version_id is not None:
            using.setdefault(contract.terms_version_id, []).append(contract)
    return render_page(request, "config_terms.html", status=status, user=user,
                       versions=versions, using=using,
                       contracts=[c for c in contracts if c.status != ContractStatus.closed],
                       may_write=user.user.role in TERMS_WRITERS, **shown)


@router.get("/config/terms")
def terms_page(request: Request, session: SessionDep, user: User, stored: int | None = None,
               created: int = 0, in_force: int | None = None):
    _office(request, user)
    version = session.get(TermsVersion, stored) if stored else None
    contract = session.get(PolicyContract, in_force) if in_force else None
    return _terms_page(request, session, user, stored=version, created=bool(created),
                       in_force=contract)


@router.post("/config/terms")
def upload_terms(request: Request, session: SessionDep, user: User,
                 file: Annotated[UploadFile | None, File()] = None,
                 key: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = ""):
    """Store a terms file as the next version of its key, as POST /api/terms does; each
    mistake of a file that cannot be stored is shown by its key."""
    _office(request, user, *TERMS_WRITERS)
    check_csrf(request, user, csrf_token)
    gettext = translator(language_of(request))
    key = key.strip()
    problems: list[tuple[str, str]] = []
    if not key:
        problems.append((gettext("Key"), gettext(REASONS["missing"])))
    if file is None or not file.filename:
        problems.append((gettext("Terms file (TOML)"), gettext(REASONS["missing"])))
    if problems:
        return _terms_page(request, session, user, status=422, problems=problems, key=key)
    assert file is not None
    try:
        data = read_upload(file)
    except DomainError as refused:
        raise PageError(refused.status_code, _refused(request, refused)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _terms_page(request, session, user, status=422, key=key,
                           problems=[(gettext(TOP), gettext(NOT_UTF8))])
    try:
        version, created = changes.store_terms(session, user.actor, key, text,
                                               file.filename or f"{key}.toml")
    except InvalidInput as refused:
        session.rollback()
        listed = [(p.path or gettext(TOP), problem_text(p.code, p.reason, gettext))
                  for p in refused.problems] or [
            (refused.field or gettext(TOP), _refused(request, refused))]
        return _terms_page(request, session, user, status=422, problems=listed, key=key)
    except DomainError as refused:
        session.rollback()
        raise PageError(refused.status_code, _refused(request, refused)) from None
    session.commit()
    return RedirectResponse(f"/config/terms?stored={version.id}&created={int(created)}",
                            status_code=303)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A TOML document as dotted keys and their values (a list of tables by index)."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for name, item in value.items():
            found.update(flatten(item, f"{prefix}.{name}" if prefix else str(name)))
        return found
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        found = {}
        for index, item in enumerate(value):
            found.update(flatten(item, f"{prefix}[{index + 1}]"))
        return found
    return {prefix: value}


def shown(value: Any) -> str:
    """A TOML value as it would be written."""
    return json.dumps(value, ensure_ascii=False, default=str)


def terms_diff(old: TermsVersion, new: TermsVersion) -> list[tuple[str, str, str, str]]:
    """(key, "added" | "removed" | "changed", before, after) for every key that differs."""
    before = flatten(tomllib.loads(old.source_text))
    after = flatten(tomllib.loads(new.source_text))
    rows = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            rows.append((key, "added", "", shown(after[key])))
        elif key not in after:
            rows.append((key, "removed", shown(before[key]), ""))
        elif before[key] != after[key]:
            rows.append((key, "changed", shown(before[key]), shown(after[key])))
    return rows


@router.get("/config/terms/diff")
def terms_difference(request: Request, session: SessionDep, user: User, a: str = "",
                     b: str = ""):
    """What changed between two terms versions, key by key."""
    _office(request, user)
    versions = session.exec(select(TermsVersion).order_by(
        TermsVersion.key, col(TermsVersion.version)).limit(LIST_ROWS)).all()
    old = new = None
    rows = None
    a_id, b_id = whole_number(a), whole_number(b)
    if a_id is not None and b_id is not None:
        old, new = session.get(TermsVersion, a_id), session.get(TermsVersion, b_id)
        if old is None or new is None:
            raise PageError(404, translator(language_of(request))("Not found."))
        rows = terms_diff(old, new)
    return render_page(request, "config_terms_diff.html", user=user, versions=versions,
                       old=old, new=new, rows=rows)


@router.post("/config/terms/{version_id}/in-force")
def put_in_force(request: Request, session: SessionDep, user: User, version_id: int,
                 contract_id: Annotated[str, Form()] = "",
                 csrf_token: Annotated[str, Form()] = ""):
    """Put a terms version in force for a contract, as PUT /api/contracts/{id}/terms."""
    _office(request, user, *TERMS_WRITERS)
    check_csrf(request, user, csrf_token)
    chosen = whole_number(contract_id)
    if chosen is None:
        raise PageError(422, translator(language_of(request))("Choose a contract."))
    try:
        contract = changes.attach_terms(session, user.actor, chosen, version_id)
    except DomainError as refused:
        session.rollback()
        raise PageError(refused.status_code, _refused(request, refused)) from None
    session.commit()
    return RedirectResponse(f"/config/terms?in_force={contract.id}", status_code=303)


# --- contracts -----------------------------------------------------------------------------------

CONTRACT_FIELDS = {  # the form's fields, as POST /api/contracts takes them
    "contract_number": N_("Contract number"), "county_id": N_("County"),
    "insurer": N_("Insurer"), "policy_year": N_("Policy year"),
    "start_date": N_("Start date"), "end_date": N_("End date"),
    "premium_per_person": N_("Premium per person (yuan)"),
    "insured_basis": N_("Insured basis"), "insured_headcount": N_("Insured headcount"),
    "insurer_fee_rate": N_("Insurer's fee rate (share of payouts, e.g. 0.15)"),
    "balance_carried_in": N_("Balance carried in (yuan)"), "status": N_("Status"),
}
# what PATCH /api/contracts/{id} changes
CONTRACT_CHANGES = [name for name in CONTRACT_FIELDS if name in PolicyContractUpdate.model_fields]
ContractForm, ContractChange = posted(*CONTRACT_FIELDS), posted(*CONTRACT_CHANGES)
STATUS_STEPS = {ContractStatus.active: N_("Make the contract active"),
                ContractStatus.closed: N_("Close the contract")}


def _labelled(problems: list[tuple[str, str]], labels: dict[str, str], gettext):
    return [(gettext(labels[field]) if field in labels else field, reason)
            for field, reason in problems]


def _contracts_page(request: Request, session: Session, user, status: int = 200, **shown: Any):
    contracts = session.exec(select(PolicyContract).order_by(
        col(PolicyContract.policy_year).desc(), PolicyContract.contract_number)
        .limit(LIST_ROWS)).all()
    counties = _counties(session)
    versions = {v.id: v for v in session.exec(select(TermsVersion).where(
        col(TermsVersion.id).in_([c.terms_version_id for c in contracts
                                  if c.terms_version_id is not None])))}
    return render_page(request, "config_contracts.html", status=status, user=user,
                       contracts=contracts, counties=counties, names=dict(counties),
                       versions=versions, fields=CONTRACT_FIELDS,
                       bases=list(InsuredBasis), statuses=[ContractStatus.draft,
                                                           ContractStatus.active],
                       may_write=user.user.role in REGISTRY_WRITERS, **shown)


def _counties(session: Session):
    return session.exec(select(Region.id, Region.name).where(
        Region.level == "county").order_by(Region.code)).all()


@router.get("/config/contracts")
def contracts_page(request: Request, session: SessionDep, user: User):
    _office(request, user)
    return _contracts_page(request, session, user)


# The contract's and the line's fields that hold numbers, read as typed_amount reads them.
NUMBERS = {"policy_year", "premium_per_person", "insured_headcount", "insurer_fee_rate",
           "balance_carried_in", "year", "fixed_amount", "multiple", "standard_year"}


def _form(request: Request, user, form, fields) -> dict[str, str]:
    check_csrf(request, user, str(form.get("csrf_token", "")))
    # numbers as the pages show them: 10,000 people, 120,000.50 yuan carried in (a note
    # of "1,000" is text, kept as typed: a re-tester's)
    return {name: typed_amount(str(form.get(name, ""))) if name in NUMBERS
            else str(form.get(name, "")).strip() for name in fields if name in form}



def _save(request: Request, session: Session, user, data: dict[str, Any], model,
          change: Callable, labels: dict[str, str]):
    """Check a form with the API's model and make the change through the same service; the
    mistakes by field, in the user's language (None when it was made)."""
    language = language_of(request)
    gettext = translator(language)
    try:
        checked = model.model_validate(data)
    except ValidationError as error:
        return _labelled(form_problems(error, gettext, language), labels, gettext)
    try:
        change(session, user.actor, checked)
    except NotFound as refused:
        session.rollback()
        raise PageError(404, _refused(request, refused)) from None
    except DomainError as refused:
        session.rollback()
        if refused.field == "townships":
            raise PageError(403, _refused(request, refused)) from None
        return _labelled([(refused.field or "", problem_text(
            refused.code, _refused(request, refused), gettext, refused.values, language))],
            labels, gettext)
    session.commit()
    return None


def _patch(values: dict[str, str], model) -> dict[str, Any]:
    """A change form's fields as a PATCH body: an emptied field is null where it may be."""
    return {name: None if value == "" and name in model.NULLABLE else value
            for name, value in values.items()}


@router.post("/config/contracts")
def create_contract(request: Request, session: SessionDep, user: User, form: ContractForm):
    """Record a contract, as POST /api/contracts."""
    _office(request, user, *REGISTRY_WRITERS)
    values = _form(request, user, form, CONTRACT_FIELDS)
    problems = _save(request, session, user, {k: v for k, v in values.items() if v != ""},
                     PolicyContractCreate, changes.create_contract, CONTRACT_FIELDS)
    if problems:
        return _contracts_page(request, session, user, status=422, field_problems=problems,
                               values=values)
    return RedirectResponse(f"/config/contracts?created={values['contract_number']}",
                            status_code=303)


def _contract_page(request: Request, session: Session, user, contract_id: int,
                   status: int = 200, values: dict[str, str] | None = None, **shown: Any):
    contract = _found(request, session.get(PolicyContract, contract_id))
    return render_page(request, "config_contract.html", status=status, user=user,
                       contract=contract, county=dict(_counties(session)).get(
                           contract.county_id, contract.county_id),
                       values={**_stored(contract, CONTRACT_CHANGES), **(values or {})},
                       fields=CONTRACT_FIELDS,
                       bases=list(InsuredBasis),
                       steps=[(s.value, STATUS_STEPS[s]) for s in sorted(
                           registry.CONTRACT_TRANSITIONS[ContractStatus(contract.status)])],
                       **shown)


def _stored(row, names: list[str]) -> dict[str, str]:
    """A row's fields as its change form shows them."""
    return {name: "" if getattr(row, name) is None else str(getattr(row, name))
            for name in names}


def _found(request: Request, row):
    if row is None:
        raise PageError(404, translator(language_of(request))("Not found."))
    return row


@router.get("/config/contracts/{contract_id}")
def contract_page(request: Request, session: SessionDep, user: User, contract_id: int):
    """A contract's form: change it, or move it on (draft → active → closed)."""
    _office(request, user, *REGISTRY_WRITERS)
    return _contract_page(request, session, user, contract_id)


@router.post("/config/contracts/{contract_id}")
def change_contract(request: Request, session: SessionDep, user: User, contract_id: int,
                    form: ContractChange):
    """Change a contract, or its status, as PATCH /api/contracts/{id}: the fields the form
    sends change, the others keep their value."""
    _office(request, user, *REGISTRY_WRITERS)
    values = _form(request, user, form, CONTRACT_CHANGES)
    number = _found(request, session.get(PolicyContract, contract_id)).contract_number
    problems = _save(
        request, session, user, _patch(values, PolicyContractUpdate), PolicyContractUpdate,
        lambda s, actor, body: changes.update_contract(s, actor, contract_id, body),
        CONTRACT_FIELDS)
    if problems:
        return _contract_page(request, session, user, contract_id, status=422,
                              field_problems=problems, values=values)
    return RedirectResponse(f"/config/contracts?changed={number}", status_code=303)


# --- monitoring lines ----------------------------------------------------------------------------

LINE_FIELDS = {  # as POST /api/monitoring-lines takes them
    "region_id": N_("Region"), "year": N_("Year"),
    "fixed_amount": N_("Fixed amount (yuan per person per year)"),
    "multiple": N_("Multiple of the national standard"),
    "standard_year": N_("Year of the national standard"), "note": N_("Note (source)"),
}
LINE_CHANGES = [name for name in LINE_FIELDS if name in MonitoringLineUpdate.model_fields]
LineForm, LineChange = posted(*LINE_FIELDS), posted(*LINE_CHANGES)


def _lines_page(request: Request, session: Session, user, region: str = "", year: str = "",
                status: int = 200, **shown: Any):
    regions = session.exec(select(Region).order_by(Region.code)).all()
    query = select(MonitoringLine).order_by(col(MonitoringLine.year).desc(),
                                            col(MonitoringLine.region_id))
    if (region_id := whole_number(region)) is not None:
        query = query.where(MonitoringLine.region_id == region_id)
    if (year_number := whole_number(year)) is not None:
        query = query.where(MonitoringLine.year == year_number)
    lines = [registry.line_view(session, line)
             for line in session.exec(query.limit(LIST_ROWS)).all()]
    return render_page(request, "config_lines.html", status=status, user=user, lines=lines,
                       regions=regions, names={r.id: r.name for r in regions},
                       region=region, year=year, fields=LINE_FIELDS,
                       may_write=user.user.role in REGISTRY_WRITERS, **shown)


@router.get("/config/lines")
def lines_page(request: Request, session: SessionDep, user: User, region: str = "",
               year: str = ""):
    _office(request, user)
    return _lines_page(request, session, user, region.strip(), year.strip())


@router.post("/config/lines")
def add_line(request: Request, session: SessionDep, user: User, form: LineForm):
    """Set a region's monitoring line for a year, as POST /api/monitoring-lines."""
    _office(request, user, *REGISTRY_WRITERS)
    values = _form(request, user, form, LINE_FIELDS)
    problems = _save(request, session, user, {k: v for k, v in values.items() if v != ""},
                     MonitoringLineCreate, changes.create_monitoring_line, LINE_FIELDS)
    if problems:
        return _lines_page(request, session, user, status=422, field_problems=problems,
                           values=values)
    return RedirectResponse(f"/config/lines?region={values['region_id']}&year="
                            f"{values['year']}&added=1", status_code=303)


def _line_page(request: Request, session: Session, user, line_id: int, status: int = 200,
               values: dict[str, str] | None = None, **shown: Any):
    line = _found(request, session.get(MonitoringLine, line_id))
    region = session.get(Region, line.region_id)
    return render_page(request, "config_line.html", status=status, user=user,
                       line=registry.line_view(session, line),
                       region=region.name if region else line.region_id,
                       values={**_stored(line, LINE_CHANGES), **(values or {})},
                       fields=LINE_FIELDS, **shown)


@router.get("/config/lines/{line_id}")
def line_page(request: Request, session: SessionDep, user: User, line_id: int):
    """A monitoring line's form: how it is set (a fixed amount, or a multiple)."""
    _office(request, user, *REGISTRY_WRITERS)
    return _line_page(request, session, user, line_id)


@router.post("/config/lines/{line_id}")
def change_line(request: Request, session: SessionDep, user: User, line_id: int,
                form: LineChange):
    """Change how a line is set, as PATCH /api/monitoring-lines/{id}."""
    _office(request, user, *REGISTRY_WRITERS)
    values = _form(request, user, form, LINE_CHANGES)
    line = _found(request, session.get(MonitoringLine, line_id))
    region, year = line.region_id, line.year
    problems = _save(
        request, session, user, _patch(values, MonitoringLineUpdate), MonitoringLineUpdate,
        lambda s, actor, body: changes.update_monitoring_line(s, actor, line_id, body),
        LINE_FIELDS)
    if problems:
        return _line_page(request, session, user, line_id, status=422,
                          field_problems=problems, values=values)
    return RedirectResponse(f"/config/lines?region={region}&year={year}&changed=1",
                            status_code=303)
