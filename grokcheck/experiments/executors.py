"""Run chunks of specs here (``local``) or on any Dask cluster (``dask``), writing result files.

Every chunk goes through :func:`run_chunk_task`, wherever it runs: it trains only the chunk's
specs that have no result file yet, writes one result file per finished run (atomically) and
returns the chunk's records. So a chunk retried after its worker died redoes only its unfinished
runs, and a result, once written, survives anything.

The runner is any callable
``runner(specs, *, device, cache_dir, stop, checkpoint_dir) -> list[RunRecord]`` (one record
per spec, in order; ``cache_dir`` is passed only when set); the default is
:func:`grokcheck.experiments.runner.run_chunk`, imported when first called. A runner with a
parameter named ``progress`` also gets, from the local executor, a callback for the
:class:`grokcheck.transformer.training.loop.Event` of every training step and evaluation, which becomes
a step-level :class:`ProgressEvent`. With Dask the runner is pickled by reference, so workers
must be able to import it.

Dask (the ``dask`` extra) is imported only by :func:`run_dask`. ``scheduler`` is a scheduler
address (``tcp://host:8786``), a ``distributed.Client``, a cluster object (anything with
``scheduler_address``: a ``LocalCluster``, a dask-jobqueue ``SLURMCluster``...), or ``None`` for
a ``LocalCluster`` on 127.0.0.1 started for this sweep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError, RunError
from grokcheck.experiments.spec import RunRecord, RunSpec
from grokcheck.experiments.store import ExperimentStore
from grokcheck.transformer.training.metrics import INTERRUPTED  # a record's ``stopped`` when ``stop`` fired

EXECUTORS = ("local", "dask")
CHECKPOINTS = "checkpoints"
Runner = Callable[..., Sequence[RunRecord]]


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after each chunk: ``done`` of ``total`` runs of this sweep have a result.

    The local executor also sends one during a chunk after every training step and evaluation
    when its runner reports them (see the module notes): those have ``step`` set and no
    ``records``; an event with ``step is None`` is a finished chunk. The fields after ``where``
    are optional (``None``: not known to whoever sent the event).

    Attributes:
        chunk: which chunk (1-based, in the executor's order) is running or just finished.
        n_chunks: how many chunks this sweep has.
        chunk_size: runs in that chunk (members of its batched ensembles).
        phase: during a chunk, the training phase: ``"pretrain"`` (a start network being
            trained) or ``"ensemble"`` (the chunk's runs).
        step: during a chunk, the step the current phase reached; ``None``: the chunk finished.
        max_steps: the current phase's step cap.
        member_steps: member-steps the chunk's ensembles trained so far in this call (on the
            finished chunk's event: all of them), pretraining not counted.
        active: members of the current ensemble still training.
        skipped: runs of the sweep that had a result before it started (not in ``done``/``total``).
    """

    done: int
    total: int
    records: tuple[RunRecord, ...]
    where: str = "local"
    chunk: int | None = None
    n_chunks: int | None = None
    chunk_size: int | None = None
    phase: str | None = None
    step: int | None = None
    max_steps: int | None = None
    member_steps: int | None = None
    active: int | None = None
    skipped: int = 0

    @property
    def during_chunk(self) -> bool:
        """A step-level event (a chunk is training), not a finished chunk."""
        return self.step is not None


Progress = Callable[[ProgressEvent], None]


def default_runner(
    specs: Sequence[RunSpec],
    *,
    device: str = "cpu",
    cache_dir: Path | None = None,
    stop: Callable[[], bool] | None = None,
    checkpoint_dir: Path | None = None,
    progress: Callable[[Any], None] | None = None,
) -> list[RunRecord]:
    """The training core's batched runner (imported lazily: it pulls in torch)."""
    try:
        from grokcheck.experiments.runner import run_chunk
    except ModuleNotFoundError as e:
        if e.name != "grokcheck.experiments.runner":
            raise
        raise RunError("the training core's runner (grokcheck.experiments.runner) is not installed") from None
    kw: dict[str, Any] = {} if cache_dir is None else {"cache_dir": cache_dir}  # else the runner's default
    return run_chunk(specs, device=device, stop=stop, checkpoint_dir=checkpoint_dir, progress=progress, **kw)


