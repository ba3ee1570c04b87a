"""Database engines and sessions for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import fcntl
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

from claims.settings import get_settings


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (and ``postgres://``, with or without it)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgres+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; SQLAlchemy emits
    # BEGIN itself (see _sqlite_begin), as its SQLite dialect documentation recommends.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # IMMEDIATE takes the write lock at the start: a transaction that reads and then writes
    # can never fail half-way because another one wrote in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_reading(connection) -> None:
    # A reader (a distributed engine's worker) must not queue behind the writer: under WAL a
    # deferred transaction reads a snapshot while another connection writes.
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str, *, read_only: bool = False, deferred: bool = False,
                **kwargs) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout, and its folder.
    ``read_only`` engines (the workers of a distributed run) only read, and on SQLite read
    beside a writer instead of waiting for it. ``deferred`` SQLite engines (the evaluator's)
    also read beside the writer and take the write lock only at their first write, which
    SQLite refuses — a transient error, retried — if another writer committed meanwhile."""
    url = normalise_url(url)
    parsed = make_url(url)
    # a failing statement's error names its statement, not its values: a household's
    # ID number or account would have reached the log (an operator's)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite writes one transaction at a time and every transaction here begins
        # IMMEDIATE; one pooled connection queues requests in Python instead of having them
        # wait on the file lock while holding pool connections.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 300)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin",
                        _sqlite_begin_reading if read_only or deferred else _sqlite_begin)
        return engine
    engine = sa.create_engine(url, pool_pre_ping=True, **kwargs)
    sa.event.listen(engine, "connect", _custom_plans)
    return engine


def _custom_plans(dbapi_connection, _record) -> None:
    """Plan every statement for its values. psycopg prepares a statement run five times on a
    connection, and PostgreSQL may then keep one generic plan for all values: planned while a
    table was small (a surge's shock ledger, empty when last analysed) it read the whole
    table for each chunk's 500 events, each chunk slower than the last (2 ms to 176 ms in
    40 chunks). A plan costs a fraction of a millisecond."""
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()


class unindexed(FunctionElement):  # noqa: N801 — used as a column, named as one
    """A code column (a status) that the planner must not pick an index for: SQLite's unary
    +, PostgreSQL's ``column || ''``; the column itself elsewhere. A status tested beside a
    list of a chunk's ids: without statistics SQLite's planner finds ``status = ?`` more
    selective than 500 ids and reads every open row of the table through the status index,
    for each chunk (a night of a million windows, a surge of a million events, each chunk
    slower than the last). PostgreSQL does the same between two analyses of a table whose
    statuses change in bulk: analysed while a surge's events were all waiting, it took the
    accepted ones for none and read every accepted event through the status index for each
    chunk, a sixth of a lane's time at 200,000 reports (issue 19)."""

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed(element, compiler, **kw) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw) -> str:
    return "+" + compiler.process(element.clauses, **kw)


@compiles(unindexed, "postgresql")
def _unindexed_postgresql(element, compiler, **kw) -> str:
    return f"({compiler.process(element.clauses, **kw)} || '')"


def url_of(engine: Engine) -> str:
    """The engine's URL, password included: to open another engine on the same database."""
    return engine.url.render_as_string(hide_password=False)


class WriteTurn:
    """Turns at writing to one SQLite database within this process, urgent ones first.

    SQLite writes one transaction at a time, and the service's requests share one pooled
    connection: a department's single event would otherwise queue behind every bulk chunk that
    asked first (four clients streaming batches made it wait 0.8 s). A writer takes its turn
    before it touches the connection and gives it back after its commit; an urgent writer (group
    commit's single events) goes before every bulk writer still waiting, so it waits for at most
    the one chunk being written. Bulk writers keep their order among themselves."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._waiting: tuple[deque, deque] = (deque(), deque())  # bulk, urgent; in arrival order

    @contextmanager
    def __call__(self, urgent: bool = False) -> Iterator[None]:
        me, queue = object(), self._waiting[urgent]
        with self._changed:
            queue.append(me)
            try:
                while self._held or self._next() is not me:
                    self._changed.wait()
            finally:
                queue.remove(me)
                self._changed.notify_all()  # had it given up, the next one is someone else
            self._held = True
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()

    def _next(self) -> object:
        bulk, urgent = self._waiting
        return urgent[0] if urgent else bulk[0]


_turns: dict[str, WriteTurn] = {}
_turns_lock = threading.Lock()


@contextmanager
def write_turn(bind: Engine | sa.Connection, urgent: bool = False) -> Iterator[None]:
    """Hold this process's turn at writing to ``bind``'s SQLite database (see
    :class:`WriteTurn`) for the ``with`` block: take it before the block first touches the
    session and commit inside it. Nothing on PostgreSQL, whose writers lock rows."""
    engine = bind.engine if isinstance(bind, sa.Connection) else bind
    if engine.dialect.name != "sqlite":
        yield
        return
    key = url_of(engine)
    with _turns_lock:
        turn = _turns.setdefault(key, WriteTurn())
    with turn(urgent):
        yield


def advisory_xact_lock(connection: sa.Connection, key: int) -> None:
    """Hold a PostgreSQL advisory lock until the transaction ends (nothing on SQLite, whose
    transactions already write one at a time). Keyed by the schema too: several fangpin
    databases may share one PostgreSQL database, each in a schema of its own."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(current_schema()), "
                                   ":key)"), {"key": key})


