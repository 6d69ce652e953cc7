"""The sympy derivation's own safety checks must fire when sympy gives a wrong answer."""

from __future__ import annotations

import pytest
import sympy as sp

from grokcheck.theory import symbolic


@pytest.fixture(autouse=True)
def fresh_cache():
    symbolic.d4_stationary_weight.cache_clear()
    symbolic.d4_exponent_symbolic.cache_clear()
    yield
    symbolic.d4_stationary_weight.cache_clear()
    symbolic.d4_exponent_symbolic.cache_clear()


W = sp.Symbol("w", positive=True)
P = sp.Symbol("P", positive=True)


@pytest.mark.parametrize("extra", [sp.Function("f")(W), sp.Function("f")(P)])
def test_nonlinear_stationarity_is_refused(monkeypatch, extra):
    """A term in w (or in P) that the log substitution cannot remove must stop the derivation."""
    real = sp.expand_log
    monkeypatch.setattr(sp, "expand_log", lambda e, **k: real(e, **k) + extra)
    with pytest.raises(RuntimeError, match="not linear"):
        symbolic.d4_stationary_weight()


def test_unsolved_is_refused(monkeypatch):
    monkeypatch.setattr(sp, "solve_linear", lambda expr, symbols: (sp.Symbol("other"), sp.Integer(0)))
    with pytest.raises(RuntimeError, match="could not solve"):
        symbolic.d4_stationary_weight()


@pytest.mark.parametrize("factor", [2, sp.Rational(1, 2) + sp.Rational(1, 10**20)])
def test_wrong_solution_is_refused(monkeypatch, factor):
    """A solution off by a factor (even one of 1 + 2e-20) fails the substitution check."""
    real = sp.solve_linear

    def wrong(expr, symbols):
        s, val = real(expr, symbols=symbols)
        return s, val + sp.log(2 * factor)

    monkeypatch.setattr(sp, "solve_linear", wrong)
    with pytest.raises(RuntimeError, match="does not solve"):
        symbolic.d4_stationary_weight()


def test_both_substitution_points_are_used(monkeypatch):
    """A wrong solution that is right at the first check point only is still caught (second point)."""
    real = sp.solve_linear
    kappa = sp.Symbol("kappa", positive=True)

    def wrong(expr, symbols):
        s, val = real(expr, symbols=symbols)
        return s, val + (kappa - sp.Rational(6, 5)) ** 2

    monkeypatch.setattr(sp, "solve_linear", wrong)
    with pytest.raises(RuntimeError, match="does not solve"):
        symbolic.d4_stationary_weight()


def test_stationary_weight_closed_form():
    """By hand: alpha/kappa P^q w^(q/kappa - 1) = g gives w = (g kappa / (alpha P^q))^(kappa/(q-kappa))."""
    w, s = symbolic.d4_stationary_weight()
    kappa, q, alpha, g = (s[k] for k in ("kappa", "q", "alpha", "g"))
    hand = (g * kappa / (alpha * s["P"] ** q)) ** (kappa / (q - kappa))
    vals = {kappa: sp.Rational(3, 2), q: 4, alpha: sp.Rational(1, 3), s["P"]: 2, g: sp.Rational(2, 7)}
    assert abs(sp.N((w - hand).subs(vals), 40)) < 1e-35


def test_exponent_irrational_input():
    """kappa = 1/3 typed as 0.3333 stays exact: -q*kappa/(q-kappa) with kappa = 3333/10000."""
    k = sp.Rational(3333, 10000)
    assert symbolic.d4_exponent(0.3333, 2.0) == -2 * k / (2 - k)
    assert symbolic.exact(0.1) == sp.Rational(1, 10)