def reports_steps(runner: Runner) -> bool:
    """Whether ``runner`` takes a ``progress`` callback (a parameter of that name)."""
    try:
        return "progress" in inspect.signature(runner).parameters
    except (TypeError, ValueError):
        return False


class _ChunkSteps:
    """The runner's per-step callback for one chunk: loop events -> step-level ProgressEvents."""

    def __init__(self, progress: Progress, base: ProgressEvent) -> None:
        self.progress, self.base, self.member_steps = progress, base, 0
        self.seen = False

    def __call__(self, ev: Any) -> None:  # a grokcheck.transformer.training.loop.Event
        self.seen = True
        if ev.row is None and ev.phase != "pretrain":  # a training step of ev.active members
            self.member_steps += ev.active
        self.progress(
            dataclasses.replace(
                self.base,
                phase=ev.phase,
                step=ev.step,
                max_steps=ev.budget,
                member_steps=self.member_steps,
                active=ev.active,
            )
        )


def run_chunk_task(
    specs: Sequence[RunSpec],
    root: str,
    runner: Runner,
    device: str = "cpu",
    cache_dir: str | None = None,
    stop: Callable[[], bool] | None = None,
    progress: Callable[[Any], None] | None = None,
) -> tuple[RunRecord, ...]:
    """Train the unfinished specs of one chunk, write their result files, return all its records.

    Runs where the chunk runs (here or on a Dask worker). A run the runner reports as
    ``"interrupted"`` (``stop`` fired) gets no result file, so a rerun trains it again, from the
    runner's checkpoint under ``<root>/checkpoints`` when it keeps one. ``progress`` goes to
    the runner (its per-step callback) when the runner takes one.
    """
    store = ExperimentStore(root)
    done = {s.key(): r for s in specs if (r := store.read(s)) is not None}
    todo = [s for s in specs if s.key() not in done]
    if todo:
        kw: dict[str, Any] = {"device": device, "checkpoint_dir": Path(root) / CHECKPOINTS}
        if cache_dir is not None:
            kw["cache_dir"] = Path(cache_dir)
        if stop is not None:
            kw["stop"] = stop
        if progress is not None and reports_steps(runner):
            kw["progress"] = progress
        new = list(runner(todo, **kw))
        if len(new) != len(todo) or any(r.spec != s for r, s in zip(new, todo, strict=False)):
            raise RunError(f"the runner returned {len(new)} records for {len(todo)} specs, or out of order")
        for rec in new:
            if rec.stopped == INTERRUPTED:
                continue
            store.write(rec)
            done[rec.spec.key()] = rec
    return tuple(done[s.key()] for s in specs if s.key() in done)


