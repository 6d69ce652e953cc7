"""The full-batch training loop shared by grokking runs and both phases of ungrokking.

One step is: logits from ``forward`` (one call, so a faster exact engine can replace the
reference model), cross-entropy in the chosen loss dtype, backward, AdamW step. Metrics are
recorded at evaluation steps; the first step where train accuracy reaches 100% is tracked at
every step (the training forward gives it for free).

Step numbering: "step s" means the parameters after ``s`` updates. Evaluations happen at step
0, at powers of two below ``eval_every`` (so log-scale plots have early points), at every
multiple of ``eval_every`` and at the last step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from grokcheck.transformer.model import param_norm

#: rows per forward pass when evaluating (bounds memory on large datasets)
EVAL_CHUNK = 16384
#: test accuracy milestones recorded by every run
TEST_MILESTONES = (0.95, 0.99)


@dataclass(frozen=True)
class Data:
    """Tensors of one phase on the training device. ``test_*`` are ``None`` when there is none."""

    train_tokens: torch.Tensor  # (n_train, 4) int64
    train_labels: torch.Tensor  # (n_train,) int64
    test_tokens: torch.Tensor | None = None  # (n_test, 4) int64
    test_labels: torch.Tensor | None = None  # (n_test,) int64


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives after every step and every evaluation."""

    phase: str
    step: int
    budget: int  # the step count this phase stops at, at the latest
    train_loss: float | None  # of the last training step (at step - 1's parameters)
    train_acc: float | None
    row: dict[str, Any] | None  # the evaluation row just recorded, else None


@dataclass
class Tracker:
    """Mutable run state that is saved in every checkpoint (so a resumed run continues exactly)."""

    step: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    step_train_100: int | None = None
    step_test_95: int | None = None
    step_test_99: int | None = None
    train_acc_drops: int = 0  # steps after step_train_100 where train accuracy was below 100%
    streak_start: int | None = None  # first step of the current run of test acc >= 0.99
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tracker:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def add_row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        acc = row.get("test_acc")
        if acc is None:
            return
        s = row["step"]
        if self.step_test_95 is None and acc >= TEST_MILESTONES[0]:
            self.step_test_95 = s
        if self.step_test_99 is None and acc >= TEST_MILESTONES[1]:
            self.step_test_99 = s
        if acc >= TEST_MILESTONES[1]:
            self.streak_start = s if self.streak_start is None else self.streak_start
        else:
            self.streak_start = None


#: a stopping rule looks at the tracker after an evaluation and returns a reason or None
StopRule = Callable[[Tracker], str | None]


def grokked_rule(hold_steps: int) -> StopRule:
    """Stop once test accuracy >= 0.99 has held at every evaluation for ``hold_steps`` steps."""

    def rule(t: Tracker) -> str | None:
        if t.streak_start is not None and t.step - t.streak_start >= hold_steps:
            return "grokked"
        return None

    return rule


def norm_plateau_rule(window: int, rtol: float) -> StopRule:
    """Stop once train accuracy is 100% and the parameter norm changed by < ``rtol`` (relative)
    over the last ``window`` steps (MEASUREMENTS.md: 1% over 500 steps)."""

    def rule(t: Tracker) -> str | None:
        now = t.rows[-1]
        if now["train_acc"] < 1.0 or now["step"] < window:
            return None
        then = [r for r in t.rows if r["step"] <= now["step"] - window][-1]
        if abs(now["param_norm"] - then["param_norm"]) < rtol * then["param_norm"]:
            return "converged"
        return None

    return rule


def is_eval_step(step: int, eval_every: int) -> bool:
    if step % eval_every == 0:
        return True
    return step < eval_every and step & (step - 1) == 0  # powers of two below eval_every


