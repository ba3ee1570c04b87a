"""After the payout: a paid claim opens the household's monitoring window, the nightly
evaluation raises alerts with their figures (once while open), a later payout extends the
window, an ended window closes. On SQLite and PostgreSQL."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from sqlmodel import Session, select

from claims import clock, monitoring
from claims.models import AuditEntry, Claim, EarlyWarning, IncomeRecord, Member, Payment
from policies import benefits, history, registry
from policies.models import Household, IncomeRecordCreate, MonitoringLineCreate
from risk import features
from risk.models import (
    Elimination,
    EliminationStep,
    FollowUp,
    MonitoringAlert,
    MonitoringRun,
    MonitoringWindow,
)
from risk.monitoring import add_months
from tests.claims.conftest import START, TERMS
from tests.claims.test_lifecycle import act, bank_confirms, export_batch, to_approval
from tests.claims.test_web import browser  # noqa: F401 — the pages' fixture


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
    today = clock.county_today()
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
    paid_later = clock.county_today() + timedelta(days=40)
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
    today = clock.county_today()
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


HOME_CHECK = {"visit_date": str(clock.county_today()), "team": ["王核实", "李核实"],
              "findings": "务工收入稳定，住房安全", "housing_secure": True,
              "schooling_secure": True, "medical_secure": True, "water_secure": True}


def steps_back(session: Session, household_id: int, days: int) -> None:
    """Let time pass for a household's elimination: its steps move ``days`` into the past
    (a notice starts no earlier than the day its village review was recorded)."""
    for step in session.exec(select(EliminationStep).join(
            Elimination, Elimination.id == EliminationStep.elimination_id).where(
            Elimination.household_id == household_id)):
        step.created_at -= timedelta(days=days)
    session.commit()


def steps_done(clerk, session: Session, household_id: int) -> None:
    """The elimination's steps: a home check finding the basic needs secure, an agreeing
    village review eight days ago and a notice that has run its seven days."""
    base = f"/api/monitoring/households/{household_id}/elimination/steps"
    for kind, data in (("home_check", HOME_CHECK),
                       ("democratic_review", {"outcome": "agree",
                                              "representatives": ["代表甲", "代表乙"]}),
                       ("notice", {"start_date": str(
                           clock.county_today() - timedelta(days=7))})):
        if kind == "notice":
            steps_back(session, household_id, 8)
        answer = clerk.post(f"{base}/{kind}", json=data)
        assert answer.status_code == 201, answer.text


def test_a_households_story_from_the_shock_to_risk_elimination(staff, client, session, claim,
                                                              county):
    clerk, household_id = staff["clerk"], claim.household_id
    for year in (START.year - 3, START.year - 2, START.year - 1):
        registry.create_monitoring_line(session, MonitoringLineCreate(
            region_id=county.ids["county"], year=year, fixed_amount=Decimal("8700")))
    session.commit()
    pay(staff, client, session, claim)  # 7,500 paid to a household of three
    opened = add_months(clock.county_today(), -13)
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
    (listed,) = clerk.get("/api/monitoring/households").json()["data"]
    assert (listed["household_number"], sorted(listed["open_alerts"])) == (
        "H0001", ["below_line", "income_drop"])
    assert listed["latest"]["income_without_payout"] == "3000.00" and listed["follow_up_id"]

    # the office follows up: a helper, a job found; not closed without an outcome
    (case,) = session.exec(select(FollowUp)).all()
    assert {a.follow_up_id for a in session.exec(select(MonitoringAlert))} == {case.id}
    closing = {"outcome": "assisted", "note": "务工收入恢复"}
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
                      json=closing).json()["field"] == "helper"
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper",
                      json={"helper": "王帮扶"}).status_code == 200
    future = {"kind": "employment", "description": "介绍到县城务工",
              "given_on": str(clock.county_today() + timedelta(days=1))}
    refused = clerk.post(f"/api/monitoring/follow-ups/{case.id}/assistance", json=future)
    assert (refused.status_code, refused.json()["field"]) == (422, "given_on")
    given = clerk.post(f"/api/monitoring/follow-ups/{case.id}/assistance",
                       json={**future, "given_on": str(clock.county_today())})
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

    steps_done(clerk, session, household_id)
    confirmed = clerk.post(f"/api/monitoring/households/{household_id}/elimination",
                           json={**elimination, "eliminated_on": str(add_months(opened, 7))})
    assert confirmed.status_code == 201, confirmed.text
    assert (confirmed.json()["id"], confirmed.json()["status"]) == (proposal["id"], "confirmed")
    assert confirmed.json()["flags"] == []
    assert windows(session)[0].status == "eliminated"
    assert [e.action for e in session.exec(select(AuditEntry).where(
        AuditEntry.entity == "elimination").order_by(AuditEntry.id))] == [
        "home_check", "democratic_review", "notice", "confirm"]

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
    assert heading[:4] == ["分组 Group", "名称 Group name", "赔付户数 Households paid",
                           "6个月：线上 6 months: above"]
    assert [cell.value for cell in sheet[2]][:3] == ["全部赔付户 All households paid", None, 1]
    # a trigger in words, as the page names it (the workbook had written the code)
    assert [cell.value for cell in sheet[4]][:2] == ["按致贫原因 By trigger", "因病 illness"]


def lines_back(session, county) -> None:
    for year in (START.year - 3, START.year - 2, START.year - 1):
        registry.create_monitoring_line(session, MonitoringLineCreate(
            region_id=county.ids["county"], year=year, fixed_amount=Decimal("8700")))
    session.commit()


def test_the_terms_set_the_window_and_the_cadence_of_reports(staff, client, session, claim):
    terms = TERMS.replace("2026", str(START.year)) + (
        "\n[monitoring]\nwindow_months = 6\nreport_every_months = 1\n")
    version, _ = benefits.store_terms(session, "demo-monthly", terms)
    session.get(Claim, claim.id).terms_version_id = version.id
    session.commit()
    pay(staff, client, session, claim)
    (window,) = windows(session)
    assert window.ends_on == add_months(window.opened_on, 6)
    seen = monitoring.picture(session, window, window.opened_on)
    assert seen.due == [add_months(window.opened_on, k) for k in range(1, 7)]
    later = add_months(window.opened_on, 2) + timedelta(days=1)
    assert monitoring.picture(session, window, later).overdue == seen.due[:2]


def paid_and_fallen(staff, client, session, claim, county) -> date:
    """Paid 13 months ago; a month later the household reported income far below the line
    and the night's evaluation raised its alerts. Returns the payment day."""
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    report(staff["clerk"], session, claim.household_id, add_months(opened, 1), "9000")
    monitoring.evaluate(session, add_months(opened, 1))
    session.commit()
    return opened


