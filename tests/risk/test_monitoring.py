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


def report(start, end, income, payouts="0", size=4):
    return m.Report(start, end, Decimal(income), Decimal(payouts), size)


def test_rolling_income_counts_the_payout_as_transfer_income_and_shows_it_without():
    year = report(date(2025, 7, 1), date(2026, 6, 30), "40000")
    rolling = m.rolling_income([year], [(date(2026, 3, 1), Decimal("10000"))],
                               date(2026, 6, 30))
    assert (rolling.income, rolling.income_without_payout) == (
        Decimal("12500.00"), Decimal("10000.00"))
    assert rolling.covered_days == rolling.span_days == 365
    # a payout outside the 12 months is not counted; one the report lists is taken out
    listed = report(date(2025, 7, 1), date(2026, 6, 30), "40000", payouts="8000")
    rolling = m.rolling_income([listed], [(date(2025, 6, 30), Decimal("10000"))],
                               date(2026, 6, 30))
    assert (rolling.income, rolling.income_without_payout) == (
        Decimal("10000.00"), Decimal("8000.00"))


def test_a_payout_counts_once_and_is_never_annualised():
    # the report lists the payout the ledger also records apart: counted once
    listed = report(date(2025, 7, 1), date(2026, 6, 30), "40000", payouts="10000")
    rolling = m.rolling_income([listed], [(date(2026, 3, 1), Decimal("10000"))],
                               date(2026, 6, 30))
    assert (rolling.income, rolling.income_without_payout) == (
        Decimal("10000.00"), Decimal("7500.00"))
    # a quarter's earnings are annualised, the payout it lists is not
    quarter = report(date(2026, 4, 1), date(2026, 6, 30), "7000", payouts="5000", size=1)
    rolling = m.rolling_income([quarter], [], date(2026, 6, 30))
    earned = (Decimal(2000) * 365 / 91).quantize(Decimal("0.01"))
    assert (rolling.income, rolling.income_without_payout) == (earned + 5000, earned)


def test_a_report_overlapping_a_newer_one_counts_for_the_days_it_adds():
    survey = report(date(2025, 1, 1), date(2025, 12, 31), "36500", size=1)
    december = report(date(2025, 12, 1), date(2025, 12, 31), "3100", size=1)
    rolling = m.rolling_income([survey, december], [], date(2025, 12, 31))
    assert rolling.covered_days == 365 and rolling.income == Decimal("36500.00")
    # the 12 months to 28 February 2025 are 1 March 2024 on: 365 days, not 366
    year = report(date(2024, 3, 1), date(2025, 2, 28), "36500", size=1)
    rolling = m.rolling_income([year], [], date(2025, 2, 28))
    assert (rolling.span_days, rolling.income) == (365, Decimal("36500.00"))


def test_rolling_income_joins_a_quarter_to_the_older_survey_pro_rata_and_annualises_gaps():
    survey = report(date(2025, 1, 1), date(2025, 12, 31), "36500", size=5)
    quarter = report(date(2026, 4, 1), date(2026, 6, 30), "9100", size=4)
    rolling = m.rolling_income([survey, quarter], [], date(2026, 6, 30))
    # July-December 2025 from the survey (184 of 365 days), April-June from the report, and
    # January-March (90 days) annualised from the 275 covered; divided by today's 4 members
    assert rolling.covered_days == 184 + 91 and rolling.span_days == 365
    expected = (Decimal(36500) * 184 / 365 + Decimal(9100)) * 365 / 275 / 4
    assert rolling.income == expected.quantize(Decimal("0.01"))
    # a report newer than the day asked about is not used; nothing in the 12 months: None
    assert m.rolling_income([quarter], [], date(2026, 5, 31)) is None
    assert m.rolling_income([survey], [], date(2027, 1, 1)) is None


