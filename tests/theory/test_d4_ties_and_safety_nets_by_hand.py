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
import grokcheck.theory.eq6 as eq6
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
    monkeypatch.setattr(eq6, "_newton_polish", lambda w, *a: w)
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
    # by hand: c minimises log(1 + 112 e^(-1.5 c)) + alpha/q ((c^(1/4) 1)^2 + ((c/2)^(1/4) 2)^2);
    # its slope -1.5 g(1.5 c) + alpha/2 (1/(2 sqrt c) + sqrt(2/c)) changes sign once, in [5, 10]
    # (it is > 0 beyond, and the loss there is far below L(0) = log 113)
    c = _bisect(lambda c: 0.005 / 2 * (0.5 / math.sqrt(c) + math.sqrt(2 / c)) - 1.5 * _g(1.5 * c, 113), 5, 10)
    assert w[0] == pytest.approx(c, rel=1e-6)


def test_global_min_1d_edges():
    assert eq6.global_min_1d(lambda x: (x - 3.0) ** 2, 10.0) == pytest.approx(3.0, rel=1e-9)
    assert eq6.global_min_1d(lambda x: x, 10.0) == 0.0  # minimum at 0
    assert eq6.global_min_1d(lambda x: -x, 5.0) == pytest.approx(5.0, rel=1e-9)  # at the bound

    # a two-well function: the deeper well at 1000 is found, not the near one at 0.01
    def f(x):
        lx = np.log(x + 1e-300)
        return -np.exp(-((lx - np.log(0.01)) ** 2)) - 2 * np.exp(-((lx - np.log(1000.0)) ** 2))

    assert eq6.global_min_1d(f, 1e6) == pytest.approx(1000.0, rel=1e-6)


def test_global_min_1d_keeps_the_grid_point_when_brent_is_worse():
    """A minimum only at one grid point: Brent finds nothing lower, so the grid point is kept."""
    hi = 1.0
    grid = np.geomspace(1e-8, hi, 100 * 8 + 1)
    g = grid[400]
    assert eq6.global_min_1d(lambda x: np.where(x == g, -1.0, 0.0), hi) == g


def test_small_bound_grid():
    """hi below 1e-4: the grid starts at hi * 1e-12, so a minimum at hi/1e6 is still resolved."""
    hi = 1e-6
    target = 1e-12
    got = eq6.global_min_1d(lambda x: (np.log(x + 1e-300) - math.log(target)) ** 2, hi)
    assert got == pytest.approx(target, rel=1e-6)


def test_weight_bound_by_hand():
    cfg = D4Config(kappa=1.2, q=2.0, alpha=0.005, n_labels=113)
    want = (2 * math.log(113) / (0.005 * 4.0)) ** 0.6
    assert eq6.weight_bound(2.0, cfg) == pytest.approx(want, rel=1e-13)
    # P = 3 as well: at P = q = 2, P^q and P q coincide
    assert eq6.weight_bound(3.0, cfg) == pytest.approx((2 * math.log(113) / (0.005 * 9.0)) ** 0.6, rel=1e-13)
    assert eq6.log10_weight_bound(2.0, cfg) == pytest.approx(math.log10(want), rel=1e-12)
    # the bound is a bound: at it the decay term alone equals L(0) = log(n_labels)
    assert 0.005 / 2 * (want ** (1 / 1.2) * 2.0) ** 2 == pytest.approx(math.log(113), rel=1e-12)


