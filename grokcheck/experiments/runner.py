"""Train a chunk of :class:`~grokcheck.experiments.spec.RunSpec` as batched ensembles.

:func:`run_chunk` is what every executor calls (here, or on a Dask worker). Specs that share
the ensemble-wide settings (task, modulus, step cap, eps, loss dtype, evaluation and
convergence windows) train together as one :class:`~grokcheck.transformer.training.ensemble.Ensemble`,
each member with its own seed, subset size, learning rate, weight decay and start: its seed's
pretrained network (``"ungrok"``, one cached network per seed), its own initialisation
(``"scratch"``) or its own initialisation with random train labels (``"random_labels"``).
Each member stops when the convergence rule fires for it or at ``max_steps``; Appendix B's
circuit measurements and Nanda et al.'s progress measures are taken on each final network
(addition only).

``progress`` (optional) gets every :class:`~grokcheck.transformer.training.loop.Event` of the chunk's
training: pretraining a start network (phase ``"pretrain"``) and each batched ensemble (phase
``"ensemble"``), after every step and evaluation.
"""

from __future__ import annotations

import itertools
import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from grokcheck.experiments.spec import RunRecord, RunSpec, curve_point
from grokcheck.transformer.training.batch import MemberResult, train_ensemble
from grokcheck.transformer.training.convergence import ConvergenceConfig
from grokcheck.transformer.training.ensemble_config import EnsembleConfig, Member
from grokcheck.transformer.training.loop import Event
from grokcheck.transformer.training.metrics import INTERRUPTED
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.training.pretrain import DEFAULT_CACHE, PretrainConfig, pretrain
from grokcheck.transformer.model.runtime import configure, resolve_device

#: experiments whose runs record Appendix B's o_t/o_m at every evaluation (addition only), so a
#: verdict can check that the circuits, not only the norm and the accuracies, stopped moving
CIRCUIT_CURVES = frozenset({"hysteresis"})


def batch_key(s: RunSpec) -> tuple:
    """Specs with equal keys train together as one ensemble (they share its settings)."""
    return (s.task, s.p, s.max_steps, s.eps, s.loss_dtype, s.eval_every, s.convergence_window)


def pretrain_config(s: RunSpec) -> PretrainConfig:
    """The pretrained network an ``"ungrok"`` spec starts from (Appendix A.2: same seed)."""
    optim = OptimConfig(eps=s.eps, loss_dtype=s.loss_dtype, lr=s.lr)
    return PretrainConfig(task=s.task, p=s.p, seed=s.seed, optim=optim, max_steps=s.pretrain_max_steps)


def run_chunk(
    specs: Sequence[RunSpec],
    *,
    device: str = "cpu",
    cache_dir: str | Path | None = DEFAULT_CACHE,
    stop: Callable[[], bool] | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: Callable[[Event], None] | None = None,
) -> list[RunRecord]:
    """Train every spec to convergence (or its cap) and return one record per spec, in order.

    ``checkpoint_dir``: where each batch checkpoints (by steps and time), so a chunk killed
    mid-way resumes there; the checkpoint is removed when the batch finishes.
    ``progress``: called after every training step and evaluation (see the module notes).
    """
    dev = resolve_device(device)
    configure(dev)
    out: dict[int, RunRecord] = {}
    order = sorted(range(len(specs)), key=lambda i: batch_key(specs[i]))
    for _key, group in itertools.groupby(order, key=lambda i: batch_key(specs[i])):
        idx = list(group)
        for i, rec in zip(
            idx,
            _run_batch([specs[i] for i in idx], dev, cache_dir, stop, checkpoint_dir, progress),
            strict=True,
        ):
            out[i] = rec
    return [out[i] for i in range(len(specs))]


