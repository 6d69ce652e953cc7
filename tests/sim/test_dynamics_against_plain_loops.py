"""Tests that kill mutants of grokcheck/sim/dynamics.py (tools/mutate.py).

Every expected figure is computed independently of the code under test: a plain loop of
:func:`grokcheck.sim.model.gd_step` (one step, checked in test_model_ranges_and_closed_forms.py against a
hand-written step), closed forms derived by hand in the comments, or constructed inputs
whose answer is known.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from grokcheck.sim import model
from grokcheck.sim.dynamics import Trace, converge, descend, grokking_summary, metrics, simulate
from grokcheck.sim.model import PRESETS, SimConfig


def plain_run(sub, cfg: SimConfig, n: int):
    """n steps of the public one-step update, in a plain loop."""
    for _ in range(n):
        sub = model.gd_step(sub, cfg)
    return sub


# ---------------------------------------------------------------------------------------------
# converge


def test_converge_takes_exactly_max_steps_steps():
    """Capped at a step count that is not a multiple of the window: the end point is the one
    after exactly that many plain steps, and it does not count as converged."""
    cfg = PRESETS["2a"]
    end = converge(cfg, window=1000, max_steps=2500)
    g1, g2, m1, m2 = plain_run(cfg.subweights, cfg, 2500)
    assert (end.w_gen, end.w_mem) == (g1 * g2, m1 * m2)
    assert end.steps == 2500 and not end.converged
    assert (end.window, end.max_steps) == (1000, 2500)
    # the reported gradient is the largest |dL/dw_ci| of the public gradient at that point
    grad = model.subweight_grad((g1, g2, m1, m2), cfg)
    assert end.grad_norm == max(abs(g) for g in grad) and min(abs(g) for g in grad) < end.grad_norm
    assert end.loss == model.loss(g1 * g2, m1 * m2, cfg)
    assert end.ratio == (g1 * g2) / (m1 * m2)


def test_all_zero_subweights_are_a_fixed_point():
    """At w_g1 = w_g2 = w_m1 = w_m2 = 0 every subweight's gradient is its partner (0) times
    dL/dw_c, so gradient descent never moves: the first full window has zero change, which
    is <= tol * scale even for tol = 0. Then w_mem = 0 and the ratio is None."""
    cfg = PRESETS["2a"]
    end = converge(cfg, start=(0.0, 0.0, 0.0, 0.0), tol=0.0, window=100, max_steps=10_000)
    assert end.converged and end.steps == 100
    assert (end.w_gen, end.w_mem, end.ratio) == (0.0, 0.0, None)
    # L_train at w = 0: log(1 + (n - 1)) = log n, no weight decay
    assert end.loss == pytest.approx(math.log(113), rel=1e-15)
    assert end.grad_norm == 0.0


@pytest.mark.parametrize("panel", ["2a", "2b"])  # 2a ends with w_gen > w_mem, 2b with w_mem > w_gen
def test_converge_defaults_and_criterion_by_a_plain_loop(panel):
    """docs/toy-model.md: "every 1000 steps, the weights changed by less than 1e-11 relative to
    the larger one (cap 2,000,000 steps)". Re-check that criterion with a plain loop: at the
    reported step it holds, one window earlier it did not."""
    cfg = PRESETS[panel]
    end = converge(cfg)
    assert (end.tol, end.window, end.max_steps) == (1e-11, 1000, 2_000_000)
    assert end.converged and end.steps % 1000 == 0

    def w(sub):
        return (sub[0] * sub[1], sub[2] * sub[3])

    before2 = plain_run(cfg.subweights, cfg, end.steps - 2000)
    before = plain_run(before2, cfg, 1000)
    last = plain_run(before, cfg, 1000)
    assert w(last) == (end.w_gen, end.w_mem)

    def change(a, b):
        return max(abs(a[0] - b[0]), abs(a[1] - b[1])) / max(abs(a[0]), abs(a[1]))

    assert change(w(last), w(before)) <= 1e-11 < change(w(before), w(before2))


def test_a_partial_last_window_never_counts_as_converged():
    """Docstring: converged means the weights stopped over the last full ``window`` steps. At
    the all-zero fixed point nothing moves, but 500 steps < one window of 1000."""
    end = converge(PRESETS["2a"], start=(0.0, 0.0, 0.0, 0.0), window=1000, max_steps=500)
    assert not end.converged and end.steps == 500


def test_tiny_weights_moving_fast_are_not_converged():
    """w_gen ~ 7.5e-309 (subnormal; the criterion is relative at every scale) with lr = 1e-6:
    each step multiplies w_g1 and w_g2 by (1 + lr (n-1)/n) (S ~ 0, no weight decay to speak
    of), so over 1000 steps w_gen grows by a relative 2e-3, far above tol = 1e-11: not converged."""
    cfg = dataclasses.replace(PRESETS["2a"], lr=1e-6)
    a = math.sqrt(7.5e-309)
    end = converge(cfg, start=(a, a, 0.0, 0.0), window=1000, max_steps=1000)
    assert not end.converged
    assert end.w_gen / 7.5e-309 == pytest.approx((1 + 1e-6 * 112 / 113) ** 2000, rel=1e-6)


def test_converge_progress_every_50_windows_from_the_start_step():
    """progress("converge", step, max_steps) when 50 windows (here 50 x 10 = 500 steps) have
    passed since ``start_step``: from step 7, at steps 507 and 1007 (cap 1234). 2a is far
    from converged there."""
    cfg = PRESETS["2a"]
    calls = []
    start = plain_run(cfg.subweights, cfg, 7)
    end = converge(
        cfg, start=start, start_step=7, window=10, max_steps=1234, progress=lambda *a: calls.append(a)
    )
    assert calls == [("converge", 507, 1234), ("converge", 1007, 1234)]
    assert end.steps == 1234 and not end.converged
    g1, g2, m1, m2 = plain_run(cfg.subweights, cfg, 1234)
    assert (end.w_gen, end.w_mem) == (g1 * g2, m1 * m2)


# ---------------------------------------------------------------------------------------------
# descend, metrics, Trace


def test_descend_agrees_bit_for_bit_with_gd_step_near_u_zero():
    """Where u = log(n-1) - S lies in [0, 1) the two sigmoid branches round differently; the fast
    loop must take the same branch as model.gd_step. From (0, 1, 1, S) one step moves w_g1 by
    -lr dX_train/dS alone, so the slope's bits show."""
    cfg = SimConfig()
    lw = math.log(112)
    for k in range(200):
        sub = (0.0, 1.0, 1.0, lw - k / 200)
        assert descend(sub, cfg, 1) == model.gd_step(sub, cfg)


