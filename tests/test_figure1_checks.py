"""Figure 1's caption checks on hand-made traces: each holds on the behaviour it names and
fails on the others."""

from __future__ import annotations

import math

from grokcheck.transformer import figure1_checks as f1


def trace(steps, train_acc, test_acc, train_loss, test_loss):
    return [
        {"step": s, "train_acc": a, "test_acc": b, "train_loss": c, "test_loss": d, "param_norm": 1.0}
        for s, a, b, c, d in zip(steps, train_acc, test_acc, train_loss, test_loss, strict=True)
    ]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


STEPS = list(range(0, 10_001, 100))


def grokking_trace():
    """Train fitted by step 300; test accuracy 0.01 until ~5000, then 1.0; test loss 1e-4."""
    train_acc = [min(1.0, s / 300) for s in STEPS]
    test_acc = [0.01 + 0.99 * sigmoid((s - 5000) / 100) for s in STEPS]
    test_acc[-1] = 1.0
    test_loss = [max(1e-4, 10 * (1 - a)) for a in test_acc]
    return trace(STEPS, train_acc, test_acc, [0.01] * len(STEPS), test_loss)


def semi_trace(final=0.83):
    train_acc = [min(1.0, s / 300) for s in STEPS]
    test_acc = [0.05 + (final - 0.05) * sigmoid((s - 5000) / 200) for s in STEPS]
    test_loss = [8 - 6 * (a - 0.05) for a in test_acc]
    return trace(STEPS, train_acc, test_acc, [0.01] * len(STEPS), test_loss)


def ungrok_trace():
    test_acc = [0.02 + 0.98 * (1 - sigmoid((s - 2000) / 100)) for s in STEPS]
    test_acc[0] = 1.0
    test_loss = [1e-3 + 12 * (1 - a) for a in test_acc]
    return trace(STEPS, [1.0] * len(STEPS), test_acc, [0.01] * len(STEPS), test_loss)


def test_each_holds_on_its_behaviour():
    assert f1.grokking(grokking_trace()).holds
    assert f1.semi_grokking(semi_trace()).holds
    assert f1.ungrokking(ungrok_trace()).holds


def test_each_fails_on_the_others():
    assert not f1.grokking(semi_trace()).holds  # ends at 83%, not 100%
    assert not f1.grokking(ungrok_trace()).holds
    assert not f1.semi_grokking(grokking_trace()).holds  # perfect, not semi
    assert not f1.semi_grokking(ungrok_trace()).holds
    assert not f1.ungrokking(grokking_trace()).holds  # starts poor, ends perfect
    assert not f1.ungrokking(semi_trace()).holds


def test_grokking_needs_a_delay_and_a_very_low_loss():
    """Generalising as fast as fitting is no grokking; 100% accuracy with loss 0.5 is not
    'very low test loss'."""
    quick = grokking_trace()
    for r in quick:
        r["test_acc"] = r["train_acc"]
    assert not f1.grokking(quick).holds
    high = grokking_trace()
    for r in high:
        r["test_loss"] = 0.5
    row = f1.grokking(high)
    assert not row.holds and "test loss 0.5" in row.figure


def test_semi_grokking_band_and_delay():
    assert not f1.semi_grokking(semi_trace(final=0.97)).holds  # "not perfect" fails at 0.97
    assert not f1.semi_grokking(semi_trace(final=0.2)).holds  # barely improved
    early = semi_trace()
    for r in early:  # the rise happens while the train set is still being fitted
        r["test_acc"] = min(0.83, 0.05 + r["step"] / 400)
    assert not f1.semi_grokking(early).holds


def test_ungrokking_needs_the_train_set_fitted_and_a_grokked_start():
    unfit = ungrok_trace()
    unfit[-1]["train_acc"] = 0.6
    assert not f1.ungrokking(unfit).holds
    not_grokked = ungrok_trace()
    not_grokked[0]["test_acc"] = 0.7
    assert not f1.ungrokking(not_grokked).holds


def test_missing_values_are_skipped_and_empty_traces_fail():
    t = grokking_trace()
    for r in t[1::2]:
        r["test_acc"] = r["test_loss"] = None  # evaluated every other row
    assert f1.grokking(t).holds
    for check in (f1.grokking, f1.semi_grokking, f1.ungrokking):
        row = check([])
        assert not row.holds and row.source.startswith("Figure 1")
