"""Theorem D.1's checker pinned to hand-computed figures, and each of its criteria able to fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from grokcheck.theory import d1


def test_loss_and_derivative_by_hand():
    """One example, logits (2, 0), label 0: L(c) = log(1 + e^-2c), dL/dc = -2 / (1 + e^2c)."""
    logits, labels = np.array([[2.0, 0.0]]), np.array([0])
    for c in (0.5, 1.0, 3.0):
        assert d1.loss_of(logits, labels, c) == pytest.approx(math.log1p(math.exp(-2 * c)), rel=1e-13)
        assert d1.dloss_dscale(logits, labels, c) == pytest.approx(-2 / (1 + math.exp(2 * c)), rel=1e-12)
    # two examples, one of them wrong: the mean of -2/(1+e^2c) and +1 * p_wrong(1) ...
    logits2, labels2 = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0])
    want = 0.5 * (-2 / (1 + math.exp(2.0)) + 1 / (1 + math.exp(-1.0)))
    assert d1.dloss_dscale(logits2, labels2) == pytest.approx(want, rel=1e-12)


def test_random_perfect_classifier_margins():
    rng = np.random.default_rng(5)
    logits, labels = d1.random_perfect_classifier(rng, 50, 6, margins=(0.5, 0.6))
    rows = np.arange(50)
    others = logits.copy()
    others[rows, labels] = -np.inf
    gap = logits[rows, labels] - others.max(axis=1)
    assert logits.shape == (50, 6) and labels.min() >= 0 and labels.max() < 6
    assert np.all(gap >= 0.5) and np.all(gap <= 0.6)
    assert len(set(labels.tolist())) > 1  # labels are random, not all one class


def test_exact_derivative_is_the_hand_one():
    """For one wrong label sympy's d/dc log(1 + e^(-c m)) must be -m / (e^(c m) + 1)."""
    e = d1.exact_check(max_wrong=2)
    assert e.wrong_labels == (1, 2)
    c, m1 = sp.symbols("c m1", positive=True)
    got = sp.sympify(e.derivative, locals={"c": c, "m1": m1})
    assert sp.simplify(got - (-m1 / (sp.exp(c * m1) + 1))) == 0


def test_exact_default_covers_four_wrong_labels():
    assert d1.exact_check().wrong_labels == (1, 2, 3, 4)


def test_numeric_figures():
    r = d1.numeric_check(n_classifiers=7, n_examples=9, n_labels=4)
    assert (r.n_classifiers, r.n_examples, r.n_labels) == (7, 9, 4)
    assert min(r.scales) > 1 and max(r.scales) == 100.0  # c in (1, 100], the docstring's claim
    assert 0 < r.max_loss_ratio < 1 and r.max_derivative < 0 and r.max_fd_rel_error < 1e-6
    assert r.holds


def test_fd_criterion_can_fail(monkeypatch):
    """A closed-form derivative 1% off must be caught by the finite-difference comparison alone."""
    true = d1.dloss_dscale
    monkeypatch.setattr(d1, "dloss_dscale", lambda lg, lb, scale=1.0: 1.01 * true(lg, lb, scale))
    r = d1.numeric_check(n_classifiers=5)
    assert r.max_loss_ratio < 1 and r.max_derivative < 0  # the other criteria still pass
    assert r.max_fd_rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert not r.holds


def test_derivative_criterion_can_fail(monkeypatch):
    monkeypatch.setattr(d1, "dloss_dscale", lambda lg, lb, scale=1.0: 0.0)
    assert not d1.numeric_check(n_classifiers=3).holds


def test_loss_ratio_criterion_can_fail(monkeypatch):
    """Margins of ~0 make L(ch)/L(h) -> 1 from below; a loss that rises with c must fail."""
    true = d1.loss_of
    monkeypatch.setattr(d1, "loss_of", lambda lg, lb, scale=1.0: true(lg, lb, 1.0) * scale**1e-3)
    monkeypatch.setattr(d1, "dloss_dscale", lambda lg, lb, scale=1.0: -1.0)
    r = d1.numeric_check(n_classifiers=2)
    assert r.max_loss_ratio == pytest.approx(100.0**1e-3, rel=1e-12) and not r.holds


def test_violation_figures():
    v = d1.find_violation(seed=0)
    assert v.found and v.scale == 2.0 and 0 <= v.accuracy < 1
    # recompute the reported losses independently
    assert v.scaled_loss > v.loss > 0
    none = d1.find_violation(n_tries=0)
    assert not none.found and math.isnan(none.loss) and math.isnan(none.accuracy)


def test_violation_skips_perfect_classifiers():
    """With one label every classifier is perfect: no violation can be found."""
    v = d1.find_violation(n_tries=50, n_labels=1)
    assert not v.found


