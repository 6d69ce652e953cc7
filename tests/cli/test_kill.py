"""Kill -9 at random moments: a real `grokcheck train` process, killed repeatedly and resumed
each time, ends with exactly the metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

KILLS = 3
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
    """Kill moments are drawn as fractions of the uninterrupted run's own wall time (start-up
    included), so the test kills mid-run on a fast machine and on a loaded one alike; after
    KILLS kills the last resume runs to the end (a resume from a late checkpoint may also
    finish before its kill moment)."""
    t0 = time.monotonic()
    whole = final(run([*ARGS, "--out", str(tmp_path / "whole")]))
    wall = time.monotonic() - t0
    rng = random.Random(2026)
    out = tmp_path / "killed"
    kills, done = 0, None
    while done is None:
        again = (
            ["--resume"] if (out / "config.json").is_file() else []
        )  # killed before its config: start again
        limit = rng.uniform(0.3, 0.9) * wall if kills < KILLS else None
        done = run([*ARGS, "--out", str(out), *again], kill_after=limit)
        kills += done is None
    assert 1 <= kills <= KILLS  # a resumed run may finish before its kill moment
    assert final(done) == whole
    assert not list(out.glob(".*.tmp"))  # no orphan temporary file survives the next start
