"""The documented input ranges (docs/testing.md's table): each edge accepted, just past it refused.

The figures here are the documentation's, written out again, so a changed range constant in
grokcheck/theory/ranges.py fails against the documented contract.
"""

from __future__ import annotations

import math

import pytest

from grokcheck.errors import InputError
from grokcheck.theory import d1, lemmas
from grokcheck.theory.d4 import D4Config, check_d4

DOC = {
    "kappa": (0.01, 100.0),
    "q": (0.1, 10.0),
    "alpha": (1e-8, 1e4),
    "norms": (1e-3, 1e3),
    "n_labels": (2, 1000),
}
# companions that keep the joint weight bound inside [1e-100, 1e30] at each single-option edge
EASY = {
    ("kappa", 0): {"q": 0.1},
    ("kappa", 1): {"q": 10.0, "alpha": 1.0},
    ("q", 0): {"kappa": 0.1},
    ("q", 1): {"kappa": 10.0, "alpha": 1.0},
    ("alpha", 0): {"kappa": 0.1},
    ("alpha", 1): {},
    ("norms", 0): {"kappa": 0.1},
    ("norms", 1): {"kappa": 0.1},
    ("n_labels", 0): {},
    ("n_labels", 1): {},
}


def _value(name, x):
    return (float(x),) if name == "norms" else x


@pytest.mark.parametrize("name", DOC)
@pytest.mark.parametrize("side", [0, 1])
def test_d4_option_edges(name, side):
    edge = DOC[name][side]
    D4Config(**{name: _value(name, edge)}, **EASY[name, side])  # the edge itself is accepted
    if name == "n_labels":
        past = edge - 1 if side == 0 else edge + 1
    else:
        past = edge * (1 - 1e-9) if side == 0 else edge * (1 + 1e-9)
    with pytest.raises(InputError) as e:
        D4Config(**{name: _value(name, past)}, **EASY[name, side])
    assert e.value.name == name


def test_d4_number_of_circuits():
    D4Config(norms=(1.0,) * 64)
    with pytest.raises(InputError, match="1 to 64"):
        D4Config(norms=(1.0,) * 65)
    with pytest.raises(InputError, match="1 to 64"):
        D4Config(norms=())


@pytest.mark.parametrize("log10_bound, ok", [(29.99, True), (30.01, False), (-99.99, True), (-100.01, False)])
def test_d4_joint_weight_bound_edges(log10_bound, ok):
    """One circuit, alpha = 1: log10 bound = (kappa/q) (log10(q ln 113) - q log10 P). kappa = 20, q = 2
    reaches 30 at P = 1 with alpha = 2 ln 113 / 10^3; kappa = 100, q = 1 reaches -100 at
    log10 P = log10 ln 113 + 1."""
    if log10_bound > 0:
        kw = {"kappa": 20.0, "q": 2.0, "alpha": 2 * math.log(113) / 10 ** (log10_bound / 10), "norms": (1.0,)}
    else:
        P = 10 ** (math.log10(math.log(113)) - log10_bound / 100)
        kw = {"kappa": 100.0, "q": 1.0, "alpha": 1.0, "norms": (P,)}
    if ok:
        D4Config(**kw)
    else:
        with pytest.raises(InputError, match="weight bound"):
            D4Config(**kw)


@pytest.mark.parametrize("w, ok", [(1.05e-8, True), (0.95e-8, False), (0.95e8, True), (1.05e8, False)])
def test_d4_predicted_optimum_edges(monkeypatch, w, ok):
    """The predicted largest weight must lie in [1e-8, 1e8]; the numeric work is stubbed out."""
    import numpy as np

    import grokcheck.theory.d4 as d4

    monkeypatch.setattr(d4, "predicted_weights", lambda cfg, exponent=None: (np.array([w, 0.0]), (0,), ""))
    monkeypatch.setattr(d4, "numeric_optimum", lambda cfg, **k: np.array([w, 0.0]))
    if ok:
        assert check_d4(D4Config()).holds
    else:
        with pytest.raises(InputError, match="predicted largest weight"):
            check_d4(D4Config())


@pytest.fixture
def no_work(monkeypatch):
    """The D.1 and lemma checks with their work stubbed: only the range checks and the assembly run."""
    from types import SimpleNamespace

    monkeypatch.setattr(
        d1,
        "exact_check",
        lambda: SimpleNamespace(negative_when_margins_positive=True, undecided_when_margins_real=True),
    )
    monkeypatch.setattr(d1, "numeric_check", lambda **k: SimpleNamespace(holds=True))
    monkeypatch.setattr(d1, "find_violation", lambda **k: SimpleNamespace(found=True))
    monkeypatch.setattr(lemmas, "check_d2", lambda seed: SimpleNamespace(holds=True))
    monkeypatch.setattr(lemmas, "check_d3", lambda seed: SimpleNamespace(holds=True))


@pytest.mark.parametrize("n, ok", [(1, True), (100_000, True), (0, False), (100_001, False)])
def test_d1_classifier_count_edges(no_work, n, ok):
    if ok:
        assert d1.check_d1(n_classifiers=n).holds
    else:
        with pytest.raises(InputError) as e:
            d1.check_d1(n_classifiers=n)
        assert e.value.name == "n_classifiers"


@pytest.mark.parametrize("seed, ok", [(0, True), (2**63 - 1, True), (-1, False), (2**63, False)])
def test_seed_edges(no_work, seed, ok):
    for check in (lambda: d1.check_d1(seed=seed), lambda: lemmas.check_lemmas(seed=seed)):
        if ok:
            assert check().holds
        else:
            with pytest.raises(InputError) as e:
                check()
            assert e.value.name == "seed"
