"""The rules that watch a paid household (pure): windows, reports due and missing, alerts
with their figures, and risk elimination with the national data-quality checks."""

from datetime import date
from decimal import Decimal

from risk import monitoring as m

RULES = m.MonitoringRules()
LINE = Decimal("8700.00")


def test_a_payout_opens_a_window_and_a_later_one_extends_it():
    opened = m.window_end(date(2026, 3, 31), None, RULES)
    assert opened == date(2027, 3, 31)
    assert m.window_end(date(2026, 8, 31), opened, RULES) == date(2027, 8, 31)
    assert m.window_end(date(2026, 1, 1), opened, RULES) == opened  # never shortened
    assert m.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_reports_are_due_quarterly_and_a_missing_one_is_overdue():
    due = m.reports_due(date(2026, 1, 15), date(2027, 1, 15), RULES)
    assert due == [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15),
                   date(2027, 1, 15)]
    reported = [date(2026, 4, 10), date(2026, 10, 1)]  # the July report never came
    assert m.overdue_reports(due, reported, today=date(2026, 11, 1)) == [date(2026, 7, 15)]
    # a report due today is not yet overdue
    assert m.overdue_reports(due, [], today=date(2026, 4, 15)) == []


def test_per_capita_income_with_and_without_the_payout():
    assert m.per_capita(Decimal("40000"), Decimal("10000"), 4) == (
        Decimal("10000.00"), Decimal("7500.00"))


def test_alerts_carry_their_figures_and_income_at_the_line_is_not_below_it():
    calm = m.alerts(line=LINE, income=LINE, income_without_payout=LINE,
                    before_shock=Decimal("9000"), score=0.30, score_before=0.10,
                    new_shock=False, rules=RULES)
    assert calm == []  # at the line; a drop of 3.3%; a rise of 0.20
    fallen = m.alerts(line=LINE, income=Decimal("8699.99"),
                      income_without_payout=Decimal("6000.00"),
                      before_shock=Decimal("9000"), score=0.35, score_before=0.10,
                      new_shock=True, rules=RULES)
    kinds = {a.kind: a.figures for a in fallen}
    assert set(kinds) == {m.BELOW_LINE, m.DROP, m.SCORE_RISE, m.NEW_SHOCK}
    assert kinds[m.BELOW_LINE] == {"income": "8699.99", "line": "8700.00"}
    assert kinds[m.DROP]["before_shock"] == "9000"
    assert kinds[m.SCORE_RISE] == {"score": "0.35", "score_before": "0.10"}


def test_exactly_six_months_above_the_line_proposes_elimination():
    months = [(date(2026, k, 1), LINE + 1, LINE) for k in range(1, 7)]
    assert m.months_above_line(months) == 6
    assert m.propose_elimination(months_above=6, costs_settled=True, new_risk=False,
                                 has_labour=True, rules=RULES) == (True, [])
    dipped = [*months[:3], (date(2026, 4, 1), LINE - 1, LINE), *months[4:]]
    assert m.months_above_line(dipped) == 2
    proposed, why = m.propose_elimination(months_above=5, costs_settled=True, new_risk=False,
                                          has_labour=True, rules=RULES)
    assert not proposed and why == ["income above the line for 5 of the 6 months needed"]


def test_a_household_without_labour_capacity_is_not_proposed_automatically():
    proposed, why = m.propose_elimination(months_above=12, costs_settled=True, new_risk=False,
                                          has_labour=False, rules=RULES)
    assert not proposed and "labour capacity" in why[0]


def test_elimination_below_the_line_is_refused_and_a_quick_one_by_assistance_flagged():
    errors, flags = m.check_elimination(way=m.BY_ASSISTANCE, identified=date(2026, 5, 10),
                                        eliminated=date(2026, 7, 9), income=LINE, line=LINE,
                                        rules=RULES)
    assert errors == [] and flags == [
        "eliminated by assistance within 2 months of identification"]
    errors, flags = m.check_elimination(way=m.BY_ASSISTANCE, identified=date(2026, 5, 10),
                                        eliminated=date(2026, 7, 10), income=LINE, line=LINE,
                                        rules=RULES)
    assert errors == [] and flags == []  # two months to the day: not suspect
    errors, _ = m.check_elimination(way=m.NATURALLY, identified=date(2026, 1, 1),
                                    eliminated=date(2026, 9, 1), income=LINE - 1, line=LINE,
                                    rules=RULES)
    assert errors == ["per-capita income 8699.00 is below the line 8700.00"]
