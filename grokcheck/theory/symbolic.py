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
    Returns ``(w_i, symbols)``.
    """
    import sympy as sp

    kappa, q, alpha, P, g, w = sp.symbols("kappa q alpha P g w", positive=True)
    # Eq. 6 per circuit: L = L_train(S) + alpha/q * (w^(1/kappa) * P)^q
    wd = alpha / q * (w ** (1 / kappa) * P) ** q
    stationarity = -g + sp.diff(wd, w)
    # check=False, simplify=False: 4x faster (0.2 s); the solution is checked below instead
    solutions = sp.solve(sp.Eq(stationarity, 0), w, check=False, simplify=False)
    if len(solutions) != 1:
        raise RuntimeError(f"expected one positive stationary point, sympy found {solutions}")
    w_star = solutions[0]
    # substitute back at a few exact rational points (kappa < q and kappa > q): residual must be 0
    for values in (
        {kappa: sp.Rational(6, 5), q: 2, alpha: sp.Rational(1, 200), P: 3, g: sp.Rational(1, 7)},
        {kappa: 3, q: sp.Rational(1, 2), alpha: 2, P: sp.Rational(5, 4), g: 5},
    ):
        residual = stationarity.subs(w, w_star).subs(values)
        if abs(sp.N(residual, 30)) > sp.Float("1e-25"):
            raise RuntimeError(f"sympy's stationary point does not solve dL/dw = 0 (residual {residual})")
    return w_star, {"kappa": kappa, "q": q, "alpha": alpha, "P": P, "g": g, "w": w}


@lru_cache(maxsize=1)
def d4_exponent_symbolic() -> Any:
    """The power of ``P_i`` in the stationary ``w_i``, as ``d log w_i / d log P_i`` (symbolic)."""
    import sympy as sp

    w_star, s = d4_stationary_weight()
    # expand_log + together is enough here (all symbols are positive) and 100x faster than simplify
    return sp.together(sp.expand_log(s["P"] * sp.diff(sp.log(w_star), s["P"]), force=True))


def d4_exponent(kappa: float, q: float) -> Any:
    """The exact exponent for given ``kappa < q``: ``-q*kappa/(q-kappa)`` as sympy derives it."""
    import sympy as sp

    _, s = d4_stationary_weight()
    value = d4_exponent_symbolic().subs({s["kappa"]: exact(kappa), s["q"]: exact(q)})
    return value if value.is_Rational else sp.nsimplify(sp.simplify(value))
