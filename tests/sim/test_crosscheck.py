"""Theory vs simulation: the cross-check passes where it should and fails on wrong inputs."""

from __future__ import annotations

import dataclasses
import math

import pytest

from grokcheck.sim import model
from grokcheck.sim.crosscheck import cross_check, theorem_optimum
from grokcheck.sim.dynamics import Converged, converge
from grokcheck.sim.model import PRESETS


@pytest.mark.parametrize("panel, ratio", [("2a", 8.0), ("2b", 1 / 8), ("2c", 8.0)])
def test_table_1_agrees_with_theorem(panel, ratio):
    cfg = PRESETS[panel]
    x = cross_check(cfg, converge(cfg))
    assert x.applicable and x.case == 2 and x.holds and x.matches_optimum and x.converged
    assert x.theorem_ratio == pytest.approx(ratio, rel=1e-12)
    assert x.gd_ratio == pytest.approx(ratio, rel=1e-8)
    assert x.weight_error < 1e-9


def test_theorem_optimum_is_stationary_for_appendix_c_loss():
    """The alpha mapping (Eq. 6's alpha = 2 alpha) is right: Appendix C's gradient vanishes there."""
    for cfg in (PRESETS["2a"], PRESETS["2b"], dataclasses.replace(PRESETS["2a"], wd_half=True)):
        wg, wm = theorem_optimum(cfg)
        assert max(abs(g) for g in model.weight_grad(wg, wm, cfg)) < 1e-10


def fake_end(cfg, w_gen, w_mem, converged=True) -> Converged:
    return Converged(
        w_gen=w_gen,
        w_mem=w_mem,
        ratio=w_gen / w_mem if w_mem else None,
        steps=1000,
        converged=converged,
        loss=model.loss(w_gen, w_mem, cfg),
        grad_norm=0.0,
        tol=1e-11,
        window=1000,
        max_steps=10**6,
    )


def test_wrong_simulator_fails():
    """Negative test: a simulator with Eq. 2's 1/2 (a different loss) converges to other weights.

    The ratio is still 8 (it does not depend on alpha), but the weights are not the optimum of
    Appendix C's loss, and the check must say so.
    """
    cfg = PRESETS["2a"]
    wrong = converge(dataclasses.replace(cfg, wd_half=True))
    assert wrong.ratio == pytest.approx(8.0, rel=1e-8)
    x = cross_check(cfg, wrong)
    assert not x.holds and not x.matches_optimum and x.weight_error > 1e-2
    assert "away from the theorem's unique optimum" in x.note


def test_wrong_theory_fails():
    """Negative test: a wrong exponent in the prediction is caught."""
    cfg = PRESETS["2a"]
    x = cross_check(cfg, converge(cfg), exponent=-2.0)
    assert not x.holds and x.theorem_ratio == pytest.approx(4.0, rel=1e-9)


def test_unconverged_run_does_not_hold():
    cfg = PRESETS["2a"]
    x = cross_check(cfg, converge(cfg, max_steps=12_000))
    assert not x.converged and not x.holds and "did not converge" in x.note


def test_kappa_above_q_reports_both_points():
    """kappa = 2.5 >= q: the global optimum is C_gen alone; GD from Table 1 (a) keeps C_mem.

    They differ, and the check holds because the theorem's optimum has the lower loss.
    """
    cfg = dataclasses.replace(PRESETS["2a"], kappa=2.5)
    x = cross_check(cfg, converge(cfg))
    assert x.case == 1 and x.theorem_w_mem == 0.0 and x.theorem_ratio is None
    assert x.theorem_w_gen > 10 and abs(x.gd_w_gen) < 1e-6 and x.gd_w_mem > 5
    assert x.matches_optimum is False and x.holds is True
    assert x.theorem_loss < x.gd_loss
    assert "ended elsewhere" in x.note


def test_kappa_above_q_fails_when_gd_beats_the_theorem():
    """Negative test: a point with a lower loss than the theorem's 'global optimum' contradicts it."""
    cfg = dataclasses.replace(PRESETS["2a"], kappa=2.5)
    tg, tm = theorem_optimum(cfg)
    end = fake_end(cfg, tg * 0.5, 1.0)
    end = dataclasses.replace(end, loss=model.loss(tg, tm, cfg) - 0.01)  # a lower loss than claimed
    x = cross_check(cfg, end)
    assert not x.holds


def test_tied_norms_compare_totals():
    cfg = dataclasses.replace(PRESETS["2c"], P_g=2.0, P_m=2.0, kappa=2.0)
    tg, tm = theorem_optimum(cfg)
    x = cross_check(cfg, fake_end(cfg, (tg + tm) / 2, (tg + tm) / 2))
    assert x.matches_optimum and x.holds


def test_alpha_zero_is_not_applicable():
    cfg = dataclasses.replace(PRESETS["2a"], alpha=0.0)
    x = cross_check(cfg, converge(cfg, max_steps=20_000))
    assert not x.applicable and x.holds is None and "does not apply" in x.note
    assert math.isfinite(x.gd_w_gen)
