"""Theorem D.4's checker against figures computed here by hand (closed forms, bisection).

Covers what the first tests left untested: ties (case 1 at kappa = q and kappa > q, case 2),
the numeric optimum's safety nets (Newton polishing near kappa = q, the 1-D search's edges and
fallback), the reported error figures, and the input limits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import grokcheck.theory.d4 as d4
from grokcheck.errors import InputError
from grokcheck.theory.d4 import D4Config, check_d4
from grokcheck.theory.xent import one_hot_circuits


def _g(S: float, n: int) -> float:
    """-dL_train/dS for L_train(S) = log(1 + (n-1) e^-S)."""
    return (n - 1) * math.exp(-S) / (1 + (n - 1) * math.exp(-S))


def _bisect(h, lo: float, hi: float) -> float:
    """Root of an increasing h on [lo, hi] by bisection in log space (independent of scipy)."""
    for _ in range(400):
        mid = math.sqrt(lo * hi)
        if h(mid) > 0:
            hi = mid
        else:
            lo = mid
    return math.sqrt(lo * hi)


def case2_by_hand(kappa, q, alpha, n, norms):
    """w_i = c (P_i/P_min)^(-q kappa/(q - kappa)); c from circuit P_min's stationarity."""
    e = -q * kappa / (q - kappa)
    pmin = min(norms)
    v = [(p / pmin) ** e for p in norms]
    r = q / kappa
    c = _bisect(lambda c: alpha / kappa * pmin**q * c ** (r - 1) - _g(c * sum(v), n), 1e-12, 1e6)
    return [c * x for x in v]


def case1_kappa_eq_q(alpha, q, n, pmin):
    """kappa = q: (n-1) e^-S / (1 + (n-1) e^-S) = alpha P^q / q, so S = ln((n-1)(1-c)/c)."""
    c = alpha * pmin**q / q
    return math.log((n - 1) * (1 - c) / c)


def test_table1_weights_by_hand():
    r = check_d4(D4Config())
    want = case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 2.0))
    np.testing.assert_allclose(r.predicted_weights, want, rtol=1e-10)
    np.testing.assert_allclose(r.numeric_weights, want, rtol=1e-6)
    assert r.exponent_exact == "-3" and r.exponent == -3.0
    assert r.tied == () and r.note == "" and r.assumption_holds and r.tolerance == 1e-4
    S = sum(want)
    by_hand = math.log(1 + 112 * math.exp(-S)) + 0.005 / 2 * sum(
        (w ** (1 / 1.2) * p) ** 2 for w, p in zip(want, (1, 2), strict=True)
    )
    assert r.predicted_loss == pytest.approx(by_hand, rel=1e-12)
    assert r.numeric_loss == pytest.approx(by_hand, rel=1e-10)
    assert r.max_rel_error < 1e-6


@pytest.mark.parametrize(
    "kappa, q, norms", [(0.5, 1.0, (1.0, 3.0, 2.0)), (2.5, 3.0, (2.0, 1.5)), (0.3, 0.5, (1.0,))]
)
def test_case2_by_hand(kappa, q, norms):
    r = check_d4(D4Config(kappa=kappa, q=q, norms=norms, alpha=0.02, n_labels=7))
    want = case2_by_hand(kappa, q, 0.02, 7, norms)
    np.testing.assert_allclose(r.predicted_weights, want, rtol=1e-9)
    np.testing.assert_allclose(r.numeric_weights, want, rtol=1e-5)
    assert r.holds and r.case == 2


def test_case2_tie_splits_equally_and_needs_newton_polish(monkeypatch):
    """kappa just below q with two tied norms: equal split, which L-BFGS-B alone misses."""
    cfg = D4Config(kappa=0.9999, q=1.0, norms=(1.0, 1.0, 2.0))
    want = case2_by_hand(0.9999, 1.0, 0.005, 113, (1.0, 1.0, 2.0))
    r = check_d4(cfg)
    assert r.case == 2 and r.holds and r.tied == (0, 1) and r.note == ""
    np.testing.assert_allclose(r.predicted_weights, want, rtol=1e-8, atol=1e-300)
    assert r.numeric_weights[0] == pytest.approx(want[0], rel=1e-4)
    assert r.numeric_weights[1] == pytest.approx(want[1], rel=1e-4)
    monkeypatch.setattr(d4, "_newton_polish", lambda w, *a: w)
    assert not check_d4(cfg).holds  # the polish is what makes it hold


