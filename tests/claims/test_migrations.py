import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import claims.models  # noqa: F401
from claims import migrate
from claims.db import make_engine
from tests.conftest import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path_factory):
    yield from database_url(request.param, tmp_path_factory, "migrations")


def tables(url: str) -> set[str]:
    """The schema's tables, and its indexes as table.index."""
    engine = make_engine(url)
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names())
    names |= {f"{table}.{index['name']}" for table in list(names)
              for index in inspector.get_indexes(table)}
    engine.dispose()
    return names


def test_empty_database_upgrades_to_head_and_back_down_one_step(empty_url):
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == head
    at_head = tables(empty_url)
    assert {"household", "member", "income_record", "policy_contract", "claim"} <= at_head

    migrate.downgrade(empty_url, "-1")
    assert migrate.current_revision(empty_url) != head
    one_down = tables(empty_url)
    assert one_down < at_head  # the last revision's tables or indexes are gone, the rest remain
    assert {"household", "member", "policy_contract"} <= one_down

    migrate.upgrade(empty_url)  # and up again: the downgrade left a clean state
    assert migrate.current_revision(empty_url) == head


def test_migrations_build_exactly_the_schema_the_models_describe(empty_url):
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []
