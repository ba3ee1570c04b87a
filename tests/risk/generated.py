"""A real model for tests that score: :func:`risk.model.pipeline` trained on a generated frame
of the features in which falling is driven by the income's distance from the line and by the
burden of recent shocks, saved with :func:`risk.model.save`. Independent of the simulator and
of the training code, so scoring tests do not depend on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from risk import model
from risk.features import CATEGORICAL, FEATURES, NUMERIC

LEADING = ("income_last", "income_ratio", "burden_ratio_365d", "illness_burden_365d",
           "burden_365d")


def frame(rows: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Generated households and whether each fell: the further below 1.5 × the line and the
    heavier the last year's burden against the income, the likelier."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({name: rng.poisson(1.0, rows).astype(float) for name in NUMERIC})
    data["size"] = rng.integers(1, 7, rows).astype(float)
    data["income_last"] = rng.lognormal(np.log(14_000), 0.5, rows)
    data["income_ratio"] = data["income_last"] / 8700
    shocked = rng.random(rows) < 0.3
    data["illness_burden_365d"] = np.where(shocked, rng.exponential(6000, rows), 0.0)
    data["burden_365d"] = data["illness_burden_365d"]
    data["burden_90d"] = data["burden_365d"] * (rng.random(rows) < 0.5)
    data["burden_30d"] = data["burden_90d"] * (rng.random(rows) < 0.5)
    data["illness_count_365d"] = shocked.astype(float)
    data["illness_count_90d"] = (data["burden_90d"] > 0).astype(float)
    data["burden_ratio_365d"] = data["burden_365d"] / data["income_last"]
    data["days_since_shock"] = np.where(shocked, rng.integers(1, 365, rows), np.nan)
    data["income_missing"] = 0.0
    for name in CATEGORICAL:
        data[name] = rng.choice(["lifted_out", "ordinary"], rows)
    logit = -1.0 - 4.0 * (data["income_ratio"] - 1.5) + 4.0 * data["burden_ratio_365d"]
    fell = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return data[FEATURES], fell.to_numpy()


def train_and_save(directory: Path, seed: int = 0) -> model.TrainedModel:
    """Fit the production pipeline on :func:`frame` (out of time on a second draw) and save it
    as the nightly run loads it."""
    from datetime import date

    import pandas as pd

    from risk import training

    data, fell = frame(seed=seed)
    test, test_fell = frame(seed=seed + 1)
    trained = training.fit_and_evaluate(
        data, pd.Series(fell, index=data.index), test, pd.Series(test_fell, index=test.index),
        test_day=date(2026, 1, 1), train_days=[date(2025, 1, 1)], seed=seed, resamples=20,
        description="a generated frame: falls driven by the income and the burden of shocks")
    model.save(trained, directory)
    return trained
