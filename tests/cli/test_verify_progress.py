"""Sweep progress on stderr (``verify --full``, ``experiment``): plain lines with the experiment,
runs, chunk, step, elapsed and time left, throttled by wall time; and the per-experiment wall
time and counts in ``verify --full --json``."""

from __future__ import annotations

import io
import json
import re

import pytest

from grokcheck.cli.progress import Reporter, duration
from grokcheck.experiments.executors import ProgressEvent
from tests.experiments.fakes import fake_runner


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _step(step, member_steps, *, done=0, total=36, chunk=1, size=12, active=12, phase="ensemble", cap=8000):
    return ProgressEvent(
        done,
        total,
        (),
        chunk=chunk,
        n_chunks=3,
        chunk_size=size,
        phase=phase,
        step=step,
        max_steps=cap,
        member_steps=member_steps,
        active=active,
    )


def _reporter():
    clock, out = Clock(), io.StringIO()
    return Reporter("verify", every_s=30.0, clock=clock, stream=out).sweep, clock, out


def _lines(out):
    return out.getvalue().splitlines()


def test_lines_are_throttled_by_wall_time_and_say_where_the_sweep_is():
    rep, clock, out = _reporter()
    rep("ungrok", _step(1, 12))  # an experiment's first event: a line at once
    assert _lines(out) == ["verify: ungrok 0/36 runs, chunk 1/3 (12 members) step 1/8000, 0s elapsed, ? left"]
    for s in range(2, 200):
        clock.t += 0.1  # 19.8 s of steps: no line
        rep("ungrok", _step(s, 12 * s))
    assert len(_lines(out)) == 1
    clock.t = 100.0 + 30.0
    rep("ungrok", _step(300, 3600))
    # 3600 member-steps in 30 s; to go: 12 open members x 7700 steps + 24 runs x the 8000-step cap
    left = (12 * 7700 + 24 * 8000) * 30 / 3600  # 2370 s
    assert duration(left, 2) == "40m"
    assert (
        _lines(out)[-1]
        == "verify: ungrok 0/36 runs, chunk 1/3 (12 members) step 300/8000, 30s elapsed, ~40m left"
    )
    clock.t += 1.0
    rep("ungrok", _step(301, 3612))  # 1 s later: no line
    assert len(_lines(out)) == 2


def test_a_finished_chunk_always_gets_a_line_and_sets_the_estimate():
    rep, clock, out = _reporter()
    rep("ungrok", _step(1, 12))
    clock.t += 60.0
    rep("ungrok", _step(4000, 48000))
    clock.t += 1.0  # a chunk finishing 1 s after a line still gets one
    recs = tuple(fake_runner(_specs()[:12]))
    ev = ProgressEvent(12, 36, recs, chunk=1, n_chunks=3, chunk_size=12, member_steps=48000)
    rep("ungrok", ev)
    last = _lines(out)[-1]
    assert last.startswith(
        "verify: ungrok 12/36 runs, chunk 1/3 (12 members) finished at step 4000/8000, 1m01s elapsed"
    )
    # 48000 member-steps in 61 s; 24 runs to go at the mean steps of the finished ones
    per_run = sum(r.steps for r in recs) / 12
    want = duration(24 * per_run * 61 / 48000, 2)
    assert last.endswith(f", ~{want} left") and len(_lines(out)) == 3


def test_a_chunk_cut_short_by_ctrl_c_says_stopped_not_finished():
    rep, clock, out = _reporter()
    rep("ungrok", _step(1, 12))
    recs = tuple(fake_runner(_specs()[:5]))  # 5 of the chunk's 12 runs had finished when it stopped
    rep("ungrok", ProgressEvent(5, 36, recs, chunk=1, n_chunks=3, chunk_size=12, member_steps=12))
    assert "chunk 1/3 (12 members) stopped at step 1/8000 (5 of its runs finished)" in _lines(out)[-1]