def _run_batch(
    specs: list[RunSpec],
    dev: torch.device,
    cache_dir: str | Path | None,
    stop: Callable[[], bool] | None,
    checkpoint_dir: str | Path | None,
    progress: Callable[[Event], None] | None = None,
) -> list[RunRecord]:
    s0 = specs[0]
    cfg, init = _ensemble(
        specs,
        dev,
        cache_dir,
        progress,
        ConvergenceConfig(window=s0.convergence_window),
        stop=stop,
        checkpoint_dir=checkpoint_dir,
    )
    if init is None:  # stopped while pretraining: nothing of this batch is finished
        return [_interrupted(s) for s in specs]
    hook = None
    if s0.task == "add" and s0.experiment in CIRCUIT_CURVES:
        from grokcheck.transformer.training.single import circuit_hook

        hook = circuit_hook(s0.p)
    ckpt = None
    if checkpoint_dir is not None:
        from grokcheck.configs import config_key

        ckpt = Path(checkpoint_dir) / f"batch-{config_key({'specs': [s.key() for s in specs]})}.pt"
    result = train_ensemble(
        cfg, device=dev, init=init, stop=stop, checkpoint=ckpt, progress=progress, circuits=hook
    )
    done = [i for i, m in enumerate(result.members) if m.stopped != INTERRUPTED]  # Ctrl-C: measure no more
    members = [result.members[i] for i in done]
    trained = _trained_on([specs[i] for i in done])  # each split built once for every measurement
    measured = _measures(trained, members, dev) if s0.task == "add" else [(None, None)] * len(done)
    kappas = _kappas(trained, members, dev) if hook is not None else [None] * len(done)
    per_run = dict(zip(done, zip(measured, kappas, strict=True), strict=True))
    if ckpt is not None and len(done) == len(specs):
        ckpt.unlink(missing_ok=True)
    return [
        _record(s, m, *per_run[i][0], per_run[i][1], result.wall_s / len(specs))
        if i in per_run
        else _interrupted(s)
        for i, (s, m) in enumerate(zip(specs, result.members, strict=True))
    ]


