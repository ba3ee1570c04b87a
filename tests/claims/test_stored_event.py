"""The evaluator reads stored events without validating them again (benefits.stored_event):
compared here with what validating them gives, on events generated as departments send them
and stored as the intake stores them, and on payloads of other shapes. No database."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from claims.intake import payload_of
from policies.benefits import EventIn, stored_event
from policies.citizen_id import check_character
from policies.types import STORED


def _id_number(body: str) -> str:
    return body + check_character(body)


ID_NUMBERS = st.builds(
    lambda region, birth, serial: _id_number(f"{region}{birth:%Y%m%d}{serial:03d}"),
    st.sampled_from(["410181", "110105", "632123"]),
    st.dates(date(1930, 1, 1), date(2020, 12, 31)), st.integers(0, 999))
AMOUNTS = st.one_of(
    st.decimals(0, 10**9, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.integers(0, 10**6).map(str), st.integers(0, 10**6),
    st.sampled_from(["0", "0.5", "12345.6", "1000.00", " 7.10 "]))
TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                max_size=12)
SENT = st.fixed_dictionaries({
    "event_id": TEXTS, "type": st.sampled_from(["illness", "disability", "disaster", "x"]),
    "event_date": st.dates(date(2020, 1, 1), date(2026, 12, 31)).map(date.isoformat),
    "id_number": st.one_of(st.none(), ID_NUMBERS),
    "amounts": st.dictionaries(st.sampled_from(["total_cost", "assessed_loss", "a"]), AMOUNTS,
                               max_size=3),
    "details": st.dictionaries(st.sampled_from(["hospital", "kind", "grade"]),
                               st.one_of(TEXTS, st.integers(-5, 5)), max_size=3)})


def _validated(payload: dict) -> object:
    try:
        return EventIn.model_validate(payload, context=STORED).to_event(event_id="k")
    except ValidationError:
        return "refused"


def _read(payload: dict) -> object:
    try:
        return stored_event(payload, "k")
    except ValidationError:
        return "refused"


def _same(a: object, b: object) -> None:
    assert a == b
    if a != "refused":  # equal Decimals may still print differently: 1.5 against 1.50
        assert {k: str(v) for k, v in a.amounts.items()} == {
            k: str(v) for k, v in b.amounts.items()}


@settings(max_examples=300, deadline=None)
@given(SENT)
def test_an_event_as_the_intake_stores_it_reads_as_validating_it_gives(sent):
    try:
        event = EventIn.model_validate(sent)
    except ValidationError:
        return  # the intake refuses it: never stored
    _same(_read(payload_of(event)), _validated(payload_of(event)))


@settings(max_examples=300, deadline=None)
@given(SENT)
def test_a_payload_of_any_other_shape_is_validated_as_before(payload):
    _same(_read(payload), _validated(payload))


@pytest.mark.parametrize("payload", [
    {"event_id": "a", "type": "illness", "event_date": "2026-03-01", "id_number": None,
     "amounts": {"total_cost": 1000.5}, "details": {}},  # a float, as once stored
    {"event_id": "a", "type": "illness", "event_date": "2026-3-1", "id_number": None,
     "amounts": {}, "details": {}},
    {"event_id": "a", "type": "illness", "event_date": "2026-03-01", "id_number": None,
     "amounts": {"total_cost": "1,000.00"}, "details": {"grade": 2}},
    {"event_id": "a", "type": "illness", "event_date": "2026-03-01",
     "amounts": {"total_cost": "1000.00"}, "details": {}},  # no id_number key
])
def test_older_shapes_take_the_validating_path(payload):
    _same(_read(payload), _validated(payload))


def test_a_stored_amount_keeps_its_two_places():
    payload = payload_of(EventIn.model_validate({
        "event_id": "a", "type": "illness", "event_date": "2026-03-01",
        "amounts": {"total_cost": "1000.5"}}))
    assert stored_event(payload, "k").amounts == {"total_cost": Decimal("1000.50")}
    assert str(stored_event(payload, "k").amounts["total_cost"]) == "1000.50"
