"""Training a county can trust: out-of-time figures with intervals, refusals and warnings,
a missing income that never lowers the score, versions put in force only when they beat both
baselines, and the ``fangpin model`` commands."""

import shutil
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sqlmodel import select

from claims import cli, nightly
from claims.models import AuditEntry
from policies import registry
from policies.models import IncomeRecordCreate
from risk import features, model, training
from tests.factories import county_with_villages, household_with_members
from tests.risk import synthetic


@pytest.fixture(scope="module")
def trained():
    return synthetic.fitted()


def test_the_evaluation_is_out_of_time_with_intervals_beside_both_baselines(trained):
    evaluation = trained.metadata["evaluation"]
    test, fell = synthetic.frame(3000, 100)
    for name in ("model", "scorecard", "rule"):
        low, high = evaluation[name]["auc_ci"]
        assert low < evaluation[name]["auc"] < high
    # a second opinion on the model's figures, from its own scores
    score = trained.probability(test)
    assert evaluation["model"]["auc"] == pytest.approx(roc_auc_score(fell, score))
    top = np.argsort(-score, kind="stable")[:300]  # ties in the order of the households
    assert evaluation["model"]["top_10pct_caught"] == pytest.approx(fell.iloc[top].sum()
                                                                    / fell.sum())
    # the generated county's risk is non-linear in income and spending: the model beats both
    # baselines with paired intervals that exclude 0
    for name in ("rule", "scorecard"):
        difference = evaluation[f"model_minus_{name}"]
        assert difference["auc"] == pytest.approx(evaluation["model"]["auc"]
                                                  - evaluation[name]["auc"])
        assert difference["auc_ci"][0] > 0 and difference["excludes_zero"]
    assert trained.metadata["ece"] <= 0.03
    shares = trained.metadata["warning_shares"]
    assert sum(shares["by_population"].values()) == pytest.approx(1)
    assert shares["by_population"]["below_line"] > 0  # the caseload scores high too


def test_the_card_shows_the_question_the_figures_and_the_verdict(trained, tmp_path):
    model.save(trained, tmp_path)
    card = (tmp_path / "MODEL_CARD.md").read_text(encoding="utf-8")
    for text in ("falls within 12 months", "not monitored", "model − rule", "model − scorecard",
                 "ECE", "caught in top 10%", "Where warnings would go", "it does."):
        assert text in card, text
    low, high = trained.metadata["evaluation"]["model"]["auc_ci"]
    assert f"({low:.3f}–{high:.3f})" in card
    with_ceiling = dict(trained.metadata, ceiling={"auc": 0.91, "top_10pct_caught": 0.5})
    assert "| ceiling: an oracle knowing the simulator's hidden state | 0.910 | 50.0% |" in \
        model.model_card(with_ceiling)
    real = dict(trained.metadata, ceiling={"auc": None, "unknown": "a county's own records"})
    assert "| ceiling: unknown — a county's own records | — | — |" in model.model_card(real)


def test_too_few_fallers_or_households_are_refused_naming_what_is_missing():
    train, fell = synthetic.frame(3000, 1)
    test, test_fell = synthetic.frame(500, 2)
    few = test_fell * 0
    few.iloc[:10] = 1
    with pytest.raises(model.ModelError, match="10 households that fell on the test day "
                                               r"\(at least 30 needed\)"):
        training.fit_and_evaluate(train, fell, test, few, test_day=synthetic.TEST_DAY,
                                  train_days=synthetic.TRAIN_DAYS)
    small, small_fell = synthetic.frame(300, 3)
    with pytest.raises(model.ModelError, match="300 households in training"):
        training.fit_and_evaluate(small, small_fell, test, test_fell,
                                  test_day=synthetic.TEST_DAY, train_days=synthetic.TRAIN_DAYS)


def test_data_near_the_edge_trains_with_a_warning_on_the_card():
    days = [synthetic.frame(1500, seed) for seed in (4, 5)]  # 1,500 households on two days
    train = pd.concat([frame for frame, _ in days], keys=synthetic.TRAIN_DAYS[:2]).swaplevel()
    fell = pd.concat([fell for _, fell in days], keys=synthetic.TRAIN_DAYS[:2]).swaplevel()
    test, test_fell = synthetic.frame(1500, 6)
    trained = training.fit_and_evaluate(train, fell, test, test_fell, resamples=50,
                                        test_day=synthetic.TEST_DAY,
                                        train_days=synthetic.TRAIN_DAYS)
    [warning] = [w for w in trained.metadata["warnings"] if "households in training" in w]
    assert "1,500" in warning and "twice the minimum" in warning
    assert f"**Warning:** {warning}" in model.model_card({**trained.metadata, "sha256": "0" * 8})


