"""Faithful explanations: exact tree SHAP grouped into the factors the office reads, adding up
to the score minus the county average, naming what drives the risk, never counting one piece
of information twice."""

import numpy as np
import pandas as pd
import pytest

from risk import explain, features, training
from tests.risk import synthetic


def _fit(frame, fell, seed=0):
    test, test_fell = frame.iloc[:1500], fell.iloc[:1500]
    return training.fit_and_evaluate(frame, fell, test, test_fell, resamples=20, seed=seed,
                                     test_day=synthetic.TEST_DAY,
                                     train_days=synthetic.TRAIN_DAYS)


def test_the_group_effects_add_up_to_the_score_minus_the_county_average():
    trained = synthetic.fitted()
    test, _ = synthetic.frame(3000, 100)  # with 5% of incomes missing
    effects = explain.group_effects(trained, test)
    gap = trained.probability(test) - explain.average_score(trained)
    np.testing.assert_allclose(effects.sum(axis=1).to_numpy(), gap, atol=1e-6)
    assert set(effects.columns) <= set(features.GROUPS)
    # every feature of the model is attributed: the groups cover all of them
    covered = {features.GROUP_OF[name] for name in trained.names}
    assert covered <= set(effects.columns)
    # the shown factors are the largest groups, rounded, in the household's direction
    [shown] = explain.factors(trained, test.iloc[[int(np.argmax(np.abs(gap)))]])
    row = effects.iloc[int(np.argmax(np.abs(gap)))]
    assert shown[0]["group"] == row.abs().idxmax()
    assert shown[0]["effect"] == pytest.approx(row.abs().max() * np.sign(row[row.abs().idxmax()]),
                                               abs=1e-4)


def test_the_feature_that_drives_the_risk_is_named_with_its_value():
    frame, _ = synthetic.frame(4000, 11)
    rng = np.random.default_rng(11)
    ill = rng.random(4000) < 0.2
    frame["serious_illness"] = ill.astype(float)
    fell = pd.Series((rng.random(4000) < np.where(ill, 0.4, 0.03)).astype(int),
                     index=frame.index, name="fell")
    trained = _fit(frame, fell)
    sick = frame[ill].iloc[:50]
    for found in explain.factors(trained, sick):
        top = found[0]
        assert (top["group"], top["direction"]) == ("illness", "raises")
        assert top["features"][0]["feature"] == "serious_illness"
        assert top["features"][0]["value"] == 1.0
        assert (top["label"], top["label_en"]) == features.GROUPS["illness"]
    well = frame[~ill].iloc[:50]
    for found in explain.factors(trained, well):
        illness = [f for f in found if f["group"] == "illness"]
        assert all(f["direction"] == "lowers" for f in illness)


def test_correlated_copies_of_the_income_share_its_effect_instead_of_repeating_it():
    """The same information three times (the income ratio, the income and the lowest ratio
    moving together) moves the score as much as once: the income group's effects agree with
    those of a model where the copies are noise."""
    frame, fell = synthetic.frame(5000, 21, missing_share=0.0)
    rng = np.random.default_rng(21)
    noise = frame.copy()
    noise["income_last"] = rng.permutation(noise["income_last"].to_numpy())
    noise["lowest_ratio"] = rng.permutation(noise["lowest_ratio"].to_numpy())
    copies = frame.copy()
    copies["income_last"] = copies["income_ratio"] * copies["line"]
    copies["lowest_ratio"] = copies["income_ratio"]
    once = explain.group_effects(_fit(noise, fell), noise.iloc[:1000])["income"]
    thrice = explain.group_effects(_fit(copies, fell), copies.iloc[:1000])["income"]
    assert np.corrcoef(once, thrice)[0, 1] > 0.9
    assert thrice.abs().mean() == pytest.approx(once.abs().mean(), rel=0.2)


def test_the_pages_show_each_factor_with_its_features_in_the_readers_language():
    from claims.web.i18n import environment

    trained = synthetic.fitted()
    test, _ = synthetic.frame(300, 100)
    riskiest = test.loc[[trained.probability(test).argmax()]]
    [found] = explain.factors(trained, riskiest)
    macro = environment("zh").get_template("_factors.html").module.factors
    page = str(macro(found))
    top = found[0]
    assert top["label"] in page and f"{top['effect']:+.3f}" in page and "推高风险" in page
    assert top["features"][0]["label"] in page
    english = str(environment("en").get_template("_factors.html").module.factors(found))
    assert top["label_en"] in english and "raises the risk" in english


def test_a_factors_values_read_as_the_office_reads_them():
    """A code by its Chinese label, a count whole, money with separators, never a raw float."""
    from claims.web.i18n import environment

    macro = environment("zh").get_template("_factors.html").module.factors
    page = str(macro([{"label": "家庭结构", "label_en": "household", "effect": 0.1234,
                       "direction": "raises", "features": [
                           {"label": "户类型", "label_en": "type", "value": "lifted_out"},
                           {"label": "家庭人口", "label_en": "members", "value": 3.0},
                           {"label": "上年人均纯收入", "label_en": "income",
                            "value": 7639.3597},
                           {"label": "收入报告", "label_en": "report", "value": None}]}]))
    assert "脱贫户" in page and "lifted_out" not in page
    assert "家庭人口 3;" in page and "7,639.36" in page and "7639.3597" not in page
    # a yes or a no, not 1 or 0 (a hostile tester read "享受低保 1", "易地搬迁户 0")
    flags = str(macro([{"label": "帮扶", "label_en": "support", "effect": 0.05,
                        "direction": "raises", "features": [
                            {"feature": "dibao", "label": "享受低保", "label_en": "dibao",
                             "value": 1.0},
                            {"feature": "relocated", "label": "易地搬迁户",
                             "label_en": "relocated", "value": 0.0}]}]))
    assert "享受低保 是" in flags and "易地搬迁户 否" in flags, flags
