"""The fund of a policy year (保险资金): premium in, payouts and the insurer's fee out, and the
year-end settlement — surplus carried over, shortfall topped up by the county (多退少补,
结余结转). Pure functions over plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from policies.types import to_fen_decimal


@dataclass(frozen=True)
class FundPosition:
    as_of: date
    premium: Decimal
    balance_carried_in: Decimal
    payouts: Decimal
    insurer_fee: Decimal
    balance: Decimal
    loss_ratio: Decimal | None  # payouts / premium
    days_elapsed: int
    days_in_year: int
    projected_payouts: Decimal
    projected_balance: Decimal
    projected_shortfall: Decimal


@dataclass(frozen=True)
class Settlement:
    balance: Decimal
    carried_over: Decimal  # surplus into next year's fund
    county_top_up: Decimal  # shortfall the county pays


def project(payouts: Decimal, days_elapsed: int, days_in_year: int) -> Decimal:
    """Payouts of the policy year so far extended at the same daily rate to its end."""
    if days_elapsed == 0:
        return payouts
    return to_fen_decimal(payouts * days_in_year / days_elapsed)


def fund_position(
    *, premium: Decimal, balance_carried_in: Decimal, fee_rate: Decimal, payouts: Decimal,
    start: date, end: date, as_of: date,
) -> FundPosition:
    """Balance = premium + carried in − payouts − fee (fee_rate × payouts); the projection
    extends the payouts so far at the same daily rate to the end of the policy year."""
    fee = to_fen_decimal(fee_rate * payouts)
    available = premium + balance_carried_in
    days_in_year = (end - start).days + 1
    days_elapsed = min(max((as_of - start).days + 1, 0), days_in_year)
    projected = project(payouts, days_elapsed, days_in_year)
    projected_balance = available - projected - to_fen_decimal(fee_rate * projected)
    return FundPosition(
        as_of=as_of, premium=premium, balance_carried_in=balance_carried_in, payouts=payouts,
        insurer_fee=fee, balance=available - payouts - fee,
        loss_ratio=(payouts / premium).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if premium else None,
        days_elapsed=days_elapsed, days_in_year=days_in_year, projected_payouts=projected,
        projected_balance=projected_balance,
        projected_shortfall=max(-projected_balance, Decimal("0.00")),
    )


def settle(position: FundPosition) -> Settlement:
    """Year-end: a surplus carries over, a shortfall is the county's top-up."""
    balance = position.balance
    zero = Decimal("0.00")
    return Settlement(balance=balance, carried_over=max(balance, zero),
                      county_top_up=max(-balance, zero))
