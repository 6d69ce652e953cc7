"""One training phase (Appendix A): a network trained by full-batch AdamW on one train set,
through the one loop, until its stop rule fires or its step budget is spent.

Grokking (:mod:`~grokcheck.transformer.training.train`, Figure 1a), pretraining on the full
dataset (:mod:`~grokcheck.transformer.training.pretrain`, Appendix A.2) and ungrokking's second
phase (:mod:`~grokcheck.transformer.training.ungrok`, Section 5.2) are each one
:func:`run_phase`: a :class:`Phase` (its name, config, optimiser, schedule and stop rule), the
data it trains on (:class:`PhaseData`), where it starts (a seed's initialisation or given
parameters), and where it keeps its checkpoint and metrics. A phase resumes bit-exactly from
its checkpoint, keeps its last good checkpoint when it diverges, and returns a
:class:`PhaseResult`, the summary a run reports for each of its phases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grokcheck.errors import RunError
from grokcheck.transformer.model import tasks
from grokcheck.transformer.model.model import ModelConfig, Transformer, make_model, param_norm
from grokcheck.transformer.model.runtime import PARAM_DTYPES, configure, resolve_device
from grokcheck.transformer.training.checkpoint import (
    load_checkpoint,
    restore_single,
    save_checkpoint,
    single_payload,
)
from grokcheck.transformer.training.convergence import StopRule
from grokcheck.transformer.training.loop import Event, Schedule, run_loop
from grokcheck.transformer.training.metrics import (
    DIVERGED,
    FINAL_FIELDS,
    RULE_REASONS,
    FinalMetrics,
    Row,
    Track,
)
from grokcheck.transformer.training.optim import OptimConfig, make_optimizer
from grokcheck.transformer.training.run_folder import (
    check_same_config,
    divergence_message,
    reopen,
    write_metrics,
)
from grokcheck.transformer.training.single import single_stepper

RANDOM_LABELS_NOTE = (
    "random labels: the network was trained on uniformly random train labels, so its test "
    "accuracy measures nothing it was taught (chance is 1/n_classes)"
)
#: where a phase starts: the initialisation drawn from a seed, or given parameters (a state dict)
Start = int | Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Phase:
    """What one phase trains with and when it stops.

    Attributes:
        name: ``"train"``, ``"pretrain"`` or ``"ungrok"``: its checkpoints' kind and the phase
            its progress events name.
        config: the run's frozen config: saved in every checkpoint and, on resume, compared
            with the saved one (:func:`~grokcheck.transformer.training.run_folder.check_same_config`).
        optim: AdamW's settings, the engine and the dtypes.
        schedule: evaluations, the step budget and why reaching it stops the phase, checkpoints.
        rule: the stop rule checked at every evaluation (``None``: the budget alone).
        check_resume: on resume, compare the config and let a grown budget continue a phase
            that had reached its old one (:func:`~grokcheck.transformer.training.run_folder.reopen`);
            pretraining's checkpoints are found by its config's key and resumed as they are.
    """

    name: str
    config: Any
    optim: OptimConfig
    schedule: Schedule
    rule: StopRule | None = None
    check_resume: bool = True


@dataclass(frozen=True)
class PhaseData:
    """What a phase trains on: ``dataset``'s rows ``train_idx`` (``(n,)`` int64), scored
    against ``train_labels`` (``(n,)``; ``None``: the true labels); the rest of the dataset is
    the test set. ``random_labels`` says the labels are Section 5.1's uniformly random ones;
    ``circuits`` records Appendix B's circuit measurements at every evaluation."""

    dataset: tasks.Dataset
    train_idx: torch.Tensor
    train_labels: torch.Tensor | None = None
    random_labels: bool = False
    circuits: bool = False


@dataclass(frozen=True)
class PhaseResult:
    """What a phase reached. ``step_*`` are ``None`` when the milestone was never reached.

    ``step_train_100`` is exact (checked every step); the test milestones are the first
    evaluation step at which test accuracy reached 0.95 / 0.99. ``train_acc_drops`` counts
    steps after ``step_train_100`` where train accuracy fell below 100%. ``step_collapse_f32``
    is the first evaluation step at which a float32 loss was exactly 0 on some train example
    (softmax collapse, :mod:`grokcheck.transformer.analysis.loss_precision`). ``stopped`` is one
    of :data:`~grokcheck.transformer.training.metrics.STOP_REASONS`.

    ``rows`` (every evaluation), ``state`` (the final parameters, on CPU) and ``divergence``
    (the message :func:`raise_if_diverged` raises) are for the caller; they are not written
    to ``summary.json``.
    """

    task: str
    p: int | None
    train_size: int
    test_size: int
    steps: int
    final: FinalMetrics
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
    rows: tuple[Row, ...] = field(default=(), repr=False, compare=False, metadata={"json": False})
    state: dict[str, torch.Tensor] = field(
        default_factory=dict, repr=False, compare=False, metadata={"json": False}
    )
    divergence: str | None = field(default=None, repr=False, compare=False, metadata={"json": False})


