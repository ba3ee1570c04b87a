"""Regressions of issue 15, each written before its fix: money leaking across events through
per-event limits, eligibility that could not say "or" or "<", rounding before comparing, the
waiting period skipped without a contract, and misspelt keys in a quote's file."""

from datetime import date
from decimal import Decimal as D

import pytest

from policies.calculator import HouseholdSnapshot, TriggerEvent, calculate
from policies.errors import InvalidInput
from policies.event_files import read_quote_file
from policies.terms import parse_terms

HEAD = '''
[policy]
title = "测试县 2026"
county = "测试县"
policy_year = 2026
'''
PERSON = "11010519491231002X"
ANYONE = HouseholdSnapshot("lifted_out")


def accident(event_id, day, cost):
    return TriggerEvent(event_id, "accident", day, PERSON, {"cost": D(cost)})


ACCIDENT_CAPPED = parse_terms(HEAD + '''
[triggers.accident]
base = { add = ["cost"] }
bands = [{ ratio = "1.0" }]
caps = { per_event = "30000.00" }
''')


def test_what_a_per_event_cap_cuts_is_never_paid_by_a_later_event():
    results = calculate(ACCIDENT_CAPPED, ANYONE, [
        accident("a", date(2026, 3, 1), "100000"), accident("b", date(2026, 4, 1), "0.01"),
        accident("c", date(2026, 5, 1), "0.01")]).events
    assert [r.payout for r in results] == [D("30000.00"), D("0.01"), D("0.01")]
    assert [r.reason for r in results] == ["cap_reached", None, None]


@pytest.mark.parametrize("order", [("100000", "10000"), ("10000", "100000")])
def test_a_per_event_cap_pays_each_event_its_own_capped_loss_in_any_order(order):
    quote = calculate(ACCIDENT_CAPPED, ANYONE, [
        accident("a", date(2026, 3, 1), order[0]), accident("b", date(2026, 4, 1), order[1])])
    assert quote.due == D("40000.00")  # 30,000 (capped) + 10,000


def test_a_per_event_deductible_applies_to_each_bill():
    terms = parse_terms(HEAD + '''
[triggers.accident]
base = { add = ["cost"] }
deductible = { amount = "10000", per = "event" }
''')
    whole = calculate(terms, ANYONE, [accident("a", date(2026, 3, 1), "40000")])
    split = calculate(terms, ANYONE, [accident("a", date(2026, 3, 1), "20000"),
                                      accident("b", date(2026, 3, 2), "20000")])
    assert (whole.due, split.due) == (D("30000.00"), D("20000.00"))


def test_a_zero_loss_never_pays_and_says_so():
    terms = parse_terms(HEAD + '''
[triggers.accident]
base = { add = ["cost"] }
bands = [{ up_to = "1000", ratio = "1" }, { ratio = "0.1" }]
caps = { per_event = "500" }
''')
    first, zero = calculate(terms, ANYONE, [accident("a", date(2026, 3, 1), "900"),
                                            accident("b", date(2026, 3, 2), "0")]).events
    assert (first.payout, first.reason) == (D("500.00"), "cap_reached")
    assert (zero.payout, zero.reason) == (D("0.00"), "no_loss")


def or_terms():
    return parse_terms(HEAD + '''
[eligibility]
waiting_days = 0

[[eligibility.any_of]]
household_types = ["lifted_out"]

[[eligibility.any_of]]
monitoring_categories = ["unstable_lifted_out", "marginal", "sudden_hardship"]

[[eligibility.any_of]]
per_capita_income = { below = "1.5" }

[triggers.accident]
base = { add = ["cost"] }
''')


@pytest.mark.parametrize(("household", "reason"), [
    # a monitored household above the income limit: covered by its monitoring category
    (HouseholdSnapshot("ordinary", "sudden_hardship", D("20000"), D("8700")), None),
    (HouseholdSnapshot("ordinary", None, D("13049.99"), D("8700")), None),
    # strictly below 1.5 × the line: exactly at it is not below
    (HouseholdSnapshot("ordinary", None, D("13050.00"), D("8700")), "not_eligible"),
])
def test_eligibility_can_say_or_and_strictly_below(household, reason):
    [result] = calculate(or_terms(), household, [accident("a", date(2026, 3, 1), "100")]).events
    assert result.reason == reason
    assert result.payout == (D("100.00") if reason is None else D("0.00"))
    assert any(line.step == "eligibility" for line in result.trace)


def test_limits_are_compared_exactly_not_after_rounding():
    terms = parse_terms(HEAD + '''
[eligibility]
max_income_multiple = "1.5"

[triggers.accident]
base = { add = ["cost"] }
''')
    household = HouseholdSnapshot("lifted_out", None, D("13050.02"), D("8700.01"))
    [result] = calculate(terms, household, [accident("a", date(2026, 3, 1), "100")]).events
    # 1.5 × 8,700.01 = 13,050.015 exactly, and 13,050.02 is above it
    assert (result.payout, result.reason) == (D("0.00"), "income_above_limit")
    assert any("13,050.015" in line.text for line in result.trace)


def test_the_waiting_period_counts_from_the_policy_year_without_a_contract():
    terms = parse_terms(HEAD + '''
[eligibility]
waiting_days = 30

[triggers.accident]
base = { add = ["cost"] }
''')
    early, later = calculate(terms, ANYONE, [accident("a", date(2026, 1, 10), "100"),
                                             accident("b", date(2026, 2, 1), "100")]).events
    assert (early.payout, early.reason) == (D("0.00"), "waiting_period")
    assert (later.payout, later.reason) == (D("100.00"), None)


def test_a_misspelt_key_in_a_quote_file_is_refused_by_name():
    with pytest.raises(InvalidInput) as refused:
        read_quote_file(b'{"household": {"household_type": "lifted_out"}, "events": [], '
                        b'"prior_payout": [{"trigger": "illness", "amount": "6500"}]}',
                        "events.json")
    assert refused.value.field == "prior_payout"
    assert "prior_payout" in str(refused.value)
