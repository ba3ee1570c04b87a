"""Alembic environment: the schema's history for SQLite and PostgreSQL."""

from alembic import context
from sqlmodel import SQLModel

import claims.models  # noqa: F401  (registers every table on the metadata)
from claims import scheduler
from claims.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _ours(name, type_, _parent_names) -> bool:
    """Leave the scheduler's job table (created by APScheduler itself) out of comparisons."""
    return not (type_ == "table" and name == scheduler.JOB_TABLE)


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        run_migrations(conn)
    engine.dispose()
