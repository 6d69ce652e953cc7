"""The one training loop, for a single run and for the K members of a batched ensemble.

The loop owns everything that is not the arithmetic of a step: the evaluation schedule, each
member's :class:`~grokcheck.transformer.training.metrics.Track` (milestones, why it stopped), stop rules
per member, divergence, progress events, and checkpoints by steps and by wall time. The
arithmetic lives in a :class:`Stepper`: :class:`grokcheck.transformer.training.single.SingleModel` (one
model, torch's AdamW, the fast engine with its exact fallback) or
:class:`grokcheck.transformer.training.ensemble.Ensemble` (stacked members). A member that stops
(converged, grokked, diverged) is retired from the stepper, so it stops costing compute; the
others' arithmetic does not depend on who else is in the batch.

Step numbering: "step s" means the parameters after ``s`` updates. Evaluations happen at step
0, at powers of two below ``eval_every`` (so log-scale plots have early points), at every
multiple of ``eval_every`` and at a member's last step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from grokcheck.transformer.analysis.loss_precision import LossPrecision
from grokcheck.transformer.training.convergence import StopRule
from grokcheck.transformer.training.metrics import DIVERGED, MAX_STEPS, Row, Track


class Stepper(Protocol):
    """The arithmetic of K members trained in lockstep."""

    train_sizes: Sequence[int]

    def train_step(self, active: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """One AdamW step of each active member: losses and numbers of correct train predictions
        at the parameters before the step, both ``(len(active),)`` on CPU."""
        ...

    def evaluate(self, members: Sequence[int], step: int) -> list[Row]: ...

    def retire(self, k: int) -> None:
        """Stop computing member ``k`` (its parameters stay readable)."""
        ...


@dataclass(frozen=True)
class Event:
    """What a progress callback receives after every step and every evaluation.

    ``row`` is the first active member's evaluation row just recorded (a single run: its row),
    else ``None``; ``train_loss``/``train_acc`` are that member's at the last step.
    """

    phase: str
    step: int
    budget: int
    train_loss: float | None
    train_acc: float | None
    row: Row | None
    active: int
    members: int


@dataclass(frozen=True)
class Schedule:
    """When to evaluate, when to stop at the latest, and when to checkpoint.

    ``budget_reason`` is why a member that reaches ``budget`` stopped
    (:mod:`~grokcheck.transformer.training.metrics`): ``MAX_STEPS`` for the cap on a run to a stop
    rule, ``STEPS`` for a fixed number of steps.
    """

    budget: int
    eval_every: int = 100
    checkpoint_every: int = 1000
    checkpoint_every_s: float = 60.0
    budget_reason: str = MAX_STEPS


def is_eval_step(step: int, eval_every: int) -> bool:
    if step % eval_every == 0:
        return True
    return step < eval_every and step & (step - 1) == 0  # powers of two below eval_every


def run_loop(
    stepper: Stepper,
    tracks: Sequence[Track],
    *,
    start_step: int,
    schedule: Schedule,
    rules: Sequence[StopRule | None],
    save: Callable[[int], None] | None = None,
    progress: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
    phase: str = "train",
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Train every member whose track has not stopped until it stops; return the step reached.

    A member stops when its rule fires at an evaluation (the rule's reason), when it reaches
    ``schedule.budget`` (``schedule.budget_reason``) or when its loss or parameters are not
    finite (:data:`DIVERGED`; its track keeps the last finite row). ``stop()`` is polled
    between steps; when it is true the loop returns with the running members' tracks still
    open, to be continued from the checkpoint. ``save(step)`` is called between steps, never
    mid-update: every ``checkpoint_every`` steps, whenever ``checkpoint_every_s`` seconds of
    wall time passed since the last save, and once when the loop returns.
    """
    K = len(tracks)
    active = [k for k in range(K) if tracks[k].stopped is None]
    for k in range(K):
        if tracks[k].stopped is not None:
            stepper.retire(k)
    last_loss: dict[int, float] = {}
    last_acc: dict[int, float] = {}
    step, last_save, tick = start_step, clock(), clock()

    def elapse() -> None:
        nonlocal tick
        now = clock()
        for k in active:
            tracks[k].wall_s += now - tick
        tick = now

    while True:
        elapse()
        row0 = None
        at_end = step >= schedule.budget
        if is_eval_step(step, schedule.eval_every) or at_end:
            todo = [  # a member that diverged at the last step is not evaluated again
                k
                for k in active
                if tracks[k].stopped is None and (not tracks[k].rows or tracks[k].last.step != step)
            ]
            rows = stepper.evaluate(todo, step) if todo else []
            for k, row in zip(todo, rows, strict=False):
                row = dataclasses.replace(row, wall_s=round(tracks[k].wall_s, 3))
                _record(tracks[k], row, rules[k], step, at_end, schedule.budget_reason)
            if rows:
                row0 = rows[0]
        newly = [k for k in active if tracks[k].stopped is not None]
        for k in newly:
            stepper.retire(k)
        active = [k for k in active if tracks[k].stopped is None]
        if progress is not None and row0 is not None:
            k0 = active[0] if active else 0
            progress(
                Event(phase, step, schedule.budget, last_loss.get(k0), last_acc.get(k0), row0, len(active), K)
            )
        if not active:
            break
        if stop is not None and stop():
            # an interrupted run's records end at the step it reached (summary and final row agree)
            todo = [k for k in active if tracks[k].last.step != step]
            for k, row in zip(todo, stepper.evaluate(todo, step) if todo else [], strict=False):
                if row.finite():
                    tracks[k].add_row(dataclasses.replace(row, wall_s=round(tracks[k].wall_s, 3)))
            break

        losses, correct = stepper.train_step(active)
        losses, correct = losses.tolist(), correct.tolist()
        for k, loss, c in zip(active, losses, correct, strict=False):
            if not math.isfinite(loss):
                tracks[k].stop(DIVERGED, step)
                continue
            n = stepper.train_sizes[k]
            tracks[k].add_train_step(step, c, n)
            last_loss[k], last_acc[k] = loss, c / n
        step += 1
        if progress is not None:
            k0 = active[0]
            progress(
                Event(phase, step, schedule.budget, last_loss.get(k0), last_acc.get(k0), None, len(active), K)
            )
        if save is not None and (
            step % schedule.checkpoint_every == 0 or clock() - last_save >= schedule.checkpoint_every_s
        ):
            elapse()
            save(step)
            last_save = tick = clock()  # saving is not training time
    elapse()
    if save is not None:
        save(step)
    return step


