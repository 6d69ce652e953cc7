"""Theorem D.4 (Appendix D.1, Eq. 6): how weight decay allocates weight across circuits.

Eq. 6:  L(w) = L_train(sum_i w_i C_i) + alpha/q * sum_i (w_i^(1/kappa) P_i)^q,  w_i >= 0.

With circuits that produce identical train logits, the theorem says a global minimiser has

- case 1 (kappa >= q): w_i = 0 for every circuit whose norm P_i is not minimal;
- case 2 (0 < kappa < q): w_i proportional to P_i^(-q*kappa/(q-kappa)).

:func:`check_d4` computes the prediction (exponent derived by sympy, scale by a 1-D solve)
and, independently, the numeric optimum of Eq. 6 (:mod:`grokcheck.theory.eq6`: generic
cross-entropy, multi-start L-BFGS-B from random points and from every vertex, then Newton
polishing), and compares them.

Two names differ from the paper to avoid its overloaded ``q``: ``q`` is the norm exponent of
Eq. 6 and ``n_labels`` the number of classes (Appendix C's ``q``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from grokcheck import validate
from grokcheck.errors import InputError
from grokcheck.theory import ranges, xent
from grokcheck.theory.eq6 import eq6_loss, global_min_1d, log10_weight_bound, numeric_optimum, weight_bound

#: relative gap below which two norms count as tied
TIE_RTOL = 1e-9
#: agreement needed between predicted and numeric optimum (max error / largest weight)
AGREE_RTOL = 1e-4


@dataclass(frozen=True)
class D4Config:
    """Inputs of Theorem D.4. Defaults are Table 1 (a)'s: P = (1, 2), kappa 1.2, alpha 0.005."""

    kappa: float = 1.2
    q: float = 2.0
    norms: tuple[float, ...] = (1.0, 2.0)
    alpha: float = 0.005
    n_labels: int = 113

    def __post_init__(self) -> None:
        validate.float_in("kappa", self.kappa, *ranges.KAPPA)
        validate.float_in("q", self.q, *ranges.Q)
        validate.float_in("alpha", self.alpha, *ranges.ALPHA)
        if isinstance(self.norms, str) or not hasattr(self.norms, "__len__"):
            raise InputError("norms", f"must be a sequence of numbers, got {self.norms!r}")
        if not 1 <= len(self.norms) <= ranges.MAX_CIRCUITS:
            raise InputError(
                "norms", f"must list 1 to {ranges.MAX_CIRCUITS} circuit norms, got {len(self.norms)}"
            )
        norms = tuple(validate.float_in("norms", p, *ranges.NORM) for p in self.norms)
        object.__setattr__(self, "norms", norms)
        validate.int_in("n_labels", self.n_labels, *ranges.N_LABELS)
        bounds = [log10_weight_bound(p, self) for p in norms]
        lo, hi = ranges.LOG10_WEIGHT_BOUND
        if not lo <= min(bounds) <= max(bounds) <= hi:
            worst = max(bounds) if max(bounds) > hi else min(bounds)
            raise InputError(
                "kappa",
                f"with --q {self.q:g}, --alpha {self.alpha:g}, norms from {min(norms):g} to "
                f"{max(norms):g} and --n-labels {self.n_labels} a weight bound "
                f"(q ln n / (alpha P^q))^(kappa/q) is 1e{worst:.0f}, outside [1e{lo:g}, 1e{hi:g}]; "
                "move --kappa/--q towards 1 or --alpha towards 1",
            )


@dataclass(frozen=True)
class D4Check:
    """Theorem D.4's prediction against the numeric optimum of Eq. 6."""

    theorem: str
    kappa: float
    q: float
    alpha: float
    n_labels: int
    norms: tuple[float, ...]
    case: int
    exponent: float | None
    exponent_exact: str | None
    predicted_weights: tuple[float, ...]
    numeric_weights: tuple[float, ...]
    predicted_loss: float
    numeric_loss: float
    max_rel_error: float
    tolerance: float
    assumption_holds: bool
    holds: bool
    tied: tuple[int, ...] = field(default=())
    note: str = ""


