"""Figure 1's caption claims as pure functions of a training-metrics trace.

A trace is a sequence of rows (mappings) with ``step``, ``train_acc``, ``test_acc``,
``train_loss``, ``test_loss`` and ``param_norm``, in step order, as the transformer trainer
records them (a value may be ``None`` where it was not evaluated). Each function returns one
:class:`grokcheck.verify.Check` row, so a test can hand it a trace where the claim must fail.
The thresholds are stated in the constants below and in every row's figure; the paper gives
numbers only for 1c (83% test accuracy).

- Figure 1a, grokking: "we observe a transition to very low test loss (100% test accuracy)",
  after the network has memorised (train accuracy ~1 while test accuracy is poor).
- Figure 1b, ungrokking: a network that has grokked, trained on a smaller dataset, "reverts to
  significant memorisation, leading to a transition back to poor test loss".
- Figure 1c, semi-grokking: "a transition to improved but not perfect test loss (test
  accuracy of 83%)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grokcheck.verdicts import Check

Row = Mapping[str, Any]

#: accuracy that counts as "perfect" train accuracy (memorised)
TRAIN_FIT = 0.99
#: test accuracy that counts as Figure 1a's "100% test accuracy"
FULL_TEST_ACC = 0.99
#: test loss (nats) that counts as "very low" (Figure 1a's curve ends orders of magnitude lower)
VERY_LOW_LOSS = 0.01
#: test accuracy below which generalisation is "poor" (memorisation)
POOR_TEST_ACC = 0.5
#: test loss (nats) at or above which it is "poor" again (Figure 1b)
POOR_LOSS = 1.0
#: a delayed transition: the test accuracy crosses its level at least this many times later
#: than the train accuracy reached TRAIN_FIT
DELAY_FACTOR = 2.0
#: semi-grokking: final test accuracy in this open band ("improved but not perfect"), and at
#: least SEMI_GAIN above the test accuracy when the train set was first fitted
SEMI_BAND = (0.5, 0.95)
SEMI_GAIN = 0.2


def _values(trace: Sequence[Row], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in trace if r.get(key) is not None]


def _first(trace: Sequence[Row], key: str, pred) -> tuple[int, float] | None:
    for step, v in _values(trace, key):
        if pred(v):
            return step, v
    return None


def _at_or_after(trace: Sequence[Row], key: str, step: int) -> float | None:
    """The first value of ``key`` evaluated at or after ``step``."""
    for s, v in _values(trace, key):
        if s >= step:
            return v
    return None


def _last(trace: Sequence[Row], key: str) -> float | None:
    vals = _values(trace, key)
    return vals[-1][1] if vals else None


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def grokking(trace: Sequence[Row]) -> Check:
    """Figure 1a: memorisation first, then a delayed transition to very low test loss and
    100% test accuracy.

    Holds when the train accuracy reaches :data:`TRAIN_FIT` at step ``t_fit`` while the test
    accuracy there is below :data:`POOR_TEST_ACC`; the test accuracy reaches
    :data:`FULL_TEST_ACC` at a step >= :data:`DELAY_FACTOR` x ``t_fit``; and the run ends with
    test accuracy >= :data:`FULL_TEST_ACC` and test loss <= :data:`VERY_LOW_LOSS`.
    """
    fit = _first(trace, "train_acc", lambda a: a >= TRAIN_FIT)
    t_fit = fit[0] if fit else None
    acc_at_fit = _at_or_after(trace, "test_acc", t_fit) if t_fit is not None else None
    full = _first(trace, "test_acc", lambda a: a >= FULL_TEST_ACC)
    t_full = full[0] if full else None
    end_acc, end_loss = _last(trace, "test_acc"), _last(trace, "test_loss")
    ok = (
        t_fit is not None
        and acc_at_fit is not None
        and acc_at_fit < POOR_TEST_ACC
        and t_full is not None
        and t_full >= DELAY_FACTOR * max(t_fit, 1)
        and end_acc is not None
        and end_acc >= FULL_TEST_ACC
        and end_loss is not None
        and end_loss <= VERY_LOW_LOSS
    )
    return Check(
        "grokking: delayed transition to very low test loss (100% test accuracy)",
        "Figure 1a",
        f"train acc >= {TRAIN_FIT:g} at step {t_fit} (test acc there {_fmt(acc_at_fit)}, needed "
        f"< {POOR_TEST_ACC:g}); test acc >= {FULL_TEST_ACC:g} at step {t_full} (needed >= "
        f"{DELAY_FACTOR:g} x {t_fit}); end: test acc {_fmt(end_acc, '.4f')}, test loss "
        f"{_fmt(end_loss)} (needed <= {VERY_LOW_LOSS:g})",
        bool(ok),
    )


def ungrokking(trace: Sequence[Row]) -> Check:
    """Figure 1b: from a grokked start, training on a reduced dataset brings the test loss back
    to poor values while the (reduced) train set stays fitted.

    ``trace`` is the phase on the reduced dataset. Holds when the first evaluated test
    accuracy is >= :data:`FULL_TEST_ACC` (it had grokked), and the run ends with train
    accuracy >= :data:`TRAIN_FIT`, test accuracy < :data:`POOR_TEST_ACC` and test loss >=
    :data:`POOR_LOSS` and above its starting value.
    """
    accs, losses = _values(trace, "test_acc"), _values(trace, "test_loss")
    start_acc = accs[0][1] if accs else None
    start_loss = losses[0][1] if losses else None
    end_acc, end_loss = _last(trace, "test_acc"), _last(trace, "test_loss")
    end_train = _last(trace, "train_acc")
    ok = (
        start_acc is not None
        and start_acc >= FULL_TEST_ACC
        and end_train is not None
        and end_train >= TRAIN_FIT
        and end_acc is not None
        and end_acc < POOR_TEST_ACC
        and end_loss is not None
        and start_loss is not None
        and end_loss >= POOR_LOSS
        and end_loss > start_loss
    )
    return Check(
        "ungrokking: a grokked network reverts to memorisation and poor test loss",
        "Figure 1b",
        f"test acc {_fmt(start_acc, '.4f')} -> {_fmt(end_acc, '.4f')} (start needed >= "
        f"{FULL_TEST_ACC:g}, end < {POOR_TEST_ACC:g}); test loss {_fmt(start_loss)} -> {_fmt(end_loss)} "
        f"(end needed >= {POOR_LOSS:g}); train acc at the end {_fmt(end_train, '.4f')} "
        f"(needed >= {TRAIN_FIT:g})",
        bool(ok),
    )


def semi_grokking(trace: Sequence[Row]) -> Check:
    """Figure 1c: memorisation first, then a delayed transition to improved but not perfect
    test accuracy (the paper's run ends at 83%) and a lower test loss.

    Holds when the train accuracy reaches :data:`TRAIN_FIT` at step ``t_fit``; the final test
    accuracy lies inside :data:`SEMI_BAND` and at least :data:`SEMI_GAIN` above the test
    accuracy at ``t_fit``; the test accuracy first comes within half way of its final value
    from its value at ``t_fit`` at a step >= :data:`DELAY_FACTOR` x ``t_fit``; and the final
    test loss is below the test loss at ``t_fit``.
    """
    fit = _first(trace, "train_acc", lambda a: a >= TRAIN_FIT)
    t_fit = fit[0] if fit else None
    acc0 = _at_or_after(trace, "test_acc", t_fit) if t_fit is not None else None
    loss0 = _at_or_after(trace, "test_loss", t_fit) if t_fit is not None else None
    end_acc, end_loss = _last(trace, "test_acc"), _last(trace, "test_loss")
    t_mid = None
    if acc0 is not None and end_acc is not None and end_acc > acc0:
        mid = (acc0 + end_acc) / 2
        hit = _first([r for r in trace if r["step"] >= t_fit], "test_acc", lambda a: a >= mid)
        t_mid = hit[0] if hit else None
    lo, hi = SEMI_BAND
    ok = (
        t_fit is not None
        and acc0 is not None
        and end_acc is not None
        and lo < end_acc < hi
        and end_acc - acc0 >= SEMI_GAIN
        and t_mid is not None
        and t_mid >= DELAY_FACTOR * max(t_fit, 1)
        and end_loss is not None
        and loss0 is not None
        and end_loss < loss0
    )
    return Check(
        "semi-grokking: delayed transition to improved but not perfect test accuracy",
        "Figure 1c",
        f"train acc >= {TRAIN_FIT:g} at step {t_fit}; test acc {_fmt(acc0, '.3f')} there -> "
        f"{_fmt(end_acc, '.3f')} at the end (needed in ({lo:g}, {hi:g}), gain >= {SEMI_GAIN:g}; "
        f"paper: 0.83); half-way at step {t_mid} (needed >= {DELAY_FACTOR:g} x {t_fit}); test loss "
        f"{_fmt(loss0)} -> {_fmt(end_loss)}",
        bool(ok),
    )
