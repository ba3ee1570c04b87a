from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.citizen_id import InvalidCitizenId, check_character, parse_citizen_id


def test_the_standards_own_example_is_valid_with_check_character_x():
    # GB 11643-1999 gives 11010519491231002X: Beijing 110105, born 1949-12-31, sequence 002.
    parsed = parse_citizen_id("11010519491231002x")
    assert parsed.number == "11010519491231002X"
    assert parsed.region_code == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"  # 002 is even


def test_odd_sequence_is_a_man():
    first17 = "41108119650312001"
    assert parse_citizen_id(first17 + check_character(first17)).sex == "male"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4110811965031200", "must be 18 characters, got 16"),
        ("41108119650312001A", "17 digits followed by a digit or X"),
        ("99108119650312001X", "names no province"),
        ("411081196502300011", "birth date 19650230 is not a calendar date"),
        ("411081188901010011", "out of range"),
    ],
)
def test_malformed_numbers_say_which_rule_they_break(number, reason):
    with pytest.raises(InvalidCitizenId, match=reason):
        parse_citizen_id(number)


def test_wrong_check_character_names_the_right_one():
    first17 = "41108119650312001"
    right = check_character(first17)
    wrong = "0" if right != "0" else "1"
    with pytest.raises(InvalidCitizenId, match=f"should be {right}"):
        parse_citizen_id(first17 + wrong)


def test_birth_date_in_the_future_is_refused():
    with pytest.raises(InvalidCitizenId, match="out of range"):
        parse_citizen_id("41108120300101001" + check_character("41108120300101001"),
                         today=date(2026, 1, 1))


def test_a_baby_born_on_the_countys_today_is_valid_while_the_servers_date_is_yesterday(
        monkeypatch):
    """At 00:30 in the county the server's (UTC) date was still yesterday, and a member born
    that day was refused (a tester's). The county's date decides."""
    from policies import history

    monkeypatch.setattr(history, "clock", lambda: date(2026, 12, 17))
    born = "41108120261217002"
    assert parse_citizen_id(born + check_character(born)).birth_date == date(2026, 12, 17)
    tomorrow = "41108120261218002"
    with pytest.raises(InvalidCitizenId, match="out of range"):
        parse_citizen_id(tomorrow + check_character(tomorrow))


valid_first17 = st.builds(
    lambda d, seq: f"411081{d:%Y%m%d}{seq:03d}",
    st.dates(date(1900, 1, 1), date(2020, 12, 31)),
    st.integers(1, 999),
)


@given(valid_first17, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_error_is_caught(first17, position, delta):
    number = first17 + check_character(first17)
    digit = (int(number[position]) + delta) % 10
    altered = number[:position] + str(digit) + number[position + 1 :]
    with pytest.raises(InvalidCitizenId):
        parse_citizen_id(altered)