@contextmanager
def run_lock(engine: Engine, name: str, key: int) -> Iterator[bool]:
    """Hold a lock for a long job across processes, or yield False when another holds it.

    PostgreSQL: a session advisory lock on a connection of its own; SQLite: an OS lock on a
    file beside the database. Both are released when the holder exits or dies, so a killed
    job never leaves a lock behind.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            held = False
            try:
                held = bool(connection.execute(sa.text(
                    "SELECT pg_try_advisory_lock(hashtext(current_schema()), :key)"),
                    {"key": key}).scalar())
                connection.commit()
                yield held
            finally:
                if held:
                    try:
                        connection.execute(sa.text(
                            "SELECT pg_advisory_unlock(hashtext(current_schema()), :key)"),
                            {"key": key})
                        connection.commit()
                    except Exception:
                        # never hand a connection still holding the lock back to the pool
                        connection.invalidate()
                        raise
        return
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("a job lock needs a database file or PostgreSQL")
    with open(f"{database}.{name}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def refresh_statistics(engine: Engine) -> None:
    """Let SQLite's planner know the tables' sizes: without them it picked a million-claim
    sort for the queue's overdue claims by risk (0.5 s against 20 ms). An ANALYZE that samples
    at most 1,000 rows of each index took 26 ms at a million claims. PostgreSQL's
    autovacuum keeps its own statistics."""
    if engine.dialect.name == "sqlite":
        with write_turn(engine), engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            connection.exec_driver_sql("ANALYZE")


class MissingDatabase(Exception):
    """The configured SQLite file is not there."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"FANGPIN_DATABASE_URL names the SQLite file {path}, which does not "
                         "exist: check the path, or create the database there with 'fangpin "
                         "db upgrade'")


def missing_database(url: str) -> Path | None:
    """The SQLite file ``url`` names, when it is not there (None: it is, or not SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or Path(parsed.database or "").is_file():
        return None
    return Path(parsed.database or "").absolute()


def existing_database(url: str) -> str:
    """``url``, refused when it names a SQLite file that is not there: a mistyped path would
    become a new, empty county. Only the schema's migrations create a database."""
    path = missing_database(url)
    if path is not None:
        raise MissingDatabase(path)
    return url


def get_engine() -> Engine:
    """The process's engine for the configured database, which must exist (one, even when
    the first requests arrive together on several threads)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = make_engine(existing_database(get_settings().database_url))
    return _engine


def close_connections() -> None:
    """Close the process's pooled connections (at its end): SQLite folds its write-ahead log
    into the file when the last one closes, so a copy of a stopped service's file holds its
    last transactions (an operator's copy had lost 51 payments to the -wal file)."""
    with _engine_lock:
        if _engine is not None:
            _engine.dispose()


def sessions_on(engine_of: Callable[[], Engine]):
    """The request-session dependency over the engine ``engine_of`` gives: the service's is
    :func:`get_session`; an app served on a database of its own (tests, benchmarks) overrides
    it with ``sessions_on(lambda: engine)``."""

    async def session_for_request() -> AsyncIterator[Session]:
        """A session for one request; the handler commits, anything uncommitted is rolled
        back. Async on purpose: the session is closed (and its connection returned) on the
        event loop, not on a worker thread, so requests waiting in worker threads for a
        connection can never starve the request that holds it."""
        session = Session(engine_of(), expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()

    return session_for_request


get_session = sessions_on(lambda: get_engine())