def test_trace_table_matches_columns():
    cfg = dataclasses.replace(PRESETS["2c"], steps=20)
    tr = simulate(cfg)
    table = tr.table()
    assert table.shape == (21, 13) and len(tr.COLUMNS) == 13
    for i, name in enumerate(tr.COLUMNS):
        if name.startswith("w_") and name[-1] in "12":
            expected = tr.subweights[:, ("w_g1", "w_g2", "w_m1", "w_m2").index(name)]
        else:
            expected = getattr(tr, name)
        np.testing.assert_array_equal(table[:, i], expected)


def test_metrics_accepts_rows_of_tuples():
    """simulate records tuples; metrics takes any (T, 4) array-like. Row (2, 3, -1, 0.5) with
    n = 2: X_train = log(1 + e^-(6 - 0.5)), X_test = log(e^6 + e^-0.5) - 6."""
    cfg = dataclasses.replace(PRESETS["2a"], n_labels=2)
    m = metrics([(2.0, 3.0, -1.0, 0.5)], cfg)
    assert m["train_xent"][0] == pytest.approx(math.log1p(math.exp(-5.5)), rel=1e-13)
    assert m["test_xent"][0] == pytest.approx(math.log(math.exp(6) + math.exp(-0.5)) - 6, rel=1e-13)