def _ensemble(
    specs: Sequence[RunSpec],
    dev: torch.device,
    cache_dir: str | Path | None,
    progress: Callable[[Event], None] | None,
    convergence: ConvergenceConfig | None,
    *,
    stop: Callable[[], bool] | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[EnsembleConfig, list | None]:
    """The ensemble config of a batch of specs, and each member's start (pretrained or ``None``).

    The starts are ``None`` as a whole when ``stop`` fired during a pretraining. Pretraining
    checkpoints under ``checkpoint_dir`` (by steps and by time), so a killed experiment
    continues its pretraining where it was; the checkpoint goes once the network is cached.
    """
    s0 = specs[0]
    members = tuple(
        Member(
            seed=s.seed,
            train_size=s.train_size,
            lr=s.lr,
            weight_decay=s.weight_decay,
            random_labels=s.kind == "random_labels",
        )
        for s in specs
    )
    cfg = EnsembleConfig(
        members=members,
        task=s0.task,
        p=s0.p,
        steps=s0.max_steps,
        eval_every=s0.eval_every,
        eps=s0.eps,
        loss_dtype=s0.loss_dtype,
        convergence=convergence,
    )
    nets: dict[str, dict[str, torch.Tensor]] = {}  # one pretrained network per seed, read once
    for s in specs:
        if s.kind == "ungrok" and (key := pretrain_config(s).key()) not in nets:
            folder = Path(checkpoint_dir) / f"pretrain-{key}" if checkpoint_dir is not None else None
            got = pretrain(
                pretrain_config(s),
                device=dev,
                cache_dir=cache_dir,
                run_checkpoint=folder / "checkpoint.pt" if folder is not None else None,
                resume=True,
                progress=progress,
                stop=stop,
            )
            if got.result.stopped == INTERRUPTED:
                return cfg, None
            if folder is not None and cache_dir is not None:  # cached now: the checkpoint is spent
                shutil.rmtree(folder, ignore_errors=True)
            nets[key] = got.state
    return cfg, [nets[pretrain_config(s).key()] if s.kind == "ungrok" else None for s in specs]


def _interrupted(s: RunSpec) -> RunRecord:
    """The placeholder of a run that ``stop`` cut short (an executor writes no result for it)."""
    nan = float("nan")
    return RunRecord(s, 0, False, INTERRUPTED, nan, nan, nan, nan, nan)


def train_curves(
    specs: Sequence[RunSpec],
    *,
    device: str = "cpu",
    cache_dir: str | Path | None = DEFAULT_CACHE,
    progress: Callable[[Event], None] | None = None,
) -> list[tuple]:
    """Train specs of one batch key for exactly ``max_steps`` (no stop rule); each one's rows."""
    dev = resolve_device(device)
    configure(dev)
    if len({batch_key(s) for s in specs}) != 1:
        raise ValueError("train_curves needs specs of one batch key")
    cfg, init = _ensemble(specs, dev, cache_dir, progress, None)
    return [m.rows for m in train_ensemble(cfg, device=dev, init=init, progress=progress).members]


def _trained_on(specs: Sequence[RunSpec]) -> list[tuple]:
    """Each spec's train split and the labels it was trained on (random ones for C_mem-only)."""
    from grokcheck.transformer.model import tasks

    if not specs:
        return []
    ds = tasks.make_dataset(specs[0].task, specs[0].p)
    out = []
    for s in specs:
        sp = tasks.split(ds, train_size=s.train_size, seed=s.seed)
        labels = sp.train_labels
        if s.kind == "random_labels":
            labels = tasks.random_labels(len(sp.train_idx), ds.n_classes, s.seed)
        out.append((sp, labels))
    return out


def _kappas(trained: list[tuple], results: Sequence[MemberResult], dev: torch.device) -> list[float | None]:
    """Each final network's kappa on the train set and the labels it was trained on."""
    from grokcheck.errors import RunError
    from grokcheck.transformer.analysis.kappa import kappa_of_state

    out: list[float | None] = []
    for (sp, labels), m in zip(trained, results, strict=True):
        try:
            fit = kappa_of_state(m.state, sp.dataset.tokens[sp.train_idx], labels, device=dev)
        except RunError:  # a margin that is not positive at some scale: kappa is undefined
            out.append(None)
            continue
        out.append(fit.kappa if math.isfinite(fit.kappa) else None)
    return out


def _before(rows: Sequence, step: int):
    """The last row at or before ``step`` (the first row if none)."""
    return next((r for r in reversed(rows) if r.step <= step), rows[0])


def _measures(trained: list[tuple], results: Sequence[MemberResult], dev: torch.device) -> list[tuple]:
    """Each final network's two circuit measures from one pass over the p x p grid: Appendix B's
    logit split and Nanda et al.'s progress measures (a second, independent measure)."""
    from grokcheck.transformer.analysis import circuits, progress_measures

    out = []
    for (sp, labels), m in zip(trained, results, strict=True):
        logits, norm = circuits.all_logits(m.state, sp.dataset.tokens, device=dev)
        mask = circuits.split_mask(sp).to(logits.device)
        c = circuits.measure_logits(
            logits, sp.dataset.p, train_mask=mask, train_labels=labels, param_norm=norm
        )
        pm = progress_measures.measure_logits(
            logits,
            sp.dataset.p,
            train_mask=mask,
            train_labels=labels,
            embedding=m.state["W_E"].to(logits.device),
        )
        out.append((c, pm))
    return out


def _record(s: RunSpec, m: MemberResult, c, pm, kappa: float | None, wall_s: float) -> RunRecord:
    f = m.final
    prev = _before(m.rows, f.step - s.convergence_window)
    return RunRecord(
        spec=s,
        steps=m.steps,
        converged=m.stopped == "converged",
        stopped=m.stopped,
        train_acc=f.train_acc,
        test_acc=f.test_acc,
        train_loss=f.train_loss,
        test_loss=f.test_loss,
        param_norm=f.param_norm,
        correct_logit=None if c is None else c.correct_logit_train,
        o_t=None if c is None else c.o_t_train,
        o_m=None if c is None else c.o_m_train,
        o_t_test=None if c is None else c.o_t_test,
        o_m_test=None if c is None else c.o_m_test,
        trig_fraction=None if c is None else c.trig_fraction,
        gen_only=None if c is None else c.gen_only,
        restricted_loss=None if pm is None else pm.restricted_loss_train,
        restricted_loss_test=None if pm is None else pm.restricted_loss_test,
        excluded_loss=None if pm is None else pm.excluded_loss_train,
        excluded_loss_test=None if pm is None else pm.excluded_loss_test,
        key_frequencies=None if pm is None else tuple(pm.key_frequencies),
        o_t_prev=prev.o_t,
        o_m_prev=prev.o_m,
        kappa=kappa,
        wall_s=round(wall_s, 3),
        curve=tuple(curve_point(r) for r in m.rows),
    )
