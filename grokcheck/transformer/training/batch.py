"""Training a batched ensemble through the one loop: per-member stop rules, checkpoints, resume.

:func:`train_ensemble` runs :class:`~grokcheck.transformer.training.ensemble.Ensemble` under
:func:`grokcheck.transformer.training.loop.run_loop`, with each member's own track and rule (fixed steps,
or the convergence rule), so a converged member leaves the batch while the others go on. With
``checkpoint`` it saves every member's parameters, AdamW state and track atomically; a run
killed at any point resumes from the last checkpoint to the same result for every member.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grokcheck.errors import RunError
from grokcheck.records import to_jsonable
from grokcheck.transformer.training.checkpoint import load_checkpoint, save_checkpoint
from grokcheck.transformer.training.convergence import converged_rule
from grokcheck.transformer.training.ensemble import Ensemble, Init
from grokcheck.transformer.training.ensemble_config import EnsembleConfig, Member
from grokcheck.transformer.training.loop import Event, Schedule, run_loop
from grokcheck.transformer.training.metrics import MAX_STEPS, RULE_REASONS, STEPS, Row, Track

KIND = "ensemble"


@dataclass(frozen=True)
class MemberResult:
    """One member's run: evaluation rows, milestones, and why it stopped (one of
    :data:`~grokcheck.transformer.training.metrics.STOP_REASONS`, as for a single run's
    :class:`~grokcheck.transformer.training.phase.PhaseResult`)."""

    member: Member
    train_size: int
    test_size: int
    rows: tuple[Row, ...]
    step_train_100: int | None
    step_test_95: int | None
    step_test_99: int | None
    stopped: str
    steps: int
    state: dict[str, torch.Tensor] = field(repr=False, compare=False, metadata={"json": False})

    @property
    def final(self) -> Row:
        return self.rows[-1]

    @property
    def converged(self) -> bool:
        """Its stop rule fired before the step cap (as :attr:`PhaseResult.converged`)."""
        return self.stopped in RULE_REASONS


@dataclass(frozen=True)
class EnsembleResult:
    members: tuple[MemberResult, ...]
    steps: int
    wall_s: float
    ms_per_step: float  # wall time per loop step (all members in the batch together), evaluations included
    device: str


def train_ensemble(
    cfg: EnsembleConfig,
    *,
    device: torch.device | str = "cpu",
    init: Init = None,
    progress: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
    checkpoint: str | Path | None = None,
    circuits: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, Any]] | None = None,
    ensemble: Ensemble | None = None,
) -> EnsembleResult:
    """Train every member until its rule stops it or ``cfg.steps``; evaluate at step 0, every
    ``eval_every`` steps and at each member's last step.

    Args:
        cfg: members and shared settings.
        device: where the stacked models live.
        init: where members start (see :class:`~grokcheck.transformer.training.ensemble.Ensemble`).
        progress: called after every step and evaluation.
        stop: polled between steps; the run checkpoints and returns with open members.
        checkpoint: a file to save to (by steps and by time) and to resume from if it exists.
        circuits: per-member circuit recorder for evaluation rows.
        ensemble: an already built ensemble to train (``init`` and ``circuits`` unused).
    """
    ens = ensemble if ensemble is not None else Ensemble(cfg, device=device, init=init, circuits=circuits)
    K = len(cfg.members)
    tracks, step = [Track() for _ in range(K)], ens.steps_done
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        ckpt = load_checkpoint(path, kind=KIND)
        if ckpt["config"] != to_jsonable(cfg):
            raise RunError(f"checkpoint {path} belongs to another ensemble config")
        ens.load_state_dict(ckpt["ensemble"])
        tracks, step = [Track.from_dict(t) for t in ckpt["tracks"]], ckpt["step"]

    def save(at: int) -> None:
        payload = {"config": to_jsonable(cfg), "model": {}, "step": at, "ensemble": ens.state_dict()}
        save_checkpoint(path, {**payload, "tracks": [t.to_dict() for t in tracks]}, kind=KIND)

    rule = converged_rule(cfg.convergence) if cfg.convergence is not None else None
    start, t0 = step, time.perf_counter()
    step = run_loop(
        ens,
        tracks,
        start_step=step,
        schedule=Schedule(
            budget=cfg.steps,
            eval_every=cfg.eval_every,
            checkpoint_every=cfg.checkpoint_every,
            checkpoint_every_s=cfg.checkpoint_every_s,
            budget_reason=STEPS if cfg.convergence is None else MAX_STEPS,
        ),
        rules=[rule] * K,
        save=save if path is not None else None,
        progress=progress,
        stop=stop,
        phase="ensemble",
    )
    wall = time.perf_counter() - t0
    members = tuple(
        MemberResult(
            member=m,
            train_size=ens.sizes[k],
            test_size=len(ens.dataset) - ens.sizes[k],
            rows=tuple(tracks[k].rows),
            step_train_100=tracks[k].step_train_100,
            step_test_95=tracks[k].step_test_95,
            step_test_99=tracks[k].step_test_99,
            stopped=tracks[k].outcome,
            steps=tracks[k].stop_step if tracks[k].stop_step is not None else step,
            state=ens.member_state(k),
        )
        for k, m in enumerate(cfg.members)
    )
    return EnsembleResult(
        members=members,
        steps=step,
        wall_s=round(wall, 3),
        ms_per_step=round(1e3 * wall / max(1, step - start), 3),
        device=str(ens.device),
    )
