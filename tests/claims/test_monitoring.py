"""After the payout: a paid claim opens the household's monitoring window, the nightly
evaluation raises alerts with their figures (once while open), a later payout extends the
window, an ended window closes. On SQLite and PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import select

from claims import monitoring
from claims.models import Claim, IncomeRecord
from policies import registry
from policies.models import IncomeRecordCreate
from risk.models import MonitoringAlert, MonitoringWindow
from risk.monitoring import add_months
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
