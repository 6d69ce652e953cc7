"""The theory rows of ``grokcheck verify``: every verdict follows its parts, figures as printed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import grokcheck.theory.d1 as d1
import grokcheck.theory.d4 as d4
import grokcheck.theory.lemmas as lemmas
from grokcheck.theory import checks


@pytest.fixture
def fake(monkeypatch):
    """Replace the expensive checks by records whose every field the test controls."""
    state = {
        "exact": d1.D1Exact((1, 2, 3, 4), True, True, "x"),
        "num_holds": True,
        "viol": d1.D1Violation(True, 0.4, 2.0, 1.5765, 1.88391),
        "d2_holds": True,
        "violated": True,
        "d3_holds": True,
        "delta_found": None,
        "d4_fail": None,
        "calls": {},
    }

    def numeric_check(n_classifiers):
        state["calls"]["num"] = n_classifiers
        return d1.D1Numeric(n_classifiers, 20, 7, (2.0,), 0.9993284, -1.0, 0.0, state["num_holds"])

    def check_d2(n):
        state["calls"]["d2"] = n
        c = {"r": 2.0, "lhs": 4.0, "rhs": 2.0, "violated": state["violated"]}
        return lemmas.LemmaD2(True, True, n, 1.234e-7, c, state["d2_holds"])

    def check_d3(n):
        state["calls"]["d3"] = n
        return lemmas.LemmaD3(True, n, True, {"delta_found": state["delta_found"]}, state["d3_holds"])

    def check_d4(cfg):
        state["calls"].setdefault("d4", []).append((cfg.q, cfg.kappa, cfg.norms))
        w = (8.0, 1.0) if (cfg.kappa, cfg.norms) == (1.2, (1.0, 2.0)) else (1.0,) * len(cfg.norms)
        bad = state["d4_fail"] == (cfg.q, cfg.kappa, cfg.norms)
        err = 0.5 if bad else 1e-9 * (1 + cfg.kappa)
        return SimpleNamespace(
            kappa=cfg.kappa,
            norms=cfg.norms,
            predicted_weights=w,
            max_rel_error=err,
            case=1 if cfg.kappa >= cfg.q else 2,
            holds=not bad,
        )

    monkeypatch.setattr(d1, "exact_check", lambda: state["exact"])
    monkeypatch.setattr(d1, "numeric_check", numeric_check)
    monkeypatch.setattr(d1, "find_violation", lambda: state["viol"])
    monkeypatch.setattr(lemmas, "check_d2", check_d2)
    monkeypatch.setattr(lemmas, "check_d3", check_d3)
    monkeypatch.setattr(d4, "check_d4", check_d4)
    return state


def _rows(quick=True):
    return list(checks.checks(quick=quick))


def test_rows_and_figures(fake):
    rows = _rows()
    assert [r.source for r in rows] == ["Theorem D.1"] * 3 + ["Lemma D.2", "Lemma D.3", "Theorem D.4"]
    assert all(r.holds for r in rows)
    assert rows[0].figure == "sympy: dL/dc < 0 for 1..4 wrong labels with margins > 0"
    assert rows[1].figure == "100 random classifiers: max L(ch)/L(h) = 0.999328 for c > 1"
    assert rows[2].figure == "accuracy 0.40: L(2h) = 1.8839 > L(h) = 1.5765"
    assert rows[3].figure == "sympy: concave, f(0)=f(1)=1; min slack 1.2e-07; r=2 breaks it (4 > 2)"
    assert rows[4].figure.startswith("sympy derivative; delta found for 100 random cases;")
    # 10 kappas x 2 norm sets; worst error 1e-9 * (1 + 4.0); Table 1 ratio 8/1
    assert (
        rows[5].figure
        == "20 configs, cases [1, 2], worst rel. error 5.0e-09; Table 1: w_gen/w_mem = 8.0000 (theory 8)"
    )
    assert fake["calls"]["num"] == 100 and fake["calls"]["d2"] == 5000 and fake["calls"]["d3"] == 100


def test_quick_and_full_grids(fake):
    _rows(quick=True)
    quick = fake["calls"]["d4"]
    assert len(quick) == 20 and {q for q, _, _ in quick} == {2.0}
    assert {k for _, k, _ in quick} == set(checks.KAPPA_GRID)
    fake["calls"].clear()
    rows = _rows(quick=False)
    full = fake["calls"]["d4"]
    assert len(full) == 30 and {q for q, _, _ in full} == {1.0, 2.0, 3.0}
    assert all(n == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0) for q, _, n in full if q != 2.0)
    assert fake["calls"]["num"] == 1000 and fake["calls"]["d2"] == 100000 and fake["calls"]["d3"] == 1000
    assert rows[5].figure.startswith("30 configs")


def test_grid_covers_both_cases_and_the_boundary():
    assert 2.0 in checks.KAPPA_GRID  # kappa = q
    assert min(checks.KAPPA_GRID) < 2.0 < max(checks.KAPPA_GRID)
    assert any(1.9 <= k < 2.0 for k in checks.KAPPA_GRID) and any(2.0 < k <= 2.1 for k in checks.KAPPA_GRID)


@pytest.mark.parametrize(
    "change, row",
    [
        ({"exact": d1.D1Exact((1,), False, True, "x")}, 0),
        ({"exact": d1.D1Exact((1,), True, False, "x")}, 0),
        ({"num_holds": False}, 1),
        ({"d2_holds": False}, 3),
        ({"violated": False}, 3),
        ({"d3_holds": False}, 4),
        ({"delta_found": 0.5}, 4),
        ({"d4_fail": (2.0, 2.5, (1.0, 1.5, 2.0, 3.0))}, 5),
    ],
)
def test_each_row_can_fail(fake, change, row):
    fake.update(change)
    rows = _rows()
    assert [r.holds for r in rows] == [i != row for i in range(6)]
    if row == 5:
        assert "worst rel. error 5.0e-01" in rows[5].figure


def test_no_violation_found(fake):
    fake["viol"] = d1.D1Violation(False, float("nan"), 2.0, float("nan"), float("nan"))
    row = _rows()[2]
    assert not row.holds and row.figure == "no counterexample found"


@pytest.mark.slow
def test_real_rows_hold():
    rows = list(checks.checks(quick=True))
    assert len(rows) == 6 and all(r.holds for r in rows)


def test_quick_is_the_default(fake):
    list(checks.checks())
    assert fake["calls"]["num"] == 100 and len(fake["calls"]["d4"]) == 20


def test_theory_rows_default_to_the_quick_scale():
    """`grokcheck verify` without --full runs the quick rows; the library default is the same."""
    import inspect

    assert inspect.signature(checks.checks).parameters["quick"].default is True
