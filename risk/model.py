"""The return-to-poverty risk model (返贫风险模型): the pipeline and its two baselines, the
out-of-time evaluation with bootstrap intervals, the saved artifact with its versions and model
card, scoring, and drift.

The score is the probability that a household of the at-risk population (not below the line,
not monitored) falls under the line within 12 months (docs/risk.md). The scoring functions are
pure over a DataFrame of features (risk/features.py), so the same code scores a chunk here or a
partition on a distributed engine. The feature lists are read from :mod:`risk.features` when a
model is trained and kept in its metadata, so a saved model always reads the columns it learned.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from risk import features
from risk.errors import ModelError

__all__ = ["DriftTally", "ModelError", "TrainedModel", "drift", "factors", "load", "save",
           "score"]

# What a saved model may contain; skops refuses anything else, so a file from elsewhere can
# never run code when it is loaded.
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]
# The ten indicators of the scorecard baseline (a logistic regression, as published
# return-to-poverty scorecards are); those the features do not hold are left out.
SCORECARD = ["income_ratio", "income_trend", "workers", "dependants_share", "disabled",
             "chronic", "serious_illness", "out_of_pocket_last", "dibao", "income_volatility"]
RULE_MULTIPLE = 1.1  # the rule baseline: income below 1.1 × the line
# Income features a missing income leaves empty; a household without an income known is
# scored at least as high as with the typical income of the at-risk households' lowest
# quarter, and as with its own latest income known (TrainedModel.matrix).
INCOME_KEY = "income_ratio"
# Drift: the line is expected to grow about 4% a year; more than 5% beyond that is flagged.
LINE_GROWTH, LINE_TOLERANCE = 0.04, 0.05
# Drift: a mean score more than 25% (relative) and 0.005 (absolute) away from the training's
# means the calibration no longer holds.
SCORE_MEAN_RELATIVE, SCORE_MEAN_ABSOLUTE = 0.25, 0.005
PSI_THRESHOLD = 0.25
MIN_KNOWN = 20  # values a feature needs in training (a fold of three must hold some)


def feature_lists() -> dict[str, list[str]]:
    """The features a model trained now reads (from risk.features)."""
    return {"numeric": list(features.NUMERIC), "categorical": list(features.CATEGORICAL)}


def pipeline(numeric: list[str], categorical: list[str], seed: int = 0) -> Pipeline:
    """Columns → gradient boosting, calibrated (isotonic, 3 folds). Missing numbers stay
    missing (the trees learn where they go) and each number missing in training also gets an
    indicator column, so training sees missingness explicitly."""
    columns = ColumnTransformer([
        ("numbers", "passthrough", numeric),
        ("missing", MissingIndicator(features="missing-only", error_on_new=False), numeric),
        ("codes", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ], verbose_feature_names_out=False)
    boosting = HistGradientBoostingClassifier(
        max_iter=250, learning_rate=0.05, max_leaf_nodes=31, max_depth=6, min_samples_leaf=40,
        l2_regularization=1.0, random_state=seed)  # depth 6: exact SHAP costs depth²
    # One booster refitted on all the data, calibrated on cross-validated predictions: a third
    # of the scoring time of an ensemble of three, and one tree ensemble for exact SHAP.
    calibrated = CalibratedClassifierCV(boosting, method="isotonic", cv=3, ensemble=False)
    return Pipeline([("columns", columns), ("model", calibrated)])


def scorecard(numeric: list[str], seed: int = 0) -> Pipeline:
    """The scorecard baseline: a logistic regression on the ten indicators, a missing value
    replaced by the median with an indicator."""
    present = [c for c in SCORECARD if c in numeric]
    return Pipeline([
        ("columns", ColumnTransformer([("numbers", "passthrough", present)])),
        ("fill", SimpleImputer(strategy="median", add_indicator=True)),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(max_iter=1000, random_state=seed)),
    ])


def rule_scores(frame: pd.DataFrame) -> np.ndarray:
    """The rule baseline's ranking: line ÷ income, warned above 1 ÷ 1.1; no income known is
    the highest risk."""
    ratio = frame[INCOME_KEY].to_numpy(dtype=float)
    return np.where(np.isnan(ratio), np.inf, 1.0 / np.maximum(ratio, 1e-6))


def check_training_frame(frame: pd.DataFrame, names: list[str]) -> None:
    """Refuse a frame a model cannot honestly learn from, naming the columns."""
    absent = [c for c in names if c not in frame.columns]
    if absent:
        raise ModelError(f"training data lacks the features {', '.join(absent)}")
    empty = [c for c in names if frame[c].isna().all()]
    if empty:
        raise ModelError(f"training data has no value at all in {', '.join(empty)}; fix the "
                         "data (an empty column would be learned as meaningless)")
    # a column known in a handful of rows may be empty in a fold of the calibration's
    # cross-validation, where the booster's binning failed with a traceback (a hostile
    # tester's test day of 2023, years before most of the county's records)
    thin = {c: int(frame[c].notna().sum()) for c in names
            if frame[c].notna().sum() < MIN_KNOWN}
    if thin:
        raise ModelError("training data has too few values in " + ", ".join(
            f"{c} ({n} rows)" for c, n in thin.items()) + f" (at least {MIN_KNOWN} each): "
            "choose a later test day, or import the years of records before it")


def ready(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The features in order; a column the source did not provide becomes missing."""
    out = frame.reindex(columns=numeric + categorical)
    for column in categorical:
        out[column] = out[column].astype(object).where(out[column].notna(), "none").astype(str)
    out[numeric] = out[numeric].astype(float)
    return out


