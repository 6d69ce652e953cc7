"""The toy model's closed forms and gradients: against a plain softmax, sympy and finite differences."""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from grokcheck.errors import InputError
from grokcheck.sim import model
from grokcheck.sim.model import PRESETS, SimConfig

finite = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)
kappas = st.sampled_from([0.5, 0.9, 1.2, 1.7, 2.0, 2.5, 4.0])
norms = st.floats(min_value=0.2, max_value=5.0, allow_nan=False, allow_infinity=False)


@st.composite
def configs(draw):
    return SimConfig(
        P_g=draw(norms),
        P_m=draw(norms),
        kappa=draw(kappas),
        alpha=draw(st.sampled_from([0.0, 0.005, 0.1])),
        n_labels=draw(st.sampled_from([2, 3, 113])),
    )


def softmax_xent(logits: np.ndarray, label: int) -> float:
    """Plain cross-entropy of one example, straight from the definition."""
    z = logits - logits.max()
    return float(-(z[label] - np.log(np.exp(z).sum())))


def lookup_logits(w_gen: float, w_mem: float, n: int, *, test: bool) -> np.ndarray:
    """Eqs. 3-5 for one input with correct label 0; on a test input C_mem votes for label 1."""
    o_g = np.zeros(n)
    o_g[0] = 1.0
    o_m = np.zeros(n)
    o_m[1 if test else 0] = 1.0
    return w_gen * o_g + w_mem * o_m


# ---------------------------------------------------------------------------------------------
# Config


def test_presets_are_table_1():
    a, b, c = PRESETS["2a"], PRESETS["2b"], PRESETS["2c"]
    for cfg in (a, b, c):
        assert (cfg.P_m, cfg.kappa, cfg.alpha, cfg.w_g1, cfg.w_m1, cfg.w_m2) == (2, 1.2, 0.005, 0, 0, 1)
        assert (cfg.n_labels, cfg.lr, cfg.steps, cfg.wd_half) == (113, 0.01, 10_000, False)
    assert (a.P_g, a.w_g2) == (1, 0.005)
    assert (b.P_g, b.w_g2) == (4, 0.005)
    assert (c.P_g, c.w_g2) == (1, 1)


@pytest.mark.parametrize(
    "field, value, flag",
    [
        ("kappa", 0.0, "--kappa"),
        ("kappa", -1.0, "--kappa"),
        ("P_g", 0.0, "--p-g"),
        ("P_m", -2.0, "--p-m"),
        ("lr", 0.0, "--lr"),
        ("alpha", -0.1, "--alpha"),
        ("steps", 0, "--steps"),
        ("steps", -5, "--steps"),
        ("n_labels", 1, "--n-labels"),
        ("w_g2", float("nan"), "--w-g2"),
        ("kappa", "abc", "--kappa"),
        ("kappa", float("inf"), "--kappa"),
        ("steps", 2.5, "--steps"),
    ],
)
def test_bad_values_name_the_flag(field, value, flag):
    with pytest.raises(InputError) as e:
        dataclasses.replace(SimConfig(), **{field: value})
    assert e.value.flag == flag
    assert str(e.value).startswith(flag + ":")


@pytest.mark.parametrize(
    "field, value",
    [
        ("kappa", 1e308),
        ("kappa", 1e-308),
        ("kappa", 10.000001),
        ("kappa", 0.0999),
        ("alpha", 1e308),
        ("alpha", 1e-308 - 1),
        ("P_g", 1e308),
        ("P_m", 1e-308),
        ("lr", 1e308),
        ("lr", 1e-308),
        ("w_g1", 1e308),
        ("w_m2", -1e308),
        ("w_g2", 100.5),
        ("n_labels", 10**9 + 1),
        ("n_labels", 10**400),
        ("steps", 10**30),
        ("steps", 1_000_001),
        ("kappa", 10**400),
        ("alpha", 1e-9),
        ("n_labels", 1001),
    ],
)
def test_extreme_values_are_refused_with_the_range(field, value):
    """Values the arithmetic cannot handle are refused, naming flag and range."""
    with pytest.raises(InputError) as e:
        dataclasses.replace(SimConfig(), **{field: value})
    lo, hi = model.RANGES[field]
    assert str(e.value).startswith(model.flag(field) + ": must be")
    assert f"in {model.range_text(field).split(' or ')[-1]}" in str(e.value) and "\n" not in str(e.value)
    assert model.range_text(field).endswith(f"{model._num(hi)}]") and lo < hi


def test_range_ends_are_allowed():
    for field, (lo, hi) in model.RANGES.items():
        for v in (lo, hi):
            assert getattr(dataclasses.replace(SimConfig(), **{field: v}), field) == v
    assert SimConfig(alpha=model.ALPHA_MIN).alpha == model.ALPHA_MIN


def test_huge_integers_are_shown_short():
    with pytest.raises(InputError, match=r"--n-labels: must be an integer in \[2, 1000\], got an integer of"):
        SimConfig(n_labels=10**400)


