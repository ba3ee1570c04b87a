"""The bulk writers on both databases, and garbage collection while a batch runs
(policies.bulk)."""

import gc
import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

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
