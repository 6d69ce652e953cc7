"""Theorem D.1: exact (sympy) and numeric checks, and the checker saying no without its hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokcheck.theory.d1 import (
    check_d1,
    dloss_dscale,
    exact_check,
    find_violation,
    loss_of,
    numeric_check,
    random_perfect_classifier,
)


def test_exact_sign():
    e = exact_check(max_wrong=3)
    assert e.negative_when_margins_positive
    assert e.undecided_when_margins_real


def test_loss_matches_plain_softmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, 6)
    p = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    assert loss_of(logits, labels, 3.0) == pytest.approx(-np.mean(np.log(p[np.arange(6), labels])), rel=1e-12)


@given(seed=st.integers(0, 10_000), c=st.floats(1.0001, 50.0))
def test_scaling_lowers_loss(seed, c):
    logits, labels = random_perfect_classifier(np.random.default_rng(seed), 10, 5)
    assert loss_of(logits, labels, c) < loss_of(logits, labels)


@given(seed=st.integers(0, 10_000), c=st.floats(0.1, 5.0))
def test_derivative_matches_finite_difference(seed, c):
    rng = np.random.default_rng(seed)
    logits, labels = rng.normal(size=(8, 5)), rng.integers(0, 5, 8)
    h = 1e-6
    fd = (loss_of(logits, labels, c + h) - loss_of(logits, labels, c - h)) / (2 * h)
    assert dloss_dscale(logits, labels, c) == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_numeric_check_holds():
    assert numeric_check(n_classifiers=50).holds


def test_numeric_check_says_no_without_perfect_accuracy():
    """Feed the checker classifiers whose correct logit trails: it must report failure."""
    r = numeric_check(n_classifiers=20, margins=(-3.0, -0.1))
    assert not r.holds
    assert r.max_loss_ratio > 1.0 and r.max_derivative > 0


def test_violation_found_and_real():
    v = find_violation()
    assert v.found and v.accuracy < 1.0 and v.scaled_loss > v.loss


def test_check_d1():
    r = check_d1(n_classifiers=30)
    assert r.holds and r.violation.found