def test_l_train_and_slope_by_hand():
    for S, n in ((0.0, 2), (3.0, 113), (50.0, 5)):
        assert d4.l_train(S, n) == pytest.approx(math.log(1 + (n - 1) * math.exp(-S)), rel=1e-13)
        assert d4._l_train_slope(S, n) == pytest.approx(-_g(S, n), rel=1e-13)
    # capped at e^-700, no overflow (abs=0: pytest's default abs 1e-12 would accept e^-350 too)
    assert d4._l_train_slope(1e6, 3) == pytest.approx(-math.exp(-700.0), rel=1e-9, abs=0)


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
    assert eq6.eq6_loss(w, cfg, O, lab) == pytest.approx(want, rel=1e-13)
    assert eq6.eq6_loss(np.array([-1e-300, 2.0]), cfg, O, lab) == pytest.approx(
        eq6.eq6_loss(np.array([0, 2.0]), cfg, O, lab)
    )
    g = eq6._eq6_grad(w, cfg, O, lab)
    np.testing.assert_allclose(g, [-_g(3.0, 5) + 0.1 * 1 * 1, -_g(3.0, 5) + 0.1 * 4 * 2], rtol=1e-12)
    # r = q/kappa < 1: infinite marginal cost at w = 0, capped at 1e300; r > 1: zero there
    c1 = D4Config(kappa=4.0, q=2.0, norms=(1.0, 2.0), n_labels=5)
    g0 = eq6._eq6_grad(np.array([0.0, 1.0]), c1, O, lab)
    assert g0[0] == pytest.approx(1e300) and np.isfinite(g0[1])
    c2 = D4Config(kappa=1.0, q=2.0, norms=(1.0, 2.0), n_labels=5)
    assert eq6._eq6_grad(np.array([0.0, 0.0]), c2, O, lab)[0] == pytest.approx(-_g(0.0, 5), rel=1e-12)


def test_newton_polish_reaches_the_stationary_point():
    """From a point 10% off, Newton lands on the hand-computed optimum; it never raises the loss."""
    cfg = D4Config(kappa=1.2, q=2.0, norms=(1.0, 2.0))
    O, lab = one_hot_circuits(2, 113)
    want = np.array(case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 2.0)))
    got = eq6._newton_polish(want * np.array([1.1, 0.9]), cfg, O, lab)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert eq6._newton_polish(np.zeros(2), cfg, O, lab).tolist() == [0.0, 0.0]  # nothing free
    start = want * 3
    assert eq6.eq6_loss(eq6._newton_polish(start, cfg, O, lab), cfg, O, lab) <= eq6.eq6_loss(
        start, cfg, O, lab
    )


def test_numeric_optimum_alone_by_hand():
    """The numeric optimum, without the prediction, for case 1 at kappa = q and case 2."""
    S = case1_kappa_eq_q(0.005, 2.0, 113, 1.5)
    w = eq6.numeric_optimum(D4Config(kappa=2.0, q=2.0, norms=(3.0, 1.5)))
    assert w[1] == pytest.approx(S, rel=1e-6) and w[0] < 1e-9 * S
    w2 = eq6.numeric_optimum(D4Config(kappa=1.0, q=2.0, norms=(1.0, 2.0, 4.0)))
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
    assert defaults(eq6.numeric_optimum) == {"train_logits": None, "labels": None, "n_starts": 8, "seed": 0}
    assert defaults(eq6.global_min_1d) == {"per_decade": 100}
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
    w = eq6.numeric_optimum(cfg, train_logits=O, labels=lab)
    got = eq6.eq6_loss(w, cfg, O, lab)

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


# --- the numeric optimum's parts, each against an independent figure -------------------------


def _differing(seed=3, n_c=3, n_ex=4, n_lab=5):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=1.5, size=(n_c, n_ex, n_lab)), rng.integers(0, n_lab, n_ex)


@pytest.mark.parametrize("kappa", [1.2, 2.0, 3.0])  # r = q/kappa > 1, = 1, < 1
def test_gradient_and_hessian_against_finite_differences(kappa):
    cfg = D4Config(kappa=kappa, q=2.0, alpha=0.3, norms=(1.0, 2.0, 0.5), n_labels=5)
    O, lab = _differing()
    w = np.array([0.7, 1.3, 0.4])
    h = 1e-6
    eye = np.eye(3)
    loss = [(eq6.eq6_loss(w + h * e, cfg, O, lab), eq6.eq6_loss(w - h * e, cfg, O, lab)) for e in eye]
    fd_g = [(up - down) / (2 * h) for up, down in loss]
    np.testing.assert_allclose(eq6._eq6_grad(w, cfg, O, lab), fd_g, rtol=1e-7, atol=1e-9)
    fd_h = np.array(
        [
            (eq6._eq6_grad(w + h * e, cfg, O, lab) - eq6._eq6_grad(w - h * e, cfg, O, lab)) / (2 * h)
            for e in eye
        ]
    )
    np.testing.assert_allclose(eq6._eq6_hess(w, cfg, O, lab), fd_h, rtol=1e-6, atol=1e-8)