# --- evaluation -------------------------------------------------------------------------------

def top_caught(y: np.ndarray, score: np.ndarray, top: float = 0.10) -> float:
    """The share of fallers among the ``top`` share of scores (ties broken by order)."""
    y = np.asarray(y, dtype=int)
    k = max(1, int(round(len(y) * top)))
    order = np.argsort(-np.asarray(score), kind="stable")
    return float(y[order[:k]].sum() / max(y.sum(), 1))


def ece(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-count bins of the score: the
    households-weighted mean gap between mean predicted and observed share. (Equal-width bins
    would put nearly every household of a rare outcome in the first bin.)"""
    table = calibration_table(y, probability, bins)
    total = sum(r["households"] for r in table)
    return float(sum(r["households"] * abs(r["predicted"] - r["observed"]) for r in table)
                 / total)


def calibration_table(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted probability against the observed share, by equal-count bin."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": probability})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    table = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"),
                                     households=("y", "size"))
    return [{"bin": int(i) + 1, **{k: float(v) for k, v in row.items()}}
            for i, row in table.iterrows()]


def _finite(score: np.ndarray) -> np.ndarray:
    score = np.asarray(score, dtype=float)
    top = np.nanmax(score[np.isfinite(score)]) + 1 if np.isfinite(score).any() else 1.0
    return np.where(np.isinf(score), top, score)


def compare(y: np.ndarray, scores: dict[str, np.ndarray], *, reference: str = "model",
            resamples: int = 200, seed: int = 0) -> dict[str, Any]:
    """AUC and top-10% capture of each score, with bootstrap 95% intervals (percentile, over
    households resampled with replacement), and the paired AUC difference of ``reference``
    against each other score on the same resamples."""
    y = np.asarray(y, dtype=int)
    scores = {name: _finite(s) for name, s in scores.items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in scores}
    n = len(y)
    while len(next(iter(draws.values()))) < resamples:
        pick = rng.integers(0, n, n)
        if y[pick].min() == y[pick].max():
            continue  # a resample without both outcomes has no AUC
        for name, s in scores.items():
            draws[name].append(roc_auc_score(y[pick], s[pick]))
    out: dict[str, Any] = {"rows": n, "positives": int(y.sum()), "resamples": resamples}
    for name, s in scores.items():
        out[name] = {"auc": float(roc_auc_score(y, s)),
                     "auc_ci": _interval(draws[name]),
                     "top_10pct_caught": top_caught(y, s)}
    for name in scores:
        if name != reference:
            difference = np.asarray(draws[reference]) - np.asarray(draws[name])
            point = out[reference]["auc"] - out[name]["auc"]
            low, high = _interval(difference)
            out[f"{reference}_minus_{name}"] = {
                "auc": point, "auc_ci": [low, high], "excludes_zero": bool(low > 0 or high < 0)}
    return out


def _interval(values) -> list[float]:
    return [float(v) for v in np.percentile(np.asarray(values), [2.5, 97.5])]


# --- the artifact ------------------------------------------------------------------------------

@dataclass
class TrainedModel:
    pipeline: Pipeline
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def numeric(self) -> list[str]:
        return self.metadata["features"]["numeric"]

    @property
    def categorical(self) -> list[str]:
        return self.metadata["features"]["categorical"]

    @property
    def names(self) -> list[str]:
        return self.numeric + self.categorical

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self.probability_of(self.matrix(frame))

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The features as the model reads them, with the floor of a missing income applied:
        where the household's income is not known, the row holds whichever scores highest of
        its own figures, the typical figures of the lowest quarter of incomes, and those
        figures but with its own latest income known, against today's line (so a missing
        income never lowers the score below either, and the explanation is the explanation
        of the score given). A household at 1.05 × the line whose reports stopped had been
        scored with the typical low income, higher than its own: 0.39 against the 0.55 of
        its last report (a data team's)."""
        x = ready(frame, self.numeric, self.categorical)
        matrix = self.pipeline[:-1].transform(x)
        unknown = np.flatnonzero(x[INCOME_KEY].isna().to_numpy())
        if not len(unknown):
            return matrix
        low = x.iloc[unknown].copy()
        for column, value in self.metadata["low_income"].items():
            # the indicator of a missing income reads "known" with the figures
            low[column] = value if column == "income_missing" else low[column].fillna(value)
        best, best_matrix = self.probability_of(matrix[unknown]), matrix[unknown]
        candidates = [low]
        if features.STALE in frame.columns and "line" in frame.columns:
            stale = frame[features.STALE].iloc[unknown].astype(float).to_numpy()
            line = frame["line"].iloc[unknown].astype(float).to_numpy()
            own = low.copy()  # the low figures but the income; none where it never reported
            for column, value in (("income_last", stale), (INCOME_KEY, stale / line)):
                if column in own.columns:
                    own[column] = np.where(np.isnan(stale), own[column], value)
            candidates.append(own)
        for candidate in candidates:
            candidate_matrix = self.pipeline[:-1].transform(candidate)
            scores = self.probability_of(candidate_matrix)
            higher = scores > best
            best = np.where(higher, scores, best)
            best_matrix[higher] = candidate_matrix[higher]
        matrix[unknown] = best_matrix
        return matrix

    def probability_of(self, matrix: np.ndarray) -> np.ndarray:
        return self.pipeline[-1].predict_proba(matrix)[:, 1]


def low_income_profile(frame: pd.DataFrame, numeric: list[str]) -> dict[str, float]:
    """The typical figures (medians) of the households with the lowest quarter of incomes
    among those whose income is known: what a missing income is compared with. The indicator
    of a missing income reads 0 there (the figures are an income known)."""
    known = frame[frame[INCOME_KEY].notna()]
    low = known[known[INCOME_KEY] <= known[INCOME_KEY].quantile(0.25)]
    out = {c: float(low[c].median()) for c in numeric if low[c].notna().any()}
    if "income_missing" in out:
        out["income_missing"] = 0.0
    return out


def line_growth(frame: pd.DataFrame) -> float | None:
    """The county's own yearly growth of its mean line over the training days (household-day
    rows, the day the index's second level), or None with fewer than two days a year or more
    apart: what drift expects the line to grow by. A constant 4% had flagged a county whose
    line had not changed, and missed its 10% rise (a data team's)."""
    if "line" not in frame.columns or frame.index.nlevels < 2:
        return None
    by_day = frame["line"].astype(float).groupby(level=1).mean().dropna()
    if len(by_day) < 2:
        return None
    first, last = by_day.index.min(), by_day.index.max()
    years = (pd.Timestamp(last) - pd.Timestamp(first)).days / 365.25
    if years < 1 or by_day[first] <= 0:
        return None
    return float((by_day[last] / by_day[first]) ** (1 / years) - 1)


def reference_profile(frame: pd.DataFrame, probability: np.ndarray, numeric: list[str],
                      day: date | None, growth: float | None = None) -> dict[str, Any]:
    """What drift is measured against: deciles of each number and of the score, the mean
    score and the mean line, all of the test day's at-risk population (the latest the model
    knows), and the line's yearly growth in the training days (None: unknown, 4% assumed)."""
    x = frame.reindex(columns=numeric).astype(float)
    bins = {column: _bins(x[column].dropna().to_numpy()) for column in numeric}
    line = frame["line"].astype(float).mean() if "line" in frame.columns else None
    return {"bins": bins, "score_bins": _bins(np.asarray(probability)),
            "mean_score": float(np.mean(probability)),
            "line": None if line is None or np.isnan(line) else float(line),
            "line_growth": growth, "day": day.isoformat() if day else None}


def _bins(values: np.ndarray) -> dict[str, list[float]]:
    """Decile edges of the training values (fewer for a count or a flag) and the share of
    values in each bin."""
    if len(values) == 0:
        return {"edges": [], "shares": []}
    edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()}


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


