"""Cross-entropy, gradient and Hessian in grokcheck.theory.xent against plain loops and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grokcheck.theory import xent


def _loop_xent(w, O, labels):
    """Plain reference: build h = sum_i w_i O_i, then -log softmax at the label, averaged."""
    total = 0.0
    for n, y in enumerate(labels):
        h = [sum(w[i] * O[i][n][k] for i in range(len(w))) for k in range(O.shape[2])]
        m = max(h)
        lse = m + math.log(sum(math.exp(v - m) for v in h))
        total += lse - h[y]
    return total / len(labels)


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    O = rng.normal(size=(3, 4, 5))
    labels = np.array([0, 3, 1, 4])
    w = np.array([0.7, -0.4, 1.3])
    return w, O, labels


def test_value_matches_loop(problem):
    w, O, labels = problem
    assert xent.xent(w, O, labels) == pytest.approx(_loop_xent(w, O, labels), rel=1e-13)


def test_value_when_label_leads_and_when_it_does_not():
    """One example, two labels: loss = log(1 + e^(z_other - z_label)) = softplus(-margin)."""
    O = np.array([[[2.0, 0.0]], [[0.0, 0.5]]])  # circuit 0 favours label 0, circuit 1 label 1
    for w0, w1 in ((1.0, 0.0), (0.0, 3.0), (1.0, 1.0), (0.2, 5.0)):
        margin = 2.0 * w0 - 0.5 * w1  # z_0 - z_1 for label 0
        want = math.log1p(math.exp(-margin)) if margin > 0 else -margin + math.log1p(math.exp(margin))
        assert xent.xent(np.array([w0, w1]), O, np.array([0])) == pytest.approx(want, rel=1e-13)


def test_tiny_loss_keeps_relative_precision():
    """At margin 40 the loss is e^-40 (relative precision kept by log1p)."""
    O = np.array([[[40.0, 0.0, 0.0]]])
    assert xent.xent(np.array([1.0]), O, np.array([0])) == pytest.approx(2 * math.exp(-40.0), rel=1e-12)


def test_one_hot_circuits_are_l_train():
    O, labels = xent.one_hot_circuits(3, 7)
    assert O.shape == (3, 1, 7) and labels.tolist() == [0]
    assert O.sum() == 3.0 and np.all(O[:, 0, 0] == 1.0)
    for S in (0.0, 0.5, 3.0, 30.0):
        w = np.array([S / 2, S / 4, S / 4])
        assert xent.xent(w, O, labels) == pytest.approx(math.log(1 + 6 * math.exp(-S)), rel=1e-13)


def test_ray_matches_value(problem):
    _, O, labels = problem
    t = np.array([0.0, 0.3, 2.0, 9.0])
    got = xent.xent_ray(t, O[1], labels)
    want = [_loop_xent(np.array([s]), O[1:2], labels) for s in t]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def _fd_grad(f, w, h=1e-6):
    g = np.zeros_like(w)
    for i in range(len(w)):
        e = np.zeros_like(w)
        e[i] = h
        g[i] = (f(w + e) - f(w - e)) / (2 * h)
    return g


def test_gradient_matches_finite_differences(problem):
    w, O, labels = problem
    fd = _fd_grad(lambda v: _loop_xent(v, O, labels), w)
    np.testing.assert_allclose(xent.xent_grad(w, O, labels), fd, rtol=1e-7, atol=1e-9)


def test_hessian_matches_finite_differences(problem):
    w, O, labels = problem
    H = xent.xent_hess(w, O, labels)
    cols = [_fd_grad(lambda v, i=i: xent.xent_grad(v, O, labels)[i], w) for i in range(len(w))]
    np.testing.assert_allclose(H, np.array(cols), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)


def test_gradient_closed_form_one_hot():
    """Identical one-hot circuits: dL/dw_i = -(Y-1) e^-S / (1 + (Y-1) e^-S) for every i."""
    O, labels = xent.one_hot_circuits(2, 5)
    S = 1.5
    g = xent.xent_grad(np.array([1.0, 0.5]), O, labels)
    want = -4 * math.exp(-S) / (1 + 4 * math.exp(-S))
    np.testing.assert_allclose(g, [want, want], rtol=1e-13)
    H = xent.xent_hess(np.array([1.0, 0.5]), O, labels)
    h = 4 * math.exp(-S) / (1 + 4 * math.exp(-S)) ** 2  # d/dS of the slope
    np.testing.assert_allclose(H, np.full((2, 2), h), rtol=1e-12)


def test_gradient_at_huge_logits_is_finite():
    """Logits ~1e3 overflow exp unless the softmax is shifted; the gradient then is -(1 - p) ~ 0.

    One example, labels (0, 1), logits (1000 w, 999 w): dL/dw = -p_1 * 1 = -1/(1 + e^w).
    """
    O = np.array([[[1000.0, 999.0]]])
    for w in (1.0, 3.0):
        g = xent.xent_grad(np.array([w]), O, np.array([0]))
        assert g[0] == pytest.approx(-1 / (1 + math.exp(w)), rel=1e-12)
        h = xent.xent_hess(np.array([w]), O, np.array([0]))
        assert h[0, 0] == pytest.approx(math.exp(w) / (1 + math.exp(w)) ** 2, rel=1e-10)
