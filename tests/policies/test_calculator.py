"""The payout calculator: golden cases computed by hand, and properties that must always hold."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.calculator import HouseholdSnapshot, PriorPayout, TriggerEvent, calculate
from policies.terms import Terms, parse_terms

HEAD = '''
[policy]
title = "测试县 2026"
county = "测试县"
policy_year = 2026
'''
MEDICAL = ('base = { add = ["total_cost"], subtract = ["basic_insurance_paid", '
           '"critical_illness_paid", "medical_assistance_paid"] }\n')
TERMS = parse_terms(HEAD + '''
[eligibility]
max_income_multiple = "1.5"
waiting_days = 30

[triggers.illness]
''' + MEDICAL + '''
deductible = { amount = "5000" }
bands = [{ up_to = "10000", ratio = "0.3" }, { up_to = "30000", ratio = "0.5" }, { ratio = "0.9" }]
caps = { per_person_year = "40000" }
warning = { amount = "18000" }

[triggers.disability]
fixed_by = { detail = "grade", amounts = { "1" = "5000", "2" = "3000" } }

[triggers.accident]
base = { add = ["cost"], subtract = ["compensation_paid"] }
bands = [{ ratio = "0.5" }]
caps = { per_event = "2000" }

[[shared_caps]]
triggers = ["illness", "accident"]
per_household_year = "50000"
''')
HOUSEHOLD = HouseholdSnapshot(
    household_type="lifted_out", monitoring_category="marginal",
    per_capita_income=D("9000.00"), monitoring_line=D("8700.00"),
    covered_from=date(2026, 1, 1), covered_to=date(2026, 12, 31),
)
PERSON, SPOUSE = "11010519491231002X", "110105195001010019"


def bill(event_id, day, out_of_pocket, person=PERSON, total=None):
    """A hospital bill whose out-of-pocket part (total − what insurers paid) is given."""
    total = D(total) if total is not None else D(out_of_pocket) + D("1000")
    return TriggerEvent(event_id, "illness", day, person, {
        "total_cost": total, "basic_insurance_paid": total - D(out_of_pocket),
        "critical_illness_paid": D(0), "medical_assistance_paid": D(0)})


def trace_sum(result):
    return sum((line.amount for line in result.trace if line.amount is not None), D(0))


def test_one_bill_through_deductible_and_bands():
    event = TriggerEvent("e1", "illness", date(2026, 3, 1), PERSON, {
        "total_cost": D("50000"), "basic_insurance_paid": D("20000"),
        "critical_illness_paid": D("5000"), "medical_assistance_paid": D("3000")})
    [result] = calculate(TERMS, HOUSEHOLD, [event]).events
    # base 50,000 − 20,000 − 5,000 − 3,000 = 22,000; above the 5,000 deductible: 17,000
    # 10,000 × 30% = 3,000; 7,000 × 50% = 3,500; payout 6,500
    assert result.base == D("22000.00")
    assert result.payout == D("6500.00")
    assert result.warning  # 22,000 passes the 18,000 warning threshold
    assert trace_sum(result) == result.payout
    assert [line.amount for line in result.trace if line.step == "band"] == [D("3000"), D("3500")]


def test_second_bill_pays_only_the_growth_of_the_years_entitlement():
    quote = calculate(TERMS, HOUSEHOLD, [
        bill("e1", date(2026, 3, 1), "22000"), bill("e2", date(2026, 6, 1), "10000.33")])
    first, second = quote.events
    # cumulative 32,000.33; above deductible 27,000.33: 3,000 + 17,000.33 × 50% = 11,500.165
    # → 11,500.17 (half-up); less 6,500 already counted: 5,000.17
    assert (first.payout, second.payout) == (D("6500.00"), D("5000.17"))
    assert trace_sum(second) == second.payout
    assert any(line.step == "rounding" and line.amount == D("0.005") for line in second.trace)
    assert not second.warning  # the threshold was crossed by the first bill
    assert quote.due == D("11500.17")


def test_a_warning_counts_the_losses_of_the_coverage_period_only():
    """An outside auditor's bill of the last day before the year had raised the warning on a
    bill of the year whose own year's loss was 10,000, under the 18,000 of the terms."""
    before = bill("e0", date(2025, 12, 31), "10000")
    within = bill("e1", date(2026, 3, 1), "10000")
    earlier, this_year = calculate(TERMS, HOUSEHOLD, [before, within]).events
    assert earlier.reason == "outside_coverage" and not earlier.warning
    assert not this_year.warning
    # alone, a loss of the year before warns of nothing either
    [alone] = calculate(TERMS, HOUSEHOLD, [bill("e0", date(2025, 12, 31), "18000.01")]).events
    assert not alone.warning
    # within the year, a bill that pays nothing (the waiting period) still counts
    early = bill("e2", date(2026, 1, 10), "10000")
    first, second = calculate(TERMS, HOUSEHOLD, [early, within]).events
    assert first.payout == D("0") and second.warning