def test_a_missing_income_never_lowers_the_score(trained):
    """Every household without an income known scores at least what the same household
    scores with the typical figures (medians) of the at-risk households in the lowest
    quarter of incomes, computed here from the frame the model learned from."""
    train, _ = synthetic.frame(6000, 1)
    known = train[train["income_ratio"].notna()]
    low = known[known["income_ratio"] <= known["income_ratio"].quantile(0.25)]
    test, _ = synthetic.frame(3000, 100)
    unknown = test[test["income_ratio"].isna()]
    assert len(unknown) > 50
    filled = unknown.copy()
    for column in trained.numeric:
        if column == "income_missing":
            filled[column] = 0.0
        elif low[column].notna().any():
            filled[column] = filled[column].fillna(low[column].median())
    assert filled["income_ratio"].notna().all()
    as_low = trained.pipeline.predict_proba(model.ready(filled, trained.numeric,
                                                        trained.categorical))[:, 1]
    assert (trained.probability(unknown) >= as_low - 1e-12).all()
    # and the households the model would have scored lower are the ones lifted
    as_is = trained.pipeline.predict_proba(model.ready(unknown, trained.numeric,
                                                       trained.categorical))[:, 1]
    np.testing.assert_allclose(trained.probability(unknown), np.maximum(as_is, as_low))


def test_a_missing_income_never_lowers_the_score_below_the_households_own_last_one(trained):
    """A household whose reports stopped scores at least what it scores with its own latest
    income known set against today's line (the other figures as the lowest quarter's): a
    data team's household at 1.05 × the line had dropped from 0.55 to 0.39 when its reports
    stopped, scored with the typical low income instead of its own."""
    test, _ = synthetic.frame(3000, 100)
    unknown = test[test["income_ratio"].isna()].copy()
    own_ratio = np.linspace(1.0, 2.0, len(unknown))  # some close to the line, some far
    unknown[features.STALE] = own_ratio * unknown["line"]
    without = trained.probability(unknown.drop(columns=features.STALE))
    own = unknown.copy()
    for column, value in trained.metadata["low_income"].items():
        own[column] = value if column == "income_missing" else own[column].fillna(value)
    own["income_last"], own["income_ratio"] = unknown[features.STALE], own_ratio
    as_own = trained.pipeline.predict_proba(model.ready(own, trained.numeric,
                                                        trained.categorical))[:, 1]
    scored = trained.probability(unknown)
    np.testing.assert_allclose(scored, np.maximum(without, as_own))
    assert (scored > without + 0.01).any()  # some score higher with their own income
    # one that never reported has nothing of its own: the floor is the lowest quarter's
    unknown[features.STALE] = np.nan
    np.testing.assert_allclose(trained.probability(unknown), without)


