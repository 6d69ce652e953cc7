"""Theorem D.1 (Appendix D): scaling up a perfectly accurate classifier lowers cross-entropy.

Statement: if every correct logit beats every wrong one on the training set, then
L_xent(c*h) < L_xent(h) for every c > 1.

Checked two ways:

- exactly (sympy): with margins m_j = o_y* - o_y' > 0, the loss of c*h on one example is
  log(1 + sum_j exp(-c m_j)); sympy proves d/dc of it is negative for c > 0 and every
  positive m_j (for 1..``max_wrong`` wrong labels), and that the sign is undecided once a
  margin may be negative;
- numerically, on random perfect-accuracy classifiers: the loss strictly falls along a grid of
  c > 1, and the exact derivative agrees with a finite difference.

The hypothesis matters: :func:`find_violation` searches random classifiers that are *not*
perfectly accurate for one whose loss rises when scaled up, and reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokcheck.theory.xent import xent


@dataclass(frozen=True)
class D1Exact:
    """Sympy's verdict on the sign of dL/dc for ``k`` wrong labels."""

    wrong_labels: tuple[int, ...]
    negative_when_margins_positive: bool
    undecided_when_margins_real: bool
    derivative: str  # the k=1 derivative, for display


@dataclass(frozen=True)
class D1Numeric:
    n_classifiers: int
    n_examples: int
    n_labels: int
    scales: tuple[float, ...]
    max_loss_ratio: float  # max over classifiers and c>1 of L(c h) / L(h); must be < 1
    max_derivative: float  # max over classifiers of dL/dc at c=1; must be < 0
    max_fd_rel_error: float  # exact derivative vs central finite difference
    holds: bool


@dataclass(frozen=True)
class D1Violation:
    """A classifier without perfect accuracy whose loss rises when scaled by ``scale``."""

    found: bool
    accuracy: float
    scale: float
    loss: float
    scaled_loss: float


@dataclass(frozen=True)
class D1Check:
    theorem: str
    exact: D1Exact
    numeric: D1Numeric
    violation: D1Violation
    holds: bool


def exact_check(max_wrong: int = 4) -> D1Exact:
    """Sympy: sign of d/dc log(1 + sum_j e^(-c m_j)) with c > 0 and m_j > 0 (then m_j real)."""
    import sympy as sp

    c = sp.symbols("c", positive=True)
    ks = tuple(range(1, max_wrong + 1))
    negative = True
    undecided = True
    shown = ""
    for k in ks:
        m_pos = sp.symbols(f"m1:{k + 1}", positive=True)
        m_real = sp.symbols(f"r1:{k + 1}", real=True)
        for ms, want in ((m_pos, "negative"), (m_real, "undecided")):
            loss = sp.log(1 + sum(sp.exp(-c * m) for m in ms))
            dl = sp.together(sp.diff(loss, c))
            if want == "negative":
                negative &= dl.is_negative is True
                if k == 1:
                    shown = str(sp.simplify(dl))
            else:
                undecided &= dl.is_negative is None
    return D1Exact(ks, negative, undecided, shown)


def random_perfect_classifier(
    rng: np.random.Generator, n_examples: int, n_labels: int, margins: tuple[float, float] = (1e-3, 3.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Random logits (N, Y) and labels; the correct logit leads the best wrong one by a margin
    drawn from ``margins`` (> 0 for a perfect classifier; a negative range breaks the hypothesis)."""
    logits = rng.normal(scale=rng.uniform(0.1, 5.0), size=(n_examples, n_labels))
    labels = rng.integers(0, n_labels, size=n_examples)
    rows = np.arange(n_examples)
    others = logits.copy()
    others[rows, labels] = -np.inf
    logits[rows, labels] = others.max(axis=1) + rng.uniform(*margins, size=n_examples)
    return logits, labels


def loss_of(logits: np.ndarray, labels: np.ndarray, scale: float = 1.0) -> float:
    """L_xent(scale * h) for a classifier given by its logits."""
    return xent(np.array([scale]), logits[None], labels)


def dloss_dscale(logits: np.ndarray, labels: np.ndarray, scale: float = 1.0) -> float:
    """d/dc L_xent(c h) at c = ``scale`` in closed form: mean_n sum_y p_ny (o_ny - o_ny*)."""
    rows = np.arange(len(labels))
    d = logits - logits[rows, labels][:, None]
    z = scale * d
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return float(np.mean(np.sum(p * d, axis=1)))


def numeric_check(
    *,
    n_classifiers: int = 200,
    n_examples: int = 20,
    n_labels: int = 7,
    seed: int = 0,
    margins: tuple[float, float] = (1e-3, 3.0),
) -> D1Numeric:
    """Random perfect classifiers: L(c h) < L(h) for c in (1, 100], dL/dc < 0, FD agreement.

    ``margins`` sets the range of correct-minus-best-wrong logit; give a negative range to
    feed the check classifiers that violate the hypothesis (it must then report failure).
    """
    rng = np.random.default_rng(seed)
    scales = (1.001, 1.01, 1.1, 1.5, 2.0, 5.0, 20.0, 100.0)
    max_ratio, max_deriv, max_fd = 0.0, -np.inf, 0.0
    for _ in range(n_classifiers):
        logits, labels = random_perfect_classifier(rng, n_examples, n_labels, margins)
        base = loss_of(logits, labels)
        max_ratio = max(max_ratio, max(loss_of(logits, labels, c) / base for c in scales))
        d = dloss_dscale(logits, labels)
        h = 1e-5
        fd = (loss_of(logits, labels, 1 + h) - loss_of(logits, labels, 1 - h)) / (2 * h)
        max_deriv = max(max_deriv, d)
        max_fd = max(max_fd, abs(fd - d) / max(abs(d), 1e-300))
    holds = max_ratio < 1.0 and max_deriv < 0.0 and max_fd < 1e-5
    return D1Numeric(n_classifiers, n_examples, n_labels, scales, max_ratio, max_deriv, max_fd, holds)


def find_violation(
    *, n_tries: int = 2000, n_examples: int = 5, n_labels: int = 5, seed: int = 0
) -> D1Violation:
    """Search classifiers without perfect accuracy for one where scaling up (c=2) raises the loss."""
    rng = np.random.default_rng(seed)
    for _ in range(n_tries):
        logits = rng.normal(size=(n_examples, n_labels))
        labels = rng.integers(0, n_labels, size=n_examples)
        acc = float(np.mean(logits.argmax(axis=1) == labels))
        if acc == 1.0:
            continue
        base, scaled = loss_of(logits, labels), loss_of(logits, labels, 2.0)
        if scaled > base:
            return D1Violation(True, acc, 2.0, base, scaled)
    return D1Violation(False, float("nan"), 2.0, float("nan"), float("nan"))


def check_d1(*, n_classifiers: int = 200, seed: int = 0) -> D1Check:
    """Theorem D.1, exact and numeric, plus the counterexample without its hypothesis.

    ``n_classifiers`` in [1, 100000] and ``seed`` in [0, 2^63-1] (:mod:`grokcheck.theory.ranges`).
    """
    from grokcheck import validate
    from grokcheck.theory import ranges

    validate.int_in("n_classifiers", n_classifiers, *ranges.N_CLASSIFIERS)
    validate.int_in("seed", seed, *ranges.SEED)
    exact = exact_check()
    numeric = numeric_check(n_classifiers=n_classifiers, seed=seed)
    violation = find_violation(seed=seed)
    holds = exact.negative_when_margins_positive and exact.undecided_when_margins_real and numeric.holds
    return D1Check("D.1", exact, numeric, violation, holds and violation.found)
