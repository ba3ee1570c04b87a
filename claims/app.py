"""The FastAPI application: the JSON API, health check, error rendering and request logs."""

from __future__ import annotations

import gc
import inspect
import json
import logging
import math
import random
import re
import time
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from claims import auth, clock, evaluator, locks, masking, migrate, scheduler
from claims.api import admin as admin_api
from claims.api import assignment as assignment_api
from claims.api import benefits as benefits_api
from claims.api import bulk as bulk_api
from claims.api import catastrophes as catastrophes_api
from claims.api import claims as claims_api
from claims.api import documents as documents_api
from claims.api import events as events_api
from claims.api import imports as imports_api
from claims.api import monitoring as monitoring_api
from claims.api import payments as payments_api
from claims.api import registry as registry_api
from claims.api import risk as risk_api
from claims.api.deps import SessionDep, known_fields_only
from claims.auth import current_actor, staff
from claims.db import close_connections, get_engine, get_session
from claims.models import Role
from claims.settings import get_settings
from claims.web import audit_pages as web_audit
from claims.web import bulk as web_bulk
from claims.web import catastrophes as web_catastrophes
from claims.web import config as web_config
from claims.web import documents as web_documents
from claims.web import monitoring as web_monitoring
from claims.web import office as web_office
from claims.web import pages as web_pages
from claims.web import printed as web_printed
from claims.web import session as web_session
from claims.web import work as web_work
from claims.web.i18n import N_, TEMPLATES, translator
from policies.errors import DomainError
from policies.limits import ImportLimits

log = logging.getLogger("fangpin.http")
SCHEMA_HEAD = migrate.head_revision()

try:
    VERSION = version("fangpin")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0+unknown"

DESCRIPTION = """
fangpin keeps the registry of households covered by a county's government-purchased
poverty-prevention insurance (防贫保) and the policy contracts behind it.

Money is a decimal string in yuan with two places (``"1234.50"``), never a float. Errors are
JSON objects naming the ``field``, the ``value`` and the rule broken.
"""


# The service's young generation (gc.set_threshold): see lifespan.
SERVICE_YOUNG = 20_000


@asynccontextmanager
async def lifespan(_app: FastAPI):
    """Run the event evaluator (and the nightly scheduler, when asked) beside the API,
    unless they run in processes of their own."""
    # What importing and starting created lives as long as the process: frozen, it is no
    # longer scanned by every garbage collection (a third of a 10,000-event batch's time).
    gc.freeze()
    # A request makes a few thousand short-lived objects: at the interpreter's young
    # generation of 700, a full collection of what the service had built up since its start
    # came every half second under load and stalled every request in flight 8-20 ms, the
    # most of PostgreSQL's single-event p99 (scripts/bench_intake.py).
    thresholds = gc.get_threshold()
    gc.set_threshold(SERVICE_YOUNG, *thresholds[1:])
    worker = nights = None
    if get_settings().evaluate_events == "in_process":
        worker = evaluator.Evaluator(get_engine)
        worker.start()
    if get_settings().scheduler == "in_process":
        nights = scheduler.build(blocking=False)
        nights.start()
    yield
    if worker is not None:
        worker.stop()
    if nights is not None:
        nights.shutdown(wait=False)
    close_connections()
    gc.set_threshold(*thresholds)