def run_phase(
    phase: Phase,
    data: PhaseData,
    *,
    start: Start,
    device: str | torch.device = "auto",
    checkpoint: Path | None = None,
    metrics: Path | None = None,
    resume: bool = False,
    cache: Path | None = None,
    on_start: Callable[[], None] | None = None,
    progress: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> PhaseResult:
    """Train one phase to its stop rule or budget and return what it reached.

    Args:
        phase: what it trains with and when it stops.
        data: the train set (and so the test set).
        start: a seed (:func:`~grokcheck.transformer.model.model.make_model`'s initialisation)
            or the parameters to start from.
        device: ``auto``, ``cpu``, ``cuda`` or a torch device.
        checkpoint: saved by steps and by time (never mid-step) and when the phase returns;
            a diverged phase keeps its last good one. ``None``: no checkpoints.
        metrics: every evaluation row so far as JSON lines, written with each checkpoint.
        resume: continue from ``checkpoint`` when it is there (else start afresh).
        cache: where the finished phase's checkpoint is also written (pretraining's cache);
            not when it was interrupted or diverged.
        on_start: called once the start is set (and a resume checked), before the first step:
            where a run writes its ``config.json``, so a refused resume leaves it as it was.
        progress: called after every step and evaluation.
        stop: polled between steps; when it returns true the phase checkpoints and returns,
            stopped as :data:`~grokcheck.transformer.training.metrics.INTERRUPTED`.

    Raises:
        InputError: CUDA requested but unavailable, or a config that differs on resume.
        RunError: a corrupt checkpoint on resume. A diverged phase returns (so the caller can
            write its records) with :attr:`PhaseResult.divergence` set: see :func:`raise_if_diverged`.
    """
    dev = resolve_device(device)
    configure(dev)
    model = start_model(data.dataset, phase.optim, start, dev)
    init_norm = param_norm(model) if isinstance(start, int) else None
    optimizer = make_optimizer(model, phase.optim)
    tracks, step = [Track()], 0
    if resume and checkpoint is not None and checkpoint.is_file():
        ckpt = load_checkpoint(checkpoint, kind=phase.name)
        if phase.check_resume:
            check_same_config(phase.config, ckpt["config"], checkpoint)
        tracks, step = restore_single(ckpt, model, optimizer), ckpt["step"]
        if phase.check_resume:
            reopen(tracks[0], step, phase.schedule.budget)
    if on_start is not None:
        on_start()

    def payload(at: int) -> dict[str, Any]:
        return {**single_payload(phase.config, model, optimizer, tracks, at), "device": str(dev)}

    def save(at: int) -> None:
        if checkpoint is not None and tracks[0].stopped != DIVERGED:  # keep the last good one
            save_checkpoint(checkpoint, payload(at), kind=phase.name)
        if metrics is not None:
            write_metrics(metrics, tracks[0])

    stepper = single_stepper(
        model,
        optimizer,
        phase.optim,
        data.dataset,
        data.train_idx,
        train_labels=data.train_labels,
        circuits=data.circuits,
    )
    step = run_loop(
        stepper,
        tracks,
        start_step=step,
        schedule=phase.schedule,
        rules=[phase.rule],
        save=save if checkpoint is not None or metrics is not None else None,
        progress=progress,
        stop=stop,
        phase=phase.name,
    )
    track = tracks[0]
    if cache is not None and track.stopped not in (None, DIVERGED):
        save_checkpoint(cache, payload(step), kind=phase.name)
    diverged = track.stopped == DIVERGED
    return phase_result(
        phase,
        data,
        track,
        step,
        str(dev),
        init_norm=init_norm,
        state=model_state(model),
        divergence=divergence_message(phase.optim, track.stop_step, checkpoint) if diverged else None,
    )


def raise_if_diverged(result: PhaseResult) -> None:
    """Raise the phase's one-line :class:`RunError` if it diverged (non-finite loss or
    parameters); a caller writes its records first, so a diverged run's summary says why."""
    if result.stopped == DIVERGED:
        raise RunError(result.divergence or "training diverged (non-finite loss or parameters)")


def start_model(ds: tasks.Dataset, optim: OptimConfig, start: Start, device: torch.device) -> Transformer:
    """Appendix A's transformer for ``ds`` on ``device`` in ``optim``'s parameter dtype, at
    ``start``: a seed's initialisation, or the given parameters loaded into it."""
    mcfg = ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes)
    dtype = PARAM_DTYPES[optim.param_dtype]
    if isinstance(start, int):
        return make_model(mcfg, seed=start, dtype=dtype, device=device)
    model = make_model(mcfg, dtype=dtype, device=device)
    model.load_state_dict(start)
    return model


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s parameters on CPU (a phase's :attr:`PhaseResult.state`)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def final_metrics(track: Track) -> FinalMetrics:
    """The summary's ``final``: the :data:`FINAL_FIELDS` of the track's last row."""
    return FinalMetrics(**{name: getattr(track.last, name) for name in FINAL_FIELDS})


def phase_result(
    phase: Phase,
    data: PhaseData,
    track: Track,
    step: int,
    device: str,
    *,
    init_norm: float | None,
    state: dict[str, torch.Tensor],
    divergence: str | None = None,
) -> PhaseResult:
    """A phase's summary from its track (:attr:`Track.outcome`: interrupted while it is open)."""
    ds, train_size = data.dataset, len(data.train_idx)
    stopped = track.outcome
    return PhaseResult(
        task=ds.task,
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
        loss_dtype=phase.optim.loss_dtype,
        eps=phase.optim.eps,
        threads=torch.get_num_threads(),
        budget=phase.schedule.budget,
        converged=stopped in RULE_REASONS,
        initial_param_norm=init_norm,
        random_labels=data.random_labels,
        note=RANDOM_LABELS_NOTE if data.random_labels else None,
        step_collapse_f32=track.step_collapse_f32,
        rows=tuple(track.rows),
        state=state,
        divergence=divergence,
    )
