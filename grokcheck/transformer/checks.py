"""The transformer rows of ``grokcheck verify``: a small-p run must grok within its step budget.

Grokking (Figure 1a): train accuracy reaches 100% early, test accuracy rises to >= 99% much
later, with the paper's optimiser (Appendix A). p = 113 takes ~13k steps, too long for a quick
check, so the quick row uses a small modulus with a larger train fraction (which groks sooner;
docs/training.md lists the measurements behind the choice).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from grokcheck.verdicts import Check

if TYPE_CHECKING:
    from grokcheck.transformer.training.phase import PhaseResult

#: (p, train fraction, seed, step budget) of the quick row and the extra rows of --full
QUICK = (47, 0.7, 0, 3000)
FULL_EXTRA = ((47, 0.7, 1, 3000), (47, 0.5, 0, 6000))


def grok_check(p: int, train_frac: float, seed: int, max_steps: int, **overrides: object) -> Check:
    """Train ``add`` mod ``p`` until grokked (test acc >= 0.99 held 200 steps) or ``max_steps``.

    ``overrides`` go to :class:`~grokcheck.transformer.training.train.TrainConfig`.
    """
    from grokcheck.transformer.training.train import TrainConfig

    cfg = TrainConfig(
        p=p,
        train_frac=train_frac,
        seed=seed,
        max_steps=max_steps,
        hold_steps=200,
        eval_every=50,
        **overrides,
    )
    return grok_rows(cfg, max_steps=max_steps, seed=seed)[0]


def grok_rows(cfg, *, max_steps: int, seed: int) -> list[Check]:
    """One grokking run's rows: the run groks within its budget, and Figure 1a's caption claim
    (:func:`grokcheck.transformer.figure1_checks.grokking`) measured on its evaluation rows."""
    import json
    import tempfile

    from grokcheck.transformer.figure1_checks import grokking
    from grokcheck.transformer.training.train import train

    with tempfile.TemporaryDirectory() as d:
        result = train(cfg, device="cpu", out_dir=d)
        with open(f"{d}/metrics.jsonl") as f:
            trace = [json.loads(line) for line in f]
    return [judge(result, max_steps=max_steps, seed=seed), grokking(trace)]


def judge(r: PhaseResult, *, max_steps: int, seed: int) -> Check:
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


def batch_equals_alone_check(
    steps: int = 10, tol: float = 1e-10, *, alone_changes: dict | None = None
) -> Check:
    """Member k of a batched ensemble is the run ``grokcheck train`` makes alone with the same
    configuration (float64 parameters, reference model), within ``tol`` relative in every
    parameter, for members with different seeds, sizes, lrs, weight decays and labels.
    ``alone_changes`` alters the lone runs' config (tests: a wrong one must fail)."""
    import dataclasses

    from grokcheck.transformer.training.batch import train_ensemble
    from grokcheck.transformer.training.ensemble_config import EnsembleConfig, Member
    from grokcheck.transformer.training.train import TrainConfig, train

    members = (
        Member(seed=0, train_size=150, weight_decay=1.0),
        Member(seed=1, train_size=260, weight_decay=0.5, lr=3e-3),
        Member(seed=2, train_size=100, random_labels=True),
    )
    batch = train_ensemble(EnsembleConfig(members=members, p=23, steps=steps, param_dtype="float64"))
    worst = 0.0
    for m, res in zip(members, batch.members, strict=True):
        cfg = TrainConfig(
            p=23,
            seed=m.seed,
            train_size=m.train_size,
            lr=m.lr,
            weight_decay=m.weight_decay,
            random_labels=m.random_labels,
            steps=steps,
            param_dtype="float64",
            engine="reference",
        )
        alone = _final_state(dataclasses.replace(cfg, **(alone_changes or {})), train)
        worst = max(worst, max(float((res.state[n] - v).norm() / v.norm()) for n, v in alone.items()))
    return Check(
        "a batched member equals the same run trained alone",
        "batched training",
        f"3 members (seeds, sizes, lr, wd, random labels differ), {steps} steps, float64: "
        f"largest relative parameter difference {worst:.1e} (tolerance {tol:g})",
        worst <= tol,
        kind="self",
    )


def _final_state(cfg, train_fn) -> dict:
    import tempfile

    from grokcheck.transformer.training.checkpoint import load_checkpoint

    with tempfile.TemporaryDirectory() as d:
        train_fn(cfg, device="cpu", out_dir=d)
        return load_checkpoint(f"{d}/checkpoint.pt", kind="train")["model"]


def checks(quick: bool = True) -> Iterator[Check]:
    yield batch_equals_alone_check()
    yield grok_check(*QUICK)
    if not quick:
        for args in FULL_EXTRA:
            yield grok_check(*args)