class RequestLog:
    """One log line per request with its id, status and duration; an unhandled error becomes
    a 500 naming the request id. Plain ASGI: it costs the request almost nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # random.getrandbits, not uuid4: os.urandom lets go of the interpreter lock, and the
        # event loop then waited for the storing thread to hand it back
        request_id = (headers.get(b"x-request-id", b"").decode("latin-1")
                      or f"{random.getrandbits(64):016x}")
        started = time.perf_counter()
        path = masking.in_text(scope["path"])
        status = {"code": 500, "sent": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], path,
                          extra={"request_id": request_id})
            if status["sent"]:
                raise
            if web_pages.is_page(scope["path"]):
                request = Request(scope)
                response = web_pages.error_page(request, 500, web_pages.text_for(
                    request, SERVER_FAILED) % {"id": request_id},
                    headers={"x-request-id": request_id})
            else:
                response = JSONResponse(
                    {"error": "InternalError",
                     "message": "the server failed; quote this request id when reporting it",
                     "request_id": request_id},
                    status_code=500, headers={"x-request-id": request_id})
            await response(scope, receive, send)
            status["code"] = 500
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %s %.1fms", scope["method"], path, status["code"], duration_ms,
                     extra={"request_id": request_id, "method": scope["method"], "path": path,
                            "status": status["code"], "duration_ms": duration_ms})


SERVER_FAILED = N_("The server failed. If it happens again, give the administrator this request "
                   "number: %(id)s")
# What a page's refusal by the framework or the database means, in words for its user.
PAGE_ERRORS = {
    400: N_("The form could not be read; reload the page and try again."),
    404: N_("There is no such page."),
    405: N_("This page cannot be used this way; go back and use its form or link."),
}
REQUEST_FAILED = N_("The request could not be handled.")
INVALID_VALUE = N_("A value in the address or the form is not valid: %(field)s.")
SAVED_AT_ONCE = N_("Someone saved the same thing at the same moment; reload the page and try "
                   "again.")
OUT_OF_RANGE = N_("A number or date in the address or the form is out of range.")
DATABASE_DOWN = N_("The database cannot be reached or cannot store anything now. Nothing was "
                   "saved; try again in a few minutes.")
OUT_OF_RANGE_FIELD = N_("A number in the address or the form is out of range: %(field)s.")
INT4 = 2**31 - 1  # the largest id of an integer column (PostgreSQL's; SQLite holds 2**63 - 1)


def parameter_label(name: str) -> str | None:
    """A parameter's or form field's label on the pages (the records' and the audit trail's,
    or the kind of row an id names: catastrophe_id is 灾害事件), or None."""
    return (web_audit.FIELDS.get(name) or web_audit.FIELDS.get(f"{name}_id")
            or web_pages.REFUSED_FIELDS.get(name)
            or web_audit.KINDS.get(name.removesuffix("_id")))


def _numbers(value, path: str):
    """Each whole number of a request's value with where it is (``regions.0``); digits in
    a text count, as a path, a query or a form gives them."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield path, value
    elif isinstance(value, str) and value.isascii() and value.isdecimal():
        yield path, int(value) if len(value) < 400 else 10**400
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}.{index}")


def out_of_range_field(request: Request) -> str | None:
    """Which parameter of a request holds the number the database could not take: the
    largest beyond an integer column's range, in the path, the query or the body the route
    read (a JSON body or a form, as the request kept it); None when none is."""
    found = [*_numbers(dict(request.path_params), ""),
             *_numbers({k: v for k, v in request.query_params.multi_items()}, "")]
    body = getattr(request, "_body", None)  # what the route read, kept by the request
    form = getattr(request, "_form", None)
    if form is not None:
        found += _numbers({k: form.getlist(k) if len(form.getlist(k)) > 1 else v
                           for k, v in form.items()}, "")
    elif body:
        try:
            found += _numbers(json.loads(body), "")
        except ValueError:
            pass
    beyond = [(abs(number), path) for path, number in found if abs(number) > INT4]
    return max(beyond)[1] if beyond else None

# Pages load scripts and styles from this site only (templates/static), never inline, so an
# injected <script> or style="" does nothing; no other site may frame a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    # the survey page asks for the phone's location and camera; nothing else may
    (b"permissions-policy", b"geolocation=(self), camera=(self), microphone=(), payment=(), "
                            b"usb=()"),
]


