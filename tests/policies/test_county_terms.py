"""The shipped county terms reproduce what the counties published."""

from datetime import date
from decimal import Decimal as D
from pathlib import Path

from policies.calculator import HouseholdSnapshot, TriggerEvent, calculate
from policies.terms import load_terms

FOLDER = Path(__file__).resolve().parents[2] / "policies" / "county_terms"
HOUSEHOLD = HouseholdSnapshot("lifted_out")
PERSON = "11010519491231002X"


def illness(event_id, year, total, insurers_paid, person=PERSON, day=1):
    return TriggerEvent(event_id, "illness", date(year, 3, day), person,
                        {"total_cost": D(total), "basic_insurance_paid": D(insurers_paid)})


def test_jingshan_2021_pays_the_whole_out_of_pocket():
    terms = load_terms(FOLDER / "jingshan-2021.toml")
    # Published: total 233,900, insurance paid 74,800, payout the whole out-of-pocket.
    [result] = calculate(terms, HOUSEHOLD, [illness("case", 2021, "233900", "74800")]).events
    assert result.base == D("159100.00")  # 233,900 − 74,800 (published, rounded: 159,000)
    assert result.payout == result.base


def test_nanzhang_2018_deductible_starting_and_top_ratio():
    terms = load_terms(FOLDER / "nanzhang-2018.toml")
    small = calculate(terms, HOUSEHOLD, [illness("s", 2018, "7000", "1000")]).events[0]
    assert small.payout == D("300.00")  # (6,000 − 5,000) × 30%
    at_deductible = calculate(terms, HOUSEHOLD, [illness("d", 2018, "5000", "0")]).events[0]
    assert at_deductible.payout == 0 and at_deductible.reason == "below_deductible"
    big = calculate(terms, HOUSEHOLD, [illness("b", 2018, "200000", "0")]).due
    bigger = calculate(terms, HOUSEHOLD, [illness("b", 2018, "201000", "0")]).due
    assert bigger - big == D("900.00")  # the top ratio: 90% of each further 1,000
    fire = TriggerEvent("f", "disaster", date(2018, 5, 1), None, details={"kind": "house_fire"})
    assert calculate(terms, HOUSEHOLD, [fire]).due == D("6000.00")  # the published fire case


def test_hunchun_2022_caps_a_person_at_5000_a_year_across_triggers():
    terms = load_terms(FOLDER / "hunchun-mijiang-2022.toml")
    events = [illness("i", 2022, "30000", "0"),
              TriggerEvent("a", "accident", date(2022, 6, 1), PERSON, {"cost": D("20000")})]
    quote = calculate(terms, HOUSEHOLD, events)
    assert quote.due == D("5000.00")
    assert [r.payout for r in quote.events] == [D("5000.00"), D("0.00")]


def test_ganzhou_cap_per_person_rose_from_90000_to_300000():
    for year, cap in ((2019, "90000.00"), (2022, "300000.00")):
        terms = load_terms(FOLDER / f"ganzhou-{year}.toml")
        due = calculate(terms, HOUSEHOLD, [illness("i", year, "2000000", "0")]).due
        assert due == D(cap)


def test_laiyuan_warns_at_18000_before_anything_is_payable():
    terms = load_terms(FOLDER / "laiyuan-2021.toml")
    quote = calculate(terms, HOUSEHOLD, [illness("a", 2021, "10000", "0", day=1),
                                         illness("b", 2021, "9000", "0", day=2)])
    first, second = quote.events
    assert (first.warning, second.warning) == (False, True)  # 19,000 > 18,000
    assert quote.due == 0  # the payable threshold lies above the warning one


def test_shicheng_2022_covers_a_declared_liability_trigger():
    terms = load_terms(FOLDER / "shicheng-2022.toml")
    event = TriggerEvent("l", "liability", date(2022, 7, 1), None,
                         {"compensation_owed": D("12000"), "paid_by_other_insurance": D("2000")})
    assert calculate(terms, HOUSEHOLD, [event]).due == D("4000.00")  # (10,000 − 2,000) × 50%


def test_a_quote_pays_one_fire_reported_by_two_members_once():
    """An outside auditor's quote paid one house fire twice, reported by two members on one
    day (12,000), which the engine pays once (same_loss); a fire of another day is another
    loss."""
    from policies import benefits

    terms = load_terms(FOLDER / "nanzhang-2018.toml")

    def fire(event_id, person, day=1):
        return benefits.EventIn(event_id=event_id, type="disaster",
                                event_date=date(2018, 5, day), id_number=person,
                                details={"kind": "house_fire"})

    quote = benefits.quote(terms, HOUSEHOLD, [fire("B", "110105195001010012"), fire("A", PERSON)])
    assert [(e.event_id, e.payout, e.reason) for e in quote.events] == [
        ("A", D("6000.00"), None), ("B", D("0.00"), "same_loss")]
    assert quote.due == D("6000.00")
    assert "the same loss as event A" in quote.events[1].trace[0].text
    again = benefits.quote(terms, HOUSEHOLD, [fire("A", PERSON), fire("C", PERSON, day=9)])
    assert again.due == D("12000.00")