def test_a_model_is_put_in_force_only_when_it_beats_both_baselines(trained, tmp_path):
    good, _, _ = model.add_version(trained, tmp_path)
    assert model.in_force(tmp_path) == good
    assert nightly.saved_model(tmp_path).metadata["sha256"] == trained.metadata["sha256"]
    chance = synthetic.fitted(shuffled=True)
    bad, in_force, why = model.add_version(chance, tmp_path)
    assert not in_force and "does not beat the rule" in why
    assert model.in_force(tmp_path) == good  # the night still scores with the good one
    listed = {v["version"]: v["in_force"] for v in model.list_versions(tmp_path)}
    assert listed == {good: True, bad: False}

    model.promote(tmp_path, bad)
    assert nightly.saved_model(tmp_path).metadata["sha256"] == chance.metadata["sha256"]
    assert model.rollback(tmp_path) == good
    assert nightly.saved_model(tmp_path).metadata["sha256"] == trained.metadata["sha256"]
    card = (tmp_path / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "in force" in card and "rolled back to" in card and bad in card
    bad_card = (tmp_path / "versions" / bad / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "not in force" in bad_card and "it does not" in bad_card
    with pytest.raises(model.ModelError, match="no version 'nope' here"):
        model.promote(tmp_path, "nope")


@pytest.fixture
def trail(session, monkeypatch):
    """The database the model commands write the audit trail to (a promotion or a rollback
    is refused without one)."""
    monkeypatch.setattr(cli, "get_engine", lambda: session.get_bind())


def test_versions_kept_and_none_in_force_say_to_promote_one(tmp_path):
    """A data team's: the night said "train one with 'fangpin train'" while a version it had
    trained, and not put in force, was kept."""
    kept, in_force, _ = model.add_version(synthetic.fitted(shuffled=True), tmp_path)
    assert not in_force
    with pytest.raises(model.ModelError, match=f"versions are kept \\({kept}\\).*model promote"):
        nightly.saved_model(tmp_path)


def test_each_rollback_steps_one_version_further_back(trained, tmp_path, capsys, session,
                                                     trail):
    """Rollbacks walk back through the versions put in force, each step on the history;
    rolling back past the first version is refused, and a new promotion starts from where
    the rollbacks left off."""
    first, _, _ = model.add_version(trained, tmp_path)
    for later in ("v2", "v3"):  # copies of the first, kept as versions of their own
        shutil.copytree(tmp_path / "versions" / first, tmp_path / "versions" / later)
        model.promote(tmp_path, later)
    assert model.rollback(tmp_path) == "v2"
    assert model.rollback(tmp_path) == first  # not v3 again
    assert model.in_force(tmp_path) == first
    with pytest.raises(model.ModelError, match=f"no version was in force before version "
                                               f"{first}; nothing to roll back to"):
        model.rollback(tmp_path)
    assert model.in_force(tmp_path) == first
    model.promote(tmp_path, "v3")
    assert cli.main(["model", "list", "--model-dir", str(tmp_path)]) == 0
    listed = {line[2:].split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "(in force)" in listed["v3"] and "(a rollback puts it back)" in listed[first]
    assert cli.main(["model", "rollback", "--model-dir", str(tmp_path)]) == 0
    assert f"version {first} is back in force (v3 rolled back)" in capsys.readouterr().out
    # on the audit trail, which model scores the county (the office's decision)
    [entry] = session.exec(select(AuditEntry).where(AuditEntry.entity == "risk_model")).all()
    assert (entry.entity_id, entry.action, entry.after) == (first, "rollback",
                                                             {"replaced": "v3"})
    steps = [(e["action"], e["version"], e["note"]) for e in model.history(tmp_path)]
    assert steps[-4:] == [("rolled back to", "v2", "from v3"),
                          ("rolled back to", first, "from v2"),
                          ("promoted", "v3", "by hand"),
                          ("rolled back to", first, "from v3")]


def test_a_damaged_model_directory_is_refused_in_words(trained, tmp_path, capsys,
                                                       trail):
    """Found by a hostile tester: a version outside the directory was put in force by its
    path, a version whose file had a byte changed was put in force (and the night failed on
    it), and a damaged metadata file, history or version folder was a traceback from every
    model command."""
    first, _, _ = model.add_version(trained, tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-copy"
    shutil.copytree(tmp_path / "versions" / first, outside / first)
    for named in (f"../../{outside.name}/{first}", str(outside / first), ".", ".."):
        with pytest.raises(model.ModelError, match="no version .* here"):
            model.promote(tmp_path, named)
    shutil.copytree(tmp_path / "versions" / first, tmp_path / "versions" / "flipped")
    flipped = tmp_path / "versions" / "flipped" / "model.skops"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 1
    flipped.write_bytes(bytes(data))
    with pytest.raises(model.ModelError, match="does not match its metadata's checksum"):
        model.promote(tmp_path, "flipped")
    assert model.in_force(tmp_path) == first
    shutil.rmtree(tmp_path / "versions" / "flipped")

    (tmp_path / "versions" / "empty").mkdir()
    (tmp_path / model.HISTORY).write_text("{bad", encoding="utf-8")
    for command in (["model", "list"], ["model", "rollback"]):
        assert cli.main([*command, "--model-dir", str(tmp_path)]) == 1, command
        said = capsys.readouterr().err
        assert "is damaged" in said or "is missing" in said, (command, said)
    (tmp_path / model.HISTORY).unlink()
    assert cli.main(["model", "list", "--model-dir", str(tmp_path)]) == 1
    assert "empty/metadata.json is missing" in capsys.readouterr().err
    (tmp_path / "versions" / "empty").rmdir()
    (tmp_path / "versions" / first / "metadata.json").write_text("{bad", encoding="utf-8")
    with pytest.raises(model.ModelError, match="metadata.json is damaged"):
        model.load_in_force(tmp_path)


def test_a_model_saved_before_versions_is_still_read(trained, tmp_path):
    model.save(trained, tmp_path)  # flat: model.skops beside metadata.json
    assert nightly.saved_model(tmp_path).metadata["sha256"] == trained.metadata["sha256"]
    with pytest.raises(model.ModelError, match="nothing to roll back to"):
        model.rollback(tmp_path)


def test_the_model_commands(trained, tmp_path, capsys, trail):
    first, _, _ = model.add_version(trained, tmp_path)
    assert cli.main(["model", "list", "--model-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert first in out and "in force" in out
    assert cli.main(["model", "rollback", "--model-dir", str(tmp_path)]) == 1
    assert "nothing to roll back to" in capsys.readouterr().err


def test_the_default_training_days_end_a_year_before_the_test_day():
    days = training.default_train_days(date(2025, 1, 1))
    assert days[0] == date(2021, 1, 1) and days[-1] == date(2024, 1, 1)
    assert len(days) == 13 and all(d.day == 1 and d.month in (1, 4, 7, 10) for d in days)


def test_training_refuses_less_than_four_years_of_income_reports(session):
    ids = county_with_villages(session, villages=1)
    home, _ = household_with_members(session, ids["village0"], members=1)
    for year in (2022, 2023, 2024):
        registry.create_income_record(session, IncomeRecordCreate(
            household_id=home.id, source="survey", period_start=date(year, 1, 1),
            period_end=date(year, 12, 31), reference=f"s-{year}", wages=Decimal("20000")))
    session.flush()
    with pytest.raises(model.ModelError, match=r"income reports of 3 year\(s\) before "
                                               r"2025-01-01 \(2022–2024\); training needs at "
                                               "least 4"):
        training.train(session, test_day=date(2025, 1, 1))
    with pytest.raises(model.ModelError, match="less than a year before the test day"):
        training.train(session, test_day=date(2025, 1, 1), train_days=[date(2024, 4, 1)])

