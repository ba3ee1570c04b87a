"""Post-payout monitoring (赔付后监测), the service: a paid payout opens or extends the
household's monitoring window under its terms' rules; the nightly run evaluates every open
window with the rules of risk.monitoring — alerts once each while open, a follow-up case for
the office, a proposal for risk elimination when the household is stable — and the office
follows up, records assistance and confirms eliminations. Services flush; the caller commits."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, NamedTuple

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from claims import audit, clock, masking, reasons
from claims.auth import Actor
from claims.db import run_lock, unindexed
from claims.models import (
    Claim,
    ClaimState,
    EarlyWarning,
    Household,
    IncomeRecord,
    Payment,
    PaymentState,
    TriggerEvent,
)
from claims.settings import get_settings
from policies import benefits, registry
from policies.bulk import among, fewer_collections, insert_columns
from policies.errors import Conflict, DomainError, InvalidInput, NotFound
from policies.models import (
    INCOME_FIGURES,
    HouseholdUpdate,
    IncomeFields,
    IncomeRecordCreate,
    Member,
    Region,
    Yuan,
    utcnow,
)
from policies.rules import PERIOD_PROBLEMS, report_period_fault
from policies.terms import Monitoring
from policies.types import Day, MultilineText, Text, check_text
from policies.vocab import IncomeSource, LabourSkill, MemberStatus
from risk import monitoring as watch
from risk.features import CARRY_YEARS
from risk.models import (
    Assistance,
    Elimination,
    EliminationStep,
    FollowUp,
    HouseholdScore,
    MonitoringAlert,
    MonitoringRun,
    MonitoringWindow,
    RunStatus,
)

OPEN_CLAIM_STATES = (ClaimState.opened, ClaimState.investigating, ClaimState.village_review,
                     ClaimState.public_notice, ClaimState.approval,
                     ClaimState.payment_pending, ClaimState.reopened)
NO_LABOUR = (LabourSkill.lost, LabourSkill.none)
HORIZONS = (6, 12)
# The note of a proposal left pending on an ended window that a new payout lapsed (a code:
# the pages word it; rows of before stored the English words).
NEW_WINDOW = "new_window"


def rules_of(window: MonitoringWindow) -> Monitoring:
    """The terms' monitoring rules the window runs under (the defaults for old windows)."""
    return Monitoring.model_validate(window.rules) if window.rules else Monitoring()


def open_or_extend(session: Session, claim: Claim, paid_on: date) -> MonitoringWindow:
    """The payout of ``claim`` paid on ``paid_on`` opens the household's window, or extends
    the open one, under the claim's terms; flushes."""
    rules = benefits.terms_of(benefits.get_terms_version(session, claim.terms_version_id)
                              ).monitoring
    window = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == claim.household_id,
        MonitoringWindow.status == "open")).first()
    if window is None:
        # a proposal left pending on an ended window is overtaken by the new shock
        session.execute(sa.update(Elimination).where(
            Elimination.household_id == claim.household_id, Elimination.status == "proposed"
        ).values(status="lapsed", note=NEW_WINDOW))
        window = MonitoringWindow(
            household_id=claim.household_id, opened_on=paid_on, claim_id=claim.id,
            identified_on=min(clock.county_date(claim.opened_at), paid_on),
            ends_on=watch.window_end(paid_on, None, rules),
            before_shock=_annual_income(session, claim.household_id, claim.policy_year - 1))
    else:
        window.ends_on = watch.window_end(paid_on, window.ends_on, rules)
        window.claim_id = claim.id
    window.rules = rules.model_dump(mode="json")
    session.add(window)
    session.flush()
    return window


def payout_returned(session: Session, household_id: int) -> date | None:
    """A payout the bank sent back (退汇): the household's open window goes if no payment
    since it opened was kept and nothing was done in it yet (no alert, follow-up or
    elimination): its months start from the payment that reaches the household (a browser
    walk's household was watched, and counted among those paid, for a payment it never got).
    A window some kept payment or some work holds stays; flushes. Returns the day the window
    removed had opened (the returned payment's audit entry says so), or None."""
    window = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == household_id,
        MonitoringWindow.status == "open")).first()
    if window is None:
        return None
    kept = session.exec(select(Payment.id).join(Claim, Claim.id == Payment.claim_id).where(
        Claim.household_id == household_id, Payment.state == PaymentState.paid,
        Payment.paid_at >= clock.county_start(window.opened_on))).first()
    used = any(session.exec(select(table.id).where(table.window_id == window.id)).first()
               for table in (MonitoringAlert, FollowUp, Elimination))
    if kept is not None or used:
        return None
    session.delete(window)
    session.flush()
    return window.opened_on


# ---------------------------------------------------------------- the ledger, recomputed


@dataclass
class Picture:
    """What the ledger says about a watched household: per-capita income at each report
    (rolling 12 months, with and without the payout) against the line, and the reports due."""

    points: list[dict[str, Any]] = field(default_factory=list)
    due: list[date] = field(default_factory=list)
    overdue: list[date] = field(default_factory=list)  # due days whose period had no report
    reported: list[date] = field(default_factory=list)  # days the office's reports came in
    months_stable: int = 0

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.points[-1] if self.points else None


class Lines:
    """Monitoring lines by (village, year), read once; a year not yet published keeps the
    latest line of the previous ``CARRY_YEARS`` years, as the nightly scoring does."""

    def __init__(self, session: Session):
        self.session, self.known = session, {}

    def __call__(self, village_id: int, year: int) -> tuple[Decimal, int] | None:
        for candidate in range(year, year - CARRY_YEARS - 1, -1):
            key = (village_id, candidate)
            if key not in self.known:
                try:
                    self.known[key] = Decimal(registry.monitoring_line_for(
                        self.session, village_id, candidate)["amount"])
                except DomainError:
                    self.known[key] = None
            if self.known[key] is not None:
                return self.known[key], candidate
        return None


Ledger = tuple[list[watch.Report], list[tuple], list[date]]


# The order the rules read a ledger in: by period, and within one in the order recorded.
LEDGER_ORDER = (IncomeRecord.period_end, IncomeRecord.recorded_at, IncomeRecord.id)


def ledger(records: Sequence[IncomeRecord]) -> Ledger:
    """A household's income records (in :data:`LEDGER_ORDER`) as the rules read them:
    reports and surveys, payouts recorded apart (each on the day it was paid), and the days
    the office's income reports came in — those answer the reports due, the yearly survey
    does not."""
    return _ledgers_of((r.household_id, r.source, r.period_start, r.period_end, r.net_income,
                        r.transfer_poverty_insurance, r.household_size, r.recorded_at)
                       for r in records).get(records[0].household_id if records else 0,
                                             ([], [], []))


