"""Verify rows from experiment folders: folders are found, rows carry the verdicts' statuses."""

from __future__ import annotations

import pytest

from grokcheck.errors import InputError
from grokcheck.experiments import checks
from grokcheck.experiments.predictions import verdict
from grokcheck.experiments.run import ExperimentConfig, run_experiment
from tests.experiments.fakes import fake_runner


def test_a_verify_row_keeps_its_verdict_s_status():
    c = checks.titled(verdict("P4", "not_run", "0/0", "Figure 5", "claim"))
    assert c.status == "not_run" and not c.holds and c.source == "Figure 5"
    assert checks.titled(verdict("P4", "pass", "1/2")).holds
    assert c.name == "P4: claim" and c.claim == "claim"


def test_folders_found_at_any_depth_and_pooled(tmp_path):
    run_experiment(
        ExperimentConfig("semigrok", out=tmp_path / "a" / "semi", figures=False), runner=fake_runner
    )
    run_experiment(ExperimentConfig("ungrok", out=tmp_path / "ung", figures=False), runner=fake_runner)
    assert {p.name for p in checks.folders(tmp_path)} == {"semi", "ung"}
    assert checks.folders(tmp_path / "ung") == [tmp_path / "ung"]
    rows = {c.name.split(":")[0]: c.status for c in checks.from_dir(tmp_path)}
    assert rows["P4 (scratch)"] == "pass" and rows["P3 (D_crit)"] == "pass" and rows["P1"] == "not_run"


def test_tasks_get_their_own_rows(tmp_path):
    from grokcheck.experiments.grid import GridOverrides

    o = GridOverrides(tasks=("mul",))
    run_experiment(ExperimentConfig("tasks", grid=o, out=tmp_path / "t", figures=False), runner=fake_runner)
    names = [c.name.split(":")[0] for c in checks.from_dir(tmp_path)]
    assert "P2 [mul]" in names and "P3 (D_crit) [mul]" in names and "P3 (accuracy) [mul]" in names


def test_no_folders_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        checks.from_dir(tmp_path)
    with pytest.raises(InputError):
        checks.from_dir(tmp_path / "missing")
