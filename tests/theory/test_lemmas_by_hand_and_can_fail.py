"""Lemmas D.2 and D.3: hand-computed figures and negative controls for every verdict."""

from __future__ import annotations

import pytest

from grokcheck.theory import lemmas


def test_d2_concavity_proof_has_a_negative_control():
    """For r > 1, f(x) = x^r + (1-x)^r is convex: the same proof must not certify concavity."""
    concave, endpoints = lemmas.d2_exact(r_above_one=True)
    assert concave is False and endpoints is True
    assert lemmas.d2_exact() == (True, True)


def test_d2_numeric_slack_at_r_one_and_boundary():
    """r = 1: a + b - (a + b) = 0 exactly; r = 1/2 with a = 0 in the sample: slack exactly 0."""
    assert abs(lemmas.d2_numeric(n=500, r_range=(1.0, 1.0))) < 1e-15
    assert lemmas.d2_numeric(n=500, r_range=(0.5, 0.5)) == 0.0


def test_d2_numeric_counterexample_size():
    """r = 2 and a = b gives (2a)^2 / (2 a^2) - 1: slack -1/2 relative; the sample reaches near it."""
    slack = lemmas.d2_numeric(n=5000, r_range=(2.0, 2.0))
    assert -0.5 <= slack < -0.45


def test_d2_counterexample_figures():
    c = lemmas.check_d2(n=200).counterexample
    assert (c["a"], c["b"], c["r"], c["lhs"], c["rhs"], c["violated"]) == (1.0, 1.0, 2.0, 4.0, 2.0, True)


@pytest.mark.parametrize(
    "exact, slack, holds",
    [
        ((True, True), 0.0, True),
        ((True, True), -1e-13, True),
        ((True, True), -1e-12, True),  # the documented tolerance: slack >= -1e-12
        ((True, True), -0.6e-12, True),
        ((True, True), -1.5e-12, False),
        ((True, True), -1e-11, False),
        ((False, True), 0.0, False),
        ((True, False), 0.0, False),
    ],
)
def test_d2_verdict(monkeypatch, exact, slack, holds):
    monkeypatch.setattr(lemmas, "d2_exact", lambda: exact)
    monkeypatch.setattr(lemmas, "d2_numeric", lambda n, seed: slack)
    r = lemmas.check_d2(n=10)
    assert r.holds is holds and r.n_numeric == 10 and r.min_numeric_slack == slack


@pytest.mark.parametrize(
    "x, r, c, want",
    [
        # x^2 - (x-e)^2 = 2xe - e^2 > e (2x - c)  <=>  e < c; the grid includes e = delta itself
        (1.0, 2.0, 1.0, 0.5),  # delta = min(x, 1) = 1 fails at e = 1 (equality), 1/2 works
        (4.0, 2.0, 3.0, 1.0),  # e < 3: delta = min(4, 1) = 1 works at once
        (2.0, 2.0, 0.3, 0.25),  # e < 0.3: 1 and 1/2 fail, 1/4 works
    ],
)
def test_d3_delta_by_hand(x, r, c, want):
    assert lemmas.d3_find_delta(x, r, c) == want


def test_d3_as_printed_by_hand():
    """Delta on the right: 2e - e^2 > delta for all e < delta fails as e -> 0, whatever delta."""
    assert lemmas.d3_find_delta(1.0, 2.0, 1.0, on_right="delta") is None
    # with c >= r x^(r-1) the right side is <= 0 and the printed form holds at delta = min(x, 1)
    assert lemmas.d3_find_delta(1.0, 2.0, 2.5, on_right="delta") == 1.0


def test_d3_gives_up_after_sixty_halvings():
    """c = 0 needs 2xe - e^2 > 2xe: false for every e > 0, so no delta down to 2^-60."""
    assert lemmas.d3_find_delta(1.0, 2.0, 0.0) is None


