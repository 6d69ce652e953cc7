"""Kill -9 at random moments: a real `grokcheck train` process, killed repeatedly and resumed
each time, ends with exactly the metrics of an uninterrupted run (issue 11)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ARGS = ["train", "--p", "23", "--train-frac", "0.5", "--steps", "400", "--eval-every", "20",
        "--checkpoint-every", "25", "--threads", "1", "--json"]  # fmt: skip


def run(args: list[str], *, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "grokcheck", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            return None
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def final(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    return {
        k: data["final"][k]
        for k in ("step", "train_loss", "train_acc", "test_loss", "test_acc", "param_norm")
    }


def test_killed_at_random_moments_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    whole = final(run([*ARGS, "--out", str(tmp_path / "whole")]))
    rng = random.Random(2026)
    out = tmp_path / "killed"
    first = run([*ARGS, "--out", str(out)], kill_after=rng.uniform(1.0, 4.0))
    kills = int(first is None)
    done = first
    for _ in range(30):
        if done is not None:
            break
        t0 = time.monotonic()
        # killed before its config was written: nothing to resume, so start it again
        again = ["--resume"] if (out / "config.json").is_file() else []
        done = run([*ARGS, "--out", str(out), *again], kill_after=rng.uniform(1.5, 5.0))
        kills += done is None
        assert time.monotonic() - t0 < 120
    assert done is not None and kills >= 1, "the run was never killed: lengthen it"
    assert final(done) == whole
    assert not list(out.glob(".*.tmp"))  # no orphan temporary file survives the next start
