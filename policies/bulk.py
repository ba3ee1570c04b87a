"""Bulk reads and writes through the driver, for imports, generators and batches.

SQLAlchemy's per-row parameter and result handling costs more than the database's own work on
large batches; here each column's bind processor (dates on SQLite, money as fen, …) is applied
once over the column, the rows go to the driver as tuples, and large reads come back as the
driver's stored values. On PostgreSQL rows go in with COPY (psycopg 3's copy protocol, in the
caller's transaction): into the table itself, or into a temporary table from which one
set-based statement inserts the new rows or updates the changed ones.
"""

from __future__ import annotations

import gc
import math
import numbers
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import chain
from types import NoneType
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

LOOKUP_CHUNK = 5000


def among(session: Session, column, values) -> sa.ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter: a chunk's thousands of ids as
    many parameters cost SQLAlchemy, psycopg and the server more to render, send and parse
    than the rules took to judge them (issue 19), and their text, different for every count,
    is neither cached by psycopg nor prepared. The array is unnested into a set (``IN (SELECT
    unnest(…))``) rather than tested with ``= ANY``: for ``= ANY`` the planner costs one index
    descent per element and, at a million households, chose to read a whole score partition
    in parallel (71 ms a chunk) where a semi-join of index probes took 22 ms."""
    values = sorted(values)
    if session.get_bind().dialect.name == "postgresql":
        # a string's array without its length: a longer value then matches nothing, as in an
        # IN list, rather than failing the statement
        element = sa.String() if isinstance(column.type, sa.String) else column.type
        ids = sa.func.unnest(sa.bindparam(None, values, type_=ARRAY(element)))
        return column.in_(sa.select(ids).scalar_subquery())
    return column.in_(values)


def insert_columns(
    session: Session, table: sa.Table, columns: Mapping[str, Sequence],
    stored: frozenset[str] = frozenset(),
) -> None:
    """Insert rows given column by column (equal lengths) as Python values; flushes first.

    Columns named in ``stored`` already hold the stored form (money as integer fen).
    """
    session.flush()
    names = list(columns)
    if not names or len(columns[names[0]]) == 0:
        return
    connection = session.connection()
    rows = _stored_rows(connection.dialect, table, columns, stored)
    if connection.dialect.name == "postgresql":
        _copy(connection, table.name, names, rows)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({_markers(connection, names)})"
    connection.exec_driver_sql(sql, rows)


def update_columns(session: Session, table: sa.Table, key: str,
                   columns: Mapping[str, Sequence]) -> None:
    """Update rows given column by column: ``columns[key]`` picks each row, the other columns
    are its new values. PostgreSQL: one UPDATE … FROM the columns as arrays; SQLite: one
    prepared UPDATE run over the rows. Flushes first."""
    session.flush()
    names = [name for name in columns if name != key]
    if not names or len(columns[key]) == 0:
        return
    connection = session.connection()
    rows = _stored_rows(connection.dialect, table, {**{n: columns[n] for n in names},
                                                    key: columns[key]}, frozenset())
    if connection.dialect.name == "postgresql":
        source, arrays = _unnest(connection, table, [*names, key], rows)
        connection.exec_driver_sql(
            f"UPDATE {table.name} AS t SET {', '.join(f'{n} = s.{n}' for n in names)} "
            f"FROM {source} WHERE t.{key} = s.{key}", arrays)
        return
    marker = _markers(connection, [key])
    connection.exec_driver_sql(
        f"UPDATE {table.name} SET {', '.join(f'{n} = {marker}' for n in names)} "
        f"WHERE {key} = {marker}", rows)


def _copy(connection: sa.Connection, table: str, names: list[str], rows: list[tuple]) -> None:
    """COPY rows into a table through the caller's psycopg connection and transaction."""
    # only called on PostgreSQL, whose driver is psycopg 3; SQLAlchemy types it generically
    raw = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# The rows one statement of insert_new_returning inserts.
INSERT_CHUNK = 1000