def test_person_cap_and_prior_payouts():
    quote = calculate(TERMS, HOUSEHOLD, [bill("e1", date(2026, 3, 1), "100000")],
                      [PriorPayout("illness", D("6500"))])
    # 3,000 + 20,000 × 50% + 65,000 × 90% = 71,500, capped at 40,000 per person per year
    [result] = quote.events
    assert result.payout == D("40000.00")
    assert trace_sum(result) == D("40000.00")
    assert quote.due == D("33500.00")  # 40,000 − 6,500 already paid


def test_shared_household_cap_across_people_and_triggers():
    events = [bill("a", date(2026, 3, 1), "100000"),
              bill("b", date(2026, 4, 1), "100000", person=SPOUSE),
              TriggerEvent("c", "accident", date(2026, 5, 1), PERSON, {"cost": D("10000")})]
    results = calculate(TERMS, HOUSEHOLD, events).events
    # each spouse is entitled to 40,000; the household cap of 50,000 leaves 10,000 for the
    # second, and nothing for the accident
    assert [r.payout for r in results] == [D("40000.00"), D("10000.00"), D("0.00")]
    assert results[2].reason == "cap_reached"


def test_per_event_cap_and_fixed_amounts():
    accident = TriggerEvent("a", "accident", date(2026, 5, 1), PERSON,
                            {"cost": D("9000"), "compensation_paid": D("1000")})
    disability = TriggerEvent("d", "disability", date(2026, 5, 2), PERSON, details={"grade": "2"})
    unknown_grade = TriggerEvent("g", "disability", date(2026, 5, 3), SPOUSE,
                                 details={"grade": "4"})
    results = calculate(TERMS, HOUSEHOLD, [accident, disability, unknown_grade]).events
    # accident: (9,000 − 1,000) × 50% = 4,000, cut to the 2,000 per-event cap
    assert [r.payout for r in results] == [D("2000.00"), D("3000.00"), D("0.00")]
    assert results[2].reason == "no_amount"
    assert all(trace_sum(r) == r.payout for r in results)


@pytest.mark.parametrize(
    ("household", "day", "reason"),
    [
        (HouseholdSnapshot("lifted_out", None, D("13050.01"), D("8700")), date(2026, 3, 1),
         "income_above_limit"),  # limit 1.5 × 8,700 = 13,050
        (HouseholdSnapshot("lifted_out", None, None, None), date(2026, 3, 1), "income_unknown"),
        (HOUSEHOLD, date(2026, 1, 30), "waiting_period"),  # covered from 1 Jan, 30 days
        (HOUSEHOLD, date(2027, 1, 1), "outside_coverage"),
    ],
)
def test_eligibility_is_checked_and_explained(household, day, reason):
    [result] = calculate(TERMS, household, [bill("e", day, "50000")]).events
    assert result.payout == 0 and result.reason == reason
    steps = [line.step for line in result.trace]
    assert "eligibility" in steps and "payout" not in steps


def test_income_exactly_at_the_limit_is_eligible():
    household = HouseholdSnapshot("lifted_out", None, D("13050.00"), D("8700"))
    [result] = calculate(TERMS, household, [bill("e", date(2026, 3, 1), "6000")]).events
    assert result.payout == D("300.00")  # 1,000 above the deductible at 30%


