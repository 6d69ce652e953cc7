"""Figure 1a's caption check on hand-made traces: it holds on grokking and fails on the other
behaviours of Figure 1 (semi-grokking, ungrokking)."""

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


def test_holds_on_grokking():
    assert f1.grokking(grokking_trace()).holds


def test_fails_on_the_other_behaviours():
    assert not f1.grokking(semi_trace()).holds  # ends at 83%, not 100%
    assert not f1.grokking(ungrok_trace()).holds


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


def test_missing_values_are_skipped_and_empty_traces_fail():
    t = grokking_trace()
    for r in t[1::2]:
        r["test_acc"] = r["test_loss"] = None  # evaluated every other row
    assert f1.grokking(t).holds
    row = f1.grokking([])
    assert not row.holds and row.source.startswith("Figure 1")