def test_gradient_at_zero_when_kappa_equals_q():
    """kappa = q: the decay term alpha/q P^q w is linear, so its slope at w = 0 is alpha/q P^q, not oo."""
    cfg = D4Config(kappa=2.0, q=2.0, alpha=0.1, norms=(3.0, 2.0), n_labels=5)
    O, lab = one_hot_circuits(2, 5)
    g = eq6._eq6_grad(np.array([0.0, 1.0]), cfg, O, lab)
    np.testing.assert_allclose(g, [-_g(1.0, 5) + 0.1 / 2 * 9.0, -_g(1.0, 5) + 0.1 / 2 * 4.0], rtol=1e-12)


def test_loss_and_gradient_clamp_negative_zero():
    """Optimisers hand over -1e-300: Eq. 6 and its gradient must treat it as w = 0 (kappa 1.2: no nan)."""
    cfg = D4Config(kappa=1.2, q=2.0, norms=(1.0, 2.0), n_labels=5)
    O, lab = one_hot_circuits(2, 5)
    neg, zero = np.array([-1e-300, 2.0]), np.array([0.0, 2.0])
    assert eq6.eq6_loss(neg, cfg, O, lab) == eq6.eq6_loss(zero, cfg, O, lab)
    np.testing.assert_array_equal(eq6._eq6_grad(neg, cfg, O, lab), eq6._eq6_grad(zero, cfg, O, lab))
    assert np.all(np.isfinite(eq6._eq6_grad(neg, cfg, O, lab)))


def test_newton_polish_converges_quadratically():
    """Exact Hessian: from 1% off the error squares each step, so 3 steps reach ~1e-13 (1e-2 -> 1e-16)."""
    cfg = D4Config()
    O, lab = one_hot_circuits(2, 113)
    want = np.array(case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 2.0)))
    start = want * np.array([1.01, 0.99])
    assert eq6._newton_polish(start, cfg, O, lab, max_steps=0).tolist() == start.tolist()
    steps = [eq6._newton_polish(start, cfg, O, lab, max_steps=k) for k in (1, 2, 3)]
    errs = [float(np.max(np.abs(w - want) / want)) for w in steps]
    assert errs[0] < 2e-3 and errs[1] < 1e-5 and errs[2] < 1e-11


def _vertex_S(cfg, P):
    """All weight S on one circuit of norm P: the stationary point of L_train(S) + alpha/q P^q S^(q/kappa),
    g(S) = alpha/kappa P^q S^(r - 1) (increasing difference for r > 1; closed form at r = 1)."""
    r = cfg.q / cfg.kappa
    if r == 1:
        return case1_kappa_eq_q(cfg.alpha, cfg.q, cfg.n_labels, P)
    return _bisect(lambda S: cfg.alpha / cfg.kappa * P**cfg.q * S ** (r - 1) - _g(S, cfg.n_labels), 1e-9, 1e6)


@pytest.mark.parametrize("kappa", [1.2, 2.0])
def test_vertex_optima_by_hand(kappa):
    cfg = D4Config(kappa=kappa, q=2.0, norms=(1.0, 2.0))
    O, lab = one_hot_circuits(2, 113)
    hi = np.array([eq6.weight_bound(p, cfg) for p in cfg.norms])
    v = eq6.vertex_optima(cfg, O, lab, hi)
    assert len(v) == 2 and v[0][1] == 0.0 and v[1][0] == 0.0
    assert v[0][0] == pytest.approx(_vertex_S(cfg, 1.0), rel=1e-7)
    assert v[1][1] == pytest.approx(_vertex_S(cfg, 2.0), rel=1e-7)


