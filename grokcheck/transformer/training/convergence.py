"""When a run stops: "grokked", "converged" (Section 5.2's "at convergence"), or its step cap.

The paper trains "to convergence" without saying how it decides. grokcheck's
rule, per run (so each member of a batched ensemble stops on its own):

    at an evaluation step s >= window, compare the row at s with the last row at or before
    s - window; the run has converged when
      |norm(s) - norm(s - w)|           <= norm_rtol * norm(s - w)
      |loss(s) - loss(s - w)|           <= loss_rtol * loss(s - w) + loss_atol
      |test_acc(s) - test_acc(s - w)|   <= acc_atol          (when there is a test set)
      |train_acc(s) - train_acc(s - w)| <= acc_atol
    and, if ``require_train_100``, train accuracy is 100% at s.

``loss_rtol = None`` skips the loss criterion (pretraining: the train loss of a network at 100%
train accuracy keeps shrinking by large factors while nothing else moves). Parameter norm,
train loss and test accuracy are the quantities Figures 4-7 plot at convergence; each must
have stopped moving. A fixed window in steps makes the rule scale-dependent: the paper's runs
are long (1e5-1e7 steps), so its defaults are loose enough to stop 2-CPU runs in minutes and
strict enough that the accuracy moves by at most ``acc_atol`` per window; every result records
whether it converged or hit its cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grokcheck import validate
from grokcheck.transformer.training.metrics import CONVERGED, GROKKED, Row, Track

#: a stopping rule looks at a track after an evaluation and returns a reason or None
StopRule = Callable[[Track], str | None]
#: the rules a grokking run may train until (``TrainConfig.until``): :func:`grokked_rule` and
#: :func:`converged_rule`
UNTIL = (GROKKED, CONVERGED)


#: the convergence rule's default window, in steps (single runs and every experiment)
WINDOW = 2000
#: the cap on pretraining steps (the pretraining stops earlier when PRETRAIN_CONVERGENCE fires)
PRETRAIN_MAX_STEPS = 20_000


@dataclass(frozen=True)
class ConvergenceConfig:
    """The convergence rule's window and tolerances (see the module docstring)."""

    window: int = WINDOW
    norm_rtol: float = 1e-3
    loss_rtol: float | None = 0.02
    loss_atol: float = 1e-9
    acc_atol: float = 2e-3
    require_train_100: bool = False

    def __post_init__(self) -> None:
        validate.steps("window", self.window, 1)
        validate.positive_float("norm_rtol", self.norm_rtol)
        if self.loss_rtol is not None:
            validate.positive_float("loss_rtol", self.loss_rtol)
        validate.finite_float("loss_atol", self.loss_atol)
        validate.finite_float("acc_atol", self.acc_atol)


#: pretraining on the full dataset: the parameter norm stopped falling (< 1% over 500 steps,
#: measured on a 2-core CPU) with 100% train accuracy
PRETRAIN_CONVERGENCE = ConvergenceConfig(
    window=500, norm_rtol=0.01, loss_rtol=None, acc_atol=0.0, require_train_100=True
)


def has_converged(now: Row, then: Row, cfg: ConvergenceConfig) -> bool:
    """The rule's test between two rows ``window`` steps apart (a pure function, for tests)."""
    if cfg.require_train_100 and now.train_acc < 1.0:
        return False
    if now.param_norm is None or then.param_norm is None:
        return False
    if abs(now.param_norm - then.param_norm) > cfg.norm_rtol * then.param_norm:
        return False
    if cfg.loss_rtol is not None and (
        abs(now.train_loss - then.train_loss) > cfg.loss_rtol * then.train_loss + cfg.loss_atol
    ):
        return False
    if abs(now.train_acc - then.train_acc) > cfg.acc_atol:
        return False
    if now.test_acc is not None and then.test_acc is not None:
        if abs(now.test_acc - then.test_acc) > cfg.acc_atol:
            return False
    return True


def _converged_at_last(rows: Sequence[Row], cfg: ConvergenceConfig) -> bool:
    now = rows[-1]
    if now.step < cfg.window:
        return False
    then = next(r for r in reversed(rows) if r.step <= now.step - cfg.window)
    return has_converged(now, then, cfg)


def converged_rule(cfg: ConvergenceConfig) -> StopRule:
    """Stop with :data:`CONVERGED` once :func:`has_converged` holds over the last ``window`` steps."""

    def rule(t: Track) -> str | None:
        return CONVERGED if _converged_at_last(t.rows, cfg) else None

    return rule


def first_converged(rows: Sequence[Row], cfg: ConvergenceConfig) -> Row | None:
    """The first evaluation of a finished curve at which the rule would have stopped the run."""
    return next((rows[i] for i in range(len(rows)) if _converged_at_last(rows[: i + 1], cfg)), None)


def grokked_rule(hold_steps: int) -> StopRule:
    """Stop once test accuracy >= 0.99 has held at every evaluation for ``hold_steps`` steps."""

    def rule(t: Track) -> str | None:
        if t.streak_start is not None and t.last.step - t.streak_start >= hold_steps:
            return GROKKED
        return None

    return rule
