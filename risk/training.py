"""Training (模型训练): household-years from the database, an out-of-time evaluation on the
latest year against both baselines, and the saved artifact with its model card."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sqlmodel import Session

from risk import features, model
from risk.features import FEATURES

UNSEEN_SHARE = 0.2  # households held out of training altogether


def unseen(household_ids: pd.Index, seed: int = 0) -> np.ndarray:
    """A stable fifth of the households, never used in training."""
    digits = [int(hashlib.sha256(f"{seed}:{h}".encode()).hexdigest()[:8], 16)
              for h in household_ids]
    return (np.asarray(digits) % 1000) < UNSEEN_SHARE * 1000


def household_years(session: Session, years: list[int]) -> pd.DataFrame:
    """Features as of each year with that year's label."""
    frames = []
    for year in years:
        frame = features.build(session, year)
        label = features.labels(session, year)
        frame = frame.join(label, how="inner")
        frame["as_of_year"] = year
        frames.append(frame)
    return pd.concat(frames)


def train(session: Session, *, train_years: list[int], test_year: int, seed: int = 0,
          description: str = "the income ledger") -> model.TrainedModel:
    """Fit on households not held out in ``train_years``; evaluate on ``test_year``."""
    if test_year <= max(train_years):
        raise model.ModelError(f"the test year {test_year} must come after every training "
                               f"year ({', '.join(map(str, train_years))})")
    data = household_years(session, train_years)
    data = data[~unseen(data.index, seed)]
    model.check_training_frame(data)
    x, y = model.ready(data[FEATURES]), data["fell_below_line"].to_numpy()
    if y.sum() < 20 or (len(y) - y.sum()) < 20:
        raise model.ModelError(f"training data has {y.sum()} households that fell below the "
                               f"line and {len(y) - y.sum()} that did not; too few to learn")
    fitted = model.pipeline(seed).fit(x, y)
    card = model.scorecard(seed).fit(x, y)

    test = household_years(session, [test_year])
    x_test, y_test = model.ready(test[FEATURES]), test["fell_below_line"].to_numpy()
    held_out = unseen(test.index, seed)
    probability = fitted.predict_proba(x_test)[:, 1]
    card_probability = card.predict_proba(x_test)[:, 1]
    rule = model.rule_scores(x_test)
    evaluation = {}
    for name, mask in (("all", np.ones(len(test), bool)), ("unseen", held_out)):
        evaluation[name] = {
            "model": model.metrics(y_test[mask], probability[mask]),
            "scorecard": model.metrics(y_test[mask], card_probability[mask]),
            "rule": model.metrics(y_test[mask], rule[mask]),
        }
    sample = np.random.default_rng(seed).choice(len(x_test), min(len(x_test), 3000),
                                                replace=False)
    importance = permutation_importance(fitted, x_test.iloc[sample], y_test[sample],
                                        scoring="roc_auc", n_repeats=3, random_state=seed)
    order = [FEATURES[i] for i in np.argsort(-importance.importances_mean)]
    metadata = {
        "trained_at": model.now_iso(),
        "target": "per-capita net income of the year below the monitoring line of the "
                  "household's region and year (features as of 1 January)",
        "features": FEATURES,
        "training": {"description": f"{description}, as of 1 January of "
                                    f"{', '.join(map(str, train_years))}, households not "
                                    "held out", "years": train_years,
                     "rows": int(len(y)), "positives": int(y.sum()),
                     "data_id": _data_id(data)},
        "test": {"description": f"as of 1 January {test_year}, label from {test_year}; "
                                f"{int(held_out.sum()):,} of {len(test):,} households never "
                                "seen in training", "year": test_year},
        "evaluation": evaluation,
        "calibration": model.calibration_table(y_test, probability),
        "importance_order": order,
        "reference": model.reference_profile(x, fitted.predict_proba(x)[:, 1]),
        "versions": model.versions(),
        "seed": seed,
    }
    return model.TrainedModel(fitted, metadata)


def _data_id(frame: pd.DataFrame) -> str:
    """A fingerprint of the training rows (which households and years, and their labels)."""
    keys = pd.util.hash_pandas_object(
        frame[["as_of_year", "fell_below_line"]].reset_index(), index=False)
    return hashlib.sha256(keys.to_numpy().tobytes()).hexdigest()[:16]


def train_and_save(session: Session, directory: Path, **kwargs) -> model.TrainedModel:
    trained = train(session, **kwargs)
    model.save(trained, directory)
    return trained