def test_range_text():
    assert model.range_text("steps") == "[1, 1e6]" and model.range_text("lr") == "[1e-6, 10]"
    assert model.range_text("alpha") == "0 or [1e-8, 10]"


def test_wd_half_halves_the_coefficient():
    assert SimConfig(wd_half=True).wd_coef == pytest.approx(SimConfig().wd_coef / 2)


# ---------------------------------------------------------------------------------------------
# Losses


@given(w_gen=st.floats(-20, 40), w_mem=st.floats(-20, 40), n=st.sampled_from([2, 3, 10, 113]))
def test_losses_are_the_softmax_cross_entropy(w_gen, w_mem, n):
    """Appendix C's closed forms equal the cross-entropy of the lookup-table logits."""
    train = softmax_xent(lookup_logits(w_gen, w_mem, n, test=False), 0)
    test = softmax_xent(lookup_logits(w_gen, w_mem, n, test=True), 0)
    assert model.xent_train(w_gen, w_mem, n) == pytest.approx(train, rel=1e-9, abs=1e-12)
    assert model.xent_test(w_gen, w_mem, n) == pytest.approx(test, rel=1e-9, abs=1e-12)


def test_losses_at_initialisation_are_chance():
    assert model.xent_train(0.0, 0.0, 113) == pytest.approx(math.log(113), rel=1e-15)
    assert model.xent_test(0.0, 0.0, 113) == pytest.approx(math.log(113), rel=1e-15)


def test_large_weights_keep_precision():
    """No overflow at large logits, and tiny losses keep their relative precision."""
    assert model.xent_train(400.0, 400.0, 113) == pytest.approx(112 * math.exp(-800), rel=1e-12)
    assert model.xent_test(800.0, 0.0, 113) == pytest.approx(112 * math.exp(-800), rel=1e-12)
    assert model.xent_test(0.0, 800.0, 113) == pytest.approx(800.0, rel=1e-12)


@given(w_gen=finite, w_mem=finite, cfg=configs())
def test_param_norms_and_weight_decay(w_gen, w_mem, cfg):
    """P'_c = |w_c|^(1/kappa) P_c and L_wd = alpha (P'_g^2 + P'_m^2), even in each weight."""
    pg, pm = model.param_norms(w_gen, w_mem, cfg)
    assert pg == pytest.approx(abs(w_gen) ** (1 / cfg.kappa) * cfg.P_g, rel=1e-14)
    assert pm == pytest.approx(abs(w_mem) ** (1 / cfg.kappa) * cfg.P_m, rel=1e-14)
    e = 2 / cfg.kappa
    direct = cfg.alpha * (cfg.P_g**2 * abs(w_gen) ** e + cfg.P_m**2 * abs(w_mem) ** e)
    assert model.wd_loss(w_gen, w_mem, cfg) == pytest.approx(direct, rel=1e-12, abs=1e-300)
    assert model.wd_loss(-w_gen, -w_mem, cfg) == model.wd_loss(w_gen, w_mem, cfg)


# ---------------------------------------------------------------------------------------------
# Gradients


@lru_cache(maxsize=1)
def sympy_gradient():
    """Appendix C's loss written out in sympy, differentiated once; evaluated in 30 digits."""
    import sympy as sp

    g1, g2, m1, m2 = sp.symbols("g1 g2 m1 m2", real=True)
    kappa, P_g, P_m, coef, n = sp.symbols("kappa P_g P_m coef n", positive=True)
    S = g1 * g2 + m1 * m2
    xent = -sp.log(sp.exp(S) / ((n - 1) + sp.exp(S)))
    wd = coef * ((sp.Abs(g1 * g2) ** (1 / kappa) * P_g) ** 2 + (sp.Abs(m1 * m2) ** (1 / kappa) * P_m) ** 2)
    args = (g1, g2, m1, m2, kappa, P_g, P_m, coef, n)
    return [sp.lambdify(args, sp.diff(xent + wd, v), modules="mpmath") for v in (g1, g2, m1, m2)]


def sympy_subweight_grad(sub, cfg):
    import mpmath

    with mpmath.workdps(30):
        args = [mpmath.mpf(x) for x in (*sub, cfg.kappa, cfg.P_g, cfg.P_m, cfg.wd_coef, cfg.n_labels)]
        return [float(f(*args)) for f in sympy_gradient()]


def central_diff(sub, cfg, h=1e-6):
    def L(s):
        return model.loss(s[0] * s[1], s[2] * s[3], cfg)

    out = []
    for i in range(4):
        up, dn = list(sub), list(sub)
        up[i] += h
        dn[i] -= h
        out.append((L(up) - L(dn)) / (2 * h))
    return out


def away_from_zero(x: float) -> float:
    return math.copysign(max(abs(x), 0.05), x if x != 0 else 1.0)


