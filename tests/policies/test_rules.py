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