def model_version(metadata: dict[str, Any]) -> str:
    return f"{metadata['trained_at'][:10]}-{metadata['sha256'][:8]}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- saving, versions and the model in force ---------------------------------------------------
# <model dir>/versions/<version>/{model.skops, metadata.json, MODEL_CARD.md}; <model dir>/
# IN_FORCE names the version in force; <model dir>/history.json is the log of what happened to
# the versions; <model dir>/MODEL_CARD.md is a copy of the card of the version in force.

IN_FORCE, HISTORY = "IN_FORCE", "history.json"


def save(model: TrainedModel, directory: Path) -> Path:
    """Write model.skops, metadata.json and MODEL_CARD.md into ``directory``."""
    from skops.io import dump

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.skops"
    dump(model.pipeline, path)
    model.metadata["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (directory / "metadata.json").write_text(
        json.dumps(model.metadata, indent=2, ensure_ascii=False), encoding="utf-8")
    (directory / "MODEL_CARD.md").write_text(model_card(model.metadata), encoding="utf-8")
    return path


def _json(path: Path) -> Any:
    """A model directory's JSON file, a damaged one refused in words (not a traceback)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: restore the folder {path.parent} from a backup, "
                         "or remove it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path} is damaged ({error}): restore it from a backup, or train "
                         "again") from None


def load(directory: Path) -> TrainedModel:
    """Load a saved model; a file holding anything but the trusted types is refused, and so
    is one whose checksum does not match its metadata."""
    from skops.io import get_untrusted_types
    from skops.io import load as skops_load

    path = directory / "model.skops"
    if not path.is_file():
        kept = sorted(p.name for p in (directory / "versions").glob("*") if p.is_dir()) \
            if (directory / "versions").is_dir() else []
        raise ModelError(
            f"{path}: no model in force; versions are kept ({', '.join(kept)}): put one in "
            "force with 'fangpin model promote VERSION'" if kept else
            f"{path}: no model here; train one with 'fangpin train'")
    metadata = _json(directory / "metadata.json")
    if hashlib.sha256(path.read_bytes()).hexdigest() != metadata.get("sha256"):
        raise ModelError(f"{path} does not match its metadata's checksum; refusing to load it")
    unexpected = sorted(set(get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(f"{path} holds types fangpin does not trust: {', '.join(unexpected)}")
    return TrainedModel(skops_load(path, trusted=TRUSTED_TYPES), metadata)


def in_force(model_dir: Path) -> str | None:
    """The version in force, or None (no pointer: a model saved before versions, if any)."""
    pointer = model_dir / IN_FORCE
    return pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None


def load_in_force(model_dir: Path) -> TrainedModel:
    """The model in force; a directory from before versions holds it flat."""
    version = in_force(model_dir)
    return load(model_dir if version is None else model_dir / "versions" / version)


def history(model_dir: Path) -> list[dict[str, Any]]:
    path = model_dir / HISTORY
    return _json(path) if path.is_file() else []


def beats_baselines(metadata: dict[str, Any]) -> tuple[bool, str]:
    """Whether a model may be put in force: its out-of-time AUC above both the rule's and the
    scorecard's; and why not."""
    test = metadata["evaluation"]
    behind = [f"{name} {test[name]['auc']:.3f}" for name in ("rule", "scorecard")
              if test["model"]["auc"] <= test[name]["auc"]]
    if behind:
        return False, (f"its out-of-time AUC {test['model']['auc']:.3f} does not beat the "
                       + " and the ".join(behind))
    return True, ""