def test_case1_kappa_equals_q_tie_any_split():
    cfg = D4Config(kappa=2.0, q=2.0, norms=(1.0, 1.0, 2.0))
    r = check_d4(cfg)
    S = case1_kappa_eq_q(0.005, 2.0, 113, 1.0)
    assert r.case == 1 and r.exponent is None and r.exponent_exact is None
    assert r.tied == (0, 1) and "any split" in r.note
    # a minimum located by function values: ~sqrt(machine eps) relative precision
    assert r.predicted_weights == pytest.approx((S, 0.0, 0.0), rel=1e-7)
    assert r.numeric_weights[0] + r.numeric_weights[1] == pytest.approx(S, rel=1e-6)
    assert r.numeric_weights[2] < 1e-9 * S
    assert r.holds


def test_case1_kappa_above_q_tie_any_one():
    r = check_d4(D4Config(kappa=4.0, q=2.0, norms=(2.0, 1.0, 1.0)))
    assert r.tied == (1, 2) and "any one of them" in r.note and r.holds
    assert r.predicted_weights[0] == 0.0 and r.predicted_weights[2] == 0.0 and r.predicted_weights[1] > 0
    # by hand: S solves 112 e^-S/(1+112 e^-S) = alpha/kappa * S^(q/kappa - 1) (P = 1), if > 0 beats 0
    S = r.predicted_weights[1]
    assert _g(S, 113) == pytest.approx(0.005 / 4.0 * S ** (0.5 - 1), rel=1e-6)


def test_case1_single_min_no_note():
    r = check_d4(D4Config(kappa=2.0, q=2.0, norms=(3.0, 1.0)))
    assert r.tied == () and r.note == ""
    assert r.predicted_weights[1] == pytest.approx(case1_kappa_eq_q(0.005, 2.0, 113, 1.0), rel=1e-7)


def test_near_ties_are_not_ties():
    """Norms 1 and 1 + 1e-6 differ by more than TIE_RTOL = 1e-9: no tie; 1 + 1e-12 is a tie."""
    w, tied, _ = d4.predicted_weights(D4Config(kappa=3.0, norms=(1.0, 1.0 + 1e-6)))
    assert tied == (0,) and w[1] == 0.0
    _, tied, _ = d4.predicted_weights(D4Config(kappa=3.0, norms=(1.0 + 1e-12, 1.0)))
    assert tied == (0, 1)


def test_error_figures_by_hand():
    assert d4.max_rel_error(np.array([1.0, 0.0]), np.array([0.9, 0.1])) == pytest.approx(0.1)
    assert d4.max_rel_error(np.array([2.0, 1.0]), np.array([4.0, 1.0])) == pytest.approx(0.5)  # / max(|num|)
    assert d4.max_rel_error(np.array([-3.0]), np.array([-1.0])) == pytest.approx(2 / 3)
    assert d4.max_rel_error(np.zeros(2), np.zeros(2)) == 0.0
    np.testing.assert_array_equal(d4._grouped(np.array([1.0, 5.0, 2.0, 3.0]), (0, 2)), [3.0, 5.0, 3.0])


def test_wrong_exponent_error_by_hand():
    """exponent -2 instead of -3 at Table 1: the error is |pred - num| / max weight, computed here."""
    r = check_d4(D4Config(), exponent=-2.0)
    true = np.array(case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 2.0)))
    # the wrong prediction: w = c v with v = (1, 1/4); c solves d/dc Eq.6(c v) = 0, i.e.
    # -sum(v) g(c sum(v)) + alpha/kappa sum_i P_i^q v_i^r c^(r-1) = 0 with r = q/kappa
    rr = 2 / 1.2
    c = _bisect(
        lambda c: -1.25 * _g(1.25 * c, 113) + 0.005 / 1.2 * (1.0 + 4.0 * 0.25**rr) * c ** (rr - 1),
        1e-9,
        1e4,
    )
    wrong = np.array([c, c / 4])
    np.testing.assert_allclose(r.predicted_weights, wrong, rtol=1e-8)
    want = np.max(np.abs(wrong - true)) / max(wrong.max(), true.max())
    assert r.max_rel_error == pytest.approx(want, rel=1e-4) and not r.holds
    assert r.exponent == -2.0 and r.exponent_exact is None