def _ledgers_of(entries: Iterable[tuple]) -> dict[int, Ledger]:
    """Ledgers by household from (household, source, period, net income, listed payouts,
    size, recorded at) in the order of their period's end."""
    found: dict[int, Ledger] = {}
    for household_id, source, start, end, net_income, listed, size, recorded_at in entries:
        reports, payouts, reported = found.get(household_id) or found.setdefault(
            household_id, ([], [], []))
        if source == IncomeSource.payout:
            payouts.append((end, listed))
            continue
        reports.append(watch.Report(start, end, net_income, listed, size))
        if source == IncomeSource.report:
            reported.append(_recorded_day(recorded_at))
    return found


def points_of(records: list[IncomeRecord], village_id: int, since: date, lines: Lines
              ) -> list[dict[str, Any]]:
    """The household's rolling per-capita income at each report ending on or after
    ``since``, with the line of its village for that year."""
    reports, payouts, _reported = ledger(records)
    return _points(reports, payouts, village_id, since, lines)


def _points(reports: list[watch.Report], payouts: list[tuple], village_id: int, since: date,
            lines: Lines, until: date | None = None) -> list[dict[str, Any]]:
    days = sorted({r.end for r in reports if since <= r.end and (until is None or r.end <= until)})
    points = []
    for day, rolling in zip(days, watch.rolling_incomes(reports, payouts, days), strict=True):
        line = lines(village_id, day.year)
        if rolling is None or line is None:
            continue
        points.append({"day": day, "income": rolling.income,
                       "income_without_payout": rolling.income_without_payout,
                       "line": line[0], "line_year": line[1],
                       "covered_months": round(rolling.covered_days * 12 / rolling.span_days)})
    return points


def picture(session: Session, window: MonitoringWindow, today: date,
            lines: Lines | None = None) -> Picture:
    """The ledger of the window's household, recomputed for the rules."""
    household = session.get(Household, window.household_id)
    records = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household.id).order_by(*LEDGER_ORDER)).all()
    return picture_of(*ledger(records), household.village_id, window.opened_on,
                      window.ends_on, rules_of(window), today, lines or Lines(session))


def picture_of(reports: list[watch.Report], payouts: list[tuple], reported: list[date],
               village_id: int, opened_on: date, ends_on: date, rules: Monitoring,
               today: date, lines: Lines) -> Picture:
    """A window's picture from its household's ledger (``reported``: the days the office's
    income reports came in), as of ``today``."""
    points = _points(reports, payouts, village_id, opened_on, lines, until=today)
    due = watch.reports_due(opened_on, ends_on, rules)
    reported = [day for day in reported if day >= opened_on]
    stable = watch.months_stable(
        [(p["day"], p["income_without_payout"], p["line"]) for p in points], opened_on)
    return Picture(points=points, due=due, overdue=watch.overdue_reports(due, reported, today),
                   reported=reported, months_stable=stable)


@dataclass
class Standing:
    """Where a window stands for the office's lists: the ledger's picture, the kinds of its
    open alerts, its open follow-up and its pending elimination proposal."""

    seen: Picture
    alerts: list[str]
    case: FollowUp | None
    proposal_id: int | None


def standing(session: Session, window: MonitoringWindow, today: date, lines: Lines
             ) -> Standing:
    return Standing(
        seen=picture(session, window, today, lines),
        alerts=list(session.exec(select(MonitoringAlert.kind).where(
            MonitoringAlert.window_id == window.id, MonitoringAlert.status == "open")).all()),
        case=session.exec(select(FollowUp).where(
            FollowUp.window_id == window.id, FollowUp.status == "open")).first(),
        proposal_id=session.exec(select(Elimination.id).where(
            Elimination.window_id == window.id, Elimination.status == "proposed")).first())


# ---------------------------------------------------------------- the nightly evaluation

MONITORING_LOCK = 4  # the PostgreSQL advisory lock of an evaluation (scoring is 3)
COUNTS = ("windows", "closed", "alerts", "follow_ups", "proposals")  # what a run found


EvaluateRanges = Callable[[list[tuple[int, int]], date], dict[str, int]]


def run_monitoring(engine: Engine, today: date, started_by: str,
                   evaluate_ranges: EvaluateRanges | None = None, chunk: int = 5000
                   ) -> MonitoringRun | None:
    """Evaluate the open windows as one recorded run, one process at a time; None when
    another process is evaluating. A failed run is recorded with its error and re-raised;
    what it had found in this process is rolled back, and the next run finds it again (the
    evaluation is idempotent). ``evaluate_ranges`` evaluates ranges of ``chunk`` windows
    elsewhere (claims.distributed: on Dask workers, each range committed by its worker, so a
    failed distributed run keeps the ranges that completed)."""
    with run_lock(engine, "monitoring", MONITORING_LOCK) as held:
        if not held:
            return None
        with Session(engine, expire_on_commit=False) as session:
            run = MonitoringRun(night=today, started_by=started_by)
            session.add(run)
            session.commit()
            try:
                if evaluate_ranges is None:
                    run.counts = evaluate(session, today)
                else:
                    ranges = _window_ranges(session, chunk)
                    session.rollback()  # the workers write: hold no transaction meanwhile
                    run.counts = {**dict.fromkeys(COUNTS, 0), **evaluate_ranges(ranges, today)}
                run.status = RunStatus.complete
            except BaseException as error:  # a failed run is recorded; Ctrl-C too
                session.rollback()
                run.status, run.note = RunStatus.failed, f"{type(error).__name__}: {error}"[:1000]
                raise
            finally:
                run.finished_at = utcnow()
                session.add(run)
                session.commit()
        return run



def _window_ranges(session: Session, chunk: int) -> list[tuple[int, int]]:
    """Id ranges of ``chunk`` open windows each."""
    ids = session.exec(select(MonitoringWindow.id).where(
        MonitoringWindow.status == "open").order_by(MonitoringWindow.id)).all()
    return [(ids[start], ids[min(start + chunk, len(ids)) - 1])
            for start in range(0, len(ids), chunk)]


CHUNK = 5000  # windows the evaluation reads, judges and writes at a time


class _Watched(NamedTuple):
    """An open window as the evaluation reads it, with its household's village."""

    id: int
    household_id: int
    opened_on: date
    ends_on: date
    claim_id: int
    before_shock: Decimal | None
    rules: str | None  # as stored: JSON text
    village_id: int


@dataclass
class _Night:
    """What every chunk of an evaluation shares: the day, the lines read so far and the
    score runs compared."""

    today: date
    lines: Lines
    runs: tuple[int, int] | None  # the current score run and the one before it (-1: none)


