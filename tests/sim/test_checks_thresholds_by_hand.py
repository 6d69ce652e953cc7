"""Mutation-testing companions of tests/sim/test_checks.py: every Figure 2 caption row fed
hand-made traces on both sides of its thresholds (at the boundary itself where the claim says
"below" or "at least"), with the row's figure text worked out by hand from the made trace.

The rows that run gradient descent (timing, converged ratio, basin, the full verification)
are fed fakes of ``simulate``/``converge``/``cross_check`` (monkeypatched in
grokcheck.sim.checks) whose outputs are chosen here, so their logic and text are checked on
known inputs; ``appendix_c_timing`` is also checked against a plain-loop gradient descent.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from types import SimpleNamespace

import numpy as np
import pytest

from grokcheck.sim import checks
from grokcheck.sim.dynamics import Trace
from grokcheck.sim.model import PRESETS

LOG113 = math.log(113)
CFG = PRESETS["2a"]


def tr(n: int, *, train=5.0, test=5.0, wd=0.0, w_gen=0.0, w_mem=0.0, norm=1.0) -> Trace:
    """A made trace of n points; scalars are broadcast. train/test are Appendix C's losses and the
    cross-entropies are those minus ``wd``."""

    def arr(x):
        return np.broadcast_to(np.asarray(x, float), (n,)).copy()

    train, test, wd = arr(train), arr(test), arr(wd)
    return Trace(
        step=np.arange(n),
        subweights=np.zeros((n, 4)),
        w_gen=arr(w_gen),
        w_mem=arr(w_mem),
        train_loss=train,
        test_loss=test,
        train_xent=train - wd,
        test_xent=test - wd,
        wd_loss=wd,
        param_norm=arr(norm),
    )


def steps(n: int, value_at: dict[int, float], default: float) -> np.ndarray:
    """An array of ``default`` with ``value_at[t]`` from step t onwards (later keys win)."""
    a = np.full(n, default)
    for t in sorted(value_at):
        a[t:] = value_at[t]
    return a


# ---------------------------------------------------------------------------------------------
# measures


def test_memorised_steps_counts_strict_inequalities():
    # step 0: train = 1 (not < 1); step 2: test = log(113) (not > chance); steps 1 and 3 count
    t = tr(4, train=[1.0, 0.9, 0.5, 0.5], test=[5.0, 5.0, LOG113, 4.8])
    assert checks.memorised_steps(t, CFG) == 2
    # under the cross-entropy (loss - wd, wd = 0.2): train 0.8 0.7 0.3 0.3, test 4.8 4.8 4.53 4.6
    t = tr(4, train=[1.0, 0.9, 0.5, 0.5], test=[5.0, 5.0, LOG113, 4.8], wd=0.2)
    assert checks.memorised_steps(t, CFG, "xent") == 2  # steps 0 and 1 (4.8 > 4.727)
    assert checks.memorised_steps(t, dataclasses.replace(CFG, n_labels=7), "xent") == 4


def test_loss_ratio_by_hand():
    r = checks.loss_ratio(np.array([1.0, 0.0, 3.0, 0.0]), np.array([2.0, 0.0, 0.0, 1.0]))
    np.testing.assert_array_equal(r, [0.5, 1.0, np.inf, 0.0])


def test_max_loss_ratio_skip_boundaries():
    """first = max(1, ceil(skip (n - 1))): 10 for n = 1001, skip 0.01."""
    n = 1001
    test = np.full(n, 1.2)
    test[9], test[10], test[500] = 9.0, 3.0, 2.0
    assert checks.max_loss_ratio(tr(n, train=1.0, test=test)) == (3.0, 10)
    test[10] = 1.5  # now the largest after step 9 is 2.0 at step 500
    assert checks.max_loss_ratio(tr(n, train=1.0, test=test)) == (2.0, 500)
    # skip 0: step 0 is still left out (both curves start at chance)
    t = tr(5, train=1.0, test=[7.0, 1.5, 2.5, 1.0, 1.0])
    assert checks.max_loss_ratio(t, skip=0.0) == (2.5, 2)
    assert checks.max_loss_ratio(tr(5, train=1.0, test=[7.0, 3.0, 2.5, 1.0, 1.0]), skip=0.0) == (3.0, 1)
    # n = 101: ceil(0.01 * 100) = 1, so step 1 counts
    test = np.full(101, 1.0)
    test[0], test[1] = 9.0, 4.0
    assert checks.max_loss_ratio(tr(101, train=1.0, test=test)) == (4.0, 1)
    # n = 102: ceil(0.01 * 101) = 2, so step 1 does not
    test = np.full(102, 1.0)
    test[1], test[2], test[50] = 4.0, 2.0, 3.0
    assert checks.max_loss_ratio(tr(102, train=1.0, test=test)) == (3.0, 50)
    # skip 1: only the last step; skip 0.5 of 11 points: from step 5
    test = np.arange(11.0)[::-1] + 1  # 11, 10, ..., 1
    assert checks.max_loss_ratio(tr(11, train=1.0, test=test), skip=1.0) == (1.0, 10)
    assert checks.max_loss_ratio(tr(11, train=1.0, test=test), skip=0.5) == (6.0, 5)
    # the definition is the one asked for: xent = loss - wd
    t = tr(3, train=[2.0, 2.0, 2.0], test=[9.0, 3.0, 2.0], wd=1.0)
    assert checks.max_loss_ratio(t, "xent") == (2.0, 1) and checks.max_loss_ratio(t) == (1.5, 1)


# ---------------------------------------------------------------------------------------------
# 2a


def grok_trace(k_mem: int, fall: int, n: int = 2500, wd: float = 0.0) -> Trace:
    """Train loss 4.727 at step 0, 0.5 after; test loss log(113) at step 0, 5.0 (memorised) on
    steps 1..k_mem, 2.0 until ``fall``, 0.5 from ``fall`` on: delay fall - 1."""
    test = steps(n, {0: LOG113, 1: 5.0, k_mem + 1: 2.0, fall: 0.5}, 0.0)
    train = steps(n, {0: LOG113, 1: 0.5}, 0.0)
    return tr(n, train=train + wd, test=test + wd, wd=wd)


def test_late_fall_boundaries_and_text():
    x = checks.late_fall(grok_trace(1, 2001), CFG)
    assert x.holds and x.figure == (
        "with L_wd (Appendix C): 1 steps with train < 1 and test > log(113); loss < 1: train at step 1, "
        "test at step 2001, delay 2000 (needed >= 2000); cross-entropy alone: 1 steps, delay 2000"
    )
    assert not checks.late_fall(grok_trace(1, 2000), CFG).holds  # delay 1999
    assert not checks.late_fall(grok_trace(0, 3000, n=3500), CFG).holds  # never memorised
    assert checks.late_fall(grok_trace(30, 3000, n=3500), CFG).holds
    x = checks.late_fall(grok_trace(3, 3000, n=2999), CFG)  # the test loss never falls
    assert not x.holds
    assert "test at step never, delay never (needed >= 2000)" in x.figure
    # an L_wd of 0.6 on top of the cross-entropies of grok_trace
    x = checks.late_fall(grok_trace(5, 2600, n=3000, wd=0.6), CFG, "xent")
    # xent: train 0.5 from step 1 (< 1), test 5.0 on 1..5: 5 memorised steps, falls at 2600
    # Appendix C's: train 1.1 never < 1, so no memorised steps and no delay
    assert x.holds and x.figure == (
        "cross-entropy alone: 5 steps with train < 1 and test > log(113); loss < 1: train at step 1, "
        "test at step 2600, delay 2599 (needed >= 2000); with L_wd (Appendix C): 0 steps, delay never"
    )
    assert not checks.late_fall(grok_trace(5, 2600, n=3000, wd=0.6), CFG).holds


def onset_trace(t: int | None, n: int = 4000, at2500: float = 0.07) -> Trace:
    """w_gen 0.05 from step 1000, ``at2500`` at step 2500 only if below the onset, 0.1 from t."""
    w = steps(n, {1000: 0.05}, 0.0)
    if n > 2501:
        w[2500] = at2500
        w[2501] = 0.09
    if t is not None:
        w[t:] = 0.1
    return tr(n, w_gen=w)


@pytest.mark.parametrize("t, ok", [(2000, True), (3500, True), (1999, False), (3501, False), (None, False)])
def test_gen_onset_window(t, ok):
    assert checks.gen_onset(onset_trace(t)).holds is ok


def test_gen_onset_text():
    x = checks.gen_onset(onset_trace(3000))
    assert x.figure == "w_gen = 0.070 at step 2500, reaches 0.1 at step 3000 (accepted 2000-3500)"
    x = checks.gen_onset(onset_trace(None, n=2501))  # 2501 points: step 2500 exists
    assert x.figure == "w_gen = 0.050 at step 2500, reaches 0.1 at step never (accepted 2000-3500)"
    x = checks.gen_onset(onset_trace(2200, n=2500))  # no step 2500
    assert x.holds and x.figure.startswith("w_gen = nan at step 2500, reaches 0.1 at step 2200")


def sub_trace(end: float, overtake: bool = True) -> Trace:
    """w_mem 1 -> 2 (peak, step 2) -> 1.7 (step 4) -> ``end`` (step 5); w_gen 0 or 3 from step 3."""
    w_mem = np.array([1.0, 1.5, 2.0, 1.9, 1.7, end])
    return tr(6, w_mem=w_mem, w_gen=steps(6, {3: 3.0 if overtake else 0.0}, 0.0))


def test_substitution_boundaries_and_text():
    x = checks.substitution(sub_trace(0.999))
    assert x.holds and x.figure == (
        "w_gen > w_mem from step 3; w_mem 2.000 (peak) -> 0.999 (end), needed < 0.5 x peak"
    )
    assert not checks.substitution(sub_trace(1.0)).holds  # exactly half the peak
    assert checks.substitution(sub_trace(0.6)).holds
    assert not checks.substitution(sub_trace(1.5)).holds
    x = checks.substitution(sub_trace(0.1, overtake=False))
    assert not x.holds and x.figure.startswith("w_gen > w_mem from step never;")


def norm_trace(end: float) -> Trace:
    return tr(5, norm=[1.0, 3.0, 10.0, 9.0, end])


def test_norm_falls_boundaries_and_text():
    x = checks.norm_falls(norm_trace(5.0))
    assert x.holds and x.figure == (
        "parameter norm 10.000 (peak, step 2) -> 5.000 (end) = 0.50 x peak, needed < 0.8"
    )
    assert not checks.norm_falls(norm_trace(8.0)).holds  # 0.8 x peak exactly
    assert checks.norm_falls(norm_trace(7.99)).holds
    assert checks.norm_falls(norm_trace(4.0)).holds
    assert not checks.norm_falls(norm_trace(9.5)).holds


def test_never_grows_boundaries_and_text():
    def t(g):
        return tr(3, w_gen=[0.0, g, 0.5], w_mem=[1.0, 10.0, 4.0])

    x = checks.never_grows(t(1.5))
    assert x.holds and x.figure == "max w_gen 1.500 = 0.150 x max w_mem 10.000, needed < 0.2"
    assert not checks.never_grows(t(2.0)).holds  # 0.2 x 10 exactly
    assert checks.never_grows(t(1.99)).holds
    assert not checks.never_grows(t(3.0)).holds


# ---------------------------------------------------------------------------------------------
# 2b, 2c


def test_stays_high_boundaries_and_text():
    def t(min_test, w_mem=(0.0, 1.0, 2.0, 3.0), wd=0.1):
        return tr(4, test=[5.0, min_test, 4.8, 5.0], w_mem=list(w_mem), w_gen=[0.0, 0.5, 0.5, 0.5], wd=wd)

    x = checks.test_stays_high(t(LOG113), CFG)
    assert x.holds and x.figure == (
        f"min test loss with L_wd (Appendix C) {LOG113:.4f}, cross-entropy alone {LOG113 - 0.1:.4f}, "
        f"vs chance log(113) = {LOG113:.4f}; w_mem > w_gen at every step: True"
    )
    assert checks.test_stays_high(t(LOG113 - 0.7e-9), CFG).holds  # within the 1e-9 slack
    assert checks.test_stays_high(t(LOG113 - 1e-9), CFG).holds  # at its edge
    assert not checks.test_stays_high(t(LOG113 - 1.5e-9), CFG).holds
    assert not checks.test_stays_high(t(4.0), CFG).holds
    x = checks.test_stays_high(t(5.0, w_mem=(0.0, 1.0, 0.5, 3.0)), CFG)  # tie at step 2
    assert not x.holds and x.figure.endswith("w_mem > w_gen at every step: False")
    assert not checks.test_stays_high(t(5.0, w_mem=(0.0, 0.4, 2.0, 3.0)), CFG).holds  # step 1
    assert checks.test_stays_high(t(5.0, w_mem=(-1.0, 1.0, 2.0, 3.0)), CFG).holds  # step 0 free
    # under the cross-entropy the minimum is 4.8 - 0.1 = 4.7 < 4.727 (fails) unless wd = 0
    assert not checks.test_stays_high(t(5.0), CFG, "xent").holds
    assert checks.test_stays_high(t(5.0), dataclasses.replace(CFG, n_labels=7), "xent").holds


def test_prioritised_boundaries_and_text():
    x = checks.prioritised(tr(4, w_gen=[0.0, 1.0, 2.0, 3.0], w_mem=[0.0, 0.5, 2.0, 1.0]))
    assert x.holds and x.figure == "min (w_gen - w_mem) = 0 at step 0, needed >= 0"
    x = checks.prioritised(tr(4, w_gen=[0.5, 1.0, 1.5, 3.0], w_mem=[0.0, 0.5, 2.0, 1.0]))
    assert not x.holds and x.figure == "min (w_gen - w_mem) = -0.5 at step 2, needed >= 0"
    assert checks.prioritised(tr(3, w_gen=[1.0, 1.0, 1.0], w_mem=[0.5, 0.25, 0.0])).holds


def similar_trace(n: int, at: dict[int, float], wd: float = 0.0) -> Trace:
    """Train loss 1 (+ wd); test loss 1.5 x train except ``at[t]`` x train at step t."""
    ratio = np.full(n, 1.5)
    for t, r in at.items():
        ratio[t] = r
    return tr(n, train=1.0 + wd, test=ratio * (1.0 + wd), wd=wd)


def test_similar_losses_boundaries_and_text():
    x = checks.similar_losses(similar_trace(1001, {10: 2.0, 3: 9.0}))
    assert x.holds  # exactly 2 at step 10 is allowed; step 3 is inside the skipped 1%
    assert x.figure == (
        "with L_wd (Appendix C): max test/train after step 10 = 2.00 at step 10, <= 2 from step 4 on, "
        "1.50 at the end (needed <= 2 after step 10); cross-entropy alone: 2.00 at step 10"
    )
    x = checks.similar_losses(similar_trace(1001, {10: 3.0, 500: 2.5}))
    assert not x.holds and "<= 2 from step 501 on, 1.50 at the end" in x.figure
    x = checks.similar_losses(similar_trace(1001, {1000: 2.5}))
    assert not x.holds
    assert "after step 10 = 2.50 at step 1000, > 2 to the last step, 2.50 at the end" in x.figure
    x = checks.similar_losses(similar_trace(1001, {500: 2.5, 1000: 2.5}))
    assert "> 2 to the last step" in x.figure
    x = checks.similar_losses(similar_trace(1001, {999: 2.5}))
    assert "<= 2 from step 1000 on" in x.figure
    x = checks.similar_losses(similar_trace(1001, {}))
    assert x.holds and ", <= 2 from step 0 on, " in x.figure
    assert checks.similar_losses(similar_trace(1001, {40: 3.9})).holds is False
    assert checks.similar_losses(similar_trace(1001, {40: 1.9})).holds is True
    # the text's "after step" follows the same max(1, ceil(0.01 (n - 1))) as the verdict
    assert "after step 1 = " in checks.similar_losses(similar_trace(101, {})).figure
    assert "after step 2 = " in checks.similar_losses(similar_trace(102, {})).figure
    assert "after step 1 = " in checks.similar_losses(similar_trace(3, {})).figure
    # the other definition's figure: with wd = 1 the cross-entropy ratio is the same 1.5 except
    # where test - wd differs: test 2 x 2 = 4 at step 20, xent (4 - 1) / (2 - 1) = 3
    x = checks.similar_losses(similar_trace(1001, {20: 2.0}, wd=1.0))
    assert x.holds and x.figure.endswith("cross-entropy alone: 3.00 at step 20")
    x = checks.similar_losses(similar_trace(1001, {20: 2.0}, wd=1.0), "xent")
    assert not x.holds and x.figure.startswith("cross-entropy alone: max test/train after step 10 = 3.00")


def delay_trace(delay: int | None, n: int = 3000) -> Trace:
    """Train loss below 1 from step 1, test loss from step 1 + delay (never if None)."""
    train = steps(n, {0: 4.0, 1: 0.5}, 0.0)
    test = np.full(n, 4.0) if delay is None else steps(n, {0: 4.0, 1 + delay: 0.5}, 0.0)
    return tr(n, train=train, test=test)


def test_no_delay_boundaries_and_text():
    x = checks.no_delay(delay_trace(200), 2000)
    assert x.holds and x.figure == (
        "with L_wd (Appendix C): test-loss delay 200 steps = 10.0% of 2a's 2000 (needed <= 10%)"
    )
    assert not checks.no_delay(delay_trace(201), 2000).holds
    assert checks.no_delay(delay_trace(150), 2000).holds
    assert not checks.no_delay(delay_trace(300), 2000).holds
    x = checks.no_delay(delay_trace(None), 2000)
    assert not x.holds and x.figure == (
        "with L_wd (Appendix C): test-loss delay never steps = - of 2a's 2000 (needed <= 10%)"
    )
    x = checks.no_delay(delay_trace(100), None)
    assert not x.holds and x.figure == (
        "with L_wd (Appendix C): test-loss delay 100 steps = - of 2a's never (needed <= 10%)"
    )
    x = checks.no_delay(delay_trace(0), 0)
    assert x.holds and "delay 0 steps = - of 2a's 0" in x.figure


# ---------------------------------------------------------------------------------------------
# caption_rows: each row gets its own panel and config


def test_caption_rows_wiring():
    a = grok_trace(10, 2600, n=3000)  # groks: delay 2599
    b = tr(5, test=9.0, w_mem=[0.0, 1.0, 2.0, 3.0, 4.0])
    c = delay_trace(100)  # delay 100 = 3.8% of 2599
    cfgs = {
        "2a": dataclasses.replace(CFG, n_labels=50),
        "2b": dataclasses.replace(CFG, n_labels=7),
        "2c": CFG,
    }
    rows = checks.caption_rows({"2a": a, "2b": b, "2c": c}, configs=cfgs)
    assert [r.name for r in rows] == [
        "grokking: test loss stays high while train loss is low, then falls late",
        "C_gen only starts to grow significantly by step 2500",
        "C_gen then substitutes for C_mem",
        "total parameter norm falls (C_gen is more efficient)",
        "C_gen never grows",
        "test loss stays high due to C_mem throughout training",
        "C_gen is prioritised at least as much as C_mem throughout training",
        "test loss is very similar to train loss throughout training",
        "no grokking when C_gen and C_mem are learned equally fast",
    ]
    assert "test > log(50)" in rows[0].figure and rows[0].holds
    assert "vs chance log(7)" in rows[5].figure and rows[5].holds
    assert rows[4].holds  # b's w_gen stays 0
    assert rows[8].holds and "delay 100 steps = 3.8% of 2a's 2599" in rows[8].figure
    assert [r.holds for r in rows] == [True, False, False, False, True, True, True, False, True]
    # default configs: Table 1's (log(113) throughout)
    rows = checks.caption_rows({"2a": a, "2b": b, "2c": c}, "xent")
    assert "log(113)" in rows[0].figure and rows[0].figure.startswith("cross-entropy alone")


# ---------------------------------------------------------------------------------------------
# rows that run gradient descent


def ref_onset(cfg, level: float = 0.1, steps_: int = 10_000) -> int | None:
    """First step with w_gen >= level, by a plain loop of gradient descent on Appendix C's loss:
    L = log(1 + (n-1) e^-(wg + wm)) + c (P_g^2 |wg|^(2/k) + P_m^2 |wm|^(2/k)), c = alpha (or
    alpha/2), dL/dw_c = -1/(1 + e^S/(n-1)) + c P_c^2 (2/k) sign(w)|w|^(2/k - 1) (0 at w = 0),
    and the chain rule through w_gen = g1 g2, w_mem = m1 m2."""
    g1, g2, m1, m2 = cfg.w_g1, cfg.w_g2, cfg.w_m1, cfg.w_m2
    c = cfg.alpha / 2 if cfg.wd_half else cfg.alpha
    e = 2 / cfg.kappa
    for t in range(1, steps_ + 1):
        wg, wm = g1 * g2, m1 * m2
        s = -1 / (1 + math.exp(wg + wm) / (cfg.n_labels - 1))
        dg = s + (c * cfg.P_g**2 * e * math.copysign(abs(wg) ** (e - 1), wg) if wg else 0.0)
        dm = s + (c * cfg.P_m**2 * e * math.copysign(abs(wm) ** (e - 1), wm) if wm else 0.0)
        g1, g2, m1, m2 = (
            g1 - cfg.lr * dg * g2,
            g2 - cfg.lr * dg * g1,
            m1 - cfg.lr * dm * m2,
            m2 - cfg.lr * dm * m1,
        )
        if g1 * g2 >= level:
            return t
    return None


def test_appendix_c_timing_against_a_plain_loop():
    a = ref_onset(PRESETS["2a"])
    half = ref_onset(dataclasses.replace(PRESETS["2a"], wd_half=True))
    assert 2000 <= a <= 3500 and half > 3500
    x = checks.appendix_c_timing()
    assert x.holds and x.figure == f"w_gen reaches 0.1 at step {a}; with Eq. 2's 1/2 at step {half}"


@pytest.mark.parametrize(
    "a, half, ok",
    [
        (2831, 5128, True),
        (2831, None, True),
        (2831, 3500, False),
        (2831, 3501, True),
        (1999, 5000, False),
        (2000, 5000, True),
        (3500, 5000, True),
        (3501, 5000, False),
        (None, 5000, False),
        (None, None, False),
        (2500, 2500, False),
    ],
)
def test_appendix_c_timing_logic(monkeypatch, a, half, ok):
    def fake_simulate(cfg):
        t = half if cfg.wd_half else a
        return onset_trace(t, n=6000)

    monkeypatch.setattr(checks, "simulate", fake_simulate)
    x = checks.appendix_c_timing()
    assert x.holds is ok
    assert x.figure == f"w_gen reaches 0.1 at step {a}; with Eq. 2's 1/2 at step {half}"


def fake_x(**kw) -> SimpleNamespace:
    base = dict(
        gd_ratio=8.0,
        theorem_ratio=8.0,
        weight_error=1e-10,
        holds=True,
        matches_optimum=True,
        theorem_w_gen=10.7,
        theorem_w_mem=0.0,
        theorem_loss=0.0358,
        gd_w_gen=1e-9,
        gd_w_mem=9.29,
        gd_loss=0.1293,
    )
    return SimpleNamespace(**{**base, **kw})


def patch_gd(monkeypatch, x, converged=True, steps_=12345, seen=None):
    def fake_converge(cfg):
        return SimpleNamespace(steps=steps_, converged=converged)

    def fake_cross(cfg, end):
        if seen is not None:
            seen.append(cfg)
        return x(cfg) if callable(x) else x

    monkeypatch.setattr(checks, "converge", fake_converge)
    monkeypatch.setattr(checks, "cross_check", fake_cross)


@pytest.mark.parametrize(
    "kw, ok, figure",
    [
        ({}, True, "8 after 12345 steps (theory 8); weight error 1.0e-10"),
        ({"matches_optimum": False}, False, None),
        ({"holds": False}, False, None),
        (
            {"gd_ratio": None, "theorem_ratio": None, "weight_error": 0.25},
            True,
            "- after 12345 steps (theory inf); weight error 2.5e-01",
        ),
        (
            {"gd_ratio": 0.1234567, "theorem_ratio": 0.125},
            True,
            "0.123457 after 12345 steps (theory 0.125); weight error 1.0e-10",
        ),
    ],
)
def test_converged_ratio_logic(monkeypatch, kw, ok, figure):
    patch_gd(monkeypatch, fake_x(**kw))
    x = checks.converged_ratio("2b", PRESETS["2b"])
    assert x.holds is ok and x.name == "converged w_gen/w_mem = Theorem D.4's optimum (2b)"
    assert x.source == "Theorem D.4"
    if figure is not None:
        assert x.figure == figure


@pytest.mark.parametrize(
    "holds, converged, ok", [(True, True, True), (True, False, False), (False, True, False)]
)
def test_basin_logic(monkeypatch, holds, converged, ok):
    patch_gd(monkeypatch, fake_x(holds=holds, matches_optimum=False), converged=converged)
    x = checks.basin(dataclasses.replace(CFG, kappa=3.0))
    assert x.holds is ok and x.name == "kappa = 3 >= q: global optimum vs gradient descent"
    assert x.figure == (
        "theorem: w_gen 10.7, w_mem 0 (loss 0.0358); GD from Table 1 (a): w_gen 1e-09, "
        "w_mem 9.29 (loss 0.1293); differ: True"
    )


def test_random_configs_ranges_and_seed():
    cfgs = checks.random_configs(3000)
    assert len(cfgs) == 3000
    for name, lo, hi in (("P_g", 0.5, 3.0), ("P_m", 0.5, 3.0), ("kappa", 0.4, 1.6)):
        v = [getattr(c, name) for c in cfgs]
        # uniform on [lo, hi): 3000 draws come within 1% of the range of both ends
        assert lo <= min(v) < lo + 0.01 * (hi - lo) and hi - 0.01 * (hi - lo) < max(v) < hi
    assert all(c.w_g2 == 1.0 and c.w_m2 == 1.0 and c.alpha == 0.005 for c in cfgs)  # 2c's init
    assert len({c.P_g for c in cfgs}) == 3000 and {c.P_g for c in cfgs} != {c.P_m for c in cfgs}
    assert checks.random_configs(4) == checks.random_configs(4, seed=0)
    assert checks.random_configs(4, seed=1) != checks.random_configs(4, seed=0)


def test_checks_quick_is_the_default():
    assert inspect.signature(checks.checks).parameters["quick"].default is True


def test_checks_rows_with_fakes(monkeypatch):
    """The full list (quick=False): 9 caption rows, timing, 3 converged ratios, the kappa = 2.5
    basin and one row over 30 random configs, with the worst weight error among them."""
    traces = {
        "2a": grok_trace(10, 2600, n=3000),
        "2b": tr(5, test=9.0, w_mem=[0.0, 1.0, 2.0, 3.0, 4.0]),
        "2c": delay_trace(100),
    }

    def fake_simulate(cfg):
        if cfg.wd_half:
            return onset_trace(None)
        return next(traces[p] for p, c in PRESETS.items() if c == cfg)

    monkeypatch.setattr(checks, "simulate", fake_simulate)
    seen: list = []
    errors = {}

    def x_of(cfg):
        err = errors.setdefault(cfg, 1e-3 * (1 + len(errors) % 7))
        return fake_x(weight_error=err, holds=cfg.P_g != 2.0)

    patch_gd(monkeypatch, x_of, seen=seen)
    rows = list(checks.checks(quick=False))
    assert len(rows) == 15 and rows[9].source == "Appendix C"
    assert [r.name for r in rows[10:13]] == [
        f"converged w_gen/w_mem = Theorem D.4's optimum ({p})" for p in ("2a", "2b", "2c")
    ]
    assert rows[13].name == "kappa = 2.5 >= q: global optimum vs gradient descent"
    random = seen[4:]
    assert seen[3] == dataclasses.replace(CFG, kappa=2.5) and len(random) == 30
    worst = max(errors[c] for c in random)
    assert worst == pytest.approx(7e-3)
    assert rows[14].figure == f"30 configs, worst weight error {worst:.1e}" and rows[14].holds
    # one config whose cross-check fails fails the row
    monkeypatch.setattr(checks, "random_configs", lambda n: [dataclasses.replace(CFG, P_g=2.0)] * n)
    rows = list(checks.checks(quick=False))
    assert not rows[14].holds
    assert len(list(checks.checks(quick=True))) == 14
