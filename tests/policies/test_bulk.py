"""The bulk writers on both databases, and garbage collection while a batch runs
(policies.bulk)."""

import gc
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from policies.bulk import BATCH_YOUNG, fewer_collections, insert_new_returning, update_columns
from policies.types import Money, UtcDateTime

KINDS = sa.Table(
    "bulk_kinds", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(16), nullable=False, unique=True),
    sa.Column("amount", Money, nullable=True), sa.Column("day", sa.Date, nullable=True),
    sa.Column("at", UtcDateTime, nullable=True), sa.Column("flag", sa.Boolean, nullable=True),
    sa.Column("grade", sa.Integer, nullable=True), sa.Column("data", sa.JSON, nullable=True),
    sa.Column("note", sa.Text, nullable=True))


def test_rows_of_every_kind_of_column_go_in_and_change_as_given(session):
    """Money, dates, instants, flags, numbers, JSON and text with quotes, commas, braces and
    NULLs go in (PostgreSQL: as one array a column), a taken code is skipped, in chunks of
    any size, and change as given; read back through SQLAlchemy, each is what was written."""
    connection = session.connection()
    KINDS.create(connection)
    at = datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)
    notes = ['say "hi", {x}', "\\back\\slash", None, "", "NULL", "多,字"]
    rows = {"code": [f"C{i}" for i in range(6)],
            "amount": [Decimal("12.34"), None, Decimal("0.00"), Decimal("-5.50"),
                       Decimal("99999999.99"), Decimal("1.01")],
            "day": [date(2026, 1, i + 1) if i % 2 else None for i in range(6)],
            "at": [at, None, at, at, None, at],
            "flag": [True, False, None, True, False, None],
            "grade": [None, 1, 2, None, 4, None],
            "data": [{"a": [1, "二"]}, None, {}, {"q": 'x"y'}, [1, 2], {"n": None}],
            "note": notes}
    first = insert_new_returning(session, KINDS, {k: v[:2] for k, v in rows.items()},
                                 unique=("code",), returning=("code", "id"))
    again = insert_new_returning(session, KINDS, rows, unique=("code",),
                                 returning=("code", "id"), chunk=3)
    assert sorted(c for c, _ in first) == ["C0", "C1"]
    assert sorted(c for c, _ in again) == ["C2", "C3", "C4", "C5"]  # C0, C1 were taken
    stored = {r.code: r for r in connection.execute(sa.select(KINDS))}
    for i, code in enumerate(rows["code"]):
        assert tuple(getattr(stored[code], k) for k in rows) == tuple(v[i] for v in
                                                                      rows.values())
    ids = [stored[c].id for c in rows["code"]]
    update_columns(session, KINDS, "id", {"id": ids, "amount": rows["amount"][::-1],
                                          "note": notes[::-1], "flag": [None] * 6,
                                          "data": rows["data"][::-1]})
    changed = {r.id: r for r in connection.execute(sa.select(KINDS))}
    assert [changed[i].amount for i in ids] == rows["amount"][::-1]
    assert [changed[i].note for i in ids] == notes[::-1]
    assert [changed[i].flag for i in ids] == [None] * 6
    assert [changed[i].data for i in ids] == rows["data"][::-1]
    assert [changed[i].day for i in ids] == rows["day"]  # not named: left as it was


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_batch_collects_less_often_and_puts_the_thresholds_back(thresholds):
    with fewer_collections():
        assert gc.get_threshold()[0] == BATCH_YOUNG
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the batch failed")
    assert gc.get_threshold() == (700, 10, 10)  # a failed batch too


def test_batches_in_threads_at_once_restore_when_the_last_ends(thresholds):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen["after the first ended"] = gc.get_threshold()[0]

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after the first ended": BATCH_YOUNG}
    assert gc.get_threshold() == (700, 10, 10)


