"""One experiment end to end: grid -> store -> executor -> predictions -> figures.

:func:`run_experiment` is what ``grokcheck experiment NAME`` and ``grokcheck verify --full``
call. Rerunning it on the same folder resumes: finished runs (result files) are skipped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokcheck.errors import FolderError, InputError
from grokcheck.experiments import bisect, grid
from grokcheck.experiments.executors import CHECKPOINTS, EXECUTORS, Progress, Runner, default_runner, execute
from grokcheck.experiments.predictions import all_verdicts
from grokcheck.experiments.spec import RunRecord, RunSpec
from grokcheck.experiments.store import RESULTS, ExperimentStore
from grokcheck.runs import DEFAULT_ROOT, preflight_writable
from grokcheck.transformer.model.choices import DEVICES
from grokcheck.verdicts import Check


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment at one scale, with grid overrides, and where and how it runs.

    Attributes:
        name: one of :data:`grokcheck.experiments.grid.EXPERIMENTS`.
        scale: ``"quick"`` or ``"paper"`` (:data:`grid.QUICK`, :data:`grid.PAPER`).
        grid: overrides of the scale's grid (``None`` fields keep it).
        executor: ``"local"`` (chunks one after another here) or ``"dask"``.
        scheduler: Dask scheduler address; ``None`` starts a LocalCluster on 127.0.0.1.
        device: where the local executor (and every Dask worker) trains: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        out: the experiment folder (``None``: ``runs/experiment-<name>-<scale>``).
        max_chunk: most runs per batched chunk.
        cache_dir: where the runner caches pretrained networks (``None``: the runner's default).
        figures: draw the PNGs.
    """

    name: str
    scale: str = "quick"
    grid: grid.GridOverrides = grid.GridOverrides()
    executor: str = "local"
    scheduler: str | None = None
    device: str = "cpu"
    out: Path | None = None
    max_chunk: int = 32
    cache_dir: Path | None = None
    figures: bool = True

    def folder(self) -> Path:
        return (
            Path(self.out) if self.out is not None else DEFAULT_ROOT / f"experiment-{self.name}-{self.scale}"
        )


#: the fields of each run in :meth:`ExperimentResult.to_json` (a subset of ``RunRecord.row()``)
RUN_FIELDS = (
    "key", "experiment", "kind", "task", "p", "train_size", "weight_decay", "seed", "steps",
    "converged", "stopped", "train_acc", "test_acc", "train_loss", "test_loss", "param_norm",
    "correct_logit", "o_t", "o_m", "trig_fraction", "gen_only",
)  # fmt: skip


@dataclass(frozen=True)
class ExperimentResult:
    """What :func:`run_experiment` leaves: the runs with a result, the verdicts, the figures.

    ``interrupted``: ``stop()`` fired before every run had a result (a rerun resumes).
    """

    config: ExperimentConfig
    out: Path
    records: tuple[RunRecord, ...]
    verdicts: tuple[Check, ...]
    n_total: int
    n_skipped: int  # finished before this call
    figures: tuple[Path, ...]
    complete: bool  # every run of the grid has a result
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The result as ``grokcheck experiment --json`` prints it: counts, each run's
        :data:`RUN_FIELDS`, the verdicts and the figures."""
        return {
            "experiment": self.config.name,
            "scale": self.config.scale,
            "out": self.out,
            "complete": self.complete,
            "interrupted": self.interrupted,
            "n_runs": self.n_total,
            "n_skipped": self.n_skipped,
            "runs": [{k: r.row()[k] for k in RUN_FIELDS} for r in self.records],
            "verdicts": [dataclasses.asdict(v) for v in self.verdicts],
            "figures": list(self.figures),
        }


@dataclass(frozen=True)
class ExperimentStats:
    """How one :func:`run_experiment` call went: its wall time and runs finished/converged.

    ``n_skipped`` runs had a result before the call (``wall_s`` did not train them).
    """

    name: str
    wall_s: float
    n_runs: int
    n_finished: int
    n_converged: int
    n_skipped: int
    complete: bool

    @classmethod
    def of(cls, result: ExperimentResult, wall_s: float) -> ExperimentStats:
        return cls(
            name=result.config.name,
            wall_s=round(wall_s, 3),
            n_runs=result.n_total,
            n_finished=len(result.records),
            n_converged=sum(r.converged for r in result.records),
            n_skipped=result.n_skipped,
            complete=result.complete,
        )


def plan(cfg: ExperimentConfig) -> tuple[RunSpec, ...]:
    """Check ``cfg`` and return its runs (raises :class:`InputError` before anything is written)."""
    if cfg.executor not in EXECUTORS:
        raise InputError(
            "executor", f"unknown executor {cfg.executor!r}; choose one of {', '.join(EXECUTORS)}"
        )
    if cfg.scheduler is not None and cfg.executor != "dask":
        raise InputError("scheduler", "only applies to the dask executor")
    if cfg.max_chunk < 1:
        raise InputError("max_chunk", f"must be a positive integer, got {cfg.max_chunk}")
    if cfg.device not in DEVICES:
        raise InputError("device", f"must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}, got {cfg.device!r}")
    if cfg.executor == "local":  # here, the device must exist (Dask workers check their own)
        from grokcheck.transformer.model.runtime import resolve_device

        resolve_device(cfg.device)
    specs = grid.experiment_specs(cfg.name, cfg.scale, cfg.grid)
    out = cfg.folder()
    preflight_writable(out, "--out")  # a name too long, a file in the way or above it
    _check_folder(out, cfg.name)
    if cfg.cache_dir is not None:
        preflight_writable(cfg.cache_dir, "--cache-dir")
    return specs


def _check_folder(out: Path, name: str) -> None:
    """An existing, non-empty folder must be this experiment's own (never overwrite a user's)."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        saved = ExperimentStore(out).read_config()
    except Exception:  # noqa: BLE001  (unreadable: treat as not ours)
        saved = None
    config = saved.get("config") if isinstance(saved, dict) else None
    found = config.get("name") if isinstance(config, dict) else None
    if found != name:
        what = f"an experiment {found!r} folder" if isinstance(found, str) else "not an experiment folder"
        raise FolderError(
            f"--out {out} is not empty and is {what}; give an empty or new folder, or this experiment's own"
        )
    for sub in (RESULTS, CHECKPOINTS):  # what the experiment writes into must be folders
        if (out / sub).exists() and not (out / sub).is_dir():
            raise FolderError(f"--out {out}: {out / sub} is a file where this experiment keeps a folder")


