"""Schema migrations with Alembic, callable from the CLI, the run script and the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from claims.db import normalise_url


class SchemaError(Exception):
    """The schema cannot be migrated as asked; the message says why and what to do."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "claims:migrations")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    _migrate(command.upgrade, url, revision)


def downgrade(url: str, revision: str) -> None:
    _migrate(command.downgrade, url, revision)


def _migrate(step, url: str, revision: str) -> None:
    """Move the schema to ``revision``; a database this code did not migrate, or a revision
    it does not know, is refused with the reason."""
    current = current_revision(url)
    if current is not None and not known(current):
        raise SchemaError(_unknown(current))
    try:
        step(alembic_config(url), revision)
    except CommandError as exc:
        raise SchemaError(f"the schema's migration: {exc}") from None


def require_head(url: str, *, empty_ok: bool = True) -> None:
    """Refuse a database whose schema is not this code's head: one migrated by a newer
    fangpin (this one would write to tables it does not know the shape of) or an older one
    (to upgrade first). An empty database passes, unless ``empty_ok`` is false (a service or
    a worker would fail on it every few seconds): the command says what is missing."""
    current = current_revision(url)
    if current is None:
        if not empty_ok:
            raise SchemaError("the database has no schema yet: run 'fangpin db upgrade' "
                              "first")
        return
    script = _scripts()
    head = script.get_current_head()
    if current == head:
        return
    if not known(current, script):
        raise SchemaError(_unknown(current, head))
    raise SchemaError(f"the database is at schema revision {current}, older than this "
                      f"fangpin's {head}: run 'fangpin db upgrade' first")


def _unknown(current: str, head: str | None = None) -> str:
    head = head or _scripts().get_current_head()
    return (f"the database is at schema revision {current}, which this fangpin (at {head}) "
            "does not know: it was migrated by a newer fangpin; run that one, or restore the "
            "database from before")


def head_revision() -> str | None:
    """This code's schema revision."""
    return _scripts().get_current_head()


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def known(revision: str, script: ScriptDirectory | None = None) -> bool:
    """Whether ``revision`` is one of this code's migrations."""
    script = script or _scripts()
    return any(found.revision == revision for found in script.walk_revisions())


def current_revision(url: str) -> str | None:
    """The database's schema revision (None: an empty database), read beside any writer."""
    from alembic.runtime.migration import MigrationContext

    from claims.db import make_engine

    engine = make_engine(url, read_only=True)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev
