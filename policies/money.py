"""Money: Decimal yuan with two places in Python, integer fen in the database.

Integer fen keeps every stored amount and every SQL sum exact on SQLite as well as on
PostgreSQL; rounding happens once, half-up to the fen, where an amount is computed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

FEN = Decimal("0.01")


def to_fen_decimal(value: Decimal | int | str) -> Decimal:
    """Round an amount half-up to the fen."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


class Money(sa.types.TypeDecorator):
    """A yuan amount stored as a BIGINT number of fen."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = Decimal(value)
        if amount != amount.quantize(FEN):
            raise ValueError(f"amount {amount} has more than two decimal places")
        return int(amount * 100)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(FEN)
