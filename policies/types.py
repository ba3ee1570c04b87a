"""Column types that behave the same on SQLite and PostgreSQL.

Money is Decimal yuan with two places in Python and integer fen in the database: every stored
amount and every SQL sum is exact on both engines; rounding happens once, half-up to the fen,
where an amount is computed. Timestamps are timezone-aware UTC on both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

FEN = Decimal("0.01")


def no_float(value):
    """Binary floats cannot hold money or ratios exactly: they must arrive as decimal text."""
    if isinstance(value, float):
        raise ValueError(f'write {value} as a decimal string, e.g. "{value}", not a number')
    return value


def to_fen_decimal(value: Decimal | int | str) -> Decimal:
    """Round an amount half-up to the fen."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


class ScaledDecimal(sa.types.TypeDecorator):
    """A Decimal with a fixed number of places, stored as a BIGINT scaled to whole units.

    Exact on every engine (SQLite has no exact decimal type of its own).
    """

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, places: int = 2):
        super().__init__()
        self.places = places
        self.unit = Decimal(1).scaleb(-places)
        self.factor = 10**places

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        number = Decimal(value)
        if number != number.quantize(self.unit):
            raise ValueError(f"{number} has more than {self.places} decimal places")
        return int(number * self.factor)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(int(value)) / self.factor).quantize(self.unit)

    def __repr__(self) -> str:
        return f"ScaledDecimal({self.places})"


class Money(ScaledDecimal):
    """A yuan amount stored as a BIGINT number of fen."""

    cache_ok = True

    def __init__(self):
        super().__init__(2)

    def __repr__(self) -> str:
        return "Money()"


class UtcDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC timestamp (SQLite keeps no zone, so it is restored on reading)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value} has no time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)  # PostgreSQL answers in the session's time zone

    def __repr__(self) -> str:
        return "UtcDateTime()"
