"""Theorem D.4: the checker against closed forms, hypothesis properties, and negative tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from grokcheck.errors import InputError
from grokcheck.theory.d4 import D4Config, check_d4, l_train, predicted_weights, theorem_case

norms_st = st.lists(
    st.floats(min_value=0.2, max_value=5.0, allow_nan=False, allow_infinity=False), min_size=1, max_size=6
)
q_st = st.sampled_from([0.5, 1.0, 2.0, 3.0])


@st.composite
def case2_kappa(draw, q):
    """kappa < q, including values just below the boundary."""
    gap = draw(st.one_of(st.floats(0.05, 0.95), st.sampled_from([1e-2, 1e-3, 1e-4])))
    return q * (1 - gap)


def test_table1_ratio_is_eight():
    """Table 1 (P_g=1, P_m=2, kappa=1.2, q=2): w_gen/w_mem = 2^3 = 8 (and 1/8 with P_g=4)."""
    r = check_d4(D4Config())
    assert r.holds and r.case == 2
    assert r.exponent == pytest.approx(-3.0)
    assert r.predicted_weights[0] / r.predicted_weights[1] == pytest.approx(8.0, rel=1e-12)
    assert r.numeric_weights[0] / r.numeric_weights[1] == pytest.approx(8.0, rel=1e-6)
    r_b = check_d4(D4Config(norms=(4.0, 2.0)))
    assert r_b.numeric_weights[0] / r_b.numeric_weights[1] == pytest.approx(1 / 8, rel=1e-6)


def test_exponent_closed_form():
    for kappa, q in [(1.2, 2.0), (0.5, 3.0), (1.0, 1.5), (0.3, 0.5)]:
        r = check_d4(D4Config(kappa=kappa, q=q, norms=(1.0, 3.0)))
        assert r.exponent == pytest.approx(-q * kappa / (q - kappa), rel=1e-12)


def test_case2_scale_is_stationary():
    """The scale c solves the 1-D stationarity condition, computed here by hand from Eq. 6."""
    cfg = D4Config(kappa=1.2, q=2.0, norms=(1.0, 2.0, 3.0))
    w, _, _ = predicted_weights(cfg)
    S = w.sum()
    slope = -(cfg.n_labels - 1) * math.exp(-S) / (1 + (cfg.n_labels - 1) * math.exp(-S))
    grad = slope + cfg.alpha / cfg.kappa * np.array(cfg.norms) ** cfg.q * w ** (cfg.q / cfg.kappa - 1)
    assert np.max(np.abs(grad)) < 1e-10


def test_l_train_is_one_hot_cross_entropy():
    logits = np.zeros(113)
    logits[0] = 7.0
    direct = -(logits[0] - np.log(np.exp(logits).sum()))
    assert l_train(7.0, 113) == pytest.approx(direct, rel=1e-14)


def test_case1_all_weight_on_min_norm():
    r = check_d4(D4Config(kappa=2.5, norms=(3.0, 1.0, 2.0)))
    assert r.case == 1 and r.holds and r.exponent is None
    assert r.predicted_weights[0] == 0 and r.predicted_weights[2] == 0 and r.predicted_weights[1] > 0
    assert r.numeric_weights[0] < 1e-8 * r.numeric_weights[1]


def test_ties_are_reported():
    r = check_d4(D4Config(kappa=3.0, norms=(1.0, 1.0, 2.0)))
    assert r.holds and r.tied == (0, 1) and "tie" in r.note


@settings(max_examples=25)
@given(norms=norms_st, q=q_st, data=st.data())
@example(norms=[1.0, 2.0], q=2.0, data=None).via("Table 1")
def test_theorem_holds_in_both_cases(norms, q, data):
    if data is None:
        kappa = 1.2
    else:
        kappa = data.draw(st.one_of(case2_kappa(q), st.floats(q, 4 * q), st.just(q)), label="kappa")
    r = check_d4(D4Config(kappa=kappa, q=q, norms=tuple(norms)))
    assert r.case == theorem_case(kappa, q)
    assert r.holds, (r.max_rel_error, r.predicted_weights, r.numeric_weights)


@given(norms=norms_st, q=q_st, data=st.data())
def test_permutation_equivariance(norms, q, data):
    kappa = data.draw(case2_kappa(q))
    perm = data.draw(st.permutations(range(len(norms))))
    w, _, _ = predicted_weights(D4Config(kappa=kappa, q=q, norms=tuple(norms)))
    wp, _, _ = predicted_weights(D4Config(kappa=kappa, q=q, norms=tuple(norms[i] for i in perm)))
    np.testing.assert_allclose(wp, w[list(perm)], rtol=1e-9, atol=1e-300)


@given(norms=norms_st, q=q_st, scale=st.floats(0.25, 4.0), data=st.data())
def test_proportions_invariant_under_norm_scaling(norms, q, scale, data):
    kappa = data.draw(st.one_of(case2_kappa(q), st.floats(q, 3 * q)))
    w, _, _ = predicted_weights(D4Config(kappa=kappa, q=q, norms=tuple(norms)))
    ws, _, _ = predicted_weights(D4Config(kappa=kappa, q=q, norms=tuple(p * scale for p in norms)))
    assume(w.sum() > 0 and ws.sum() > 0)
    np.testing.assert_allclose(ws / ws.sum(), w / w.sum(), rtol=1e-9, atol=1e-12)


@settings(max_examples=15)
@given(norms=norms_st, q=q_st, data=st.data())
def test_smaller_norm_never_gets_less_weight(norms, q, data):
    kappa = data.draw(st.one_of(case2_kappa(q), st.floats(q, 3 * q)))
    cfg = D4Config(kappa=kappa, q=q, norms=tuple(norms))
    w = np.array(check_d4(cfg).numeric_weights)
    order = np.argsort(norms, kind="stable")
    sorted_norms = np.array(norms)[order]
    sorted_w = w[order]
    for i in range(len(norms) - 1):
        if sorted_norms[i] < sorted_norms[i + 1] * (1 - 1e-9):
            assert sorted_w[i] >= sorted_w[i + 1] - 1e-9 * sorted_w.max()


# ----- the checker must be able to say no -----


@pytest.mark.parametrize("wrong", [-2.0, -4.0, -1.0])
def test_wrong_exponent_is_caught(wrong):
    r = check_d4(D4Config(kappa=1.2, q=2.0, norms=(1.0, 2.0)), exponent=wrong)
    assert not r.holds and r.max_rel_error > 1e-2


def test_case2_formula_applied_in_case1_is_caught():
    """Using case 2's exponent where kappa > q (it would give every circuit weight) fails."""
    kappa, q = 3.0, 2.0
    r = check_d4(D4Config(kappa=kappa, q=q, norms=(1.0, 1.5)), exponent=-q * kappa / (q - kappa))
    assert not r.holds


