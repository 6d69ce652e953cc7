"""Ungrokking (Section 5.2, Figure 1b): a grokked network, trained on too little data, forgets.

Phase 1 (pretrain): train on the *full* dataset (no test set) until the parameter norm stops
falling (relative change < ``pretrain_rtol`` over ``pretrain_window`` steps, with 100% train
accuracy) or ``pretrain_max_steps``. The result is cached by its config and seed under
``runs/cache/pretrain-<hash>.pt``, so runs with other reduced sizes reuse it.

Phase 2 (ungrok): from the pretrained parameters, with a fresh AdamW (weight decay
``weight_decay``), train for ``ungrok_steps`` steps on a random subset of ``reduced_size``
examples; the test set is everything outside the subset. When ``reduced_size`` < D_crit the
theory predicts test accuracy falls (Section 4.2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grokcheck import validate
from grokcheck.errors import InputError
from grokcheck.records import atomic_write_json, to_jsonable
from grokcheck.runs import DEFAULT_ROOT
from grokcheck.transformer import tasks
from grokcheck.transformer.checkpoint import load_checkpoint, save_checkpoint
from grokcheck.transformer.loop import Data, Progress, Tracker, norm_plateau_rule, run_loop
from grokcheck.transformer.model import ModelConfig, make_model
from grokcheck.transformer.optim import OptimConfig, make_optimizer
from grokcheck.transformer.runtime import LOSS_DTYPES, PARAM_DTYPES, configure, resolve_device
from grokcheck.transformer.train import (
    TrainResult,
    check_same_config,
    checkpoint_payload,
    final_metrics,
    make_forward,
    restore,
    write_metrics,
)

DEFAULT_CACHE = DEFAULT_ROOT / "cache"
#: config fields that decide the pretrained network (the cache key); nothing else affects it
PRETRAIN_FIELDS = (
    "task",
    "p",
    "seed",
    "lr",
    "beta1",
    "beta2",
    "eps",
    "loss_dtype",
    "param_dtype",
    "pretrain_weight_decay",
    "pretrain_max_steps",
    "pretrain_window",
    "pretrain_rtol",
    "pretrain_eval_every",
)


@dataclass(frozen=True)
class UngrokConfig(OptimConfig):
    """Section 5.2's experiment. ``weight_decay`` (inherited) is the ungrokking phase's.

    Attributes:
        reduced_size: D', the size of the reduced train set (``--ungrok N``).
        seed: seeds the initialisation of the pretrained network; ``subset_seed`` (default:
            ``seed``) chooses the reduced subset.
        pretrain_*: phase 1's weight decay, step cap, and convergence test.
        ungrok_steps: length of phase 2 (the paper: 100k steps in Figure 8).
    """

    task: str = "add"
    p: int = 113
    reduced_size: int = 800
    seed: int = 0
    subset_seed: int | None = None
    pretrain_weight_decay: float = 1.0
    pretrain_max_steps: int = 5000
    pretrain_window: int = 500
    pretrain_rtol: float = 0.01
    pretrain_eval_every: int = 50
    ungrok_steps: int = 10_000
    eval_every: int = 100
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        n = tasks.dataset_size(self.task, self.p)
        if (
            isinstance(self.reduced_size, bool)
            or not isinstance(self.reduced_size, int)
            or not 1 <= self.reduced_size < n
        ):
            raise InputError(
                "reduced_size",
                f"must be an integer in [1, {n - 1}]: the reduced "
                f"train set must leave a test set ({self.task} has {n} examples), "
                f"got {self.reduced_size!r}",
                flag="--ungrok",
            )
        validate.int_at_least("seed", self.seed, 0)
        if self.subset_seed is not None:
            validate.int_at_least("subset_seed", self.subset_seed, 0)
        wd = validate.finite_float("pretrain_weight_decay", self.pretrain_weight_decay)
        if wd < 0:
            raise InputError("pretrain_weight_decay", f"must be >= 0, got {wd!r}")
        validate.int_at_least("pretrain_max_steps", self.pretrain_max_steps, 1)
        validate.int_at_least("pretrain_window", self.pretrain_window, 1)
        validate.positive_float("pretrain_rtol", self.pretrain_rtol)
        validate.int_at_least("pretrain_eval_every", self.pretrain_eval_every, 1)
        validate.int_at_least("ungrok_steps", self.ungrok_steps, 0)
        validate.int_at_least("eval_every", self.eval_every, 1)
        validate.int_at_least("checkpoint_every", self.checkpoint_every, 1)

    def pretrain_key(self) -> str:
        """A short hash of :data:`PRETRAIN_FIELDS`: equal keys mean the same pretrained network."""
        fields = {k: to_jsonable(getattr(self, k)) for k in PRETRAIN_FIELDS}
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class UngrokResult:
    """Both phases, each summarised like a grokking run, plus where test accuracy fell.

    ``step_test_below_half`` is the first ungrokking-phase evaluation step with test accuracy
    < 0.5 (``None`` if it never fell that far).
    """

    reduced_size: int
    pretrain: TrainResult
    ungrok: TrainResult | None  # None when interrupted during pretraining
    step_test_below_half: int | None
    pretrain_cached: bool
    cache_path: str | None
    out_dir: str | None = None


def ungrok(
    cfg: UngrokConfig,
    *,
    device: str = "auto",
    out_dir: str | Path | None = None,
    resume: bool = False,
    cache_dir: str | Path | None = DEFAULT_CACHE,
    progress: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> UngrokResult:
    """Pretrain on the full dataset (or reuse the cache), then train on a reduced subset.

    Args:
        cfg: the experiment's configuration.
        device: ``auto``, ``cpu`` or ``cuda``.
        out_dir: run folder (``config.json``, ``pretrain_metrics.jsonl``, ``metrics.jsonl``,
            ``summary.json``, ``ungrok.png``, checkpoints); ``None`` writes nothing there.
        resume: continue an interrupted run in ``out_dir`` (either phase).
        cache_dir: where pretrained networks are cached; ``None`` disables the cache.
        progress, stop: as for :func:`grokcheck.transformer.train.train`.

    Returns:
        An :class:`UngrokResult`; if ``stop`` fired, the phase it stopped in says
        ``stopped == "interrupted"``.
    """
    dev = resolve_device(device)
    configure(dev)
    ds = tasks.make_dataset(cfg.task, cfg.p)
    mcfg = ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes)
    out = Path(out_dir) if out_dir is not None else None
    if resume:
        saved = _saved_config(out)
        check_same_config(cfg, saved, out / "config.json")
    if out is not None:
        atomic_write_json(out / "config.json", cfg)
    cache_path = Path(cache_dir) / f"pretrain-{cfg.pretrain_key()}.pt" if cache_dir is not None else None

    model = make_model(mcfg, seed=cfg.seed, dtype=PARAM_DTYPES[cfg.param_dtype], device=dev)
    forward = make_forward(model, cfg.engine)

    # Phase 1: pretrain on the full dataset, or reuse a finished pretraining
    pre_tracker, pre_stopped, pre_device, cached = _pretrain(
        cfg,
        model,
        forward,
        ds,
        dev,
        out=out,
        resume=resume,
        cache_path=cache_path,
        progress=progress,
        stop=stop,
    )
    pre_result = _phase_result(cfg, ds, len(ds), 0, pre_tracker, pre_stopped, pre_device)
    if out is not None:
        write_metrics(out / "pretrain_metrics.jsonl", pre_tracker)
    if pre_stopped == "interrupted":
        return UngrokResult(cfg.reduced_size, pre_result, None, None, cached, _str(cache_path), _str(out))

    # Phase 2: a fresh AdamW on the reduced subset; test = the complement
    loss_dtype = LOSS_DTYPES[cfg.loss_dtype]
    sp = tasks.split(
        ds,
        train_size=cfg.reduced_size,
        seed=cfg.seed if cfg.subset_seed is None else cfg.subset_seed,
    )
    optimizer = make_optimizer(model, cfg)
    tracker = Tracker()
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    if resume and ckpt_path is not None and ckpt_path.is_file():
        restore(load_checkpoint(ckpt_path, kind="ungrok"), model, optimizer, tracker)

    def save() -> None:
        save_checkpoint(ckpt_path, checkpoint_payload(cfg, model, optimizer, tracker), kind="ungrok")
        write_metrics(out / "metrics.jsonl", tracker)

    data = Data(*(t.to(dev) for t in (sp.train_tokens, sp.train_labels, sp.test_tokens, sp.test_labels)))
    stopped = run_loop(
        model=model,
        optimizer=optimizer,
        forward=forward,
        data=data,
        tracker=tracker,
        budget=cfg.ungrok_steps,
        rule=None,
        eval_every=cfg.eval_every,
        loss_dtype=loss_dtype,
        checkpoint_every=cfg.checkpoint_every,
        save=save if ckpt_path is not None else None,
        progress=progress,
        stop=stop,
        phase="ungrok",
        budget_reason="steps",
    )
    ung_result = _phase_result(cfg, ds, len(sp.train_idx), len(sp.test_idx), tracker, stopped, str(dev))
    below = next((r["step"] for r in tracker.rows if r["test_acc"] is not None and r["test_acc"] < 0.5), None)
    result = UngrokResult(
        reduced_size=cfg.reduced_size,
        pretrain=pre_result,
        ungrok=ung_result,
        step_test_below_half=below,
        pretrain_cached=cached,
        cache_path=_str(cache_path),
        out_dir=_str(out),
    )
    if out is not None:
        atomic_write_json(out / "summary.json", result)
        from grokcheck.transformer.plots import plot_ungrok

        what = tasks.TASKS[cfg.task].formula
        where = "" if ds.p is None else f", p={ds.p}"
        title = (
            f"Ungrokking {what}{where}: pretrained on all {len(ds)} ({pre_result.steps} "
            f"steps),\nthen trained on D'={cfg.reduced_size}; test = the other {len(sp.test_idx)}"
        )
        plot_ungrok(tracker.rows, out / "ungrok.png", title=title)
    return result


def _pretrain(
    cfg: UngrokConfig,
    model: torch.nn.Module,
    forward: Callable[[torch.Tensor], torch.Tensor],
    ds: tasks.Dataset,
    dev: torch.device,
    *,
    out: Path | None,
    resume: bool,
    cache_path: Path | None,
    progress: Callable[[Progress], None] | None,
    stop: Callable[[], bool] | None,
) -> tuple[Tracker, str, str, bool]:
    """Phase 1. Returns (tracker, why it stopped, device it ran on, whether the cache was used).

    Sources, in order: the cache; a finished pretraining in the run folder (``--resume``
    without a cache); otherwise train, continuing the run folder's partial pretraining when
    resuming. A finished pretraining is written to the cache and the run folder.
    """
    tracker = Tracker()
    run_ckpt = out / "pretrain_checkpoint.pt" if out is not None else None
    if cache_path is not None and cache_path.is_file():
        ckpt = load_checkpoint(cache_path, kind="pretrain")
        _check_pretrain_config(cfg, ckpt["config"], cache_path)
        restore(ckpt, model, None, tracker)
        return tracker, ckpt["stopped"], ckpt["device"], True
    optimizer = make_optimizer(
        model, OptimConfig(**{**_optim_fields(cfg), "weight_decay": cfg.pretrain_weight_decay})
    )
    if resume and run_ckpt is not None and run_ckpt.is_file():
        ckpt = load_checkpoint(run_ckpt, kind="pretrain")
        restore(ckpt, model, optimizer, tracker)
        if ckpt["stopped"] != "interrupted":
            return tracker, ckpt["stopped"], ckpt["device"], False

    def payload(stopped: str) -> dict[str, Any]:
        state = checkpoint_payload(_pretrain_identity(cfg), model, optimizer, tracker)
        return {**state, "stopped": stopped, "device": str(dev)}

    def save() -> None:
        save_checkpoint(run_ckpt, payload("interrupted"), kind="pretrain")
        write_metrics(out / "pretrain_metrics.jsonl", tracker)

    stopped = run_loop(
        model=model,
        optimizer=optimizer,
        forward=forward,
        data=Data(ds.tokens.to(dev), ds.labels.to(dev)),
        tracker=tracker,
        budget=cfg.pretrain_max_steps,
        rule=norm_plateau_rule(cfg.pretrain_window, cfg.pretrain_rtol),
        eval_every=cfg.pretrain_eval_every,
        loss_dtype=LOSS_DTYPES[cfg.loss_dtype],
        checkpoint_every=cfg.checkpoint_every,
        save=save if run_ckpt is not None else None,
        progress=progress,
        stop=stop,
        phase="pretrain",
        budget_reason="max_steps",
    )
    if stopped != "interrupted":
        for path in (cache_path, run_ckpt):
            if path is not None:
                save_checkpoint(path, payload(stopped), kind="pretrain")
    return tracker, stopped, str(dev), False


def _optim_fields(cfg: UngrokConfig) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(OptimConfig)}


def _pretrain_identity(cfg: UngrokConfig) -> dict[str, Any]:
    return {k: to_jsonable(getattr(cfg, k)) for k in PRETRAIN_FIELDS}


def _check_pretrain_config(cfg: UngrokConfig, saved: dict[str, Any], path: Path) -> None:
    want = _pretrain_identity(cfg)
    if saved != want:
        from grokcheck.errors import RunError

        raise RunError(f"cached pretrained network {path} was made with another config; delete it")


def _saved_config(out: Path | None) -> dict[str, Any]:
    from grokcheck.errors import RunError

    if out is None:
        raise RunError("resume needs the run folder (--out DIR)")
    path = out / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"--resume: {path} not found; is {out} an ungrokking run?") from None
    except (OSError, ValueError) as e:
        raise RunError(f"--resume: cannot read {path} ({e})") from None


def _phase_result(
    cfg: UngrokConfig,
    ds: tasks.Dataset,
    train_size: int,
    test_size: int,
    tracker: Tracker,
    stopped: str,
    device: str,
) -> TrainResult:
    return TrainResult(
        task=cfg.task,
        p=ds.p,
        train_size=train_size,
        test_size=test_size,
        steps=tracker.step,
        final=final_metrics(tracker),
        step_train_100=tracker.step_train_100,
        step_test_95=tracker.step_test_95,
        step_test_99=tracker.step_test_99,
        train_acc_drops=tracker.train_acc_drops,
        stopped=stopped,
        wall_s=round(tracker.wall_s, 3),
        device=device,
        loss_dtype=cfg.loss_dtype,
        eps=cfg.eps,
        threads=torch.get_num_threads(),
    )


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
