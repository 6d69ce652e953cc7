"""The transformer rows of ``grokcheck verify``: a small-p run must grok within its step budget.

Grokking (Figure 1a): train accuracy reaches 100% early, test accuracy rises to >= 99% much
later, with the paper's optimiser (Appendix A). p = 113 takes ~13k steps, too long for a quick
check, so the quick row uses a small modulus with a larger train fraction (which groks sooner;
docs/training.md lists the measurements behind the choice).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from grokcheck.verify import Check

if TYPE_CHECKING:
    from grokcheck.transformer.train import TrainResult

#: (p, train fraction, seed, step budget) of the quick row and the extra rows of --full
QUICK = (47, 0.7, 0, 3000)
FULL_EXTRA = ((47, 0.7, 1, 3000), (47, 0.5, 0, 6000))


def grok_check(p: int, train_frac: float, seed: int, max_steps: int, **overrides: object) -> Check:
    """Train ``add`` mod ``p`` until grokked (test acc >= 0.99 held 200 steps) or ``max_steps``.

    ``overrides`` go to :class:`~grokcheck.transformer.train.TrainConfig`.
    """
    from grokcheck.transformer.train import TrainConfig, train

    cfg = TrainConfig(
        p=p,
        train_frac=train_frac,
        seed=seed,
        max_steps=max_steps,
        hold_steps=200,
        eval_every=50,
        **overrides,
    )
    return judge(train(cfg, device="cpu"), max_steps=max_steps, seed=seed)


def judge(r: TrainResult, *, max_steps: int, seed: int) -> Check:
    """The row holds only if the run grokked within the budget: train accuracy 100% first,
    test accuracy >= 0.95 strictly later (the delay is what makes it grokking), and test
    accuracy >= 0.99 held to the end (``stopped == "grokked"``)."""
    delayed = (
        r.step_train_100 is not None and r.step_test_95 is not None and r.step_test_95 > r.step_train_100
    )
    holds = (
        r.stopped == "grokked"
        and delayed
        and r.final.test_acc is not None
        and r.final.test_acc >= 0.99
        and r.final.train_acc == 1.0
    )
    test_acc = "-" if r.final.test_acc is None else f"{r.final.test_acc:.3f}"
    figure = (
        f"add mod {r.p}, {r.train_size} train: train 100% at step {r.step_train_100}, "
        f"test >= 95% at {r.step_test_95}, final test acc {test_acc} "
        f"after {r.steps}/{max_steps} steps ({r.wall_s:.0f} s)"
    )
    return Check(
        f"grokking: p={r.p}, seed {seed} groks within {max_steps} steps",
        "Figure 1a, App. A",
        figure,
        holds,
    )


def checks(quick: bool = True) -> Iterator[Check]:
    yield grok_check(*QUICK)
    if not quick:
        for args in FULL_EXTRA:
            yield grok_check(*args)