def test_time_left_is_unknown_until_something_trained_and_pretraining_says_so():
    rep, clock, out = _reporter()
    rep("ungrok", _step(5, 0, phase="pretrain", cap=5000, active=1))
    assert _lines(out) == [
        "verify: ungrok 0/36 runs, chunk 1/3 (12 members) pretrain step 5/5000, 0s elapsed, ? left"
    ]


def test_a_new_experiment_restarts_the_clock_and_resumed_runs_count():
    rep, clock, out = _reporter()
    rep("ungrok", _step(1, 12))
    clock.t += 500.0
    ev = ProgressEvent(4, 8, tuple(fake_runner(_specs()[:4])), chunk=2, n_chunks=2, chunk_size=4, skipped=4)
    rep("semigrok", ev)
    assert re.match(
        r"verify: semigrok 8/12 runs, chunk 2/2 \(4 members\) finished, 0s elapsed, \S+ left$",
        _lines(out)[-1],
    )


def test_dask_style_events_without_chunk_details():
    rep, clock, out = _reporter()
    rep("ungrok", ProgressEvent(2, 4, tuple(fake_runner(_specs()[:2])), "dask"))
    assert _lines(out)[-1].startswith("verify: ungrok 2/4 runs finished, 0s elapsed, ")


def test_duration():
    assert [duration(x) for x in (0, 45.4, 250, 3720)] == ["0s", "45s", "4m10s", "1h02m"]
    assert [duration(x, 2) for x in (45, 250, 3599, 3720)] == ["45s", "4m", "1h00m", "1h02m"]


def _specs():
    from grokcheck.experiments import grid

    # 36 runs capped at 8000 steps, whatever the quick scale's grid is
    o = grid.GridOverrides(
        sizes=(60, 88, 128, 187, 274, 400), weight_decays=(0.5, 1.0, 2.0), seeds=(0, 1), max_steps=8000
    )
    return grid.experiment_specs("ungrok", "quick", o)


def stepping_runner(specs, *, device="cpu", cache_dir=None, stop=None, checkpoint_dir=None, progress=None):
    from grokcheck.transformer.training.loop import Event

    if progress is not None:
        for step in (1, 2):
            progress(Event("ensemble", step, 2, 0.1, 0.5, None, len(specs), len(specs)))
    return fake_runner(specs)


@pytest.fixture
def fake_training(monkeypatch):
    monkeypatch.setattr("grokcheck.experiments.run.default_runner", stepping_runner)
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", ())


def test_verify_full_json_records_each_experiment(cli, tmp_path, fake_training):
    r = cli("verify", "--full", "--json", "--out", str(tmp_path / "v"))
    d = json.loads(r.out)
    assert {"checks", "holds", "quick", "status"} <= set(d) and d["quick"] is False
    assert [e["name"] for e in d["experiments"]] == ["efficiency", "ungrok", "semigrok", "hysteresis"]
    for e in d["experiments"]:
        assert e["wall_s"] >= 0 and 0 < e["n_converged"] <= e["n_runs"] == e["n_finished"]
        assert e["n_skipped"] == 0 and e["complete"] is True
    assert d["checks"]  # the prediction rows (their names are the verdicts' business)
    lines = r.err.splitlines()
    assert lines and all(x.startswith("verify: ") for x in lines)
    for name in ("efficiency", "ungrok", "semigrok", "hysteresis"):
        mine = [x for x in lines if x.startswith(f"verify: {name} ")]
        assert re.search(
            r"\d+/\d+ runs, chunk 1/\d+ \(\d+ members\) step 1/2, \S+ elapsed, \S+ left$", mine[0]
        )
        assert re.search(r"(\d+)/\1 runs, chunk \d+/\d+ \(\d+ members\) finished at step 2/2, ", mine[-1])
    # a rerun resumes: nothing to train, every run counted as skipped
    d2 = json.loads(cli("verify", "--full", "--json", "--out", str(tmp_path / "v")).out)
    assert [e["n_skipped"] for e in d2["experiments"]] == [e["n_runs"] for e in d["experiments"]]


def test_verify_without_full_has_no_experiments(cli, fake_training):
    d = json.loads(cli("verify", "--json").out)
    assert d["experiments"] == []