def test_d3_verdicts(monkeypatch):
    r = lemmas.check_d3(n=5)
    assert r.holds and r.corrected_holds and r.derivative_exact and r.n_numeric == 5
    p = r.as_printed_counterexample
    assert (p["x"], p["r"], p["c"], p["delta_found"]) == (1.0, 2.0, 1.0, None)
    calls = []
    real = lemmas.d3_find_delta

    def some_fail(x, r_, c, *, on_right="epsilon"):
        calls.append(on_right)
        return None if len(calls) == 3 else real(x, r_, c, on_right=on_right)

    monkeypatch.setattr(lemmas, "d3_find_delta", some_fail)
    assert not lemmas.check_d3(n=5).holds  # one sample without a delta fails the lemma
    monkeypatch.setattr(lemmas, "d3_find_delta", real)
    monkeypatch.setattr(lemmas, "d3_exact", lambda: False)
    assert not lemmas.check_d3(n=5).holds


def test_d3_samples_are_in_the_lemma_s_range(monkeypatch):
    seen = []
    monkeypatch.setattr(
        lemmas, "d3_find_delta", lambda x, r, c, on_right="epsilon": seen.append((x, r, c)) or 1.0
    )
    lemmas.check_d3(n=200, seed=1)
    samples = seen[:200]
    assert all(0.01 <= x <= 100 and r >= 1 and 0 < c <= r * x ** (r - 1) for x, r, c in samples)
    assert max(x for x, _, _ in samples) > 10 and min(x for x, _, _ in samples) < 0.1  # both decades
    assert max(r for _, r, _ in samples) > 4  # exponential(2) tail
    # the documented laws: log10 x ~ U(-2, 2), r - 1 ~ Exp(mean 2), log10 (c / r x^(r-1)) ~ U(-4, 0)
    assert max(x for x, _, _ in samples) > 50 and min(x for x, _, _ in samples) < 0.02
    r_minus_1 = [r - 1 for _, r, _ in samples]
    assert min(r_minus_1) < 0.05 and 1.6 < sum(r_minus_1) / len(r_minus_1) < 2.4  # mean 2, sd 0.14
    c_rel = [c / (r * x ** (r - 1)) for x, r, c in samples]
    assert 1e-4 <= min(c_rel) < 1e-3 and max(c_rel) > 0.1


def test_check_lemmas_combines(monkeypatch):
    r = lemmas.check_lemmas(seed=0)
    assert r.holds and r.d2.holds and r.d3.holds
    from dataclasses import replace

    good2, good3 = r.d2, r.d3
    for d2, d3 in ((replace(good2, holds=False), good3), (good2, replace(good3, holds=False))):
        monkeypatch.setattr(lemmas, "check_d2", lambda seed, d2=d2: d2)
        monkeypatch.setattr(lemmas, "check_d3", lambda seed, d3=d3: d3)
        assert not lemmas.check_lemmas().holds


def test_d3_exact_limit():
    assert lemmas.d3_exact() is True


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_check_lemmas_seed_range(seed):
    from grokcheck.errors import InputError

    with pytest.raises(InputError, match="--seed"):
        lemmas.check_lemmas(seed=seed)