def test_a_value_longer_than_its_column_is_refused_not_cut(session):
    """On PostgreSQL a cast of the array to VARCHAR(16) cut a longer code silently; storing
    it must be refused, as a row by row INSERT refuses it (SQLite keeps lengths unchecked)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite does not check a VARCHAR's length")
    KINDS.create(connection)
    ids = insert_new_returning(session, KINDS, {"code": ["C1"]}, unique=("code",),
                               returning=("id",))
    savepoint = connection.begin_nested()
    with pytest.raises(sa.exc.DataError, match="too long"):
        insert_new_returning(session, KINDS, {"code": ["C" * 17]}, unique=("code",),
                             returning=("id",))
    savepoint.rollback()
    savepoint = connection.begin_nested()
    with pytest.raises(sa.exc.DataError, match="too long"):
        update_columns(session, KINDS, "id", {"id": [ids[0][0]], "code": ["D" * 17]})
    savepoint.rollback()
    assert connection.execute(sa.select(KINDS.c.code)).scalars().all() == ["C1"]


def twin_tables(connection, key: str, **columns: sa.types.TypeEngine) -> tuple[sa.Table, ...]:
    """The same columns (``key`` unique) in two new tables: one for the bulk writers, one for
    SQLAlchemy Core's plain INSERT and UPDATE, to hold what each stores side by side."""
    metadata = sa.MetaData()
    tables = tuple(sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True),
                            *(sa.Column(n, t, unique=n == key) for n, t in columns.items()))
                   for name in ("bulk_twin", "core_twin"))
    metadata.create_all(connection)
    return tables


def written_both_ways(session, key: str, columns: dict[str, list], changes: dict[str, list],
                      **types: sa.types.TypeEngine) -> tuple[list[tuple], list[tuple]]:
    """The columns written by insert_new_returning and then ``changes`` (by ``key``) by
    update_columns into one table, and by Core's INSERT and UPDATE into its twin: each table's
    rows as read back (without their ids), in the key's order."""
    connection = session.connection()
    bulk, core = twin_tables(connection, key, **types)
    count = len(columns[key])
    connection.execute(core.insert(), [{n: v[i] for n, v in columns.items()}
                                       for i in range(count)])
    inserted = insert_new_returning(session, bulk, columns, unique=(key,), returning=(key,))
    assert sorted(inserted) == sorted((k,) for k in columns[key])  # every row, none "taken"
    connection.execute(
        sa.update(core).where(core.c[key] == sa.bindparam("old_key")),
        [{"old_key": columns[key][i], **{n: v[i] for n, v in changes.items()}}
         for i in range(count)])
    update_columns(session, bulk, key, {key: columns[key], **changes})
    return tuple([tuple(row)[1:] for row in connection.execute(
        sa.select(table).order_by(table.c[key]))] for table in (bulk, core))


def test_fixed_length_columns_keep_every_character(session):
    """On PostgreSQL the array of a CHAR(18) column was cast to CHAR, which is character(1):
    each code was cut to its first character, so codes that began alike were skipped as
    taken and updates by code found no row; BIT(5) was cut to one bit. Each goes in and
    changes whole, the CHAR(18) code as the key, as Core's INSERT and UPDATE store them
    (padding included)."""
    codes = ["110101199003070000", "110101199003070011", "ABCDEFGHIJKLMNOPQR"]
    bulk, core = written_both_ways(
        session, "code",
        {"code": codes, "kind": ["abc", "ab", None], "bits": ["10110", "00001", None]},
        {"kind": [None, "xyz", "q"], "bits": [None, "11111", "01000"]},
        code=sa.CHAR(18), kind=sa.CHAR(3),
        bits=postgresql.BIT(5).with_variant(sa.String(5), "sqlite"))
    assert repr(bulk) == repr(core)
    assert [row[0] for row in bulk] == codes


def test_a_collated_column_goes_in_and_changes(session):
    """A column with a collation put COLLATE inside the array's cast on PostgreSQL, a syntax
    error; its values go in and change as Core's statements store them."""
    collated = sa.String(10, collation="C").with_variant(sa.String(10, collation="NOCASE"),
                                                         "sqlite")
    bulk, core = written_both_ways(
        session, "code", {"code": ["B", "a", "C"], "label": ["Zeta", "alpha", None]},
        {"label": ["beta", None, "Gamma"]}, code=collated, label=collated)
    assert repr(bulk) == repr(core)
    assert dict(bulk) == {"B": "beta", "a": None, "C": "Gamma"}