def add_version(model: TrainedModel, model_dir: Path) -> tuple[str, bool, str]:
    """Keep a newly trained model as a version; put it in force only if it beats both
    baselines out of time. Returns (version, put in force, why not)."""
    staging = model_dir / "versions" / f".new-{now_iso().replace(':', '')}"
    save(model, staging)
    version = model_version(model.metadata)
    target = model_dir / "versions" / version
    if target.exists():
        shutil.rmtree(staging)
        raise ModelError(f"version {version} exists already (the same model file)")
    staging.rename(target)
    better, why = beats_baselines(model.metadata)
    _log(model_dir, version, "trained", "" if better else f"kept, not in force: {why}")
    if better:
        _put_in_force(model_dir, version, "promoted", "beat both baselines out of time")
    else:
        _write_cards(model_dir)
    return version, better, why


def promote(model_dir: Path, version: str) -> None:
    """Put a kept version in force by hand (the office takes the responsibility): one of
    this directory's versions, by its name, whose file loads (its checksum and types)."""
    if (version != Path(version).name or version.startswith(".")
            or not (model_dir / "versions" / version / "model.skops").is_file()):
        kept = ", ".join(v["version"] for v in list_versions(model_dir)) or "none"
        raise ModelError(f"no version {version!r} here (kept: {kept})")
    if in_force(model_dir) == version:
        raise ModelError(f"version {version} is already in force")
    load(model_dir / "versions" / version)  # a damaged file is refused now, not tonight
    _put_in_force(model_dir, version, "promoted", "by hand")