def test_uncovered_types_and_small_bills_say_why():
    results = calculate(TERMS, HOUSEHOLD, [
        TriggerEvent("h", "housing", date(2026, 3, 1), None, {"repair_cost": D("1")}),
        bill("s", date(2026, 3, 1), "4000")]).events
    assert [(r.payout, r.reason) for r in results] == [
        (D("0.00"), "not_covered"), (D("0.00"), "below_deductible")]


# ---------------------------------------------------------------- properties

amounts = st.decimals(min_value=0, max_value=500_000, places=2, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(amounts, st.lists(st.integers(1, 1000), min_size=1, max_size=8))
def test_splitting_a_bill_pays_the_same_as_the_whole(total, weights):
    one = calculate(TERMS, HOUSEHOLD, [bill("all", date(2026, 3, 1), total)]).due
    cents = int(total * 100)
    shares = [cents * w // sum(weights) for w in weights]
    shares[-1] += cents - sum(shares)
    pieces = [bill(f"p{i}", date(2026, 3, 1) + timedelta(days=i), D(s) / 100)
              for i, s in enumerate(shares)]
    assert calculate(TERMS, HOUSEHOLD, pieces).due == one


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(amounts, st.sampled_from([PERSON, SPOUSE]),
                          st.sampled_from(["illness", "accident"])), min_size=1, max_size=10))
def test_payouts_are_never_negative_never_above_a_cap_and_traces_add_up(events):
    built = []
    for i, (amount, person, kind) in enumerate(events):
        day = date(2026, 2, 1) + timedelta(days=i)
        if kind == "illness":
            built.append(bill(f"e{i}", day, amount, person=person))
        else:
            built.append(TriggerEvent(f"e{i}", "accident", day, person, {"cost": amount}))
    quote = calculate(TERMS, HOUSEHOLD, built)
    by_person = {}
    for result, event in zip(quote.events, sorted(built, key=lambda e: e.event_date),
                             strict=True):
        assert result.payout >= 0
        assert trace_sum(result) == result.payout
        if event.trigger == "accident":
            assert result.payout <= D("2000")
        else:
            by_person[event.id_number] = by_person.get(event.id_number, 0) + result.payout
    assert all(total <= D("40000") for total in by_person.values())
    assert quote.entitled <= D("50000") + sum(r.payout for r in quote.events
                                             if r.trigger not in ("illness", "accident"))


@settings(max_examples=150, deadline=None)
@given(amounts, amounts)
def test_a_larger_loss_never_pays_less(a, b):
    low, high = sorted((a, b))
    pay = [calculate(TERMS, HOUSEHOLD, [bill("e", date(2026, 3, 1), x)]).due
           for x in (low, high)]
    assert pay[0] <= pay[1]


def test_what_a_per_event_cap_cuts_is_gone_and_the_next_bill_pays_its_own_band_slice():
    terms = parse_terms(HEAD + '''
[triggers.illness]
''' + MEDICAL + '''
bands = [{ up_to = "1000", ratio = "1" }, { ratio = "0.1" }]
caps = { per_event = "500" }
''')
    household = HouseholdSnapshot("lifted_out")
    smaller = calculate(terms, household, [bill("a", date(2026, 3, 1), "900"),
                                           bill("b", date(2026, 3, 2), "1000")]).events
    larger = calculate(terms, household, [bill("a", date(2026, 3, 1), "1000"),
                                          bill("b", date(2026, 3, 2), "1000")]).events
    # a: its own 900 (or 1,000) at 100%, cut to 500 for good; b: 100 more at 100% and
    # 900 at 10% = 190, or 1,000 at 10% = 100. A larger first bill pays less in all: a
    # per-event cap is why "a larger loss never pays less" holds only without one.
    assert [r.payout for r in smaller] == [D("500.00"), D("190.00")]
    assert [r.payout for r in larger] == [D("500.00"), D("100.00")]
    assert [r.reason for r in smaller] == ["cap_reached", None]
    assert all(trace_sum(r) == r.payout for r in smaller + larger)


