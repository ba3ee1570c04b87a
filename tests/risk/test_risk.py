"""The saved artifact and drift: a model loads only as saved and with trusted types; a run's
drift report names a rise of the line beyond its expected growth, an income shift that breaks
calibration, and a feature with no value at all."""

import copy
from datetime import date

import numpy as np
import pandas as pd
import pytest

from risk import model
from tests.risk import synthetic


@pytest.fixture(scope="module")
def trained():
    return synthetic.fitted()


@pytest.fixture(scope="module")
def night():
    """A night like the test day, a year on (the line grown 4%, incomes with it)."""
    frame, _ = synthetic.frame(3000, 100)
    return frame.assign(line=frame["line"] * 1.04)


def codes(report):
    return [r["code"] for r in report["reasons"]]


def test_the_artifact_loads_only_as_saved_and_with_trusted_types(trained, tmp_path,
                                                                 monkeypatch):
    model.save(trained, tmp_path)
    frame, _ = synthetic.frame(500, 7)
    loaded = model.load(tmp_path)
    np.testing.assert_array_equal(loaded.probability(frame), trained.probability(frame))
    monkeypatch.setattr(model, "TRUSTED_TYPES", model.TRUSTED_TYPES[:1])
    with pytest.raises(model.ModelError, match="does not trust"):
        model.load(tmp_path)
    monkeypatch.undo()
    with (tmp_path / "model.skops").open("ab") as file:
        file.write(b"\0")
    with pytest.raises(model.ModelError, match="checksum"):
        model.load(tmp_path)
    with pytest.raises(model.ModelError, match="no model here"):
        model.load(tmp_path / "elsewhere")


def test_a_year_of_ordinary_growth_is_no_drift(trained, night):
    report = model.drift(trained, night, trained.probability(night))
    assert codes(report) == [] and not report["flag"]


def test_a_ten_percent_rise_of_the_line_is_flagged(trained, night):
    frame = night.assign(line=night["line"] / 1.04 * 1.10,
                         income_ratio=night["income_ratio"] / 1.10,
                         lowest_ratio=night["lowest_ratio"] / 1.10)
    at_risk = frame[frame["income_ratio"] >= 1]  # those the new line pushed under are caseload
    report = model.drift(trained, at_risk, trained.probability(at_risk))
    [line] = [r for r in report["reasons"] if r["code"] == "line_rise"]
    assert line["beyond_expected"] == pytest.approx(1.10 / 1.04 - 1, abs=1e-3)
    assert report["flag"]
    # the day of the run counts the expected growth: two years on, a 10% rise is ordinary
    two_years = model.drift(trained, at_risk, trained.probability(at_risk),
                            as_of=synthetic.TEST_DAY.replace(year=2027))
    assert "line_rise" not in codes(two_years)


def test_an_income_shift_that_breaks_calibration_is_flagged(trained, night):
    poorer, _ = synthetic.frame(3000, 100, income_shift=0.4)
    poorer["line"] *= 1.04
    report = model.drift(trained, poorer, trained.probability(poorer))
    assert {"income_shift", "score_mean_shift"} <= set(codes(report))
    [mean] = [r for r in report["reasons"] if r["code"] == "score_mean_shift"]
    assert mean["mean_score"] > mean["reference_mean_score"] * 1.25


def test_the_caseload_is_not_counted_as_drift(trained, night):
    below = night.assign(income_ratio=night["income_ratio"] * 0.3)  # all below the line now
    mixed = pd.concat([night, below.set_axis(below.index + 10_000)])
    report = model.drift(trained, mixed, trained.probability(mixed))
    assert codes(report) == []


def test_a_run_adds_up_its_chunks_and_flags_a_missing_feature(trained, night):
    whole = model.drift(trained, night, trained.probability(night))
    tally = model.DriftTally(trained)
    for part in (night.iloc[:1000], night.iloc[1000:]):
        chunk = model.DriftTally(trained)
        chunk.add(part, trained.probability(part))
        tally.merge(chunk)
    assert tally.result() == whole
    gone = night.drop(columns=["payouts_365d"])
    report = model.drift(trained, gone, trained.probability(gone))
    assert report["missing"] == ["payouts_365d"] and report["flag"]


def test_training_refuses_a_feature_with_no_value_at_all(trained):
    frame, _ = synthetic.frame(50, 3)
    frame["payouts_365d"] = np.nan
    with pytest.raises(model.ModelError, match="payouts_365d"):
        model.check_training_frame(frame, trained.names)
    # known in a handful of rows: a fold of the calibration's cross-validation may hold
    # none, and the booster's binning failed with a traceback
    frame["payouts_365d"] = np.where(np.arange(len(frame)) < 5, 1.0, np.nan)
    with pytest.raises(model.ModelError, match=r"payouts_365d \(5 rows\)"):
        model.check_training_frame(frame, trained.names)


def test_the_line_is_expected_to_grow_as_the_countys_grew_in_training(trained, night):
    """A data team's county whose line had not changed for years: a constant 4% a year
    flagged its unchanged line as a fall and missed its 10% rise. The growth of the training
    days' lines is what drift expects."""
    days = pd.MultiIndex.from_product([[1, 2], [date(2021, 1, 1), date(2024, 1, 1)]])
    flat = pd.DataFrame({"line": [8700.0] * 4}, index=days)
    assert model.line_growth(flat) == 0.0
    rising = pd.DataFrame({"line": [8000.0, 8000.0 * 1.03 ** 3] * 2}, index=days)
    assert model.line_growth(rising) == pytest.approx(0.03, abs=1e-3)
    assert model.line_growth(flat.xs(date(2021, 1, 1), level=1, drop_level=False)) is None
    county = copy.deepcopy(trained)
    county.metadata["reference"]["line_growth"] = 0.0
    two_years = synthetic.TEST_DAY.replace(year=synthetic.TEST_DAY.year + 2)
    line = county.metadata["reference"]["line"]
    same = night.assign(line=line)
    assert "line_fall" not in codes(model.drift(county, same, county.probability(same),
                                                as_of=two_years))
    risen = night.assign(line=line * 1.10)
    assert "line_rise" in codes(model.drift(county, risen, county.probability(risen),
                                            as_of=two_years))
