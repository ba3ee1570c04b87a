"""What the audit trail and a claim's calculation store of Python values: the fast path
(through the JSON encoder) against a plain recursive reading of the rule, on generated values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from claims import audit


def plain(value):
    """The rule as written: Decimal as its text, dates and times in ISO form, tuples as
    lists, keys as text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(), st.datetimes(timezones=st.just(UTC)), st.datetimes())
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=6), st.integers(), st.dates()), inner,
                    max_size=4)), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(values)
def test_stored_values_are_the_plain_reading_of_the_rule(value):
    assert audit.jsonable(value) == plain(value)


def test_a_calculation_keeps_its_money_to_the_fen_and_its_dates():
    stored = audit.jsonable({"events": [{"payout": Decimal("1200.50"), "on": date(2026, 3, 1),
                                         "trace": ({"amount": Decimal("-0.00")},)}]})
    assert stored == {"events": [{"payout": "1200.50", "on": "2026-03-01",
                                  "trace": [{"amount": "-0.00"}]}]}