def evaluate(session: Session, today: date, id_range: tuple[int, int] | None = None,
             chunk: int = CHUNK) -> dict[str, int]:
    """Evaluate every open window (of an id range); windows past their end close, once no
    follow-up of theirs is open.
    Idempotent: an alert of a kind is not raised again while one is open, and a pending
    proposal is not made twice. Every new alert joins the window's open follow-up case, or
    opens one. Set-based: ``chunk`` windows at a time are read with a few queries each, judged
    by the rules one by one, and their results written in bulk. Returns counts; flushes."""
    counts = dict.fromkeys(COUNTS, 0)
    night = _Night(today, Lines(session), _score_runs(session))
    after, upto = (id_range[0] - 1, id_range[1]) if id_range else (0, None)
    with fewer_collections():
        while watched := _open_windows(session, after, upto, chunk):
            _evaluate_chunk(session, night, watched, counts)
            after = watched[-1].id
    session.flush()
    return counts


def _open_windows(session: Session, after: int, upto: int | None, chunk: int
                  ) -> list[_Watched]:
    query = sa.select(
        MonitoringWindow.id, MonitoringWindow.household_id, MonitoringWindow.opened_on,
        MonitoringWindow.ends_on, MonitoringWindow.claim_id, MonitoringWindow.before_shock,
        sa.cast(MonitoringWindow.rules, sa.Text), Household.village_id).join(
        Household, Household.id == MonitoringWindow.household_id).where(
        MonitoringWindow.status == "open", MonitoringWindow.id > after)
    if upto is not None:
        query = query.where(MonitoringWindow.id <= upto)
    result = session.connection().execute(query.order_by(MonitoringWindow.id).limit(chunk))
    day, yuan = _Converted(_stored_day), _Converted(_yuan)
    try:  # the driver's rows, as the ledgers are read
        return [_Watched(id_, household_id, day[opened_on], day[ends_on], claim_id,
                         None if before_shock is None else yuan[before_shock], rules, village_id)
                for id_, household_id, opened_on, ends_on, claim_id, before_shock, rules,
                village_id in result.cursor.fetchall()]
    finally:
        result.close()


def _evaluate_chunk(session: Session, night: _Night, watched: list[_Watched],
                    counts: dict[str, int]) -> None:
    today = night.today
    ended = [w.id for w in watched if w.ends_on < today]
    if ended:  # only those still open: the office may have just confirmed an elimination
        # nor one whose follow-up is open: it stays on the office's lists until the case is
        # closed (a window had closed with its case and alerts open, and the household left
        # the monitoring lists; a hostile tester's)
        busy = sa.select(FollowUp.window_id).where(FollowUp.status == "open")
        counts["closed"] += session.execute(sa.update(MonitoringWindow).where(
            among(session, MonitoringWindow.id, ended), MonitoringWindow.status == "open",
            MonitoringWindow.id.not_in(busy)).values(status="closed")).rowcount
    live = [w for w in watched if w.ends_on >= today]
    counts["windows"] += len(live)
    ledgers = _ledgers(session, {w.household_id for w in live})
    seen = {w.id: picture_of(*ledgers.get(w.household_id, ([], [], [])), w.village_id,
                             w.opened_on, w.ends_on, _rules(w.rules), today, night.lines)
            for w in live}
    reporting = [w for w in live if seen[w.id].latest is not None]
    scores = _scores(session, night.runs, {w.household_id for w in reporting})
    shocked = _new_shocks(session, [w.id for w in reporting])
    taken = _open_alert_kinds(session, [w.id for w in live])
    raised = {}
    for w in live:
        found = [alert for alert in _alerts(
            seen[w.id], today, w.before_shock, scores.get(w.household_id, (None, None)),
            w.id in shocked, _rules(w.rules)) if alert.kind not in taken.get(w.id, ())]
        if found:
            raised[w] = found
    cases, opened = _cases_for(session, list(raised), today)
    counts["follow_ups"] += opened
    alerts = [{"window_id": w.id, "household_id": w.household_id, "kind": alert.kind,
               "figures": alert.figures, "raised_on": today, "follow_up_id": cases[w.id]}
              for w, found in raised.items() for alert in found]
    _insert(session, MonitoringAlert, alerts)
    counts["alerts"] += len(alerts)
    counts["proposals"] += _propose(session, reporting, seen, today)


def _alerts(seen: Picture, today: date, before_shock: Decimal | None,
            scores: tuple[float | None, float | None], new_shock: bool, rules: Monitoring
            ) -> list[watch.Alert]:
    # overdue: the latest report due has passed and nothing came in since the one before it
    # was due; a late report answers it, and an older gap, once followed up, stays history
    passed = [day for day in seen.due if day < today]
    since = passed[-2] if len(passed) > 1 else None
    found = [watch.Alert(watch.REPORT_OVERDUE, {"due": str(passed[-1])})] if passed and not any(
        since is None or since < day for day in seen.reported) else []
    latest = seen.latest
    if latest is None:
        return found
    return found + watch.alerts(
        line=latest["line"], income=latest["income"],
        income_without_payout=latest["income_without_payout"], before_shock=before_shock,
        score=scores[0], score_before=scores[1], new_shock=new_shock, rules=rules)


def _cases_for(session: Session, windows: list[_Watched], today: date
               ) -> tuple[dict[int, int], int]:
    """Each window's open follow-up, opened where there is none, and how many were opened.
    The open ones are locked, in id order: the office cannot close one under its new
    alert."""
    if not windows:
        return {}, 0
    cases = _open_cases(session, [w.id for w in windows], lock=True)
    new = [w for w in windows if w.id not in cases]
    if new:
        _insert(session, FollowUp, [{"window_id": w.id, "household_id": w.household_id,
                                     "opened_on": today} for w in new])
        cases.update(_open_cases(session, [w.id for w in new]))
    return cases, len(new)


def _open_cases(session: Session, window_ids: list[int], lock: bool = False
                ) -> dict[int, int]:
    """The windows' open follow-ups: window → the case (the oldest, should there be two)."""
    query = sa.select(FollowUp.window_id, FollowUp.id).where(
        among(session, FollowUp.window_id, window_ids), unindexed(FollowUp.status) == "open"
    ).order_by(FollowUp.id)
    found: dict[int, int] = {}
    for window_id, case_id in session.execute(query.with_for_update() if lock else query):
        found.setdefault(window_id, case_id)
    return found


