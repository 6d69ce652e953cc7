"""Grokking runs (Sections 3 and 5, Appendix A): full-batch AdamW on a random train split.

Appendix A: AdamW with lr 1e-3, betas (0.9, 0.98), weight decay 1.0, full batch; a random
fraction of the task's dataset is the train set and the rest the test set. The paper does not
give AdamW's eps; we use PyTorch's default 1e-8 and record it.

Loss precision (``loss_dtype``) is an explicit choice: logits come out in the parameter dtype
(float32) and are cast to float64 before the log-softmax by default. A float32 log-softmax
rounds the loss of well-fit examples to 0 once it nears 1e-7, so they stop giving gradient;
that speeds up the decay of memorisation (p = 113 groks at ~9.7k steps instead of ~13.1k) but
lets train accuracy dip below 100% (docs/training.md).

A run stops after ``steps`` steps when given, else when its rule fires (``until``: "grokked",
test accuracy >= 0.99 held for ``hold_steps``; or "converged",
:mod:`grokcheck.transformer.training.convergence`), or at ``max_steps``. ``random_labels`` replaces the
train labels by uniformly random ones (Section 5.1's C_mem-only networks); the test set then
measures nothing the network was taught.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grokcheck import validate
from grokcheck.errors import InputError
from grokcheck.records import atomic_write_json
from grokcheck.transformer.model import tasks
from grokcheck.transformer.model.runtime import resolve_device
from grokcheck.transformer.training.convergence import (
    UNTIL,
    ConvergenceConfig,
    StopRule,
    converged_rule,
    grokked_rule,
)
from grokcheck.transformer.training.loop import Event, Schedule
from grokcheck.transformer.training.metrics import CONVERGED, GROKKED, MAX_STEPS, STEPS
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.training.phase import Phase, PhaseData, PhaseResult, raise_if_diverged, run_phase
from grokcheck.transformer.training.run_folder import check_resumable, row_dicts, write_run_config

DEFAULT_TRAIN_FRAC = 0.3


@dataclass(frozen=True)
class TrainConfig(OptimConfig):
    """One grokking run.

    Attributes:
        task: a name from :data:`grokcheck.transformer.model.tasks.TASKS`.
        p: the modulus (ignored by S5 tasks).
        train_frac / train_size: the train set as a fraction of the dataset or an exact size;
            give at most one (default: fraction 0.3, Figure 1a's setting).
        seed: seeds the initialisation; ``data_seed`` (default: ``seed``) the split.
        steps: a fixed number of steps; ``None`` = until ``until`` fires, capped at ``max_steps``.
        until: "grokked" or "converged"; default "converged" with random labels (they never
            grok), else "grokked".
        random_labels: train on uniformly random labels drawn from ``data_seed``/``seed``.
        circuits: record Appendix B's circuit measurements at every evaluation (addition only).
        hold_steps: how long test accuracy >= 0.99 must hold to count as grokked.
        eval_every: steps between evaluations; checkpoint_every: steps between checkpoints.
    """

    task: str = "add"
    p: int = 113
    train_frac: float | None = None
    train_size: int | None = None
    seed: int = 0
    data_seed: int | None = None
    steps: int | None = None
    max_steps: int = 50_000
    hold_steps: int = 500
    eval_every: int = 100
    checkpoint_every: int = 1000
    checkpoint_every_s: float = 60.0
    random_labels: bool = False
    until: str | None = None
    convergence: ConvergenceConfig = field(default_factory=ConvergenceConfig)
    circuits: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        n = tasks.dataset_size(self.task, self.p)
        if self.train_frac is not None and self.train_size is not None:
            raise InputError("train_size", "give --train-frac or --train-size, not both")
        if self.train_size is None:
            frac = DEFAULT_TRAIN_FRAC if self.train_frac is None else self.train_frac
            if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 < frac < 1.0:
                raise InputError("train_frac", f"must be a number in (0, 1), got {frac!r}")
            if not 1 <= round(frac * n) < n:
                raise InputError("train_frac", f"{frac} of {n} examples leaves an empty train or test set")
        elif (
            isinstance(self.train_size, bool)
            or not isinstance(self.train_size, int)
            or not 1 <= self.train_size < n
        ):
            raise InputError(
                "train_size",
                f"must be an integer in [1, {n - 1}] (the {self.task} "
                f"dataset has {n} examples; the rest is the test set), got {self.train_size!r}",
            )
        validate.seed("seed", self.seed)
        if self.data_seed is not None:
            validate.seed("data_seed", self.data_seed)
        if self.steps is not None:
            validate.steps("steps", self.steps, 0)
        validate.steps("max_steps", self.max_steps, 1)
        validate.steps("hold_steps", self.hold_steps, 0)
        validate.steps("eval_every", self.eval_every, 1)
        validate.steps("checkpoint_every", self.checkpoint_every, 1)
        validate.positive_float("checkpoint_every_s", self.checkpoint_every_s)
        if self.until is not None:
            validate.choice("until", self.until, UNTIL)
        if self.circuits and self.task != "add":
            raise InputError("circuits", f"circuits are measured for modular addition only, not {self.task}")

    @property
    def resolved_train_size(self) -> int:
        if self.train_size is not None:
            return self.train_size
        frac = DEFAULT_TRAIN_FRAC if self.train_frac is None else self.train_frac
        return round(frac * tasks.dataset_size(self.task, self.p))

    @property
    def stop_rule(self) -> str:
        if self.until is not None:
            return self.until
        return CONVERGED if self.random_labels else GROKKED

    @property
    def split_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def budget(self) -> int:
        return self.steps if self.steps is not None else self.max_steps

    def train_split(self) -> tuple[tasks.Split, torch.Tensor]:
        """The run's train/test split and the labels it trains on (random ones with
        ``random_labels``): the one place a run's data is decided from its config."""
        ds = tasks.make_dataset(self.task, self.p)
        sp = tasks.split(ds, train_size=self.resolved_train_size, seed=self.split_seed)
        if self.random_labels:
            return sp, tasks.random_labels(len(sp.train_idx), ds.n_classes, self.split_seed)
        return sp, sp.train_labels


