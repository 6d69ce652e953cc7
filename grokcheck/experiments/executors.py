"""Run chunks of specs here (``local``) or on any Dask cluster (``dask``), writing result files.

Every chunk goes through :func:`run_chunk_task`, wherever it runs: it trains only the chunk's
specs that have no result file yet, writes one result file per finished run (atomically) and
returns the chunk's records. So a chunk retried after its worker died redoes only its unfinished
runs, and a result, once written, survives anything.

The runner is any callable
``runner(specs, *, device, cache_dir, stop, checkpoint_dir) -> list[RunRecord]`` (one record
per spec, in order; ``cache_dir`` is passed only when set); the default is
:func:`grokcheck.experiments.runner.run_chunk`, imported when first called. With Dask the
runner is pickled by reference, so workers must be able to import it.

Dask (the ``dask`` extra) is imported only by :func:`run_dask`. ``scheduler`` is a scheduler
address (``tcp://host:8786``), a ``distributed.Client``, a cluster object (anything with
``scheduler_address``: a ``LocalCluster``, a dask-jobqueue ``SLURMCluster``...), or ``None`` for
a ``LocalCluster`` on 127.0.0.1 started for this sweep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError, RunError
from grokcheck.experiments.spec import RunRecord, RunSpec
from grokcheck.experiments.store import ExperimentStore

EXECUTORS = ("local", "dask")
INTERRUPTED = "interrupted"  # a record's ``stopped`` when ``stop`` fired: not a finished run
CHECKPOINTS = "checkpoints"
Runner = Callable[..., Sequence[RunRecord]]


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after each chunk: ``done`` of ``total`` runs of this sweep have a result."""

    done: int
    total: int
    records: tuple[RunRecord, ...]
    where: str = "local"


Progress = Callable[[ProgressEvent], None]


def default_runner(
    specs: Sequence[RunSpec],
    *,
    device: str = "cpu",
    cache_dir: Path | None = None,
    stop: Callable[[], bool] | None = None,
    checkpoint_dir: Path | None = None,
) -> list[RunRecord]:
    """The training core's batched runner (imported lazily: it pulls in torch)."""
    try:
        from grokcheck.experiments.runner import run_chunk
    except ModuleNotFoundError as e:
        if e.name != "grokcheck.experiments.runner":
            raise
        raise RunError("the training core's runner (grokcheck.experiments.runner) is not installed") from None
    kw: dict[str, Any] = {} if cache_dir is None else {"cache_dir": cache_dir}  # else the runner's default
    return run_chunk(specs, device=device, stop=stop, checkpoint_dir=checkpoint_dir, **kw)


def run_chunk_task(
    specs: Sequence[RunSpec],
    root: str,
    runner: Runner,
    device: str = "cpu",
    cache_dir: str | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[RunRecord, ...]:
    """Train the unfinished specs of one chunk, write their result files, return all its records.

    Runs where the chunk runs (here or on a Dask worker). A run the runner reports as
    ``"interrupted"`` (``stop`` fired) gets no result file, so a rerun trains it again, from the
    runner's checkpoint under ``<root>/checkpoints`` when it keeps one.
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
    """Run the chunks one after another in this process; returns the records written."""
    total = sum(len(c) for c in chunks)
    out: list[RunRecord] = []
    for chunk in chunks:
        if stop is not None and stop():
            break
        recs = run_chunk_task(chunk, str(store.root), runner, device, _str(cache_dir), stop)
        out.extend(recs)
        if progress is not None:
            progress(ProgressEvent(len(out), total, recs, "local"))
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
            ): c
            for c in chunks
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
                progress(ProgressEvent(len(out), total, tuple(recs), "dask"))
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
