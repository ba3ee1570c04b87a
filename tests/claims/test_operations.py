"""Operations: structured request logs."""

import json
import logging

from claims.logs import configure_logging


def test_each_request_is_logged_as_one_json_object(client, capsys):
    configure_logging("INFO", "json")
    try:
        response = client.get("/healthz", headers={"x-request-id": "abc123"})
        assert response.headers["x-request-id"] == "abc123"
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
                 if line.startswith("{")]
        request = next(line for line in lines if line.get("logger") == "fangpin.http")
        assert request["request_id"] == "abc123"
        assert request["path"] == "/healthz" and request["status"] == 200
        assert request["level"] == "INFO" and request["duration_ms"] >= 0
    finally:
        logging.getLogger().handlers.clear()


def test_id_numbers_are_masked_in_logs_and_failures_are_logged(session, capsys):
    from fastapi.testclient import TestClient

    from claims.app import create_app
    from claims.db import get_session

    app = create_app()
    app.dependency_overrides[get_session] = lambda: session

    @app.get("/api/boom")  # an API route answers JSON; a page's failure is a page
    def boom():
        raise RuntimeError("bug")

    configure_logging("INFO", "json")
    try:
        with TestClient(app) as client:
            client.get("/api/members/by-id-number/41108119650312001X")
            failed = client.get("/api/boom")
        assert failed.status_code == 500 and failed.json()["request_id"]
        err = capsys.readouterr().err
        assert "41108119650312001X" not in err
        assert "4110**********001X" in err
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any(line.get("path") == "/api/boom" and line.get("status") == 500 for line in lines)
        assert any("RuntimeError" in line.get("exc_info", "") for line in lines)
    finally:
        logging.getLogger().handlers.clear()


def test_the_api_documentation_loads_nothing_from_the_internet(client):
    page = client.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in page and "cdn" not in page
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_invalid_requests_name_the_field_like_every_other_error(client):
    response = client.get("/api/households", params={"limit": 5000})
    body = response.json()
    assert response.status_code == 422
    assert body["field"] == "limit" and body["value"] == "5000" and "limit" in body["message"]


def test_the_service_collects_its_young_objects_less_often_and_stops_when_it_stops(session):
    """A full collection under load stalled every request in flight (PostgreSQL's
    single-event p99: scripts/bench_intake.py); the process's own setting comes back after."""
    import gc

    from fastapi.testclient import TestClient

    from claims.app import SERVICE_YOUNG, create_app
    from claims.db import get_session

    found = gc.get_threshold()  # another test's service may have left its own
    gc.set_threshold(700, 10, 10)  # the interpreter's
    try:
        app = create_app()
        app.dependency_overrides[get_session] = lambda: session
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_threshold() == (SERVICE_YOUNG, 10, 10)
            assert SERVICE_YOUNG > 10 * 700
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*found)


def test_an_unreachable_database_is_said_without_the_drivers_words(caplog):
    """/healthz gave whoever asked the driver's error: the server, its port and the role."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from claims.app import create_app
    from claims.db import get_session

    class Down:
        def execute(self, *_args, **_kwargs):
            raise sa.exc.OperationalError("SELECT 1", {}, Exception(
                'connection to server at "127.0.0.1", port 5432 failed: FATAL: role '
                '"fangpin_app" does not exist'))

    app = create_app()
    app.dependency_overrides[get_session] = lambda: Down()
    with TestClient(app) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["database"] == "unreachable"
    assert "5432" not in answer.text and "fangpin_app" not in answer.text
    assert "fangpin_app" in caplog.text  # the operator reads it in the log


def test_a_text_log_line_is_one_line_whatever_the_path(client, capsys):
    """%0a in a request path had written a forged line into the text log."""
    configure_logging("INFO", "text")
    try:
        client.get("/no-such%0a2026-01-01 00:00:00,000 INFO    fangpin.http: forged")
        client.get("/z%1b%5b2K%1b%5b1Gcleared%e2%80%a8x")  # a terminal's escape, U+2028
        err = capsys.readouterr().err
        lines = err.splitlines()
        assert lines and not any(line.startswith("2026-01-01 00:00:00") for line in lines)
        assert any("\\n2026-01-01" in line for line in lines)
        assert "\x1b" not in err and "\u2028" not in err and "\\x1b[2K" in err
    finally:
        logging.getLogger().handlers.clear()


def test_a_traceback_in_the_log_is_masked_too(capsys):
    """Only the message was masked: an exception's words printed an ID number in full."""
    for fmt in ("json", "text"):
        configure_logging("INFO", fmt)
        try:
            try:
                raise ValueError("no household for 41108119650312001X")
            except ValueError:
                logging.getLogger("fangpin.test").exception("import failed")
            err = capsys.readouterr().err
            assert "41108119650312001X" not in err and "4110**********001X" in err, fmt
            assert "Traceback" in err and "ValueError" in err, fmt
        finally:
            logging.getLogger().handlers.clear()


