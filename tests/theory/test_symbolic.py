"""The sympy derivation behind Theorem D.4's exponent."""

from __future__ import annotations

import sympy as sp

from grokcheck.theory.symbolic import d4_exponent, d4_exponent_symbolic, d4_stationary_weight, exact


def test_symbolic_exponent_is_the_theorems():
    _, s = d4_stationary_weight()
    kappa, q = s["kappa"], s["q"]
    assert sp.simplify(d4_exponent_symbolic() - (-q * kappa / (q - kappa))) == 0


def test_exact_values():
    assert d4_exponent(1.2, 2.0) == -3
    assert d4_exponent(0.5, 3.0) == sp.Rational(-3, 5)
    assert exact(1.2) == sp.Rational(6, 5)


def test_stationary_weight_solves_the_condition():
    """Independent of the solver: differentiate Eq. 6's decay term by hand and substitute."""
    w_star, s = d4_stationary_weight()
    kappa, q, alpha, P, g = (s[k] for k in ("kappa", "q", "alpha", "P", "g"))
    by_hand = alpha / kappa * P**q * w_star ** (q / kappa - 1) - g  # d/dw of alpha/q w^(q/kappa) P^q, minus g
    for vals in (
        {kappa: 1, q: 3, alpha: 2, P: 5, g: 7},
        {kappa: sp.Rational(6, 5), q: 2, alpha: 1, P: 2, g: 1},
    ):
        assert abs(sp.N(by_hand.subs(vals), 40)) < 1e-30