def tasks_of(specs: tuple[RunSpec, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.task for s in specs if s.kind == "ungrok")) or ("add",)


def run_experiment(
    cfg: ExperimentConfig,
    *,
    runner: Runner | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Run every unfinished run of ``cfg``'s grid, then write the table, verdicts and figures.

    ``progress`` gets the executor's events (:class:`~grokcheck.experiments.executors.ProgressEvent`),
    with ``skipped`` set to the runs finished before this call. When ``stop()`` fires, the
    chunks in flight save what finished and the result says ``interrupted``. ``warn`` gets one line per
    result file in the folder that fails its checks (never counted; its run is trained again).
    """
    specs = plan(cfg)
    store = ExperimentStore(cfg.folder())
    if warn is not None:
        for line in store.scan()[1]:
            warn(line)
    todo = store.pending(specs)
    store.write_config({"config": cfg, "n_runs": len(specs), "written": _dt.datetime.now().isoformat()})
    if progress is not None and len(todo) < len(specs):
        progress = _with_skipped(progress, len(specs) - len(todo))
    if todo:
        _execute(cfg, grid.chunks(todo, cfg.max_chunk), store, runner, progress, stop)
    factor = grid.bisect_factor(cfg.name, cfg.scale, cfg.grid)
    extra, extra_skipped = _bisect(cfg, factor, specs, store, runner, progress, stop) if factor else ((), 0)
    # skipped: finished before this call (the bisection's earlier rounds count as finished too)
    result = finish(cfg, specs + extra, store, n_skipped=len(specs) - len(todo) + extra_skipped)
    stopped = stop is not None and stop() and not result.complete
    return dataclasses.replace(result, interrupted=stopped) if stopped else result


def _execute(cfg, chunks, store, runner, progress, stop) -> None:
    execute(
        cfg.executor,
        chunks,
        store,
        runner=runner or default_runner,
        scheduler=cfg.scheduler,
        device=cfg.device,
        cache_dir=cfg.cache_dir,
        progress=progress,
        stop=stop,
    )


def _bisect(cfg, factor, specs, store, runner, progress, stop) -> tuple[tuple[RunSpec, ...], int]:
    """Bisect each seed's D_crit after the grid (:mod:`grokcheck.experiments.bisect`).

    Returns the bisection's runs (finished earlier or now) and how many had finished before.
    Every round's runs are one batch, proposed from the results in the folder, so an
    interrupted bisection resumes where it was.
    """
    extra: list[RunSpec] = []
    skipped = 0
    for _ in range(bisect.MAX_ROUNDS):
        if stop is not None and stop():
            break
        new = bisect.next_specs(list(specs) + extra, store.records(list(specs) + extra), factor)
        if not new:
            break
        extra += new
        todo = store.pending(new)
        skipped += len(new) - len(todo)
        if todo:
            _execute(cfg, grid.chunks(todo, cfg.max_chunk), store, runner, progress, stop)
        if store.pending(new):  # interrupted, or a run failed: do not propose from a partial round
            break
    return tuple(extra), skipped


def _with_skipped(progress: Progress, skipped: int) -> Progress:
    return lambda ev: progress(dataclasses.replace(ev, skipped=skipped))


def finish(
    cfg: ExperimentConfig, specs: tuple[RunSpec, ...], store: ExperimentStore, *, n_skipped: int = 0
) -> ExperimentResult:
    """Table, verdicts, summary and figures from the folder's results for ``specs``."""
    records = tuple(store.records(specs))
    store.write_table(records)
    verdicts = tuple(all_verdicts(records, tasks=tasks_of(specs)))
    complete = len(records) == len(specs)
    figs: tuple[Path, ...] = ()
    if cfg.figures and records:
        from grokcheck.experiments.figures import experiment_figures

        figs = tuple(experiment_figures(cfg.name, records, store.root))
    store.write_summary(_summary(cfg, records, verdicts, len(specs), complete))
    return ExperimentResult(cfg, store.root, records, verdicts, len(specs), n_skipped, figs, complete)


def _summary(
    cfg: ExperimentConfig,
    records: tuple[RunRecord, ...],
    verdicts: tuple[Check, ...],
    n_total: int,
    complete: bool,
) -> dict[str, Any]:
    return {
        "experiment": cfg.name,
        "scale": cfg.scale,
        "n_runs": n_total,
        "n_finished": len(records),
        "n_converged": sum(r.converged for r in records),
        "complete": complete,
        "verdicts": list(verdicts),
    }
