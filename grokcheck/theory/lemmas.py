"""Lemmas D.2 and D.3 (Appendix D), used in the proof of Theorem D.4.

Lemma D.2: for a, b >= 0 and 0 < r <= 1, (a + b)^r <= a^r + b^r.
  Exact: with x = a/(a+b), the claim is f(x) = x^r + (1-x)^r >= 1 on [0, 1]. sympy shows
  f'' <= 0 (f is concave; r written as 1/(1+s), s >= 0, so that sympy knows r <= 1) and
  f(0) = f(1) = 1, hence f >= 1. Numeric: random a, b, r. For r > 1 it fails (a = b = 1,
  r = 2: 4 > 2), which the check reports as the counterexample.

Lemma D.3 as printed: for any x, c, r with r >= 1 there is delta > 0 such that for every
  epsilon < delta, x^r - (x - epsilon)^r > delta * (r x^(r-1) - c).
  This is false as printed: letting epsilon -> 0 makes the left side -> 0 while the right side
  stays delta * (r x^(r-1) - c), positive whenever c < r x^(r-1) (e.g. x = 1, r = 2, c = 1).
  The proof (and its use in Theorem D.4's case 2) needs epsilon on the right and 0 < epsilon,
  c > 0:  x^r - (x - epsilon)^r > epsilon * (r x^(r-1) - c)  for 0 < epsilon < delta.
  That corrected form follows from the derivative of x^r at x > 0, which sympy computes as a
  limit; numerically we find a delta for random x > 0, r >= 1, c > 0 and test a grid of epsilon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LemmaD2:
    concave_exact: bool  # sympy: f'' <= 0 for 0 < r <= 1
    endpoints_exact: bool  # f(0) = f(1) = 1
    n_numeric: int
    min_numeric_slack: float  # min over samples of a^r + b^r - (a+b)^r (relative); >= 0 expected
    counterexample: dict  # for r > 1
    holds: bool


@dataclass(frozen=True)
class LemmaD3:
    derivative_exact: bool  # sympy: lim (x^r - (x-e)^r)/e = r x^(r-1)
    n_numeric: int
    corrected_holds: bool  # epsilon on the right side: a delta was found for every sample
    as_printed_counterexample: dict  # delta on the right: fails for small epsilon
    holds: bool  # the corrected statement, which is what Theorem D.4's proof uses


@dataclass(frozen=True)
class LemmasCheck:
    d2: LemmaD2
    d3: LemmaD3
    holds: bool


def d2_second_derivative(*, r_above_one: bool = False):
    """f''(x) for f(x) = x^r + (1-x)^r, split into a part in x and a part in y = 1 - x.

    Returns ``(r, x, y, (part_x, part_y))`` with sympy symbols x, y > 0; each part is factored
    (by hand: part_x = r (r-1) x^(r-2), part_y = r (r-1) y^(r-2)). r = 1/(1+s), s >= 0, or with
    ``r_above_one`` r = 1 + s, s > 0.
    """
    import sympy as sp

    x, y = sp.symbols("x y", positive=True)
    t = sp.symbols("t", real=True)
    if r_above_one:
        s = sp.symbols("s", positive=True)
        r = 1 + s
    else:
        s = sp.symbols("s", nonnegative=True)
        r = 1 / (1 + s)
    # f''(x) at 0 < x < 1 is the second derivative of (x+t)^r + (y-t)^r at t = 0 with y = 1-x > 0
    f2 = sp.expand(sp.diff((x + t) ** r + (y - t) ** r, t, 2).subs(t, 0))
    terms = sp.Add.make_args(f2)
    part_x, part_y = (sp.factor(sp.Add(*[a for a in terms if not a.has(other)])) for other in (y, x))
    return r, x, y, (part_x, part_y)


def endpoints_are_one(f, x) -> bool:
    """sympy: f(0) = 1 and f(1) = 1."""
    import sympy as sp

    return sp.simplify(f.subs(x, 0) - 1) == 0 and sp.simplify(f.subs(x, 1) - 1) == 0


def d2_exact(*, r_above_one: bool = False) -> tuple[bool, bool]:
    """sympy: f(x) = x^r + (1-x)^r is concave on (0, 1) for r = 1/(1+s), s >= 0, and f(0)=f(1)=1.

    Concave because each part of f'' (:func:`d2_second_derivative`) is provably <= 0.
    ``r_above_one=True`` is the negative control: r = 1 + s with s > 0, where f is convex and
    the same proof must report "not concave".
    """
    r, x, _, parts = d2_second_derivative(r_above_one=r_above_one)
    concave = all(p.is_nonpositive is True for p in parts)
    return bool(concave), bool(endpoints_are_one(x**r + (1 - x) ** r, x))


def d2_numeric(n: int = 20000, seed: int = 0, r_range: tuple[float, float] = (1e-3, 1.0)) -> float:
    """min over random a, b >= 0 and r in ``r_range`` of (a^r + b^r - (a+b)^r) / (a+b)^r."""
    rng = np.random.default_rng(seed)
    a = rng.exponential(size=n) * 10.0 ** rng.uniform(-3, 3, n)
    b = rng.exponential(size=n) * 10.0 ** rng.uniform(-3, 3, n)
    a[: n // 50] = 0.0  # the boundary case
    r = rng.uniform(*r_range, n)
    r[-1] = r_range[1]
    lhs = (a + b) ** r
    return float(np.min((a**r + b**r - lhs) / lhs))


def check_d2(n: int = 20000, seed: int = 0) -> LemmaD2:
    concave, endpoints = d2_exact()
    slack = d2_numeric(n, seed)
    a, b, r = 1.0, 1.0, 2.0
    lhs, rhs = (a + b) ** r, a**r + b**r
    counter = {"a": a, "b": b, "r": r, "lhs": lhs, "rhs": rhs, "violated": lhs > rhs}
    return LemmaD2(concave, endpoints, n, slack, counter, concave and endpoints and slack >= -1e-12)


def d3_exact() -> bool:
    """sympy: (x^r - (x - e)^r) / e -> r x^(r-1) as e -> 0+, for symbolic x > 0 and r >= 1."""
    import sympy as sp

    x, e = sp.symbols("x e", positive=True)
    t = sp.symbols("t", nonnegative=True)
    r = 1 + t
    lim = sp.limit((x**r - (x - e) ** r) / e, e, 0, "+")
    return sp.simplify(lim - r * x ** (r - 1)) == 0


def d3_find_delta(x: float, r: float, c: float, *, on_right: str = "epsilon") -> float | None:
    """Largest delta in 2^-k (k <= 60) for which the inequality holds on a grid of epsilon < delta.

    ``on_right="epsilon"`` tests the corrected lemma, ``"delta"`` the lemma as printed.
    Returns None when no delta works.
    """
    d_true = r * x ** (r - 1)
    for k in range(0, 61):
        delta = min(x, 1.0) * 2.0**-k
        eps = delta * np.geomspace(1e-6, 1.0, 60)  # up to delta itself: slightly stronger than e < delta
        # x^r - (x - e)^r without cancellation: x^r (1 - (1 - e/x)^r); the plain difference is
        # rounding noise once e/x < ~1e-10 and made tiny deltas "work" for the printed form
        with np.errstate(divide="ignore"):
            lhs = -(x**r) * np.expm1(r * np.log1p(-eps / x))
        rhs = (eps if on_right == "epsilon" else delta) * (d_true - c)
        if np.all(lhs > rhs):
            return float(delta)
    return None


def check_d3(n: int = 300, seed: int = 0) -> LemmaD3:
    rng = np.random.default_rng(seed)
    ok = True
    for _ in range(n):
        x = 10.0 ** rng.uniform(-2, 2)
        r = 1.0 + rng.exponential(2.0)
        # c relative to the derivative, so the test is meaningful at every scale
        c = r * x ** (r - 1) * 10.0 ** rng.uniform(-4, 0)
        ok &= d3_find_delta(x, r, c, on_right="epsilon") is not None
    x, r, c = 1.0, 2.0, 1.0
    printed = {"x": x, "r": r, "c": c, "delta_found": d3_find_delta(x, r, c, on_right="delta")}
    exact = d3_exact()
    return LemmaD3(exact, n, bool(ok), printed, exact and bool(ok))


def check_lemmas(seed: int = 0) -> LemmasCheck:
    """Lemmas D.2 and D.3; ``seed`` in [0, 2^63-1] (:mod:`grokcheck.theory.ranges`)."""
    from grokcheck import validate
    from grokcheck.theory import ranges

    validate.int_in("seed", seed, *ranges.SEED)
    d2, d3 = check_d2(seed=seed), check_d3(seed=seed)
    return LemmasCheck(d2, d3, d2.holds and d3.holds)
