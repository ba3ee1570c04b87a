"""Alembic environment: the schema's history for SQLite and PostgreSQL."""

import warnings
from contextlib import contextmanager

from alembic import context
from alembic.util import CommandError
from sqlmodel import SQLModel

import claims.models  # registers every table on the metadata
from claims.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _ours(name, type_, _parent_names) -> bool:
    """Leave the scheduler's job table (created by APScheduler itself) out of comparisons."""
    return not (type_ == "table" and name == claims.models.SCHEDULER_JOB_TABLE)


def run_migrations(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    applied: list[str] = []
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_ours,
        render_as_batch=sqlite,
        compare_type=True,
        on_version_apply=lambda **step: applied.append(step["step"].up_revision_id),
    )
    with _keys_checked_at_the_end(connection if sqlite else None), warnings.catch_warnings():
        # SQLite's batch copy of a table reflects the tables its keys name, and SQLAlchemy
        # cannot reflect the claim table's indexes on expressions: the copy keeps its own
        # indexes, so the warning said nothing to the operator but twice on every upgrade
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and applied:  # a database already at its revision is not read through
                _refuse_broken_keys(connection)


@contextmanager
def _keys_checked_at_the_end(connection):
    """SQLite changes a table's keys by rebuilding it (a copy, the old one dropped, the copy
    renamed): with its keys enforced the drop fails for the rows that reference the table,
    deferred or not. Alembic's advice: turn them off around the migrations, which SQLite only
    allows outside a transaction, and check every key before the commit instead."""
    if connection is None or connection.in_transaction():
        yield
        return
    driver = connection.connection.driver_connection  # no transaction begun on it
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _refuse_broken_keys(connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise CommandError(f"the migration left rows whose keys name nothing: {broken[:5]}")


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        run_migrations(conn)
    engine.dispose()