def rollback(model_dir: Path) -> str:
    """Put back the version that was in force before the present one came in; each rollback
    steps one further back, and rolling back past the first version put in force is refused.
    Returns the version now in force."""
    current, back = _rollback_target(model_dir)
    if back is None:
        raise ModelError(f"no version was in force before version {current}; nothing to roll "
                         "back to" if current else "no version is in force; nothing to roll "
                         "back to")
    _put_in_force(model_dir, back, "rolled back to", f"from {current}")
    return back


def _rollback_target(model_dir: Path) -> tuple[str | None, str | None]:
    """The version in force and the one a rollback would put back (None: there is none).

    The history's versions put in force lie one upon another, the one in force on top: a
    promotion puts a version on top, a rollback takes the top one off."""
    line: list[str] = []
    for entry in history(model_dir):
        if entry["action"] == "promoted":
            line.append(entry["version"])
        elif entry["action"] == "rolled back to":
            del line[-1:]
            if line[-1:] != [entry["version"]]:  # by an earlier fangpin, which swapped two
                line.append(entry["version"])
    current = in_force(model_dir)
    return current, (line[-2] if len(line) > 1 and line[-1] == current else None)


def list_versions(model_dir: Path) -> list[dict[str, Any]]:
    """The kept versions, oldest first, with their out-of-time AUCs (the simulator's ceiling:
    None when unknown), whether in force and whether a rollback would put it back."""
    current, back = _rollback_target(model_dir)
    found = []
    for directory in sorted((model_dir / "versions").glob("[!.]*")):
        metadata = _json(directory / "metadata.json")
        test = metadata["evaluation"]
        found.append({"version": directory.name, "trained_at": metadata["trained_at"],
                      "test_day": metadata["test"]["day"], "in_force": directory.name == current,
                      "rollback_to": directory.name == back,
                      **{f"{k}_auc": test[k]["auc"] for k in ("model", "scorecard", "rule")},
                      "ceiling_auc": (metadata.get("ceiling") or {}).get("auc")})
    return sorted(found, key=lambda v: v["trained_at"])


def _log(model_dir: Path, version: str, action: str, note: str) -> None:
    entries = history(model_dir)
    entries.append({"at": now_iso(), "version": version, "action": action, "note": note})
    (model_dir / HISTORY).write_text(json.dumps(entries, indent=2), encoding="utf-8")


