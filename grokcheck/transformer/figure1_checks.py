"""Figure 1a's caption claim as a pure function of a training-metrics trace.

A trace is a sequence of rows (mappings) with ``step``, ``train_acc``, ``test_acc``,
``train_loss``, ``test_loss`` and ``param_norm``, in step order, as the transformer trainer
records them (a value may be ``None`` where it was not evaluated). :func:`grokking` returns one
:class:`grokcheck.verdicts.Check` row, so a test can hand it a trace where the claim must fail.
The thresholds are stated in the constants below and in the row's figure.

Figure 1a, grokking: "we observe a transition to very low test loss (100% test accuracy)",
after the network has memorised (train accuracy ~1 while test accuracy is poor).
Ungrokking (Figure 1b) and semi-grokking (Figure 1c) are judged on experiment results by
:mod:`grokcheck.experiments.predictions` (P2, P4).
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
#: a delayed transition: the test accuracy crosses its level at least this many times later
#: than the train accuracy reached TRAIN_FIT
DELAY_FACTOR = 2.0


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
