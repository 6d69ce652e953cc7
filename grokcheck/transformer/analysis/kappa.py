"""A trained network's kappa, and Theorem D.4's C_gen : C_mem ratio from measured norms.

Section 3 / Appendix D.1 model a circuit scaled to weight ``w`` as having parameter norm
``w^(1/kappa) P``, "inspired by" a kappa-layer bias-free ReLU MLP, whose logits scale as
``c^kappa`` when every parameter is scaled by ``c``. The Appendix A transformer is not
homogeneous (residual stream: the direct path W_U W_E is degree 2, the attention path degree 4
times a softmax pattern that is not homogeneous, the MLP has biases), so its kappa is measured,
not assumed: scale every parameter by ``c``, measure the train margin, and fit the slope of
``log margin`` against ``log c`` (:func:`kappa_of_state`).

Margin (the paper gives none; Appendix B notes that logits matter only through
correct-minus-incorrect differences): ``kind="mean"``, the default, is the mean over the given
inputs of the correct logit minus the mean of the other ``n - 1`` logits (a smooth function of
the parameters; it is ``n / (n - 1)`` times the class-centred correct logit of
:mod:`grokcheck.transformer.analysis.circuits`). ``kind="max"`` uses the largest other logit instead (the
quantity Theorem D.1's scaling argument is about). For an exactly homogeneous network both scale
as ``c^kappa``.

:func:`predicted_ratio` then applies Theorem D.4 to measured norms ``P_gen`` and ``P_mem(D)`` at
one common logit (:func:`norm_at_logit` rescales a norm measured at another logit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from grokcheck import validate
from grokcheck.errors import InputError, RunError

MARGINS = ("mean", "max")
#: default scales: 9 points, geometric and symmetric about c = 1, in [0.8, 1.25]
DEFAULT_SCALES = tuple(float(c) for c in np.geomspace(0.8, 1.25, 9))
#: a fit counts as a power law when every local slope is within this of the fitted kappa
HOMOGENEITY_TOL = 0.05


@dataclass(frozen=True)
class KappaFit:
    """``log margin = kappa log c + intercept``, least squares over ``scales``.

    Attributes:
        kappa: the fitted slope.
        intercept: the fitted ``log margin`` at ``c = 1``.
        scales, margins: the measured points.
        local_slopes: slopes between successive points.
        max_slope_dev: ``max |local slope - kappa|``.
        homogeneous: ``max_slope_dev <= tol``: a single power law fits the whole range.
        kind: the margin's definition (module docstring).
        tol: the tolerance used.
    """

    kappa: float
    intercept: float
    scales: tuple[float, ...]
    margins: tuple[float, ...]
    local_slopes: tuple[float, ...]
    max_slope_dev: float
    homogeneous: bool
    kind: str
    tol: float


def margin(logits: torch.Tensor, labels: torch.Tensor, kind: str = "mean") -> float:
    """Mean over rows of the correct logit minus the mean (``"mean"``) or max (``"max"``) of the
    others. ``logits`` ``(N, n)``, ``labels`` ``(N,)``."""
    validate.choice("kind", kind, MARGINS)
    z = logits.to(torch.float64)
    lab = labels.to(device=z.device, dtype=torch.int64)
    correct = z.gather(-1, lab[:, None]).squeeze(-1)
    if kind == "mean":
        other = (z.sum(-1) - correct) / (z.shape[-1] - 1)
    else:
        other = z.scatter(-1, lab[:, None], float("-inf")).max(-1).values
    return float((correct - other).mean())


def fit_kappa(
    scales: Sequence[float], margins: Sequence[float], *, kind: str = "mean", tol=HOMOGENEITY_TOL
) -> KappaFit:
    """Fit ``margin = e^intercept c^kappa`` to measured points (pure).

    Raises:
        InputError: fewer than 2 scales, a non-positive scale, or unequal lengths.
        RunError: a margin that is not positive (the network does not fit its labels, so
            ``log margin`` and kappa are undefined).
    """
    c = np.asarray(scales, dtype=float)
    m = np.asarray(margins, dtype=float)
    if c.ndim != 1 or len(c) < 2 or len(c) != len(m):
        raise InputError("scales", f"need at least 2 scales and one margin each, got {len(c)} and {len(m)}")
    if not np.all(np.isfinite(c)) or np.any(c <= 0) or len(np.unique(c)) != len(c):
        raise InputError("scales", "must be distinct positive numbers")
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise RunError(f"margin is not positive at every scale (min {np.nanmin(m):.3g}): kappa is undefined")
    order = np.argsort(c)
    x, y = np.log(c[order]), np.log(m[order])
    kappa, intercept = np.polyfit(x, y, 1)
    local = np.diff(y) / np.diff(x)
    dev = float(np.max(np.abs(local - kappa)))
    return KappaFit(
        kappa=float(kappa),
        intercept=float(intercept),
        scales=tuple(float(v) for v in c[order]),
        margins=tuple(float(v) for v in m[order]),
        local_slopes=tuple(float(v) for v in local),
        max_slope_dev=dev,
        homogeneous=dev <= tol,
        kind=kind,
        tol=tol,
    )


def kappa_of_function(
    logits_at: Callable[[float], torch.Tensor],
    labels: torch.Tensor,
    *,
    scales: Sequence[float] = DEFAULT_SCALES,
    kind: str = "mean",
    tol: float = HOMOGENEITY_TOL,
) -> KappaFit:
    """kappa of any network given as ``c -> logits (N, n)`` with every parameter scaled by ``c``."""
    validate.choice("kind", kind, MARGINS)
    margins = [margin(logits_at(float(c)), labels, kind) for c in scales]
    return fit_kappa(scales, margins, kind=kind, tol=tol)


def kappa_of_state(
    state: Mapping[str, torch.Tensor],
    tokens: torch.Tensor,
    labels: torch.Tensor,
    *,
    scales: Sequence[float] = DEFAULT_SCALES,
    kind: str = "mean",
    tol: float = HOMOGENEITY_TOL,
    device: torch.device | str = "cpu",
) -> KappaFit:
    """kappa of a reference-model state dict: every parameter (biases too) times ``c``.

    Args:
        state: a :func:`grokcheck.transformer.model.model.make_model` state dict.
        tokens, labels: the inputs and the labels the margin is measured on (normally the train
            set and the labels it was trained on).
    """
    from grokcheck.transformer.analysis.circuits import all_logits

    base = {k: v.to(torch.float64) for k, v in state.items()}

    def logits_at(c: float) -> torch.Tensor:
        return all_logits({k: v * c for k, v in base.items()}, tokens, device=device)[0]

    return kappa_of_function(logits_at, labels, scales=scales, kind=kind, tol=tol)


# ---------------------------------------------------------------------------------------------
# Theorem D.4 applied to measured norms


def theorem_case(kappa: float, q: float = 2.0) -> int:
    """Theorem D.4's case: 1 if ``kappa >= q`` (one circuit takes all), 2 if ``kappa < q``."""
    from grokcheck.theory.d4 import theorem_case as case

    return case(validate.positive_float("kappa", kappa), validate.positive_float("q", q))