def insert_new_returning(
    session: Session, table: sa.Table, columns: Mapping[str, Sequence], unique: tuple[str, ...],
    returning: tuple[str, ...], same: dict[str, Any] | None = None,
    stored: frozenset[str] = frozenset(), chunk: int = INSERT_CHUNK,
) -> list[tuple]:
    """Insert rows given column by column, skipping those whose ``unique`` columns are taken
    (by earlier rows or a concurrent writer); returns ``returning`` of the rows inserted.

    Rows go in sorted by ``unique``, so overlapping batches cannot deadlock. SQLite (3.35+):
    one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING per ``chunk`` rows; PostgreSQL:
    one INSERT … SELECT … ORDER BY of the same kind per ``chunk`` rows, from the columns as
    arrays.
    Columns named in ``stored`` already hold the stored form (JSON as text); ``same`` gives
    the values shared by every row; the returned columns must be stored as their Python
    value (ids, codes).
    """
    connection = session.connection()
    rows = _stored_rows(connection.dialect, table, columns, stored)
    if not rows:
        return []
    # In the order of the unique key: two batches that overlap then wait on their first
    # common row instead of each holding a row the other needs (a deadlock on PostgreSQL).
    keys = [list(columns).index(u) for u in unique if u in columns]
    rows.sort(key=lambda row: tuple(row[k] for k in keys))
    same = same or {}
    shared = _stored_rows(connection.dialect, table, {name: [value] for name, value in
                                                      same.items()}, stored)[0] if same else ()
    names = [*columns, *same]
    inserted: list[tuple] = []
    if connection.dialect.name == "postgresql":
        # One array a column, sent in binary: the statement's text is the same for any number
        # of rows, so psycopg converts it once (a VALUES list of more than 50 parameters it
        # parsed again on every call, a tenth of the storing thread's time under single
        # events; as text, quoting each element cost more than that parse). It also took a
        # batch's 1,000 rows faster than COPY through a scratch table did.
        for start in range(0, len(rows), chunk):
            source, arrays = _unnest(connection, table, names,
                                     [row + shared for row in rows[start:start + chunk]])
            inserted.extend(tuple(row) for row in connection.exec_driver_sql(
                f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM {source} "
                f"ORDER BY {', '.join(unique)} ON CONFLICT ({', '.join(unique)}) DO NOTHING "
                f"RETURNING {', '.join(returning)}", arrays))
        return inserted
    row_markers = f"({_markers(connection, names)})"
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        values = ", ".join([row_markers] * len(part))
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values} "
               f"ON CONFLICT ({', '.join(unique)}) DO NOTHING "
               f"RETURNING {', '.join(returning)}")
        flat = tuple(chain.from_iterable(row + shared for row in part))
        inserted.extend(tuple(row) for row in connection.exec_driver_sql(sql, flat))
    return inserted


def _unnest(connection: sa.Connection, table: sa.Table, names: list[str],
            rows: list[tuple]) -> tuple[str, tuple]:
    """``unnest(…) AS s (names)`` over the rows, one binary array a column, and its
    parameters (PostgreSQL)."""
    casts, coercions = _array_types(connection.dialect, table, tuple(names))
    arrays = [list(column) for column in zip(*rows, strict=True)]
    # psycopg sends a list as an array of one type, and refuses one whose values are of
    # several (1 and 0.5 for a Float column): such a column's values are made one type first.
    # The test is one set of types over each column of numbers, dates or times (0.2 ms for
    # 10,000 values; none for a single row).
    zone: tzinfo | None = None
    for index, coerce in coercions if len(rows) > 1 else ():
        column = arrays[index]
        if len(kinds := set(map(type, column))) > 1 and len(kinds - {NoneType}) > 1:
            zone = zone or _session_zone(connection)
            arrays[index] = [None if value is None else coerce(value, zone) for value in column]
    return f"unnest({casts}) AS s ({', '.join(names)})", tuple(arrays)


# A value made the one Python type of its column, as PostgreSQL's assignment cast from the
# value's own type would make it (what a plain INSERT or UPDATE of the row stores), given the
# session's time zone; a value it cannot take stays as it is, for psycopg to refuse.
_Coercion = Callable[[Any, tzinfo], Any]