def test_start_points():
    vertices = [np.array([5.0, 0.0]), np.array([0.0, 7.0])]
    hi = np.array([4.0, 8.0])
    s = eq6.start_points(vertices, hi, n_starts=4000, seed=0)
    assert len(s) == 2 + 1 + 4000
    assert s[0] is vertices[0] and s[1] is vertices[1]
    assert s[2].tolist() == [1.0, 1.0]  # hi_min / (2 n) = 4 / 4
    rand = np.array(s[3:])
    # uniform on [0, 2] x [0, 4] (hi / n): means 1 and 2 (sd of a mean ~0.02), the box nearly filled
    assert rand.min() >= 0 and np.all(rand.max(axis=0) <= [2.0, 4.0])
    assert np.all(rand.max(axis=0) > [1.99, 3.98]) and rand.min() < 0.01
    np.testing.assert_allclose(rand.mean(axis=0), [1.0, 2.0], rtol=0.05)
    again = eq6.start_points(vertices, hi, n_starts=3, seed=0)[3:]
    other = eq6.start_points(vertices, hi, n_starts=3, seed=1)[3:]
    assert np.array_equal(again, rand[:3]) and not np.array_equal(other, rand[:3])


def test_substitution_power():
    """w = u^m with m = 2 kappa / q where kappa >= q (the decay term becomes P^q u^2), else 1."""
    assert eq6.substitution_power(D4Config(kappa=1.2, q=2.0)) == 1.0
    assert eq6.substitution_power(D4Config(kappa=2.0, q=2.0)) == 2.0
    assert eq6.substitution_power(D4Config(kappa=3.0, q=0.5, alpha=0.5)) == 12.0


def test_local_optimum_case2_from_the_equal_split():
    cfg = D4Config()
    O, lab = one_hot_circuits(2, 113)
    hi = np.array([eq6.weight_bound(p, cfg) for p in cfg.norms])
    w = eq6.local_optimum(np.full(2, hi.min() / 4), cfg, O, lab, hi)
    np.testing.assert_allclose(w, case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 2.0)), rtol=1e-4)


def test_local_optimum_kappa_above_q_stays_in_its_basin():
    """kappa > q: every vertex is a local minimum; from vertex 2's optimum the search stays there,
    and from a point near vertex 1 it reaches vertex 1's optimum (both by hand)."""
    cfg = D4Config(kappa=4.0, q=2.0, norms=(1.0, 2.0))
    O, lab = one_hot_circuits(2, 113)
    hi = np.array([eq6.weight_bound(p, cfg) for p in cfg.norms])
    S1, S2 = _vertex_S_above(cfg, 1.0), _vertex_S_above(cfg, 2.0)
    w = eq6.local_optimum(np.array([0.0, S2]), cfg, O, lab, hi)
    assert w[0] == 0.0 and w[1] == pytest.approx(S2, rel=1e-9)
    # with the exact gradient in u the other weight lands exactly on its bound 0
    w = eq6.local_optimum(np.array([0.8 * S1, 0.05 * S1]), cfg, O, lab, hi)
    assert w[1] == 0.0 and w[0] == pytest.approx(S1, rel=1e-9)


def _vertex_S_above(cfg, P):
    """kappa > q: the local minimum of L_train(S) + alpha/q P^q S^(q/kappa) away from 0, by a fine
    grid (the 1-D loss has a local maximum near 0, so bisection on the slope needs a bracket)."""
    S = np.geomspace(1.0, 1e4, 400001)
    f = np.log1p((cfg.n_labels - 1) * np.exp(-S)) + cfg.alpha / cfg.q * P**cfg.q * S ** (cfg.q / cfg.kappa)
    k = int(np.argmin(f))
    r = cfg.q / cfg.kappa
    # refine on the slope inside the grid bracket, where it changes sign once
    lo, hi = S[k - 1], S[k + 1]
    return _bisect(lambda s: cfg.alpha / cfg.kappa * P**cfg.q * s ** (r - 1) - _g(s, cfg.n_labels), lo, hi)


def test_local_optimum_leaves_zero_where_the_slope_points_inwards():
    """kappa = q, w = u^2 from u = 0 (stationary in u): the restart reaches S = ln((n-1)(1-c)/c)."""
    cfg = D4Config(kappa=2.0, q=2.0, norms=(1.5,))
    O, lab = one_hot_circuits(1, 113)
    hi = np.array([eq6.weight_bound(1.5, cfg)])
    w = eq6.local_optimum(np.zeros(1), cfg, O, lab, hi)
    assert w[0] == pytest.approx(case1_kappa_eq_q(0.005, 2.0, 113, 1.5), rel=1e-6)