# ---------------------------------------------------------------------------------------------
# The prediction


def theorem_case(kappa: float, q: float) -> int:
    """Case 1 if kappa >= q (all weight on the most efficient circuit), case 2 otherwise."""
    return 1 if kappa >= q else 2


def l_train(S: float, n_labels: int) -> float:
    """L_train(S) = log(1 + (n_labels - 1) e^-S): cross-entropy of a one-hot classifier scaled by S."""
    return float(np.logaddexp(0.0, math.log(n_labels - 1) - S))


def _l_train_slope(S: float, n_labels: int) -> float:
    """dL_train/dS = -1 / (1 + e^(S - log(n_labels - 1)))."""
    with np.errstate(over="ignore"):
        return -1.0 / (1.0 + math.exp(min(S - math.log(n_labels - 1), 700.0)))


def predicted_weights(
    cfg: D4Config, *, exponent: float | None = None
) -> tuple[np.ndarray, tuple[int, ...], str]:
    """Theorem D.4's optimum as a full weight vector, with the tied minimal-norm circuits.

    Case 2: ``w_i = c * P_i^exponent`` (exponent from sympy unless given, e.g. to test that a
    wrong one is caught), ``c`` from the convex 1-D problem in ``c``. Case 1: the total weight
    ``S`` on one circuit of minimal norm, ``S`` from a global 1-D minimisation (the loss in S is
    not convex when kappa > q).
    """
    P = np.asarray(cfg.norms)
    a, q, kappa = cfg.alpha, cfg.q, cfg.kappa
    p_min = float(P.min())
    tied = tuple(int(i) for i in np.flatnonzero(P <= p_min * (1 + TIE_RTOL)))
    if theorem_case(kappa, q) == 1 and exponent is None:

        def loss_total(S: np.ndarray) -> np.ndarray:
            return np.logaddexp(0.0, math.log(cfg.n_labels - 1) - S) + a / q * p_min**q * S ** (q / kappa)

        S = global_min_1d(loss_total, weight_bound(p_min, cfg))
        w = np.zeros_like(P)
        w[tied[0]] = S
        if len(tied) == 1:
            note = ""
        elif kappa == q:
            note = f"circuits {list(tied)} tie for the minimal norm; any split among them is optimal"
        else:
            note = f"circuits {list(tied)} tie for the minimal norm; all weight on any one of them is optimal"
        return w, tied, note

    e = float(exponent if exponent is not None else d4_exponent_value(kappa, q))
    v = np.exp(e * (np.log(P) - math.log(p_min)))  # P_i^e scaled so the largest entry is 1
    sv = float(v.sum())
    r = q / kappa
    coef = a / kappa * float(np.sum(P**q * v**r))
    if r <= 1:  # only reachable with an overridden exponent: L(c v) need not be convex in c

        def loss_c(c: np.ndarray) -> np.ndarray:
            return np.logaddexp(0.0, math.log(cfg.n_labels - 1) - c * sv) + coef * kappa / q * c**r

        bound = max(weight_bound(float(p), cfg) / float(x) for p, x in zip(P, v, strict=True))
        return global_min_1d(loss_c, bound) * v, tied, ""

    from scipy.optimize import brentq

    def slope(c: float) -> float:  # d/dc of L(c v); increasing in c because r > 1
        return sv * _l_train_slope(c * sv, cfg.n_labels) + coef * c ** (r - 1)

    hi = 1.0
    while slope(hi) < 0:
        hi *= 2.0
    tiny = 1e-300
    if slope(tiny) >= 0:
        # near kappa = q, c^(r-1) jumps from 0 to ~1 within (0, 1e-300]: the root lies below
        # float resolution and the optimum is w = 0 (weight decay outweighs any logit gain)
        return 0.0 * v, tied, ""
    c = brentq(slope, tiny, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return c * v, tied, ""


def d4_exponent_value(kappa: float, q: float) -> float:
    """-q*kappa/(q-kappa), evaluated from the sympy derivation (case 2 only)."""
    from grokcheck.theory.symbolic import d4_exponent

    return float(d4_exponent(kappa, q))


# ---------------------------------------------------------------------------------------------
# The check


def _grouped(w: np.ndarray, tied: tuple[int, ...]) -> np.ndarray:
    """Sum the tied minimal-norm circuits into one entry (their split is not determined)."""
    rest = [i for i in range(len(w)) if i not in tied]
    return np.concatenate([[w[list(tied)].sum()], w[rest]])


def max_rel_error(pred: np.ndarray, num: np.ndarray) -> float:
    """max_i |pred_i - num_i| / max_j |pred_j|: error relative to the scale of the optimum.

    Relative to the largest weight, not elementwise: near kappa = q the theorem's smaller
    weights are ~P^-1000 and no optimiser resolves them, nor does the claim depend on them.
    """
    scale = max(float(np.max(np.abs(pred))), float(np.max(np.abs(num))))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(pred - num)) / scale)