def _propose(session: Session, reporting: list[_Watched], seen: dict[int, Picture],
             today: date) -> int:
    """Propose the households for risk elimination the rules say to, once: not while a
    proposal is pending, nor again on the figures of one the office declined."""
    stable = [w for w in reporting
              if seen[w.id].months_stable >= _rules(w.rules).stable_months]
    if not stable:  # the rules propose none without the months: the rest is not read
        return 0
    households, window_ids = {w.household_id for w in stable}, [w.id for w in stable]
    pending = _households_with(session, Elimination.household_id, households,
                               unindexed(Elimination.status) == "proposed")
    newest = sa.select(sa.func.max(Elimination.id)).where(
        among(session, Elimination.window_id, window_ids)).group_by(Elimination.window_id)
    decided = {window_id: figures.get("report_day") for window_id, figures in session.execute(
        sa.select(Elimination.window_id, Elimination.figures).where(Elimination.id.in_(newest)))}
    busy, cases = _open_claims(session, households), _open_cases(session, window_ids)
    warned, able = _open_warnings(session, households), _with_labour(session, households)
    proposals = []
    for w in stable:
        picture_, latest = seen[w.id], seen[w.id].latest
        assert latest is not None  # reporting windows have a latest report
        if w.household_id in pending or decided.get(w.id) == str(latest["day"]):
            continue
        proposed, _why = watch.propose_elimination(
            months_above=picture_.months_stable, costs_settled=w.household_id not in busy,
            new_risk=w.id in cases or w.household_id in warned,
            has_labour=w.household_id in able, rules=_rules(w.rules))
        if proposed:
            pending.add(w.household_id)
            proposals.append({"household_id": w.household_id, "window_id": w.id,
                              "proposed_on": today,
                              "figures": _figures(latest, picture_.months_stable)})
    _insert(session, Elimination, proposals)
    return len(proposals)


def _figures(latest: dict[str, Any], months_stable: int) -> dict[str, Any]:
    return {"report_day": str(latest["day"]), "income": str(latest["income"]),
            "income_without_payout": str(latest["income_without_payout"]),
            "line": str(latest["line"]), "months_stable": months_stable}


def _costs_settled(session: Session, household_id: int) -> bool:
    """Large unavoidable costs are settled when no claim of the household is still open."""
    return not _open_claims(session, {household_id})


def _new_risk(session: Session, window: MonitoringWindow) -> bool:
    """A follow-up still open, or an open early warning, is a risk not yet resolved."""
    return bool(_open_cases(session, [window.id])
                or _open_warnings(session, {window.household_id}))


def _has_labour(session: Session, household_id: int) -> bool:
    return bool(_with_labour(session, {household_id}))


def _open_claims(session: Session, households: set[int]) -> set[int]:
    return _households_with(session, Claim.household_id, households,
                            unindexed(Claim.state).in_(OPEN_CLAIM_STATES))


def _open_warnings(session: Session, households: set[int]) -> set[int]:
    return _households_with(session, EarlyWarning.household_id, households,
                            unindexed(EarlyWarning.status) == "open")


def _with_labour(session: Session, households: set[int]) -> set[int]:
    return _households_with(session, Member.household_id, households,
                            Member.status == MemberStatus.active,
                            Member.labour_skill.not_in(NO_LABOUR))


def _households_with(session: Session, column: Any, households: set[int], *where: Any
                     ) -> set[int]:
    """Those of ``households`` with a row where ``column`` names them and ``where`` holds."""
    if not households:
        return set()
    return set(session.scalars(sa.select(column).distinct().where(
        among(session, column, households), *where)))


def _ledgers(session: Session, households: set[int]) -> dict[int, Ledger]:
    """Each household's ledger as :func:`ledger` reads it, from the driver's rows (a million
    households have millions of records: SQLAlchemy's per-value processing of them cost as
    much as the rules)."""
    result = session.connection().execute(sa.select(
        IncomeRecord.household_id, IncomeRecord.source, IncomeRecord.period_start,
        IncomeRecord.period_end, IncomeRecord.net_income,
        IncomeRecord.transfer_poverty_insurance, IncomeRecord.household_size,
        IncomeRecord.recorded_at).where(among(session, IncomeRecord.household_id, households))
        .order_by(IncomeRecord.household_id, *LEDGER_ORDER))
    day, yuan = _Converted(_stored_day), _Converted(_yuan)
    try:
        return _ledgers_of((household_id, source, day[start], day[end], yuan[net], yuan[listed],
                            size, recorded)
                           for household_id, source, start, end, net, listed, size, recorded
                           in result.cursor.fetchall())
    finally:
        result.close()


class _Converted(dict):
    """Stored values and what they convert to, each converted once: a chunk's millions of
    records share a few thousand days and amounts."""

    def __init__(self, convert: Callable[[Any], Any]):
        super().__init__()
        self.convert = convert

    def __missing__(self, stored: Any) -> Any:
        self[stored] = value = self.convert(stored)
        return value