def _put_in_force(model_dir: Path, version: str, action: str, note: str) -> None:
    _log(model_dir, version, action, note)
    pointer = model_dir / f".{IN_FORCE}.new"
    pointer.write_text(version + "\n", encoding="utf-8")
    pointer.replace(model_dir / IN_FORCE)  # atomic: a run reads the old or the new pointer
    _write_cards(model_dir)


def _write_cards(model_dir: Path) -> None:
    """Every kept version's card with the present version history; the one in force also at
    the top of the model directory."""
    entries, current = history(model_dir), in_force(model_dir)
    for directory in (model_dir / "versions").glob("[!.]*"):
        metadata = _json(directory / "metadata.json")
        card = model_card(metadata, entries, in_force=directory.name == current)
        (directory / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        if directory.name == current:
            (model_dir / "MODEL_CARD.md").write_text(card, encoding="utf-8")


# --- scoring -----------------------------------------------------------------------------------

def score(model: TrainedModel, frame: pd.DataFrame) -> pd.Series:
    """Each household's probability of falling below the line within 12 months (pure)."""
    return pd.Series(model.probability(frame), index=frame.index, name="score")


def factors(model: TrainedModel, frame: pd.DataFrame, top: int = 3,
            matrix: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
    """Each household's factors (risk.explain.factors: exact tree SHAP grouped as the office
    reads them, adding up to the score minus the county average)."""
    from risk import explain

    return explain.factors(model, frame, top=top, matrix=matrix)


# --- drift -------------------------------------------------------------------------------------

def drift(model: TrainedModel, frame: pd.DataFrame, scores: np.ndarray,
          as_of: date | None = None) -> dict[str, Any]:
    """The drift report of one frame (a run tallies its chunks with :class:`DriftTally`)."""
    tally = DriftTally(model, as_of=as_of)
    tally.add(frame, scores)
    return tally.result()


class DriftTally:
    """Counts of a run's at-risk households over the training bins, added chunk by chunk;
    :meth:`result` compares them with the model's reference (the test day's at-risk
    population). ``as_of`` is the run's day (the line's expected growth is counted from the
    reference day; without it, one year)."""

    def __init__(self, model: TrainedModel, threshold: float = PSI_THRESHOLD,
                 as_of: date | None = None) -> None:
        self.reference = model.metadata["reference"]
        self.numeric = model.numeric
        self.names = model.names
        self.threshold, self.as_of = threshold, as_of
        self.counts = {"score": np.zeros(len(self.reference["score_bins"]["edges"]) + 1)}
        for column in self.numeric:
            self.counts[column] = np.zeros(len(self.reference["bins"][column]["edges"]) + 1)
        self.present = dict.fromkeys(self.names, 0)
        self.sums = {"score": 0.0, "line": 0.0, "households": 0, "lines": 0}

    def add(self, frame: pd.DataFrame, scores: np.ndarray) -> None:
        """Count the chunk's at-risk households (the caseload is not what the model learned)."""
        at_risk = (features.population(frame) == "at_risk").to_numpy()
        frame, scores = frame[at_risk], np.asarray(scores)[at_risk]
        x = frame.reindex(columns=self.numeric).astype(float)
        self._count("score", scores, self.reference["score_bins"])
        for column in self.numeric:
            self._count(column, x[column].dropna().to_numpy(), self.reference["bins"][column])
        for column in self.names:
            if column in frame.columns:
                self.present[column] += int(frame[column].notna().sum())
        self.sums["score"] += float(scores.sum())
        self.sums["households"] += len(scores)
        if "line" in frame.columns:
            lines = frame["line"].dropna().astype(float)
            self.sums["line"] += float(lines.sum())
            self.sums["lines"] += len(lines)

    def merge(self, other: DriftTally) -> None:
        """Add the counts of another part of the run (a range scored elsewhere)."""
        for name, counts in other.counts.items():
            self.counts[name] += counts
        for column, present in other.present.items():
            self.present[column] += present
        for key, value in other.sums.items():
            self.sums[key] += value

    def _count(self, name: str, values: np.ndarray, bins: dict[str, list[float]]) -> None:
        if len(values) and bins["edges"]:
            self.counts[name] += np.bincount(
                np.searchsorted(np.asarray(bins["edges"]), values, side="right"),
                minlength=len(bins["edges"]) + 1)

    def result(self) -> dict[str, Any]:
        """PSI of the score and of each number; ``reasons``, each a code with its figures:
        line_rise / line_fall (the mean line more than 5% away from the reference's grown
        as the county's line grew in training, 4% a year if unknown), income_shift (the
        income ratio's PSI above the threshold), and
        score_mean_shift (the mean score more than 25% and 0.005 away from the reference's:
        the calibration no longer holds). A feature with no value at all is flagged too."""
        found = {"score": _psi(self.counts["score"], self.reference["score_bins"]["shares"])}
        for column in self.numeric:
            found[column] = _psi(self.counts[column], self.reference["bins"][column]["shares"])
        missing = [c for c in self.names if self.present[c] == 0]
        shifted = sorted(k for k, v in found.items() if v is not None and v > self.threshold)
        reasons = self._reasons(found)
        return {"psi": found, "shifted": shifted, "missing": missing, "reasons": reasons,
                "flag": bool(shifted or missing or reasons)}

    def _reasons(self, psi: dict[str, float | None]) -> list[dict[str, Any]]:
        reasons: list[dict[str, Any]] = []
        reference_line = self.reference.get("line")
        if reference_line and self.sums["lines"]:
            line = self.sums["line"] / self.sums["lines"]
            years = 1.0
            if self.as_of is not None and self.reference.get("day"):
                years = max((self.as_of - date.fromisoformat(self.reference["day"])).days
                            / 365.25, 0.0)
            growth = self.reference.get("line_growth")
            expected = reference_line * (1 + (LINE_GROWTH if growth is None else growth)
                                         ) ** years
            change = line / expected - 1
            if abs(change) > LINE_TOLERANCE:
                reasons.append({"code": "line_rise" if change > 0 else "line_fall",
                                "line": round(line, 2), "reference_line": reference_line,
                                "expected": round(expected, 2),
                                "beyond_expected": round(change, 4)})
        if psi.get(INCOME_KEY) is not None and psi[INCOME_KEY] > self.threshold:
            reasons.append({"code": "income_shift", "psi": psi[INCOME_KEY]})
        if self.sums["households"]:
            mean = self.sums["score"] / self.sums["households"]
            reference_mean = self.reference["mean_score"]
            if (abs(mean - reference_mean) > SCORE_MEAN_ABSOLUTE
                    and abs(mean - reference_mean) > SCORE_MEAN_RELATIVE * reference_mean):
                reasons.append({"code": "score_mean_shift", "mean_score": round(mean, 4),
                                "reference_mean_score": round(reference_mean, 4)})
        return reasons


def _psi(counts: np.ndarray, shares: list[float]) -> float | None:
    if counts.sum() == 0 or not shares:
        return None
    actual = np.maximum(counts / counts.sum(), 1e-4)
    expected = np.maximum(np.asarray(shares), 1e-4)
    return round(float(np.sum((actual - expected) * np.log(actual / expected))), 4)


# --- the model card -----------------------------------------------------------------------------

def _auc(result: dict[str, Any]) -> str:
    low, high = result["auc_ci"]
    return f"{result['auc']:.3f} ({low:.3f}–{high:.3f})"


def model_card(metadata: dict[str, Any], entries: list[dict[str, Any]] | None = None,
               in_force: bool | None = None) -> str:
    """The model card in Markdown: the question, the data, the out-of-time metrics with their
    intervals beside the baselines (and the simulator's ceiling when known), calibration,
    where the warnings go, and the version history."""
    training, test, evaluation = metadata["training"], metadata["test"], metadata["evaluation"]
    state = {None: "", True: " — **in force**", False: " — kept, **not in force**"}[in_force]
    lines = [
        "# Return-to-poverty risk model — model card", "",
        f"- Version: {model_version(metadata)}{state}; trained {metadata['trained_at']}",
        f"- Predicts: {metadata['target']}",
        f"- Population: {metadata['population']}",
        f"- County average score (what the factors are measured from): "
        f"{metadata['average_score']:.4f}",
        f"- Training: {training['description']}: {training['rows']:,} household-days of "
        f"{training['households']:,} households on {len(training['days'])} days "
        f"({training['days'][0]} … {training['days'][-1]}), {training['positives']:,} fell",
        f"- Out-of-time test: the at-risk households on {test['day']} "
        f"({evaluation['rows']:,}, {evaluation['positives']:,} fell within 12 months)",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in metadata["versions"].items()),
    ]
    lines += [f"- **Warning:** {w}" for w in metadata.get("warnings", [])]
    lines += ["", "## Results, out of time (95% bootstrap intervals, "
              f"{evaluation['resamples']} resamples)", "",
              "| | ROC AUC | caught in top 10% |", "| --- | --- | --- |"]
    ceiling = metadata.get("ceiling") or {"auc": None, "unknown": "not computed"}
    if ceiling["auc"] is not None:
        caught = ceiling.get("top_10pct_caught")
        lines.append(f"| ceiling: an oracle knowing the simulator's hidden state | "
                     f"{ceiling['auc']:.3f} | {'—' if caught is None else f'{caught:.1%}'} |")
    else:
        lines.append(f"| ceiling: unknown — {ceiling['unknown']} | — | — |")
    for key, label in (("model", "gradient boosting, calibrated"),
                       ("scorecard", "ten-indicator scorecard (logistic)"),
                       ("rule", f"rule: income below {RULE_MULTIPLE} × the line")):
        r = evaluation[key]
        lines.append(f"| {label} | {_auc(r)} | {r['top_10pct_caught']:.1%} |")
    lines += ["", "| paired difference of AUC | estimate (95% interval) | interval excludes 0 |",
              "| --- | --- | --- |"]
    for key in ("rule", "scorecard"):
        d = evaluation[f"model_minus_{key}"]
        lines.append(f"| model − {key} | {_auc(d)} | {'yes' if d['excludes_zero'] else 'no'} |")
    better, why = beats_baselines(metadata)
    lines += ["", "Put in force only if its AUC beats both baselines out of time: "
              + ("it does." if better else f"it does not ({why})."), "",
              f"## Calibration on the test day (ECE {metadata['ece']:.4f}, 10 equal-count bins)",
              "", "| bin of score | mean predicted | observed share | households |",
              "| --- | --- | --- | --- |"]
    for row in metadata["calibration"]:
        lines.append(f"| {row['bin']} | {row['predicted']:.3f} | {row['observed']:.3f} | "
                     f"{int(row['households']):,} |")
    shares = metadata.get("warning_shares")
    if shares:
        lines += ["", f"## Where warnings would go on the test day (score ≥ "
                      f"{shares['threshold']:.2f})", "",
                  f"{shares['warned']:,} households would score at or above the threshold; "
                  f"{shares['at_risk']:.1%} of them are at risk (neither below the line nor "
                  "monitored). The nightly run raises new warnings for those only: the others "
                  "are the office's caseload.", "",
                  "| population | share of would-be warnings |", "| --- | --- |"]
        lines += [f"| {name} | {share:.1%} |" for name, share in shares["by_population"].items()]
    groups = metadata.get("importance")
    if groups:
        lines += ["", "## What moves the score (mean absolute effect on the test day)", ""]
        lines += [f"{i}. {g['label']} — {g['label_en']}: {g['effect']:.4f}"
                  for i, g in enumerate(groups, 1)]
    if entries:
        lines += ["", "## Versions", "", "| when | version | what | note |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {e['at']} | {e['version']} | {e['action']} | {e['note']} |"
                  for e in entries]
    lines += ["", "## Caveats", "",
              "- On simulated data (risk/simulator.py) the figures say the pipeline works and "
              "is honest, not how it will do in a real county: retrain on the county's own "
              "records before relying on it.",
              "- A published logistic model on national monitoring data reached ROC AUC 0.706; "
              "an AUC far above the ceiling would mean leakage until proven otherwise.",
              "- A household whose income is not known is scored at least as high as with the "
              "typical income of the lowest quarter of at-risk incomes.", ""]
    return "\n".join(lines)
