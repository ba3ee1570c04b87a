"""Bulk writes through the driver's own executemany, for imports and generators.

SQLAlchemy's per-row parameter handling costs more than the database's own work on large
batches; here each column's bind processor (dates on SQLite, money as fen, …) is applied once
over the column, and the rows go to the driver as tuples.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session


def insert_columns(
    session: Session, table: sa.Table, columns: dict[str, Sequence]
) -> None:
    """Insert rows given column by column (equal lengths) as Python values; flushes first."""
    session.flush()
    names = list(columns)
    if not names or len(columns[names[0]]) == 0:
        return
    connection = session.connection()
    dialect = connection.dialect
    processed = []
    for name in names:
        processor = table.c[name].type._cached_bind_processor(dialect)
        values = columns[name]
        processed.append([processor(v) for v in values] if processor else list(values))
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join([marker] * len(names))})"
    )
    connection.exec_driver_sql(sql, list(zip(*processed, strict=True)))