def test_the_incomes_of_several_days_are_those_of_each_day_asked_alone():
    # the nightly run asks about every report day at once: nothing of one day's sum leaks
    # into another's, whatever the order, and a listed payout the ledger also holds counts once
    ledger = [report(date(2025, 1, 1), date(2025, 12, 31), "36500", size=5),
              report(date(2026, 1, 1), date(2026, 3, 31), "9000", payouts="7500"),
              report(date(2026, 4, 1), date(2026, 6, 30), "6000", payouts="2000")]
    payouts = [(date(2026, 2, 1), Decimal("7500"))]
    days = [date(2026, 6, 30), date(2025, 12, 31), date(2026, 3, 31), date(2027, 7, 1)]
    together = m.rolling_incomes(ledger, payouts, days)
    assert together == [m.rolling_incomes(list(reversed(ledger)), payouts, [day])[0]
                        for day in days]
    assert together[3] is None
    assert together[0].income - together[0].income_without_payout == (
        (Decimal(7500) + Decimal(2000)) / 4).quantize(Decimal("0.01"))


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
    since = date(2026, 1, 15)
    quarterly = [(date(2026, 4, 15), LINE, LINE), (date(2026, 7, 15), LINE + 1, LINE)]
    assert m.months_stable(quarterly, since) == 6  # income exactly at the line counts
    assert m.months_stable(quarterly[:1], since) == 3
    assert m.months_stable([(date(2026, 7, 14), LINE, LINE)], since) == 5
    assert m.propose_elimination(months_above=6, costs_settled=True, new_risk=False,
                                 has_labour=True, rules=RULES) == (True, [])
    dipped = [(date(2026, 4, 15), LINE - 1, LINE), (date(2026, 7, 15), LINE + 1, LINE)]
    assert m.months_stable(dipped, since) == 3  # counted again from the report below it
    assert m.months_stable([*dipped, (date(2026, 8, 1), LINE - 1, LINE)], since) == 0
    proposed, why = m.propose_elimination(months_above=5, costs_settled=True, new_risk=False,
                                          has_labour=True, rules=RULES)
    assert not proposed and why == [{"code": "months_short", "months": 5, "needed": 6}]


def test_a_household_without_labour_capacity_is_not_proposed_automatically():
    proposed, why = m.propose_elimination(months_above=12, costs_settled=True, new_risk=False,
                                          has_labour=False, rules=RULES)
    assert not proposed and why == [{"code": "no_labour"}]


def test_elimination_below_the_line_is_refused_and_a_quick_one_by_assistance_flagged():
    errors, flags = m.check_elimination(way=m.BY_ASSISTANCE, identified=date(2026, 5, 10),
                                        eliminated=date(2026, 7, 9), income=LINE, line=LINE)
    assert errors == [] and flags == [{"code": "quick_assistance", "months": 2}]
    errors, flags = m.check_elimination(way=m.BY_ASSISTANCE, identified=date(2026, 5, 10),
                                        eliminated=date(2026, 7, 10), income=LINE, line=LINE)
    assert errors == [] and flags == []  # two months to the day: not suspect
    errors, _ = m.check_elimination(way=m.NATURALLY, identified=date(2026, 1, 1),
                                    eliminated=date(2026, 9, 1), income=LINE - 1, line=LINE)
    assert errors == [{"code": "below_line", "income": LINE - 1, "line": LINE}]


def test_where_a_paid_household_stands_six_and_twelve_months_later():
    paid = date(2026, 1, 20)
    points = [(date(2026, 4, 20), LINE - 1, LINE), (date(2026, 7, 20), LINE, LINE)]
    at = dict(paid_on=paid, points=points, eliminated_on=None, today=date(2027, 6, 1))
    assert m.outcome_at(months=6, **at) == m.ABOVE  # the report on the day, at the line
    assert m.outcome_at(months=6, **{**at, "points": points[:1]}) == m.FELL_BACK
    assert m.outcome_at(months=6, **{**at, "points": []}) == m.NO_REPORT
    assert m.outcome_at(months=12, **{**at, "eliminated_on": date(2026, 12, 1)}) == (
        m.ELIMINATED)
    assert m.outcome_at(months=12, **{**at, "today": date(2027, 1, 19)}) == m.NOT_YET


def test_of_two_reports_of_one_period_the_one_recorded_last_counts():
    """A report sent again for the same quarter with other figures (a correction sent as a
    new report) replaces the first, in whatever order the ledger stored them; a hostile
    tester's second report was ignored because the first stored won."""
    first = m.Report(date(2026, 4, 1), date(2026, 6, 30), Decimal("3000"), Decimal(0), 3)
    again = m.Report(date(2026, 4, 1), date(2026, 6, 30), Decimal("18750"), Decimal(0), 3)

    def a_head(net: str) -> Decimal:  # the quarter's 91 days annualised, divided by 3
        return (Decimal(net) * 365 / 91 / 3).quantize(Decimal("0.01"))

    assert m.rolling_income([first, again], [], date(2026, 6, 30)).income == a_head("18750")
    assert m.rolling_income([again, first], [], date(2026, 6, 30)).income == a_head("3000")