def semi_grokking_possible(kappa: float, q: float = 2.0) -> bool:
    """Case 2 (``kappa < q``): both circuits keep weight at the optimum, so a mixture (and
    middling test accuracy, Section 5.3) can be stable near ``D_crit``."""
    return theorem_case(kappa, q) == 2


def predicted_ratio(p_gen, p_mem_of_D, kappa: float, q: float = 2.0) -> np.ndarray:
    """Theorem D.4's ``w_gen / w_mem`` at the optimum of Eq. 6, elementwise over D.

    ``P_gen`` and ``P_mem(D)`` are the parameter norms of a C_gen-only and a C_mem-only
    network producing the same logit (the theorem's normalised circuits); ``w`` scales a
    circuit's logits, so the ratio is also the predicted ``o_t / o_m`` (Figure 10a).

    - case 2 (``kappa < q``): ``(P_gen / P_mem)^(-q kappa / (q - kappa))``;
    - case 1 (``kappa >= q``): ``inf`` where ``P_gen < P_mem``, ``0`` where ``P_gen > P_mem``,
      ``nan`` at a tie (the theorem does not choose).

    Raises:
        InputError: non-positive or non-finite norms, kappa or q.
    """
    kappa = validate.positive_float("kappa", kappa)
    q = validate.positive_float("q", q)
    g = np.asarray(p_gen, dtype=float)
    m = np.asarray(p_mem_of_D, dtype=float)
    for name, arr in (("p_gen", g), ("p_mem_of_D", m)):
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise InputError(name, "parameter norms must be finite and positive")
    g, m = np.broadcast_arrays(g, m)
    if kappa < q:
        return (g / m) ** (-q * kappa / (q - kappa))
    return np.where(g < m, np.inf, np.where(g > m, 0.0, np.nan))


def norm_at_logit(norm, logit, target_logit, kappa: float) -> np.ndarray:
    """A norm measured at ``logit`` moved to ``target_logit`` with D.1's model ``P' = w^(1/kappa) P``."""
    kappa = validate.positive_float("kappa", kappa)
    n, lo, t = (np.asarray(v, dtype=float) for v in (norm, logit, target_logit))
    if np.any(lo <= 0) or np.any(t <= 0):
        raise InputError("logit", "logits must be positive to rescale a norm")
    return n * (t / lo) ** (1.0 / kappa)


def crossing_size(D, p_gen, p_mem_of_D) -> float | None:
    """The first ``D`` where ``P_mem(D)`` reaches ``P_gen`` (``D_crit``: equal efficiency, ratio
    1 in both cases), interpolated linearly in ``log D``; ``None`` when it never does."""
    d = np.asarray(D, dtype=float)
    gap = np.asarray(p_mem_of_D, dtype=float) - np.broadcast_to(np.asarray(p_gen, dtype=float), d.shape)
    order = np.argsort(d)
    d, gap = d[order], gap[order]
    if gap[0] >= 0:
        return float(d[0]) if gap[0] == 0 else None
    for i in range(1, len(d)):
        if gap[i] >= 0:
            t = -gap[i - 1] / (gap[i] - gap[i - 1])
            return float(math.exp(math.log(d[i - 1]) + t * (math.log(d[i]) - math.log(d[i - 1]))))
    return None
