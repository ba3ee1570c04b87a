"""Why a household scores what it scores (风险因素解释): exact tree SHAP attributions of the
fitted gradient boosting over all its columns (``shap.TreeExplainer``), summed into the
factors the office reads (``features.GROUPS``: 收入, 疾病, 残疾, 灾害 …), in Chinese and English.

How the effects add up. The booster's output is a log-odds ``f(x)``; TreeExplainer splits
``f(x) − E`` exactly among the columns, ``E`` being the booster's expected log-odds over its
training households. The score is the isotonic calibration ``c(f(x))``, a non-decreasing map.
The **county average score** is ``c(E)``: the calibrated score of the average log-odds (what
a household exactly as risky as the county's average scores). Each household's log-odds
attributions are multiplied by one factor, ``(c(f(x)) − c(E)) / (f(x) − E)`` — never negative,
as ``c`` never decreases — so its group effects add up exactly to its score minus the county
average score, and each keeps its direction. Correlated features share one attribution (SHAP
splits it, it does not repeat it), and a group's effect is the sum of its features'.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

from risk import features
from risk.model import TrainedModel

MISSING_GROUP = "missing"  # where the indicator of a missing value is counted
_explainers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _parts(model: TrainedModel) -> tuple[Any, Any]:
    """The booster and its isotonic calibrator (CalibratedClassifierCV with ensemble=False
    holds one booster refitted on all the data)."""
    [calibrated] = model.pipeline[-1].calibrated_classifiers_
    return calibrated.estimator, calibrated.calibrators[0]


def _explainer(model: TrainedModel):
    import shap

    booster, _ = _parts(model)
    if booster not in _explainers:
        _explainers[booster] = shap.TreeExplainer(
            booster, feature_perturbation="tree_path_dependent")
    return _explainers[booster]


def columns(model: TrainedModel) -> list[tuple[str, str]]:
    """(feature, group) of each column of the model's matrix: numbers, the indicators of a
    missing number (group ``missing``), the one-hot columns of each category."""
    transformer = model.pipeline.named_steps["columns"]
    out: list[tuple[str, str]] = [(n, features.GROUP_OF[n]) for n in model.numeric]
    indicator = transformer.named_transformers_["missing"]
    missing_group = MISSING_GROUP if MISSING_GROUP in features.GROUPS else None
    out += [(model.numeric[i], missing_group or features.GROUP_OF[model.numeric[i]])
            for i in indicator.features_]
    encoder = transformer.named_transformers_["codes"]
    for name, categories in zip(model.categorical, encoder.categories_, strict=True):
        out += [(name, features.GROUP_OF[name])] * len(categories)
    return out


def average_score(model: TrainedModel) -> float:
    """The county average score: the calibrated score of the booster's expected log-odds."""
    _, calibrator = _parts(model)
    return float(calibrator.predict(np.atleast_1d(_expected(model)))[0])


def _expected(model: TrainedModel) -> float:
    return float(np.ravel(_explainer(model).expected_value)[0])


def attributions(model: TrainedModel, matrix: np.ndarray) -> np.ndarray:
    """Each column's share of each household's score minus the county average score (rows:
    households; they add up exactly to that difference)."""
    booster, calibrator = _parts(model)
    phi = np.asarray(_explainer(model).shap_values(matrix, check_additivity=True))
    phi = phi.reshape(len(matrix), -1)
    expected = _expected(model)
    raw = booster.decision_function(matrix)
    score, average = calibrator.predict(raw), calibrator.predict(np.atleast_1d(expected))[0]
    step = raw - expected
    flat = np.abs(step) < 1e-12
    scale = np.divide(score - average, step, out=np.zeros_like(raw), where=~flat)
    return phi * scale[:, None]


def group_effects(model: TrainedModel, frame: pd.DataFrame,
                  matrix: np.ndarray | None = None) -> pd.DataFrame:
    """Each household's effect of each group (columns: group codes), adding up to its score
    minus :func:`average_score`."""
    matrix = model.matrix(frame) if matrix is None else matrix
    groups = [g for _, g in columns(model)]
    effects = pd.DataFrame(attributions(model, matrix), index=frame.index)
    return effects.T.groupby(np.asarray(groups)).sum().T


def factors(model: TrainedModel, frame: pd.DataFrame, top: int = 3,
            matrix: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
    """For each household, the ``top`` groups that moved its score most from the county
    average, largest first: group code, zh and en label, effect (in score points; all groups
    add up to score − average), direction ('raises'/'lowers'), and the group's features that
    moved it most, with their values (pure). ``matrix`` is the frame's
    :meth:`TrainedModel.matrix` when the caller has it."""
    if len(frame) == 0:
        return []
    matrix = model.matrix(frame) if matrix is None else matrix
    owners = columns(model)
    pairs = list(dict.fromkeys((g, f) for f, g in owners))  # (group, feature), in order
    groups = list(dict.fromkeys(g for g, _ in pairs))
    to_pair = np.zeros((len(owners), len(pairs)))
    to_pair[np.arange(len(owners)), [pairs.index((g, f)) for f, g in owners]] = 1
    by_feature = attributions(model, matrix) @ to_pair  # households × (group, feature)
    to_group = np.zeros((len(pairs), len(groups)))
    to_group[np.arange(len(pairs)), [groups.index(g) for g, _ in pairs]] = 1
    by_group = by_feature @ to_group
    members = {g: np.array([j for j, (h, _) in enumerate(pairs) if h == g]) for g in groups}
    values = frame.reindex(columns=model.names)
    out = []
    for i in range(len(frame)):
        household = []
        for k in np.argsort(-np.abs(by_group[i]), kind="stable")[:top]:
            effect = float(by_group[i, k])
            if abs(effect) < 5e-5:
                continue
            inside = members[groups[k]]
            shares = by_feature[i, inside] * np.sign(effect)  # the features that moved it so
            named = [pairs[j][1] for j in inside[np.argsort(-shares, kind="stable")[:3]]
                     if by_feature[i, j] * effect > 0]
            zh, en = features.GROUPS[groups[k]]
            household.append({
                "group": groups[k], "label": zh, "label_en": en, "effect": round(effect, 4),
                "direction": "raises" if effect > 0 else "lowers",
                "features": [{"feature": name, "label": features.LABELS[name][0],
                              "label_en": features.LABELS[name][1],
                              "value": _plain(values.iat[i, model.names.index(name)])}
                             for name in named]})
        out.append(household)
    return out


def importance(model: TrainedModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each group's mean absolute effect over the frame's households, largest first."""
    mean = group_effects(model, frame).abs().mean().sort_values(ascending=False)
    return [{"group": g, "label": features.GROUPS[g][0], "label_en": features.GROUPS[g][1],
             "effect": round(float(v), 5)} for g, v in mean.items()]


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value
