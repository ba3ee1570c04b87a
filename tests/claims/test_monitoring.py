"""After the payout: a paid claim opens the household's monitoring window, the nightly
evaluation raises alerts with their figures (once while open), a later payout extends the
window, an ended window closes. On SQLite and PostgreSQL."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
from sqlmodel import select

from claims import monitoring
from claims.models import AuditEntry, Claim, EarlyWarning, IncomeRecord, Payment
from policies import registry
from policies.models import IncomeRecordCreate, MonitoringLineCreate
from risk.models import FollowUp, MonitoringAlert, MonitoringWindow
from risk.monitoring import add_months
from tests.claims.conftest import START
from tests.claims.test_lifecycle import act, bank_confirms, export_batch, to_approval


def pay(staff, client, session, claim) -> None:
    to_approval(staff, claim, session)
    act(staff["supervisor"], claim, "approve", {"amount": "7500.00"})
    bank_confirms(client, export_batch(client))
    session.expire_all()
    assert session.get(Claim, claim.id).state == "paid"


def windows(session) -> list[MonitoringWindow]:
    session.expire_all()
    return session.exec(select(MonitoringWindow)).all()


def open_alerts(session) -> dict[str, dict]:
    session.expire_all()
    return {a.kind: a.figures for a in session.exec(
        select(MonitoringAlert).where(MonitoringAlert.status == "open"))}


def test_a_paid_household_is_watched_and_a_fall_raises_alerts_once(staff, client, session,
                                                                    claim):
    pay(staff, client, session, claim)
    (window,) = windows(session)
    today = date.today()
    assert (window.household_id, window.opened_on) == (claim.household_id, today)
    assert window.ends_on == add_months(today, 12)

    assert monitoring.evaluate(session, today)["alerts"] == 0  # nothing reported yet
    # the office enters a quarterly report: next to nothing earned
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=claim.household_id, period_start=today - timedelta(days=89),
        period_end=today, source="report", wages=Decimal("1500.00")))
    session.commit()
    counts = monitoring.evaluate(session, today)
    session.commit()
    alerts = open_alerts(session)
    assert counts["alerts"] == len(alerts) and "below_line" in alerts
    assert Decimal(alerts["below_line"]["income"]) < Decimal(alerts["below_line"]["line"])
    assert monitoring.evaluate(session, today)["alerts"] == 0  # not raised twice

    # today's report answers the first quarter; the second quarter's never came
    later = add_months(today, 6) + timedelta(days=1)
    monitoring.evaluate(session, later)
    session.commit()
    assert open_alerts(session)["report_overdue"] == {
        "due": str(add_months(today, 6))}

    listed = client.get("/api/monitoring/alerts").json()
    assert {a["kind"] for a in listed["data"]} == set(open_alerts(session))


def test_a_later_payout_extends_the_window_and_an_ended_one_closes(staff, client, session,
                                                                  claim):
    pay(staff, client, session, claim)
    (window,) = windows(session)
    paid_later = date.today() + timedelta(days=40)
    monitoring.open_or_extend(session, session.get(Claim, claim.id), paid_later)
    session.commit()
    (extended,) = windows(session)
    assert extended.id == window.id
    assert extended.ends_on == add_months(paid_later, 12)
    after = extended.ends_on + timedelta(days=1)
    assert monitoring.evaluate(session, after)["closed"] == 1
    session.commit()
    assert windows(session)[0].status == "closed"


def test_income_exactly_at_the_line_raises_nothing(staff, client, session, claim, county):
    pay(staff, client, session, claim)
    today = date.today()
    line = Decimal(registry.monitoring_line_for(session, county.ids["village0"],
                                                today.year)["amount"])
    size = len(county.members)
    registry.create_income_record(session, IncomeRecordCreate(
        household_id=claim.household_id, period_start=date(today.year, 1, 1),
        period_end=today, source="report", wages=line * size))
    session.commit()
    monitoring.evaluate(session, today)
    session.commit()
    records = session.exec(select(IncomeRecord).where(IncomeRecord.source == "report")).all()
    assert records[0].per_capita_net_income == line
    assert "below_line" not in open_alerts(session)


# ------------------------------------------------------------------ a household's whole story


def shift_story_back(session, claim, opened: date) -> None:
    """The payout happened on ``opened``: the window, the payment and the payout's ledger
    record move there, and the risk was identified that day."""
    session.expire_all()
    (window,) = windows(session)
    window.opened_on = window.identified_on = opened
    window.ends_on = add_months(opened, 12)
    payment = session.exec(select(Payment).where(Payment.claim_id == claim.id)).one()
    payment.paid_at = datetime.combine(opened, datetime.min.time(), tzinfo=UTC)
    payout = session.exec(select(IncomeRecord).where(IncomeRecord.source == "payout")).one()
    payout.period_start = payout.period_end = opened
    survey = session.exec(select(IncomeRecord).where(IncomeRecord.source == "survey")).one()
    survey.period_start, survey.period_end = date(opened.year - 1, 1, 1), date(
        opened.year - 1, 12, 31)  # the year before the shock
    for warning in session.exec(select(EarlyWarning)):  # the shock's own warning was handled
        warning.status = "closed"
    session.commit()


def report(clerk, session, household_id, end: date, wages: str) -> dict:
    """The office reports the 12 months to ``end``, on that day."""
    answer = clerk.post(f"/api/households/{household_id}/income-reports", json={
        "period_start": str(add_months(end, -12) + timedelta(days=1)),
        "period_end": str(end), "wages": wages})
    assert answer.status_code == 201, answer.text
    record = session.get(IncomeRecord, answer.json()["id"])
    record.recorded_at = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    session.commit()
    return answer.json()


def test_a_households_story_from_the_shock_to_risk_elimination(staff, client, session, claim,
                                                              county):
    clerk, household_id = staff["clerk"], claim.household_id
    for year in (START.year - 3, START.year - 2, START.year - 1):
        registry.create_monitoring_line(session, MonitoringLineCreate(
            region_id=county.ids["county"], year=year, fixed_amount=Decimal("8700")))
    session.commit()
    pay(staff, client, session, claim)  # 7,500 paid to a household of three
    opened = add_months(date.today(), -13)
    shift_story_back(session, claim, opened)

    # a month after the payout income has fallen: 9,000 a year earned by three people
    fallen = report(clerk, session, household_id, add_months(opened, 1), "9000")
    assert fallen["rolling"]["income"] == "5500.00"  # the payout counts as transfer income
    assert fallen["rolling"]["income_without_payout"] == "3000.00"
    counts = monitoring.evaluate(session, add_months(opened, 1))
    session.commit()
    assert (counts["alerts"], counts["follow_ups"]) == (2, 1)
    alerts = open_alerts(session)
    assert alerts["below_line"] == {"income": "5500.00", "line": "8700.00"}
    assert alerts["income_drop"]["before_shock"] == "7000.00"
    assert monitoring.evaluate(session, add_months(opened, 1))["alerts"] == 0

    # the office follows up: a helper, a job found; not closed without an outcome
    (case,) = session.exec(select(FollowUp)).all()
    assert {a.follow_up_id for a in session.exec(select(MonitoringAlert))} == {case.id}
    closing = {"outcome": "assisted", "note": "务工收入恢复"}
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
                      json=closing).json()["field"] == "helper"
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper",
                      json={"helper": "王帮扶"}).status_code == 200
    future = {"kind": "employment", "description": "介绍到县城务工",
              "given_on": str(date.today() + timedelta(days=1))}
    refused = clerk.post(f"/api/monitoring/follow-ups/{case.id}/assistance", json=future)
    assert (refused.status_code, refused.json()["field"]) == (422, "given_on")
    given = clerk.post(f"/api/monitoring/follow-ups/{case.id}/assistance",
                       json={**future, "given_on": str(date.today())})
    assert given.status_code == 201
    elimination = {"way": "assistance", "eliminated_on": str(add_months(opened, 1))}
    assert clerk.post(f"/api/monitoring/households/{household_id}/elimination",
                      json=elimination).status_code == 409  # the follow-up is open
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
                      json=closing).status_code == 200
    assert open_alerts(session) == {}
    below = clerk.post(f"/api/monitoring/households/{household_id}/elimination",
                       json=elimination)
    assert below.status_code == 422 and "below the line" in below.json()["message"]
    assert below.json()["field"] == "income"

    # recovery: above the line without the payout, then exactly at it
    for months, wages in ((3, "30000"), (6, "27000")):
        report(clerk, session, household_id, add_months(opened, months), wages)
        assert monitoring.evaluate(session, add_months(opened, months))["proposals"] == 0
        session.commit()
    assert monitoring.picture(session, windows(session)[0],
                              add_months(opened, 6)).months_stable == 5
    report(clerk, session, household_id, add_months(opened, 7), "26100")
    counts = monitoring.evaluate(session, add_months(opened, 7))
    session.commit()
    assert (counts["alerts"], counts["proposals"]) == (0, 1)  # six months exactly
    assert monitoring.evaluate(session, add_months(opened, 7))["proposals"] == 0
    seen = clerk.get(f"/api/monitoring/households/{household_id}").json()
    (proposal,) = seen["eliminations"]
    assert proposal["status"] == "proposed"
    assert proposal["figures"]["months_stable"] == 6
    assert proposal["figures"]["income_without_payout"] == "8700.00"

    confirmed = clerk.post(f"/api/monitoring/households/{household_id}/elimination",
                           json={**elimination, "eliminated_on": str(add_months(opened, 7))})
    assert confirmed.status_code == 201, confirmed.text
    assert (confirmed.json()["id"], confirmed.json()["status"]) == (proposal["id"], "confirmed")
    assert confirmed.json()["flags"] == []
    assert windows(session)[0].status == "eliminated"
    assert session.exec(select(AuditEntry).where(AuditEntry.entity == "elimination")).one()

    # the county's outcome report: above the line at 6 months, eliminated by 12
    outcome = clerk.get(f"/api/reports/outcomes?policy_year={claim.policy_year}").json()
    total, *rest = outcome["rows"]
    assert (total["by"], total["paid"], total["above_6"], total["eliminated_12"]) == (
        "total", 1, 1, 1)
    assert {(r["by"], r["name"]) for r in rest} == {("township", "火龙镇"),
                                                    ("trigger", "illness")}
    book = clerk.get(f"/api/reports/outcomes?policy_year={claim.policy_year}&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    heading = [cell.value for cell in sheet[1]]
    assert heading[2] == "赔付户数 households paid"
    assert [cell.value for cell in sheet[2]][:3] == ["合计 total", None, 1]
