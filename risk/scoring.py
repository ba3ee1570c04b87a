"""Scoring in chunks (批量评分): which households a run warns about, and why. Pure over
DataFrames, so the same code runs on a chunk here and on a partition of a distributed
engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk.features import population
from risk.model import TrainedModel, factors

HIGH, RISE = "risk_high", "risk_rise"


def warnings_for(scores: pd.Series, previous: pd.Series, *, threshold: float, rise: float
                 ) -> pd.DataFrame:
    """The households to warn about and why: a score at or above ``threshold`` (risk_high),
    or a rise of at least ``rise`` since the previous run (risk_rise). Households the
    previous run did not score cannot have risen."""
    before = previous.reindex(scores.index)
    high = scores >= threshold
    rising = (scores - before) >= rise - 1e-9  # a rise of exactly `rise` counts
    warned = high | rising.fillna(False).astype(bool)
    return pd.DataFrame({
        "score": scores[warned], "previous_score": before[warned],
        "trigger": np.where(high[warned], HIGH, RISE),
    }, index=scores.index[warned])


# What the office reads on the list, stored in Chinese (the office's language); the workspace
# reads a stored text back into its values to show it in English (claims.web.i18n).
ROSE = "返贫风险由 %(previous)s 升至 %(score)s"
REACHED = "返贫风险 %(score)s，达到预警阈值 %(threshold)s"
REACHED_SINCE = REACHED + "（上次 %(previous)s）"


def warning_text(trigger: str, score: float, previous: float | None, threshold: float) -> str:
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
    warned = warnings_for(at_risk, previous, threshold=threshold, rise=rise)
    warned = warned[~warned.index.isin(open_warnings)]
    positions = frame.index.get_indexer(warned.index)
    warned["factors"] = factors(model, frame.iloc[positions], matrix=matrix[positions])
    return ChunkScores(scores, populations, warned)
