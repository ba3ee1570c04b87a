"""Generated feature frames with the column names of the features contract (design of issue
16), to test training, explanations and drift without a database. Until risk/features.py
holds those names, :func:`install` puts the contract's lists into it for the test."""

from __future__ import annotations

import functools
from datetime import date

import numpy as np
import pandas as pd

from risk import features, model, training

KINDS = ["illness", "disability", "disaster", "accident", "education", "employment"]
GROUPS = {"income": ("收入", "income"), "illness": ("疾病", "illness"),
          "disability": ("残疾", "disability"), "disaster": ("灾害", "disaster"),
          "accident": ("意外", "accident"), "employment": ("就业", "employment"),
          "education": ("教育", "education"), "household": ("家庭结构", "household"),
          "support": ("保障与帮扶", "support"), "spending": ("支出负担", "spending"),
          "missing": ("数据缺失", "missing data")}
GROUP_OF = {
    **dict.fromkeys(["size", "head_age", "elderly", "dependants_share", "relocated",
                     "household_type"], "household"),
    **dict.fromkeys(["children", "students"], "education"),
    **dict.fromkeys(["workers", "weak_labour", "no_labour", "migrant_months", "wage_share"],
                    "employment"),
    **dict.fromkeys(["disabled", "severe_disability", "new_disability_365d"], "disability"),
    **dict.fromkeys(["chronic", "serious_illness", "health_worsened_365d"], "illness"),
    **dict.fromkeys(["dibao", "tekun", "was_monitored", "transfer_share", "payouts_365d"],
                    "support"),
    **dict.fromkeys(["income_last", "income_ratio", "income_trend", "income_volatility",
                     "lowest_ratio", "farm_share"], "income"),
    **dict.fromkeys(["out_of_pocket_last", "burden_30d", "burden_90d", "burden_365d",
                     "burden_ratio_365d", "days_since_shock"], "spending"),
    **dict.fromkeys(["income_missing", "income_age_days"], "missing"),
}
for _kind in KINDS:
    GROUP_OF[f"{_kind}_count_90d"] = GROUP_OF[f"{_kind}_count_365d"] = _kind
    if _kind != "disability":
        GROUP_OF[f"{_kind}_burden_365d"] = _kind
LABELS = {name: (f"{name}（中）", name.replace("_", " ")) for name in GROUP_OF}
CATEGORICAL = ["household_type"]


def _population(frame: pd.DataFrame) -> pd.Series:
    """The contract's populations: monitored, else below_line (income ratio under 1), else
    at_risk (a missing income included)."""
    out = pd.Series("at_risk", index=frame.index)
    out[frame["income_ratio"] < 1] = "below_line"
    out[frame["monitored"] == 1] = "monitored"
    return out


def install(monkeypatch) -> None:
    """Give risk.features the contract's names when it does not hold them yet."""
    if set(GROUP_OF) <= set(getattr(features, "GROUP_OF", {})) and hasattr(
            features, "population"):
        return
    numeric = [n for n in GROUP_OF if n not in CATEGORICAL]
    for name, value in (("LABELS", LABELS), ("GROUP_OF", GROUP_OF), ("GROUPS", GROUPS),
                        ("CATEGORICAL", CATEGORICAL), ("NUMERIC", numeric),
                        ("FEATURES", numeric + CATEGORICAL), ("population", _population)):
        monkeypatch.setattr(features, name, value, raising=False)


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
    out = pd.DataFrame({name: rng.random(n) for name in GROUP_OF}, index=pd.RangeIndex(n))
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
    test session; ``shuffled`` learns from labels in random order (no better than chance).
    Call it with the contract installed."""
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
