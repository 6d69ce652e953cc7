"""Grokking runs (Sections 3 and 5, Appendix A): full-batch AdamW on a random train split.

Appendix A: AdamW with lr 1e-3, betas (0.9, 0.98), weight decay 1.0, full batch; a random
fraction of the task's dataset is the train set and the rest the test set. The paper does not
give AdamW's eps; we use PyTorch's default 1e-8 and record it.

Loss precision (``loss_dtype``) is an explicit choice: logits come out in the parameter dtype
(float32) and are cast to float64 before the log-softmax by default. A float32 log-softmax
rounds the loss of well-fit examples to 0 once it nears 1e-7, so they stop giving gradient;
that speeds up the decay of memorisation (p = 113 groks at ~9.7k steps instead of ~13.1k) but
lets train accuracy dip below 100% (docs/training.md).

A run stops after ``steps`` steps when given, else once test accuracy >= 0.99 has held for
``hold_steps`` steps ("grokked"), or at ``max_steps``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grokcheck import validate
from grokcheck.errors import InputError, RunError
from grokcheck.records import atomic_write_json, atomic_write_text, to_jsonable
from grokcheck.transformer import tasks
from grokcheck.transformer.checkpoint import load_checkpoint, save_checkpoint
from grokcheck.transformer.loop import Data, Progress, Tracker, grokked_rule, run_loop
from grokcheck.transformer.model import ModelConfig, Transformer, make_model
from grokcheck.transformer.optim import OptimConfig, make_optimizer
from grokcheck.transformer.runtime import LOSS_DTYPES, PARAM_DTYPES, configure, resolve_device

DEFAULT_TRAIN_FRAC = 0.3
#: config fields that may change when a run is resumed (they only move where it stops)
RESUMABLE_CHANGES = ("steps", "max_steps", "hold_steps", "ungrok_steps")


@dataclass(frozen=True)
class TrainConfig(OptimConfig):
    """One grokking run.

    Attributes:
        task: a name from :data:`grokcheck.transformer.tasks.TASKS`.
        p: the modulus (ignored by S5 tasks).
        train_frac / train_size: the train set as a fraction of the dataset or an exact size;
            give at most one (default: fraction 0.3, Figure 1a's setting).
        seed: seeds the initialisation; ``data_seed`` (default: ``seed``) the split.
        steps: a fixed number of steps; ``None`` = until grokked, capped at ``max_steps``.
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
        validate.int_at_least("seed", self.seed, 0)
        if self.data_seed is not None:
            validate.int_at_least("data_seed", self.data_seed, 0)
        if self.steps is not None:
            validate.int_at_least("steps", self.steps, 0)
        validate.int_at_least("max_steps", self.max_steps, 1)
        validate.int_at_least("hold_steps", self.hold_steps, 0)
        validate.int_at_least("eval_every", self.eval_every, 1)
        validate.int_at_least("checkpoint_every", self.checkpoint_every, 1)

    @property
    def resolved_train_size(self) -> int:
        if self.train_size is not None:
            return self.train_size
        frac = DEFAULT_TRAIN_FRAC if self.train_frac is None else self.train_frac
        return round(frac * tasks.dataset_size(self.task, self.p))

    @property
    def budget(self) -> int:
        return self.steps if self.steps is not None else self.max_steps


@dataclass(frozen=True)
class Metrics:
    """Metrics at one step: losses (float64 cross-entropy), accuracies, parameter norm."""

    step: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    param_norm: float | None


@dataclass(frozen=True)
class TrainResult:
    """What a run reached. ``step_*`` are ``None`` when the milestone was never reached.

    ``step_train_100`` is exact (checked every step); the test milestones are the first
    evaluation step at which test accuracy reached 0.95 / 0.99. ``train_acc_drops`` counts
    steps after ``step_train_100`` where train accuracy fell below 100%. ``stopped`` is
    ``grokked``, ``steps``, ``max_steps``, ``converged`` or ``interrupted``.
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


def make_forward(model: Transformer, engine: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The logits function the loop calls: ``tokens (batch, 4) -> logits (batch, n_classes)``.

    The training step calls it once per step, so any exact engine can stand in for the model.
    """
    if engine == "reference":
        return model
    from grokcheck.transformer import engine as fast

    return fast.make_forward(model, engine)


def final_metrics(tracker: Tracker) -> Metrics:
    r = tracker.rows[-1]
    return Metrics(**{f.name: r[f.name] for f in dataclasses.fields(Metrics)})


def train(
    cfg: TrainConfig,
    *,
    device: str = "auto",
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train one model on ``cfg.task`` and return what it reached (Figure 1a's experiment).

    Args:
        cfg: the run's configuration.
        device: ``auto``, ``cpu`` or ``cuda``; the same code runs on both.
        out_dir: run folder for ``config.json``, ``metrics.jsonl``, ``summary.json``,
            ``curves.png`` and ``checkpoint.pt``; ``None`` writes nothing.
        resume: continue the run in ``out_dir`` from its checkpoint (the config must match
            except for :data:`RESUMABLE_CHANGES`).
        progress: called after every step and evaluation.
        stop: polled between steps; when it returns true the run checkpoints and returns with
            ``stopped == "interrupted"`` (the CLI sets it on Ctrl-C).

    Raises:
        InputError: CUDA requested but unavailable, or a config that differs on resume.
        RunError: a missing or corrupt checkpoint on resume.
    """
    dev = resolve_device(device)
    configure(dev)
    ds = tasks.make_dataset(cfg.task, cfg.p)
    sp = tasks.split(
        ds,
        train_size=cfg.resolved_train_size,
        seed=cfg.seed if cfg.data_seed is None else cfg.data_seed,
    )
    mcfg = ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes)
    model = make_model(mcfg, seed=cfg.seed, dtype=PARAM_DTYPES[cfg.param_dtype], device=dev)
    optimizer = make_optimizer(model, cfg)
    tracker = Tracker()
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    if resume:
        if ckpt_path is None:
            raise RunError("resume needs the run folder (--out DIR)")
        ckpt = load_checkpoint(ckpt_path, kind="train")
        check_same_config(cfg, ckpt["config"], ckpt_path)
        restore(ckpt, model, optimizer, tracker)
    if out is not None:
        atomic_write_json(out / "config.json", cfg)

    def save() -> None:
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, checkpoint_payload(cfg, model, optimizer, tracker), kind="train")
            write_metrics(out / "metrics.jsonl", tracker)

    data = Data(*(t.to(dev) for t in (sp.train_tokens, sp.train_labels, sp.test_tokens, sp.test_labels)))
    stopped = run_loop(
        model=model,
        optimizer=optimizer,
        forward=make_forward(model, cfg.engine),
        data=data,
        tracker=tracker,
        budget=cfg.budget,
        rule=None if cfg.steps is not None else grokked_rule(cfg.hold_steps),
        eval_every=cfg.eval_every,
        loss_dtype=LOSS_DTYPES[cfg.loss_dtype],
        checkpoint_every=cfg.checkpoint_every,
        save=save if out is not None else None,
        progress=progress,
        stop=stop,
        phase="train",
        budget_reason="steps" if cfg.steps is not None else "max_steps",
    )
    result = TrainResult(
        task=cfg.task,
        p=ds.p,
        train_size=len(sp.train_idx),
        test_size=len(sp.test_idx),
        steps=tracker.step,
        final=final_metrics(tracker),
        step_train_100=tracker.step_train_100,
        step_test_95=tracker.step_test_95,
        step_test_99=tracker.step_test_99,
        train_acc_drops=tracker.train_acc_drops,
        stopped=stopped,
        wall_s=round(tracker.wall_s, 3),
        device=str(dev),
        loss_dtype=cfg.loss_dtype,
        eps=cfg.eps,
        threads=torch.get_num_threads(),
        out_dir=str(out) if out is not None else None,
    )
    if out is not None:
        atomic_write_json(out / "summary.json", result)
        from grokcheck.transformer.plots import plot_curves

        plot_curves(tracker.rows, out / "curves.png", title=run_title(cfg, result), result=result)
    return result


def run_title(cfg: TrainConfig, r: TrainResult) -> str:
    what = tasks.TASKS[cfg.task].formula
    return f"{what}{'' if r.p is None else f', p={r.p}'}: train {r.train_size}, test {r.test_size}"


def checkpoint_payload(
    cfg: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer, tracker: Tracker
) -> dict[str, Any]:
    return {
        "config": to_jsonable(cfg),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": _to_cpu(optimizer.state_dict()),
        "step": tracker.step,
        "tracker": tracker.to_dict(),
        "rng": torch.get_rng_state(),
    }


def restore(
    ckpt: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    tracker: Tracker | None,
) -> None:
    """Load a checkpoint's states into ``model`` (and ``optimizer``, ``tracker``) in place."""
    try:
        model.load_state_dict(ckpt["model"])
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
        if tracker is not None:
            loaded = Tracker.from_dict(ckpt["tracker"])
            for f in dataclasses.fields(Tracker):
                setattr(tracker, f.name, getattr(loaded, f.name))
        if "rng" in ckpt:
            torch.set_rng_state(ckpt["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        reason = " ".join(str(e).split())[:120]
        raise RunError(f"checkpoint does not fit this model or run ({reason})") from None


def check_same_config(cfg: Any, saved: dict[str, Any], path: Path) -> None:
    """On resume every config field must match the saved one, except :data:`RESUMABLE_CHANGES`."""
    now = to_jsonable(cfg)
    for key, value in now.items():
        if key in RESUMABLE_CHANGES:
            continue
        if key not in saved or saved[key] != value:
            raise InputError(
                key,
                f"differs from the run being resumed in {path.parent} "
                f"({saved.get(key)!r} there, {value!r} now)",
            )


def write_metrics(path: Path, tracker: Tracker) -> None:
    """All evaluation rows so far as JSON lines (readable with ``pandas.read_json(lines=True)``)."""
    from grokcheck.records import dumps

    atomic_write_text(path, "".join(dumps(r) + "\n" for r in tracker.rows))


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj
