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
from typing import Any

import torch

from grokcheck import validate
from grokcheck.errors import InputError, RunError
from grokcheck.records import atomic_write_json
from grokcheck.transformer.model import tasks
from grokcheck.transformer.training.checkpoint import (
    load_checkpoint,
    restore_single,
    resumable_checkpoint,
    save_checkpoint,
    single_payload,
)
from grokcheck.transformer.training.convergence import ConvergenceConfig, StopRule, converged_rule, grokked_rule
from grokcheck.transformer.training.loop import Event, Schedule, run_loop
from grokcheck.transformer.training.metrics import DIVERGED, INTERRUPTED, Track
from grokcheck.transformer.model.model import ModelConfig, make_model, param_norm
from grokcheck.transformer.training.optim import OptimConfig, make_optimizer
from grokcheck.transformer.training.run_folder import (
    check_same_config,
    divergence_message,
    remove_stale_temp_files,
    reopen,
    track_rows,
    write_metrics,
    write_run_config,
)
from grokcheck.transformer.model.runtime import PARAM_DTYPES, configure, resolve_device
from grokcheck.transformer.training.single import single_stepper

DEFAULT_TRAIN_FRAC = 0.3
UNTIL = ("grokked", "converged")
RANDOM_LABELS_NOTE = (
    "random labels: the network was trained on uniformly random train labels, so its test "
    "accuracy measures nothing it was taught (chance is 1/n_classes)"
)


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
        return "converged" if self.random_labels else "grokked"

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


@dataclass(frozen=True)
class Metrics:
    """Metrics at one step: losses (float64 cross-entropy), accuracies, parameter norm, and the
    train set's float32-loss diagnostics (:mod:`grokcheck.transformer.analysis.loss_precision`)."""

    step: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    param_norm: float | None
    collapse_f32: float | None = None
    loss_gap_f32: float | None = None


@dataclass(frozen=True)
class TrainResult:
    """What a run reached. ``step_*`` are ``None`` when the milestone was never reached.

    ``step_train_100`` is exact (checked every step); the test milestones are the first
    evaluation step at which test accuracy reached 0.95 / 0.99. ``train_acc_drops`` counts
    steps after ``step_train_100`` where train accuracy fell below 100%. ``step_collapse_f32``
    is the first evaluation step at which a float32 loss was exactly 0 on some train example
    (softmax collapse, :mod:`grokcheck.transformer.analysis.loss_precision`). ``stopped`` is
    ``grokked``, ``steps``, ``max_steps``, ``converged``, ``diverged`` or ``interrupted``.
    """

    task: str
    p: int | None
    train_size: int
    test_size: int
    steps: int
    final: Metrics
    step_train_100: int | None
    step_test_95: int | None
    step_test_99: int | None
    train_acc_drops: int
    stopped: str
    wall_s: float
    device: str
    loss_dtype: str
    eps: float
    threads: int  # torch CPU threads: results are bit-reproducible for the same count
    out_dir: str | None = None
    budget: int | None = None  # the step cap this phase ran under
    converged: bool = False  # its stop rule fired before the cap
    initial_param_norm: float | None = None
    random_labels: bool = False
    note: str | None = None
    step_collapse_f32: int | None = None


def final_metrics(track: Track) -> Metrics:
    return Metrics(**{f.name: getattr(track.last, f.name) for f in dataclasses.fields(Metrics)})


def stop_rule(cfg: TrainConfig) -> StopRule | None:
    if cfg.steps is not None:
        return None
    return grokked_rule(cfg.hold_steps) if cfg.stop_rule == "grokked" else converged_rule(cfg.convergence)