def test_a_fall_that_persists_after_a_follow_up_closes_opens_a_new_one(staff, client, session,
                                                                      claim, county):
    opened = paid_and_fallen(staff, client, session, claim, county)
    (case,) = session.exec(select(FollowUp)).all()
    clerk = staff["clerk"]
    clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper", json={"helper": "王帮扶"})
    assert clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
                      json={"outcome": "referred", "note": "转介低保"}).status_code == 200
    counts = monitoring.evaluate(session, add_months(opened, 2))
    session.commit()
    assert (counts["alerts"], counts["follow_ups"]) == (2, 1)
    assert [c.status for c in session.exec(select(FollowUp).order_by(FollowUp.id))] == [
        "closed", "open"]


def test_a_declined_proposal_is_not_made_again_on_the_same_figures(staff, client, session,
                                                                  claim, county):
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    clerk = staff["clerk"]
    # the quarter's report is late: overdue, a follow-up opens, and while it is open the
    # household is not proposed, however well it does
    assert monitoring.evaluate(session, add_months(opened, 3) + timedelta(days=1))[
        "follow_ups"] == 1
    report(clerk, session, claim.household_id, add_months(opened, 6), "30000")
    assert monitoring.evaluate(session, add_months(opened, 6))["proposals"] == 0
    (case,) = session.exec(select(FollowUp)).all()
    clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper", json={"helper": "王帮扶"})
    clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
               json={"outcome": "recovered", "note": "已补报"})
    assert monitoring.evaluate(session, add_months(opened, 6))["proposals"] == 1
    session.commit()
    (proposal,) = session.exec(select(Elimination)).all()
    assert clerk.post(f"/api/monitoring/eliminations/{proposal.id}/decline",
                      json={"note": "x"}).status_code == 422  # say why
    assert clerk.post(f"/api/monitoring/eliminations/{proposal.id}/decline",
                      json={"note": "住房未保障"}).status_code == 200
    assert monitoring.evaluate(session, add_months(opened, 6))["proposals"] == 0
    report(clerk, session, claim.household_id, add_months(opened, 7), "30000")
    assert monitoring.evaluate(session, add_months(opened, 7))["proposals"] == 1