def test_overridden_exponent_in_case1_uses_global_search():
    """kappa > q with an exponent given: r = q/kappa < 1, the 1-D loss in c is searched globally."""
    w, tied, note = d4.predicted_weights(D4Config(kappa=4.0, q=2.0, norms=(1.0, 2.0)), exponent=-1.0)
    assert w[0] > 0 and w[1] == pytest.approx(w[0] / 2, rel=1e-12) and note == ""
    # by hand: c minimises log(1 + 112 e^(-1.5 c)) + alpha/q ((c^(1/4) 1)^2 + ((c/2)^(1/4) 2)^2)
    cs = np.geomspace(1e-3, 1e4, 200001)
    loss = np.logaddexp(0, math.log(112) - 1.5 * cs) + 0.005 / 2 * (np.sqrt(cs) + np.sqrt(cs / 2) * 4)
    assert w[0] == pytest.approx(cs[np.argmin(loss)], rel=1e-3)


def test_global_min_1d_edges():
    assert d4._global_min_1d(lambda x: (x - 3.0) ** 2, 10.0) == pytest.approx(3.0, rel=1e-9)
    assert d4._global_min_1d(lambda x: x, 10.0) == 0.0  # minimum at 0
    assert d4._global_min_1d(lambda x: -x, 5.0) == pytest.approx(5.0, rel=1e-9)  # at the bound

    # a two-well function: the deeper well at 1000 is found, not the near one at 0.01
    def f(x):
        lx = np.log(x + 1e-300)
        return -np.exp(-((lx - np.log(0.01)) ** 2)) - 2 * np.exp(-((lx - np.log(1000.0)) ** 2))

    assert d4._global_min_1d(f, 1e6) == pytest.approx(1000.0, rel=1e-6)


def test_global_min_1d_keeps_the_grid_point_when_brent_is_worse():
    """A minimum only at one grid point: Brent finds nothing lower, so the grid point is kept."""
    hi = 1.0
    grid = np.geomspace(1e-8, hi, 100 * 8 + 1)
    g = grid[400]
    assert d4._global_min_1d(lambda x: np.where(x == g, -1.0, 0.0), hi) == g


def test_small_bound_grid():
    """hi below 1e-4: the grid starts at hi * 1e-12, so a minimum at hi/1e6 is still resolved."""
    hi = 1e-6
    target = 1e-12
    got = d4._global_min_1d(lambda x: (np.log(x + 1e-300) - math.log(target)) ** 2, hi)
    assert got == pytest.approx(target, rel=1e-6)


def test_weight_bound_by_hand():
    cfg = D4Config(kappa=1.2, q=2.0, alpha=0.005, n_labels=113)
    want = (2 * math.log(113) / (0.005 * 4.0)) ** 0.6
    assert d4.weight_bound(2.0, cfg) == pytest.approx(want, rel=1e-13)
    assert d4.log10_weight_bound(2.0, cfg) == pytest.approx(math.log10(want), rel=1e-12)
    # the bound is a bound: at it the decay term alone equals L(0) = log(n_labels)
    assert 0.005 / 2 * (want ** (1 / 1.2) * 2.0) ** 2 == pytest.approx(math.log(113), rel=1e-12)


def test_l_train_and_slope_by_hand():
    for S, n in ((0.0, 2), (3.0, 113), (50.0, 5)):
        assert d4.l_train(S, n) == pytest.approx(math.log(1 + (n - 1) * math.exp(-S)), rel=1e-13)
        assert d4._l_train_slope(S, n) == pytest.approx(-_g(S, n), rel=1e-13)
    assert d4._l_train_slope(1e6, 3) == pytest.approx(-math.exp(-700.0), rel=1e-9)  # capped, no overflow


def test_theorem_case_boundary():
    assert (
        d4.theorem_case(2.0, 2.0) == 1
        and d4.theorem_case(1.999, 2.0) == 2
        and d4.theorem_case(2.001, 2.0) == 1
    )


def test_eq6_loss_and_gradient_by_hand():
    cfg = D4Config(kappa=1.0, q=2.0, alpha=0.1, norms=(1.0, 2.0), n_labels=5)
    O, lab = one_hot_circuits(2, 5)
    w = np.array([1.0, 2.0])
    want = math.log(1 + 4 * math.exp(-3.0)) + 0.1 / 2 * ((1 * 1) ** 2 + (2 * 2) ** 2)
    assert d4.eq6_loss(w, cfg, O, lab) == pytest.approx(want, rel=1e-13)
    assert d4.eq6_loss(np.array([-1e-300, 2.0]), cfg, O, lab) == pytest.approx(
        d4.eq6_loss(np.array([0, 2.0]), cfg, O, lab)
    )
    g = d4._eq6_grad(w, cfg, O, lab)
    np.testing.assert_allclose(g, [-_g(3.0, 5) + 0.1 * 1 * 1, -_g(3.0, 5) + 0.1 * 4 * 2], rtol=1e-12)
    # r = q/kappa < 1: infinite marginal cost at w = 0, capped at 1e300; r > 1: zero there
    c1 = D4Config(kappa=4.0, q=2.0, norms=(1.0, 2.0), n_labels=5)
    g0 = d4._eq6_grad(np.array([0.0, 1.0]), c1, O, lab)
    assert g0[0] == pytest.approx(1e300) and np.isfinite(g0[1])
    c2 = D4Config(kappa=1.0, q=2.0, norms=(1.0, 2.0), n_labels=5)
    assert d4._eq6_grad(np.array([0.0, 0.0]), c2, O, lab)[0] == pytest.approx(-_g(0.0, 5), rel=1e-12)


