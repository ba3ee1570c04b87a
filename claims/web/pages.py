"""The web workspace's pages (理赔工作台): server-rendered Jinja2 over the same services as
the JSON API. Every page checks who is signed in and what they may see (role and townships);
every form carries the session's CSRF token."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.dependencies.utils import is_scalar_field
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlmodel import Session, select
from starlette.datastructures import FormData

from claims import access, clock, intake, lifecycle, masking, nightly, printed, reports
from claims.api.deps import FORMS, SessionDep, route_parameters
from claims.models import (
    AppUser,
    Claim,
    EarlyWarning,
    Household,
    IncomeRecord,
    Member,
    Payment,
    PaymentState,
    Region,
    Role,
    TriggerEvent,
    claim_closed,
)
from claims.settings import get_settings
from claims.web import records as records_view
from claims.web import session as web_session
from claims.web.i18n import (
    DEFAULT,
    LANGUAGES,
    N_,
    actor_text,
    code_label,
    county_time,
    environment,
    template_pattern,
    translator,
)
from policies import benefits
from policies.errors import DomainError, NotFound
from policies.models import utcnow
from policies.tables import ROW_PROBLEMS, RowError, typed_number, xlsx_bytes
from policies.types import TEXT_PROBLEMS
from risk.models import HouseholdScore

router = APIRouter(include_in_schema=False)
LANG_COOKIE = "fangpin_lang"
PAGE = 50
COUNT_UP_TO = 1000
STATES = ["opened", "investigating", "village_review", "public_notice", "approval",
          "payment_pending", "paid", "rejected", "withdrawn", "reopened"]
OPEN = [s for s in STATES if s not in reports.FINAL]


class PageError(Exception):
    """A page that cannot be shown: rendered as the consistent error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class FollowedLink(Exception):
    """A page that records an audit entry in the user's name, asked for by a link from another
    site: answered with a page that offers to open it (app: followed_link_page)."""


# Set at sign-in beside the session, SameSite=Strict: a browser sends it with what the user
# did in the workspace or typed, never with a link followed from another site.
HERE_COOKIE = "fangpin_here"


def came_from_here(request: Request) -> None:
    """A dependency of the pages that put an entry on the audit trail as they open (a
    document, a printed notice, a search for people): a link from another site, in a mail,
    had opened them in a user's name. Asked first: a request the browser says came from
    elsewhere (Sec-Fetch-Site), one without the strict cookie (Chromium sends no
    Sec-Fetch-Site to a plain-HTTP address other than localhost, and a link can drop its
    Referer), and one straight from the sign-in page, whose ``next`` a link may have set (a
    tester's link to /login?next=… ran the search once the clerk signed in)."""
    if web_session.COOKIE not in request.cookies:
        return  # not signed in: the page sends them to sign in, or refuses them
    site = request.headers.get("sec-fetch-site", "none")
    from_login = urlsplit(request.headers.get("referer", "")).path == "/login"
    if site not in ("same-origin", "none") or HERE_COOKIE not in request.cookies or from_login:
        raise FollowedLink()


def followed_link_page(request: Request) -> HTMLResponse:
    """The page that asks; it gives the strict cookie (a session from before it, or one whose
    cookie was cleared, would otherwise be asked again at each click of "Open"): a link from
    another site never carries it, whoever holds it."""
    gettext = translator(language_of(request))
    response = render(request, "followed.html", title=gettext("Open this page?"),
                      target=request.url.path + (f"?{request.url.query}" if request.url.query
                                                 else ""),
                      user=getattr(request.state, "user", None))
    give_here_cookie(request, response)
    return response


def give_here_cookie(request: Request, response: Response) -> None:
    """The strict cookie (HERE_COOKIE) on a response: at sign-in, and on the page that asks."""
    response.set_cookie(HERE_COOKIE, "1", httponly=True, samesite="strict",
                        secure=_secure(request))