def test_violation_requires_a_rise(monkeypatch):
    """If scaling never raised the loss, the search must come back empty."""
    monkeypatch.setattr(d1, "loss_of", lambda lg, lb, scale=1.0: 1.0 / scale)
    assert not d1.find_violation(n_tries=30).found


@pytest.mark.parametrize("broken", ["numeric", "violation", "exact_neg", "exact_undecided"])
def test_check_d1_needs_every_part(monkeypatch, broken):
    from dataclasses import replace

    num = d1.numeric_check(n_classifiers=3)
    ex = d1.D1Exact((1,), True, True, "x")
    vio = d1.D1Violation(True, 0.5, 2.0, 1.0, 2.0)
    if broken == "numeric":
        num = replace(num, holds=False)
    elif broken == "violation":
        vio = replace(vio, found=False)
    elif broken == "exact_neg":
        ex = replace(ex, negative_when_margins_positive=False)
    else:
        ex = replace(ex, undecided_when_margins_real=False)
    monkeypatch.setattr(d1, "exact_check", lambda: ex)
    monkeypatch.setattr(d1, "numeric_check", lambda **k: num)
    monkeypatch.setattr(d1, "find_violation", lambda **k: vio)
    assert not d1.check_d1(n_classifiers=3).holds


def test_check_d1_passes_its_arguments(monkeypatch):
    seen = {}
    monkeypatch.setattr(
        d1,
        "numeric_check",
        lambda **k: (
            seen.setdefault("num", k) and d1.D1Numeric(k["n_classifiers"], 1, 2, (2.0,), 0.5, -1.0, 0.0, True)
        ),
    )
    monkeypatch.setattr(
        d1,
        "find_violation",
        lambda **k: seen.setdefault("vio", k) and d1.D1Violation(True, 0.5, 2.0, 1.0, 2.0),
    )
    r = d1.check_d1(n_classifiers=11, seed=4)
    assert seen["num"] == {"n_classifiers": 11, "seed": 4} and seen["vio"] == {"seed": 4}
    assert r.holds and r.theorem == "D.1"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_classifiers": 0}, "n_classifiers"),
        ({"n_classifiers": 100_001}, "n_classifiers"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**63}, "seed"),
    ],
)
def test_check_d1_ranges(kwargs, name):
    from grokcheck.errors import InputError

    with pytest.raises(InputError) as e:
        d1.check_d1(**kwargs)
    assert e.value.name == name


def test_defaults_and_margins():
    """Documented defaults: scale 1 (h itself), margins drawn from [1e-3, 3]."""
    rng = np.random.default_rng(0)
    logits, labels = d1.random_perfect_classifier(rng, 20000, 3)
    assert d1.loss_of(logits, labels) == d1.loss_of(logits, labels, 1.0)
    assert d1.dloss_dscale(logits, labels) == d1.dloss_dscale(logits, labels, 1.0)
    rows = np.arange(20000)
    others = logits.copy()
    others[rows, labels] = -np.inf
    gap = logits[rows, labels] - others.max(axis=1)
    assert 1e-3 <= gap.min() < 1.2e-3 and 2.99 < gap.max() <= 3.0


def test_signature_defaults():
    """The defaults the CLI and verify rely on (documented in their help and docstrings)."""
    import inspect

    def defaults(f):
        return {k: v.default for k, v in inspect.signature(f).parameters.items() if v.default is not v.empty}

    assert defaults(d1.exact_check) == {"max_wrong": 4}
    assert defaults(d1.numeric_check) == {
        "n_classifiers": 200,
        "n_examples": 20,
        "n_labels": 7,
        "seed": 0,
        "margins": (1e-3, 3.0),
    }
    assert defaults(d1.find_violation) == {"n_tries": 2000, "n_examples": 5, "n_labels": 5, "seed": 0}
    assert defaults(d1.check_d1) == {"n_classifiers": 200, "seed": 0}
    assert defaults(d1.random_perfect_classifier) == {"margins": (1e-3, 3.0)}


