"""Softmax cross-entropy in numpy: value, gradient and Hessian with respect to circuit weights.

A plain, general implementation: circuits are given by their logits ``O`` of shape
``(I, N, Y)`` (circuit, example, label) and the classifier is ``h = sum_i w_i O_i``. The
theorems' closed forms are checked against this, so it does not use them.
"""

from __future__ import annotations

import numpy as np


def one_hot_circuits(n_circuits: int, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``I`` identical circuits that put logit 1 on the correct label of one example.

    Their cross-entropy at total weight ``S`` is ``log(1 + (n_labels - 1) e^{-S})``, the
    ``L_train`` of Theorem D.4 with normalised circuits (Section D.1).
    """
    O = np.zeros((n_circuits, 1, n_labels))
    O[:, 0, 0] = 1.0
    return O, np.zeros(1, dtype=int)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def xent(w: np.ndarray, O: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of ``h = sum_i w_i O_i`` on examples with the given labels."""
    return float(_xent_of_logits(np.einsum("i,iny->ny", w, O)[None], labels)[0])


def xent_ray(t: np.ndarray, Oi: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of ``t * Oi`` for every scale in the array ``t`` (one circuit, scaled)."""
    return _xent_of_logits(np.asarray(t)[:, None, None] * Oi[None], labels)


def _xent_of_logits(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean cross-entropy over examples for a batch of logits ``z`` of shape (T, N, Y).

    Written as ``log(1 + sum_{y' != y} e^{z_y' - z_y})`` with ``log1p`` where the correct
    label leads, so tiny losses (large weights) keep their relative precision.
    """
    rows = np.arange(len(labels))
    d = z - z[:, rows, labels][:, :, None]  # (T, N, Y), zero at the correct label
    d[:, rows, labels] = -np.inf
    m = d.max(axis=-1)
    lead = m <= 0  # correct label has the largest logit
    with np.errstate(over="ignore"):
        small = np.log1p(np.exp(np.minimum(d, 0.0)).sum(axis=-1))
        mm = np.maximum(m, 0.0)
        big = mm + np.log(np.exp(-mm) + np.exp(d - mm[..., None]).sum(axis=-1))
    return np.mean(np.where(lead, small, big), axis=-1)


def _centred(w: np.ndarray, O: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax ``p`` (N, Y) and logits relative to the correct label ``D`` (I, N, Y).

    Gradients and Hessians are written with ``D`` and the probabilities of the wrong labels,
    so nothing is computed as ``1 - p_correct`` (which loses every digit once p ~ 1).
    """
    rows = np.arange(len(labels))
    D = O - O[:, rows, labels][:, :, None]
    return _softmax(np.einsum("i,iny->ny", w, O)), D


def xent_grad(w: np.ndarray, O: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d xent / d w_i = mean_n sum_y p_ny (O_i[n, y] - O_i[n, y_n])."""
    p, D = _centred(w, O, labels)
    return np.einsum("ny,iny->i", p, D) / len(labels)


def xent_hess(w: np.ndarray, O: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d^2 xent / d w_i d w_j: the softmax-weighted covariance of the circuits' logits."""
    p, D = _centred(w, O, labels)
    mu = np.einsum("ny,iny->in", p, D)  # (I, N)
    C = D - mu[:, :, None]
    return np.einsum("ny,iny,jny->ij", p, C, C) / len(labels)