def _record(
    track: Track, row: Row, rule: StopRule | None, step: int, at_end: bool, budget_reason: str
) -> None:
    if not row.finite():
        track.stop(DIVERGED, step)  # the track keeps its last finite row
        return
    track.add_row(row)
    if at_end:
        track.stop(budget_reason, step)
    elif rule is not None:
        reason = rule(track)
        if reason is not None:
            track.stop(reason, step)


def evaluation_row(
    step: int,
    *,
    nll: torch.Tensor,
    hit: torch.Tensor,
    in_train: torch.Tensor,
    norm: float,
    wall_s: float,
    circuits: dict[str, Any] | None = None,
    precision: LossPrecision | None = None,
) -> Row:
    """A row from per-example losses and hits over the whole dataset ``(N,)`` and the member's
    train mask ``(N,)``; the test set is the complement (empty: no test metrics). ``precision``:
    the float32-loss diagnostics of the train set, when measured."""
    test = ~in_train
    has_test = bool(test.any())
    return Row(
        step=step,
        train_loss=float(nll[in_train].mean()),
        train_acc=float(hit[in_train].double().mean()),
        test_loss=float(nll[test].mean()) if has_test else None,
        test_acc=float(hit[test].double().mean()) if has_test else None,
        param_norm=norm,
        wall_s=round(wall_s, 3),
        collapse_f32=None if precision is None else precision.collapse_f32,
        loss_gap_f32=None if precision is None else precision.loss_gap_f32,
        **(circuits or {}),
    )