def train(
    cfg: TrainConfig,
    *,
    device: str = "auto",
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train one model on ``cfg.task`` and return what it reached (Figure 1a's experiment).

    Args:
        cfg: the run's configuration.
        device: ``auto``, ``cpu`` or ``cuda``; the same code runs on both.
        out_dir: run folder for ``config.json``, ``metrics.jsonl``, ``summary.json``,
            ``curves.png`` and ``checkpoint.pt``; ``None`` writes nothing.
        resume: continue the run in ``out_dir`` from its checkpoint (the config must match
            except for :data:`RESUMABLE_CHANGES`); a run killed before its first checkpoint
            starts again from step 0 with its saved config.
        progress: called after every step and evaluation.
        stop: polled between steps; when it returns true the run checkpoints and returns with
            ``stopped == "interrupted"`` (the CLI sets it on Ctrl-C).

    Raises:
        InputError: CUDA requested but unavailable, or a config that differs on resume.
        RunError: a corrupt checkpoint on resume, or a run that diverged (non-finite loss or
            parameters; the last good checkpoint is kept).
    """
    dev = resolve_device(device)
    configure(dev)
    sp, train_labels = cfg.train_split()
    ds = sp.dataset
    mcfg = ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes)
    model = make_model(mcfg, seed=cfg.seed, dtype=PARAM_DTYPES[cfg.param_dtype], device=dev)
    init_norm = param_norm(model)
    optimizer = make_optimizer(model, cfg)
    tracks, step = [Track()], 0
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    if resume:
        if out is None:
            raise InputError("out", "resume needs the run folder")
        remove_stale_temp_files(out)
        if resumable_checkpoint(out) is not None:  # else: killed before its first checkpoint
            ckpt = load_checkpoint(ckpt_path, kind="train")
            check_same_config(cfg, ckpt["config"], ckpt_path)
            tracks, step = restore_single(ckpt, model, optimizer), ckpt["step"]
            reopen(tracks[0], step, cfg.budget)
    if out is not None:
        write_run_config(out, "train", cfg)

    def save(at: int) -> None:
        if tracks[0].stopped != DIVERGED:  # keep the last good checkpoint
            save_checkpoint(ckpt_path, single_payload(cfg, model, optimizer, tracks, at), kind="train")
        write_metrics(out / "metrics.jsonl", tracks[0])

    stepper = single_stepper(
        model, optimizer, cfg, ds, sp.train_idx, train_labels=train_labels, circuits=cfg.circuits
    )
    schedule = Schedule(
        budget=cfg.budget,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        checkpoint_every_s=cfg.checkpoint_every_s,
        budget_reason="steps" if cfg.steps is not None else "max_steps",
    )
    step = run_loop(
        stepper,
        tracks,
        start_step=step,
        schedule=schedule,
        rules=[stop_rule(cfg)],
        save=save if out is not None else None,
        progress=progress,
        stop=stop,
        phase="train",
    )
    result = phase_result(
        cfg, ds, tracks[0], step, str(dev), train_size=len(sp.train_idx), init_norm=init_norm
    )
    result = dataclasses.replace(result, out_dir=str(out) if out is not None else None)
    if out is not None:
        atomic_write_json(out / "summary.json", result)
        from grokcheck.transformer.analysis.plots import plot_curves

        plot_curves(track_rows(tracks[0]), out / "curves.png", title=run_title(cfg, result), result=result)
        if cfg.circuits:  # Figure 9 (C_trig, C_mem, parameter norm) and the progress measures
            from grokcheck.transformer.analysis.circuit_plots import plot_circuit_curves

            plot_circuit_curves(
                track_rows(tracks[0]),
                out / "circuits.png",
                title=run_title(cfg, result),
                o_t_key="o_t",
                o_m_key="o_m",
                chance=math.log(ds.p),
            )
    if result.stopped == DIVERGED:
        raise RunError(divergence_message(cfg, tracks[0], out))
    return result


def phase_result(
    cfg: Any,
    ds: tasks.Dataset,
    track: Track,
    step: int,
    device: str,
    *,
    train_size: int,
    init_norm: float | None,
) -> TrainResult:
    """A phase's summary from its track (``stopped`` is ``interrupted`` while it is open)."""
    stopped = track.stopped or INTERRUPTED
    return TrainResult(
        task=cfg.task,
        p=ds.p,
        train_size=train_size,
        test_size=len(ds) - train_size,
        steps=step,
        final=final_metrics(track),
        step_train_100=track.step_train_100,
        step_test_95=track.step_test_95,
        step_test_99=track.step_test_99,
        train_acc_drops=track.train_acc_drops,
        stopped=stopped,
        wall_s=round(track.wall_s, 3),
        device=device,
        loss_dtype=cfg.loss_dtype,
        eps=cfg.eps,
        threads=torch.get_num_threads(),
        budget=getattr(cfg, "budget", None),
        converged=stopped in ("converged", "grokked"),
        initial_param_norm=init_norm,
        random_labels=bool(getattr(cfg, "random_labels", False)),
        note=RANDOM_LABELS_NOTE if getattr(cfg, "random_labels", False) else None,
        step_collapse_f32=track.step_collapse_f32,
    )


def run_title(cfg: TrainConfig, r: TrainResult) -> str:
    what = tasks.TASKS[cfg.task].formula
    labels = ", random labels" if r.random_labels else ""
    return f"{what}{'' if r.p is None else f', p={r.p}'}: train {r.train_size}, test {r.test_size}{labels}"