# --- the check's bookkeeping ---------------------------------------------------------------------


def test_case2_ties_are_not_grouped(monkeypatch):
    """Case 2 fixes the split of tied circuits (equal): an unequal split of the right total fails."""
    cfg = D4Config(norms=(1.0, 1.0, 2.0))
    want = case2_by_hand(1.2, 2.0, 0.005, 113, (1.0, 1.0, 2.0))
    lopsided = np.array([want[0] + want[1], 0.0, want[2]])
    monkeypatch.setattr(d4, "numeric_optimum", lambda cfg, **k: lopsided)
    r = check_d4(cfg)
    assert r.tied == (0, 1) and not r.holds
    assert r.max_rel_error == pytest.approx(want[1] / lopsided[0], rel=1e-6)  # |0 - w_1| / max weight


def test_single_circuit_with_explicit_logits():
    O, lab = one_hot_circuits(1, 7)
    r = check_d4(D4Config(norms=(1.5,), n_labels=7), train_logits=O, labels=lab)
    assert r.assumption_holds and r.holds and r.note == ""


def test_violated_assumption_note_follows_the_tie_note():
    O, lab = _differing(n_c=2, n_lab=4)
    r = check_d4(D4Config(kappa=4.0, q=2.0, norms=(1.0, 1.0), n_labels=4), train_logits=O, labels=lab)
    assert r.note == (
        "circuits [0, 1] tie for the minimal norm; all weight on any one of them is optimal; "
        "circuits' train logits differ: the theorem's assumption is violated"
    )
    assert not r.assumption_holds


def test_tolerance_is_inclusive():
    """holds means max_rel_error <= tolerance: at the error itself it holds, just below it fails."""
    err = check_d4(D4Config(), exponent=-2.0).max_rel_error
    assert check_d4(D4Config(), exponent=-2.0, tolerance=err).holds
    assert not check_d4(D4Config(), exponent=-2.0, tolerance=math.nextafter(err, 0.0)).holds


@pytest.mark.parametrize(
    "kwargs, quoted",
    [
        # log10 bounds 10 * (3.01 - 2 log10 P): 30.1 (P = 1, too large) and 24.1 (P = 2)
        ({"kappa": 20.0, "q": 2.0, "alpha": 2 * math.log(113) / 10**3.01, "norms": (1.0, 2.0)}, "is 1e30,"),
        # 100 * (log10 ln 113 - 1 - log10 P): -32.7 (P = 1) and -332.7 (P = 1000, too small)
        ({"kappa": 100.0, "q": 1.0, "alpha": 10.0, "norms": (1.0, 1000.0)}, "is 1e-333,"),
    ],
)
def test_weight_bound_error_quotes_the_violating_circuit(kwargs, quoted):
    with pytest.raises(InputError, match="weight bound") as e:
        D4Config(**kwargs)
    assert quoted in str(e.value)


@pytest.mark.parametrize("hi, lo", [(1e6, 1e-8), (10.0, 1e-11), (1e-6, 1e-18)])
def test_global_min_1d_grid_is_the_documented_one(hi, lo):
    """0, then min(1e-8, hi 1e-12) to hi with 100 points per decade, in one call."""
    calls = []

    def f(x):
        calls.append(np.array(x))
        return (np.asarray(x) - hi / 3) ** 2

    eq6.global_min_1d(f, hi)
    grid = calls[0]
    decades = math.log10(hi / lo)
    assert (
        grid[0] == 0.0
        and grid[1] == pytest.approx(lo, rel=1e-12)
        and grid[-1] == pytest.approx(hi, rel=1e-12)
    )
    assert len(grid) == int(100 * decades) + 2
    np.testing.assert_allclose(np.diff(np.log10(grid[1:])), decades / (len(grid) - 2), rtol=1e-6)


def test_global_min_1d_below_the_first_grid_point():
    """A minimum below the grid's first positive point lies in the bracket [0, grid[2]]: found."""
    hi = 10.0  # the grid starts at 1e-11
    got = eq6.global_min_1d(lambda x: (np.log(np.asarray(x) + 1e-300) - math.log(1e-13)) ** 2, hi)
    assert got == pytest.approx(1e-13, rel=1e-6)
