"""Progress of a sweep: step-level events from the runner during a chunk, one event per finished
chunk, and the per-experiment wall time and counts that ``verify --full`` records."""

from __future__ import annotations

import pytest

from grokcheck.experiments import grid
from grokcheck.experiments.executors import ProgressEvent, reports_steps, run_local
from grokcheck.experiments.run import ExperimentConfig, ExperimentStats, run_experiment
from grokcheck.experiments.store import ExperimentStore
from tests.experiments.fakes import fake_runner

SMALL = grid.GridOverrides(p=23, sizes=(60, 120, 240), weight_decays=(0.5, 1.0), seeds=(0, 1), max_steps=2000)
# the real runner at the smallest useful scale: 49 examples, a handful of steps (seconds on a CPU)
TINY = grid.GridOverrides(
    p=7, sizes=(20, 30), weight_decays=(1.0,), seeds=(0,), max_steps=4, eval_every=2, pretrain_max_steps=3
)


def _loop_event(phase, step, budget, active, members, row=None):
    from grokcheck.transformer.training.loop import Event

    return Event(phase, step, budget, 0.1, 0.5, row, active, members)


def stepping_runner(specs, *, device="cpu", cache_dir=None, stop=None, checkpoint_dir=None, progress=None):
    """The fake's records, after reporting 3 steps of an ensemble of len(specs) members."""
    if progress is not None:
        for step in (1, 2, 3):
            progress(_loop_event("ensemble", step, 3, len(specs), len(specs)))
    return fake_runner(specs)


def test_local_turns_runner_steps_into_step_events(tmp_path):
    specs = grid.experiment_specs("ungrok", "quick", SMALL)
    chunks = grid.chunks(specs, 5)
    events: list[ProgressEvent] = []
    run_local(chunks, ExperimentStore(tmp_path), runner=stepping_runner, progress=events.append)
    steps = [e for e in events if e.during_chunk]
    ends = [e for e in events if not e.during_chunk]
    assert len(ends) == len(chunks) and len(steps) == 3 * len(chunks)
    first = steps[:3]
    assert [e.step for e in first] == [1, 2, 3] and {e.max_steps for e in first} == {3}
    n0 = len(chunks[0])
    assert [e.member_steps for e in first] == [n0, 2 * n0, 3 * n0]
    want = (1, len(chunks), n0, 0, ())
    assert all((e.chunk, e.n_chunks, e.chunk_size, e.done, e.records) == want for e in first)
    assert all(e.phase == "ensemble" and e.active == n0 for e in first)
    assert ends[0].chunk == 1 and ends[0].step is None and ends[0].member_steps == 3 * n0
    assert ends[0].done == n0 and len(ends[0].records) == n0
    assert ends[-1].done == ends[-1].total == len(specs) and ends[-1].chunk == len(chunks)


def test_a_runner_without_progress_gets_none_and_chunks_still_report(tmp_path):
    assert reports_steps(stepping_runner) and not reports_steps(fake_runner)
    assert not reports_steps(lambda specs, **kw: fake_runner(specs))  # only a named parameter opts in
    seen: list = []

    def runner(specs, **kw):
        seen.append(set(kw))
        return fake_runner(specs)

    specs = grid.experiment_specs("ungrok", "quick", SMALL)[:4]
    events: list[ProgressEvent] = []
    run_local([specs], ExperimentStore(tmp_path), runner=runner, progress=events.append)
    assert "progress" not in seen[0]
    assert len(events) == 1 and not events[0].during_chunk and events[0].member_steps is None
    assert (events[0].chunk, events[0].n_chunks, events[0].chunk_size) == (1, 1, 4)


def test_run_experiment_marks_runs_finished_before(tmp_path):
    cfg = ExperimentConfig("ungrok", grid=SMALL, out=tmp_path / "x", max_chunk=4, figures=False)
    first: list[ProgressEvent] = []
    run_experiment(cfg, runner=fake_runner, progress=first.append, stop=lambda: len(first) >= 1)
    assert first[0].skipped == 0
    again: list[ProgressEvent] = []
    r = run_experiment(cfg, runner=stepping_runner, progress=again.append)
    n_grid = len(grid.experiment_specs("ungrok", "quick", SMALL))
    assert r.complete and {e.skipped for e in again} == {4}
    last = [e for e in again if e.total + e.skipped == n_grid][-1]  # then the D_crit bisection's rounds
    assert last.done + last.skipped == last.total + last.skipped == n_grid <= r.n_total


def test_experiment_stats():
    cfg = ExperimentConfig("ungrok", grid=SMALL, figures=False)
    stats = ExperimentStats.of(_result(cfg), 12.34567)
    assert stats.name == "ungrok" and stats.wall_s == 12.346 and stats.n_runs == 12
    assert stats.n_finished == 12 and stats.n_converged == 12 and stats.complete


def _result(cfg):
    from grokcheck.experiments.run import ExperimentResult

    recs = tuple(fake_runner(grid.experiment_specs(cfg.name, cfg.scale, cfg.grid)))
    return ExperimentResult(cfg, cfg.folder(), recs, (), len(recs), 0, (), True)


def test_real_runner_reports_every_step_of_a_tiny_chunk(tmp_path):
    pytest.importorskip("grokcheck.experiments.runner")
    from grokcheck.experiments.executors import default_runner

    specs = grid.experiment_specs("ungrok", "quick", TINY)
    events: list[ProgressEvent] = []
    store = ExperimentStore(tmp_path / "x")
    recs = run_local(
        [specs], store, runner=default_runner, cache_dir=tmp_path / "cache", progress=events.append
    )
    assert len(recs) == len(specs) and len(list(store.results_dir.glob("*.json"))) == len(specs)
    pre = [e for e in events if e.phase == "pretrain"]
    ens = [e for e in events if e.phase == "ensemble"]
    assert pre and {e.max_steps for e in pre} == {3} and {e.step for e in pre} == {0, 1, 2, 3}
    assert {e.step for e in ens} == {0, 1, 2, 3, 4} and {e.max_steps for e in ens} == {4}
    assert all((e.chunk, e.n_chunks, e.chunk_size, e.done) == (1, 1, len(specs), 0) for e in pre + ens)
    end = events[-1]
    assert not end.during_chunk and end.done == end.total == len(specs)
    assert end.member_steps == ens[-1].member_steps == sum(r.steps for r in recs) > 0


def test_dask_reports_finished_chunks_only(tmp_path):
    pytest.importorskip("distributed")
    small = grid.GridOverrides(p=23, sizes=(60, 120), weight_decays=(1.0,), seeds=(0, 1), max_steps=2000)
    cfg = ExperimentConfig(
        "ungrok", grid=small, out=tmp_path / "d", executor="dask", max_chunk=2, figures=False
    )
    events: list[ProgressEvent] = []
    run_experiment(cfg, runner=fake_runner, progress=events.append)  # workers import it by name
    assert len(events) == 2 and not any(e.during_chunk for e in events)
    assert sorted(e.chunk for e in events) == [1, 2] and {(e.n_chunks, e.chunk_size) for e in events} == {
        (2, 2)
    }
    assert all(e.where == "dask" for e in events) and events[-1].done == events[-1].total == 4
