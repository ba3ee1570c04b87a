"""The set-based nightly evaluation against the per-window one it replaced: a generated county
of watched households in every state the rules distinguish (reports above and below the line,
late, missing, tied with a survey; alerts and follow-ups already open; proposals pending or
declined; open claims, early warnings, new shocks, score rises; windows past their end and
windows under other rules) is evaluated by :func:`claims.monitoring.evaluate` in small chunks
and by the old window-by-window logic kept here as the oracle, on two nights in a row; both
must leave the same rows. On SQLite and PostgreSQL.

The size comes from FANGPIN_TEST_MONITORING_WINDOWS (300 by default, seconds); a long run:
FANGPIN_TEST_MONITORING_WINDOWS=20000 python -m pytest tests/claims/test_monitoring_sets.py
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from claims import clock, monitoring
from claims.models import Claim, EarlyWarning, Household, IncomeRecord, TriggerEvent
from claims.nightly import current_run, open_scores
from policies import registry
from policies.bulk import lookup
from policies.models import Member, MonitoringLineCreate, TermsVersion
from policies.terms import Monitoring
from risk import monitoring as watch
from risk.models import (
    Elimination,
    FollowUp,
    HouseholdScore,
    MonitoringAlert,
    MonitoringWindow,
    ScoreRun,
)
from risk.monitoring import add_months
from tests.claims.conftest import build_county

WINDOWS = int(os.environ.get("FANGPIN_TEST_MONITORING_WINDOWS", "300"))
SKILLS = ("skilled", "ordinary", "ordinary", "weak", "lost", "none")
MONTHLY = Monitoring(window_months=6, report_every_months=1, stable_months=3).model_dump(
    mode="json")


def watched_county(session: Session, households: int, seed: int, today: date,
                   progress=None) -> None:
    """A county whose ``households`` were each paid once (some again with a claim still
    open), watched in a window opened up to 14 months before ``today``, with their members,
    ledgers, alerts, follow-ups, proposals, warnings, events and two score runs, written in
    bulk; commits (the score runs' partitions need it on PostgreSQL)."""
    county = build_county(session)
    for year in range(today.year - 3, today.year + 2):
        if year != county.contract.policy_year:
            registry.create_monitoring_line(session, MonitoringLineCreate(
                region_id=county.ids["county"], year=year, fixed_amount=Decimal("8700")))
    runs = []
    for night in (today - timedelta(days=1), today):
        run = ScoreRun(night=night, model_version="bench", as_of_year=today.year,
                       status="complete", started_by="test", threshold=0.5, rise=0.25)
        session.add(run)
        session.flush()
        runs.append(run.id)
    session.commit()
    for run_id in runs:
        open_scores(session, run_id)
    rng = random.Random(seed)
    for start in range(0, households, 20_000):
        _watched_part(session, county, rng, range(start, min(start + 20_000, households)),
                      today, runs)
        session.commit()
        if progress:
            progress(min(start + 20_000, households), households)


def _watched_part(session: Session, county, rng: random.Random, numbers: range, today: date,
                  runs: list[int]) -> None:
    insert = monitoring._insert
    village = county.ids["village0"]
    names = [f"G{n:09d}" for n in numbers]
    insert(session, Household, [{"household_number": name, "village_id": village,
                                 "household_type": "lifted_out"} for name in names])
    found = lookup(session, Household.__table__, "household_number", names, ("id",))
    households = [found[name][0] for name in names]
    sizes = {h: rng.choice((1, 2, 3, 3, 4, 5)) for h in households}
    insert(session, Member, [
        {"household_id": h, "name": f"成员{k}", "relation": "head" if k == 0 else "son",
         "id_number": f"{h:015d}{k:03d}", "sex": "male", "birth_date": date(1970, 1, 1),
         "labour_skill": rng.choice(SKILLS),
         "status": "active" if rng.random() < 0.9 else "left"}
        for h in households for k in range(sizes[h])])
    opened = {h: today - timedelta(days=rng.randint(0, 430)) for h in households}
    terms_version = session.exec(select(TermsVersion.id)).one()
    claims = [{"claim_number": f"GC{h:010d}", "household_id": h,
               "contract_id": county.contract.id, "terms_version_id": terms_version,
               "trigger": "illness", "policy_year": county.contract.policy_year,
               "source": "event", "state": "paid", "entitled": Decimal("7500"),
               "paid_amount": Decimal("7500"),
               "opened_at": datetime.combine(opened[h], datetime.min.time(), tzinfo=UTC)}
              for h in households]
    claims += [{**claim, "claim_number": f"GO{claim['household_id']:010d}",
                "trigger": "disaster", "state": rng.choice(monitoring.OPEN_CLAIM_STATES),
                "paid_amount": Decimal(0)} for claim in claims if rng.random() < 0.12]
    insert(session, Claim, claims)
    paid = lookup(session, Claim.__table__, "claim_number",
                  [f"GC{h:010d}" for h in households], ("id",))
    claim_of = {h: paid[f"GC{h:010d}"][0] for h in households}
    windows, records = [], []
    for h in households:
        rules = rng.choice((None, None, {}, Monitoring().model_dump(mode="json"), MONTHLY))
        months = (rules or {}).get("window_months", 12)
        windows.append({
            "household_id": h, "opened_on": opened[h], "identified_on": opened[h],
            "ends_on": add_months(opened[h], months), "claim_id": claim_of[h],
            "status": "open" if rng.random() < 0.95 else "closed", "rules": rules,
            "before_shock": None if rng.random() < 0.2 else Decimal(rng.randint(3000, 12000))})
        records += _ledger_of(rng, h, opened[h], sizes[h], today)
    insert(session, MonitoringWindow, windows)
    insert(session, IncomeRecord, records)
    window_of = dict(session.execute(sa.select(MonitoringWindow.household_id,
                                               MonitoringWindow.id).where(
        MonitoringWindow.household_id.in_(households))).all())
    _states(session, county, rng, households, window_of, opened, claim_of, today, runs)


def _ledger_of(rng: random.Random, household: int, opened: date, size: int, today: date
               ) -> list[dict[str, Any]]:
    """A survey of the year before the shock, the payout, and 0–5 reports after it: below or
    above the line, yearly or quarterly, some late, some listing the payout, one now and then
    tied with a survey of the same period."""

    def record(start: date, end: date, source: str, wages: Decimal,
               payout: Decimal = Decimal(0), recorded: date | None = None, reference=""):
        net = wages + payout
        return {"household_id": household, "period_start": start, "period_end": end,
                "source": source, "reference": reference, "wages": wages,
                "transfer_poverty_insurance": payout, "household_size": size,
                "net_income": net, "per_capita_net_income": (net / size).quantize(
                    Decimal("0.01")),
                "recorded_at": datetime.combine(recorded or end, datetime.min.time(),
                                                tzinfo=UTC)}

    head = Decimal(rng.choice((3000, 6000, 8700, 9500, 15000))) * size
    found = [record(date(opened.year - 1, 1, 1), date(opened.year - 1, 12, 31), "survey", head),
             record(opened, opened, "payout", Decimal(0), Decimal(7500))]
    for m in sorted(rng.sample(range(1, 15), rng.randint(0, 5))):
        end = add_months(opened, m) + timedelta(days=rng.choice((0, 0, 0, -3, 2)))
        start = (add_months(end, -12) + timedelta(days=1) if rng.random() < 0.7
                 else end - timedelta(days=89))
        share = Decimal((end - start).days + 1) / 365
        wages = (Decimal(rng.choice((2000, 5000, 8700, 9000, 12000, 20000))) * size * share
                 ).quantize(Decimal("1"))
        listed = Decimal(7500) if rng.random() < 0.2 else Decimal(0)
        late = end + timedelta(days=rng.choice((0, 0, 1, 5, 40)))
        source = "report" if rng.random() < 0.9 else "survey"
        found.append(record(start, end, source, wages, listed, late, reference=f"r{m}"))
        if rng.random() < 0.05:  # the same period from the other source
            found.append(record(start, end, "survey" if source == "report" else "report",
                                wages + size * 100, recorded=late, reference=f"t{m}"))
    return found


def _states(session: Session, county, rng: random.Random, households: list[int],
            window_of: dict[int, int], opened: dict[int, date], claim_of: dict[int, int],
            today: date, runs: list[int]) -> None:
    """What the office and the night before left: cases, alerts, proposals, warnings,
    events and scores."""
    insert = monitoring._insert
    cases = [{"window_id": window_of[h], "household_id": h, "opened_on": opened[h],
              "status": "open" if rng.random() < 0.8 else "closed", "helper": "王帮扶"}
             for h in households if rng.random() < 0.3]
    insert(session, FollowUp, cases)
    case_of = dict(session.execute(sa.select(FollowUp.window_id, FollowUp.id).where(
        FollowUp.window_id.in_([c["window_id"] for c in cases]))).all()) if cases else {}
    alerts = []
    for h in households:
        w = window_of[h]
        if rng.random() < 0.3:
            case = case_of.get(w)
            for kind in rng.sample((watch.BELOW_LINE, watch.REPORT_OVERDUE, watch.DROP,
                                    watch.NEW_SHOCK, watch.SCORE_RISE), rng.randint(1, 2)):
                alerts.append({"window_id": w, "household_id": h, "kind": kind,
                               "figures": {}, "raised_on": opened[h], "follow_up_id": case,
                               "status": "open" if rng.random() < 0.85 else "closed"})
    insert(session, MonitoringAlert, alerts)
    ends = dict(session.execute(sa.select(IncomeRecord.household_id,
                                          sa.func.max(IncomeRecord.period_end)).where(
        IncomeRecord.household_id.in_(households), IncomeRecord.source != "payout").group_by(
        IncomeRecord.household_id)).all())
    insert(session, Elimination, [
        {"household_id": h, "window_id": window_of[h], "proposed_on": opened[h],
         "status": status, "figures": {"report_day": str(
             ends[h] if rng.random() < 0.7 else opened[h])}}
        for h in households
        for status in [rng.choice(("proposed", "declined", "declined", "lapsed"))]
        if rng.random() < 0.2])
    insert(session, EarlyWarning, [
        {"household_id": h, "trigger": "risk_high", "source": "risk", "text": "风险上升",
         "status": "open" if rng.random() < 0.7 else "closed"}
        for h in households if rng.random() < 0.12])
    insert(session, TriggerEvent, [
        {"client_id": county.client_id, "source_event_id": f"g{h}-{k}", "payload_hash": "0" * 64,
         "payload": {}, "type": "illness", "status": "accepted", "household_id": h,
         "event_date": opened[h] + timedelta(days=rng.randint(-40, 200)),
         "claim_id": rng.choice((None, claim_of[h], claim_of[h]))}
        for h in households for k in range(2) if rng.random() < 0.12])
    scores = []
    for h in households:
        if rng.random() < 0.6:
            before = rng.random() * 0.7
            scores += [{"run_id": runs[0], "household_id": h, "score": before},
                       {"run_id": runs[1], "household_id": h,
                        "score": before + rng.choice((0.0, 0.1, 0.25, 0.3))}]
    insert(session, HouseholdScore, scores)


# ---------------------------------------------------------------- the oracle: window by window


def oracle(session: Session, today: date) -> dict[str, int]:
    """The evaluation as it was before it was set-based: each open window in id order,
    with its own queries."""
    counts = dict.fromkeys(monitoring.COUNTS, 0)
    scores, lines = _oracle_scores(session), monitoring.Lines(session)
    for window in session.exec(select(MonitoringWindow).where(
            MonitoringWindow.status == "open").order_by(MonitoringWindow.id)).all():
        if window.ends_on < today:
            # a window whose follow-up is open stays open past its end, and is not evaluated
            case = session.exec(select(FollowUp.id).where(
                FollowUp.window_id == window.id, FollowUp.status == "open")).first()
            if case is None:
                counts["closed"] += session.execute(sa.update(MonitoringWindow).where(
                    MonitoringWindow.id == window.id, MonitoringWindow.status == "open"
                ).values(status="closed")).rowcount
            continue
        counts["windows"] += 1
        seen = monitoring.picture(session, window, today, lines)
        for alert in _oracle_alerts(session, window, seen, scores, today):
            taken = session.exec(select(MonitoringAlert.id).where(
                MonitoringAlert.window_id == window.id, MonitoringAlert.kind == alert.kind,
                MonitoringAlert.status == "open")).first()
            if taken is None:
                case = session.exec(select(FollowUp).where(
                    FollowUp.window_id == window.id, FollowUp.status == "open").order_by(
                    FollowUp.id)).first()
                if case is None:
                    case = FollowUp(window_id=window.id, household_id=window.household_id,
                                    opened_on=today)
                    session.add(case)
                    session.flush()
                    counts["follow_ups"] += 1
                session.add(MonitoringAlert(
                    window_id=window.id, household_id=window.household_id, kind=alert.kind,
                    figures=alert.figures, raised_on=today, follow_up_id=case.id))
                counts["alerts"] += 1
        session.flush()
        counts["proposals"] += _oracle_propose(session, window, seen, today)
    session.flush()
    return counts


def _oracle_alerts(session, window, seen, scores, today) -> list[watch.Alert]:
    passed = [day for day in seen.due if day < today]
    since = passed[-2] if len(passed) > 1 else None
    found = [watch.Alert(watch.REPORT_OVERDUE, {"due": str(passed[-1])})] if passed and not any(
        since is None or since < day for day in seen.reported) else []
    latest = seen.latest
    if latest is None:
        return found
    score, score_before = scores.get(window.household_id, (None, None))
    new_shock = session.exec(select(TriggerEvent.id).where(
        TriggerEvent.household_id == window.household_id,
        TriggerEvent.event_date > window.opened_on,
        sa.or_(TriggerEvent.claim_id.is_(None), TriggerEvent.claim_id != window.claim_id))
    ).first() is not None
    return found + watch.alerts(
        line=latest["line"], income=latest["income"],
        income_without_payout=latest["income_without_payout"],
        before_shock=window.before_shock, score=score, score_before=score_before,
        new_shock=new_shock, rules=monitoring.rules_of(window))


def _oracle_propose(session, window, seen, today) -> int:
    latest = seen.latest
    if latest is None:
        return 0
    pending = session.exec(select(Elimination.id).where(
        Elimination.household_id == window.household_id,
        Elimination.status == "proposed")).first()
    decided = session.exec(select(Elimination).where(
        Elimination.window_id == window.id).order_by(Elimination.id.desc())).first()
    if pending is not None or (decided is not None and decided.figures.get(
            "report_day") == str(latest["day"])):
        return 0
    household_id = window.household_id
    open_claim = session.exec(select(Claim.id).where(
        Claim.household_id == household_id,
        Claim.state.in_(monitoring.OPEN_CLAIM_STATES))).first()
    new_risk = (session.exec(select(FollowUp.id).where(
        FollowUp.window_id == window.id, FollowUp.status == "open")).first() is not None
        or session.exec(select(EarlyWarning.id).where(
            EarlyWarning.household_id == household_id,
            EarlyWarning.status == "open")).first() is not None)
    labour = session.exec(select(Member.id).where(
        Member.household_id == household_id, Member.status == "active",
        Member.labour_skill.not_in(monitoring.NO_LABOUR))).first()
    proposed, _why = watch.propose_elimination(
        months_above=seen.months_stable, costs_settled=open_claim is None, new_risk=new_risk,
        has_labour=labour is not None, rules=monitoring.rules_of(window))
    if not proposed:
        return 0
    session.add(Elimination(
        household_id=household_id, window_id=window.id, proposed_on=today,
        figures={"report_day": str(latest["day"]), "income": str(latest["income"]),
                 "income_without_payout": str(latest["income_without_payout"]),
                 "line": str(latest["line"]), "months_stable": seen.months_stable}))
    return 1


def _oracle_scores(session) -> dict[int, tuple]:
    current = current_run(session)
    if current is None:
        return {}
    before = session.exec(select(ScoreRun.id).where(
        ScoreRun.status == "complete", ScoreRun.id < current.id,
        ScoreRun.model_version == current.model_version).order_by(ScoreRun.id.desc())).first()
    found: dict[int, list] = {}
    for run_id, household_id, value in session.exec(select(
            HouseholdScore.run_id, HouseholdScore.household_id, HouseholdScore.score).where(
            HouseholdScore.run_id.in_([current.id, before or -1]))):
        found.setdefault(household_id, [None, None])[0 if run_id == current.id else 1] = value
    return {h: (v[0], v[1]) for h, v in found.items()}


# ---------------------------------------------------------------- the comparison


def rows(session: Session) -> dict[str, list]:
    """What an evaluation leaves, without the ids a sequence hands out (PostgreSQL's are
    not rolled back): a follow-up is named by its window and the day it opened."""
    session.expire_all()
    case = {c.id: (c.window_id, c.opened_on, c.status) for c in session.exec(select(FollowUp))}
    return {
        "windows": sorted(session.exec(select(MonitoringWindow.id, MonitoringWindow.status))),
        "follow_ups": sorted(case.values()),
        "alerts": sorted((a.window_id, a.household_id, a.kind, sorted(a.figures.items()),
                          a.raised_on, a.status, case.get(a.follow_up_id))
                         for a in session.exec(select(MonitoringAlert))),
        "eliminations": sorted((e.window_id, e.household_id, e.status, e.proposed_on,
                                sorted(e.figures.items()))
                               for e in session.exec(select(Elimination))),
    }


def test_the_set_based_evaluation_leaves_the_rows_the_window_by_window_one_did(own_engine):
    today = clock.county_today()
    with Session(own_engine) as session:
        watched_county(session, WINDOWS, seed=WINDOWS, today=today)
    chunks = random.Random(7)
    for night in (today, today + timedelta(days=95)):
        with Session(own_engine) as session:
            expected = oracle(session, night), rows(session)
            session.rollback()
        with Session(own_engine) as session:
            found = monitoring.evaluate(session, night, chunk=chunks.randint(3, 40))
            assert (found, rows(session)) == expected, night
            session.commit()
        # the mix reaches every path: something closed, raised, opened and proposed
        assert all(expected[0][name] > 0 for name in monitoring.COUNTS), expected[0]