def test_events_outside_the_policy_year_are_not_paid_without_a_contract():
    household = HouseholdSnapshot("lifted_out", None, D("9000"), D("8700"))
    [result] = calculate(TERMS, household, [bill("old", date(1999, 1, 1), "50000")]).events
    assert result.payout == 0 and result.reason == "outside_coverage"


def test_reasons_for_nothing_paid():
    terms = parse_terms(HEAD + '''
[triggers.illness]
''' + MEDICAL + '''
deductible = { amount = "1000", per = "event" }
''')
    household = HouseholdSnapshot("lifted_out")
    big, small, nothing = calculate(terms, household, [
        bill("a", date(2026, 3, 1), "5000"), bill("b", date(2026, 3, 2), "800"),
        bill("c", date(2026, 3, 3), "0")]).events
    assert big.payout == D("4000.00")
    assert (small.payout, small.reason) == (D("0.00"), "below_deductible")
    assert (nothing.payout, nothing.reason) == (D("0.00"), "no_loss")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(amounts, st.sampled_from([PERSON, SPOUSE])), min_size=1, max_size=6),
       st.randoms(use_true_random=False))
def test_the_order_of_a_years_bills_does_not_change_the_total(bills, random):
    events = [bill(f"e{i}", date(2026, 2, 1) + timedelta(days=i), amount, person=person)
              for i, (amount, person) in enumerate(bills)]
    shuffled = [bill(f"e{i}", date(2026, 2, 1) + timedelta(days=i), amount, person=person)
                for i, (amount, person) in enumerate(random.sample(bills, len(bills)))]
    assert calculate(TERMS, HOUSEHOLD, events).due == calculate(TERMS, HOUSEHOLD, shuffled).due


# ---------------------------------------------------------------- per-event rules (issue 15)

def _accident_terms(caps: str, deductible: str) -> Terms:
    return parse_terms(HEAD + '''
[triggers.accident]
base = { add = ["cost"] }
bands = [{ up_to = "20000", ratio = "0.9" }, { up_to = "50000", ratio = "0.333" }, { ratio = "1" }]
''' + deductible + caps)


DEDUCTIBLES = ['', 'deductible = { amount = "3000", per = "event" }\n',
               'deductible = { amount = "3000", per = "year" }\n']


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(amounts, st.sampled_from([PERSON, SPOUSE])), min_size=1, max_size=8),
       st.sampled_from(DEDUCTIBLES), st.decimals(min_value=0, max_value=60000, places=2))
def test_a_per_event_cap_cuts_each_event_alone_and_nothing_else(losses, deductible, cap):
    events = [TriggerEvent(f"e{i}", "accident", date(2026, 2, 1) + timedelta(days=i), person,
                           {"cost": loss}) for i, (loss, person) in enumerate(losses)]
    uncapped = calculate(_accident_terms("", deductible), HOUSEHOLD, events).events
    capped = calculate(_accident_terms(f'caps = {{ per_event = "{cap}" }}\n', deductible),
                       HOUSEHOLD, events).events
    for free, cut, (loss, _) in zip(uncapped, capped, losses, strict=True):
        # each event: its own entitlement, cut to the cap, whatever the others were cut
        assert cut.payout == min(free.payout, cap)
        assert cut.payout <= loss  # ratios are at most 100%
        if loss == 0:
            assert (cut.payout, cut.reason) == (D("0.00"), "no_loss")
        assert (cut.reason == "cap_reached") == (free.payout > cap)


PER_PERSON = [
    'deductible = { amount = "3000", per = "year" }\ncaps = { per_person_year = "30000" }\n',
    'deductible = { amount = "3000", per = "event" }\ncaps = { per_person_year = "15000", '
    'per_event = "9000" }\n',
    'caps = { per_person_year = "20000" }\n']