def test_signature_defaults_and_frozen():
    import dataclasses
    import inspect

    def defaults(f):
        return {k: v.default for k, v in inspect.signature(f).parameters.items() if v.default is not v.empty}

    assert defaults(lemmas.d2_numeric) == {"n": 20000, "seed": 0, "r_range": (1e-3, 1.0)}
    assert defaults(lemmas.check_d2) == {"n": 20000, "seed": 0}
    assert defaults(lemmas.check_d3) == {"n": 300, "seed": 0}
    assert defaults(lemmas.check_lemmas) == {"seed": 0}
    assert defaults(lemmas.d3_find_delta) == {"on_right": "epsilon"}
    assert defaults(lemmas.d2_exact) == {"r_above_one": False}
    for cls in (lemmas.LemmaD2, lemmas.LemmaD3, lemmas.LemmasCheck):
        assert cls.__dataclass_params__.frozen
    r = lemmas.check_d3(n=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.holds = False


def test_d2_numeric_draws_span_decades():
    """a, b span ~1e-3..1e3 (exponential times 10^U(-3, 3)); r = 1 is always among the samples."""
    s1 = lemmas.d2_numeric(n=4000, seed=2, r_range=(0.999999, 1.0))
    assert abs(s1) < 1e-5
    # with r fixed at 0.1, min slack over a = 0 rows is 0; drop them by checking r = 0.1 vs 0.2 ranges
    assert lemmas.d2_numeric(n=4000, r_range=(0.1, 0.1)) == 0.0


def test_check_d2_uses_its_arguments(monkeypatch):
    seen = {}
    monkeypatch.setattr(lemmas, "d2_numeric", lambda n, seed: seen.update(n=n, seed=seed) or 0.0)
    monkeypatch.setattr(lemmas, "d2_exact", lambda: (True, True))
    lemmas.check_d2(n=123, seed=9)
    assert seen == {"n": 123, "seed": 9}


def test_check_lemmas_passes_the_seed(monkeypatch):
    seen = []
    real2, real3 = lemmas.check_d2, lemmas.check_d3
    monkeypatch.setattr(lemmas, "check_d2", lambda seed: seen.append(("d2", seed)) or real2(n=100, seed=seed))
    monkeypatch.setattr(lemmas, "check_d3", lambda seed: seen.append(("d3", seed)) or real3(n=3, seed=seed))
    assert lemmas.check_lemmas(seed=7).holds
    assert seen == [("d2", 7), ("d3", 7)]


@pytest.mark.parametrize("r_above_one", [False, True])
def test_d2_second_derivative_parts_by_hand(r_above_one):
    """d^2/dx^2 x^r = r (r-1) x^(r-2); the x-part comes first, the y-part second."""
    import sympy as sp

    r, x, y, (part_x, part_y) = lemmas.d2_second_derivative(r_above_one=r_above_one)
    assert sp.simplify(part_x - r * (r - 1) * x ** (r - 2)) == 0
    assert sp.simplify(part_y - r * (r - 1) * y ** (r - 2)) == 0
    # r = 1/(1+s), s >= 0 spans (0, 1]; r = 1 + s, s > 0 spans (1, oo)
    (s,) = r.free_symbols
    assert {sp.simplify(r.subs(s, 0)), sp.limit(r, s, sp.oo)} == ({1, 0} if not r_above_one else {1, sp.oo})
    # concave for r <= 1 (both parts provably <= 0); the negative control is convex for the right
    # reason (both parts provably >= 0), not because sympy could not decide
    want = "is_nonnegative" if r_above_one else "is_nonpositive"
    assert all(getattr(p, want) is True for p in (part_x, part_y))


def test_endpoints_are_one_rejects_a_wrong_endpoint():
    import sympy as sp

    x = sp.symbols("x", positive=True)
    f = sp.sqrt(x) + sp.sqrt(1 - x)
    assert lemmas.endpoints_are_one(f, x)
    assert lemmas.endpoints_are_one(f + x * (1 - x), x)  # interior changes do not matter
    assert not lemmas.endpoints_are_one(f + x, x)  # f(1) = 2
    assert not lemmas.endpoints_are_one(f + 1 - x, x)  # f(0) = 2


def test_d2_second_derivative_default_is_the_lemma_s_range():
    import sympy as sp

    r, *_ = lemmas.d2_second_derivative()
    (s,) = r.free_symbols
    assert sp.simplify(r - 1 / (1 + s)) == 0


def test_d3_as_printed_grid_reaches_down_to_a_millionth_of_delta():
    """Delta on the right, x = 1, r = 2: 2e - e^2 > delta (2 - c) must hold for every grid e.

    lhs grows with e, so the smallest grid point e = 1e-6 delta decides: 2e-6 - 1e-12 > 2 - c
    holds for 2 - c = 1.5e-6 (delta = min(x, 1) = 1 found) and fails for 2 - c = 3e-6 at every
    delta (the condition scales with delta), so no delta is found.
    """
    assert lemmas.d3_find_delta(1.0, 2.0, 2.0 - 1.5e-6, on_right="delta") == 1.0
    assert lemmas.d3_find_delta(1.0, 2.0, 2.0 - 3e-6, on_right="delta") is None