def test_without_labour_capacity_the_office_decides_and_a_quick_elimination_is_flagged(
        staff, client, session, claim, county, browser):  # noqa: F811
    lines_back(session, county)
    for member in session.exec(select(Member).where(
            Member.household_id == claim.household_id)):
        member.labour_skill = "lost"
    session.commit()
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    clerk = staff["clerk"]
    for months in (1, 3, 6, 7):
        report(clerk, session, claim.household_id, add_months(opened, months), "30000")
    counts = monitoring.evaluate(session, add_months(opened, 7))
    assert (counts["alerts"], counts["proposals"]) == (0, 0)  # stable, but no labour
    session.commit()
    steps_done(clerk, session, claim.household_id)  # the office starts it with its home check
    done = clerk.post(f"/api/monitoring/households/{claim.household_id}/elimination",
                      json={"way": "assistance", "eliminated_on": str(add_months(opened, 1))})
    assert done.status_code == 201, done.text
    assert done.json()["flags"] == [{"code": "quick_assistance", "months": 2},
                                    {"code": "not_proposed", "reason": "no_labour"}]
    # the trail words the flags, not their codes
    trail = browser("supervisor").get("/audit", params={"kind": "elimination"}).text
    assert "数据质量提示" in trail and "quick_assistance" not in trail
    again = clerk.post(f"/api/monitoring/households/{claim.household_id}/elimination",
                       json={"way": "natural", "eliminated_on": str(add_months(opened, 7))})
    assert again.status_code == 409  # its window has ended in elimination


def test_income_reports_come_in_a_file_with_every_bad_value_named(staff, client, session,
                                                                 claim, county):
    today = clock.county_today()
    start = str(add_months(today, -3) + timedelta(days=1))
    good = (f"户编号,起始日期,截止日期,工资性收入,转移性收入: 低保金\n"
            f"H0001,{start},{today},6000,900\n")
    bad = (f"H0001,{start},{today + timedelta(days=1)},6000,0\n"
           f"H9999,{start},{today},6000,0\n"
           f"H0001,{start},{today},-5,0\n")
    clerk = staff["clerk"]

    def upload(text, **params):
        return clerk.post("/api/imports/income-reports", params=params,
                          files={"file": ("reports.csv", text.encode("gbk"))})

    refused = upload(good + bad)
    assert refused.status_code == 422
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [
        (3, "period_end"), (4, "household_number"), (5, "wages")]
    assert "after today" in refused.json()["errors"][0]["reason"]
    assert session.exec(select(IncomeRecord).where(IncomeRecord.source == "report")).all() == []

    written = upload(good + bad, partial="true")
    assert (written.status_code, written.json()["created"], written.json()["skipped"]) == (
        200, 1, 3)
    (record,) = session.exec(select(IncomeRecord).where(IncomeRecord.source == "report")).all()
    assert record.net_income == Decimal("6900.00")
    again = upload(good)
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 1)
    changed = upload(good.replace("6000", "6500"))
    assert changed.status_code == 422 and "other figures" in changed.json()["errors"][0]["reason"]


