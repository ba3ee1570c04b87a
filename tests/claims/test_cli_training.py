"""Simulating a county and training its model from the command line: a file of its own, so
the suite's two processes take it and the rest of the command-line tests side by side."""

import json
import re

import sqlalchemy as sa

from claims.db import make_engine
from tests.claims.test_cli import fresh_url  # noqa: F401  (the fixture)
from tests.cli import fangpin


def test_simulate_and_train_from_the_command_line(fresh_url, tmp_path):  # noqa: F811
    assert fangpin(fresh_url, "db", "upgrade").returncode == 0
    simulated = fangpin(fresh_url, "simulate", "--households", "2000", "--seed", "3")
    assert simulated.returncode == 0, simulated.stderr
    assert "simulated 2,000 households" in simulated.stdout
    # the simulator card's ceiling on 1 January 2025: the oracle's AUC and top-10% capture
    auc, caught = re.search(r"re-simulations \| (0\.\d{3}) \| ([\d.]+%) \|",
                            simulated.stdout).groups()
    model_dir = tmp_path / "model"
    trained = fangpin(fresh_url, "train", "--test-year", "2025", "--model-dir", str(model_dir))
    # 0: in force; 3: kept but not in force (it did not beat both baselines), said why
    assert trained.returncode in (0, 3), trained.stderr
    assert "scorecard: AUC" in trained.stdout and "rule: AUC" in trained.stdout
    assert trained.returncode == 0 or "NOT in force" in trained.stderr
    # the county is the simulator's: its ceiling stands beside the model's AUC, the card's
    # own (train re-simulates the panel from the registry's first versions)
    found = re.search(r"ceiling \(an oracle knowing the simulator's hidden state\) AUC "
                      r"(0\.\d{3}), top 10% catch ([\d.]+%)", trained.stdout.splitlines()[1])
    assert found and found.groups() == (auc, caught), trained.stdout
    [version] = (model_dir / "versions").iterdir()
    assert (version / "model.skops").is_file()
    card = (version / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Results, out of time" in card
    assert f"| ceiling: an oracle knowing the simulator's hidden state | {auc} | " in card
    listed = fangpin(fresh_url, "model", "list", "--model-dir", str(model_dir))
    assert listed.returncode == 0 and version.name in listed.stdout
    assert f"(ceiling {auc})" in listed.stdout
    wrong = fangpin(fresh_url, "train", "--test-year", "2025", "--train-days", "2024-07-01",
                    "--model-dir", str(model_dir))
    assert wrong.returncode == 1 and "less than a year before" in wrong.stderr
    expected = [("train", version.name, trained.returncode == 0)]
    if trained.returncode == 3:  # kept, not in force: the office may put it in force by hand
        promoted = fangpin(fresh_url, "model", "promote", version.name, "--model-dir",
                           str(model_dir))
        assert promoted.returncode == 0, promoted.stderr
        expected.append(("promote", version.name, None))
    # which model scores the county is on the audit trail (it was in the folder's history only)
    with make_engine(fresh_url).connect() as connection:
        found = connection.execute(sa.text(
            "SELECT action, entity_id, after FROM audit_entry WHERE entity = 'risk_model' "
            "ORDER BY id")).all()
    assert [(a, v, (json.loads(after) if isinstance(after, str) else after).get("in_force"))
            for a, v, after in found] == expected
