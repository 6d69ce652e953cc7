"""Does the convergence rule mean converged? Continue runs it stopped for 3x as many steps again.

Section 5.2 measures "the test accuracy at convergence"; grokcheck stops a run when
:func:`grokcheck.transformer.training.convergence.has_converged` holds over its window. That rule is a
claim about the future: a run it stops would not move much if trained on. This module tests
the claim directly. For a sample of runs the rule stopped at step ``s``, it retrains each from
the same start with no stop rule to ``4 s`` (so ``3 s`` more steps), checks that the retrained
run reaches the rule at the same ``s`` (training is deterministic on one device), and measures
how far the test accuracy and the parameter norm move from ``s`` to ``4 s``.

The rule holds when every sampled run moves by at most :data:`ACC_TOL` in test accuracy and
:data:`NORM_RTOL` in parameter norm. One batched ensemble trains the whole sample.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grokcheck.experiments.spec import RunRecord, RunSpec

#: how far a converged run may still move when continued for 3x its steps
ACC_TOL = 0.05
NORM_RTOL = 0.02
FACTOR = 4  # continue to FACTOR x the converged step


@dataclass(frozen=True)
class Continued:
    """One sampled run: where the rule stopped it, and where it stood at FACTOR x that step."""

    key: str
    experiment: str
    kind: str
    train_size: int
    weight_decay: float
    seed: int
    step: int  # the converged step in the original run
    # where the rule fires on the retrained curve: ``step`` again, unless another batch shape
    # changed the last bits of the arithmetic enough to move it by an evaluation or two
    step_again: int | None
    test_acc: float
    test_acc_later: float
    norm: float
    norm_later: float

    @property
    def d_acc(self) -> float:
        return self.test_acc_later - self.test_acc

    @property
    def d_norm(self) -> float:
        return self.norm_later / self.norm - 1.0

    @property
    def holds(self) -> bool:
        return abs(self.d_acc) <= ACC_TOL and abs(self.d_norm) <= NORM_RTOL


def sample(records: Sequence[RunRecord], n: int, seed: int = 0) -> list[RunRecord]:
    """``n`` converged runs, spread over experiments and kinds (round robin), reproducibly."""
    pools: dict[tuple[str, str], list[RunRecord]] = {}
    for r in sorted(records, key=lambda r: r.spec.key()):
        if r.converged:
            pools.setdefault((r.spec.experiment, r.spec.kind), []).append(r)
    rng = random.Random(seed)
    for pool in pools.values():
        rng.shuffle(pool)
    out: list[RunRecord] = []
    while len(out) < n and any(pools.values()):
        for key in sorted(pools):
            if pools[key] and len(out) < n:
                out.append(pools[key].pop())
    return out


def continue_runs(
    records: Sequence[RunRecord],
    *,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    progress: Callable | None = None,
) -> list[Continued]:
    """Retrain each record's spec to FACTOR x its converged step, no stop rule, and compare."""
    from grokcheck.experiments import runner
    from grokcheck.transformer.training.convergence import ConvergenceConfig, first_converged

    out = []
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault(runner.batch_key(r.spec), []).append(r)
    for recs in groups.values():
        cap = FACTOR * max(r.steps for r in recs)
        specs = [replace(r.spec, max_steps=cap) for r in recs]
        curves = runner.train_curves(specs, device=device, cache_dir=cache_dir, progress=progress)
        for r, rows in zip(recs, curves, strict=True):
            hit = first_converged(rows, ConvergenceConfig(window=r.spec.convergence_window))
            again = None if hit is None else hit.step
            at = next(x for x in reversed(rows) if x.step <= r.steps)
            later = next(x for x in reversed(rows) if x.step <= FACTOR * r.steps)
            s: RunSpec = r.spec
            out.append(
                Continued(
                    s.key(), s.experiment, s.kind, s.train_size, s.weight_decay, s.seed, r.steps, again,
                    at.test_acc, later.test_acc, at.param_norm, later.param_norm,
                )
            )  # fmt: skip
    return out