def test_results_are_frozen():
    import dataclasses

    for cls in (d1.D1Exact, d1.D1Numeric, d1.D1Violation, d1.D1Check):
        assert cls.__dataclass_params__.frozen, cls
    v = d1.D1Violation(True, 0.5, 2.0, 1.0, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.found = False


@pytest.mark.parametrize("value, negative, undecided", [(-1, True, False), (1, False, False)])
def test_exact_verdicts_can_fail(monkeypatch, value, negative, undecided):
    """If sympy's derivative were a constant, both exact verdicts must follow it."""
    monkeypatch.setattr(sp, "together", lambda e: sp.Integer(value))
    e = d1.exact_check(max_wrong=2)
    assert e.negative_when_margins_positive is negative and e.undecided_when_margins_real is undecided


def test_derivative_at_huge_logits():
    """Logits (1000, 0), label 0: dL/dc = -1000 / (1 + e^1000) = 0 without overflow (shifted softmax)."""
    assert d1.dloss_dscale(np.array([[1000.0, 0.0]]), np.array([0])) == 0.0
    assert d1.dloss_dscale(np.array([[0.0, 1000.0]]), np.array([0])) == pytest.approx(1000.0)


def test_labels_include_zero():
    _, labels = d1.random_perfect_classifier(np.random.default_rng(0), 200, 3)
    assert set(labels.tolist()) == {0, 1, 2}


def test_violation_figures_by_a_plain_loop():
    """Replay the search's random stream by hand and recompute accuracy and both losses."""
    rng = np.random.default_rng(0)
    while True:
        logits = rng.normal(size=(5, 5))
        labels = rng.integers(0, 5, size=5)
        acc = sum(int(np.argmax(row) == y) for row, y in zip(logits, labels, strict=True)) / 5
        if acc == 1.0:
            continue

        def loss(c, logits=logits, labels=labels):
            return np.mean(
                [np.log(np.sum(np.exp(c * row))) - c * row[y] for row, y in zip(logits, labels, strict=True)]
            )

        if loss(2.0) > loss(1.0):
            break
    v = d1.find_violation(seed=0)
    assert v.accuracy == acc and v.scale == 2.0
    assert v.loss == pytest.approx(loss(1.0), rel=1e-12) and v.scaled_loss == pytest.approx(
        loss(2.0), rel=1e-12
    )
    assert d1.find_violation(n_tries=0).scale == 2.0


def test_equal_losses_are_no_violation(monkeypatch):
    """All logits equal: accuracy < 1 but L(2h) = L(h) = log 5, which is not a rise."""

    class Flat:
        def normal(self, size):
            return np.zeros(size)

        def integers(self, lo, hi, size):
            return np.ones(size, dtype=int)

    monkeypatch.setattr(d1.np.random, "default_rng", lambda seed: Flat())
    assert not d1.find_violation(n_tries=3).found


@pytest.mark.parametrize(
    "loss, deriv",
    [
        # ratio reaches exactly 1 at c = 100 (a quadratic: the central difference is exact)
        (lambda c: 1 - 1e-3 * (c - 1) * (100 - c), lambda c: -1e-3 * 99),
        # derivative exactly 0 at c = 1, the loss still falls for c > 1
        (lambda c: 1 - 1e-3 * (c - 1) ** 2, lambda c: 0.0),
    ],
)
def test_strict_inequalities(monkeypatch, loss, deriv):
    monkeypatch.setattr(d1, "loss_of", lambda lg, lb, scale=1.0: loss(scale))
    monkeypatch.setattr(d1, "dloss_dscale", lambda lg, lb, scale=1.0: deriv(scale))
    r = d1.numeric_check(n_classifiers=2)
    assert r.max_loss_ratio <= 1.0 and r.max_derivative <= 0.0 and r.max_fd_rel_error < 1e-9
    assert not r.holds


@pytest.mark.parametrize("off, holds", [(1.5e-5, False), (7e-6, True)])
def test_fd_threshold_is_1e_5(monkeypatch, off, holds):
    true = d1.dloss_dscale
    monkeypatch.setattr(d1, "dloss_dscale", lambda lg, lb, scale=1.0: (1 + off) * true(lg, lb, scale))
    r = d1.numeric_check(n_classifiers=3)
    assert r.max_fd_rel_error == pytest.approx(off / (1 + off), rel=1e-3) and r.holds is holds


def test_violation_matches_a_plain_replay_of_the_search():
    """Replay find_violation's random stream with plain Python: the first imperfect classifier whose
    cross-entropy rises when its logits are doubled, with its accuracy and both losses."""
    rng = np.random.default_rng(0)

    def xent(rows, labels, c):
        total = 0.0
        for row, y in zip(rows, labels, strict=True):
            m = max(c * z for z in row)
            total += m + math.log(sum(math.exp(c * z - m) for z in row)) - c * row[y]
        return total / len(rows)

    for _ in range(2000):
        logits = rng.normal(size=(5, 5))
        labels = rng.integers(0, 5, size=5)
        rows = logits.tolist()
        acc = sum(max(range(5), key=row.__getitem__) == y for row, y in zip(rows, labels, strict=True)) / 5
        if acc < 1 and xent(rows, labels, 2.0) > xent(rows, labels, 1.0):
            break
    v = d1.find_violation(seed=0)
    assert v.found and v.accuracy == acc
    assert v.loss == pytest.approx(xent(rows, labels, 1.0), rel=1e-12)
    assert v.scaled_loss == pytest.approx(xent(rows, labels, 2.0), rel=1e-12)