class NeedLogin(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def is_page(path: str) -> bool:
    """Whether a path belongs to the workspace (answered with pages in the user's language)
    rather than to the JSON API, its document, the health check or the static files."""
    return not path.startswith(("/api/", "/static/")) and path not in ("/openapi.json",
                                                                       "/healthz")


ERROR_TITLES = {400: N_("Not understood"), 403: N_("Not allowed"), 404: N_("Not found"),
                405: N_("Not possible here"), 409: N_("Conflict"), 422: N_("Not valid"),
                500: N_("Server error"), 503: N_("Busy")}
SOMETHING_WRONG = N_("Something is wrong")


def error_page(request: Request, status: int, message: str,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """The error page (templates/error.html) of a page's 4xx or 5xx, in the user's
    language; ``message`` is already in it."""
    gettext = translator(language_of(request))
    response = render(request, "error.html", status=status,
                      title=gettext(ERROR_TITLES.get(status, SOMETHING_WRONG)),
                      message=message, user=getattr(request.state, "user", None))
    response.headers.update(headers or {})
    return response


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT


def text_for(request: Request, message: str) -> str:
    """A message in the request's language."""
    return translator(language_of(request))(message)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    language = language_of(request)
    html = environment(language).get_template(template).render(
        request=request, path=request.url.path, query=str(request.url.query), **context)
    # Pages hold personal data: never kept in a shared office computer's cache.
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _secure(request: Request) -> bool:
    """Cookies are Secure over HTTPS; FANGPIN_COOKIE_SECURE=true forces it behind a proxy
    that does not pass the scheme on."""
    return get_settings().cookie_secure or request.url.scheme == "https"


# --- who is signed in -------------------------------------------------------------------------

def signed_in(request: Request, session: SessionDep) -> web_session.SignedIn:
    settings = get_settings()
    found = web_session.signed_in(session, request.cookies.get(web_session.COOKIE),
                                  timedelta(minutes=settings.session_idle_minutes),
                                  timedelta(hours=settings.session_max_hours))
    session.commit()
    if found is None:
        raise NeedLogin(request.url.path + (f"?{request.url.query}" if request.url.query
                                            else ""))
    # Out of the session: a page that rolls back its refusal would expire the user with the
    # rest, and the error page, drawn once the request's session has closed, reads its role.
    session.expunge(found.user)
    request.state.user = found
    return found


User = Annotated[web_session.SignedIn, Depends(signed_in)]


# What a page's form does not post is refused, naming it, as the API refuses it: eight pages
# had taken an extra field without a word, a withdrawal among them (a hostile tester's).
NO_SUCH_FIELD = N_("This form has no field “%(field)s”; reload the page and send it again.")


GIVEN_TWICE = N_("This form gives “%(field)s” more than once; reload the page and send it "
                 "again.")
NOT_A_TICK = N_("“%(field)s” is a box to tick: it takes 1 (ticked) or nothing.")


def check_form(request: Request, form: FormData, takes: Callable[[str], bool],
               lists: Collection[str] = (), ticks: Collection[str] = ()) -> None:
    """Refuse, naming it: a field the page does not read, in the form or in the address's
    query (which the page never reads either); one given twice that is no list (the last
    had been taken: "amount=6500&amount=1" approved 1.00); a box to tick holding anything
    but 1 ("upheld=yes" had been read as not upheld). All a hostile tester's."""
    route = request.scope.get("route")
    asked = set(request.query_params) - (
        route_parameters(route) if isinstance(route, APIRoute) else set())
    unknown = sorted({name for name in form.keys() if name != "csrf_token"
                      and not takes(name)} | asked)
    if unknown:
        raise PageError(422, text_for(request, NO_SUCH_FIELD) % {"field": unknown[0]})
    twice = sorted(name for name in set(form.keys())
                   if name not in lists and len(form.getlist(name)) > 1)
    if twice:
        raise PageError(422, text_for(request, GIVEN_TWICE) % {"field": twice[0]})
    odd = sorted(name for name in ticks if name in form and form.get(name) not in ("1", "0"))
    if odd:
        raise PageError(422, text_for(request, NOT_A_TICK) % {"field": odd[0]})


@dataclass(frozen=True)
class FormFields:
    """The form a page reads itself: these fields (its CSRF token besides), those ``by``
    names for the address's parameters (a step's own; None, a step there is not, which the
    page refuses as such), and those ``pattern`` matches; any other is refused before the
    page reads the form. Read on the event loop by this
    dependency, the page itself being a plain function, which FastAPI runs on a worker
    thread: an ``async def`` page ran its database calls on the event loop, and one waiting
    for SQLite's write lock froze every request of the service for minutes (an operator's)."""

    fields: tuple[str, ...]
    by: Callable[[dict[str, Any]], Collection[str] | None] | None = None
    pattern: str | None = None
    lists: tuple[str, ...] = ()  # fields given once for each value (ticked rows)
    ticks: tuple[str, ...] = ()  # boxes to tick: 1 or nothing (0 too: a button's "not")

    def takes(self, name: str, path_params: dict[str, Any]) -> bool:
        chosen = self.by(path_params) if self.by is not None else ()
        return (name in self.fields or chosen is None or name in chosen
                or (self.pattern is not None and re.fullmatch(self.pattern, name) is not None))

    async def __call__(self, request: Request) -> FormData:
        form = await request.form()
        check_form(request, form, lambda name: self.takes(name, request.path_params),
                   self.lists, self.ticks)
        return form


def posted(*fields: str, by: Callable[[dict[str, Any]], Collection[str] | None] | None = None,
           pattern: str | None = None, lists: tuple[str, ...] = (),
           ticks: tuple[str, ...] = ()) -> Any:
    """A page's form parameter: the form of these fields (FormFields)."""
    return Annotated[FormData, Depends(FormFields(fields, by, pattern, lists, ticks))]


async def known_page_fields(request: Request) -> None:
    """A page that takes its fields as FastAPI's Form parameters refuses any other (the
    app's dependency; a page that reads the form itself declares its fields by posted)."""
    route = request.scope.get("route")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if (isinstance(route, APIRoute) and not request.url.path.startswith("/api/")
            and route.dependant.body_params and media in FORMS):
        body = route.dependant.body_params
        check_form(request, await request.form(), {param.alias for param in body}.__contains__,
                   lists={param.alias for param in body if not is_scalar_field(param)})


def check_csrf(request: Request, user: web_session.SignedIn, token: str | None) -> None:
    if not web_session.csrf_ok(user.csrf_token, token):
        raise PageError(403, text_for(
            request, "This form has expired; reload the page and try again."))


def need_role(request: Request, user: web_session.SignedIn, *roles: str) -> None:
    try:
        access.require_role(user.actor, roles)
    except DomainError:
        raise PageError(403, text_for(request, "Your role may not open this page.")) from None


# Beside a household's score: the caseload is the office's already, scored for information
# and never warned (risk.features.population).
CASELOAD = {
    "below_line": N_("Below the line: the office's caseload already; the score is for "
                     "information."),
    "monitored": N_("In monitoring: the office's caseload already; the score is for "
                    "information."),
    "no_members": N_("No member left in the household; the score is for information."),
}


def gate(request: Request, check, not_found: str = N_("Not found, or not in your area."),
         session: Session | None = None):
    """Run a check of claims.access; a refusal becomes the page's error in the user's
    language (404 for a row outside the area, 403 for county-wide data). With the
    ``session``, a village the refusal names is named by its name."""
    try:
        return check()
    except NotFound:
        raise PageError(404, text_for(request, not_found)) from None
    except DomainError as refused:
        if refused.field == "townships":
            raise PageError(403, text_for(request, COUNTY_WIDE)) from None
        if session is not None:
            village_named(session, refused)
        raise PageError(refused.status_code, refusal(
            refused, translator(language_of(request)))) from None


def village_named(session: Session, error: DomainError) -> DomainError:
    """A refusal about a village outside the reader's area (claims.access.require_village
    gives its id) with the village's name, as the page shows it."""
    village = error.values.get("village") if error.code == "outside_area" else None
    if isinstance(village, int):
        region = session.get(Region, village)
        if region is not None:
            error.values["village"] = region.name
    return error


def whole_number(text: Any) -> int | None:
    """A form's id or count written with the digits 0-9, or None: str.isdigit() also takes
    "²" (which int() refuses), and more than 18 digits is beyond any id the database holds
    (and int() of thousands of digits fails)."""
    text = str(text).strip()
    return int(text) if text.isascii() and text.isdecimal() and len(text) <= 18 else None


def form_numbers(request: Request, form, name: str, label: str) -> list[int]:
    """The ids a form's field lists (its checkboxes'; empty ones left out); one that is not
    a whole number is the page's 422 naming the field under its ``label``."""
    values = [str(v).strip() for v in form.getlist(name) if str(v).strip()]
    numbers = [whole_number(v) for v in values]
    bad = next((v for v, n in zip(values, numbers, strict=True) if n is None), None)
    if bad is not None:
        _ = translator(language_of(request))
        kind = "less_than" if bad.isascii() and bad.isdecimal() else "int_parsing"
        raise PageError(422, _(FORM_PROBLEM, field=_(label), reason=_(REASONS[kind])))
    return [n for n in numbers if n is not None]


START = "/work"  # each user's start page: my work (claims.web.work)
COUNTY_WIDE = N_("This is county-wide; your account is limited to some townships.")


# --- signing in and out -----------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request, next: str = START):
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", next=_local(next), csrf_token=token, error=None)
    response.set_cookie("fangpin_login_csrf", token, httponly=True, samesite="strict",
                        secure=_secure(request))
    return response


@router.post("/login")
def login(request: Request, session: SessionDep,
          username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = START):
    _ = translator(language_of(request))
    if not web_session.csrf_ok(request.cookies.get("fangpin_login_csrf", ""), csrf_token):
        raise PageError(403, _("This form has expired; reload the page and try again."))
    try:
        key, _web = web_session.sign_in(session, username, password,
                                        request.client.host if request.client else "unknown")
    except web_session.LoginRefused as refused:
        session.commit()  # the failed attempt counts
        message = _(str(refused), time=county_time(refused.until, language_of(request),
                                                   "%H:%M"))
        return render(request, "login.html", status=401, next=_local(next),
                      csrf_token=csrf_token, error=message, username=username)
    web_session.sign_out(session, request.cookies.get(web_session.COOKIE))  # a new key
    session.commit()
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(web_session.COOKIE, key, httponly=True, samesite="lax",
                        secure=_secure(request))
    give_here_cookie(request, response)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: User,
           csrf_token: Annotated[str, Form()] = ""):
    check_csrf(request, user, csrf_token)
    web_session.sign_out(session, request.cookies.get(web_session.COOKIE))
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(web_session.COOKIE)
    response.delete_cookie(HERE_COOKIE)
    return response


@router.get("/language/{language}")
def switch_language(language: str, next: str = "/dashboard"):
    """Remember the language in a cookie (a preference, not data: a plain link may set it)."""
    response = RedirectResponse(_local(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax")
    return response


def _local(path: str) -> str:
    """Only paths of this site: never redirect a login elsewhere."""
    return path if path.startswith("/") and not path.startswith("//") else START


@router.get("/")
def home():
    return RedirectResponse(START, status_code=303)


# --- dashboard --------------------------------------------------------------------------------

DASHBOARD_TTL = 60.0  # seconds the dashboard's figures are reused for the same area
_dashboards: dict[tuple, tuple[float, dict[str, Any]]] = {}


def forget_dashboards() -> None:
    _dashboards.clear()


@router.get("/dashboard")
def dashboard(request: Request, session: SessionDep, user: User):
    villages = tuple(sorted(user.villages)) if user.villages is not None else None
    key = (clock.county_today(), villages)
    cached = _dashboards.get(key)
    if cached is None or cached[0] < time.monotonic():
        if len(_dashboards) > 256:
            _dashboards.clear()
        cached = _dashboards[key] = (time.monotonic() + DASHBOARD_TTL,
                                     dashboard_figures(session, user, key[0]))
    return render(request, "dashboard.html", user=user, **cached[1])


def dashboard_figures(session: Session, user: web_session.SignedIn, today: date
                      ) -> dict[str, Any]:
    """The dashboard's figures for the user's area (a second's work with a million claims,
    so they are reused for a minute; the page says when they were counted)."""
    base = access.claims_in_area(
        select(Claim.state, sa.func.count(Claim.id),
               sa.func.sum(sa.case((sa.and_(Claim.due_date < today,
                                           Claim.state.in_(OPEN)), 1), else_=0)),
               sa.func.sum(sa.case((sa.and_(Claim.due_date == today,
                                           Claim.state.in_(OPEN)), 1), else_=0))),
        user.actor).group_by(Claim.state)
    counted = session.exec(base).all()
    by_state = {state: (count, int(overdue or 0)) for state, count, overdue, _ in counted}
    approved = session.exec(access.claims_in_area(
        select(sa.func.sum(lifecycle.APPROVED)).where(Claim.policy_year == today.year),
        user.actor)).one()
    # Paid in the year: what the bank confirmed from the county's 1 January on, whatever the
    # claims' policy year (a 2025 claim paid in 2026 is 2026's money, as the fund counts it).
    zone = ZoneInfo(get_settings().timezone)
    new_year = datetime(today.year, 1, 1, tzinfo=zone)
    paid = session.exec(access.claims_in_area(
        select(sa.func.sum(Payment.amount)).join(Claim, Claim.id == Payment.claim_id)
        .where(Payment.state == PaymentState.paid, Payment.paid_at >= new_year,
               Payment.paid_at < new_year.replace(year=today.year + 1)),
        user.actor)).one()
    township, village = sa.orm.aliased(Region), sa.orm.aliased(Region)
    by_township = session.exec(access.households_in_area(
        select(township.name, sa.func.count(Claim.id))
        .join(Household, Household.id == Claim.household_id)
        .join(village, village.id == Household.village_id)
        .join(township, township.id == village.parent_id), user.actor)
        .group_by(township.name).order_by(sa.func.count(Claim.id).desc()).limit(12)).all()
    by_trigger = session.exec(access.claims_in_area(
        select(Claim.trigger, sa.func.count(Claim.id)), user.actor)
        .group_by(Claim.trigger).order_by(sa.func.count(Claim.id).desc())).all()
    new_warnings = session.exec(access.households_in_area(
        select(sa.func.count(EarlyWarning.id))
        .join(Household, Household.id == EarlyWarning.household_id)
        .where(EarlyWarning.status == "open",
               EarlyWarning.created_at >= utcnow() - timedelta(days=7)), user.actor)).one()
    return dict(
        by_state=[(s, *by_state.get(s, (0, 0))) for s in STATES],
        open_total=sum(by_state.get(s, (0, 0))[0] for s in OPEN),
        overdue_total=sum(by_state.get(s, (0, 0))[1] for s in OPEN),
        due_today=sum(int(due or 0) for *_, due in counted),
        approved=approved or Decimal("0.00"), paid=paid or Decimal("0.00"),
        year=today.year, by_township=list(by_township), by_trigger=list(by_trigger),
        new_warnings=new_warnings,
        # the fund is the whole county's: not shown to staff limited to some townships
        funds=None if access.limited(user.actor) else _funds(session, today),
        counted_at=utcnow())


def _funds(session: Session, today: date) -> list[tuple[str, Any]]:
    """Each active contract's fund today: premium, payouts, balance, loss ratio."""
    from policies.models import PolicyContract

    return [(contract.contract_number, benefits.fund_position(session, contract.id, today))
            for contract in session.exec(select(PolicyContract).where(
                PolicyContract.status == "active").order_by(PolicyContract.id)).all()]


# --- the claims queue -------------------------------------------------------------------------

@dataclass
class QueueFilter:
    state: str = ""
    trigger: str = ""
    township: int | None = None
    village: int | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_risk: float | None = None
    overdue: bool = False
    due_today: bool = False  # due today or earlier: what must be done today
    sort: str = "due_date"
    page: int = 1


# Closed claims (paid, rejected, withdrawn) come after the open ones in the default order: the
# work still to do is at the top.
SORTS = {"due_date": (sa.literal_column(claim_closed("claim.state")).asc(),
                      Claim.due_date.asc(), Claim.id.asc()),
         "amount": (Claim.entitled.desc(), Claim.id.asc()),
         "opened": (Claim.opened_at.desc(), Claim.id.desc()),
         "risk": (HouseholdScore.score.desc(), Claim.id.asc())}


def queue_order(f: QueueFilter) -> tuple:
    """The filter's order. Where the filter keeps one state, or open claims only, closed
    claims cannot come first anyway, and the plain due-date order lets the database walk an
    index that starts with the state (ix_claim_state_due) instead of sorting."""
    if f.sort == "due_date" and (f.state or f.overdue or f.due_today):
        return SORTS["due_date"][1:]
    return SORTS[f.sort]


NOT_A_NUMBER = N_("“%(value)s” is not a number")
NOT_AN_AMOUNT = N_("“%(value)s” is not an amount in yuan")
NOT_A_SCORE = N_("“%(value)s” is not a risk score: a score is between 0 and 1")


def filter_refused(gettext, label: str, reason: str, value: str) -> PageError:
    """A list's filter value refused, naming the filter by the label the page shows it
    with."""
    return PageError(422, gettext(FORM_PROBLEM, field=gettext(label),
                                  reason=gettext(reason, value=value)))


def queue_filter(request: Request, state: str = "", trigger: str = "", township: str = "",
                 village: str = "", min_amount: str = "", max_amount: str = "",
                 min_risk: str = "", overdue: str = "", due_today: str = "",
                 sort: str = "due_date", page: Annotated[int, Query(ge=1)] = 1) -> QueueFilter:
    gettext = translator(language_of(request))

    def number(text: str, kind, label: str):
        try:
            value = kind(text) if text.strip() else None
        except (ValueError, ArithmeticError):
            raise filter_refused(gettext, label, NOT_A_NUMBER, text) from None
        if isinstance(value, Decimal) and (not value.is_finite() or value.as_tuple().exponent
                                           < -2 or value < 0):
            raise filter_refused(gettext, label, NOT_AN_AMOUNT, text)
        if isinstance(value, float) and not 0 <= value <= 1:
            raise filter_refused(gettext, label, NOT_A_SCORE, text)
        return value

    return QueueFilter(state if state in STATES else "", trigger,
                       number(township, int, N_("Township")), number(village, int, N_("Village")),
                       number(min_amount, Decimal, N_("Amount from")),
                       number(max_amount, Decimal, N_("Amount up to")),
                       number(min_risk, float, N_("Risk at least")), overdue == "1",
                       due_today == "1", sort if sort in SORTS else "due_date", page)


def queue_ids(session: Session, user: web_session.SignedIn, f: QueueFilter, run_id: int):
    """The claims the filter selects, as a query of their ids: only the tables a filter or
    the sort needs are joined, so the database can walk an index of the claims."""
    query = select(Claim.id)
    if user.villages is not None or f.township is not None or f.village is not None:
        query = access.households_in_area(
            query.join(Household, Household.id == Claim.household_id), user.actor)
        if f.township is not None:
            query = query.where(Household.village_id.in_(
                select(Region.id).where(Region.parent_id == f.township)))
        if f.village is not None:
            query = query.where(Household.village_id == f.village)
    if f.sort == "risk":
        # Only scored households' claims: the scores of a run, riskiest first, lead.
        query = query.join(HouseholdScore, sa.and_(
            HouseholdScore.household_id == Claim.household_id, HouseholdScore.run_id == run_id))
    elif f.min_risk is not None:
        # Asked of each claim as the queue's index order reaches it: joined, the database
        # sorted every claim of the risky half of a county (0.5 s at a million claims).
        query = query.where(sa.exists().where(
            HouseholdScore.household_id == Claim.household_id, HouseholdScore.run_id == run_id,
            HouseholdScore.score >= f.min_risk))
    if f.state:
        query = query.where(Claim.state == f.state)
    if f.trigger:
        query = query.where(Claim.trigger == f.trigger)
    if f.min_amount is not None:
        query = query.where(Claim.entitled >= f.min_amount)
    if f.max_amount is not None:
        query = query.where(Claim.entitled <= f.max_amount)
    if f.min_risk is not None and f.sort == "risk":
        query = query.where(HouseholdScore.score >= f.min_risk)
    if f.overdue:
        query = query.where(Claim.due_date < clock.county_today(), Claim.state.in_(OPEN))
    if f.due_today:
        query = query.where(Claim.due_date <= clock.county_today(), Claim.state.in_(OPEN))
    return query


def queue_rows(session: Session, ids: list[int], run_id: int) -> list:
    """The queue's rows for these claims, in this order."""
    village = sa.orm.aliased(Region)
    found = {row[0].id: row for row in session.exec(
        select(Claim, Household.household_number, Household.village_id,
               village.name.label("village_name"), HouseholdScore.score)
        .join(Household, Household.id == Claim.household_id)
        .join(village, village.id == Household.village_id)
        .outerjoin(HouseholdScore, sa.and_(HouseholdScore.household_id == Claim.household_id,
                                           HouseholdScore.run_id == run_id))
        .where(Claim.id.in_(ids))).all()}
    return [found[i] for i in ids]


@router.get("/claims")
def claims_queue(request: Request, session: SessionDep, user: User,
                 f: Annotated[QueueFilter, Depends(queue_filter)],
                 export: str = ""):
    current = nightly.current_run(session)
    run_id = current.id if current else -1
    query = queue_ids(session, user, f, run_id)
    if export == "xlsx":
        ids = list(session.exec(query.order_by(*queue_order(f)).limit(100_000)))
        rows = [row for start in range(0, len(ids), 1000)
                for row in queue_rows(session, ids[start:start + 1000], run_id)]
        language = language_of(request)
        _ = translator(language)
        headings = [_("Claim"), _("Household"), _("Village"), _("Trigger"), _("State"),
                    _("Entitled"), _("Approved"), _("Paid"), _("Due"), _("Risk")]
        table = [[c.claim_number, number, vname, code_label("Trigger", c.trigger, language),
                  code_label("ClaimState", c.state, language), c.entitled, c.approved_amount,
                  c.paid_amount, c.due_date,
                  None if score is None else Decimal(str(score)).quantize(Decimal("0.01"))]
                 for c, number, _v, vname, score in rows]
        return Response(xlsx_bytes(headings, table, _("Claims")), media_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            headers={"Content-Disposition": 'attachment; filename="claims.xlsx"'})
    # Counted up to a bound: an exact count of a million claims costs more than the page.
    total = session.exec(select(sa.func.count()).select_from(
        query.limit(COUNT_UP_TO + 1).subquery())).one()
    rows = queue_rows(session, list(session.exec(
        query.order_by(*queue_order(f)).offset((f.page - 1) * PAGE).limit(PAGE))), run_id)
    townships = session.exec(select(Region.id, Region.name).where(
        Region.level == "township").order_by(Region.code)).all()
    if user.villages is not None:
        allowed = set(user.user.townships or [])
        townships = [t for t in townships if t[0] in allowed]
    villages = session.exec(select(Region.id, Region.name).where(
        Region.parent_id == f.township).order_by(Region.code)).all() if f.township in {
        t[0] for t in townships} else []
    triggers = intake.event_types(session)
    return render(request, "claims.html", user=user, rows=rows, total=total,
                  more=total > COUNT_UP_TO, f=f, pages=max(1, -(-min(total, COUNT_UP_TO) // PAGE)),
                  states=STATES, triggers=sorted(triggers),
                  townships=townships, villages=villages, today=clock.county_today())


# --- a claim ----------------------------------------------------------------------------------

def _claim_for(session: Session, request: Request, user: web_session.SignedIn,
               claim_id: int) -> tuple[Claim, Household]:
    claim = gate(request, lambda: access.claim(session, user.actor, claim_id),
                 N_("No such claim, or not in your area."))
    return claim, session.get(Household, claim.household_id)


ACTION_ORDER = ["start_investigation", "submit_survey", "record_review", "start_notice",
                "record_objection", "close_notice", "approve", "reject", "withdraw",
                "reconsider"]


def allowed_actions(claim: Claim, user: web_session.SignedIn,
                    bar: str | None = None) -> list[str]:
    """The steps the user's role may take in the claim's state; not the approval when
    ``bar`` (lifecycle.approval_bar) forbids it."""
    return [name for name in ACTION_ORDER
            if claim.state in lifecycle.ACTIONS[name].sources
            and user.user.role in lifecycle.ACTIONS[name].roles
            and not (name == "approve" and bar is not None)]


# The four-eyes rules of lifecycle.APPROVAL_BARS, shown instead of the approval form.
APPROVAL_BARS = {
    "investigated": N_("You investigated this claim, so you may not approve it."),
    "own_household": N_("This claim is your own household's, so you may not approve it."),
    "first_approver": N_("You gave the first approval; a supervisor must give the second."),
    "second_by_supervisor": N_("The first approval is given; the second approval is a "
                               "supervisor's."),
}
SECOND_APPROVAL = N_("First approval given; this is the second approval, which needs a "
                     "supervisor whose limit covers the total.")
ABOVE_LIMIT = N_("The amount due is above your approval limit of %(limit)s yuan: your "
                 "approval will wait for a supervisor's.")


SUPERVISOR_ABOVE_LIMIT = N_("The amount is above your approval limit of %(limit)s yuan: you "
                           "may approve at most up to it, or an administrator gives a "
                           "supervisor a limit that covers it.")
# this round's: a reopened claim's total had read beside this round's due as a mismatch
FIRST_APPROVED = N_("The first approval was for %(amount)s yuan this round: the amount is "
                    "filled in with it.")
NO_LIMIT = N_("You have no approval limit: an administrator must set one before you approve.")
EARLIER_CUT = N_("An earlier approval cut %(cut)s yuan from this claim (%(reason)s): "
                 "%(due)s yuan is proposed. Approving more gives the cut back, and needs a "
                 "note saying why.")


def approving(claim: Claim, user: web_session.SignedIn) -> bool:
    """Whether the claim waits for an approval and the user's role gives approvals."""
    approve = lifecycle.ACTIONS["approve"]
    return claim.state in approve.sources and user.user.role in approve.roles


def approval_hint(claim: Claim, user: web_session.SignedIn, bar: str | None,
                  gettext) -> list[str]:
    """The four-eyes and authority rules as they apply to this user, before they press:
    only where the user approves this claim now."""
    if not approving(claim, user):
        return []
    if bar is not None:
        return [gettext(APPROVAL_BARS[bar])]
    hints = []
    if claim.first_approver_id is not None:
        hints.append(gettext(SECOND_APPROVAL))
        hints.append(gettext(FIRST_APPROVED,
                             amount=f"{claim.approved_amount - claim.paid_amount:,.2f}"))
    elif lifecycle.earlier_cut(claim) > 0:
        hints.append(gettext(EARLIER_CUT, cut=f"{lifecycle.earlier_cut(claim):,.2f}",
                             due=f"{lifecycle.net_due(claim):,.2f}", reason=masking.in_text(
                                 (claim.calculation or {}).get(lifecycle.REDUCTION, ""))))
    limit = user.user.approval_limit
    if limit is not None and claim.paid_amount + lifecycle.proposed_amount(claim) > limit:
        # a supervisor above their limit is refused; only an adjudicator's approval waits
        hints.append(gettext(SUPERVISOR_ABOVE_LIMIT if user.user.role == Role.supervisor
                             else ABOVE_LIMIT, limit=f"{limit:,.2f}"))
    elif limit is None and user.user.role == Role.adjudicator:
        hints.append(gettext(NO_LIMIT))
    return hints


@router.get("/claims/{claim_id}")
def claim_page(request: Request, session: SessionDep, user: User, claim_id: int,
               done: str = "", added: Annotated[int, Query(ge=0, le=1000)] = 0):
    return _claim_page(request, session, user, claim_id,
                       done=done if done in lifecycle.ACTIONS else "", added=added)


def _claim_page(request: Request, session: Session, user: web_session.SignedIn, claim_id: int,
                *, done: str = "", error: str = "", status: int = 200,
                added: int = 0) -> HTMLResponse:
    from claims.web import documents as web_documents  # its module imports this one

    claim, household = _claim_for(session, request, user, claim_id)
    _ = translator(language_of(request))
    members = session.exec(select(Member).where(Member.household_id == household.id,
                                                Member.status == "active")
                           .order_by(Member.id)).all()
    incomes = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household.id, IncomeRecord.source != "payout")
        .order_by(IncomeRecord.period_start)).all()
    events = session.exec(select(TriggerEvent).where(TriggerEvent.claim_id == claim.id)
                          .order_by(TriggerEvent.id)).all()
    # A report of a loss already reported pays nothing: the page says which report it
    # repeats, and whether it says another amount (a later, larger assessment of the same
    # flood had been a bare 0.00: a tester's)
    by_id = {e.id: e for e in events}
    repeats = {e.id: (by_id[e.same_loss_of].source_event_id,
                      e.payload.get("amounts") != by_id[e.same_loss_of].payload.get("amounts"))
               for e in events if e.same_loss_of in by_id}
    # Two reports of one day and stay that differ in what should agree (the hospital's name)
    # are both paid: the page says so, for whoever approves to look (a tester's stay
    # reported with two spellings of its hospital had been paid twice without a word).
    alike: dict[int, str] = {}
    firsts: dict[tuple, str] = {}
    for e in events:
        key = None if e.same_loss_of else benefits.loss_key(
            e.type, e.household_id, e.id_number, e.event_date, e.payload.get("details", {}))
        if key is not None and firsts.setdefault(key, e.source_event_id) != e.source_event_id:
            alike[e.id] = firsts[key]
    records = lifecycle.records(session, claim)
    history = lifecycle.history(session, claim)
    language = language_of(request)
    ids = {r.actor_id for r in records} | {whole_number(r.data.get("investigator_id", ""))
                                           for r in records}
    names = {h.actor.partition(":")[2] for h in history if h.actor.startswith("user:")}
    people = session.exec(select(AppUser.id, AppUser.username, AppUser.full_name).where(
        sa.or_(AppUser.id.in_(ids - {None}), AppUser.username.in_(names)))).all()
    by_id = {i: full for i, _u, full in people}
    by_name = {u: full for _i, u, full in people}
    shown_records = [(r, by_id.get(r.actor_id) if r.actor_id else None,
                      records_view.record_fields(r.kind, r.data, language, by_id))
                     for r in records]
    shown_history = [(h, actor_text(h.actor, language, by_name),
                      records_view.reason_text(h.reason, language)) for h in history]
    scored = nightly.current_score(session, household.id)
    factors = []
    if scored.score is not None:
        warning = session.exec(select(EarlyWarning).where(  # raised with the score shown
            EarlyWarning.household_id == household.id, EarlyWarning.source == "risk",
            EarlyWarning.run_id == scored.run.id).order_by(EarlyWarning.id.desc())).first()
        factors = (warning.factors or []) if warning else []
    bar = lifecycle.approval_bar(session, claim, user.actor) if approving(claim, user) else None
    actions = allowed_actions(claim, user, bar)
    investigators = (lifecycle.eligible_investigators(session, claim)
                     if "start_investigation" in actions else [])
    return render(
        request, "claim.html", status=status, user=user, claim=claim, household=household,
        texts=lifecycle.texts(claim), members=members, incomes=incomes, events=events,
        repeats=repeats, alike=alike,
        records=shown_records, history=shown_history,
        score=scored.score, caseload=CASELOAD.get(scored.population or ""), factors=factors,
        actions=actions, investigators=investigators,
        hints=approval_hint(claim, user, bar, _), mask=masking,
        rejection_codes=list(lifecycle.REJECTION_CODES), error=error, done=done,
        asset_checks=records_view.ASSET_CHECKS,
        calculations=(claim.calculation or {}).get("events", []),
        due=claim.entitled - claim.paid_amount, proposed=lifecycle.proposed_amount(claim),
        added=added, printable=printed.documents(claim),
        documents=web_documents.section(session, user, claim, language_of(request)))


REFUSALS = {  # why a step was refused, by the rule broken (the service's words follow)
    ("Forbidden", "role"): N_("Your role may not take this step."),
    ("Forbidden", "actor"): N_("The four-eyes rule: you may not take this step on this claim."),
    ("Forbidden", "amount"): N_("The amount is above your approval limit."),
    ("InvalidTransition", "documents"): N_("Documents the terms require are missing: add "
                                           "them, or a supervisor waives them."),
    ("InvalidTransition", "state"): N_("The claim is not in a state where this step can be "
                                       "taken."),
    ("InvalidTransition", None): N_("This step cannot be taken yet."),
    ("InvalidInput", "file"): N_("The file is over a limit or cannot be read; split it or "
                                 "save it again."),
    ("InvalidInput", None): N_("Please correct the form: %(field)s."),
    ("Conflict", None): N_("This conflicts with what is already recorded."),
    ("NotFound", None): N_("Not found."),
}


# pydantic's kinds of mistake whose wording does not depend on the value
REASONS = {
    "missing": N_("required"),
    "extra_forbidden": N_("unknown key (misspelt?)"),
    "int_parsing": N_("not a whole number"),
    "int_type": N_("not a whole number"),
    "int_from_float": N_("not a whole number"),
    "decimal_parsing": N_("not a number"),
    "decimal_text": N_("not a number"),
    "decimal_type": N_("not a number"),
    "decimal_max_places": N_("too many decimal places"),
    "decimal_max_digits": N_("too many digits"),
    "string_type": N_("must be text in quotes"),
    "string_too_short": N_("required"),
    "too_short": N_("too few entries"),
    "string_too_long": N_("too long"),
    "too_long": N_("too long"),
    "bool_type": N_("must be true or false"),
    "bool_parsing": N_("must be true or false"),
    "list_type": N_("must be a list"),
    "model_type": N_("must be a table"),
    "dict_type": N_("must be a table"),
    "date_parsing": N_("not a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("not a date (YYYY-MM-DD)"),
    "enum": N_("not one of the allowed values"),
    "literal_error": N_("not one of the allowed values"),
    "greater_than": N_("too small"),
    "greater_than_equal": N_("too small"),
    "less_than": N_("too large"),
    "less_than_equal": N_("too large"),
}
FORM_PROBLEM = N_("Please correct the form: %(field)s — %(reason)s.")
# pydantic's value errors of a field whose own rule's words are known (claims.lifecycle's
# survey team, claims.monitoring's home check team)
FIELD_REASONS = {("team", "value_error"): N_("at least two different people"),
                 # a team of one (it said "too few entries", not how many)
                 ("team", "too_short"): N_("at least two different people"),
                 ("representatives", "value_error"): N_("each representative once")}


# the rule of Text's problems, read back from pydantic's English (policies.types)
_TEXT_PROBLEMS = [(template_pattern(template), template)
                  for template in (*TEXT_PROBLEMS.values(), masking.PERSONAL_NUMBER)]


def problem_reason(field: str, kind: str, why: str, gettext) -> str | None:
    """Why a form's value is not valid, in the reader's words: by pydantic's kind of
    mistake, by the field's own rule, or by the rule of Text; None where no words are
    known."""
    own = FIELD_REASONS.get((field.split(".")[0], kind))
    if own is not None:
        return gettext(own)
    if kind in REASONS:
        return gettext(REASONS[kind])
    for pattern, template in _TEXT_PROBLEMS:
        found = pattern.fullmatch(why)
        if found:
            return gettext(template, **found.groupdict())
    return None


# A claim step's refusals by their code (claims.lifecycle), in words of their own.
STEP_REFUSALS = {
    # an address of no step (it read "请更正表单：action。 (unknown action …)": a tester's)
    "unknown_action": N_("A claim has no such step."),
    # the admin page's new user or password (it read "password。（a password has at least …")
    "password_too_short": N_("A password has at least %(length)s characters."),
    "invalid_id_number": N_("The ID number is not a valid citizen ID number: check its 18 "
                            "characters and the last one, the check character."),
    "notice_running": N_("The public notice runs %(days)s days from %(start)s: it can be "
                         "closed from %(end)s."),
    "future_visit": N_("The visit date is in the future."),
    "not_the_investigator": N_("The survey of this claim is for the investigator sent, "
                               "%(name)s."),
    "notice_running_since": N_("The public notice has run since %(start)s: it may start again "
                               "from that day or later, not earlier."),
    "notice_start": N_("The notice must start between the day of the village review "
                       "(%(earliest)s) and today."),
    "above_due": N_("%(amount)s is more than the %(due)s due (entitled %(entitled)s, already "
                    "paid %(paid)s)."),
    "above_limit": N_("A total of %(total)s is above your approval limit of %(limit)s."),
    "contract_closed": N_("The contract %(contract)s was settled: its claims are no longer "
                          "approved."),
    "reduction_reason": N_("%(amount)s is less than the %(due)s due: say in the note why less "
                           "is paid; the household's notice gives the reason."),
    "overrules_first": N_("%(amount)s is less than the first approval's %(first)s: say in the "
                          "note why."),
    "refusal_reason": N_("Say in the text why the supplement is refused: the household's "
                         "payout notice gives it."),
    "county_role": N_("An administrator or an auditor works for the whole county: choose no "
                      "townships."),
    "cut_given_back": N_("%(amount)s gives back %(cut)s that an earlier approval cut "
                         "(%(due)s is due after it): say in the note why."),
    "above_first_approval": N_("%(amount)s is more than the first approval's %(first)s: a "
                               "second approval confirms that amount or less."),
    "choose_investigator": N_("Choose the investigator: only an investigator carries out the "
                              "survey, and whoever investigates a claim may not approve it."),
    "not_an_investigator": N_("That person may not investigate this claim: an investigator "
                              "is an active user with the role investigator working in the "
                              "household's township."),
    "adjudicator_investigates": N_("That person is the claim's adjudicator, who may not "
                                   "investigate it."),
    "documents_missing": N_("Documents the terms require are missing: %(missing)s. Add them, "
                            "or a supervisor waives each with a reason."),
    # the office's follow-up and risk elimination (claims.monitoring), warnings
    "after_today": N_("%(field)s is after today."),
    "follow_up_closed": N_("The follow-up was closed on %(closed_on)s."),
    "helper_name": N_("The helper is a name of 2 to 64 characters."),
    "before_follow_up": N_("The day is before the follow-up opened (%(opened_on)s)."),
    "needs_helper": N_("Assign a helper before closing the follow-up."),
    "no_window": N_("The household has no monitoring window to end."),
    "review_disagreed": N_("The village review did not agree: no notice."),
    "already_eliminated": N_("The household's risk was already marked eliminated."),
    "follow_up_open": N_("A follow-up is still open: record its outcome first."),
    "no_income_report": N_("No income report on or before the day of elimination: take one "
                           "first."),
    "decline_reason": N_("Say why the proposal is declined."),
    "note_too_long": N_("The note is %(length)s characters; at most %(limit)s."),
    "other_needs_note": N_("The outcome “other” needs a note of at least two characters "
                           "saying what the office did."),
    # catastrophes, payments, users, bulk steps
    "start_in_future": N_("The start date is in the future."),
    "end_before_start": N_("The end date is before the start date (%(start)s)."),
    "not_an_area": N_("Choose a county, township or village."),
    "not_a_village": N_("Choose a village."),
    "outside_area": N_("%(village)s is not in your area: your account is limited to some "
                       "townships."),
    "duplicate_declaration": N_("The same catastrophe is declared already: %(name)s."),
    "end_in_future": N_("The end date is in the future: close a catastrophe on or after its "
                        "last day."),
    "visit_before_loss": N_("The visit date is before the loss (%(earliest)s)."),
    "reference_taken": N_("The reference %(reference)s names another catastrophe already."),
    "catastrophe_closed": N_("The catastrophe is closed."),
    "nothing_to_pay": N_("No approved claim is waiting for payment."),
    "batch_settled": N_("Every line of this batch is paid or failed: no bank file is left "
                        "to send. The lines on the batch's page are its record."),
    "no_bank_account": N_("Households %(households)s have no bank account: record it before "
                          "the bank file is made."),
    "user_exists": N_("The user %(username)s already exists."),
    "username_shape": N_("A username is 2 to 64 small letters, digits, '.', '_' or '-'."),
    "department_name": N_("Name the department."),
    "department_name_taken": N_("A key named %(name)s is in use already: give the new one "
                                "another name."),
    "own_account": N_("Nobody changes their own role, approval limit, townships, permissions "
                      "or ID number: another administrator does."),
    "one_person_one_account": N_("Another account belongs to the same person (ID number): one "
                                 "person, one account, so that four eyes are two people."),
    "choose_claims": N_("Choose at least one claim."),
    "too_many_claims": N_("%(count)s claims at once; at most %(limit)s."),
    "not_in_review": N_("Claim #%(claim)s does not wait for this village's review."),
    "reason_needed": N_("Say why the meeting did not agree to claim %(claim)s."),
    # a file read for an import (policies.tables)
    "not_text": N_("The file is neither UTF-8 nor GBK text: save it as CSV UTF-8."),
    "file_too_big": N_("The file is %(size)s bytes, over the limit of %(limit)s: split it."),
    "unreadable": N_("%(filename)s cannot be read: save it again as CSV or XLSX."),
    "file_type": N_("Only .csv and .xlsx files are accepted."),
    "no_rows": N_("%(filename)s has headings but no rows: there is nothing to import."),
    "too_many_rows": N_("%(filename)s has more than %(limit)s rows: split it into smaller "
                        "files."),
    "same_column": N_("The column %(column)s means the same as another: remove one."),
    "missing_columns": N_("The file has no column %(columns)s."),
    "unknown_columns": N_("The file has columns this import does not read: %(columns)s. "
                          "Rename each to a heading the import takes, or remove it: a "
                          "misspelt amount would be read as none."),
    "unknown_bank_columns": N_("The bank's answer has columns it does not take: %(columns)s. "
                               "Its headings are 付款流水号, 状态, 银行流水号, 失败原因 (or one "
                               "column 银行流水号或失败原因) and 金额; rename each of the others "
                               "to one of them, or remove it, so that nothing the bank wrote "
                               "is left unread."),
    "amount_column": N_("Column %(columns)s looks like the amount the bank paid, but this file "
                        "takes the amount only under one of these headings: %(headings)s. "
                        "Rename it, or remove it: an amount not checked against the line "
                        "would be recorded as paid in full."),
    "unheaded_columns": N_("Column %(columns)s of the file holds values under no heading. "
                           "Give it a heading the import takes, or remove it."),
    "number_too_long": N_("Cell %(cell)s is a number longer than a spreadsheet keeps "
                          "exactly (15 digits): an ID or account number typed as a number "
                          "has already changed. Format the column as text and type it "
                          "again."),
    "formula_without_value": N_("Cell %(cell)s holds a formula saved without its result. "
                                "Open the file in Excel or WPS and save it again, or paste "
                                "the values."),
    "cell_error": N_("Cell %(cell)s shows the error %(error)s: correct it or clear the "
                     "cell."),
    # a required document waived (claims.documents.requirements)
    "not_required": N_("%(document)s is not a document this claim's terms require; they "
                       "require %(required)s."),
    "nothing_required": N_("This claim's terms require no document to waive."),
    "waiver_reason": N_("Give the reason the document is waived."),
    "waived_already": N_("%(document)s is waived already."),
    # a claim's steps (claims.lifecycle)
    "role_step": N_("Your role may not take this step: %(action)s is for %(roles)s."),
    "not_by_hand": N_("%(action)s happens only through payments and new events."),
    "wrong_state": N_("The claim is %(state)s: %(action)s needs it to be %(needs)s."),
    # the benefit terms (policies.benefits)
    "terms_key_year": N_("The terms %(key)s are for %(year)s: a new policy year needs a new "
                         "key."),
    "no_terms_version": N_("No such terms version."),
    "terms_other_year": N_("These terms are for %(year)s, the contract for "
                           "%(contract_year)s."),
    "contract_settled": N_("The contract is settled: its terms cannot change."),
}
# Fields a refusal names that no record shows.
REFUSED_FIELDS = {"given_on": N_("Given on"), "eliminated_on": N_("Eliminated on"),
                  "village_id": N_("Village"), "village": N_("Village"),
                  "claim_ids": N_("Claims"),
                  # the numbers a page reads from its address (claims.app's refusal of one)
                  "page": N_("Page"), "year": N_("Year"), "recorded": N_("Income record"),
                  "stored": N_("Terms version"), "created": N_("Terms version"),
                  "in_force": N_("In force for"), "before": N_("Older entries"),
                  # the ids in a page's address
                  "batch_id": N_("Payment batch"), "contract_id": N_("Contract"),
                  "line_id": N_("Monitoring line")}
# Values of a refusal that are codes (or lists of codes), by the kind that names them.
CODED_VALUES = {"state": "ClaimState", "needs": "ClaimState", "action": "Action",
                "roles": "Role", "missing": "DocumentType", "required": "DocumentType",
                "document": "DocumentType"}


def _shown(name: str, value: Any, language: str) -> str:
    """A refusal's value as the reader sees it."""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if name == "field":
        label = records_view.FIELDS.get(value) or REFUSED_FIELDS.get(value)
        return translator(language)(label) if label else str(value)
    if name in CODED_VALUES:
        return ("、" if language == "zh" else ", ").join(
            code_label(CODED_VALUES[name], str(code), language)
            for code in (value if isinstance(value, list) else [value]))
    return str(value)


def refusal(error: DomainError, gettext) -> str:
    """A refused step in the user's language: in words of its own where its code is known,
    else the rule it broke with the service's own words after it."""
    language = getattr(gettext, "language", "en")
    if error.code in STEP_REFUSALS:
        return gettext(STEP_REFUSALS[error.code], **{
            name: _shown(name, value, language) for name, value in error.values.items()})
    if error.code in TEXT_PROBLEMS:  # policies.types.check_text: a form's text
        return gettext(FORM_PROBLEM, field=_shown("field", error.field or "", language),
                       reason=gettext(TEXT_PROBLEMS[error.code], **error.values))
    if error.code == "form":
        field = error.values.get("field", "")
        reason = problem_reason(field, error.values.get("kind", ""),
                                str(error.values.get("why", "")), gettext)
        if reason is not None:
            return gettext(FORM_PROBLEM, field=_shown("field", field.split(".")[0], language),
                           reason=reason)
    kind = type(error).__name__
    rule = REFUSALS.get((kind, error.field)) or REFUSALS.get((kind, None)) or next(
        (text for (name, field), text in REFUSALS.items()
         if field is None and any(base.__name__ == name for base in type(error).__mro__)),
        None)
    if rule is None:
        return error.message
    if isinstance(error, NotFound):  # the page's address names what is missing
        return gettext(rule)
    field = _shown("field", error.field, language) if error.field else ""
    return f"{gettext(rule, field=field)} ({error.message})"


def row_problem(error: RowError, gettext) -> str:
    """Why an import refused a file's value, in the user's language: by its code, or by
    pydantic's kind of mistake; the English reason only for a kind no catalog names."""
    if error.code in ROW_PROBLEMS:
        return gettext(ROW_PROBLEMS[error.code], **error.values)
    if error.code in REASONS:
        return gettext(REASONS[error.code])
    return error.reason


def typed_amount(text: str) -> str:
    """A number as a person types it into a form, as every page writes it and as the file
    imports read it (policies.tables.typed_number): 9,000.00 or full-width ９０００ read as
    9000.00 (the approval amount, an income and a contract's headcount had refused the comma
    the pages show them with: a tester's); anything else as typed, for the model to judge."""
    number = typed_number(text, places=10)
    return text.strip() if number is None else str(number)


# The fields each step's form posts, as form_data reads them.
STEP_FIELDS = {
    "submit_survey": ("visit_date", "team", "findings", "asset_check", "documents",
                      "latitude", "longitude", "accuracy",
                      *(f"asset_{item}" for item in records_view.ASSET_CHECKS)),
    "start_investigation": ("investigator_id",),
    "record_review": ("outcome", "representatives", "notes"),
    "start_notice": ("start_date",),
    "record_objection": ("text", "upheld"),
    "approve": ("amount", "note"),
    "reject": ("code", "text"),
    "withdraw": ("reason",),
    "reconsider": ("reason",),
}


def form_data(action: str, form: dict[str, str]) -> dict[str, Any]:
    """What a step needs, from the fields of its form."""
    def lines(text: str) -> list[str]:
        return [part.strip() for part in text.replace("，", ",").replace("\n", ",").split(",")
                if part.strip()]

    if action == "submit_survey":
        # The cross-checks DOMAIN.md names, each in its own field; any other, one a line.
        checks = {item: form.get(f"asset_{item}", "").strip()
                  for item in records_view.ASSET_CHECKS if form.get(f"asset_{item}", "").strip()}
        for line in form.get("asset_check", "").splitlines():
            item, _, result = line.partition(":" if ":" in line else "：")
            if item.strip():
                checks[item.strip()] = result.strip()
        # The browser's location, when the investigator recorded it (survey.js fills these).
        location = {key: form.get(key, "").strip()
                    for key in ("latitude", "longitude", "accuracy")}
        return {"visit_date": form.get("visit_date", ""),
                "team": lines(form.get("team", "")), "findings": form.get("findings", ""),
                "asset_check": checks, "documents": lines(form.get("documents", "")),
                **({"location": location} if any(location.values()) else {})}
    if action == "start_investigation":
        return {"investigator_id": form["investigator_id"]} if form.get(
            "investigator_id") else {}
    if action == "record_review":
        return {"outcome": form.get("outcome", ""),
                "representatives": lines(form.get("representatives", "")),
                "notes": form.get("notes", "")}
    if action == "start_notice":
        return {"start_date": form["start_date"]} if form.get("start_date") else {}
    if action == "record_objection":
        return {"text": form.get("text", ""), "upheld": form.get("upheld") == "1"}
    if action == "approve":
        return {"amount": typed_amount(form.get("amount", "")), "note": form.get("note", "")}
    if action == "reject":
        return {"code": form.get("code", ""), "text": form.get("text", "")}
    if action in ("withdraw", "reconsider"):
        return {"reason": form.get("reason", "")}
    return {}


StepForm = posted(by=lambda path: STEP_FIELDS.get(
    path["action"], () if path["action"] in lifecycle.ACTIONS else None), ticks=("upheld",))


@router.post("/claims/{claim_id}/actions/{action}")
def claim_action(request: Request, session: SessionDep, user: User, claim_id: int,
                 action: str, posted: StepForm):
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    check_csrf(request, user, form.get("csrf_token"))
    # Lock the row first, and read it as it is now: a step decided on a stale copy could
    # approve a claim another user has just rejected.
    session.exec(select(Claim).where(Claim.id == claim_id).with_for_update()
                 .execution_options(populate_existing=True)).first()
    claim, _household = _claim_for(session, request, user, claim_id)
    try:
        terms = benefits.terms_of(benefits.get_terms_version(session, claim.terms_version_id))
        lifecycle.transition(session, claim, action, user.actor,
                             data=form_data(action, form), notice_days=terms.notice_days)
        session.commit()
    except DomainError as refused:
        session.rollback()
        return _claim_page(request, session, user, claim_id, status=refused.status_code,
                           error=refusal(refused, translator(language_of(request))))
    return RedirectResponse(f"/claims/{claim_id}?done={quote(action)}", status_code=303)
