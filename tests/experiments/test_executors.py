"""Executors: local and Dask give the same table; a killed Dask worker loses no finished result."""

from __future__ import annotations

import os
import signal

import pytest

from grokcheck.errors import InputError, RunError
from grokcheck.experiments import grid
from grokcheck.experiments.executors import chunk_key, execute, run_chunk_task, run_local
from grokcheck.experiments.store import ExperimentStore
from tests.experiments.fakes import fake_record, fake_runner, logged_keys, slow_fake_runner

SMALL = grid.GridOverrides(p=23, sizes=(60, 120, 240), weight_decays=(0.5, 1.0), seeds=(0, 1), max_steps=2000)


def _specs():
    return grid.experiment_specs("ungrok", "quick", SMALL)


def _rows(store, specs):
    return [{k: v for k, v in r.row().items() if k != "wall_s"} for r in store.records(specs)]


def test_local_writes_one_file_per_run_and_reports_progress(tmp_path):
    specs = _specs()
    store = ExperimentStore(tmp_path)
    events = []
    run_local(grid.chunks(specs, 5), store, runner=fake_runner, progress=events.append)
    assert len(list(store.results_dir.glob("*.json"))) == len(specs)
    assert events[-1].done == events[-1].total == len(specs)
    assert [r.row() for r in store.records(specs)] == [fake_record(s).row() for s in specs]


def test_chunk_task_runs_only_unfinished_specs(tmp_path):
    specs = _specs()[:4]
    store = ExperimentStore(tmp_path)
    store.write(fake_record(specs[0]))
    seen = []

    def runner(todo, **kw):
        seen.extend(todo)
        return fake_runner(todo)

    recs = run_chunk_task(specs, str(tmp_path), runner)
    assert seen == list(specs[1:]) and [r.spec for r in recs] == list(specs)


def test_runner_returning_wrong_records_is_an_error(tmp_path):
    with pytest.raises(RunError):
        run_chunk_task(_specs()[:3], str(tmp_path), lambda todo, **kw: fake_runner(todo[:2]))


def test_unknown_executor():
    with pytest.raises(InputError):
        execute("slurm", [], ExperimentStore("x"), runner=fake_runner)


def test_chunk_keys_differ_by_seed():
    a, b = _specs()[0], _specs()[1]
    assert a.seed != b.seed and chunk_key([a], "r") != chunk_key([b], "r")


def test_dask_survives_a_killed_worker(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("GROKCHECK_FAKE_LOG", str(log))  # before the workers start: they inherit it
    specs = _specs()
    ref = ExperimentStore(tmp_path / "ref")
    run_local(grid.chunks(specs, 2), ref, runner=fake_runner)

    store = ExperimentStore(tmp_path / "dask")
    with (
        distributed.LocalCluster(
            host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        killed = []

        def progress(ev):
            if not killed:  # after the first chunk: kill a worker mid-sweep
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        execute(
            "dask", grid.chunks(specs, 2), store, runner=slow_fake_runner, scheduler=client, progress=progress
        )
    assert killed
    assert _rows(store, specs) == _rows(ref, specs)
    assert store.pending(specs) == []
    # every run trained; only the chunk in flight on the killed worker (2 runs) trained twice
    trained = logged_keys(log)
    assert set(trained) == {s.key() for s in specs}
    assert len(trained) - len(specs) <= 2


def test_default_runner_missing_is_a_clear_error(monkeypatch):
    import sys

    from grokcheck.experiments.executors import default_runner

    monkeypatch.setitem(sys.modules, "grokcheck.experiments.runner", None)
    with pytest.raises((RunError, ImportError)):
        default_runner(_specs()[:1])


def test_interrupted_runs_get_no_result_file(tmp_path):
    import dataclasses

    specs = _specs()[:3]

    def runner(todo, **kw):
        assert kw["checkpoint_dir"] == tmp_path / "checkpoints"
        recs = fake_runner(todo)
        return [recs[0]] + [dataclasses.replace(r, stopped="interrupted", converged=False) for r in recs[1:]]

    recs = run_chunk_task(specs, str(tmp_path), runner)
    assert [r.spec for r in recs] == [specs[0]]
    assert ExperimentStore(tmp_path).pending(specs) == list(specs[1:])
