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


def test_pretraining_inside_an_experiment_resumes_where_it_stopped(tmp_path):
    """Stopped mid-pretraining (as Ctrl-C does), the experiment keeps a pretraining checkpoint; the
    rerun continues from it (it never restarts at step 0) and ends exactly where an uninterrupted
    run ends. The checkpoint is removed once the network is cached."""
    from grokcheck.experiments.runner import run_chunk
    from grokcheck.experiments.spec import RunSpec

    spec = RunSpec("ungrok", "ungrok", "add", 23, 150, 1.0, 0, 20, eval_every=10, pretrain_max_steps=120)
    whole = run_chunk([spec], cache_dir=tmp_path / "c1", checkpoint_dir=tmp_path / "k1")[0]

    seen: list[tuple[str, int]] = []

    def progress(ev):
        seen.append((ev.phase, ev.step))

    def stop_at_60():
        return any(phase == "pretrain" and step >= 60 for phase, step in seen)

    ckpts, cache = tmp_path / "k2", tmp_path / "c2"
    cut = run_chunk([spec], cache_dir=cache, checkpoint_dir=ckpts, stop=stop_at_60, progress=progress)[0]
    assert cut.stopped == "interrupted" and not any(cache.glob("*.pt"))
    saved = list(ckpts.glob("pretrain-*/checkpoint.pt"))
    assert len(saved) == 1
    seen.clear()
    again = run_chunk([spec], cache_dir=cache, checkpoint_dir=ckpts, progress=progress)[0]
    first_pretrain = min(step for phase, step in seen if phase == "pretrain")
    assert first_pretrain >= 60  # continued, not restarted
    timeless = {k: v for k, v in again.row().items() if k != "wall_s"}
    assert timeless == {k: v for k, v in whole.row().items() if k != "wall_s"}
    assert again.curve == whole.curve
    assert not list(ckpts.glob("pretrain-*")) and len(list(cache.glob("*.pt"))) == 1
