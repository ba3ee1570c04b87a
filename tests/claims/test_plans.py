"""The chunk statements of the set-based jobs are answered through the ids they list, not
through an index on a status (SQLite).

The evaluator and the monitoring night read a chunk's rows by 500 ids or more and a status.
Without statistics SQLite's planner finds ``status = ?`` more selective than the list and
reads every open alert, follow-up or accepted event of the county through the status index,
for each chunk: a night of a million windows and a surge of a million events slowed chunk
by chunk. Every SELECT the two jobs send is planned here on SQLite, as the database has no
statistics yet, and none may search by a status (or a claim's state) alone.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from claims import clock, evaluator, intake, monitoring
from claims.auth import Actor
from claims.db import make_engine
from claims.migrate import upgrade
from claims.models import ApiClient
from tests.claims.test_evaluator_bulk import generated, people
from tests.claims.test_monitoring_sets import watched_county

BY_STATUS = re.compile(r"USING (COVERING )?INDEX \S+ \((status|state)=\?\)")


@pytest.fixture
def sqlite_engine(tmp_path):
    url = f"sqlite:///{tmp_path}/plans.db"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def statements(engine, run) -> list[tuple[str, object]]:
    """The SELECTs with an IN list that ``run`` sends, with their parameters (on any engine:
    the evaluator opens its own)."""
    sent: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and " IN (" in statement \
                and not executemany:
            sent.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
    return sent


def by_status(engine, sent) -> list[str]:
    raw = engine.raw_connection()
    try:
        found = []
        for statement, parameters in sent:
            plan = [row[3] for row in raw.cursor().execute(
                "EXPLAIN QUERY PLAN " + statement, parameters)]
            if any(BY_STATUS.search(line) for line in plan):
                found.append(f"{' '.join(statement.split())[:160]} … {plan}")
        return found
    finally:
        raw.close()


def received(engine) -> None:
    """300 generated events of the county's people, received and waiting."""
    with Session(engine) as session:
        ids = people(session)
        client_id = session.exec(select(ApiClient.id)).one()
        office = Actor("client", client_id, "扶贫办", organisation="poverty_office")
        intake.receive(session, office, generated(ids, 300))
        session.commit()


def test_the_evaluator_reads_a_chunk_by_its_households(sqlite_engine):
    received(sqlite_engine)
    sent = statements(sqlite_engine, lambda: evaluator.evaluate_all(sqlite_engine, chunk=100))
    assert len(sent) > 10
    assert by_status(sqlite_engine, sent) == []


def test_the_monitoring_night_reads_a_chunk_by_its_windows(sqlite_engine):
    today = clock.county_today()
    with Session(sqlite_engine) as session:
        watched_county(session, 120, seed=3, today=today)

    def night():
        with Session(sqlite_engine) as session:
            monitoring.evaluate(session, today + timedelta(days=95), chunk=60)
            session.commit()

    sent = statements(sqlite_engine, night)
    assert len(sent) > 10
    assert by_status(sqlite_engine, sent) == []


def test_on_postgresql_the_night_sends_a_chunk_s_ids_as_one_array(engine, session):
    """5,000 ids as 5,000 parameters cost more to render, send and parse than the rules took
    to judge the windows (policies.bulk.among); the night's every statement carries a few."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the ids as an IN list")
    today = clock.county_today()
    watched_county(session, 120, seed=3, today=today)
    sent: list[int] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            sent.append(len(parameters or ()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        counts = monitoring.evaluate(session, today + timedelta(days=95), chunk=20)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
    assert counts["windows"] > 20 and counts["alerts"] > 0  # chunks were read and judged
    assert len(sent) > 10
    assert max(sent) <= 10


def test_the_evaluator_writes_back_only_what_it_changed(sqlite_engine):
    """Setting ``same_loss_of`` (a key into the same table) made SQLite rewrite every index
    of the row and check every key: a chunk with no repeated report leaves it out, a chunk
    with one writes it."""
    received(sqlite_engine)
    updates: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE trigger_event SET"):
            updates.append(statement.split(" WHERE ")[0])

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    try:
        evaluator.evaluate_all(sqlite_engine, chunk=20)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
    with Session(sqlite_engine) as session:
        repeated = session.exec(sa.select(sa.func.count()).where(
            sa.column("same_loss_of").is_not(None)).select_from(sa.table("trigger_event"))).one()
    assert repeated[0] > 0  # the mix repeats some hospital stays
    assert any("same_loss_of" not in u for u in updates)
    assert sum("same_loss_of" in u for u in updates) <= repeated[0]
    assert all("status" in u for u in updates)