def test_each_evaluation_is_recorded_and_one_runs_at_a_time(own_engine, monkeypatch):
    from claims.db import run_lock

    with run_lock(own_engine, "monitoring", monitoring.MONITORING_LOCK) as held:
        assert held and monitoring.run_monitoring(own_engine, clock.county_today(), "test") is None
    first = monitoring.run_monitoring(own_engine, clock.county_today(), "command")
    assert (first.status, first.counts["windows"]) == ("complete", 0)

    def broken(session, today):
        raise RuntimeError("the ledger is unreadable")

    monkeypatch.setattr(monitoring, "evaluate", broken)
    with pytest.raises(RuntimeError):
        monitoring.run_monitoring(own_engine, clock.county_today(), "scheduler")
    with Session(own_engine) as session:
        runs = session.exec(select(MonitoringRun).order_by(MonitoringRun.id)).all()
    assert [(r.started_by, r.status) for r in runs] == [("command", "complete"),
                                                       ("scheduler", "failed")]
    assert runs[1].note == "RuntimeError: the ledger is unreadable" and runs[1].finished_at


def test_the_windows_are_evaluated_on_a_dask_cluster_as_in_one_process(own_engine, dask_address):
    from fastapi.testclient import TestClient

    from claims import distributed
    from claims.app import create_app
    from claims.db import get_session, sessions_on
    from tests.claims.conftest import DEPARTMENT_KEY, build_county, evaluate
    from tests.claims.test_intake import illness

    with Session(own_engine) as session:
        household_id = build_county(session).household.id
    app = create_app()
    app.dependency_overrides[get_session] = sessions_on(lambda: own_engine)
    with TestClient(app, headers={"Authorization": f"Bearer {DEPARTMENT_KEY}"}) as api:
        assert api.post("/api/events", json=illness()).status_code == 202
    today = clock.county_today()
    with Session(own_engine) as session:
        evaluate(session)
        monitoring.open_or_extend(session, session.exec(select(Claim)).one(), today)
        registry.create_income_record(session, IncomeRecordCreate(
            household_id=household_id, period_start=add_months(today, -12) + timedelta(days=1),
            period_end=today, source="report", wages=Decimal("9000")))
        session.commit()

    with distributed.cluster(dask_address) as client:
        run = monitoring.run_monitoring(own_engine, today, "test", chunk=1,
                                        evaluate_ranges=distributed.window_evaluator(
                                            client, own_engine))
    assert (run.status, run.counts["windows"], run.counts["follow_ups"]) == ("complete", 1, 1)
    with Session(own_engine) as session:
        kinds = set(session.exec(select(MonitoringAlert.kind)).all())
    assert kinds == {"below_line", "income_drop"} and run.counts["alerts"] == 2
    assert monitoring.run_monitoring(own_engine, today, "test").counts["alerts"] == 0


def test_a_late_report_answers_the_overdue_one_and_a_closed_gap_stays_history(
        staff, client, session, claim, county):
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    due = add_months(opened, 3)
    monitoring.evaluate(session, due + timedelta(days=1))
    session.commit()
    assert open_alerts(session) == {"report_overdue": {"due": str(due)}}
    (case,) = session.exec(select(FollowUp)).all()
    clerk = staff["clerk"]
    clerk.post(f"/api/monitoring/follow-ups/{case.id}/helper", json={"helper": "王帮扶"})
    clerk.post(f"/api/monitoring/follow-ups/{case.id}/close",
               json={"outcome": "assisted", "note": "催报收入"})
    report(clerk, session, claim.household_id, due + timedelta(days=5), "30000")  # late
    assert monitoring.evaluate(session, due + timedelta(days=10))["alerts"] == 0
    assert monitoring.evaluate(session, add_months(opened, 6) - timedelta(days=1))[
        "alerts"] == 0


