"""Pretraining for ungrokking (Section 5.2, Appendix A.2): a network trained to convergence on
the full dataset, one per seed, trained once and cached.

Appendix A.2 ungroks each seed "from a network that was trained to full generalisation with the
same random initialisation". :func:`pretrain` trains that network on every example of the task
(there is no test set) until :data:`~grokcheck.transformer.training.convergence.PRETRAIN_CONVERGENCE`
fires (the parameter norm stopped falling, with 100% train accuracy) or ``max_steps``, and
caches it under ``cache_dir/pretrain-<key>.pt`` where the key is the hash of the whole
:class:`PretrainConfig` (the engine excepted: it is exact up to rounding). A sweep asks for
``pretrain(PretrainConfig(seed=s))`` per seed and trains each network once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grokcheck import validate
from grokcheck.configs import config_key
from grokcheck.errors import RunError
from grokcheck.records import to_jsonable
from grokcheck.runs import DEFAULT_ROOT
from grokcheck.transformer.model import tasks
from grokcheck.transformer.training.checkpoint import load_checkpoint, restore_single, save_checkpoint, single_payload
from grokcheck.transformer.training.convergence import (
    PRETRAIN_CONVERGENCE,
    PRETRAIN_MAX_STEPS,
    ConvergenceConfig,
    converged_rule,
)
from grokcheck.transformer.training.loop import Event, Schedule, run_loop
from grokcheck.transformer.training.metrics import INTERRUPTED, Track
from grokcheck.transformer.model.model import ModelConfig, make_model, param_norm
from grokcheck.transformer.training.optim import OptimConfig, make_optimizer
from grokcheck.transformer.training.run_folder import write_metrics
from grokcheck.transformer.model.runtime import PARAM_DTYPES, configure, resolve_device
from grokcheck.transformer.training.single import single_stepper
from grokcheck.transformer.training.train import TrainResult, phase_result

DEFAULT_CACHE = DEFAULT_ROOT / "cache"


@dataclass(frozen=True)
class PretrainConfig:
    """The pretrained network of one seed. Every field is part of the cache key."""

    task: str = "add"
    p: int = 113
    seed: int = 0
    optim: OptimConfig = field(default_factory=OptimConfig)
    max_steps: int = PRETRAIN_MAX_STEPS
    eval_every: int = 50
    convergence: ConvergenceConfig = PRETRAIN_CONVERGENCE
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        tasks.check_p(self.task, self.p)
        validate.seed("seed", self.seed)
        validate.steps("max_steps", self.max_steps, 1, flag="--pretrain-steps")
        validate.steps("eval_every", self.eval_every, 1)
        validate.steps("checkpoint_every", self.checkpoint_every, 1)

    def key(self) -> str:
        """Equal keys mean the same pretrained network (the engine choice is left out)."""
        data = to_jsonable(self)
        data["optim"] = {k: v for k, v in data["optim"].items() if k != "engine"}
        return config_key(data)

    @property
    def budget(self) -> int:
        return self.max_steps

    @property
    def loss_dtype(self) -> str:
        return self.optim.loss_dtype

    @property
    def eps(self) -> float:
        return self.optim.eps


@dataclass(frozen=True)
class Pretrained:
    """A pretrained network: its parameters (``state``, not serialised) and how it got there."""

    config: PretrainConfig
    result: TrainResult
    cached: bool
    path: str | None
    state: dict[str, torch.Tensor] = field(repr=False, compare=False, metadata={"json": False})


def pretrain(
    cfg: PretrainConfig,
    *,
    device: str | torch.device = "auto",
    cache_dir: str | Path | None = DEFAULT_CACHE,
    run_checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Pretrained:
    """The pretrained network of ``cfg``: from the cache, or trained (and then cached).

    Args:
        cfg: which network.
        device: where to train it.
        cache_dir: the cache folder (``None``: no cache).
        run_checkpoint: a run folder's checkpoint of this pretraining: written while training
            (so an interrupted run can continue) and when finished.
        resume: continue from ``run_checkpoint`` if it holds an unfinished pretraining.
        progress, stop: as for :func:`grokcheck.transformer.training.train.train`; when ``stop`` fires
            the result says ``stopped == "interrupted"`` and nothing is cached.
    """
    dev = resolve_device(device)
    configure(dev)
    ds = tasks.make_dataset(cfg.task, cfg.p)
    model = make_model(
        ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes),
        seed=cfg.seed,
        dtype=PARAM_DTYPES[cfg.optim.param_dtype],
        device=dev,
    )
    init_norm = param_norm(model)
    cache = Path(cache_dir) / f"pretrain-{cfg.key()}.pt" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        ckpt = load_checkpoint(cache, kind="pretrain")
        if ckpt["config"] != to_jsonable(cfg):
            raise RunError(f"cached pretrained network {cache} was made with another config; delete it")
        tracks = restore_single(ckpt, model, None)
        result = phase_result(
            cfg, ds, tracks[0], ckpt["step"], ckpt["device"], train_size=len(ds), init_norm=init_norm
        )
        return Pretrained(cfg, result, True, str(cache), _state(model))

    optimizer = make_optimizer(model, cfg.optim)
    tracks, step = [Track()], 0
    run_ckpt = Path(run_checkpoint) if run_checkpoint is not None else None
    if resume and run_ckpt is not None and run_ckpt.is_file():
        ckpt = load_checkpoint(run_ckpt, kind="pretrain")
        tracks, step = restore_single(ckpt, model, optimizer), ckpt["step"]

    def payload(at: int) -> dict[str, Any]:
        return {**single_payload(cfg, model, optimizer, tracks, at), "device": str(dev)}

    def save(at: int) -> None:
        save_checkpoint(run_ckpt, payload(at), kind="pretrain")
        write_metrics(run_ckpt.parent / "pretrain_metrics.jsonl", tracks[0])

    if tracks[0].stopped is None:
        stepper = single_stepper(model, optimizer, cfg.optim, ds, torch.arange(len(ds)))
        step = run_loop(
            stepper,
            tracks,
            start_step=step,
            schedule=Schedule(
                budget=cfg.max_steps, eval_every=cfg.eval_every, checkpoint_every=cfg.checkpoint_every
            ),
            rules=[converged_rule(cfg.convergence)],
            save=save if run_ckpt is not None else None,
            progress=progress,
            stop=stop,
            phase="pretrain",
        )
    result = phase_result(cfg, ds, tracks[0], step, str(dev), train_size=len(ds), init_norm=init_norm)
    if result.stopped == "diverged":
        raise RunError(f"pretraining diverged at step {tracks[0].stop_step}; lower the learning rate")
    if result.stopped != INTERRUPTED and cache is not None:
        save_checkpoint(cache, payload(step), kind="pretrain")
    return Pretrained(cfg, result, False, str(cache) if cache is not None else None, _state(model))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
