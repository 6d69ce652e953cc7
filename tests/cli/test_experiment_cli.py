"""``grokcheck experiment``: JSON output, resume, and bad input as one-line errors before any folder."""

from __future__ import annotations

import json

import pytest

from tests.experiments.fakes import fake_runner

TINY = (
    "--p",
    "23",
    "--sizes",
    "60,120,240",
    "--weight-decays",
    "0.5,1",
    "--seeds",
    "0,1",
    "--max-steps",
    "2000",
)
RUN_KEYS = {
    "task",
    "p",
    "train_size",
    "weight_decay",
    "seed",
    "steps",
    "converged",
    "train_acc",
    "test_acc",
    "train_loss",
    "test_loss",
    "param_norm",
    "o_t",
    "o_m",
}


@pytest.fixture
def calls(monkeypatch):
    seen: list = []

    def runner(specs, **kw):
        seen.append(list(specs))
        return fake_runner(specs)

    monkeypatch.setattr("grokcheck.experiments.run.default_runner", runner)
    return seen


def test_json_output_and_resume(cli, tmp_path, calls):
    out = tmp_path / "ung"
    r = cli("experiment", "ungrok", *TINY, "--out", str(out), "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    n = len(d["runs"])  # 12 grid runs, then the D_crit bisection's
    assert n > 12 and d["n_runs"] == n and RUN_KEYS <= set(d["runs"][0])
    assert {v["name"] for v in d["verdicts"]} >= {
        "P1",
        "P2",
        "P3 (D_crit)",
        "P3 (accuracy)",
        "P4 (scratch)",
        "P4 (ungrok)",
        "D_crit",
    }
    assert all({"name", "status", "figure"} <= set(v) for v in d["verdicts"])
    assert (out / "results.csv").is_file() and (out / "summary.json").is_file()
    assert (out / "figure4.png").is_file()
    assert sum(map(len, calls)) == n and d["n_skipped"] == 0
    r2 = cli("experiment", "ungrok", *TINY, "--out", str(out), "--json")
    assert r2.code == 0 and sum(map(len, calls)) == n  # nothing rerun
    d2 = json.loads(r2.out)
    assert d2["n_skipped"] == n and d2["runs"] == d["runs"]


def test_text_output(cli, tmp_path, calls):
    r = cli("experiment", "semigrok", *TINY, "--out", str(tmp_path / "s"))
    assert r.code == 0, r.err
    assert "P4" in r.out and "experiment: semigrok 12/12 runs, chunk 1/1 (12 members) finished" in r.err
    assert r.err.rstrip().endswith(" left")


@pytest.mark.parametrize(
    "args, flag",
    [
        (("--sizes", "60,abc"), "--sizes"),
        (("--sizes", "600"), "--sizes"),  # > 23^2
        (("--weight-decays", "x"), "--weight-decays"),
        (("--max-steps", "0"), "--max-steps"),
        (("--tasks", "nope"), "--task"),
        (("--scheduler", "tcp://x:1"), "--scheduler"),
        (("--max-chunk", "0"), "--max-chunk"),
        (("--scale", "huge"), "--scale"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, calls, args, flag):
    out = tmp_path / "never"
    base = dict(zip(TINY[::2], TINY[1::2], strict=True))
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    r = cli("experiment", "ungrok", *[x for kv in base.items() for x in kv], "--out", str(out))
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert r.code == 2 and len(lines) == 1 and flag in lines[0] and "Traceback" not in r.err
    assert not out.exists() and not calls


def test_ctrl_c_stops_after_the_chunk_and_a_rerun_resumes(cli, tmp_path, monkeypatch):
    import os
    import signal

    seen: list = []

    def runner(specs, stop=None, **kw):
        if not seen:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the first chunk
        seen.append(len(specs))
        return fake_runner(specs)

    monkeypatch.setattr("grokcheck.experiments.run.default_runner", runner)
    out = tmp_path / "c"
    r = cli("experiment", "ungrok", *TINY, "--max-chunk", "4", "--out", str(out))
    assert r.code == 130 and "resume" in r.err and seen == [4]
    r = cli("experiment", "ungrok", *TINY, "--max-chunk", "4", "--out", str(out), "--json")
    assert r.code == 0 and json.loads(r.out)["n_skipped"] == 4 and seen[:3] == [4, 4, 4]