@lru_cache(maxsize=256)
def _array_types(dialect: sa.Dialect, table: sa.Table, names: tuple[str, ...]
                 ) -> tuple[str, tuple[tuple[int, _Coercion], ...]]:
    """A binary array parameter of each named column's type (``CAST(%b AS type[])``), and
    the columns (by position) whose values are coerced when they are of several Python types.
    Remembered: compiling the types cost 30 us a group commit."""
    columns = [table.c[name] for name in names]
    casts = ", ".join(f"CAST(%b AS {_element_type(column.type.compile(dialect=dialect))}[])"
                      for column in columns)
    coercions = ((index, _coercion(column.type.dialect_impl(dialect)))
                 for index, column in enumerate(columns))
    return casts, tuple((index, coerce) for index, coerce in coercions if coerce is not None)


def _element_type(column_type: str) -> str:
    """The element type of a column's array, from the column's type as compiled: one that
    takes every value the column takes and cuts none. The table column checks the rest as
    the rows go in, as it does for a plain INSERT.

    So the type goes without its length, precision or scale: a cast to VARCHAR(64) cuts a
    longer value silently where storing it in the column refuses it (NUMERIC(10, 2),
    TIMESTAMP(3) the column rounds all the same). And without its collation: COLLATE inside
    ``CAST(… AS …[])`` is a syntax error, and the unique index still compares in its own.
    But a few bare names do not mean "any length": CHAR (CHARACTER, NCHAR) is character(1)
    and BIT bit(1), a cast to which cuts every value to its first character or bit, so
    distinct codes collapse and all but one are skipped as taken. They become the unbounded
    form of their type, BPCHAR and VARBIT. Quoted names (enums) are left as they are."""
    bare = _MODIFIERS.sub(lambda found: found[1] or "", column_type).strip()
    name = bare.rstrip("[]")
    return _LENGTH_ONE.get(" ".join(name.upper().split()), name) + bare[len(name):]


# A quoted name, kept (group 1); or a type's modifier, such as (64), (10, 2) or (3); or a
# COLLATE clause and its (quoted or schema-qualified) collation.
_QUOTED = r'"(?:[^"]|"")*"'
_MODIFIERS = re.compile(
    rf"({_QUOTED})|\s*\(\s*-?\d+(?:\s*,\s*-?\d+)?\s*\)"
    rf"|\s+COLLATE\s+(?:{_QUOTED}|\w+)(?:\.(?:{_QUOTED}|\w+))*", re.IGNORECASE)
_LENGTH_ONE = {"CHAR": "BPCHAR", "CHARACTER": "BPCHAR", "NCHAR": "BPCHAR",
               "NATIONAL CHAR": "BPCHAR", "NATIONAL CHARACTER": "BPCHAR", "BIT": "VARBIT"}


def _coercion(column_type: sa.types.TypeEngine[Any]) -> _Coercion | None:
    """How a column's values are made one Python type, by the type it stores (a
    TypeDecorator's underlying one: its bind processor has run); None for other kinds."""
    while isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.Float):
        return _as_float
    if isinstance(column_type, sa.Numeric):
        return _as_decimal
    if isinstance(column_type, sa.Integer):
        return _as_int
    if isinstance(column_type, sa.DateTime):
        return _as_aware if column_type.timezone else _as_naive
    if isinstance(column_type, sa.Date):
        return _as_date
    return None


def _is_number(value: Any) -> bool:
    # not a bool (an int to Python): PostgreSQL casts no boolean to a number
    return isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool | np.bool_)


def _as_float(value: Any, zone: tzinfo) -> Any:
    """A number as a float: rounded to nearest as PostgreSQL casts an integer or numeric."""
    return float(value) if _is_number(value) else value


def _as_decimal(value: Any, zone: tzinfo) -> Any:
    """A number as a Decimal: an integer exactly, a float to the 15 significant digits that
    PostgreSQL casts a double to numeric with (0.1 + 0.2 is 0.3; a 4-byte float 6)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, float | np.floating):
        digits = 6 if isinstance(value, np.float32 | np.float16) else 15
        return Decimal(f"{float(value):.{digits}g}")
    return value


def _as_int(value: Any, zone: tzinfo) -> Any:
    """A number as an int: a float rounded half to even, a Decimal half away from zero, as
    PostgreSQL casts each to an integer; an infinity or NaN as it is, for it to refuse."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float | np.floating) and math.isfinite(value):
        return round(float(value))
    if isinstance(value, Decimal) and value.is_finite():
        return int(value.to_integral_value(ROUND_HALF_UP))
    return value


