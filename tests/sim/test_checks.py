"""The toy model's verify rows: Figure 2's caption claims under Appendix C's losses, each
against Table 1 and against a trace where the claim must fail."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from grokcheck.sim import checks
from grokcheck.sim.dynamics import Trace, grokking_summary, simulate
from grokcheck.sim.model import PRESETS


@pytest.fixture(scope="module")
def traces():
    return {p: simulate(cfg) for p, cfg in PRESETS.items()}


def made_trace(train, test, *, w_gen=None, w_mem=None, wd=None) -> Trace:
    """A trace with the given Appendix C losses (cross-entropy = loss - wd)."""
    train, test = np.asarray(train, float), np.asarray(test, float)
    n = len(train)
    wd = np.zeros(n) if wd is None else np.asarray(wd, float)
    w_gen = np.zeros(n) if w_gen is None else np.asarray(w_gen, float)
    w_mem = np.zeros(n) if w_mem is None else np.asarray(w_mem, float)
    return Trace(
        step=np.arange(n),
        subweights=np.zeros((n, 4)),
        w_gen=w_gen,
        w_mem=w_mem,
        train_loss=train,
        test_loss=test,
        train_xent=train - wd,
        test_xent=test - wd,
        wd_loss=wd,
        param_norm=np.zeros(n),
    )


def test_rows_on_table_1(traces):
    """Every caption claim holds under Appendix C's losses except 2c's 'very similar'."""
    rows = checks.caption_rows(traces)
    assert [r.source for r in rows] == ["Figure 2a"] * 4 + ["Figure 2b"] * 2 + ["Figure 2c"] * 3
    failing = [r.name for r in rows if not r.holds]
    assert failing == ["test loss is very similar to train loss throughout training"]


def test_similar_losses_figures_by_hand(traces):
    """The 2c ratio, recomputed with a plain loop over the trace, both definitions."""
    c = traces["2c"]
    for loss, (train, test) in {
        "appendix_c": (c.train_xent + c.wd_loss, c.test_xent + c.wd_loss),
        "xent": (c.train_xent, c.test_xent),
    }.items():
        best, at = -1.0, -1
        for t in range(100, 10_001):
            if test[t] / train[t] > best:
                best, at = test[t] / train[t], t
        assert checks.max_loss_ratio(c, loss) == (pytest.approx(best, rel=1e-15), at)
    # Appendix C: 5.66 at step 217; cross-entropy alone: 17.1 at step 387 (docs/toy-model.md)
    assert checks.max_loss_ratio(c, "appendix_c")[0] == pytest.approx(5.66, abs=0.01)
    assert checks.max_loss_ratio(c, "xent")[0] == pytest.approx(17.1, abs=0.05)
    assert "5.66 at step 217" in checks.similar_losses(c).figure


def test_similar_losses_passes_and_fails_on_made_traces():
    """A trace whose test loss is 10x its train loss fails the 2c row; 1.5x passes."""
    train = np.linspace(4.7, 0.1, 1001)
    assert not checks.similar_losses(made_trace(train, 10 * train)).holds
    assert checks.similar_losses(made_trace(train, 1.5 * train)).holds
    # a burst of 10x after the first 1% fails; the same burst inside the first 1% is skipped
    burst = 1.1 * train
    burst[50] = 10 * train[50]
    assert not checks.similar_losses(made_trace(train, burst)).holds
    early = 1.1 * train
    early[5] = 10 * train[5]
    assert checks.similar_losses(made_trace(train, early)).holds


def test_zero_train_loss_gives_an_infinite_ratio_without_warnings():
    import warnings

    train = np.array([1.0, 0.5, 0.0, 0.0])
    test = np.array([1.0, 0.5, 0.0, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(checks.loss_ratio(test, train), [1, 1, 1, np.inf])
        assert not checks.similar_losses(made_trace(train, test)).holds


def test_claims_fail_on_the_wrong_panel(traces):
    """Negative tests: each claim rejects a run that does not show it."""
    a, b, c = traces["2a"], traces["2b"], traces["2c"]
    assert not checks.late_fall(c, PRESETS["2c"]).holds  # no delay in 2c
    assert not checks.late_fall(b, PRESETS["2b"]).holds  # test loss never falls in 2b
    assert not checks.gen_onset(c).holds  # C_gen grows at once in 2c
    assert not checks.substitution(b).holds
    assert not checks.norm_falls(b).holds  # 9.79 -> 9.50
    assert not checks.never_grows(a).holds
    assert not checks.never_grows(c).holds
    assert not checks.test_stays_high(a, PRESETS["2a"]).holds
    assert not checks.test_stays_high(c, PRESETS["2c"]).holds
    assert not checks.prioritised(a).holds
    assert not checks.prioritised(b).holds
    assert not checks.similar_losses(a).holds
    assert not checks.no_delay(a, grokking_summary(a).delay).holds


def test_loss_definition_changes_what_late_fall_sees():
    """late_fall decides under the definition it is given: a trace that groks in its
    cross-entropy but whose L_wd keeps the total test loss above 1 fails under Appendix C."""
    n = 5001
    train_x = np.full(n, 0.05)
    train_x[:100] = np.linspace(math.log(113), 0.05, 100)
    test_x = np.full(n, 6.0)
    test_x[4000:] = 0.1
    wd = np.full(n, 2.0)
    t = made_trace(train_x + wd, test_x + wd, wd=wd)
    assert checks.late_fall(t, PRESETS["2a"], "xent").holds
    assert not checks.late_fall(t, PRESETS["2a"], "appendix_c").holds


def test_onset_claim_rejects_eq2_weight_decay():
    """Negative test: with Eq. 2's 1/2 C_gen grows too late for Figure 2a's caption."""
    half = simulate(dataclasses.replace(PRESETS["2a"], wd_half=True))
    assert not checks.gen_onset(half).holds
    assert checks.late_fall(half, PRESETS["2a"]).holds  # it still groks, only later


def test_verify_rows():
    rows = list(checks.checks(quick=True))
    assert len(rows) == 14
    assert [r.name for r in rows if not r.holds] == [
        "test loss is very similar to train loss throughout training"
    ]
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
    assert len(rows) == 15 and [r.name for r in rows if not r.holds] == [
        "test loss is very similar to train loss throughout training"
    ]
