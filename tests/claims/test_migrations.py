import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from claims import migrate
from claims.db import make_engine, refresh_statistics
from claims.models import Claim
from claims.web import pages
from tests.conftest import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path_factory):
    yield from database_url(request.param, tmp_path_factory, "migrations")


# Expression indexes: SQLite's inspector does not reflect them and PostgreSQL's rewrites the
# expression, so autogenerate cannot compare them; test_the_queues_first_page_is_read_from_an_index
# checks that each exists and serves its query.
EXPRESSION_INDEXES = {"ix_claim_closed_due", "ix_claim_trigger_closed_due"}


def tables(url: str) -> set[str]:
    """The schema's tables, and its indexes and columns as table.name."""
    engine = make_engine(url)
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names())
    names |= {f"{table}.{index['name']}" for table in list(names)
              for index in inspector.get_indexes(table)}
    names |= {f"{table}.{column['name']}" for table in list(names) if "." not in table
              for column in inspector.get_columns(table)}
    engine.dispose()
    return names


def test_empty_database_upgrades_to_head_and_back_down_to_0010(empty_url):
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == head
    at_head = tables(empty_url)
    assert {"household", "member", "income_record", "policy_contract", "claim"} <= at_head

    # back to 0010: what the revisions after it added (a table and columns) is gone, what they
    # dropped (the sign-in lock columns) is back, and the rest remains
    migrate.downgrade(empty_url, "0010")
    assert migrate.current_revision(empty_url) == "0010"
    one_down = tables(empty_url)
    added = {"login_throttle", "trigger_event.same_loss_of", "app_user.may_export",
             "api_client.event_types"}
    assert added <= at_head and not added & one_down
    assert {"app_user.failed_logins", "app_user.locked_until"} <= one_down - at_head
    assert {"household", "member", "policy_contract", "claim"} <= one_down

    migrate.upgrade(empty_url)  # and up again: the downgrade left a clean state
    assert migrate.current_revision(empty_url) == head


def test_migrations_build_exactly_the_schema_the_models_describe(empty_url):
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, SQLModel.metadata)
                       if not (d[0] in ("add_index", "remove_index")
                               and d[1].name in EXPRESSION_INDEXES)]
    engine.dispose()
    assert differences == []


@pytest.mark.parametrize("kept", [{}, {"trigger": "illness"}, {"state": "approval"}])
def test_the_queues_first_page_is_read_from_an_index(empty_url, kept):
    """The claims queue's default order (open claims first, then by due date), alone or with
    a trigger or a state kept, walks an index rather than sorting the claims: at a million
    claims a sort costs a second per page."""
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    where = [getattr(Claim, name) == value for name, value in kept.items()]
    order = pages.queue_order(pages.QueueFilter(**kept))
    query = str(sa.select(Claim.id).where(*where).order_by(*order).limit(50).compile(
        engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # An empty table is cheapest to sort: forbid the sort, so a plan that still sorts
            # is one no index can serve.
            conn.execute(sa.text("SET enable_sort = off"))
            conn.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(str(row) for row in conn.execute(sa.text("EXPLAIN " + (
            "QUERY PLAN " if engine.dialect.name == "sqlite" else "") + query)))
    engine.dispose()
    assert "ix_claim_" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_on_postgresql_each_runs_scores_are_a_partition_and_survive_the_migration(
        tmp_path_factory):
    from datetime import date

    from sqlmodel import Session

    from policies import history
    from risk.models import ScoreRun
    from tests.factories import county_with_villages, household_with_members

    for url in database_url("postgresql", tmp_path_factory, "partitions"):
        migrate.upgrade(url, "0009")
        engine = make_engine(url)
        # At 0009 there is no registry history yet (0015 creates it from these rows).
        with Session(engine, info={history.OFF: True}) as session:
            ids = county_with_villages(session, villages=1)
            household, _ = household_with_members(session, ids["village0"], members=2)
            run = ScoreRun(night=date(2026, 12, 1), model_version="m", as_of_year=2026,
                           started_by="test", threshold=0.5, rise=0.25)
            session.add(run)
            session.flush()
            # the table as 0009 made it (no population column yet)
            session.execute(sa.text(
                "INSERT INTO household_score (run_id, household_id, score) VALUES (:r, :h, 0.42)"
            ), {"r": run.id, "h": household.id})
            session.commit()
            run_id = run.id
        engine.dispose()

        def kind_and_rows(url: str = url) -> tuple[str, list]:
            engine = make_engine(url)
            with engine.connect() as conn:
                kind = conn.execute(sa.text(
                    "SELECT relkind FROM pg_class WHERE oid = 'household_score'::regclass"
                )).scalar()
                rows = conn.execute(sa.text(
                    "SELECT run_id, score FROM household_score")).all()
            engine.dispose()
            return kind, [tuple(r) for r in rows]

        migrate.upgrade(url)
        assert kind_and_rows() == ("p", [(run_id, 0.42)])  # partitioned, the score kept
        migrate.downgrade(url, "0009")
        assert kind_and_rows() == ("r", [(run_id, 0.42)])


def test_the_nights_statistics_reach_sqlites_planner(empty_url):
    """The nightly job leaves the planner the tables' sizes (SQLite keeps none by itself;
    PostgreSQL's autovacuum does), so it reads overdue claims by risk from an index."""
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    refresh_statistics(engine)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 1
    engine.dispose()


def test_an_alerts_and_a_follow_ups_household_is_their_windows_across_0023(empty_url):
    """0023 checks an alert's and a follow-up's window and household as one key: a watched
    county's rows (assistance given under its follow-ups too) survive the upgrade and the
    downgrade, and at head an alert naming another household than its window's is refused."""
    from datetime import date

    from sqlmodel import Session

    from tests.claims.test_monitoring_sets import watched_county

    # the county is written by today's models, so at head, then taken back to 0022
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    with Session(engine) as session:
        watched_county(session, 40, seed=3, today=date(2026, 12, 1))
    engine.dispose()
    migrate.downgrade(empty_url, "0022")
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO assistance (follow_up_id, kind, description, given_on, reference, "
            "recorded_by, recorded_at) SELECT min(id), 'employment', 'a job found', "
            "'2026-11-30', '', 'clerk', '2026-11-30 08:00:00' FROM follow_up"))
    engine.dispose()

    def rows() -> dict[str, list]:
        engine = make_engine(empty_url)
        with engine.connect() as conn:
            found = {table: [tuple(row) for row in conn.execute(sa.text(
                f"SELECT * FROM {table} ORDER BY id"))]
                for table in ("monitoring_alert", "follow_up", "assistance")}
        engine.dispose()
        return found

    before = rows()
    assert all(before.values())
    migrate.upgrade(empty_url)
    assert rows() == before
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        window, household = conn.execute(sa.text(
            "SELECT id, household_id FROM monitoring_window ORDER BY id")).first()
        other = conn.execute(sa.text("SELECT id FROM household WHERE id <> :h"),
                             {"h": household}).scalar()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO monitoring_alert (window_id, household_id, kind, figures, raised_on, "
            "status) VALUES (:w, :h, 'income_drop', '{}', '2026-12-01', 'closed')"),
            {"w": window, "h": other})
    engine.dispose()
    migrate.downgrade(empty_url, "0022")
    assert rows() == before
