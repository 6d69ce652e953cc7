"""Exact derivations with sympy, shared by the theorem checks.

Everything here is derived, not typed in: the exponent of Theorem D.4 comes from solving the
stationarity condition of Eq. 6 for ``w_i`` and reading off the power of ``P_i``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


def exact(x: float) -> Any:
    """A float as the exact rational it was typed as (``1.2`` -> ``6/5``), for sympy."""
    import sympy as sp

    return sp.nsimplify(repr(float(x)), rational=True)


@lru_cache(maxsize=1)
def d4_stationary_weight() -> tuple[Any, dict[str, Any]]:
    """Solve dL/dw_i = 0 of Eq. 6 for ``w_i`` with symbolic ``kappa, q, alpha, P_i`` and ``g``.

    ``g = -dL_train/dS > 0`` is the common slope of the training loss: with identical circuits
    ``L_train`` depends on ``S = sum_j w_j`` only, so ``dL_train/dw_i = dL_train/dS`` for every i.
    The condition d/dw [alpha/q (w^(1/kappa) P)^q] = g is a monomial equation, so sympy takes its
    log (linear in log w and log P) and solves that; ``sp.solve`` on the power form gives the same
    answer 8x slower. The solution is substituted back as a check. Returns ``(w_i, symbols)``
    where ``symbols`` also holds ``log_w`` (the solved log w_i) and ``log_P``.
    """
    import sympy as sp

    kappa, q, alpha, P, g, w = sp.symbols("kappa q alpha P g w", positive=True)
    log_w, log_P = sp.symbols("log_w log_P", real=True)
    # Eq. 6 per circuit: L = L_train(S) + alpha/q * (w^(1/kappa) * P)^q
    decay_slope = sp.diff(alpha / q * (w ** (1 / kappa) * P) ** q, w)
    in_logs = sp.expand_log(sp.log(decay_slope) - sp.log(g), force=True)
    linear = in_logs.subs({sp.log(w): log_w, sp.log(P): log_P})
    if linear.has(w) or linear.has(P):
        raise RuntimeError(f"stationarity is not linear in log w, log P: {linear}")
    solved_for, log_w_star = sp.solve_linear(linear, symbols=[log_w])
    if solved_for != log_w:
        raise RuntimeError(f"sympy could not solve the stationarity condition: {linear}")
    w_star = sp.exp(log_w_star.subs(log_P, sp.log(P)))
    for values in (
        {kappa: sp.Rational(6, 5), q: 2, alpha: sp.Rational(1, 200), P: 3, g: sp.Rational(1, 7)},
        {kappa: 3, q: sp.Rational(1, 2), alpha: 2, P: sp.Rational(5, 4), g: 5},
    ):
        residual = (decay_slope - g).subs(w, w_star).subs(values)
        if abs(sp.N(residual, 30)) > sp.Float("1e-25"):
            raise RuntimeError(f"sympy's stationary point does not solve dL/dw = 0 (residual {residual})")
    symbols = {
        "kappa": kappa,
        "q": q,
        "alpha": alpha,
        "P": P,
        "g": g,
        "w": w,
        "log_w": log_w_star,
        "log_P": log_P,
    }
    return w_star, symbols


@lru_cache(maxsize=1)
def d4_exponent_symbolic() -> Any:
    """The power of ``P_i`` in the stationary ``w_i``: ``d log w_i / d log P_i`` (symbolic)."""
    import sympy as sp

    _, s = d4_stationary_weight()
    return sp.together(sp.diff(s["log_w"], s["log_P"]))


def d4_exponent(kappa: float, q: float) -> Any:
    """The exact exponent for given ``kappa < q``: ``-q*kappa/(q-kappa)`` as sympy derives it."""
    import sympy as sp

    _, s = d4_stationary_weight()
    value = d4_exponent_symbolic().subs({s["kappa"]: exact(kappa), s["q"]: exact(q)})
    return value if value.is_Rational else sp.nsimplify(sp.simplify(value))