def _stored_day(value: str | date | datetime) -> date:
    """A date, or the UTC day of a timestamp, as the driver returns it (SQLite's text: its
    timestamps are kept in UTC; PostgreSQL's date or zoned timestamp) or the model holds it."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    return value


def _recorded_day(value: str | datetime) -> date:
    """The county's day an office report came in, which answers the report due that day: in
    the county, not in UTC (one entered at 07:30 Beijing time is of that day, which UTC
    still calls the day before). ``value`` as the driver returns it (SQLite's UTC text,
    PostgreSQL's zoned timestamp) or the model holds it."""
    if isinstance(value, str):  # converted once a minute of the county's many reports
        return _county_day_of(value[:16], get_settings().timezone)
    return clock.county_date(value)


@lru_cache(maxsize=100_000)
def _county_day_of(minute: str, timezone: str) -> date:
    return clock.county_date(datetime.fromisoformat(minute), timezone)


def _yuan(fen: int) -> Decimal:
    """An amount as its Money column stores it (integer fen), in yuan."""
    return Decimal(fen).scaleb(-2)


def _new_shocks(session: Session, window_ids: list[int]) -> set[int]:
    """The windows whose household met an event after the window opened, other than the
    one of the window's own claim."""
    shock = sa.select(TriggerEvent.id).where(
        TriggerEvent.household_id == MonitoringWindow.household_id,
        TriggerEvent.event_date > MonitoringWindow.opened_on,
        sa.or_(TriggerEvent.claim_id.is_(None),
               TriggerEvent.claim_id != MonitoringWindow.claim_id)).exists()
    return set(session.scalars(sa.select(MonitoringWindow.id).where(
        among(session, MonitoringWindow.id, window_ids), shock))) if window_ids else set()


def _open_alert_kinds(session: Session, window_ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for window_id, kind in session.execute(sa.select(
            MonitoringAlert.window_id, MonitoringAlert.kind).where(
            among(session, MonitoringAlert.window_id, window_ids),
            unindexed(MonitoringAlert.status) == "open")):
        found[window_id].add(kind)
    return found


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows of a model's table in bulk, the model's defaults filling the columns a
    row leaves out."""
    if rows:
        defaults = {name: field.get_default(call_default_factory=True)
                    for name, field in model.model_fields.items() if name != "id"}
        insert_columns(session, model.__table__, {
            name: [row.get(name, default) for row in rows] for name, default in defaults.items()})


@lru_cache(maxsize=64)
def _rules(stored: str | None) -> Monitoring:
    """The monitoring rules a window's stored JSON gives (the defaults for old windows)."""
    rules = json.loads(stored) if stored else None
    return Monitoring.model_validate(rules) if rules else Monitoring()


def _annual_income(session: Session, household_id: int, year: int) -> Decimal | None:
    record = session.exec(select(IncomeRecord).where(
        IncomeRecord.household_id == household_id, IncomeRecord.source != IncomeSource.payout,
        IncomeRecord.period_start == date(year, 1, 1),
        IncomeRecord.period_end == date(year, 12, 31)).order_by(
        IncomeRecord.recorded_at.desc(), IncomeRecord.id.desc())).first()
    return record.per_capita_net_income if record else None


def _score_runs(session: Session) -> tuple[int, int] | None:
    """The current score run and the run before it of the same model (-1: none)."""
    # imported here: claims.nightly loads scikit-learn, and every command line that records
    # a change (claims.changes → payments → here) would wait a second and more for it
    from claims.nightly import current_run

    current = current_run(session)
    if current is None:
        return None
    before = current_run(session, current.model_version, before=current.night)
    return current.id, before.id if before is not None else -1


def _scores(session: Session, runs: tuple[int, int] | None, households: set[int]
            ) -> dict[int, tuple[float | None, float | None]]:
    """The households' scores in the current run and the run before it."""
    if runs is None or not households:
        return {}
    found: dict[int, list] = {}
    for run_id, household_id, value in session.execute(sa.select(
            HouseholdScore.run_id, HouseholdScore.household_id, HouseholdScore.score).where(
            HouseholdScore.run_id.in_(runs),
            among(session, HouseholdScore.household_id, households))):
        found.setdefault(household_id, [None, None])[0 if run_id == runs[0] else 1] = value
    return {h: (v[0], v[1]) for h, v in found.items()}


# ---------------------------------------------------------------- income reports


# A person's name in a list of them (a team, the representatives).
Person = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _strip(value: Any) -> Any:
    """Text without the spaces around it, which a form or a file adds by accident."""
    return value.strip() if isinstance(value, str) else value


class IncomeReportIn(IncomeFields):
    """An income report the office takes during monitoring (收入监测): the household's
    income over a period of at most a year that has ended."""

    model_config = ConfigDict(extra="forbid")
    period_start: Day
    period_end: Day
    reference: Text = Field(default="", max_length=64)

    @field_validator("reference", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        # as the import strips a cell: "R1 " is the report R1, not a second one
        return _strip(value)


NOT_INCOME = {"business_costs", "eligible_out_of_pocket"}  # figures of a report, not income


def record_income_report(session: Session, actor: Actor, household_id: int,
                         report: IncomeReportIn, today: date) -> IncomeRecord:
    """Write an income report to the ledger (net and per-capita income derived); flushes."""
    check_report_period(report.period_start, report.period_end, today)
    if not report.model_fields_set & (set(INCOME_FIGURES) - NOT_INCOME):
        # as a file's report needs an income column: a report of no figure at all had been
        # stored as a household earning nothing, and could raise an income-drop alert (a
        # hostile tester's); an income of nothing is given as 0
        raise InvalidInput("an income report gives at least one figure (wages, business_…, "
                           "transfer_…; 0 for none)", field="wages", code="no_figures")
    record = registry.create_income_record(session, IncomeRecordCreate(
        household_id=household_id, source=IncomeSource.report, **report.model_dump()))
    audit.record(session, actor, "income_record", record.id, "report",
                 after={"household_id": household_id, "period_end": record.period_end,
                        "per_capita_net_income": record.per_capita_net_income})
    return record


def check_report_period(start: date, end: date, today: date) -> None:
    """A report covers a period that has ended, at most a year long; refused with the code
    of PERIOD_PROBLEMS and its values."""
    fault = report_period_fault(start, end, today)
    if fault is not None:
        field, code, values = fault
        raise InvalidInput(PERIOD_PROBLEMS[code] % values, field=field,
                           value=str(start if field == "period_start" else end), code=code,
                           values=values)


# ---------------------------------------------------------------- follow-ups


class AssistanceIn(BaseModel):
    """One measure of assistance given (帮扶措施)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal[watch.ASSISTANCE_KINDS]  # type: ignore[valid-type]
    description: MultilineText = Field(min_length=2, max_length=500)
    amount: Yuan | None = Field(default=None, ge=0)
    given_on: Day
    reference: Text = Field(default="", max_length=64, description="e.g. the further claim")

    @field_validator("description", "reference", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        # before the length is checked: "a " is one character, not two
        return _strip(value)


class OutcomeIn(BaseModel):
    """How a follow-up ended; without it the case and its alerts stay open."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal[watch.OUTCOMES]  # type: ignore[valid-type]
    note: MultilineText = Field(min_length=2, max_length=500)


def get_follow_up(session: Session, follow_up_id: int, *, lock: bool = False) -> FollowUp:
    query = select(FollowUp).where(FollowUp.id == follow_up_id)
    if lock:  # the row as it is now: the session may hold it from the access check
        query = query.with_for_update().execution_options(populate_existing=True)
    case = session.exec(query).first()
    if case is None:
        raise NotFound(f"follow-up {follow_up_id} does not exist", field="id",
                       value=follow_up_id)
    return case


def _open_case(session: Session, follow_up_id: int) -> FollowUp:
    case = get_follow_up(session, follow_up_id, lock=True)
    if case.status != "open":
        raise Conflict(f"follow-up {follow_up_id} was closed on {case.closed_on}",
                       field="status", value=case.status, code="follow_up_closed",
                       values={"closed_on": case.closed_on})
    return case


def assign_helper(session: Session, actor: Actor, follow_up_id: int, helper: str) -> FollowUp:
    """Name who visits and helps the household (帮扶责任人); flushes."""
    case = _open_case(session, follow_up_id)
    helper = check_text("helper", helper.strip())
    if not 2 <= len(helper) <= 64:
        raise InvalidInput("helper is a name of 2 to 64 characters", field="helper",
                           value=helper, code="helper_name")
    if case.helper == helper:  # the same form sent again
        return case
    before, case.helper = case.helper, helper
    session.add(case)
    audit.record(session, actor, "follow_up", case.id, "assign_helper",
                 before={"helper": before}, after={"helper": helper})
    return case


def record_assistance(session: Session, actor: Actor, follow_up_id: int, given: AssistanceIn,
                      today: date) -> Assistance:
    """Record a measure given in an open follow-up; flushes."""
    case = _open_case(session, follow_up_id)
    if given.given_on > today:
        raise InvalidInput(f"given_on {given.given_on} is after today", field="given_on",
                           value=str(given.given_on), code="after_today",
                           values={"field": "given_on"})
    if given.given_on < case.opened_on:
        raise InvalidInput(f"given_on {given.given_on} is before the follow-up opened "
                           f"({case.opened_on})", field="given_on", value=str(given.given_on),
                           code="before_follow_up", values={"opened_on": case.opened_on})
    same = session.exec(select(Assistance.id).where(
        Assistance.follow_up_id == case.id, Assistance.kind == given.kind,
        Assistance.given_on == given.given_on, Assistance.description == given.description,
        Assistance.reference == given.reference)).first()
    if same is not None:  # the same form sent twice: one measure
        raise Conflict(f"this measure is recorded already (assistance {same})",
                       field="description", value=same, code="assistance_recorded")
    measure = Assistance(follow_up_id=case.id, recorded_by=actor.label, **given.model_dump())
    session.add(measure)
    session.flush()
    audit.record(session, actor, "follow_up", case.id, "assistance",
                 after=given.model_dump(mode="json"))
    return measure


def close_follow_up(session: Session, actor: Actor, follow_up_id: int, outcome: OutcomeIn,
                    today: date) -> FollowUp:
    """Close a follow-up with its outcome, and its alerts with it; flushes. A fall that
    persists raises a new alert, and a new case, the next night."""
    case = _open_case(session, follow_up_id)
    if not case.helper:
        raise Conflict("assign a helper before closing the follow-up", field="helper",
                       code="needs_helper")
    case.status, case.outcome, case.outcome_note = "closed", outcome.outcome, outcome.note.strip()
    case.closed_on, case.closed_by = today, actor.label
    session.add(case)
    session.execute(sa.update(MonitoringAlert).where(
        MonitoringAlert.follow_up_id == case.id, MonitoringAlert.status == "open"
    ).values(status="closed"))
    audit.record(session, actor, "follow_up", case.id, "close", reason=case.outcome_note,
                 after={"outcome": case.outcome})
    return case


# ---------------------------------------------------------------- risk elimination


class EliminationIn(BaseModel):
    """The office's decision to mark the household's risk eliminated (风险消除)."""

    model_config = ConfigDict(extra="forbid")
    way: Literal[watch.BY_ASSISTANCE, watch.NATURALLY]  # type: ignore[valid-type]
    eliminated_on: Day
    note: MultilineText = Field(default="", max_length=500)


class HomeCheck(BaseModel):
    """The home check (入户核实): who visited, what they found, and whether the household's
    basic needs are secure (两不愁三保障: housing, schooling, medical cover, drinking water)."""

    model_config = ConfigDict(extra="forbid")
    visit_date: Day
    team: list[Person] = Field(min_length=2, max_length=20)
    findings: MultilineText = Field(min_length=1, max_length=2000)
    housing_secure: bool
    schooling_secure: bool
    medical_secure: bool
    water_secure: bool

    @field_validator("team")
    @classmethod
    def _two_people(cls, team: list[str]) -> list[str]:
        names = [n.strip() for n in team if n.strip()]
        if len(set(names)) < 2:
            raise ValueError("a home check needs a team of at least two different people")
        return names


class VillageReview(BaseModel):
    """The village's democratic review (民主评议) of the elimination."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["agree", "disagree"]
    representatives: list[Person] = Field(min_length=1, max_length=100)
    notes: MultilineText = Field(default="", max_length=2000)


class NoticeStart(BaseModel):
    """The public notice (公示) of the elimination; its period is the policy's notice days."""

    model_config = ConfigDict(extra="forbid")
    start_date: Day


class NoticeObjection(BaseModel):
    """An objection raised during the notice; an upheld one stops the elimination."""

    model_config = ConfigDict(extra="forbid")
    text: MultilineText = Field(min_length=1, max_length=2000)
    upheld: bool


ELIMINATION_STEPS: dict[str, type[BaseModel]] = {
    "home_check": HomeCheck, "democratic_review": VillageReview, "notice": NoticeStart,
    "objection": NoticeObjection}
SECURE = ("housing_secure", "schooling_secure", "medical_secure", "water_secure")


def _notice_days(session: Session, window: MonitoringWindow) -> int:
    claim = session.get(Claim, window.claim_id)
    return benefits.terms_of(benefits.get_terms_version(
        session, claim.terms_version_id)).notice_days


def view(row: Any) -> dict[str, Any]:
    """A monitoring row's fields as readers see them: any ID number in what staff typed about
    the household (a follow-up's note, the assistance given, an elimination's steps) masked."""
    return {**registry.fields_of(row), **masking.typed(row)}


def elimination_steps(session: Session, proposal: Elimination) -> list[EliminationStep]:
    return list(session.exec(select(EliminationStep).where(
        EliminationStep.elimination_id == proposal.id).order_by(EliminationStep.id)))


def current_steps(steps: list[EliminationStep]) -> list[EliminationStep]:
    """The steps that count: those after the last upheld objection, from the last home check
    on. An upheld objection puts in doubt what the home check found, so the elimination
    starts again from the home check (a new notice alone does not do); and a new home check
    is reviewed and noticed in its turn (a hostile tester's second check, with other
    findings, had been counted under the review and notice of the first)."""
    last = max((i for i, s in enumerate(steps) if s.kind == "objection" and s.data["upheld"]),
               default=-1)
    counted = steps[last + 1:]
    check = max((i for i, s in enumerate(counted) if s.kind == "home_check"), default=0)
    return counted[check:]


def notice_end(session: Session, proposal: Elimination, notice_on: date) -> date:
    """The day a notice started on ``notice_on`` has run its days (公示期满)."""
    window = session.get(MonitoringWindow, proposal.window_id)
    return notice_on + timedelta(days=_notice_days(session, window))


def steps_missing(session: Session, proposal: Elimination, today: date) -> list[str]:
    """What must still happen before the office may confirm: codes of
    ELIMINATION_STEP_PROBLEMS, in order; empty when the steps are done."""
    steps = elimination_steps(session, proposal)
    counted = current_steps(steps)
    latest: dict[str, dict[str, Any]] = {}
    notice_on: date | None = None
    for step in counted:
        latest[step.kind] = step.data
        if step.kind == "notice":
            notice_on = date.fromisoformat(step.data["start_date"])
    check, review = latest.get("home_check"), latest.get("democratic_review")
    if check is None:
        return ["objection_upheld" if len(counted) < len(steps) else "home_check_missing"]
    if not all(check[name] for name in SECURE):
        return ["needs_not_secure"]
    if review is None:
        return ["review_missing"]
    if review["outcome"] != "agree":
        return ["review_disagreed"]
    if notice_on is None:
        return ["notice_missing"]
    if today < notice_end(session, proposal, notice_on):
        return ["notice_running"]
    return []


def record_elimination_step(session: Session, actor: Actor, household_id: int, kind: str,
                            data: dict[str, Any], today: date) -> EliminationStep:
    """Record a step of the household's risk elimination, in order: the home check starts a
    proposal if the nightly run has not made one (a household without labour capacity, say),
    the village review follows a home check, the notice an agreeing review, an objection a
    notice. Each is on the audit trail; flushes."""
    form = ELIMINATION_STEPS.get(kind)
    if form is None:
        raise InvalidInput(f"unknown step {kind!r}; steps: {', '.join(ELIMINATION_STEPS)}",
                           field="step", value=kind, code="unknown_step",
                           values={"steps": list(ELIMINATION_STEPS)})
    try:
        step = form.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or kind
        why = error['msg'].removeprefix('Value error, ')
        raise InvalidInput(f"{field}: {why}", field=field, code="form", values={
            "field": field, "kind": error["type"], "why": why}) from None
    day = getattr(step, "visit_date", None) or getattr(step, "start_date", None)
    if day is not None and day > today:
        field = "visit_date" if kind == "home_check" else "start_date"
        raise InvalidInput(f"{kind}: {day} is after today", field=field, value=str(day),
                           code="after_today", values={"field": field})
    window = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == household_id).order_by(
        MonitoringWindow.id.desc()).with_for_update()
        .execution_options(populate_existing=True)).first()
    if window is None or window.status == "eliminated":
        raise Conflict(f"household {household_id} has no monitoring window to end",
                       field="household_id", value=household_id, code="no_window")
    if kind == "home_check" and day is not None and day < window.identified_on:
        raise InvalidInput(f"visit_date {day} is before the risk was identified "
                           f"({window.identified_on})", field="visit_date", value=str(day),
                           code="before_identified",
                           values={"identified_on": window.identified_on})
    proposal = session.exec(select(Elimination).where(
        Elimination.household_id == household_id, Elimination.status == "proposed")).first()
    steps = current_steps(elimination_steps(session, proposal)) if proposal else []
    needs = {"democratic_review": "home_check", "notice": "democratic_review",
             "objection": "notice"}.get(kind)
    if needs and needs not in {s.kind for s in steps}:
        raise Conflict(f"{kind} comes after the {needs}", field="step", value=kind,
                       code="step_order", values={"step": kind, "needs": needs})
    if steps and steps[-1].kind == kind and steps[-1].data == audit.jsonable(step.model_dump()):
        raise Conflict(f"this {kind} is recorded already", field="step", value=kind,
                       code="step_recorded", values={"step": kind})  # the same form twice
    if kind == "notice":
        last_review = [s for s in steps if s.kind == "democratic_review"][-1]
        if last_review.data["outcome"] != "agree":
            raise Conflict("the village review did not agree: no notice", field="step",
                           value=kind, code="review_disagreed")
        earliest = clock.county_date(last_review.created_at)
        if day is not None and day < earliest:
            raise InvalidInput(f"start_date {day} must fall between the day of the village "
                               f"review ({earliest}) and today", field="start_date",
                               value=str(day), code="notice_start",
                               values={"earliest": earliest})
    if proposal is None:
        proposal = Elimination(household_id=household_id, window_id=window.id,
                               figures={})
        session.add(proposal)
        session.flush()
    recorded = EliminationStep(elimination_id=proposal.id, kind=kind,
                               data=audit.jsonable(step.model_dump()), actor=actor.label)
    session.add(recorded)
    session.flush()
    audit.record(session, actor, "elimination", proposal.id, kind,
                 after={"household_id": household_id, **step.model_dump()})
    return recorded


# The API's words for the refusals of risk.monitoring.check_elimination (the pages word
# their codes).
ELIMINATION_REFUSED = {
    "way": "way {way} is neither assistance (帮扶消除) nor natural (自然消除)",
    "before_identified": "elimination cannot come before identification ({identified_on})",
    "below_line": "per-capita income {income} is below the line {line}",
}


def confirm_elimination(session: Session, actor: Actor, household_id: int,
                        decision: EliminationIn, today: date) -> Elimination:
    """Confirm the pending proposal once its steps are done (a home check finding the basic
    needs secure, an agreeing village review, a notice run to its end without an upheld
    objection; see steps_missing) — a proposal the office started with its home check is
    flagged as not proposed by the system, with the system's reasons — and take the household
    out of monitoring: its monitoring category is cleared in the registry, whose history
    dates it today (the day the office records it), so the risk features of later days see
    it no longer monitored and those of earlier days still do. Refused below the line,
    before identification, with a follow-up open, or in the future; flushes.

    The elimination's ``flags`` are codes with the values their words need (the pages word
    them): ``{"code": "quick_assistance", "months": 2}`` (by assistance within two months of
    identification) and, for each reason the system did not propose it,
    ``{"code": "not_proposed", "reason": <a code of risk.monitoring.propose_elimination>,
    ...its values}``. Rows confirmed before these codes hold the English words."""
    window = session.exec(select(MonitoringWindow).where(
        MonitoringWindow.household_id == household_id).order_by(
        MonitoringWindow.id.desc()).with_for_update()
        .execution_options(populate_existing=True)).first()
    if window is None:
        raise NotFound(f"household {household_id} has never been paid: it has no monitoring "
                       "window", field="household_id", value=household_id)
    if window.status == "eliminated":
        raise Conflict(f"household {household_id}'s risk was already marked eliminated "
                       f"(window {window.id})", field="household_id", value=household_id,
                       code="already_eliminated")
    if decision.eliminated_on > today:
        raise InvalidInput(f"eliminated_on {decision.eliminated_on} is after today",
                           field="eliminated_on", value=str(decision.eliminated_on),
                           code="after_today", values={"field": "eliminated_on"})
    case = session.exec(select(FollowUp.id).where(FollowUp.window_id == window.id,
                                                  FollowUp.status == "open")).first()
    if case is not None:
        raise Conflict(f"follow-up {case} is still open: record its outcome first",
                       field="follow_up", value=case, code="follow_up_open")
    seen = picture(session, window, today)
    at = [p for p in seen.points if p["day"] <= decision.eliminated_on]
    if not at:
        raise InvalidInput("no income report on or before eliminated_on: take one first",
                           field="eliminated_on", value=str(decision.eliminated_on),
                           code="no_income_report")
    latest = at[-1]
    # the report of the day and the newest one alike: dated back to an older report, an
    # elimination had passed a household whose newest report was 500 a head against a line
    # of 8,700 (a hostile tester's)
    newest = seen.points[-1]
    flags: list[dict] = []
    for figures in [latest] if newest is latest else [latest, newest]:
        errors, found = watch.check_elimination(
            way=decision.way, identified=window.identified_on,
            eliminated=decision.eliminated_on, income=figures["income"], line=figures["line"])
        if errors:  # codes and values of risk.monitoring.check_elimination
            error = errors[0]
            values = {k: v for k, v in error.items() if k != "code"}
            field, value = {"below_line": ("income", figures["income"]),
                            "way": ("way", decision.way)}.get(
                error["code"], ("eliminated_on", decision.eliminated_on))
            raise InvalidInput(ELIMINATION_REFUSED[error["code"]].format(**values),
                               field=field, value=str(value), code=error["code"],
                               values=values)
        flags = found  # of the day, whatever the income: the same for both reports
    proposal = session.exec(select(Elimination).where(
        Elimination.household_id == household_id, Elimination.status == "proposed")).first()
    missing = steps_missing(session, proposal, today) if proposal else ["home_check_missing"]
    if missing:
        raise Conflict(f"the elimination's steps are not done: {missing[0]}", field="steps",
                       value=missing[0], code="steps_missing", values={"missing": missing[0]})

    if proposal.proposed_on is None:  # the office started it
        _proposed, why = watch.propose_elimination(
            months_above=seen.months_stable,
            costs_settled=_costs_settled(session, household_id),
            new_risk=_new_risk(session, window), has_labour=_has_labour(session, household_id),
            rules=rules_of(window))
        proposal.figures = _figures(latest, seen.months_stable)
        flags = [*flags, *({"code": "not_proposed", "reason": reason["code"],
                            **{k: v for k, v in reason.items() if k != "code"}}
                           for reason in why)]
    proposal.status, proposal.way = "confirmed", decision.way
    proposal.eliminated_on, proposal.flags = decision.eliminated_on, flags
    proposal.decided_by, proposal.decided_at, proposal.note = actor.label, utcnow(), decision.note
    window.status = "eliminated"
    session.add_all([proposal, window])
    session.flush()
    audit.record(session, actor, "elimination", proposal.id, "confirm", reason=decision.note,
                 after={"household_id": household_id, "way": decision.way,
                        "eliminated_on": decision.eliminated_on, "flags": flags})
    _out_of_monitoring(session, actor, household_id, proposal.id)
    return proposal


def _out_of_monitoring(session: Session, actor: Actor, household_id: int,
                       elimination_id: int) -> None:
    """Clear a household's monitoring category (风险消除: no longer a monitoring object),
    through the registry so that its history records the day, with before and after on the
    audit trail."""
    household = session.get(Household, household_id)
    if household is None or household.monitoring_category is None:
        return
    before = household.monitoring_category
    registry.update_household(session, household_id,
                              HouseholdUpdate(monitoring_category=None))
    audit.record(session, actor, "household", household.household_number, "update",
                 reason=reasons.coded("elimination_confirmed", elimination=elimination_id),
                 before={"monitoring_category": before}, after={"monitoring_category": None})


def decline_elimination(session: Session, actor: Actor, elimination_id: int, note: str
                        ) -> Elimination:
    """Decline a proposal with the reason; it is not proposed again on the same figures."""
    proposal = session.exec(select(Elimination).where(
        Elimination.id == elimination_id).with_for_update()
        .execution_options(populate_existing=True)).first()
    if proposal is None:
        raise NotFound(f"elimination {elimination_id} does not exist", field="id",
                       value=elimination_id)
    if proposal.status != "proposed":
        raise Conflict(f"elimination {elimination_id} is {proposal.status}", field="status",
                       value=proposal.status)
    note = check_text("note", note.strip(), lines=True)
    if len(note) < 2:
        raise InvalidInput("say why the proposal is declined", field="note", value=note,
                           code="decline_reason")
    proposal.status, proposal.note = "declined", note
    proposal.decided_by, proposal.decided_at = actor.label, utcnow()
    session.add(proposal)
    audit.record(session, actor, "elimination", proposal.id, "decline", reason=note)
    return proposal


# ---------------------------------------------------------------- the outcome report


def outcome_report(session: Session, policy_year: int, today: date) -> dict[str, Any]:
    """Of the households paid under the policy year's contracts, where each stood 6 and 12
    months after its first payment (above the line, fallen back, eliminated, no report, not
    yet): in total, by township and by the trigger of that payment. Income as the national
    records count it; 'above only with the payout' says how many of the above owe it to the
    payout."""
    paid = session.exec(select(
        Claim.household_id, Payment.paid_at, Claim.trigger, Household.village_id).join(
        Payment, Payment.claim_id == Claim.id).join(
        Household, Household.id == Claim.household_id).where(
        Claim.policy_year == policy_year, Payment.state == PaymentState.paid).order_by(
        Payment.paid_at)).all()
    first: dict[int, tuple[date, str, int]] = {}
    for household_id, paid_at, trigger, village_id in paid:
        first.setdefault(household_id, (clock.county_date(paid_at), trigger, village_id))
    township_of = _townships(session, {v for _d, _t, v in first.values()})
    records: dict[int, list[IncomeRecord]] = defaultdict(list)
    eliminated: dict[int, list[date]] = defaultdict(list)
    for chunk in _chunks(sorted(first)):
        for record in session.exec(select(IncomeRecord).where(
                IncomeRecord.household_id.in_(chunk)).order_by(*LEDGER_ORDER)):
            records[record.household_id].append(record)
        for household_id, day in session.exec(select(
                Elimination.household_id, Elimination.eliminated_on).where(
                Elimination.household_id.in_(chunk), Elimination.status == "confirmed")):
            eliminated[household_id].append(day)
    lines = Lines(session)
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for household_id, (paid_on, trigger, village_id) in first.items():
        points = points_of(records[household_id], village_id, paid_on, lines)
        township = township_of.get(village_id, "")
        for key in (("total", ""), ("township", township), ("trigger", trigger)):
            tally = groups.setdefault(key, {"paid": 0})
            tally["paid"] += 1
            for months in HORIZONS:
                found = watch.outcome_at(
                    paid_on=paid_on, months=months, eliminated_on=min(
                        (day for day in eliminated[household_id] if day >= paid_on),
                        default=None),
                    points=[(p["day"], p["income"], p["line"]) for p in points], today=today)
                tally[f"{found}_{months}"] = tally.get(f"{found}_{months}", 0) + 1
                if found == watch.ABOVE and _only_with_payout(points, paid_on, months):
                    name = f"above_only_with_payout_{months}"
                    tally[name] = tally.get(name, 0) + 1
    columns = [f"{kind}_{months}" for months in HORIZONS for kind in (
        watch.ABOVE, "above_only_with_payout", watch.FELL_BACK, watch.ELIMINATED,
        watch.NO_REPORT, watch.NOT_YET)]
    rows = [{"by": by, "name": name, "paid": tally["paid"],
             **{column: tally.get(column, 0) for column in columns}}
            for (by, name), tally in sorted(groups.items(), key=lambda item: (
                ("total", "township", "trigger").index(item[0][0]), item[0][1]))]
    return {"policy_year": policy_year, "as_of": today, "columns": ["paid", *columns],
            "rows": rows}


def _only_with_payout(points: list[dict[str, Any]], paid_on: date, months: int) -> bool:
    day = watch.add_months(paid_on, months)
    latest = max((p for p in points if paid_on < p["day"] <= day), key=lambda p: p["day"])
    return latest["income_without_payout"] < latest["line"]


def _townships(session: Session, village_ids: set[int]) -> dict[int, str]:
    township = aliased(Region)
    return dict(session.exec(select(Region.id, township.name).join(
        township, township.id == Region.parent_id).where(Region.id.in_(village_ids))).all())


def _chunks(ids: list[int], size: int = 5000):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
