"""``grokcheck train``: JSON output, run folders, resume, Ctrl-C, and bad input as exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TINY = ("--p", "23", "--train-frac", "0.5", "--eval-every", "10", "--threads", "1")
RESULT_KEYS = {
    "task",
    "p",
    "train_size",
    "steps",
    "final",
    "step_train_100",
    "step_test_95",
    "wall_s",
    "device",
}
FINAL_KEYS = {"train_loss", "train_acc", "test_loss", "test_acc"}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # --threads 1 sets it process-wide


def one_line_error(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in err and lines[0].startswith("grokcheck")


def test_json_and_run_folder(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = cli("train", *TINY, "--steps", "30", "--json", "--out", str(out))
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert RESULT_KEYS <= set(data) and FINAL_KEYS <= set(data["final"])
    assert (data["task"], data["p"], data["train_size"], data["steps"]) == ("add", 23, 264, 30)
    assert data["device"] == "cpu"
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "checkpoint.pt"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text())["final"] == data["final"]


def test_human_output(cli, tmp_path: Path) -> None:
    r = cli("train", *TINY, "--steps", "5", "--out", str(tmp_path / "h"))
    assert r.code == 0, r.err
    assert "train acc 100% at step" in r.out and "run folder" in r.out


def test_resume_reaches_the_same_final_metrics(cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("train", *TINY, "--steps", "40", "--json", "--out", str(a)).code == 0
    assert cli("train", *TINY, "--steps", "15", "--out", str(b)).code == 0
    r = cli("train", "--steps", "40", "--json", "--out", str(b), "--resume")
    assert r.code == 0, r.err
    full = json.loads((a / "summary.json").read_text())
    assert json.loads(r.out)["final"] == full["final"]


def test_ctrl_c_checkpoints_and_resume_continues(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "grokcheck",
        "train",
        *TINY,
        "--steps",
        "100000",
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stderr.readline()  # the step-0 log line: training has started
        assert "[train] step 0/" in first, first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    step = json.loads((out / "summary.json").read_text())["steps"]
    assert json.loads((out / "summary.json").read_text())["stopped"] == "interrupted"
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "grokcheck",
            "train",
            "--steps",
            str(step + 3),
            "--json",
            "--out",
            str(out),
            "--resume",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == step + 3


def test_ungrok_blocks_and_cache_reuse(cli, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = (
        "train",
        "--p",
        "23",
        "--pretrain-steps",
        "20",
        "--ungrok-steps",
        "10",
        "--eval-every",
        "5",
        "--cache-dir",
        str(cache),
        "--threads",
        "1",
        "--json",
    )
    r = cli(*args, "--ungrok", "200", "--out", str(tmp_path / "u1"))
    assert r.code == 0, r.err
    data = json.loads(r.out)
    for block in ("pretrain", "ungrok"):
        assert RESULT_KEYS <= set(data[block]) and FINAL_KEYS <= set(data[block]["final"])
    assert data["pretrain"]["train_size"] == 529 and data["ungrok"]["train_size"] == 200
    assert data["ungrok"]["test_size"] == 329 and data["pretrain_cached"] is False
    assert len(list(cache.glob("pretrain-*.pt"))) == 1
    assert (tmp_path / "u1" / "ungrok.png").is_file()
    again = json.loads(cli(*args, "--ungrok", "300", "--out", str(tmp_path / "u2")).out)
    assert again["pretrain_cached"] is True
    assert again["pretrain"]["final"] == data["pretrain"]["final"]


@pytest.mark.parametrize(
    "args, flag",
    [
        (("--task", "nope"), "--task"),
        (("--p", "1"), "--p"),
        (("--task", "div", "--p", "25"), "--p"),
        (("--train-size", "529"), "--train-size"),
        (("--train-frac", "1.0"), "--train-frac"),
        (("--ungrok", "529"), "--ungrok"),
        (("--steps", "-1"), "--steps"),
        (("--lr", "-0.001"), "--lr"),
        (("--weight-decay", "-1"), "--weight-decay"),
        (("--ungrok", "100", "--steps", "5"), "--steps"),
        (("--loss-dtype", "float16"), "--loss-dtype"),
    ],
)
def test_bad_input_exits_2(cli, tmp_path: Path, args: tuple[str, ...], flag: str) -> None:
    out = tmp_path / "never"
    r = cli("train", "--p", "23", *args, "--out", str(out))
    assert r.code == 2, (r.out, r.err)
    assert one_line_error(r.err) and flag in r.err, r.err
    assert not out.exists()


def test_runtime_errors_exit_1_and_overwrite_nothing(cli, tmp_path: Path) -> None:
    r = cli("train", "--resume", "--out", str(tmp_path / "missing"))
    assert r.code == 1 and one_line_error(r.err) and "no run to continue" in r.err

    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "3", "--out", str(run)).code == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    r = cli("train", *TINY, "--steps", "3", "--out", str(run))  # not empty, no --resume: a usage error
    assert r.code == 2 and one_line_error(r.err) and "already holds files" in r.err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before

    (run / "checkpoint.pt").write_bytes(b"garbage")
    r = cli("train", "--steps", "6", "--out", str(run), "--resume")
    assert r.code == 1 and one_line_error(r.err) and "corrupt" in r.err
    # a finished run whose checkpoint is gone is refused: restarting would replace its results
    (run / "checkpoint.pt").unlink()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    r = cli("train", "--steps", "6", "--out", str(run), "--resume", "--json")
    assert r.code == 1 and one_line_error(r.err) and "finished run" in r.err and r.out == ""
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    (run / "checkpoint.pt").mkdir()  # a folder where the checkpoint belongs
    r = cli("train", "--steps", "6", "--out", str(run), "--resume")
    assert r.code == 1 and one_line_error(r.err) and "not a checkpoint" in r.err
    (run / "checkpoint.pt").rmdir()
    # a run killed before its first checkpoint (no summary yet) restarts from step 0 with its config
    (run / "summary.json").unlink()
    r = cli("train", "--steps", "6", "--out", str(run), "--resume", "--json")
    assert r.code == 0 and json.loads(r.out)["steps"] == 6, r.err


def test_documented_examples_parse_and_run(cli, tmp_path: Path) -> None:
    """docs/training.md's commands, with tiny step counts so they finish in seconds."""
    r = cli("train", "--task", "add", "--steps", "1", "--json", "--out", str(tmp_path / "a"))
    assert r.code == 0 and json.loads(r.out)["p"] == 113 and json.loads(r.out)["train_size"] == 3831
    r = cli(
        "train",
        "--task",
        "add",
        "--ungrok",
        "800",
        "--pretrain-steps",
        "1",
        "--ungrok-steps",
        "1",
        "--cache-dir",
        str(tmp_path / "c"),
        "--json",
        "--out",
        str(tmp_path / "u"),
    )
    assert r.code == 0 and json.loads(r.out)["ungrok"]["train_size"] == 800
    r = cli(
        "train",
        "--task",
        "s5-conj",
        "--train-frac",
        "0.5",
        "--device",
        "cuda",
        "--steps",
        "1",
        "--json",
        "--out",
        str(tmp_path / "s5"),
    )
    if torch.cuda.is_available():
        assert r.code == 0 and json.loads(r.out)["train_size"] == 7200
    else:
        assert r.code == 2 and "--device: CUDA is not available" in r.err
        assert not (tmp_path / "s5").exists()
    r = cli(
        "train",
        "--task",
        "add",
        "--p",
        "31",
        "--steps",
        "3",
        "--json",
        "--out",
        str(tmp_path / "x"),
    )
    assert r.code == 0 and json.loads(r.out)["steps"] == 3
    r = cli("train", "--task", "add", "--out", str(tmp_path / "x"), "--resume", "--steps", "4", "--json")
    assert r.code == 0 and json.loads(r.out)["steps"] == 4


def test_cli_options_default_to_none_so_the_configs_hold_the_defaults() -> None:
    import inspect

    from grokcheck.cli import train as cli_train

    params = inspect.signature(cli_train.train).parameters
    own = {"resume", "device", "out", "json_out"}  # CLI-only options, not config fields
    assert all(p.default is None for name, p in params.items() if name not in own), [
        name for name, p in params.items() if name not in own and p.default is not None
    ]