def test_a_new_payout_lapses_a_proposal_left_on_an_ended_window(staff, client, session,
                                                                claim, county, browser):  # noqa: F811
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    for months in (3, 6):
        report(staff["clerk"], session, claim.household_id, add_months(opened, months), "30000")
    assert monitoring.evaluate(session, add_months(opened, 6))["proposals"] == 1
    assert monitoring.evaluate(session, add_months(opened, 12) + timedelta(days=1))[
        "closed"] == 1
    monitoring.open_or_extend(session, session.get(Claim, claim.id), clock.county_today())
    session.commit()
    (old,) = session.exec(select(Elimination)).all()
    assert old.status == "lapsed" and old.note == monitoring.NEW_WINDOW
    assert [w.status for w in windows(session)] == ["closed", "open"]
    # the note is the system's, in the reader's words
    page = browser("clerk").get(f"/monitoring/households/{claim.household_id}").text
    assert "新的监测期" in page and monitoring.NEW_WINDOW not in page.split("<main", 1)[1]


def test_a_confirmed_elimination_takes_the_household_out_of_monitoring_from_that_day(
        staff, client, session, claim, county, monkeypatch):
    """风险消除 ends the household's monitoring: its category is cleared through the
    registry's history on the day the office confirms it, so the risk features of later days
    find it no longer monitored (it is ranked among the at-risk again) while those of earlier
    days — what a model trained on them saw — still find it monitored."""
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    report(staff["clerk"], session, claim.household_id, add_months(opened, 1), "30000")
    # identified for monitoring when the shock came: the registry as it stood from then on
    household = session.get(Household, claim.household_id)
    household.monitoring_category = "sudden_hardship"
    session.flush()
    history.record(session.connection(), households=[household.id],
                   members=[m.id for m in county.members], on=opened)
    session.commit()

    confirmed_on = clock.county_today()
    monkeypatch.setattr(history, "clock", lambda: confirmed_on)  # the county's date
    eliminated_on = add_months(opened, 2)
    steps_done(staff["clerk"], session, household.id)
    done = staff["clerk"].post(f"/api/monitoring/households/{household.id}/elimination",
                               json={"way": "natural", "eliminated_on": str(eliminated_on)})
    assert done.status_code == 201, done.text
    session.expire_all()
    assert session.get(Household, household.id).monitoring_category is None

    def population(day: date) -> str:
        return features.population(features.build(session, day))[household.id]

    assert population(add_months(opened, 1)) == "monitored"  # before the elimination
    # eliminated on a past day, but the registry learnt it today: a day in between still
    # reads the household as monitored, as the office then knew it
    assert population(confirmed_on - timedelta(days=1)) == "monitored"
    for day in (confirmed_on, confirmed_on + timedelta(days=30)):
        assert population(day) == "at_risk", day  # 10,000 a head, above the 8,700 line
    change = session.exec(select(AuditEntry).where(AuditEntry.entity == "household",
                                                   AuditEntry.action == "update")).one()
    assert (change.before, change.after) == ({"monitoring_category": "sudden_hardship"},
                                             {"monitoring_category": None})


def stable_since(staff, client, session, claim, county) -> tuple:
    """A household paid 13 months ago whose reports of months 1, 3, 6 and 7 after were well
    above the line: the clerk, the household and the day the payout opened its window."""
    lines_back(session, county)
    pay(staff, client, session, claim)
    opened = add_months(clock.county_today(), -13)
    shift_story_back(session, claim, opened)
    clerk, household_id = staff["clerk"], claim.household_id
    for months in (1, 3, 6, 7):
        report(clerk, session, household_id, add_months(opened, months), "30000")
    return clerk, household_id, opened