@pytest.mark.parametrize(("column_type", "element"), [
    ("CHAR(18)", "BPCHAR"), ("CHAR", "BPCHAR"), ("CHARACTER (2)", "BPCHAR"),
    ("NCHAR(4)", "BPCHAR"), ("national  character(3)", "BPCHAR"), ("BIT(5)", "VARBIT"),
    ("BIT VARYING(3)", "BIT VARYING"), ("VARCHAR(64)", "VARCHAR"),
    ('VARCHAR(10) COLLATE "C"', "VARCHAR"), ('TEXT COLLATE "we""ird"', "TEXT"),
    ("NUMERIC(10, 2)", "NUMERIC"), ("TIMESTAMP(3) WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE"),
    ("INTERVAL DAY TO SECOND (3)", "INTERVAL DAY TO SECOND"), ("CHAR(3)[]", "BPCHAR[]"),
    ('"k(1)"', '"k(1)"'), ('"Other S".kind', '"Other S".kind'), ('"char"', '"char"'),
])
def test_an_array_element_type_takes_all_its_column_takes(column_type, element):
    """The rule itself, for types the databases above do not show: no length, precision or
    collation (the column checks them as the rows go in), a bare name that means a length of
    one made unbounded, and quoted names (enums) left as they are."""
    from policies.bulk import _element_type

    assert _element_type(column_type) == element


EAST = timezone(timedelta(hours=8))
MIXED = {"score": sa.Float(), "num": sa.Numeric(10, 2), "ratio": sa.Numeric(),
         "whole": sa.Integer(), "day": sa.Date(), "at": sa.DateTime(),
         "stamp": sa.DateTime(timezone=True)}


def test_values_of_several_python_types_in_a_column_are_stored_as_core_stores_them(session):
    """psycopg refused a column whose values were of more than one Python type as one binary
    array (1 and 0.5 for a Float, Decimal and int for a Numeric, a date and a datetime for a
    Date, an int and a numpy.int64): PostgreSQL only, where Core and SQLite store them.
    Each is stored as Core's INSERT and UPDATE store it on the same database: a float to a
    Numeric as PostgreSQL casts it (15 digits), to an Integer rounded half to even, a Decimal
    half away from zero, a datetime's date (an aware one's in the session's time zone)."""
    rows = [
        {"score": 1, "num": Decimal("1.50"), "ratio": 2, "whole": 1, "day": date(2026, 1, 1),
         "at": datetime(2026, 1, 2, 3, 4), "stamp": datetime(2026, 1, 2, 3, 4, tzinfo=EAST)},
        {"score": 0.5, "num": 2, "ratio": 0.30000000000000004, "whole": 2.5,
         "day": datetime(2026, 1, 2, 3, 4), "at": date(2026, 1, 3), "stamp": date(2026, 1, 3)},
        {"score": Decimal("0.25"), "num": 0.125, "ratio": Decimal("0.1"), "whole": 3.5,
         "day": datetime(2026, 1, 2, 23, 4, tzinfo=timezone(timedelta(hours=-8))),
         "at": datetime(2026, 1, 2, 3, 4, tzinfo=EAST), "stamp": datetime(2026, 1, 2, 3, 4)},
        dict.fromkeys(MIXED),
        {"score": 2**53 + 1, "num": 0.005, "ratio": 1 / 3, "whole": -2.5, "day": None,
         "at": None, "stamp": None},
    ]
    if session.connection().dialect.name == "postgresql":
        # sqlite3 refuses numpy's numbers (or stores an integer's bytes) and a Decimal where
        # no bind processor turns it into a float, whichever statement sends them
        rows += [{"score": np.int64(3), "num": np.int64(4), "ratio": np.float32(0.1),
                  "whole": np.int64(7)},
                 {"score": np.float32(0.1), "num": np.float64(0.1), "ratio": np.int64(5),
                  "whole": Decimal("2.5")},
                 {"whole": Decimal("-2.5"), "ratio": Decimal("1E+2")}]
    columns = {name: [row.get(name) for row in rows] for name in MIXED}
    columns["code"] = [f"M{i}" for i in range(len(rows))]
    changes = {name: values[::-1] for name, values in columns.items() if name != "code"}
    bulk, core = written_both_ways(session, "code", columns, changes,
                                   code=sa.String(16), **MIXED)
    assert repr(bulk) == repr(core)  # as reprs: 2 and 2.00, 1 and 1.0 are equal otherwise
