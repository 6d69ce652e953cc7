"""Gradient descent on the toy model: the fast loop against the plain one, Figure 2's panels,
runs to convergence against the closed-form optimum."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grokcheck.errors import InputError, RunError
from grokcheck.sim import model
from grokcheck.sim.dynamics import Trace, converge, descend, grokking_summary, metrics, simulate
from grokcheck.sim.model import PRESETS, SimConfig

CHANCE = math.log(113)


@pytest.fixture(scope="module")
def panels() -> dict[str, Trace]:
    return {p: simulate(cfg) for p, cfg in PRESETS.items()}


def reference_run(cfg: SimConfig, n: int) -> np.ndarray:
    """Obviously-correct gradient descent: the public gradient, one step at a time."""
    sub = cfg.subweights
    out = [sub]
    for _ in range(n):
        sub = model.gd_step(sub, cfg)
        out.append(sub)
    return np.array(out)


@given(
    cfg=st.builds(
        SimConfig,
        P_g=st.floats(0.3, 4),
        P_m=st.floats(0.3, 4),
        kappa=st.sampled_from([0.6, 1.2, 2.0, 2.5, 3.5]),
        alpha=st.sampled_from([0.0, 0.005, 0.05]),
        w_g1=st.floats(-1, 1),
        w_g2=st.floats(-1, 1),
        w_m1=st.sampled_from([0.0, 0.5, -0.3]),
        w_m2=st.floats(-1, 1),
        n_labels=st.sampled_from([2, 5, 113]),
        lr=st.sampled_from([0.01, 0.1]),
    )
)
def test_fast_loop_equals_reference(cfg):
    """The inlined loop does the reference's floating-point operations: identical runs."""
    fast = simulate(dataclasses.replace(cfg, steps=300)).subweights
    np.testing.assert_array_equal(fast, reference_run(cfg, 300))


def test_metrics_equal_scalar_closed_forms(panels):
    cfg, tr = PRESETS["2a"], panels["2a"]
    for t in (0, 1, 700, 2500, 5000, 10_000):
        wg, wm = tr.w_gen[t], tr.w_mem[t]
        assert wg == tr.subweights[t, 0] * tr.subweights[t, 1]
        assert tr.train_xent[t] == pytest.approx(model.xent_train(wg, wm, 113), rel=1e-13)
        assert tr.test_xent[t] == pytest.approx(model.xent_test(wg, wm, 113), rel=1e-13)
        assert tr.wd_loss[t] == pytest.approx(model.wd_loss(wg, wm, cfg), rel=1e-13, abs=1e-300)
        # Appendix C's L_train and L_test carry L_wd
        assert tr.train_loss[t] == pytest.approx(model.loss(wg, wm, cfg), rel=1e-13)
        assert tr.test_loss[t] == pytest.approx(model.loss_test(wg, wm, cfg), rel=1e-13)
        assert tr.losses("xent") == (tr.train_xent, tr.test_xent)
        pg, pm = model.param_norms(wg, wm, cfg)
        assert tr.param_norm[t] == pytest.approx(math.sqrt(pg**2 + pm**2), rel=1e-13, abs=1e-300)
    m = metrics(np.array([[2.0, 3.0, -1.0, 0.5]]), dataclasses.replace(cfg, n_labels=2))
    assert m["test_xent"][0] == pytest.approx(math.log(math.exp(6) + math.exp(-0.5)) - 6, rel=1e-13)
    wd = 0.005 * (6 ** (1 / 1.2) * 1.0) ** 2 + 0.005 * (0.5 ** (1 / 1.2) * 2.0) ** 2
    assert m["test_loss"][0] == pytest.approx(math.log(math.exp(6) + math.exp(-0.5)) - 6 + wd, rel=1e-13)
    with pytest.raises(InputError, match="--loss"):
        simulate(dataclasses.replace(cfg, steps=3)).losses("x-ent")


# ---------------------------------------------------------------------------------------------
# Figure 2: what the paper describes


