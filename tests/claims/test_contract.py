"""The OpenAPI document is the API's contract: schemathesis generates requests for every
operation from the document alone (valid and invalid ones) and each answer must be one the
document lists for that operation, in the shape it documents, and never a server error.

A few examples per operation keep the suite fast; FANGPIN_SCHEMATHESIS_EXAMPLES=N runs N per
operation and generation mode (e.g. 100 before a release). On SQLite and PostgreSQL, over a
county with real rows so that ids in paths sometimes exist.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from claims.app import create_app
from claims.auth import SYSTEM
from claims.db import get_session, sessions_on
from claims.people import create_user
from tests.claims.conftest import build_county

EXAMPLES = int(os.environ.get("FANGPIN_SCHEMATHESIS_EXAMPLES", "4"))
TOKEN = "fpu_contract-admin"
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# No 500; only statuses the document lists for the operation; bodies in the documented shape.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_every_operation_answers_as_its_document_says(own_engine):
    with Session(own_engine) as session:
        build_county(session)
        create_user(session, SYSTEM, username="contract-admin", full_name="契约管理员",
                    role="admin", token=TOKEN)
        session.commit()
    app = create_app()
    app.dependency_overrides[get_session] = sessions_on(lambda: own_engine)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60  # the whole API, not a part of it

    failures: dict[str, str] = {}
    calls = 0
    for operation in operations:
        for mode in MODES:
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def answer(case):
                nonlocal calls
                calls += 1
                response = case.call(app=app, headers={"Authorization": f"Bearer {TOKEN}"})
                case.validate_response(response, checks=CHECKS)

            try:
                answer()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # one report for the whole API
                failures[f"{operation.label} ({mode.value})"] = _summary(exc)
    print(f"schemathesis: {len(operations)} operations, {calls} requests, "
          f"{EXAMPLES} examples per operation and mode")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def _summary(exc: BaseException) -> str:
    """What failed and the request that shows it."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines()
             if line.strip().startswith(("- ST", "Received:", "Documented:", "curl "))]
    return "\n".join(lines) or text[:800]
