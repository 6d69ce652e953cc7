"""The toy model's verify rows hold for Table 1 and fail on traces of a different model."""

from __future__ import annotations

import dataclasses

import pytest

from grokcheck.sim import checks
from grokcheck.sim.dynamics import grokking_summary, simulate
from grokcheck.sim.model import PRESETS


@pytest.fixture(scope="module")
def traces():
    return {p: simulate(cfg) for p, cfg in PRESETS.items()}


def test_claims_hold_on_table_1(traces):
    a, b, c = traces["2a"], traces["2b"], traces["2c"]
    assert checks.late_fall(a, PRESETS["2a"]).holds
    assert checks.gen_onset(a).holds
    assert checks.substitution(a).holds
    assert checks.never_grows(b, PRESETS["2b"]).holds
    assert checks.no_delay(c, grokking_summary(a).delay).holds


def test_claims_fail_on_the_wrong_panel(traces):
    """Negative tests: each claim rejects a run that does not show it."""
    a, b, c = traces["2a"], traces["2b"], traces["2c"]
    assert not checks.late_fall(c, PRESETS["2c"]).holds  # no delay in 2c
    assert not checks.late_fall(b, PRESETS["2b"]).holds  # test loss never falls in 2b
    assert not checks.gen_onset(c).holds  # C_gen grows at once in 2c
    assert not checks.substitution(b).holds
    assert not checks.never_grows(a, PRESETS["2a"]).holds
    assert not checks.no_delay(a, grokking_summary(a).delay).holds


def test_onset_claim_rejects_eq2_weight_decay():
    """Negative test: with Eq. 2's 1/2 C_gen grows too late for Figure 2a's caption."""
    half = simulate(dataclasses.replace(PRESETS["2a"], wd_half=True))
    assert not checks.gen_onset(half).holds
    assert checks.late_fall(half, PRESETS["2a"]).holds  # it still groks, only later


def test_verify_rows():
    rows = list(checks.checks(quick=True))
    assert len(rows) == 10 and all(r.holds for r in rows), [r for r in rows if not r.holds]
    sources = {r.source for r in rows}
    assert {"Figure 2a", "Figure 2b", "Figure 2c", "Appendix C", "Theorem D.4"} <= sources
    ratios = [r for r in rows if r.name.startswith("converged")]
    assert [r.figure.split()[0] for r in ratios] == ["8", "0.125", "8"]


def test_registered_with_verify():
    from grokcheck.verify import PROVIDERS

    assert "grokcheck.sim.checks" in PROVIDERS
    assert PROVIDERS.index("grokcheck.sim.checks") > PROVIDERS.index("grokcheck.theory.checks")


@pytest.mark.slow
def test_full_rows():
    rows = list(checks.checks(quick=False))
    assert all(r.holds for r in rows) and len(rows) == 11
