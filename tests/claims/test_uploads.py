"""Every upload of the app, API and pages alike, honours the size limit: a walk over the route
table finds each route that takes a file and sends it one byte too many."""

from __future__ import annotations

from fastapi import UploadFile
from fastapi.routing import APIRoute
from sqlmodel import select

from claims.models import PaymentBatch
from tests.claims.conftest import DEPARTMENT_KEY
from tests.claims.test_lifecycle import act, to_approval
from tests.claims.test_web import browser, csrf_of  # noqa: F401  (the fixture)

LIMIT = 64


def api_routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from api_routes(route.original_router.routes)


def file_routes(app) -> set[str]:
    """Every route whose body takes a file, found from the app itself."""
    return {route.path for route in api_routes(app.routes) if any(
        param.field_info.annotation is UploadFile for param in route.dependant.body_params)}


def test_every_upload_refuses_a_file_over_the_limit(app, staff, client, session, claim,
                                                    browser, monkeypatch):  # noqa: F811
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    batch = client.post("/api/payment-batches").json()["id"]
    supervisor, clerk = browser("supervisor", language="en"), browser("clerk", language="en")
    batch_csrf = csrf_of(supervisor.get(f"/payments/{batch}").text)
    monitoring_csrf = csrf_of(clerk.get("/monitoring").text)
    department = {"Authorization": f"Bearer {DEPARTMENT_KEY}"}
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_BYTES", str(LIMIT))
    too_big = ("big.csv", b"payment_id,status\n" + b"1,paid\n" * 20)
    assert len(too_big[1]) > LIMIT  # and otherwise a plain, small CSV

    senders = {
        "/api/events/file": lambda f: client.post(
            "/api/events/file", files={"file": f}, headers=department),
        "/api/imports/households": lambda f: client.post(
            "/api/imports/households", files={"file": f}),
        "/api/imports/income-reports": lambda f: client.post(
            "/api/imports/income-reports", files={"file": f}),
        "/api/payment-batches/{batch_id}/confirmation": lambda f: client.post(
            f"/api/payment-batches/{batch}/confirmation", files={"file": f}),
        "/payments/{batch_id}/confirmation": lambda f: supervisor.post(
            f"/payments/{batch}/confirmation", data={"csrf_token": batch_csrf},
            files={"file": f}),
        "/monitoring/import": lambda f: clerk.post(
            "/monitoring/import", data={"csrf_token": monitoring_csrf}, files={"file": f}),
    }
    assert file_routes(app) == set(senders), "a route takes a file: add it here"
    for path, send in senders.items():
        answer = send(too_big)
        assert answer.status_code == 422, (path, answer.status_code, answer.text[:300])
        assert "FANGPIN_IMPORT_MAX_BYTES" in answer.text, path
    session.expire_all()
    assert session.exec(select(PaymentBatch)).one().id == batch
    # at the limit itself, the bank's answer is read
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_BYTES", str(len(b"payment_id,status\n1,paid\n")))
    answer = client.post(f"/api/payment-batches/{batch}/confirmation",
                         files={"file": ("ok.csv", b"payment_id,status\n1,paid\n")})
    assert answer.status_code == 200, answer.text
