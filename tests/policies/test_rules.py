from decimal import Decimal

import pytest

from policies import rules
from policies.models import INCOME_COMPONENTS

ZERO = {name: Decimal("0.00") for name in (*INCOME_COMPONENTS, "business_costs")}


def test_net_income_adds_every_component_and_subtracts_business_costs():
    components = {
        **ZERO, "wages": Decimal("18000.00"), "business_crops": Decimal("3200.50"),
        "business_livestock": Decimal("800.00"), "property_income": Decimal("100.00"),
        "transfer_pension": Decimal("1800.00"), "transfer_poverty_insurance": Decimal("6208.00"),
        "business_costs": Decimal("1200.25"),
    }
    # 18000 + 3200.50 + 800 + 100 + 1800 + 6208 − 1200.25 = 28908.25
    assert rules.net_income(components) == Decimal("28908.25")


@pytest.mark.parametrize(
    ("net", "size", "expected"),
    [
        ("10000.00", 3, "3333.33"),  # 3333.333… rounds down
        ("100.01", 2, "50.01"),  # 50.005 rounds half-up
        ("26100.00", 3, "8700.00"),
        ("-100.01", 2, "-50.01"),  # half away from zero on a loss
    ],
)
def test_per_capita_rounds_half_up_to_the_fen(net, size, expected):
    assert rules.per_capita(Decimal(net), size) == Decimal(expected)


def test_per_capita_of_an_empty_household_is_refused():
    with pytest.raises(ValueError, match="no active member"):
        rules.per_capita(Decimal("100"), 0)


def test_line_as_a_multiple_of_the_national_standard():
    # A county's 2019 line was 5,100 = 1.5 × the previous year's standard of 3,400.
    assert rules.line_amount(None, Decimal("1.5"), Decimal("3400.00")) == Decimal("5100.00")
    assert rules.line_amount(Decimal("9000.00"), None, None) == Decimal("9000.00")
    with pytest.raises(ValueError):
        rules.line_amount(None, Decimal("1.5"), None)


def test_premium_is_per_person_times_insured_people():
    # 石城 2022: 45 per person for 10,000 insured.
    assert rules.premium(Decimal("45.00"), 10_000) == Decimal("450000.00")


@pytest.mark.parametrize(("amount", "plausible"), [
    ("999.99", False), ("1000.00", True), ("5100.00", True), ("8700.00", True),
    ("10560.00", True), ("50000.00", True), ("50000.01", False),
    ("0.01", False), ("870.00", False), ("87000.00", False), ("999999999999.99", False),
])
def test_a_fixed_line_is_plausible_from_1000_to_50000_yuan(amount, plausible):
    fault = rules.line_fault(Decimal(amount), None, None)
    assert (fault is None) == plausible
    if fault is not None:
        field, code, values = fault
        assert (field, code) == ("fixed_amount", "line_out_of_range")
        assert values == {"amount": f"{Decimal(amount):,.2f}", "low": "1,000.00",
                          "high": "50,000.00"}
        assert rules.line_problem(fault) == (
            f"fixed_amount: a line of {Decimal(amount):,.2f} yuan a person a year is outside "
            "the plausible range of 1,000.00 to 50,000.00 yuan: check the figure")


def test_a_multiple_is_judged_by_the_line_it_makes():
    # 1.5 × 3,400 = 5,100 (a county's 2019 line); 0.3 × 3,400 = 1,020; 0.29 × 3,400 = 986
    assert rules.line_fault(None, Decimal("1.5"), Decimal("3400.00"), 2018) is None
    assert rules.line_fault(None, Decimal("0.3"), Decimal("3400.00"), 2018) is None
    assert rules.line_fault(None, Decimal("0.29"), Decimal("3400.00"), 2018) == (
        "multiple", "line_multiple_out_of_range", {
            "amount": "986.00", "low": "1,000.00", "high": "50,000.00", "multiple": "0.29",
            "year": "2018", "standard": "3,400.00"})
    # a standard typed with a zero too many (34,000) makes 51,000; 10 × 8,700 is 87,000
    assert rules.line_fault(None, Decimal("1.500"), Decimal("34000.00"), 2018)[2] == {
        "amount": "51,000.00", "low": "1,000.00", "high": "50,000.00", "multiple": "1.5",
        "year": "2018", "standard": "34,000.00"}
    assert rules.line_fault(None, Decimal("10"), Decimal("8700.00"), 2024)[2][
        "multiple"] == "10"
    # the bounds are named constants, both ends included
    assert (rules.LINE_LOW, rules.LINE_HIGH) == (Decimal("1000.00"), Decimal("50000.00"))