@pytest.mark.parametrize("wd_half", [False, True])
def test_metrics_by_hand_with_generic_norms(wd_half):
    """Row (0.5, 1.2, -0.4, 2.0): w_gen = 0.6, w_mem = -0.8; n = 7, P_g = 1.5, P_m = 0.8,
    kappa = 1.3, alpha = 0.07. By hand: X_train = log(1 + 6 e^0.2),
    X_test = log(5 + e^0.6 + e^-0.8) - 0.6, P'_g = 0.6^(1/1.3) 1.5, P'_m = 0.8^(1/1.3) 0.8,
    L_wd = alpha (P'_g^2 + P'_m^2) (alpha/2 with wd_half), norm = sqrt(P'_g^2 + P'_m^2)."""
    cfg = SimConfig(P_g=1.5, P_m=0.8, kappa=1.3, alpha=0.07, n_labels=7, wd_half=wd_half)
    m = metrics(np.array([[0.5, 1.2, -0.4, 2.0]]), cfg)
    pg, pm = 0.6 ** (1 / 1.3) * 1.5, 0.8 ** (1 / 1.3) * 0.8
    wd = (0.035 if wd_half else 0.07) * (pg**2 + pm**2)
    x_train = math.log(1 + 6 * math.exp(0.2))
    x_test = math.log(5 + math.exp(0.6) + math.exp(-0.8)) - 0.6
    expected = {
        "w_gen": 0.6,
        "w_mem": -0.8,
        "train_xent": x_train,
        "test_xent": x_test,
        "wd_loss": wd,
        "train_loss": x_train + wd,
        "test_loss": x_test + wd,
        "param_norm": math.sqrt(pg**2 + pm**2),
    }
    assert set(m) == set(expected)
    for key, value in expected.items():
        assert m[key][0] == pytest.approx(value, rel=1e-13), key


def test_metrics_with_three_labels_counts_the_third():
    """n = 3: on a test input the third label has logit 0, so X_test = log(1 + e^w_gen + e^w_mem)
    - w_gen; at w = (0.6, -0.8): log(1 + e^0.6 + e^-0.8) - 0.6."""
    cfg = SimConfig(n_labels=3)
    m = metrics(np.array([[0.5, 1.2, -0.4, 2.0]]), cfg)
    assert m["test_xent"][0] == pytest.approx(math.log(1 + math.exp(0.6) + math.exp(-0.8)) - 0.6, rel=1e-13)
    assert m["train_xent"][0] == pytest.approx(math.log(1 + 2 * math.exp(0.2)), rel=1e-13)


def handmade_trace(train, test, w_gen, w_mem) -> Trace:
    n = len(train)
    z = np.zeros(n)
    return Trace(
        step=np.arange(n),
        subweights=np.zeros((n, 4)),
        w_gen=np.array(w_gen, float),
        w_mem=np.array(w_mem, float),
        train_loss=np.array(train, float),
        test_loss=np.array(test, float),
        train_xent=np.array(train, float),
        test_xent=np.array(test, float),
        wd_loss=z,
        param_norm=z,
    )


def test_crossings_are_strict():
    """Docs: ``train_below``/``test_below`` is the first step with loss < threshold (strictly),
    ``gen_overtakes_mem`` the first with w_gen > w_mem, ``gen_onset`` the first with
    w_gen >= onset. Losses equal to the threshold and equal weights do not count."""
    tr = handmade_trace(
        train=[3.0, 1.0, 0.5, 0.2],
        test=[5.0, 4.0, 1.0, 0.9],
        w_gen=[0.0, 0.1, 1.0, 2.0],
        w_mem=[0.0, 1.0, 1.0, 1.0],
    )
    g = grokking_summary(tr, threshold=1.0, onset=0.1)
    assert (g.train_below, g.test_below, g.delay) == (2, 3, 1)
    assert g.gen_overtakes_mem == 3 and g.gen_onset == 1
    assert (g.loss, g.threshold, g.onset) == ("appendix_c", 1.0, 0.1)


def test_results_are_frozen():
    """Results are frozen dataclasses."""
    tr = simulate(dataclasses.replace(PRESETS["2c"], steps=5))
    end = converge(PRESETS["2c"], max_steps=1000)
    g = grokking_summary(tr)
    for obj, field in ((tr, "w_gen"), (end, "steps"), (g, "delay")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)


def test_restart_from_a_converged_point_converges_in_one_window():
    """Near the optimum the changes shrink geometrically from window to window, so restarting
    from the point where 2b converged (reached by a plain loop) converges after the first
    window: the criterion compares against the start's own (w_gen, w_mem)."""
    cfg = PRESETS["2b"]
    first = converge(cfg)
    sub = plain_run(cfg.subweights, cfg, first.steps)
    again = converge(cfg, start=sub, start_step=first.steps)
    assert again.converged and again.steps == first.steps + 1000
    g1, g2, m1, m2 = plain_run(sub, cfg, 1000)
    assert (again.w_gen, again.w_mem) == (g1 * g2, m1 * m2)