def run_local(
    chunks: Sequence[Sequence[RunSpec]],
    store: ExperimentStore,
    *,
    runner: Runner,
    device: str = "cpu",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[RunRecord]:
    """Run the chunks one after another in this process; returns the records written.

    ``progress`` gets an event per finished chunk and, when the runner reports steps, one after
    every training step and evaluation of the running chunk (see :class:`ProgressEvent`).
    """
    total = sum(len(c) for c in chunks)
    out: list[RunRecord] = []
    for i, chunk in enumerate(chunks, 1):
        if stop is not None and stop():
            break
        base = ProgressEvent(
            len(out), total, (), "local", chunk=i, n_chunks=len(chunks), chunk_size=len(chunk)
        )
        steps = None if progress is None else _ChunkSteps(progress, base)
        recs = run_chunk_task(chunk, str(store.root), runner, device, _str(cache_dir), stop, steps)
        out.extend(recs)
        if progress is not None:
            trained = steps.member_steps if steps is not None and steps.seen else None
            progress(dataclasses.replace(base, done=len(out), records=recs, member_steps=trained))
    return out


def chunk_key(chunk: Sequence[RunSpec], root: str | Path) -> str:
    """A Dask key naming the chunk by its specs' keys and its folder (never two chunks merged)."""
    h = hashlib.sha256(str(root).encode())
    for s in chunk:
        h.update(s.key().encode())
    return f"grokcheck-chunk-{h.hexdigest()[:20]}"


def run_dask(
    chunks: Sequence[Sequence[RunSpec]],
    store: ExperimentStore,
    *,
    runner: Runner,
    scheduler: Any = None,
    device: str = "cpu",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    n_workers: int | None = None,
    retries: int = 3,
) -> list[RunRecord]:
    """Submit every chunk to a Dask cluster and gather the records as they finish.

    Each chunk is one task with an explicit key (:func:`chunk_key`) and ``retries``; the
    scheduler also reschedules the tasks of a worker that dies. Records come back to this process
    and are written here too when the workers do not share the folder. Chunks that still fail
    raise :class:`RunError` after every other chunk has finished (their finished runs are kept).

    ``progress`` gets one event per finished chunk only: the training runs on the workers, and
    their step-level events are not sent back to this process.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RunError("the dask executor needs the dask extra: pip install 'grokcheck[dask]'") from None

    own: list[Any] = []
    if scheduler is None:
        cluster = LocalCluster(
            host="127.0.0.1",
            n_workers=n_workers or 2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        own.append(cluster)
        client = Client(cluster)
        own.insert(0, client)
    elif isinstance(scheduler, Client):
        client = scheduler
    else:
        address = getattr(scheduler, "scheduler_address", scheduler)
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError, ValueError) as e:
            raise RunError(f"cannot reach the Dask scheduler at {address}: {e}") from None
        own.append(client)
    total = sum(len(c) for c in chunks)
    out: list[RunRecord] = []
    failed: list[str] = []
    try:
        futures = {
            client.submit(
                run_chunk_task,
                tuple(c),
                str(store.root),
                runner,
                device,
                _str(cache_dir),
                key=chunk_key(c, store.root),
                retries=retries,
                pure=False,
            ): (i, c)
            for i, c in enumerate(chunks, 1)
        }
        for fut in as_completed(futures):
            try:
                recs = fut.result()
            except Exception as e:  # noqa: BLE001 - a failed chunk must not lose the others
                failed.append(f"{fut.key}: {type(e).__name__}: {e}")
                continue
            for rec in recs:
                if not store.has(rec.spec):
                    store.write(rec)
            out.extend(recs)
            if progress is not None:
                i, c = futures[fut]
                progress(
                    ProgressEvent(
                        len(out), total, tuple(recs), "dask", chunk=i, n_chunks=len(chunks), chunk_size=len(c)
                    )
                )
    finally:
        for thing in own:
            thing.close()
    if failed:
        raise RunError(f"{len(failed)} chunk(s) failed on Dask (finished runs are kept); first: {failed[0]}")
    return out


def execute(
    executor: str,
    chunks: Sequence[Sequence[RunSpec]],
    store: ExperimentStore,
    *,
    runner: Runner,
    scheduler: Any = None,
    device: str = "cpu",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[RunRecord]:
    """Dispatch to :func:`run_local` or :func:`run_dask`."""
    if executor == "local":
        return run_local(
            chunks, store, runner=runner, device=device, cache_dir=cache_dir, progress=progress, stop=stop
        )
    if executor == "dask":
        return run_dask(
            chunks,
            store,
            runner=runner,
            scheduler=scheduler,
            device=device,
            cache_dir=cache_dir,
            progress=progress,
        )
    raise InputError("executor", f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