def test_2a_test_loss_stays_high_then_falls_late(panels):
    tr = panels["2a"]
    for t in (500, 1000, 2000, 3000):  # memorised: train loss low, test loss above chance
        assert tr.train_xent[t] < 0.15 and tr.test_xent[t] > CHANCE
        assert tr.train_loss[t] < 0.7 and tr.test_loss[t] > CHANCE
    assert np.all(tr.test_xent[:4000] > 3.0) and np.all(tr.test_loss[:4000] > 3.0)
    assert tr.test_xent[-1] < 0.1 and tr.train_xent[-1] < 0.05
    assert 0.18 < tr.train_loss[-1] < 0.19 and 0.24 < tr.test_loss[-1] < 0.25
    for loss in ("appendix_c", "xent"):
        g = grokking_summary(tr, loss=loss)
        assert g.train_below < 300 and 4000 < g.test_below < 7000
    # C_gen substitutes for C_mem, and the total parameter norm falls
    assert tr.w_gen[-1] > 5 * tr.w_mem[-1]
    assert tr.param_norm[-1] < 0.6 * tr.param_norm.max()


def test_appendix_c_weight_decay_matches_figure_2a_timing():
    """Appendix C's alpha (P'_g^2 + P'_m^2) puts C_gen's growth near step 2500 (Figure 2a's
    caption); Eq. 2's alpha/2 roughly doubles every time scale of the grokking phase."""
    full = simulate(PRESETS["2a"])
    half = simulate(dataclasses.replace(PRESETS["2a"], wd_half=True))
    assert 0.02 < full.w_gen[2500] < 0.1 and full.w_gen[3000] > 0.1
    assert half.w_gen[2500] < 0.01 and half.w_gen[4000] < 0.05
    g_full, g_half = grokking_summary(full), grokking_summary(half)
    assert 2500 <= g_full.gen_onset <= 3000 and g_half.gen_onset > 5000
    assert g_full.test_below < 6000 and g_half.test_below > 9000


def test_2b_gen_never_grows_and_test_loss_stays_high(panels):
    tr = panels["2b"]
    assert np.all(tr.w_gen[1:] < tr.w_mem[1:] / 7.9)
    assert tr.test_loss.min() >= CHANCE - 1e-9 and tr.test_xent.min() >= CHANCE - 1e-9
    assert grokking_summary(tr).test_below is None and grokking_summary(tr).gen_overtakes_mem is None


def test_2c_no_delay(panels):
    tr, g = panels["2c"], grokking_summary(panels["2c"])
    assert np.all(tr.w_gen >= tr.w_mem)
    assert g.test_below < 600 and g.delay < 0.1 * grokking_summary(panels["2a"]).delay
    # it never rises above chance, unlike 2a and 2b
    assert np.all(tr.test_xent[1:] < CHANCE) and np.all(tr.test_loss[1:] < CHANCE)


def test_grokking_summary_on_a_handmade_trace():
    z = np.zeros(5)
    tr = Trace(
        step=np.arange(5),
        subweights=np.zeros((5, 4)),
        w_gen=np.array([0, 0.05, 0.2, 3, 4.0]),
        w_mem=np.array([0, 1, 2, 2, 1.0]),
        train_loss=np.array([4, 0.5, 0.4, 0.3, 0.2]),
        test_loss=np.array([4, 6, 3, 0.9, 0.5]),
        train_xent=np.array([4, 0.5, 0.4, 0.3, 0.05]),
        test_xent=np.array([4, 0.9, 3, 0.8, 0.4]),
        wd_loss=z,
        param_norm=z,
    )
    g = grokking_summary(tr, threshold=1.0, onset=0.1)
    assert (g.gen_overtakes_mem, g.train_below, g.test_below, g.delay, g.gen_onset) == (3, 1, 3, 2, 2)
    g = grokking_summary(tr, threshold=0.1)
    assert g.train_below is None and g.delay is None
    g = grokking_summary(tr, threshold=1.0, loss="xent")  # the cross-entropy columns
    assert (g.loss, g.train_below, g.test_below, g.delay) == ("xent", 1, 1, 0)
    assert grokking_summary(tr, threshold=0.1, loss="xent").train_below == 4