def test_the_office_confirms_an_elimination_only_after_its_steps(staff, client, session, claim,
                                                                 county):
    """DOMAIN.md §7: a home check, the village review and the notice come before the office's
    decision, each in its turn and on the audit trail; a need not secure, a disagreeing review,
    a running notice or an upheld objection stops the confirmation, which names what is
    missing."""
    clerk, household_id, opened = stable_since(staff, client, session, claim, county)
    base = f"/api/monitoring/households/{household_id}/elimination"
    decision = {"way": "natural", "eliminated_on": str(add_months(opened, 7))}

    def missing() -> tuple[int, str]:
        answer = clerk.post(base, json=decision)
        return answer.status_code, answer.json().get("value")

    def step(kind: str, **data):
        return clerk.post(f"{base}/steps/{kind}", json=data)

    assert missing() == (409, "home_check_missing")
    agree = {"outcome": "agree", "representatives": ["代表甲"]}
    assert step("democratic_review", **agree).status_code == 409  # no home check yet
    assert step("home_check", **{**HOME_CHECK, "team": ["王核实"]}).status_code == 422
    assert step("home_check", **{**HOME_CHECK, "visit_date": str(
        clock.county_today() + timedelta(days=1))}).status_code == 422
    assert step("home_check", **{**HOME_CHECK, "water_secure": False}).status_code == 201
    assert missing() == (409, "needs_not_secure")
    assert step("home_check", **HOME_CHECK).status_code == 201  # checked again: now secure
    assert missing() == (409, "review_missing")
    assert step("democratic_review", **{**agree, "outcome": "disagree"}).status_code == 201
    assert missing() == (409, "review_disagreed")
    assert step("notice", start_date=str(clock.county_today())).status_code == 409  # not agreed
    assert step("democratic_review", **agree).status_code == 201
    assert step("objection", text="有异议", upheld=False).status_code == 409  # no notice
    today = clock.county_today()
    # a notice starts on the day of the review or later: not before the village agreed
    early = step("notice", start_date=str(today - timedelta(days=3)))
    assert (early.status_code, early.json()["code"]) == (422, "notice_start")
    steps_back(session, household_id, 3)  # the review was three days ago
    assert step("notice", start_date=str(today - timedelta(days=3))).status_code == 201
    assert missing() == (409, "notice_running")
    assert step("objection", text="该户有车辆", upheld=True).status_code == 201
    assert missing() == (409, "objection_upheld")
    # an upheld objection puts the home check in doubt: a new notice alone does not do
    again = step("notice", start_date=str(today))
    assert (again.status_code, again.json()["code"]) == (409, "step_order")
    assert missing() == (409, "objection_upheld")
    # started again from the home check, the review eight days ago, a notice run to its end
    assert step("home_check", **HOME_CHECK).status_code == 201
    assert step("democratic_review", **agree).status_code == 201
    steps_back(session, household_id, 8)
    assert step("notice", start_date=str(today - timedelta(days=7))).status_code == 201
    # a new home check after the notice is reviewed and noticed in its turn (a hostile
    # tester's second check, with other findings, counted under the first's review)
    assert step("home_check", **{**HOME_CHECK, "findings": "新发现：务工已中断"}).status_code == 201
    assert missing() == (409, "review_missing")
    again = step("notice", start_date=str(today))
    assert (again.status_code, again.json()["code"]) == (409, "step_order")
    assert step("democratic_review", **agree).status_code == 201
    steps_back(session, household_id, 8)
    assert step("notice", start_date=str(today - timedelta(days=7))).status_code == 201
    done = clerk.post(base, json=decision)
    assert done.status_code == 201, done.text
    seen = clerk.get(f"/api/monitoring/households/{household_id}").json()
    (elimination,) = seen["eliminations"]
    assert [s["kind"] for s in elimination["steps"]] == [
        "home_check", "home_check", "democratic_review", "democratic_review", "notice",
        "objection", "home_check", "democratic_review", "notice", "home_check",
        "democratic_review", "notice"]
    assert session.exec(select(Household).where(Household.id == household_id)).one()
    actions = [e.action for e in session.exec(select(AuditEntry).where(
        AuditEntry.entity == "elimination").order_by(AuditEntry.id))]
    assert actions == ["home_check", "home_check", "democratic_review", "democratic_review",
                       "notice", "objection", "home_check", "democratic_review", "notice",
                       "home_check", "democratic_review", "notice", "confirm"]