def test_differing_train_logits_violate_the_assumption():
    """Circuit 1 is right on every example, circuit 2 only on half: the prediction fails."""
    n_labels, n = 5, 8
    labels = np.arange(n) % n_labels
    good = np.zeros((n, n_labels))
    good[np.arange(n), labels] = 1.0
    half = good.copy()
    half[n // 2 :] = np.roll(half[n // 2 :], 1, axis=1)  # wrong answer on half the examples
    O = np.stack([good, half])
    r = check_d4(
        D4Config(kappa=1.2, q=2.0, norms=(1.5, 1.0), n_labels=n_labels), train_logits=O, labels=labels
    )
    assert not r.assumption_holds
    assert not r.holds
    assert "assumption" in r.note


def test_identical_explicit_logits_still_hold():
    n_labels, n = 4, 6
    labels = np.arange(n) % n_labels
    good = np.zeros((n, n_labels))
    good[np.arange(n), labels] = 1.0
    r = check_d4(
        D4Config(kappa=1.2, q=2.0, norms=(1.0, 2.0), n_labels=n_labels),
        train_logits=np.stack([good, good]),
        labels=labels,
    )
    assert r.assumption_holds and r.holds


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"kappa": 0.0}, "kappa"),
        ({"kappa": float("nan")}, "kappa"),
        ({"q": -1.0}, "q"),
        ({"alpha": float("inf")}, "alpha"),
        ({"norms": ()}, "norms"),
        ({"norms": (1.0, -2.0)}, "norms"),
        ({"n_labels": 1}, "n_labels"),
    ],
)
def test_bad_config(kwargs, name):
    with pytest.raises(InputError) as e:
        D4Config(**kwargs)
    assert e.value.name == name


def test_optimum_below_float_resolution_near_kappa_eq_q_is_zero():
    """kappa just below q with a large norm: L'(0+) > 0 already at c = 1e-300, so the optimal
    weights are 0 (found by hypothesis: brentq used to fail to converge here)."""
    w, _, _ = predicted_weights(D4Config(kappa=2.9997, q=3.0, norms=(9.0,)))
    assert np.all(w == 0.0)
    w, _, _ = predicted_weights(D4Config(kappa=2.9997, q=3.0, norms=(1.0,)))
    assert np.all(w > 0)  # a small norm: a positive optimum, found as before
