"""Post-payout monitoring against a hostile pass (6 Dec 2026): a follow-up closed or a
proposal declined meanwhile by someone else is not closed or declined again (the locked
read sees the row as it is, not the copy the request already held); the same form sent
twice records one measure, one step, one helper; a home check before the risk was
identified is refused; a report counts on the county's day it came in, not UTC's; text is
stripped before its length is checked. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from claims import clock, monitoring
from claims.models import AuditEntry
from claims.settings import get_settings
from policies.models import IncomeRecord
from risk.models import Assistance, Elimination, FollowUp, MonitoringAlert, MonitoringWindow
from risk.monitoring import add_months
from tests.claims.test_monitoring import (
    HOME_CHECK,
    lines_back,
    paid_and_fallen,
    pay,
    report,
    shift_story_back,
)


def _meanwhile(session: Session, change) -> None:
    """Another request's change, committed on a connection of its own."""
    with Session(session.get_bind()) as other:
        change(other)
        other.commit()


def test_a_follow_up_closed_meanwhile_is_not_closed_again(staff, client, session, claim,
                                                         county):
    paid_and_fallen(staff, client, session, claim, county)
    (case,) = session.exec(select(FollowUp)).all()  # held by this session, as a request's
    clerk = staff["clerk"]
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper",
                      json={"helper": "王帮扶"}).status_code == 200
    # the same helper sent again: nothing changes, one entry on the trail
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper",
                      json={"helper": "王帮扶"}).status_code == 200

    def close(other: Session) -> None:
        row = other.get(FollowUp, case.id)
        row.status, row.closed_on, row.outcome = "closed", clock.county_today(), "referred"

    _meanwhile(session, close)
    again = clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
                       json={"outcome": "assisted", "note": "再次关闭"})
    assert (again.status_code, again.json().get("code")) == (409, "follow_up_closed"), again.text
    trail = session.exec(select(AuditEntry.action).where(
        AuditEntry.entity == "follow_up")).all()
    assert trail == ["assign_helper"]


def test_a_measure_sent_twice_is_recorded_once(staff, client, session, claim, county):
    opened = paid_and_fallen(staff, client, session, claim, county)
    (case,) = session.exec(select(FollowUp)).all()
    measure = {"kind": "employment", "description": "  介绍到县城工地务工 ",
               "given_on": str(add_months(opened, 1) + timedelta(days=3))}
    url = f"/api/monitoring/follow-ups/{case.id}/assistance"
    assert staff["clerk"].post(url, json=measure).status_code == 201
    twice = staff["clerk"].post(url, json={**measure, "description": "介绍到县城工地务工"})
    assert (twice.status_code, twice.json()["code"]) == (409, "assistance_recorded")
    assert [a.description for a in session.exec(select(Assistance))] == ["介绍到县城工地务工"]
    short = staff["clerk"].post(url, json={**measure, "description": "a "})
    assert (short.status_code, short.json()["field"]) == (422, "description")


def test_a_proposal_declined_meanwhile_is_not_declined_again(staff, client, session, claim,
                                                             county):
    paid_and_fallen(staff, client, session, claim, county)
    clerk, household_id = staff["clerk"], claim.household_id
    base = f"/api/monitoring/households/{household_id}/elimination/steps"
    # a home check before the risk was identified is no check of this risk
    window = session.exec(select(MonitoringWindow)).one()
    early = clerk.post(f"{base}/home_check", json={
        **HOME_CHECK, "visit_date": str(window.identified_on - timedelta(days=1))})
    assert (early.status_code, early.json()["code"]) == (422, "before_identified")
    assert clerk.post(f"{base}/home_check", json=HOME_CHECK).status_code == 201
    twice = clerk.post(f"{base}/home_check", json=HOME_CHECK)
    assert (twice.status_code, twice.json()["code"]) == (409, "step_recorded")
    proposal = session.exec(select(Elimination)).one()  # held, as the access check holds it

    def decline(other: Session) -> None:
        row = other.get(Elimination, proposal.id)
        row.status, row.note = "declined", "第一次"

    _meanwhile(session, decline)
    again = clerk.post(f"/api/monitoring/eliminations/{proposal.id}/decline",
                       json={"note": "第二次"})
    assert again.status_code == 409, again.text
    session.expire_all()
    assert session.get(Elimination, proposal.id).note == "第一次"
    assert not session.exec(select(AuditEntry).where(AuditEntry.action == "decline")).all()


def test_a_report_counts_on_the_countys_day_it_came_in(staff, client, session, claim, county):
    """Entered at 07:30 in the county on the day after a report fell due (UTC's previous
    day): it answers the next report due, which is then not overdue."""
    zone = ZoneInfo(get_settings().timezone)
    lines_back(session, county)
    pay(staff, client, session, claim)
    today = clock.county_today()
    opened = add_months(today, -7)
    shift_story_back(session, claim, opened)
    due = add_months(opened, 3)
    made = report(staff["clerk"], session, claim.household_id, due, "30000")
    entered = datetime.combine(due + timedelta(days=1), time(7, 30), tzinfo=zone)
    assert entered.astimezone(UTC).date() == due  # UTC's day: the day before
    session.get(IncomeRecord, made["id"]).recorded_at = entered.astimezone(UTC)
    session.commit()
    window = session.exec(select(MonitoringWindow)).one()
    assert monitoring.picture(session, window, today).reported == [due + timedelta(days=1)]
    monitoring.evaluate(session, add_months(opened, 6) - timedelta(days=1))
    session.commit()
    assert "report_overdue" not in {a.kind for a in session.exec(select(MonitoringAlert))}