def stop_rule(cfg: TrainConfig) -> StopRule | None:
    if cfg.steps is not None:
        return None
    return grokked_rule(cfg.hold_steps) if cfg.stop_rule == GROKKED else converged_rule(cfg.convergence)


def train_phase(cfg: TrainConfig) -> Phase:
    """A grokking run as a :class:`~grokcheck.transformer.training.phase.Phase`: ``cfg``'s optimiser,
    evaluation and checkpoint schedule, and its stop rule or fixed number of steps."""
    schedule = Schedule(
        budget=cfg.budget,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        checkpoint_every_s=cfg.checkpoint_every_s,
        budget_reason=STEPS if cfg.steps is not None else MAX_STEPS,
    )
    return Phase("train", config=cfg, optim=cfg, schedule=schedule, rule=stop_rule(cfg))


def train(
    cfg: TrainConfig,
    *,
    device: str = "auto",
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> PhaseResult:
    """Train one model on ``cfg.task`` and return what it reached (Figure 1a's experiment).

    Args:
        cfg: the run's configuration.
        device: ``auto``, ``cpu`` or ``cuda``; the same code runs on both.
        out_dir: run folder for ``config.json``, ``metrics.jsonl``, ``summary.json``,
            ``curves.png`` and ``checkpoint.pt``; ``None`` writes nothing.
        resume: continue the run in ``out_dir`` from its checkpoint (the config must match
            except for :data:`~grokcheck.transformer.training.run_folder.RESUMABLE_CHANGES`); a
            run killed before its first checkpoint starts again from step 0 with its saved config.
        progress: called after every step and evaluation.
        stop: polled between steps; when it returns true the run checkpoints and returns,
            stopped as :data:`~grokcheck.transformer.training.metrics.INTERRUPTED` (the CLI sets
            it on Ctrl-C).

    Raises:
        InputError: CUDA requested but unavailable, or a config that differs on resume.
        RunError: a corrupt checkpoint on resume, or a run that diverged (non-finite loss or
            parameters; the last good checkpoint is kept).
    """
    resolve_device(device)  # a bad device is refused before anything is read or written
    out = Path(out_dir) if out_dir is not None else None
    if resume:
        check_resumable(out)
    sp, train_labels = cfg.train_split()
    data = PhaseData(sp.dataset, sp.train_idx, train_labels, cfg.random_labels, cfg.circuits)
    result = run_phase(
        train_phase(cfg),
        data,
        start=cfg.seed,
        device=device,
        checkpoint=out / "checkpoint.pt" if out is not None else None,
        metrics=out / "metrics.jsonl" if out is not None else None,
        resume=resume,
        on_start=(lambda: write_run_config(out, "train", cfg)) if out is not None else None,
        progress=progress,
        stop=stop,
    )
    if out is not None:
        result = dataclasses.replace(result, out_dir=str(out))
        atomic_write_json(out / "summary.json", result)
        _plot(cfg, result, out)
    raise_if_diverged(result)
    return result


def _plot(cfg: TrainConfig, result: PhaseResult, out: Path) -> None:
    """``curves.png`` and, with circuits, ``circuits.png`` (Figure 9: C_trig, C_mem, parameter
    norm, and the progress measures)."""
    from grokcheck.transformer.analysis.plots import plot_curves

    rows, title = row_dicts(result.rows), run_title(cfg, result)
    plot_curves(rows, out / "curves.png", title=title, result=result)
    if cfg.circuits:
        from grokcheck.transformer.analysis.circuit_plots import plot_circuit_curves

        plot_circuit_curves(
            rows, out / "circuits.png", title=title, o_t_key="o_t", o_m_key="o_m", chance=math.log(result.p)
        )


def run_title(cfg: TrainConfig, r: PhaseResult) -> str:
    what = tasks.TASKS[cfg.task].formula
    labels = ", random labels" if r.random_labels else ""
    return f"{what}{'' if r.p is None else f', p={r.p}'}: train {r.train_size}, test {r.test_size}{labels}"