# ---------------------------------------------------------------------------------------------
# Convergence


def closed_form_ratio(P_g: float, P_m: float, kappa: float) -> float:
    """Theorem D.4, case 2, with norm exponent 2: (P_g/P_m)^(-2 kappa/(2 - kappa))."""
    return (P_g / P_m) ** (-2 * kappa / (2 - kappa))


@pytest.mark.parametrize("panel, ratio", [("2a", 8.0), ("2b", 1 / 8), ("2c", 8.0)])
def test_table_1_converges_to_ratio(panel, ratio):
    end = converge(PRESETS[panel])
    assert end.converged and end.ratio == pytest.approx(ratio, rel=1e-8)
    assert end.grad_norm < 1e-10


def stationary_residual(w_gen: float, w_mem: float, cfg: SimConfig) -> float:
    """|dL/dw| at (w_gen, w_mem), computed here from the closed forms by hand."""
    n = cfg.n_labels
    slope = -(n - 1) * math.exp(-(w_gen + w_mem)) / (1 + (n - 1) * math.exp(-(w_gen + w_mem)))
    e = 2 / cfg.kappa
    dg = slope + cfg.alpha * cfg.P_g**2 * e * w_gen ** (e - 1)
    dm = slope + cfg.alpha * cfg.P_m**2 * e * w_mem ** (e - 1)
    return max(abs(dg), abs(dm))


@settings(max_examples=12, deadline=None)
@given(P_g=st.floats(0.5, 3.0), P_m=st.floats(0.5, 3.0), kappa=st.floats(0.3, 1.5))
def test_converged_ratio_matches_theorem(P_g, P_m, kappa):
    """Property: from 2c's initialisation, gradient descent ends at Theorem D.4's optimum."""
    cfg = dataclasses.replace(PRESETS["2c"], P_g=P_g, P_m=P_m, kappa=kappa)
    end = converge(cfg)
    assert end.converged
    assert end.ratio == pytest.approx(closed_form_ratio(P_g, P_m, kappa), rel=1e-6)
    assert stationary_residual(end.w_gen, end.w_mem, cfg) < 1e-9


def test_kappa_above_q_stays_in_the_memorising_basin():
    """kappa = 2.5 > q: the marginal cost of C_gen at w = 0 is infinite, so from Table 1 (a)
    C_gen (learned slowly) is never switched on, though the global optimum uses it alone."""
    end = converge(dataclasses.replace(PRESETS["2a"], kappa=2.5))
    assert end.converged and abs(end.w_gen) < 1e-6 and end.w_mem > 5


def test_step_cap_reports_not_converged():
    end = converge(PRESETS["2a"], max_steps=3000)
    assert not end.converged and end.steps == 3000


def test_diverging_learning_rate_raises_run_error():
    with pytest.raises(RunError, match="lower --lr"):
        simulate(dataclasses.replace(PRESETS["2c"], lr=10.0, steps=2000))
    with pytest.raises(RunError):
        descend((1.0, 1.0, 1.0, 1.0), dataclasses.replace(PRESETS["2c"], lr=10.0, kappa=0.3), 10_000)


def test_progress_is_called_and_does_not_change_the_run():
    cfg = dataclasses.replace(PRESETS["2a"], steps=120_000)
    calls = []
    tr = simulate(cfg, progress=lambda *a: calls.append(a))
    assert calls == [
        ("simulate", 50_000, 120_000),
        ("simulate", 100_000, 120_000),
        ("simulate", 120_000, 120_000),
    ]
    np.testing.assert_array_equal(tr.subweights, simulate(cfg).subweights)
    calls.clear()
    end = converge(PRESETS["2a"], progress=lambda *a: calls.append(a))
    assert end.converged and calls == [("converge", 50_000, 2_000_000)]
    assert end == converge(PRESETS["2a"])
