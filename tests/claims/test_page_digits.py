"""Every page route, walked from the app's route table, given a superscript digit ("²":
str.isdigit() takes it, int() refuses it) in every query parameter and every form field its
handlers read, as the office's administrator and a supervisor: a refusal or a page, never a
server error. Found on the catastrophe and village forms (6 Dec 2026), then looked for on
every page. And every page's query parameter given letters: refused in the reader's words.
SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

from claims.app import _dependants
from tests.claims.conftest import build_county
from tests.claims.test_web import browser  # noqa: F401 — the pages' fixture

WEB = Path(__file__).resolve().parents[2] / "claims" / "web"
SKIP = ("/api", "/static", "/login", "/logout", "/docs", "/openapi", "/redoc", "/healthz")


def fields_read() -> set[str]:
    """The names of the form fields the page handlers read: form.get("…"), getlist("…"),
    form_numbers(…, "…") and Form() parameters, found in their source."""
    names: set[str] = set()
    for source in WEB.glob("*.py"):
        text = source.read_text()
        names.update(re.findall(r"""(?:form\.get|getlist)\(["']([a-z_0-9]+)["']""", text))
        names.update(re.findall(r"""form_numbers\(\w+, \w+, ["']([a-z_0-9]+)["']""", text))
        names.update(re.findall(r"^\s+([a-z_0-9]+): Annotated\[\w+(?: \| None)?, Form\(",
                                text, re.M))
    return names - {"csrf_token"}


def test_no_page_fails_on_a_superscript_digit(app, session, browser):  # noqa: F811
    build_county(session)
    session.commit()
    names = fields_read()
    assert {"village", "claim_id", "regions", "townships", "client_id"} <= names
    routes = [(c.path, c.original_route) for c in iter_route_contexts(app.routes)
              if isinstance(c.original_route, APIRoute) and not c.path.startswith(SKIP)]
    assert len(routes) > 40
    for role in ("admin", "supervisor"):
        page = browser(role)
        token = page.get("/").text.split('name="csrf_token" value="')[1].split('"')[0]
        for template, route in routes:
            path = re.sub(r"\{[^}]+\}", "1", template)
            query = {p.alias: "²" for p in route.dependant.query_params}
            for method in sorted(route.methods - {"HEAD"}):
                if method == "GET":
                    answer = page.get(path, params={**query, **dict.fromkeys(names, "²")})
                else:
                    answer = page.request(method, path, params=query, data={
                        "csrf_token": token, **dict.fromkeys(names, "²")})
                assert answer.status_code < 500, (role, method, template, answer.text[:300])


# The error page's message, and an error shown on a page of its own.
MESSAGES = re.compile(r'<div class="card medium">\s*<h1>.*?</h1>\s*<p>(.*?)</p>'
                      r'|class="error"[^>]*>(.*?)</', re.S)


def test_a_refused_query_names_the_parameter_in_chinese(app, session, browser):  # noqa: F811
    """Every query parameter of every page, given letters ("abc"): a refusal that names the
    parameter names it by its label (页码, 年度), never by its name in the address (page,
    year), and never a server error. Found on /claims?page=abc and the outcomes' year."""
    build_county(session)
    session.commit()
    routes = [(c.path, c.original_route) for c in iter_route_contexts(app.routes)
              if isinstance(c.original_route, APIRoute) and not c.path.startswith(SKIP)
              and "GET" in c.original_route.methods]
    refused = set()
    for role in ("admin", "supervisor"):
        page = browser(role)
        for template, route in routes:
            path = re.sub(r"\{[^}]+\}", "1", template)
            for name in {p.alias for d in _dependants(route.dependant) for p in d.query_params}:
                answer = page.get(path, params={name: "abc"}, follow_redirects=False)
                assert answer.status_code < 500, (role, template, name, answer.text[:300])
                said = " ".join(a or b for a, b in MESSAGES.findall(answer.text))
                raw = rf"(?<![A-Za-z0-9_-]){name}(?![A-Za-z0-9_-])"  # the name, not in a word
                assert not re.search(raw, said), (template, said)
                if answer.status_code == 422:
                    refused.add((template, name))
    assert {("/claims", "page"), ("/monitoring/outcomes", "year"), ("/audit", "before"),
            ("/config/terms", "in_force")} <= refused



def test_a_refused_filter_or_address_names_what_was_wrong(session, browser):  # noqa: F811
    """A list's filter (金额从, 乡镇 …) and an id in the address are named by their labels:
    "“abc”不是数字" alone did not say which of the queue's filters was wrong."""
    build_county(session)
    session.commit()
    supervisor = browser("supervisor")
    for path, params, label in (
            ("/claims", {"min_amount": "abc"}, "金额从"),
            ("/claims", {"max_amount": "-1"}, "金额至"),
            ("/claims", {"township": "abc"}, "乡镇"), ("/claims", {"min_risk": "2"}, "风险不低于"),
            ("/warnings", {"township": "x"}, "乡镇"),
            ("/warnings", {"max_score": "x"}, "风险分最高"),
            ("/payments/abc", {}, "支付批次"), ("/config/contracts/abc", {}, "保单"),
            ("/config/lines/abc", {}, "监测线")):
        answer = supervisor.get(path, params=params)
        said = " ".join(a or b for a, b in MESSAGES.findall(answer.text))
        assert answer.status_code == 422 and label in said, (path, params, said)
