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

import torch

from grokcheck import validate
from grokcheck.configs import config_key
from grokcheck.errors import RunError
from grokcheck.records import to_jsonable
from grokcheck.runs import DEFAULT_ROOT
from grokcheck.transformer.model import tasks
from grokcheck.transformer.model.model import param_norm
from grokcheck.transformer.model.runtime import resolve_device
from grokcheck.transformer.training.checkpoint import load_checkpoint, restore_single
from grokcheck.transformer.training.convergence import (
    PRETRAIN_CONVERGENCE,
    PRETRAIN_MAX_STEPS,
    ConvergenceConfig,
    converged_rule,
)
from grokcheck.transformer.training.loop import Event, Schedule
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.training.phase import (
    Phase,
    PhaseData,
    PhaseResult,
    model_state,
    phase_result,
    raise_if_diverged,
    run_phase,
    start_model,
)

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
    result: PhaseResult
    cached: bool
    path: str | None
    state: dict[str, torch.Tensor] = field(repr=False, compare=False, metadata={"json": False})


def pretrain_phase(cfg: PretrainConfig) -> Phase:
    """Pretraining as a :class:`~grokcheck.transformer.training.phase.Phase`: ``cfg.optim``, to
    the convergence rule, capped at ``max_steps``."""
    schedule = Schedule(
        budget=cfg.max_steps, eval_every=cfg.eval_every, checkpoint_every=cfg.checkpoint_every
    )
    # its run checkpoints are named by the config's key (experiments) or sit in an ungrokking
    # run whose pretraining config cannot change: resumed as they are
    return Phase(
        "pretrain",
        config=cfg,
        optim=cfg.optim,
        schedule=schedule,
        rule=converged_rule(cfg.convergence),
        check_resume=False,
    )


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
            (so an interrupted run can continue) and when finished, with
            ``pretrain_metrics.jsonl`` beside it.
        resume: continue from ``run_checkpoint`` if it holds an unfinished pretraining.
        progress, stop: as for :func:`grokcheck.transformer.training.train.train`; when ``stop``
            fires the result is stopped as
            :data:`~grokcheck.transformer.training.metrics.INTERRUPTED` and nothing is cached.

    Raises:
        RunError: a corrupt or foreign cache file or checkpoint, or a pretraining that diverged.
    """
    dev = resolve_device(device)
    phase = pretrain_phase(cfg)
    ds = tasks.make_dataset(cfg.task, cfg.p)
    data = PhaseData(ds, torch.arange(len(ds)))  # every example: there is no test set
    cache = Path(cache_dir) / f"pretrain-{cfg.key()}.pt" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        ckpt = load_checkpoint(cache, kind="pretrain")
        if ckpt["config"] != to_jsonable(cfg):
            raise RunError(f"cached pretrained network {cache} was made with another config; delete it")
        model = start_model(ds, cfg.optim, cfg.seed, dev)
        init_norm = param_norm(model)
        track = restore_single(ckpt, model, None)[0]
        result = phase_result(
            phase, data, track, ckpt["step"], ckpt["device"], init_norm=init_norm, state=model_state(model)
        )
        return Pretrained(cfg, result, True, str(cache), result.state)

    run_ckpt = Path(run_checkpoint) if run_checkpoint is not None else None
    result = run_phase(
        phase,
        data,
        start=cfg.seed,
        device=dev,
        checkpoint=run_ckpt,
        metrics=run_ckpt.parent / "pretrain_metrics.jsonl" if run_ckpt is not None else None,
        resume=resume,
        cache=cache,
        progress=progress,
        stop=stop,
    )
    raise_if_diverged(result)
    return Pretrained(cfg, result, False, str(cache) if cache is not None else None, result.state)