def loss_and_acc(
    logits: torch.Tensor, labels: torch.Tensor, loss_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy (log-softmax in ``loss_dtype``) and the number of correct argmaxes."""
    loss = F.cross_entropy(logits.to(loss_dtype), labels)
    n_correct = (logits.argmax(dim=-1) == labels).sum()
    return loss, n_correct


@torch.no_grad()
def evaluate(
    forward: Callable[[torch.Tensor], torch.Tensor], tokens: torch.Tensor, labels: torch.Tensor
) -> tuple[float, float]:
    """Mean loss (always float64, whatever the training loss dtype) and accuracy."""
    total, correct = 0.0, 0
    for i in range(0, tokens.shape[0], EVAL_CHUNK):
        logits = forward(tokens[i : i + EVAL_CHUNK])
        y = labels[i : i + EVAL_CHUNK]
        total += float(F.cross_entropy(logits.double(), y, reduction="sum"))
        correct += int((logits.argmax(dim=-1) == y).sum())
    n = tokens.shape[0]
    return total / n, correct / n


def run_loop(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    forward: Callable[[torch.Tensor], torch.Tensor],
    data: Data,
    tracker: Tracker,
    budget: int,
    rule: StopRule | None,
    eval_every: int,
    loss_dtype: torch.dtype,
    checkpoint_every: int,
    save: Callable[[], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
    phase: str = "train",
    budget_reason: str = "steps",
) -> str:
    """Train until ``budget`` steps, ``rule`` fires or ``stop()`` is true; return the reason.

    ``save()`` is called every ``checkpoint_every`` steps and once when the loop ends (also on
    ``stop``), always between steps, so a checkpoint never holds a half-applied update.
    """
    n_train = data.train_labels.shape[0]
    last_loss: float | None = None
    last_acc: float | None = None
    t0 = time.perf_counter()
    reason: str | None = None
    while reason is None:
        s = tracker.step
        at_end = s >= budget
        if (is_eval_step(s, eval_every) or at_end) and (not tracker.rows or tracker.rows[-1]["step"] != s):
            tracker.wall_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            row = _eval_row(model, forward, data, s, tracker.wall_s)
            tracker.add_row(row)
            if progress is not None:
                progress(Progress(phase, s, budget, last_loss, last_acc, row))
        if at_end:
            reason = budget_reason
        elif rule is not None and tracker.rows and tracker.rows[-1]["step"] == s:
            reason = rule(tracker)
        if reason is None and stop is not None and stop():
            reason = "interrupted"
        if reason is not None:
            break

        optimizer.zero_grad(set_to_none=True)
        logits = forward(data.train_tokens)  # (n_train, n_classes)
        loss, n_correct = loss_and_acc(logits, data.train_labels, loss_dtype)
        loss.backward()
        optimizer.step()
        # loss and accuracy at the parameters of step s (before this update)
        last_loss, correct = float(loss.detach()), int(n_correct)
        last_acc = correct / n_train
        if tracker.step_train_100 is None and correct == n_train:
            tracker.step_train_100 = s
        elif tracker.step_train_100 is not None and correct < n_train:
            tracker.train_acc_drops += 1
        tracker.step = s + 1
        if progress is not None:
            progress(Progress(phase, s + 1, budget, last_loss, last_acc, None))
        if save is not None and tracker.step % checkpoint_every == 0:
            tracker.wall_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            save()
    tracker.wall_s += time.perf_counter() - t0
    if save is not None:
        save()
    return reason


def _eval_row(
    model: torch.nn.Module,
    forward: Callable[[torch.Tensor], torch.Tensor],
    data: Data,
    step: int,
    wall_s: float,
) -> dict[str, Any]:
    train_loss, train_acc = evaluate(forward, data.train_tokens, data.train_labels)
    test_loss = test_acc = None
    if data.test_tokens is not None and data.test_tokens.shape[0] > 0:
        test_loss, test_acc = evaluate(forward, data.test_tokens, data.test_labels)
    norm = param_norm(model)
    return {
        "step": step,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "param_norm": norm if math.isfinite(norm) else None,
        "wall_s": round(wall_s, 3),
    }
