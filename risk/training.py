"""Training (模型训练) a county can trust: household-days of the at-risk population from the
database, an out-of-time evaluation on a later day against both baselines with bootstrap
intervals, refusals when the data cannot carry a model, and the version kept.

:func:`fit_and_evaluate` is the pure part (DataFrames in, a model with its metadata out);
:func:`train` reads the rows as of each day (risk.features) and calls it.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session

from policies.models import IncomeRecord
from policies.vocab import IncomeSource
from risk import explain, features, model, simulator
from risk.errors import ModelError

# Below these the data cannot carry a model (refused); below twice these, a warning.
MIN_TRAIN_POSITIVES = 100  # household-days that fell, in training
MIN_TEST_POSITIVES = 30    # households that fell, on the test day
MIN_HOUSEHOLDS = 1000      # distinct households in training
MIN_HISTORY_YEARS = 4      # years of income reports before the test day
TARGET = ("falls within 12 months of the day: an income report whose period ends in the "
          "next 365 days shows per-capita net income below that year's monitoring line, or "
          "per-capita income after the burden of the shocks of that period below it "
          "(突发严重困难)")
POPULATION = ("households at risk on the day: not below the line by their latest income "
              "report known that day and not monitored (the caseload — below the line or "
              "monitored — is scored for information, never warned about as new risk)")


def _check(train_y: np.ndarray, households: int, test_y: np.ndarray) -> list[str]:
    """Refuse data too thin to learn from or to judge a model on; warn near the edge."""
    found = {"households that fell in the training rows": (int(train_y.sum()),
                                                           MIN_TRAIN_POSITIVES),
             "households in training": (households, MIN_HOUSEHOLDS),
             "households that fell on the test day": (int(test_y.sum()), MIN_TEST_POSITIVES)}
    short = [f"{have:,} {what} (at least {need:,} needed)"
             for what, (have, need) in found.items() if have < need]
    if short:
        raise ModelError("too little data to train a model a county can trust: "
                         + "; ".join(short) + ". Import more years or a larger area.")
    return [f"only {have:,} {what}: fewer than twice the minimum of {need:,}; the intervals "
            "of the model card are wide" for what, (have, need) in found.items()
            if have < 2 * need]


def fit_and_evaluate(train_frame: pd.DataFrame, train_y: pd.Series, test_frame: pd.DataFrame,
                     test_y: pd.Series, *, test_day: date, train_days: list[date],
                     caseload: pd.DataFrame | None = None, threshold: float = 0.5,
                     seed: int = 0, description: str = "the county's records",
                     ceiling: dict[str, Any] | None = None, resamples: int = 200,
                     warnings: list[str] | None = None) -> model.TrainedModel:
    """Fit on the at-risk household-days ``train_frame`` (index: household, or household and
    day) with their outcomes; evaluate out of time on ``test_frame``, the test day's at-risk
    households; ``caseload`` (the test day's households below the line or monitored) tells
    where would-be warnings (score ≥ ``threshold``) go. ``ceiling`` is the simulator's
    oracle (``auc`` and, if known, ``top_10pct_caught``; :func:`ceiling_entry`), or says
    why it is unknown (``auc`` None, ``unknown``)."""
    lists = model.feature_lists()
    names = lists["numeric"] + lists["categorical"]
    model.check_training_frame(train_frame, names)
    y, y_test = train_y.to_numpy(dtype=int), test_y.to_numpy(dtype=int)
    households = train_frame.index.get_level_values(0).nunique()
    found_warnings = list(warnings or []) + _check(y, households, y_test)
    x = model.ready(train_frame, **lists)
    fitted = model.pipeline(**lists, seed=seed).fit(x, y)
    card = model.scorecard(lists["numeric"], seed).fit(x, y)
    metadata: dict[str, Any] = {
        "trained_at": model.now_iso(), "target": TARGET, "population": POPULATION,
        "features": lists, "seed": seed, "versions": model.library_versions(),
        "low_income": model.low_income_profile(x, lists["numeric"]),
        "warnings": found_warnings, "ceiling": ceiling,
        "training": {"description": description, "days": [d.isoformat() for d in train_days],
                     "rows": int(len(y)), "households": int(households),
                     "positives": int(y.sum()), "data_id": _data_id(train_frame, y)},
        "test": {"day": test_day.isoformat(), "rows": int(len(y_test)),
                 "positives": int(y_test.sum())},
    }
    trained = model.TrainedModel(fitted, metadata)
    x_test = model.ready(test_frame, **lists)
    probability = trained.probability(test_frame)
    metadata["evaluation"] = model.compare(y_test, {
        "model": probability, "scorecard": card.predict_proba(x_test)[:, 1],
        "rule": model.rule_scores(x_test)}, resamples=resamples, seed=seed)
    metadata["ece"] = model.ece(y_test, probability)
    metadata["calibration"] = model.calibration_table(y_test, probability)
    metadata["reference"] = model.reference_profile(test_frame, probability, lists["numeric"],
                                                    test_day, model.line_growth(train_frame))
    metadata["average_score"] = explain.average_score(trained)
    metadata["warning_shares"] = warning_shares(trained, test_frame, probability, caseload,
                                                threshold)
    sample = np.random.default_rng(seed).choice(len(test_frame), min(len(test_frame), 2000),
                                                replace=False)
    metadata["importance"] = explain.importance(trained, test_frame.iloc[np.sort(sample)])
    return trained


def warning_shares(trained: model.TrainedModel, at_risk: pd.DataFrame,
                   probability: np.ndarray, caseload: pd.DataFrame | None,
                   threshold: float) -> dict[str, Any]:
    """Of the test day's households scoring at or above ``threshold``, the share in each
    population (at_risk, below_line, monitored)."""
    warned = pd.Series("at_risk", index=at_risk.index[probability >= threshold])
    if caseload is not None and len(caseload):
        others = features.population(caseload)
        warned = pd.concat([warned, others[trained.probability(caseload) >= threshold]])
    shares = warned.value_counts(normalize=True)
    return {"threshold": threshold, "warned": int(len(warned)),
            "at_risk": float(shares.get("at_risk", 0.0)),
            "by_population": {k: float(shares.get(k, 0.0))
                              for k in features.POPULATIONS}}


def _data_id(frame: pd.DataFrame, y: np.ndarray) -> str:
    """A fingerprint of the training rows (which households and days, and their outcomes)."""
    keys = pd.util.hash_pandas_object(frame.index.to_frame(index=False), index=False)
    return hashlib.sha256(keys.to_numpy().tobytes() + np.asarray(y).tobytes()).hexdigest()[:16]


# --- from the database ---------------------------------------------------------------------------

def default_train_days(test_day: date) -> list[date]:
    """Quarter starts (1 Jan/Apr/Jul/Oct) from four years before the test day up to a year
    before it, so every training outcome is known before the test day."""
    first, last = test_day.replace(year=test_day.year - 4), test_day - timedelta(days=365)
    return [date(y, m, 1) for y in range(first.year, last.year + 1) for m in (1, 4, 7, 10)
            if first <= date(y, m, 1) <= last]


def ceiling_entry(found: dict[str, Any]) -> dict[str, Any]:
    """The model card's ceiling from the simulator's (:func:`risk.simulator.ceiling`, or the
    simulator card's ``ceiling``)."""
    return {"auc": float(found["auc"]), "top_10pct_caught": found.get("top10_capture"),
            "test_day": found["test_day"], "households": found["households"],
            "ranked": found["ranked"], "draws": found["draws"]}


def county_ceiling(session: Session, test_day: date) -> dict[str, Any]:
    """The simulator's ceiling on the test day when the simulator wrote this county (its
    hidden state is simulated again from the seed kept with it); otherwise the ceiling is
    unknown (``auc`` None) and ``unknown`` says why."""
    seeds = simulator.simulated_seeds(session)
    if len(seeds) != 1:
        why = ("a county's own records: no simulator's hidden state to rank its households "
               "with" if not seeds else "the database holds several simulated counties "
               f"(seeds {', '.join(map(str, sorted(seeds)))})")
        return {"auc": None, "unknown": why}
    problem = simulator.day_problem(simulator.parameters(), test_day)
    if problem:
        return {"auc": None, "unknown": problem}
    return ceiling_entry(simulator.ceiling(session, test_day, seed=seeds.pop()))


# A year of history is one the county reported for: at least this share of the households
# of its best-reported year (one household's records of a year are not the county's).
YEAR_COVERAGE = 0.5


def history_years(session: Session, before: date) -> list[int]:
    """The years of the income reports (not payouts) whose period ended before a day, each
    reported for at least YEAR_COVERAGE of the households of the best-reported year."""
    t = IncomeRecord.__table__
    year = sa.extract("year", t.c.period_end)
    counts = {int(y): n for y, n in session.execute(
        sa.select(year, sa.func.count(sa.distinct(t.c.household_id))).where(
            t.c.source != IncomeSource.payout.value, t.c.period_end < before).group_by(year))}
    most = max(counts.values(), default=0)
    return sorted(y for y, n in counts.items() if n >= YEAR_COVERAGE * most)


def at_risk_rows(session: Session, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's at-risk households with their outcome (``fell``), and the caseload."""
    frame = features.build(session, day)
    population = features.population(frame)
    fell = features.outcomes(session, day)
    rows = frame[population == "at_risk"].join(fell, how="inner")
    return rows, frame[population != "at_risk"]


def train(session: Session, *, test_day: date, train_days: list[date] | None = None,
          seed: int = 0, description: str = "the county's records", threshold: float = 0.5,
          ceiling: dict[str, Any] | None = None) -> model.TrainedModel:
    """Train on the at-risk households of ``train_days`` (default :func:`default_train_days`)
    and evaluate on those of ``test_day``, beside the simulator's ceiling when the simulator
    wrote the county (``ceiling``, default :func:`county_ceiling`); refuse with less than
    four years of income reports before the test day or too few households or fallers."""
    train_days = sorted(train_days or default_train_days(test_day))
    late = [d.isoformat() for d in train_days if d > test_day - timedelta(days=365)]
    if late:
        raise ModelError(f"training days {', '.join(late)} are less than a year before the "
                         f"test day {test_day}: their outcomes would overlap the test's")
    years = history_years(session, test_day)
    if len(years) < MIN_HISTORY_YEARS:
        held = f"{years[0]}–{years[-1]}" if years else "none"
        raise ModelError(f"income reports of {len(years)} year(s) before {test_day} ({held}); "
                         f"training needs at least {MIN_HISTORY_YEARS}: import the earlier "
                         "years' records first (a year counts with reports of at least half "
                         "as many households as the best-reported year)")
    warnings = ([f"income reports of only {len(years)} years: the earliest training days "
                 "see little history"] if len(years) < MIN_HISTORY_YEARS + 1 else [])
    parts = []
    for day in train_days:
        rows, _ = at_risk_rows(session, day)
        rows.index = pd.MultiIndex.from_arrays([rows.index, [day] * len(rows)],
                                               names=["household_id", "day"])
        parts.append(rows)
    data = pd.concat(parts)
    test, caseload = at_risk_rows(session, test_day)
    ceiling = ceiling or county_ceiling(session, test_day)
    return fit_and_evaluate(
        data.drop(columns="fell"), data["fell"], test.drop(columns="fell"), test["fell"],
        test_day=test_day, train_days=train_days, caseload=caseload, threshold=threshold,
        seed=seed, description=description, ceiling=ceiling, warnings=warnings)


def train_and_keep(session: Session, model_dir: Path, **kwargs) -> tuple[
        model.TrainedModel, str, bool, str]:
    """Train, keep the version, and put it in force if it beats both baselines: returns the
    model, its version, whether it is in force, and why not."""
    trained = train(session, **kwargs)
    version, better, why = model.add_version(trained, model_dir)
    return trained, version, better, why