def test_newton_polish_reaches_the_stationary_point():
    """From a point 10% off, Newton lands on the hand-computed optimum; it never raises the loss."""
    cfg = D4Config(kappa=1.2, q=2.0, norms=(1.0, 2.0))
    O, lab = one_hot_circuits(2, 113)
    want = np.array(case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 2.0)))
    got = d4._newton_polish(want * np.array([1.1, 0.9]), cfg, O, lab)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert d4._newton_polish(np.zeros(2), cfg, O, lab).tolist() == [0.0, 0.0]  # nothing free
    start = want * 3
    assert d4.eq6_loss(d4._newton_polish(start, cfg, O, lab), cfg, O, lab) <= d4.eq6_loss(start, cfg, O, lab)


def test_numeric_optimum_alone_by_hand():
    """The numeric optimum, without the prediction, for case 1 at kappa = q and case 2."""
    S = case1_kappa_eq_q(0.005, 2.0, 113, 1.5)
    w = d4.numeric_optimum(D4Config(kappa=2.0, q=2.0, norms=(3.0, 1.5)))
    assert w[1] == pytest.approx(S, rel=1e-6) and w[0] < 1e-9 * S
    w2 = d4.numeric_optimum(D4Config(kappa=1.0, q=2.0, norms=(1.0, 2.0, 4.0)))
    np.testing.assert_allclose(
        w2, case2_by_hand(1.0, 2.0, 0.005, 113, (1.0, 2.0, 4.0)), rtol=1e-6, atol=1e-12
    )


def test_single_circuit_both_cases():
    for kappa in (1.0, 2.0):
        r = check_d4(D4Config(kappa=kappa, q=2.0, norms=(1.5,)))
        assert r.holds and len(r.numeric_weights) == 1


@pytest.mark.parametrize(
    "kwargs, name, fragment",
    [
        ({"kappa": 0.0099}, "kappa", "[0.01, 100]"),
        ({"kappa": 100.01}, "kappa", "[0.01, 100]"),
        ({"q": 0.099}, "q", "[0.1, 10]"),
        ({"q": 10.01}, "q", "[0.1, 10]"),
        ({"alpha": 0.99e-8}, "alpha", "[1e-08, 10000]"),
        ({"alpha": 10001.0}, "alpha", "[1e-08, 10000]"),
        ({"norms": (0.00099,)}, "norms", "[0.001, 1000]"),
        ({"norms": (1000.01,)}, "norms", "[0.001, 1000]"),
        ({"norms": (1.0,) * 65}, "norms", "1 to 64"),
        ({"norms": "1,2"}, "norms", "sequence"),
        ({"norms": 3.0}, "norms", "sequence"),
        ({"n_labels": 1001}, "n_labels", "[2, 1000]"),
        ({"n_labels": True}, "n_labels", "[2, 1000]"),
        ({"kappa": 100.0, "q": 0.1}, "kappa", "weight bound"),
        ({"kappa": 100.0, "q": 1.0, "alpha": 1e4, "norms": (1000.0,)}, "kappa", "weight bound"),
    ],
)
def test_config_ranges(kwargs, name, fragment):
    with pytest.raises(InputError) as e:
        D4Config(**kwargs)
    assert e.value.name == name and fragment in str(e.value)


def test_config_range_edges_accepted():
    D4Config(kappa=0.01, q=0.1)
    D4Config(kappa=100.0, q=10.0, alpha=1.0)
    D4Config(norms=(0.001,) + (1000.0,) * 63, q=0.1, kappa=0.05)
    D4Config(n_labels=2)
    D4Config(n_labels=1000)
    D4Config(alpha=1e-8)