@given(sub=st.tuples(finite, finite, finite, finite), cfg=configs())
@example(sub=(0.3, -0.7, -1.1, 0.9), cfg=SimConfig(kappa=2.5))
@example(sub=(0.3, 0.01, 2.0, 1.0), cfg=SimConfig())
def test_gradient_matches_sympy(sub, cfg):
    """Closed-form gradient = sympy's derivative at random states, both signs of every weight."""
    sub = tuple(away_from_zero(x) for x in sub)  # |w|^(2/kappa) is smooth away from w = 0
    expected = sympy_subweight_grad(sub, cfg)
    got = model.subweight_grad(sub, cfg)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


@given(sub=st.tuples(finite, finite, finite, finite), cfg=configs())
def test_gradient_matches_finite_differences(sub, cfg):
    sub = tuple(away_from_zero(x) for x in sub)
    # a central difference with step h carries rounding error ~ eps * |L| / h ~ 2e-10 |L|
    loss = abs(model.loss(sub[0] * sub[1], sub[2] * sub[3], cfg))
    atol = 1e-7 + 1e-8 * loss
    np.testing.assert_allclose(model.subweight_grad(sub, cfg), central_diff(sub, cfg), rtol=1e-5, atol=atol)


def test_finite_differences_catch_a_wrong_gradient():
    """Negative test: a gradient missing the 2/kappa factor of d|w|^(2/kappa)/dw is caught."""
    cfg = SimConfig(kappa=1.2, alpha=0.1)
    sub = (0.8, 1.3, -0.6, 1.1)

    def wrong(sub):
        g1, g2, m1, m2 = sub
        s = model.xent_slope(g1 * g2 + m1 * m2, math.log(cfg.n_labels - 1))
        dg = s + model.wd_slope(g1 * g2, cfg.wd_coef * cfg.P_g**2, 2 / cfg.kappa) * cfg.kappa / 2
        dm = s + model.wd_slope(m1 * m2, cfg.wd_coef * cfg.P_m**2, 2 / cfg.kappa) * cfg.kappa / 2
        return (dg * g2, dg * g1, dm * m2, dm * m1)

    fd = central_diff(sub, cfg)
    np.testing.assert_allclose(model.subweight_grad(sub, cfg), fd, rtol=1e-6)
    assert not np.allclose(wrong(sub), fd, rtol=1e-3)


@pytest.mark.parametrize("kappa", [0.5, 1.2, 1.99, 2.0, 2.5, 4.0])
def test_gradient_at_zero_weight_is_finite_subgradient(kappa):
    """At w = 0 the weight-decay slope is the subgradient 0, for every kappa (finite, no error)."""
    cfg = SimConfig(kappa=kappa)
    assert model.wd_slope(0.0, 1.0, 2 / kappa) == 0.0
    assert model.wd_slope(-0.0, 1.0, 2 / kappa) == 0.0
    grad = model.subweight_grad(cfg.subweights, cfg)  # Table 1: w_g1 = w_m1 = 0
    assert all(math.isfinite(g) for g in grad)
    # only the cross-entropy acts: dL/dw_g1 = w_g2 * dL_train/dS at S = 0, i.e. -w_g2 (n-1)/n
    assert grad[0] == pytest.approx(-cfg.w_g2 * 112 / 113, rel=1e-14)
    assert grad[1] == 0.0 and grad[3] == 0.0


@pytest.mark.parametrize("kappa", [0.5, 1.2, 1.9])
def test_subgradient_zero_is_the_limit_for_kappa_below_two(kappa):
    """For kappa < 2 the slope alpha P^2 (2/kappa) |w|^(2/kappa-1) -> 0 as w -> 0: no jump at 0."""
    slopes = [model.wd_slope(w, 1.0, 2 / kappa) for w in (1e-4, 1e-8, 1e-12)]
    assert slopes[0] > slopes[1] > slopes[2] > 0
    assert slopes[2] < 1e-12 ** (2 / kappa - 1) * 2 / kappa * 1.0001


def test_weight_decay_slope_is_odd():
    for kappa in (0.7, 1.2, 3.0):
        for w in (0.3, 2.0):
            assert model.wd_slope(-w, 0.7, 2 / kappa) == -model.wd_slope(w, 0.7, 2 / kappa)


@given(sub=st.tuples(finite, finite, finite, finite), cfg=configs())
def test_small_step_lowers_the_loss(sub, cfg):
    """A gradient step with a small learning rate lowers cross-entropy + L_wd (descent direction)."""
    sub = tuple(away_from_zero(x) for x in sub)
    grad = model.subweight_grad(sub, cfg)
    gnorm2 = sum(g * g for g in grad)
    before = model.loss(sub[0] * sub[1], sub[2] * sub[3], cfg)
    assume(1e-6 * gnorm2 > 1e-10 * max(1.0, before))  # a decrease that rounding cannot hide
    new = model.gd_step(sub, dataclasses.replace(cfg, lr=1e-6))
    after = model.loss(new[0] * new[1], new[2] * new[3], cfg)
    assert after < before
    # first order: the decrease is ~ lr |grad|^2
    assert before - after == pytest.approx(1e-6 * gnorm2, rel=1e-2)