def test_an_elimination_dated_back_is_refused_when_the_newest_report_is_below_the_line(
        staff, client, session, claim, county):
    """A hostile tester's household reported 60,000 for months, then 1,000 for the year to
    last month; dated back to the good report, the elimination was confirmed with the
    household at 500 a head against a line of 8,700."""
    clerk, household_id, opened = stable_since(staff, client, session, claim, county)
    report(clerk, session, household_id, add_months(opened, 12), "1000")
    base = f"/api/monitoring/households/{household_id}/elimination"
    assert clerk.post(f"{base}/steps/home_check", json=HOME_CHECK).status_code == 201
    assert clerk.post(f"{base}/steps/democratic_review", json={
        "outcome": "agree", "representatives": ["代表甲"]}).status_code == 201
    steps_back(session, household_id, 8)
    today = clock.county_today()
    assert clerk.post(f"{base}/steps/notice", json={
        "start_date": str(today - timedelta(days=7))}).status_code == 201
    back = clerk.post(base, json={"way": "natural", "eliminated_on": str(add_months(opened, 7))})
    assert (back.status_code, back.json()["code"]) == (422, "below_line"), back.text
    session.expire_all()
    assert windows(session)[0].status != "eliminated"


def test_a_window_past_its_end_stays_open_while_its_follow_up_is(staff, client, session,
                                                                 claim):
    """A hostile tester's window reached its end with a follow-up and alerts open: it closed,
    and the household left the office's monitoring lists with its case unfinished."""
    pay(staff, client, session, claim)
    (window,) = windows(session)
    today = clock.county_today()
    window.ends_on = today - timedelta(days=1)
    session.add(FollowUp(window_id=window.id, household_id=claim.household_id,
                         opened_on=today - timedelta(days=30), status="open"))
    session.commit()
    assert monitoring.evaluate(session, today)["closed"] == 0
    session.commit()
    session.expire_all()
    assert windows(session)[0].status == "open"
    case = session.exec(select(FollowUp)).one()
    case.status = "closed"
    session.commit()
    assert monitoring.evaluate(session, today)["closed"] == 1
    session.commit()
    session.expire_all()
    assert windows(session)[0].status == "closed"


def test_a_window_is_dated_on_the_countys_calendar_and_reads_the_year_recorded_last(
        session, claim, county):
    """A claim opened at 17:30 UTC is identified on the county's next day (Beijing is 8
    hours ahead); of two records of the year before the shock, the one recorded last is the
    income before it, whatever order they were stored in (a hostile tester's doubts)."""
    row = session.get(Claim, claim.id)
    row.opened_at = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
    later = registry.create_income_record(session, IncomeRecordCreate(
        household_id=county.household.id, period_start=date(row.policy_year - 1, 1, 1),
        period_end=date(row.policy_year - 1, 12, 31), source="report",
        wages=Decimal("900")))
    later.recorded_at = datetime(2020, 1, 1, tzinfo=UTC)  # stored last, recorded long before
    session.commit()

    window = monitoring.open_or_extend(session, row, date(2026, 3, 10))

    assert window.before_shock == Decimal("7000.00")  # the fixture's survey: 21,000 for 3
    assert window.identified_on == date(2026, 3, 2)