def test_log_bound_edges():
    """Joint limit: a bound of 1e29.9 accepted, 1e30.1 refused, 1e-463 refused."""
    # kappa = q: bound = q ln n / (alpha P^q) with P = 1, q = 2, n = 113
    # kappa = 20, q = 2, P = 1: log10 bound = 10 log10(2 ln 113 / alpha)
    with pytest.raises(InputError, match="weight bound"):
        D4Config(kappa=20.0, q=2.0, alpha=2 * math.log(113) / 10**3.01, norms=(1.0,))  # 10^(10*3.01)
    D4Config(kappa=20.0, q=2.0, alpha=2 * math.log(113) / 10**2.99, norms=(1.0,))
    with pytest.raises(InputError, match="weight bound"):
        D4Config(kappa=100.0, q=1.0, alpha=1e4, norms=(2.0,))  # 100 * log10(ln(113)/(1e4 * 2)) = -463


def test_predicted_optimum_range_is_checked_before_the_numeric_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("numeric optimum must not run")

    monkeypatch.setattr(d4, "numeric_optimum", boom)
    with pytest.raises(InputError, match="predicted largest weight"):
        check_d4(D4Config(alpha=1e4, norms=(1000.0,)))  # w ~ 1e-15


def test_train_logits_shape_is_checked():
    with pytest.raises(InputError, match="train-logits: has 3 circuits but norms has 2"):
        check_d4(D4Config(norms=(1.0, 2.0)), train_logits=np.zeros((3, 1, 4)), labels=np.zeros(1, dtype=int))


def test_signature_defaults_and_frozen():
    """Table 1's defaults (kappa 1.2, q 2, P = (1, 2), alpha 0.005, 113 labels) and frozen results."""
    import dataclasses
    import inspect

    def defaults(f):
        return {k: v.default for k, v in inspect.signature(f).parameters.items() if v.default is not v.empty}

    cfg = D4Config()
    assert (cfg.kappa, cfg.q, cfg.norms, cfg.alpha, cfg.n_labels) == (1.2, 2.0, (1.0, 2.0), 0.005, 113)
    assert defaults(d4.numeric_optimum) == {"train_logits": None, "labels": None, "n_starts": 8, "seed": 0}
    assert defaults(d4._global_min_1d) == {"per_decade": 100}
    assert defaults(d4.check_d4)["tolerance"] == d4.AGREE_RTOL == 1e-4 and d4.TIE_RTOL == 1e-9
    assert D4Config.__dataclass_params__.frozen and d4.D4Check.__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.kappa = 2.0


def test_config_normalises_norms():
    cfg = D4Config(norms=[1, 2.5])
    assert (
        cfg.norms == (1.0, 2.5) and isinstance(cfg.norms, tuple) and all(type(p) is float for p in cfg.norms)
    )


def _random_circuits(t):
    """Case t of a replayed random stream: circuits whose train logits differ (seed 0)."""
    rng = np.random.default_rng(0)
    for _ in range(t + 1):
        n_c, n_ex, n_lab = int(rng.integers(2, 4)), int(rng.integers(1, 5)), int(rng.integers(2, 5))
        O = rng.normal(scale=2, size=(n_c, n_ex, n_lab))
        lab = rng.integers(0, n_lab, n_ex)
        q = float(rng.choice([0.5, 1, 2, 3]))
        k = float(q * rng.choice([0.5, 0.9, 1.0, 1.5, 3]))
        norms = tuple(float(x) for x in rng.uniform(0.5, 3, n_c))
        alpha = float(rng.choice([0.005, 0.05, 0.5]))
    return O, lab, D4Config(kappa=k, q=q, norms=norms, n_labels=n_lab, alpha=alpha)


@pytest.mark.parametrize("t", [31, 39])
def test_multistart_finds_the_global_optimum_for_differing_circuits(t):
    """Where the equal-split and random starts matter: compare with 40 independent Nelder-Mead runs."""
    from scipy.optimize import minimize

    O, lab, cfg = _random_circuits(t)
    w = d4.numeric_optimum(cfg, train_logits=O, labels=lab)
    got = d4.eq6_loss(w, cfg, O, lab)

    def f(x):  # Eq. 6 written out here: mean cross-entropy of sum_i |x_i| O_i plus the decay term
        ww = np.abs(x)
        z = np.einsum("i,iny->ny", ww, O)
        m = z.max(axis=1)
        ce = np.mean(m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[np.arange(len(lab)), lab])
        return ce + cfg.alpha / cfg.q * np.sum((ww ** (1 / cfg.kappa) * np.array(cfg.norms)) ** cfg.q)

    rng = np.random.default_rng(1)
    best = min(
        minimize(
            f,
            rng.uniform(0, 20, len(cfg.norms)),
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-13},
        ).fun
        for _ in range(40)
    )
    assert got <= best + 1e-9