class SecurityHeaders:
    """The same security headers on every answer: pages, API, errors and static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A response with a policy of its own (a document: claims.api.documents)
                # keeps it; every other header is the same everywhere.
                own = [h for h in message.get("headers", [])
                       if h[0].lower() == b"content-security-policy"]
                message["headers"] = [*message.get("headers", []), *(
                    SECURITY_HEADERS[1:] if own else SECURITY_HEADERS)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# What a request may carry before anyone is known: a sign-in form, a small API call.
ANONYMOUS_BODY = 64 * 1024


class BodyLimit:
    """Refuse a body larger than the request can need, before it is read (413): a stranger's
    300 MB of JSON to /api/events was parsed, in the thread that serves every request, before
    its missing token was noticed (10 s for everyone, 2.7 GB), and 2 GB posted to /login
    without a session went to a temporary file (a security tester's). Without a token or a
    session cookie a body is ANONYMOUS_BODY at most; multipart uploads up to the largest file
    an import or a document upload takes; any other body FANGPIN_MAX_BODY_BYTES. A body sent
    without its length is cut off at the limit. A body larger than a stranger's waits for its
    token or session cookie to be known: a made-up token had been given 128 MB."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    async def known_caller(scope: Scope) -> bool:
        """Whether the request's bearer token, or else its session cookie, is one the service
        knows, read over the app's own request sessions (a test's database too)."""
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        # read as the pages read it: another site's cookie with a space had hidden the
        # session from Python's own parser, and a signed-in upload was refused (a tester's)
        key = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(
            web_session.COOKIE, "")
        if scope.get("path", "").startswith("/api/"):
            key = ""  # no API route signs anyone in by a cookie
        if not (scheme.lower() == "bearer" and token.strip()) and not key:
            return False
        settings = get_settings()
        made = scope["app"].dependency_overrides.get(get_session, get_session)()
        session = await anext(made) if inspect.isasyncgen(made) else made  # a test's own
        try:
            return await run_in_threadpool(
                auth.known_token, session, token.strip()) if scheme.lower() == "bearer" \
                else await run_in_threadpool(web_session.known, session, key, settings)
        finally:
            if inspect.isasyncgen(made):
                await made.aclose()

    @staticmethod
    def limit(scope: Scope) -> int:
        headers = dict(scope.get("headers") or [])
        cookies = headers.get(b"cookie", b"")
        if scope.get("path") == "/login" or (b"authorization" not in headers
                                             and web_session.COOKIE.encode() not in cookies):
            return ANONYMOUS_BODY  # a sign-in form whatever cookie it carries
        settings = get_settings()
        if headers.get(b"content-type", b"").startswith(b"multipart/"):
            return max(ImportLimits().max_bytes,
                       settings.documents_max_bytes * settings.documents_max_files) + 2**20
        return settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if limit > ANONYMOUS_BODY and (
                (declared is not None and declared.isdigit()
                 and int(declared) <= ANONYMOUS_BODY) or not await self.known_caller(scope)):
            # a body that says it is small is held to it: a chunked one is read by its
            # chunks whatever length it declares, and a declared 10 bytes had let a made-up
            # token's 50 MB by (a hostile tester's)
            limit = ANONYMOUS_BODY
        if declared is not None and declared.isdigit() and int(declared) > limit:
            answer = JSONResponse({"error": "too_large", "field": "body", "message": (
                f"the request's body is {int(declared):,} bytes: at most {limit:,} are "
                "taken here")}, status_code=413, headers={"Connection": "close"})
            await answer(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # no length declared: stop reading, as a client gone
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


class ErrorOut(BaseModel):
    """Every error answer: what went wrong, and where it is about one input, the field and
    the value (a refused body also lists pydantic's findings under ``detail``)."""

    error: str
    message: str
    field: str | None = None
    value: str | None = None
    detail: list[dict] | None = None
    code: str | None = None  # the rule broken, where a service names it (claims.assignment)


ERROR_ANSWERS = {
    400: "the body is not well-formed JSON or form data",
    401: "no token, or an unknown or revoked one",
    403: "the caller's role or key may not do this",
    404: "what the path names does not exist",
    409: "the request conflicts with what is stored (a duplicate, or a state that does not "
         "allow it)",
    422: "a field, parameter or value is invalid; the answer names it",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _dependants(dependant):
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def error_answers(route) -> set[int]:
    """The error statuses an operation can answer with, read from what it depends on: a
    token (401, 403), a path or a query naming a row (404), a write (409), a body (400,
    422), any parameter (422)."""
    dependants = list(_dependants(route.dependant))
    path = [p for d in dependants for p in d.path_params]
    query = [p for d in dependants for p in d.query_params]
    body = [p for d in dependants for p in d.body_params]
    codes = set()
    if current_actor in {d.call for d in dependants}:
        codes |= {401, 403}
    if path or any(p.name.endswith("_id") for p in query):
        codes.add(404)
    if route.methods & WRITES:
        codes.add(409)
    if body:
        codes |= {400, 422}
    if query or path:
        codes.add(422)
    return codes


def document_errors(app: FastAPI) -> None:
    """List each operation's real error answers in the OpenAPI document, with the one error
    shape they share (FastAPI by itself lists only 422, in a shape this API does not use)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ErrorOut.model_json_schema()
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        # Each route as included, with its router's dependencies (the token check).
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods:
                answers = document["paths"][route.path_format][method.lower()]["responses"]
                if answers.get("422", {}).get("description") == "Validation Error":
                    del answers["422"]  # FastAPI's own, in a shape this API does not answer
                for code in sorted(error_answers(route)):
                    answer = answers.setdefault(str(code), {"description": ERROR_ANSWERS[code]})
                    answer["content"] = error
        return document

    app.openapi = openapi


def _finite(value):
    """JSON has no NaN or Infinity (Python's reader takes them anyway): echo them as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def create_app() -> FastAPI:
    clock.use_county_clock(get_settings().timezone)
    # The API documentation is served from the installed swagger-ui-bundle package: no page
    # of fangpin loads anything from the internet.
    app = FastAPI(title="fangpin", version=VERSION, description=DESCRIPTION, docs_url=None,
                  redoc_url=None, lifespan=lifespan,
                  dependencies=[Depends(known_fields_only), Depends(web_pages.known_page_fields)])
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.mount("/static/app", StaticFiles(directory=TEMPLATES / "static"), name="app-static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        # what a browser asks for where a page names no icon (the API's JSON, a file)
        return FileResponse(TEMPLATES / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):
        # Swagger UI is started by a script file, not an inline one: the page passes the CSP.
        return web_pages.render(request, "api_docs.html")

    @app.exception_handler(RequestValidationError)
    def _invalid_request(request: Request, exc: RequestValidationError):
        # The same shape as every other error (field, value, message), with pydantic's full
        # list kept under "detail"; a page's, on the error page.
        first = exc.errors()[0]
        # a union's member is pydantic's tag, no field (monitoring_category.str-enum[…])
        location = [str(p) for p in first["loc"] if p not in ("body", "query", "path")
                    and not re.fullmatch(r"[\w-]+\[.*\]", str(p))]
        named = getattr(first.get("ctx", {}).get("error"), "field", None)
        if not location and isinstance(named, str):
            # a rule over several fields (a contract's dates) names the one to correct
            location = [named]
        value = first.get("input")
        if web_pages.is_page(request.url.path):
            # the page names the field by its label where one is known (村, not village)
            label = parameter_label(location[0]) if location else None
            gettext = translator(web_pages.language_of(request))
            return web_pages.error_page(request, 422, gettext(INVALID_VALUE, field=gettext(
                label) if label else ".".join(location) or "—"))
        return JSONResponse(
            {"error": "InvalidInput",
             "message": f"{'.'.join(location) or 'request'}: "
                        f"{first['msg'].removeprefix('Value error, ')}",
             "field": ".".join(location) or None,
             "value": None if isinstance(value, dict | list) or value is None else str(value),
             "detail": _finite(jsonable_encoder(exc.errors(), exclude={"ctx", "url"}))},
            status_code=422,
        )
    clerks = [Depends(staff(Role.clerk))]
    # The departments' events first: a request is matched against the routes in order, and
    # a surge of single events is what the service answers most (no path overlaps).
    app.include_router(events_api.router)
    app.include_router(events_api.quarantine)
    app.include_router(registry_api.searches)  # every staff member's, as the GET
    app.include_router(registry_api.router, dependencies=clerks)
    app.include_router(imports_api.router)  # each route names who may import
    app.include_router(benefits_api.router)
    app.include_router(assignment_api.router)  # before claims_api: /api/claims/assignments
    app.include_router(claims_api.router)
    app.include_router(payments_api.router)
    app.include_router(admin_api.router)
    app.include_router(risk_api.router)
    app.include_router(monitoring_api.router)
    app.include_router(bulk_api.router)
    app.include_router(catastrophes_api.router)
    app.include_router(web_pages.router)
    app.include_router(web_office.router)
    app.include_router(web_monitoring.router)
    app.include_router(web_printed.router)
    app.include_router(web_bulk.router)
    app.include_router(web_catastrophes.router)
    app.include_router(documents_api.router)
    app.include_router(web_documents.router)
    app.include_router(web_work.router)
    app.include_router(web_config.router)
    app.include_router(web_audit.router)

    @app.exception_handler(web_pages.PageError)
    def _page_error(request: Request, exc: web_pages.PageError):
        return web_pages.error_page(request, exc.status, exc.message)

    @app.exception_handler(web_pages.FollowedLink)
    def _followed_link(request: Request, _exc: web_pages.FollowedLink):
        return web_pages.followed_link_page(request)

    @app.exception_handler(web_pages.NeedLogin)
    def _need_login(_request: Request, exc: web_pages.NeedLogin):
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException):
        # Starlette's own refusals (a body that is not JSON, an unknown path, a wrong method)
        # in the shape of every other error, or on the error page.
        if web_pages.is_page(request.url.path):
            return web_pages.error_page(request, exc.status_code, web_pages.text_for(
                request, PAGE_ERRORS.get(exc.status_code, REQUEST_FAILED)), exc.headers)
        return JSONResponse({"error": HTTPStatus(exc.status_code).phrase.replace(" ", ""),
                             "message": str(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DomainError)
    def _domain_error(request: Request, exc: DomainError):
        if web_pages.is_page(request.url.path):
            return web_pages.error_page(request, exc.status_code, web_pages.refusal(
                exc, translator(web_pages.language_of(request))))
        # a refusal may quote a stored value (a quote's stored event): any ID number, card or
        # mobile number in it masked, as every reader gets them
        return JSONResponse(masking.in_texts(exc.as_dict()), status_code=exc.status_code)

    @app.exception_handler(sa.exc.IntegrityError)
    def _integrity_error(request: Request, exc: sa.exc.IntegrityError):
        # Two writers raced past a service's check; the database kept the first. Its own
        # message names tables and values, so it goes to the log, not to the client.
        log.warning("integrity error: %s", str(exc.orig).splitlines()[0])
        if web_pages.is_page(request.url.path):
            return web_pages.error_page(request, 409, web_pages.text_for(request,
                                                                         SAVED_AT_ONCE))
        return JSONResponse(
            {"error": "Conflict",
             "message": "another request stored the same value at the same moment; reload "
                        "and try again"},
            status_code=409,
        )

    @app.exception_handler(sa.exc.OperationalError)
    def _database_down(request: Request, exc: sa.exc.OperationalError):
        if locks.is_transient(exc):
            raise exc  # a lock or a deadlock: claims.locks.RetryTransient runs it again
        # not the request's fault, and not the code's: the database is gone or full (a
        # department's retry logic had been told "server failed", 500; an operator's)
        log.error("the database cannot serve %s %s: %s", request.method,
                  masking.in_text(request.url.path), str(exc.orig).splitlines()[0])
        if web_pages.is_page(request.url.path):
            return web_pages.error_page(request, 503, web_pages.text_for(request,
                                                                         DATABASE_DOWN))
        return JSONResponse(
            {"error": "Unavailable", "message": "the database cannot be reached or cannot "
             "store anything now; nothing was saved: try again in a few minutes"},
            status_code=503, headers={"Retry-After": "60"})

    @app.exception_handler(OverflowError)
    @app.exception_handler(sa.exc.DataError)
    def _out_of_range(request: Request, exc: Exception):
        # An id or number beyond what the database column holds (SQLite raises
        # OverflowError, PostgreSQL a DataError): the request's fault, not the server's;
        # the parameter named where the request shows which.
        field = out_of_range_field(request)
        if web_pages.is_page(request.url.path):
            gettext = translator(web_pages.language_of(request))
            if field is None:
                return web_pages.error_page(request, 422, gettext(OUT_OF_RANGE))
            label = parameter_label(field.split(".")[0])
            return web_pages.error_page(request, 422, gettext(
                OUT_OF_RANGE_FIELD, field=gettext(label) if label else field))
        return JSONResponse({"error": "InvalidInput",
                             "message": "a number or date in the request is out of range",
                             **({"field": field} if field else {})},
                            status_code=422)

    # Inside the request log: a request retried after a transient database error is one
    # request, answered as if nothing had happened (claims.locks).
    app.add_middleware(locks.RetryTransient)
    app.add_middleware(RequestLog)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: a 500 of RequestLog carries them too
    document_errors(app)

    @app.get("/healthz", tags=["operations"],
             responses={503: {"description": "the database cannot be reached"}})
    def healthz(session: SessionDep):
        """Database reachable, schema revision and version."""
        try:
            revision = session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.SQLAlchemyError:
            # the driver's words go to the log, not to whoever asks: they named the server,
            # its port and the database role (a security tester's)
            log.exception("health check: the database cannot be reached")
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable", "version": VERSION},
                status_code=503,
            )
        if revision != SCHEMA_HEAD:
            # the database was migrated under a running service (its code writes the old
            # shape: an operator's income correction skipped the history 0024 keeps), or not
            # yet: restart it on the code of the database's revision
            return JSONResponse(
                {"status": "unavailable", "database": "schema_mismatch",
                 "schema_revision": revision, "code_schema_revision": SCHEMA_HEAD,
                 "version": VERSION}, status_code=503)
        return {"status": "ok", "database": "ok", "schema_revision": revision, "version": VERSION}

    return app
