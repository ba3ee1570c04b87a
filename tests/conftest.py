"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is taken from FANGPIN_TEST_POSTGRES_URL (default: the local server, database
``test``), in a schema of its own that is dropped afterwards. Where it is not reachable the
PostgreSQL half is skipped with the reason, unless FANGPIN_REQUIRE_POSTGRES=1 (as in CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests run the evaluator themselves, over their own session (tests/claims/conftest.py).
os.environ["FANGPIN_EVALUATE_EVENTS"] = "separately"
# Signed audit heads belong to one database: a test that signs one names its own file.
os.environ["FANGPIN_AUDIT_ANCHOR_FILE"] = ""
# One OpenMP thread per process unless told otherwise: the suite runs the server, the command
# line and Dask workers side by side on two cores, and scikit-learn's boosting with a thread
# per core in each of them trained 4–6 times slower here (a command-line training test took
# 284 s instead of 72). Read when the library loads, so set before anything imports it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Documents uploaded by tests go to a directory of the run's own, never to var/documents.
os.environ.setdefault("FANGPIN_DOCUMENTS_DIR", tempfile.mkdtemp(prefix="fangpin-documents-"))
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from claims import migrate
from claims.app import create_app
from claims.db import get_session, make_engine

POSTGRES_URL = os.environ.get(
    "FANGPIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("FANGPIN_REQUIRE_POSTGRES") == "1"


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver or network error means "not here"
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}"
    return None


def database_url(kind: str, tmp_path_factory, name: str) -> Iterator[str]:
    """A fresh, empty database of the given kind; removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp(name)}/fangpin.db"
        return
    reason = postgres_unavailable()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason} (FANGPIN_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    schema = f"fangpin_{name}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    # A test's schema is dropped at its end: its commits need not wait for the disk (a tenth
    # of a PostgreSQL test's time here). Nothing else changes: a commit is seen by every
    # other connection at once, and a killed client loses nothing the server has.
    yield (f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
           "%20-csynchronous_commit%3Doff")
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def forget_process_state() -> None:
    """What the service remembers between requests (who a token is, which event types
    exist) belongs to one database; each test's database is rolled back or new."""
    from claims import auth, intake
    from claims.web import pages

    auth.forget_actors()
    intake.forget_known_types()
    pages.forget_dashboards()


@pytest.fixture(autouse=True)
def _fresh_process_state():
    forget_process_state()
    yield


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database of each kind, shared by the session's tests."""
    for url in database_url(request.param, tmp_path_factory, "suite"):
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    """A session whose commits become savepoints of a transaction rolled back at the end."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      expire_on_commit=False)
    yield session
    session.close()
    outer.rollback()
    connection.close()


ADMIN_TOKEN = "fpu_test-admin-token"


@pytest.fixture
def app(session):
    app = create_app()
    app.dependency_overrides[get_session] = lambda: session
    return app


@pytest.fixture
def client(app, session) -> Iterator[TestClient]:
    """An administrator's client (every permission)."""
    from claims.auth import SYSTEM
    from claims.people import create_user

    create_user(session, SYSTEM, username="test-admin", full_name="测试管理员", role="admin",
                token=ADMIN_TOKEN)
    session.commit()
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


@pytest.fixture
def as_user(app, session):
    """A client for a new user of a role: ``as_user("adjudicator", approval_limit=...)``."""
    from claims.auth import SYSTEM
    from claims.people import create_user

    clients = []

    def make(role: str, username: str | None = None, **fields) -> TestClient:
        username = username or f"{role}-{len(clients)}"
        user, token = create_user(session, SYSTEM, username=username, full_name=username,
                                  role=role, **fields)
        session.commit()
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        client.user = user
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def pytest_terminal_summary(terminalreporter):
    """Say plainly when the PostgreSQL half of the suite did not run."""
    reason = postgres_unavailable()
    if reason:
        terminalreporter.write_line(
            f"NOTE: PostgreSQL tests were SKIPPED — {reason}. Only SQLite was tested.",
            yellow=True, bold=True,
        )
    else:
        terminalreporter.write_line("Databases tested: SQLite and PostgreSQL.")
    if not Path("/usr/bin/chromium").exists():
        terminalreporter.write_line(
            "NOTE: the browser tests were SKIPPED — no /usr/bin/chromium (apt-get install "
            "chromium chromium-driver fonts-noto-cjk).", yellow=True, bold=True)


# The heaviest files first, each file whole on one worker (scripts/test: --dist loadfile
# --no-loadscope-reorder), so that the two workers finish together. xdist's own order, by a
# file's number of tests, had left the phone walk over every page (two tests, 3½ minutes) to
# run last, alone. Seconds of a run on 8 December 2026; the rest follow in collection order.
HEAVY_FIRST = [
    "tests/claims/test_nightly.py",  # 308
    "tests/browser/test_every_page_phone.py",  # 210
    "tests/claims/test_every_page.py",  # 201
    "tests/risk/test_county_history.py",  # 151
    "tests/browser/test_workspace.py",  # 120
    "tests/claims/test_evaluator_bulk.py",  # 115
    "tests/claims/test_access.py",  # 106
    "tests/claims/test_cli_training.py",  # 101
    "tests/claims/test_web.py",  # 95
    "tests/browser/test_bulk_browser.py",  # 90
    "tests/claims/test_concurrency.py",  # 79
    "tests/claims/test_web_day.py",  # 69
    "tests/risk/test_training.py",  # 69
]


def pytest_collection_modifyitems(items):
    rank = {path: n for n, path in enumerate(HEAVY_FIRST)}
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.nodeid.split("::")[0], len(rank)),
                                 order[id(item)]))


@pytest.fixture(scope="session")
def dask_address() -> Iterator[str]:
    """A local Dask cluster of two worker processes, started as the service starts one
    (claims.distributed.cluster) and shared by the tests that compute on one: each start had
    cost its workers eight seconds of imports, six times a run."""
    from claims import distributed

    with distributed.cluster(None, workers=2) as client:
        yield client.scheduler.address