def _elsewhere(quote, events) -> list:
    """Each event's result there, as another household's calculation carries it."""
    from policies.calculator import NOT_ELIGIBLE, Elsewhere

    by_id = {e.event_id: e for e in events}
    return [Elsewhere(r.event_id, r.trigger, by_id[r.event_id].event_date,
                      by_id[r.event_id].id_number, D(0) if r.reason in NOT_ELIGIBLE else r.base,
                      r.payout) for r in quote.events]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(amounts, st.integers(0, 300)), min_size=1, max_size=8),
       st.integers(0, 300), st.sampled_from(PER_PERSON))
def test_a_person_who_moved_has_one_year_across_her_households(bills, moved_on, rules):
    """A tester's member was paid 229,300 against a 150,000 cap per person: her bills were
    judged in the household she belonged to on each day, each household's calculation
    starting her year afresh. Calculated in two households, one carrying the other's
    events, her bills are paid as one household's calculation of her whole year pays them."""
    terms = _accident_terms(rules, "")
    day0 = date(2026, 1, 15)
    events = [TriggerEvent(f"e{i:02d}", "accident", day0 + timedelta(days=offset), PERSON,
                           {"cost": loss}) for i, (loss, offset) in enumerate(bills)]
    whole = {r.event_id: r.payout for r in calculate(terms, HOUSEHOLD, events).events}
    move = day0 + timedelta(days=moved_on)
    before = [e for e in events if e.event_date < move]
    after = [e for e in events if e.event_date >= move]
    first = calculate(terms, HOUSEHOLD, before, elsewhere=_elsewhere(
        calculate(terms, HOUSEHOLD, after), after))
    second = calculate(terms, HOUSEHOLD, after, elsewhere=_elsewhere(
        calculate(terms, HOUSEHOLD, before), before))
    split = {r.event_id: r.payout for r in (*first.events, *second.events)}
    assert split == whole
    assert first.entitled + second.entitled == sum(whole.values(), D(0))
    for result in second.events:  # the trace still adds up to each payout
        assert trace_sum(result) == result.payout
    if before and after:  # and it says what it carried
        assert any(line.step == "elsewhere" for line in second.events[0].trace)


def test_a_household_that_was_not_eligible_counts_none_of_her_loss_elsewhere():
    from policies.calculator import Elsewhere

    terms = _accident_terms('deductible = { amount = "3000", per = "year" }\n', "")
    there = [Elsewhere("x", "accident", date(2026, 2, 1), PERSON, D("0"), D("0"))]
    here = [TriggerEvent("e1", "accident", date(2026, 3, 1), PERSON, {"cost": D("5000")})]
    # her 4,000 there counted nothing: here her deductible is still whole (2,000 above it)
    assert calculate(terms, HOUSEHOLD, here, elsewhere=there).events[0].payout == D("1800.00")
    # nor does a household's deductible carry: it is the household's own
    household = parse_terms(HEAD + '''
[triggers.accident]
base = { add = ["cost"] }
deductible = { amount = "3000", per = "year", unit = "household" }
bands = [{ ratio = "0.5" }]
''')
    counted = [Elsewhere("x", "accident", date(2026, 2, 1), PERSON, D("4000"), D("500"))]
    assert calculate(household, HOUSEHOLD, here, elsewhere=counted).events[0].payout == D(
        "1000.00")


def test_what_was_paid_her_elsewhere_counts_against_her_cap_whatever_its_date():
    """A re-tester's late bill of her old household, dated before her new household's paid
    one, was given the room the new household had paid out."""
    from policies.calculator import Elsewhere

    terms = _accident_terms('caps = { per_person_year = "20000" }\n', "")
    here = [TriggerEvent("e1", "accident", date(2026, 3, 1), PERSON, {"cost": D("30000")})]
    later = dict(event_id="x", trigger="accident", event_date=date(2026, 9, 1),
                 id_number=PERSON, base=D("10000"), paid=D("9000"))
    # by date, a later event elsewhere leaves this one its room; paid already, it does not
    assert calculate(terms, HOUSEHOLD, here, elsewhere=[Elsewhere(**later)]).events[
        0].payout == D("20000.00")
    assert calculate(terms, HOUSEHOLD, here, elsewhere=[Elsewhere(**later, settled=True)]
                     ).events[0].payout == D("11000.00")
