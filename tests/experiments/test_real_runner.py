"""End to end with the training core's real runner at tiny scale (p = 23, tens of steps).

Skipped until :mod:`grokcheck.experiments.runner` exists. Checks the contract only: one record
per spec, in order, that survives the store, and the table and verdicts build from it.
"""

from __future__ import annotations

import math

import pytest

from grokcheck.experiments.grid import GridOverrides
from grokcheck.experiments.run import ExperimentConfig, run_experiment

pytest.importorskip("grokcheck.experiments.runner")

TINY = GridOverrides(
    p=23,
    sizes=(100, 200),
    weight_decays=(1.0,),
    seeds=(0,),
    max_steps=30,
    eval_every=10,
    pretrain_max_steps=30,
)


# efficiency: ~30 s on 2 shared cores (ungrok ~9 s), so it runs with -m slow
@pytest.mark.parametrize("name", ["ungrok", pytest.param("efficiency", marks=pytest.mark.slow)])
def test_real_runner_tiny(tmp_path, name):
    cfg = ExperimentConfig(name, grid=TINY, out=tmp_path / name, cache_dir=tmp_path / "cache", figures=False)
    r = run_experiment(cfg)
    assert r.complete and len(r.records) == r.n_total
    for rec in r.records:
        assert 1 <= rec.steps <= 30 and 0 <= rec.train_acc <= 1 and 0 <= rec.test_acc <= 1
        assert math.isfinite(rec.param_norm) and rec.param_norm > 0
        assert rec.stopped in ("converged", "max_steps", "diverged")
    again = run_experiment(cfg, runner=lambda *a, **k: pytest.fail("a finished run was rerun"))
    assert again.n_skipped == r.n_total and [x.row() for x in again.records] == [x.row() for x in r.records]
