"""The convergence check: sampling, and continuing real runs against an independent rerun."""

from __future__ import annotations

from dataclasses import replace

import pytest

from grokcheck.experiments import convcheck
from grokcheck.experiments.runner import run_chunk
from grokcheck.experiments.spec import RunRecord, RunSpec


def rec(exp, kind, seed, converged=True):
    s = RunSpec(exp, kind, "add", 31, 100, 1.0, seed, 1000)
    return RunRecord(s, 10, converged, "converged" if converged else "max_steps", 1.0, 0.5, 0.0, 0.0, 1.0)


def test_sample_spreads_over_experiments_and_kinds_and_skips_unconverged():
    rs = [rec("ungrok", "ungrok", s) for s in range(6)] + [
        rec("efficiency", "random_labels", s) for s in range(2)
    ]
    rs += [rec("semigrok", "scratch", s, converged=False) for s in range(5)]
    got = convcheck.sample(rs, 4)
    assert [r.spec.kind for r in got].count("random_labels") == 2 and len(got) == 4
    assert all(r.converged for r in got)
    assert convcheck.sample(rs, 4) == got  # reproducible
    assert len(convcheck.sample(rs, 100)) == 8


def test_continued_is_judged_by_both_tolerances():
    c = convcheck.Continued("k", "e", "ungrok", 100, 1.0, 0, 10, 10, 0.5, 0.54, 20.0, 20.3)
    assert c.holds and c.d_acc == pytest.approx(0.04) and c.d_norm == pytest.approx(0.015)
    assert not replace(c, test_acc_later=0.56).holds
    assert not replace(c, norm_later=20.5).holds


def test_continue_runs_passes_through_the_original_runs_state(tmp_path):
    # a tiny real run cut at its cap, taken as if the rule had stopped it there: retrained to 4x
    # its steps, the retrained curve must pass through the original run's final state
    spec = RunSpec("ungrok", "scratch", "add", 7, 20, 1.0, 0, 30, eval_every=10, convergence_window=20)
    (r,) = run_chunk([spec], cache_dir=tmp_path)
    (c,) = convcheck.continue_runs([replace(r, converged=True)], cache_dir=tmp_path)
    assert c.step == r.steps == 30
    assert c.test_acc == pytest.approx(r.test_acc, abs=1e-6)
    assert c.norm == pytest.approx(r.param_norm, rel=1e-6)
    later = run_chunk([replace(spec, max_steps=120)], cache_dir=tmp_path)[0]
    assert c.norm_later == pytest.approx(later.param_norm, rel=1e-6)
    assert c.test_acc_later == pytest.approx(later.test_acc, abs=1e-6)
