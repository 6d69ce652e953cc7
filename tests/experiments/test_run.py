"""run_experiment: a stopped sweep resumes where it stopped and ends equal to an uninterrupted one."""

from __future__ import annotations

import json
import sys

import pytest

from grokcheck.errors import FolderError, InputError, RunError
from grokcheck.experiments.grid import GridOverrides
from grokcheck.experiments.run import ExperimentConfig, plan, run_experiment
from tests.experiments.fakes import fake_runner

O = GridOverrides(p=23, sizes=(60, 120, 240), weight_decays=(0.5, 1.0), seeds=(0, 1), max_steps=2000)


def _rows(result):
    return [{k: v for k, v in r.row().items() if k != "wall_s"} for r in result.records]


def test_stopped_sweep_resumes_and_matches(tmp_path):
    ref = run_experiment(
        ExperimentConfig("ungrok", grid=O, out=tmp_path / "ref", max_chunk=2, figures=False),
        runner=fake_runner,
    )
    # 12 grid runs, then the D_crit bisection's (the quick ungrok grid bisects each seed)
    assert ref.complete and ref.n_total > 12 and ref.n_skipped == 0
    cfg = ExperimentConfig("ungrok", grid=O, out=tmp_path / "x", max_chunk=2, figures=False)
    chunks_done = []
    part = run_experiment(
        cfg, runner=fake_runner, progress=chunks_done.append, stop=lambda: len(chunks_done) >= 2
    )
    assert not part.complete and len(part.records) == 4
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    assert summary["complete"] is False and summary["n_finished"] == 4
    seen = []
    full = run_experiment(cfg, runner=lambda s, **kw: seen.extend(s) or fake_runner(s))
    assert full.complete and full.n_skipped == 4 and len(seen) == ref.n_total - 4
    assert _rows(full) == _rows(ref)
    assert [v.status for v in full.verdicts] == [v.status for v in ref.verdicts]


def test_plan_rejects_bad_config(tmp_path):
    with pytest.raises(InputError):
        plan(ExperimentConfig("ungrok", executor="slurm"))
    with pytest.raises(InputError):
        plan(ExperimentConfig("ungrok", scheduler="tcp://x:1"))
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(FolderError, match="is a file, not a folder") as e:  # a usage error
        plan(ExperimentConfig("ungrok", out=f))
    assert e.value.exit_code == 2


def test_dask_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    cfg = ExperimentConfig("ungrok", grid=O, out=tmp_path / "d", executor="dask", figures=False)
    with pytest.raises(RunError, match="dask extra"):
        run_experiment(cfg, runner=fake_runner)


def test_dask_run_experiment_equals_local(tmp_path):
    pytest.importorskip("distributed")
    small = GridOverrides(p=23, sizes=(60, 120), weight_decays=(1.0,), seeds=(0, 1), max_steps=2000)
    a = run_experiment(
        ExperimentConfig("ungrok", grid=small, out=tmp_path / "a", figures=False), runner=fake_runner
    )
    b = run_experiment(
        ExperimentConfig(
            "ungrok", grid=small, out=tmp_path / "b", executor="dask", max_chunk=1, figures=False
        ),
        runner=fake_runner,
    )
    assert _rows(a) == _rows(b)


def test_a_users_folder_is_never_taken_over(tmp_path):
    run_dir = tmp_path / "train-run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"task": "add"}')  # a grokcheck train run, say
    with pytest.raises(FolderError, match="not an experiment folder"):
        run_experiment(ExperimentConfig("ungrok", grid=O, out=run_dir, figures=False), runner=fake_runner)
    assert (run_dir / "config.json").read_text() == '{"task": "add"}' and len(list(run_dir.iterdir())) == 1
    run_experiment(ExperimentConfig("ungrok", grid=O, out=tmp_path / "u", figures=False), runner=fake_runner)
    before = (tmp_path / "u" / "summary.json").read_text()
    with pytest.raises(FolderError, match="experiment 'ungrok' folder"):
        run_experiment(ExperimentConfig("semigrok", out=tmp_path / "u", figures=False), runner=fake_runner)
    assert (tmp_path / "u" / "summary.json").read_text() == before
    # an empty folder, and the experiment's own folder (a resume), are fine
    (tmp_path / "empty").mkdir()
    run_experiment(ExperimentConfig("semigrok", out=tmp_path / "empty", figures=False), runner=fake_runner)
    assert run_experiment(
        ExperimentConfig("ungrok", grid=O, out=tmp_path / "u", figures=False), runner=fake_runner
    ).complete
