"""Post-payout monitoring (赔付后监测), the service: a paid payout opens or extends the
household's monitoring window; the nightly run evaluates every open window with the rules of
risk.monitoring and raises the alerts they call for, once each while open. Services flush;
the caller commits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from claims.models import Claim, Household, IncomeRecord, TriggerEvent
from claims.nightly import current_run
from policies import registry
from policies.errors import DomainError
from policies.vocab import IncomeSource
from risk import monitoring as watch
from risk.models import HouseholdScore, MonitoringAlert, MonitoringWindow, ScoreRun

RULES = watch.MonitoringRules()
REPORT_OVERDUE = "report_overdue"


def open_or_extend(session: Session, claim: Claim, paid_on: date,
                   rules: watch.MonitoringRules = RULES) -> MonitoringWindow:
    """The payout of ``claim`` paid on ``paid_on`` opens the household's window, or extends
    the open one; flushes."""
    window = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == claim.household_id,
        MonitoringWindow.status == "open")).first()
    if window is None:
        window = MonitoringWindow(
            household_id=claim.household_id, opened_on=paid_on, claim_id=claim.id,
            ends_on=watch.window_end(paid_on, None, rules),
            before_shock=_annual_income(session, claim.household_id, claim.policy_year - 1))
    else:
        window.ends_on = watch.window_end(paid_on, window.ends_on, rules)
        window.claim_id = claim.id
    session.add(window)
    session.flush()
    return window


def evaluate(session: Session, today: date, rules: watch.MonitoringRules = RULES
             ) -> dict[str, int]:
    """Evaluate every open window; windows past their end close. Idempotent: an alert of a
    kind is not raised again while one is open. Returns counts; flushes."""
    counts = {"windows": 0, "closed": 0, "alerts": 0}
    scores = _scores(session)
    for window in session.exec(select(MonitoringWindow).where(
            MonitoringWindow.status == "open")).all():
        if window.ends_on < today:
            window.status = "closed"
            session.add(window)
            counts["closed"] += 1
            continue
        counts["windows"] += 1
        for alert in _alerts(session, window, today, rules, scores):
            taken = session.exec(select(MonitoringAlert.id).where(
                MonitoringAlert.window_id == window.id, MonitoringAlert.kind == alert.kind,
                MonitoringAlert.status == "open")).first()
            if taken is None:
                session.add(MonitoringAlert(window_id=window.id,
                                            household_id=window.household_id, kind=alert.kind,
                                            figures=alert.figures, raised_on=today))
                counts["alerts"] += 1
    session.flush()
    return counts


def _alerts(session: Session, window: MonitoringWindow, today: date,
            rules: watch.MonitoringRules, scores) -> list[watch.Alert]:
    household = session.get(Household, window.household_id)
    records = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household.id,
        IncomeRecord.period_end >= window.opened_on).order_by(IncomeRecord.period_end)).all()
    reports = [r for r in records if r.source != IncomeSource.payout]
    found = [watch.Alert(REPORT_OVERDUE, {"due": str(day)}) for day in
             watch.overdue_reports(watch.reports_due(window.opened_on, window.ends_on, rules),
                                    [r.recorded_at.date() for r in reports], today)][:1]
    if not reports:
        return found
    latest = reports[-1]
    payouts = sum((r.transfer_poverty_insurance for r in records
                   if r.source == IncomeSource.payout
                   and latest.period_start <= r.period_start <= latest.period_end),
                  Decimal("0.00"))
    # the report counts its own payouts among transfers; payouts recorded apart are added
    with_payout, without = watch.per_capita(latest.net_income + payouts,
                                             latest.transfer_poverty_insurance + payouts,
                                             latest.household_size)
    try:
        line = registry.monitoring_line_for(session, household.village_id,
                                            latest.period_end.year)["amount"]
    except DomainError:
        return found
    score, score_before = scores.get(household.id, (None, None))
    new_shock = session.exec(select(TriggerEvent.id).where(
        TriggerEvent.household_id == household.id, TriggerEvent.event_date > window.opened_on,
        sa.or_(TriggerEvent.claim_id.is_(None), TriggerEvent.claim_id != window.claim_id))
    ).first() is not None
    return found + watch.alerts(
        line=Decimal(line), income=with_payout, income_without_payout=without,
        before_shock=window.before_shock, score=score, score_before=score_before,
        new_shock=new_shock, rules=rules)


def _annual_income(session: Session, household_id: int, year: int) -> Decimal | None:
    record = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household_id, IncomeRecord.source != IncomeSource.payout,
        IncomeRecord.period_start == date(year, 1, 1),
        IncomeRecord.period_end == date(year, 12, 31)).order_by(IncomeRecord.id.desc())
    ).first()
    return record.per_capita_net_income if record else None


def _scores(session: Session) -> dict[int, tuple[float | None, float | None]]:
    """Each watched household's score in the current run and the run before it."""
    current = current_run(session)
    if current is None:
        return {}
    before = session.exec(select(ScoreRun.id).where(
        ScoreRun.status == "complete", ScoreRun.id < current.id,
        ScoreRun.model_version == current.model_version).order_by(ScoreRun.id.desc())).first()
    watched = select(MonitoringWindow.household_id).where(MonitoringWindow.status == "open")
    found: dict[int, list] = {}
    for run_id, household_id, value in session.exec(select(
            HouseholdScore.run_id, HouseholdScore.household_id, HouseholdScore.score).where(
            HouseholdScore.run_id.in_([current.id, before or -1]),
            HouseholdScore.household_id.in_(watched))):
        found.setdefault(household_id, [None, None])[0 if run_id == current.id else 1] = value
    return {h: (v[0], v[1]) for h, v in found.items()}
