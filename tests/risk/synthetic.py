"""Generated feature frames with risk.features' columns, to test training, explanations and
drift without a database."""

from __future__ import annotations

import functools
from datetime import date

import numpy as np
import pandas as pd

from risk import features, model, training


def frame(n: int, seed: int, *, missing_share: float = 0.05, line: float = 8000.0,
          income_shift: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    """``n`` at-risk households and whether each fell: the risk rises as the income ratio
    approaches the line, with the burden of the year's shocks against income, and with a
    serious illness; a household without an income known falls as often as a low-income one.
    ``income_shift`` multiplies every income (a shifted county)."""
    rng = np.random.default_rng(seed)
    size = rng.integers(1, 7, n)
    ratio = 1.0 + rng.lognormal(-0.2, 0.6, n) * income_shift
    missing = rng.random(n) < missing_share
    illness_burden = np.where(rng.random(n) < 0.15, rng.lognormal(8, 1, n), 0.0)
    disaster_burden = np.where(rng.random(n) < 0.05, rng.lognormal(7.5, 1, n), 0.0)
    income = ratio * line
    burden = (illness_burden + disaster_burden) / size
    serious = (rng.random(n) < 0.08).astype(float)
    out = pd.DataFrame({name: rng.random(n) for name in features.GROUP_OF},
                       index=pd.RangeIndex(n))
    out = out.assign(
        size=size.astype(float), head_age=rng.integers(25, 80, n).astype(float),
        household_type=rng.choice(["lifted_out", "ordinary"], n), serious_illness=serious,
        income_last=income, income_ratio=ratio, lowest_ratio=ratio * rng.uniform(0.7, 1, n),
        illness_burden_365d=illness_burden / size, disaster_burden_365d=disaster_burden / size,
        burden_365d=burden, burden_ratio_365d=burden / income,
        illness_count_365d=(illness_burden > 0).astype(float),
        income_missing=missing.astype(float), monitored=0, line=line,
        village_id=rng.integers(1, 20, n))
    risk = (-5.0 + 6.0 * np.clip(1.8 - ratio, 0, None) + 8.0 * np.clip(burden / income, 0, 1)
            + 1.5 * serious)
    risk = np.where(missing, -5.0 + 6.0 * 0.6 + 1.5 * serious, risk)
    for column in ("income_last", "income_ratio", "lowest_ratio", "burden_ratio_365d",
                   "income_trend", "income_volatility", "wage_share", "transfer_share",
                   "farm_share", "out_of_pocket_last"):
        out.loc[missing, column] = np.nan
    fell = pd.Series((rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int), index=out.index,
                     name="fell")
    return out, fell


TEST_DAY = date(2025, 1, 1)
TRAIN_DAYS = [date(2021, 1, 1), date(2022, 1, 1), date(2023, 1, 1)]


@functools.cache
def fitted(seed: int = 0, shuffled: bool = False) -> model.TrainedModel:
    """A model fitted on generated households (6,000 to learn from, 3,000 to test on), once a
    test session; ``shuffled`` learns from labels in random order (no better than chance)."""
    train, fell = frame(6000, 1 + seed)
    test, test_fell = frame(3000, 100 + seed)
    caseload, _ = frame(1000, 200 + seed)
    caseload["income_ratio"] *= 0.6  # some of them below the line …
    caseload.loc[caseload.index[:300], "monitored"] = 1  # … and some monitored
    if shuffled:
        fell = fell.sample(frac=1.0, random_state=seed).set_axis(fell.index)
    return training.fit_and_evaluate(
        train, fell, test, test_fell, test_day=TEST_DAY, train_days=TRAIN_DAYS,
        caseload=caseload, threshold=0.3, seed=seed, description="generated households")