def check_d4(
    cfg: D4Config = D4Config(),
    *,
    exponent: float | None = None,
    train_logits: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    tolerance: float = AGREE_RTOL,
) -> D4Check:
    """Compare Theorem D.4's optimum with the numeric optimum of Eq. 6.

    ``exponent`` overrides the derived one (a deliberately wrong theory must fail);
    ``train_logits``/``labels`` give circuits whose train logits may differ, which violates
    the theorem's assumption (the prediction then need not match, and the check says so).
    """
    case = theorem_case(cfg.kappa, cfg.q)
    pred, tied, note = predicted_weights(cfg, exponent=exponent)
    top = float(np.max(pred))
    lo, hi = ranges.OPTIMUM
    if exponent is None and not lo <= top <= hi:  # before the (expensive) numeric optimum
        raise InputError(
            "alpha",
            f"with --kappa {cfg.kappa:g}, --q {cfg.q:g}, --alpha {cfg.alpha:g} and these norms the "
            f"predicted largest weight is {top:.3g}, outside [{lo:g}, {hi:g}] where Eq. 6 can be "
            "optimised in float64; move --alpha or the norms towards 1",
        )
    if train_logits is None:
        O, lab = xent.one_hot_circuits(len(cfg.norms), cfg.n_labels)
        assumption = True
    else:
        O, lab = np.asarray(train_logits, dtype=float), np.asarray(labels)
        if O.shape[0] != len(cfg.norms):
            raise InputError("train_logits", f"has {O.shape[0]} circuits but norms has {len(cfg.norms)}")
        assumption = bool(np.all(O == O[0]))
        if not assumption:
            note = (
                note + "; " if note else ""
            ) + "circuits' train logits differ: the theorem's assumption is violated"
    num = numeric_optimum(cfg, train_logits=O, labels=lab)
    if case == 1 and len(tied) > 1 and exponent is None:
        err = max_rel_error(_grouped(pred, tied), _grouped(num, tied))
    else:
        err = max_rel_error(pred, num)
    exp_exact = None
    exp_value = None
    if case == 2 or exponent is not None:
        if exponent is None:
            from grokcheck.theory.symbolic import d4_exponent

            ex = d4_exponent(cfg.kappa, cfg.q)
            exp_exact, exp_value = str(ex), float(ex)
        else:
            exp_value = float(exponent)
    return D4Check(
        theorem="D.4",
        kappa=cfg.kappa,
        q=cfg.q,
        alpha=cfg.alpha,
        n_labels=cfg.n_labels,
        norms=cfg.norms,
        case=case,
        exponent=exp_value,
        exponent_exact=exp_exact,
        predicted_weights=tuple(float(x) for x in pred),
        numeric_weights=tuple(float(x) for x in num),
        predicted_loss=eq6_loss(pred, cfg, O, lab),
        numeric_loss=eq6_loss(num, cfg, O, lab),
        max_rel_error=err,
        tolerance=tolerance,
        assumption_holds=assumption,
        holds=bool(err <= tolerance),
        tied=tied if len(tied) > 1 else (),
        note=note,
    )