def _as_date(value: Any, zone: tzinfo) -> Any:
    """A datetime as its date: an aware one's in the session's time zone, as PostgreSQL casts
    a timestamp with time zone to a date."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is None else value.astimezone(zone)).date()
    return value


def _as_naive(value: Any, zone: tzinfo) -> Any:
    """A date as its midnight; an aware datetime as the session's time zone's wall clock."""
    if isinstance(value, datetime):
        return value if value.tzinfo is None else value.astimezone(zone).replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


def _as_aware(value: Any, zone: tzinfo) -> Any:
    """A date as its midnight and a naive datetime as that wall clock, in the session's time
    zone (as PostgreSQL reads both for a timestamp with time zone)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    return value


def _session_zone(connection: sa.Connection) -> tzinfo:
    """The session's TimeZone (PostgreSQL), which its casts between dates and instants use."""
    raw = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    return raw.info.timezone


def _markers(connection: sa.Connection, names: list[str]) -> str:
    return ", ".join(["?" if connection.dialect.paramstyle == "qmark" else "%s"] * len(names))


def _stored_rows(dialect: sa.Dialect, table: sa.Table, columns: Mapping[str, Sequence],
                 stored: frozenset[str]) -> list[tuple]:
    """Rows as tuples of stored values: each column's bind processor applied once over it."""
    processed = []
    for name, values in columns.items():
        processor = None if name in stored else table.c[name].type._cached_bind_processor(dialect)
        processed.append([processor(v) for v in values] if processor else list(values))
    return list(zip(*processed, strict=True))


def lookup(
    session: Session, table: sa.Table, key: str, values: Sequence[str], columns: tuple[str, ...]
) -> dict[str, tuple]:
    """Rows whose ``key`` is among ``values``, as key → (columns…), through the driver.

    Only for columns whose stored form is their Python value (codes, numbers, flags): no type
    processing is applied, except that flags read back as bool on every engine.
    """
    found: dict[str, tuple] = {}
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    flags = [isinstance(table.c[c].type, sa.Boolean) for c in columns]
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = tuple(values[start : start + LOOKUP_CHUNK])
        sql = (f"SELECT {key}, {', '.join(columns)} FROM {table.name} "
               f"WHERE {key} IN ({', '.join([marker] * len(chunk))})")
        for row in connection.exec_driver_sql(sql, chunk):
            found[row[0]] = tuple(bool(v) if flag and v is not None else v
                                  for flag, v in zip(flags, row[1:], strict=True))
    return found


def read_frame(connection: sa.Connection, statement: sa.Select) -> pd.DataFrame:
    """The rows of a Core select as a DataFrame of stored values (money as integer fen, dates
    as the driver returns them): SQLAlchemy binds the parameters, and the rows come straight
    from the driver's cursor, without SQLAlchemy's per-row processing."""
    # imported here: the audit trail writes through this module, and every command that
    # writes it would otherwise wait for pandas to load
    import pandas as pd

    result = connection.execute(statement)
    try:
        names = [column[0] for column in result.cursor.description]
        return pd.DataFrame.from_records(result.cursor.fetchall(), columns=names)
    finally:
        result.close()


# The young generation's size while a batch runs: a batch makes millions of short-lived tuples,
# dates and Decimals, and at the interpreter's 700 each chunk's rows were scanned again and
# again, then promoted and scanned in full collections: a third of the monitoring night
# (issue 19). 50,000 objects cost a few MB of garbage held a little longer.
BATCH_YOUNG = 50_000
_batches = threading.Lock()
_depth, _before = 0, gc.get_threshold()  # batches running now; the thresholds before them


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while a batch runs, then as before. Batches running at once
    in threads share it: the last to end puts the thresholds back."""
    global _depth, _before
    with _batches:
        if not _depth:
            _before = gc.get_threshold()
            gc.set_threshold(BATCH_YOUNG, 20, 10)
        _depth += 1
    try:
        yield
    finally:
        with _batches:
            _depth -= 1
            if not _depth:
                gc.set_threshold(*_before)
