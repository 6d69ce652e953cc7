"""Ungrokking (Section 5.2, Figure 1b): a grokked network, trained on too little data, forgets.

Phase 1 (:mod:`grokcheck.transformer.training.pretrain`): the network of ``pretrain.seed`` trained to
convergence on the *full* dataset, cached. Phase 2: from those parameters, with a fresh AdamW
(this config's optimiser settings), train on a random subset of ``reduced_size`` examples
until the convergence rule fires (capped at ``ungrok_max_steps``; the paper measures test
accuracy "at convergence") or for exactly ``ungrok_steps`` when given. The test set is
everything outside the subset. When ``reduced_size`` < D_crit the theory predicts test accuracy
falls (Section 4.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grokcheck import validate
from grokcheck.errors import InputError
from grokcheck.records import atomic_write_json
from grokcheck.transformer.model import tasks
from grokcheck.transformer.model.runtime import resolve_device
from grokcheck.transformer.training.convergence import ConvergenceConfig, converged_rule
from grokcheck.transformer.training.loop import Event, Schedule
from grokcheck.transformer.training.metrics import INTERRUPTED, MAX_STEPS, STEPS
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.training.phase import Phase, PhaseData, PhaseResult, raise_if_diverged, run_phase
from grokcheck.transformer.training.pretrain import DEFAULT_CACHE, PretrainConfig, pretrain
from grokcheck.transformer.training.run_folder import check_resumable, row_dicts, write_run_config


@dataclass(frozen=True)
class UngrokConfig(OptimConfig):
    """Section 5.2's experiment. The optimiser fields (inherited) are phase 2's.

    Attributes:
        pretrain: the pretrained network (task, modulus, seed, its own optimiser and cap).
        reduced_size: D', the size of the reduced train set (``--ungrok N``).
        subset_seed: chooses the reduced subset (default: the pretrained network's seed).
        ungrok_max_steps: cap on phase 2 (the paper: 100k steps in Figure 8).
        ungrok_steps: a fixed length for phase 2 instead of training to convergence.
        convergence: phase 2's convergence rule.
    """

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    reduced_size: int = 800
    subset_seed: int | None = None
    ungrok_max_steps: int = 100_000
    ungrok_steps: int | None = None
    convergence: ConvergenceConfig = field(default_factory=ConvergenceConfig)
    eval_every: int = 100
    checkpoint_every: int = 1000
    checkpoint_every_s: float = 60.0
    circuits: bool = False

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
                f"must be an integer in [1, {n - 1}]: the reduced train set must leave a test set "
                f"({self.task} has {n} examples), got {self.reduced_size!r}",
                flag="--ungrok",
            )
        if self.subset_seed is not None:
            validate.int_at_least("subset_seed", self.subset_seed, 0)
        validate.steps("ungrok_max_steps", self.ungrok_max_steps, 1)
        if self.ungrok_steps is not None:
            validate.steps("ungrok_steps", self.ungrok_steps, 0)
        validate.steps("eval_every", self.eval_every, 1)
        validate.steps("checkpoint_every", self.checkpoint_every, 1)
        validate.positive_float("checkpoint_every_s", self.checkpoint_every_s)
        if self.circuits and self.task != "add":
            raise InputError("circuits", f"circuits are measured for modular addition only, not {self.task}")

    @property
    def task(self) -> str:
        return self.pretrain.task

    @property
    def p(self) -> int:
        return self.pretrain.p

    @property
    def seed(self) -> int:
        return self.pretrain.seed

    @property
    def budget(self) -> int:
        return self.ungrok_steps if self.ungrok_steps is not None else self.ungrok_max_steps

    def train_split(self) -> tuple[tasks.Split, torch.Tensor]:
        """Phase 2's reduced subset (drawn with ``subset_seed``, default the seed) and its labels."""
        ds = tasks.make_dataset(self.task, self.p)
        seed = self.seed if self.subset_seed is None else self.subset_seed
        sp = tasks.split(ds, train_size=self.reduced_size, seed=seed)
        return sp, sp.train_labels


@dataclass(frozen=True)
class UngrokResult:
    """Both phases, each summarised like a grokking run, plus where test accuracy fell.

    ``step_test_below_half`` is the first ungrokking-phase evaluation step with test accuracy
    < 0.5 (``None`` if it never fell that far).
    """

    reduced_size: int
    pretrain: PhaseResult
    ungrok: PhaseResult | None  # None when interrupted during pretraining
    step_test_below_half: int | None
    pretrain_cached: bool
    cache_path: str | None
    out_dir: str | None = None


def ungrok_phase(cfg: UngrokConfig) -> Phase:
    """Phase 2 as a :class:`~grokcheck.transformer.training.phase.Phase`: a fresh AdamW with
    ``cfg``'s settings, to the convergence rule (capped) or for exactly ``ungrok_steps``."""
    fixed = cfg.ungrok_steps is not None
    schedule = Schedule(
        budget=cfg.budget,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        checkpoint_every_s=cfg.checkpoint_every_s,
        budget_reason=STEPS if fixed else MAX_STEPS,
    )
    rule = None if fixed else converged_rule(cfg.convergence)
    return Phase("ungrok", config=cfg, optim=cfg, schedule=schedule, rule=rule)


def ungrok(
    cfg: UngrokConfig,
    *,
    device: str = "auto",
    out_dir: str | Path | None = None,
    resume: bool = False,
    cache_dir: str | Path | None = DEFAULT_CACHE,
    progress: Callable[[Event], None] | None = None,
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
        progress, stop: as for :func:`grokcheck.transformer.training.train.train`.
    """
    dev = resolve_device(device)
    out = Path(out_dir) if out_dir is not None else None
    if resume:
        check_resumable(out)  # a finished run without its checkpoint is refused here
    if out is not None:
        write_run_config(out, "ungrok", cfg)
    pre = pretrain(
        cfg.pretrain,
        device=dev,
        cache_dir=cache_dir,
        run_checkpoint=out / "pretrain_checkpoint.pt" if out is not None else None,
        resume=resume,
        progress=progress,
        stop=stop,
    )
    if pre.result.stopped == INTERRUPTED:
        return UngrokResult(cfg.reduced_size, pre.result, None, None, pre.cached, pre.path, _str(out))

    sp, _ = cfg.train_split()
    ung = run_phase(
        ungrok_phase(cfg),
        PhaseData(sp.dataset, sp.train_idx, circuits=cfg.circuits),
        start=pre.state,
        device=dev,
        checkpoint=out / "checkpoint.pt" if out is not None else None,
        metrics=out / "metrics.jsonl" if out is not None else None,
        resume=resume,
        progress=progress,
        stop=stop,
    )
    below = next((r.step for r in ung.rows if r.test_acc is not None and r.test_acc < 0.5), None)
    result = UngrokResult(cfg.reduced_size, pre.result, ung, below, pre.cached, pre.path, _str(out))
    if out is not None:
        atomic_write_json(out / "summary.json", result)
        from grokcheck.transformer.analysis.plots import plot_ungrok

        ds = sp.dataset
        what = tasks.TASKS[cfg.task].formula
        where = "" if ds.p is None else f", p={ds.p}"
        title = (
            f"Ungrokking {what}{where}: pretrained on all {len(ds)} ({pre.result.steps} "
            f"steps),\nthen trained on D'={cfg.reduced_size}; test = the other {len(sp.test_idx)}"
        )
        plot_ungrok(row_dicts(ung.rows), out / "ungrok.png", title=title)
    raise_if_diverged(ung)
    return result


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
