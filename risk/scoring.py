"""Scoring in chunks (批量评分): which households a run warns about, and why. Pure over
DataFrames, so the same code runs on a chunk here and on a partition of a distributed
engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk.features import population
from risk.model import TrainedModel, factors

HIGH, RISE, SPENT = "risk_high", "risk_rise", "risk_spending"
WARNING_TRIGGERS = (HIGH, RISE, SPENT)  # what raised a risk warning (its trigger)
# The own burdens of spending (risk.shocks.SPENDING) the features keep by kind, per person,
# last 365 days (a house repair's is in no column of its own: left out, so never over-warned).
SPENDING_BURDENS = ("illness_burden_365d", "disaster_burden_365d", "accident_burden_365d",
                    "education_burden_365d")


def spent_below_line(frame: pd.DataFrame) -> pd.Series:
    """Per household, the income per person of its latest year less its own spending of the
    last 365 days per person, where that is below the line (else NaN): by the criterion of
    突发严重困难 it may have fallen already, whatever the model's score (a data team's
    own burden of two to four times the income was scored 0.31, under the threshold, and
    raised no warning once the model changed)."""
    spent = frame.reindex(columns=list(SPENDING_BURDENS)).astype(float).fillna(0).sum(axis=1)
    left = frame["income_last"].astype(float) - spent
    return left.where((spent > 0) & (left < frame["line"].astype(float)))


def warnings_for(scores: pd.Series, previous: pd.Series, *, threshold: float, rise: float,
                 spent: pd.Series | None = None) -> pd.DataFrame:
    """The households to warn about and why: a score at or above ``threshold`` (risk_high),
    income after the year's own spending below the line (``spent``, of
    :func:`spent_below_line`: risk_spending), or a rise of at least ``rise`` since the
    previous run (risk_rise). Households the previous run did not score cannot have risen."""
    before = previous.reindex(scores.index)
    left = (spent if spent is not None else pd.Series(dtype=float)).reindex(scores.index)
    high = scores >= threshold
    spending = left.notna()
    rising = (scores - before) >= rise - 1e-9  # a rise of exactly `rise` counts
    warned = high | spending | rising.fillna(False).astype(bool)
    return pd.DataFrame({
        "score": scores[warned], "previous_score": before[warned],
        "trigger": np.where(high[warned], HIGH, np.where(spending[warned], SPENT, RISE)),
        "left": left[warned],
    }, index=scores.index[warned])


# What the office reads on the list, stored in Chinese (the office's language); the workspace
# reads a stored text back into its values to show it in English (claims.web.i18n).
ROSE = "返贫风险由 %(previous)s 升至 %(score)s"
REACHED = "返贫风险 %(score)s，达到预警阈值 %(threshold)s"
REACHED_SINCE = REACHED + "（上次 %(previous)s）"
SPENT_TEXT = "近一年自付支出后人均收入约 %(left)s 元，低于监测线，风险分 %(score)s"


def warning_text(trigger: str, score: float, previous: float | None, threshold: float,
                 left: float | None = None) -> str:
    if trigger == SPENT:
        return SPENT_TEXT % {"left": f"{left:,.0f}", "score": f"{score:.2f}"}
    if trigger == RISE:
        return ROSE % {"previous": f"{previous:.2f}", "score": f"{score:.2f}"}
    values = {"score": f"{score:.2f}", "threshold": f"{threshold:.2f}"}
    if previous is not None and not np.isnan(previous):
        return REACHED_SINCE % {**values, "previous": f"{previous:.2f}"}
    return REACHED % values


@dataclass
class ChunkScores:
    scores: pd.Series        # every household of the chunk
    populations: pd.Series   # at_risk, below_line or monitored (risk.features.population)
    warnings: pd.DataFrame   # the new warnings: score, previous_score, trigger, factors


def score_chunk(model: TrainedModel, frame: pd.DataFrame, previous: pd.Series,
                open_warnings: pd.Index, *, threshold: float, rise: float) -> ChunkScores:
    """Score a chunk of households and say which to warn about, with the factors of each
    (pure: a chunk here, a partition of a distributed engine later). Only the at-risk
    population is warned about: the caseload (below the line, or monitored) is the office's
    already, scored for information. Households in ``open_warnings`` already have an open
    risk warning and get no second one."""
    if frame.empty:  # a range none of whose households was active on the night
        scores = pd.Series(index=frame.index, name="score", dtype=float)
        warned = warnings_for(scores, previous, threshold=threshold, rise=rise)
        warned["factors"] = pd.Series(index=warned.index, dtype=object)
        return ChunkScores(scores, population(frame), warned)
    matrix = model.matrix(frame)
    scores = pd.Series(model.probability_of(matrix), index=frame.index, name="score")
    populations = population(frame)
    at_risk = scores[populations == "at_risk"]
    warned = warnings_for(at_risk, previous, threshold=threshold, rise=rise,
                          spent=spent_below_line(frame))
    warned = warned[~warned.index.isin(open_warnings)]
    positions = frame.index.get_indexer(warned.index)
    warned["factors"] = factors(model, frame.iloc[positions], matrix=matrix[positions])
    return ChunkScores(scores, populations, warned)