def test_a_database_migrated_under_the_running_service_is_not_healthy(client, session):
    """Upgraded beneath a running service, /healthz said ok and the old code went on writing
    the old shape (an operator's): it says the schema and the code differ."""
    import sqlalchemy as sa

    assert client.get("/healthz").json()["database"] == "ok"
    session.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    session.commit()
    try:
        answer = client.get("/healthz")
        assert answer.status_code == 503 and answer.json()["database"] == "schema_mismatch"
        assert answer.json()["schema_revision"] == "9999"
    finally:
        from claims import migrate

        session.execute(sa.text("UPDATE alembic_version SET version_num = :head"),
                        {"head": migrate.head_revision()})
        session.commit()


def test_a_stopped_services_database_file_holds_its_last_transactions(tmp_path):
    """A copy of fangpin.db after the service stopped had lost 51 payments, still in the
    -wal file (an operator's): the connections are closed at the end, folding the log in."""
    import shutil
    import sqlite3

    from fastapi.testclient import TestClient

    from claims import db
    from claims.app import create_app
    from claims.migrate import upgrade
    from claims.settings import get_settings

    url = f"sqlite:///{tmp_path}/f.db"
    upgrade(url)
    settings = get_settings()
    before = (settings.database_url, db._engine)
    settings.database_url, db._engine = url, None
    try:
        with TestClient(create_app()) as client:
            assert client.get("/healthz").status_code == 200
            with db.get_engine().begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO region (code, name, level) VALUES ('411081', '禹州市', "
                    "'county')")
        shutil.copy(tmp_path / "f.db", tmp_path / "copy.db")  # the file alone
        copied = sqlite3.connect(tmp_path / "copy.db")
        assert copied.execute("SELECT count(*) FROM region").fetchone() == (1,)
        copied.close()
    finally:
        db.close_connections()
        settings.database_url, db._engine = before


def test_a_database_that_is_down_is_a_503_and_a_passing_lock_is_still_retried(session):
    """A database gone (or a full disk) answered 500 "server failed", which a department's
    retry logic may not retry (an operator's): 503 with Retry-After. A lock met once is still
    run again, not answered 503."""
    import sqlite3

    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from claims.app import create_app
    from claims.db import get_session

    app = create_app()
    app.dependency_overrides[get_session] = lambda: session
    tries = {"locked": 0}

    @app.get("/api/gone")
    def gone():
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    @app.get("/api/locked-once")
    def locked_once():
        tries["locked"] += 1
        if tries["locked"] == 1:
            raise sa.exc.OperationalError("UPDATE", {}, sqlite3.OperationalError(
                "database is locked"))
        return {"ok": True}

    with TestClient(app) as client:
        down = client.get("/api/gone")
        assert down.status_code == 503 and down.headers["retry-after"] == "60"
        assert "connection refused" not in down.text
        assert client.get("/api/locked-once").json() == {"ok": True} and tries["locked"] == 2
