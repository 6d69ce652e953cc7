"""Lemmas D.2 and D.3, including the counterexamples the checks must find."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from grokcheck.theory.lemmas import check_d2, check_d3, d2_exact, d2_numeric, d3_exact, d3_find_delta


def test_d2_exact():
    assert d2_exact() == (True, True)


@given(a=st.floats(0, 1e3), b=st.floats(0, 1e3), r=st.floats(1e-3, 1.0))
def test_d2_property(a, b, r):
    assert (a + b) ** r <= (a**r + b**r) * (1 + 1e-12)


def test_d2_check_and_counterexample():
    d2 = check_d2(n=2000)
    assert d2.holds and d2.counterexample["violated"]


def test_d2_numeric_says_no_for_r_above_one():
    assert d2_numeric(n=2000, r_range=(1.2, 3.0)) < -0.1


def test_d3_exact_derivative():
    assert d3_exact()


@given(x=st.floats(0.05, 20.0), r=st.floats(1.0, 6.0), frac=st.floats(1e-3, 0.999))
def test_d3_corrected_has_a_delta(x, r, frac):
    c = frac * r * x ** (r - 1)
    delta = d3_find_delta(x, r, c)
    assert delta is not None
    eps = delta * np.array([1e-3, 0.3, 0.9])
    assert np.all(x**r - (x - eps) ** r > eps * (r * x ** (r - 1) - c))


def test_d3_as_printed_is_false():
    """The printed statement (delta on the right) has no valid delta when c < r x^(r-1)."""
    assert d3_find_delta(1.0, 2.0, 1.0, on_right="delta") is None
    assert d3_find_delta(2.0, 3.0, 0.5, on_right="delta") is None


def test_d3_checker_says_no_with_negative_c():
    """With c < 0 the corrected inequality fails for small epsilon (it needs c > 0)."""
    assert d3_find_delta(1.0, 2.0, -0.5) is None


def test_check_d3():
    d3 = check_d3(n=50)
    assert d3.holds and d3.as_printed_counterexample["delta_found"] is None
