"""Hostile use of the CLI: full disks, foreign folders, Ctrl-C at awkward moments, odd values.

Each case ends in one line on stderr naming the flag or file, exit 2 for usage and 1 for a
runtime failure, never "internal error", and leaves every folder it was pointed at as it was.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grokcheck.cli import main
from tests.experiments.fakes import fake_runner

TINY = ("--p", "23", "--sizes", "60,120", "--weight-decays", "1", "--seeds", "0,1", "--max-steps", "2000")


def one_line(err: str) -> bool:
    lines = [x for x in err.splitlines() if x.strip()]
    return len(lines) == 1 and "internal error" not in err and "Traceback" not in err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def fake_training(monkeypatch):
    monkeypatch.setattr("grokcheck.experiments.run.default_runner", lambda specs, **kw: fake_runner(specs))


class FullDisk:
    """A stdout on a full disk: every write fails as /dev/full does."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(
    "args",
    [
        ("theorem", "d4", "--kappa", "1.2", "--json"),
        ("theorem", "d4", "--kappa", "1.2"),
        ("experiment", "ungrok", *TINY, "--json"),
        ("verify", "--from", "{exp}", "--json"),
    ],
)
def test_stdout_on_a_full_disk_is_one_line_exit_1(monkeypatch, capsys, tmp_path, fake_training, args):
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", ())  # verify --from: only the experiment rows
    exp = tmp_path / "exp"
    assert _quiet_main(["experiment", "ungrok", *TINY, "--out", str(exp)], capsys) == 0
    args = [a.replace("{exp}", str(exp)) for a in args]
    if args[0] == "experiment":
        args += ["--out", str(exp)]
    monkeypatch.setattr(sys, "stdout", FullDisk())
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 1 and one_line(err) and "No space left" in err


def _quiet_main(args, capsys) -> int:
    with pytest.raises(SystemExit) as e:
        main(args)
    capsys.readouterr()
    return e.value.code


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_dev_full_in_a_real_process():
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "grokcheck", "theorem", "d4", "--kappa", "1.2", "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1 and one_line(r.stderr) and "No space left" in r.stderr


@pytest.mark.parametrize("command", [("sim", "--fig", "2a"), ("experiment", "ungrok", *TINY), ("train",)])
def test_out_folders_that_cannot_be_used(cli, tmp_path, fake_training, command):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out, words in (
        (afile, "is a file"),
        (afile / "sub", "which is a file"),
        (tmp_path / ("x" * 300), "longer than 255 bytes"),
        (Path("/dev/full"), "not a folder"),
    ):
        r = cli(*command, "--out", str(out))
        assert r.code == 2 and one_line(r.err) and "--out" in r.err and words in r.err, (out, r.err)
    assert afile.read_text() == "mine"


def test_an_experiment_folder_with_results_as_a_file(cli, tmp_path, fake_training):
    out = tmp_path / "e"
    assert cli("experiment", "ungrok", *TINY, "--out", str(out)).code == 0
    for f in (out / "results").iterdir():
        f.unlink()
    (out / "results").rmdir()
    (out / "results").write_text("not a folder")
    before = snapshot(out)
    r = cli("experiment", "ungrok", *TINY, "--out", str(out))
    assert r.code == 2 and one_line(r.err) and "results" in r.err
    assert snapshot(out) == before  # the check comes before config.json is rewritten


@pytest.mark.parametrize(
    "foreign",
    [
        {"config.json": '{"task": "add"}', "summary.json": "{}"},  # a grokcheck train run
        {"report.png": "png"},  # a sim output folder, say
        {"config.json": '{"config": {"name": "ungrok"}}'},  # another experiment's folder
    ],
)
def test_a_foreign_folder_is_left_byte_identical(cli, tmp_path, fake_training, foreign):
    out = tmp_path / "f"
    out.mkdir()
    for name, text in foreign.items():
        (out / name).write_text(text)
    before = snapshot(out)
    r = cli("experiment", "semigrok", *TINY, "--out", str(out))
    assert r.code == 2 and one_line(r.err) and "--out" in r.err
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "args, flag",
    [
        (("experiment", "ungrok", "--sizes", "40,,80"), "--sizes"),
        (("experiment", "ungrok", "--seeds", "0,"), "--seeds"),
        (("experiment", "ungrok", "--seeds", "9223372036854775808"), "--seeds"),
        (("experiment", "ungrok", "--seeds", "99999999999999999999"), "--seeds"),
        (("experiment", "ungrok", "--max-steps", "100000000000000000000"), "--max-steps"),
        (("experiment", "tasks", "--task", "s5-mul", "--p", "23"), "--p"),
        (("train", "--seed", "99999999999999999999"), "--seed"),
        (("train", "--data-seed", "9223372036854775808"), "--data-seed"),
        (("train", "--steps", "100000000000000000000"), "--steps"),
        (("train", "--max-steps", "1000000001"), "--max-steps"),
    ],
)
def test_values_no_computation_can_honour_are_usage_errors(cli, tmp_path, args, flag):
    r = cli(*args, "--out", str(tmp_path / "never"))
    assert r.code == 2 and one_line(r.err) and flag in r.err, r.err
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("args", [(), ("theorem",), ("experiment",)])
def test_a_bare_group_shows_help_and_says_why_on_stderr(cli, args):
    r = cli(*args)
    assert r.code == 2 and "Usage" in r.out and one_line(r.err) and "missing command" in r.err


def test_verify_from_a_bad_folder_fails_before_any_check(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "grokcheck.verify.PROVIDERS", ("tests.cli.no_such_provider",)
    )  # would fail if reached
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    for target, words in ((tmp_path / "empty", "no experiment folders"), (tmp_path / "afile", "is a file")):
        r = cli("verify", "--from", str(target))
        assert r.code == 2 and one_line(r.err) and words in r.err, r.err


def _sigint_runner(at_call: int):
    seen: list[int] = []

    def runner(specs, **kw):
        seen.append(len(specs))
        if len(seen) == at_call:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while this chunk trains
        return fake_runner(specs)

    return runner, seen


def test_ctrl_c_with_json_prints_the_partial_result(cli, tmp_path, monkeypatch):
    runner, seen = _sigint_runner(1)
    monkeypatch.setattr("grokcheck.experiments.run.default_runner", runner)
    r = cli("experiment", "ungrok", *TINY, "--max-chunk", "2", "--out", str(tmp_path / "c"), "--json")
    d = json.loads(r.out)
    assert r.code == 130 and d["interrupted"] is True and d["complete"] is False and len(d["runs"]) == 2
    assert "resume" in r.err


def test_ctrl_c_after_the_last_run_says_nothing_about_resuming(cli, tmp_path, monkeypatch):
    runner, seen = _sigint_runner(1)  # one chunk holds every run: it finishes
    monkeypatch.setattr("grokcheck.experiments.run.default_runner", runner)
    r = cli("experiment", "semigrok", "--p", "23", "--seeds", "0,1", "--out", str(tmp_path / "c"), "--json")
    assert r.code == 0 and "resume" not in r.err and json.loads(r.out)["complete"] is True


def test_train_resume_of_a_finished_run_without_its_checkpoint_changes_nothing(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--p", "23", "--steps", "5", "--out", str(run)).code == 0
    (run / "checkpoint.pt").unlink()
    before = snapshot(run)
    r = cli("train", "--resume", "--out", str(run))
    assert r.code == 1 and one_line(r.err) and "finished run" in r.err
    assert snapshot(run) == before


def test_verify_full_keeps_its_pretrained_networks_inside_its_folder(tmp_path, monkeypatch):
    from grokcheck.experiments import checks

    seen: list = []

    def runner(specs, **kw):
        seen.append(kw.get("cache_dir"))
        return fake_runner(specs)

    monkeypatch.chdir(tmp_path)
    checks.run_quick(tmp_path / "v", runner=runner)
    assert seen and all(Path(c) == tmp_path / "v" / "cache" for c in seen)
    assert not (tmp_path / "runs").exists()


def test_fuzz_verify_from_over_damaged_experiment_folders(tmp_path, monkeypatch, capsys, fake_training):
    """``verify --from`` on folders a user could hand it: missing, a file, empty, foreign, or an
    experiment folder whose result files hold arbitrary JSON. Never a crash: exit 2 with one line
    for a folder it cannot use, else a verdict (3 or 4; the fake runs cannot all pass)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    monkeypatch.setattr("grokcheck.verify.PROVIDERS", ())
    good = tmp_path / "good"
    assert _quiet_main(
        ["experiment", "semigrok", "--p", "23", "--seeds", "0", "--out", str(good)], capsys
    ) in (0,)
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=10,
    )
    counter = iter(range(10**6))

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        kind=st.sampled_from(["missing", "file", "empty", "damaged"]),
        junk=json_values,
        name=st.text(max_size=8),
    )
    def prop(kind, junk, name):
        root = tmp_path / f"case{next(counter)}"
        if kind == "file":
            root.write_text("x")
        elif kind == "empty":
            root.mkdir()
        elif kind == "damaged":
            import shutil

            shutil.copytree(good, root / "exp")
            stem = "".join(c for c in name if c.isalnum()) or "junk"
            (root / "exp" / "results" / f"{stem}.json").write_text(json.dumps(junk))
            victim = sorted((root / "exp" / "results").glob("*.json"))[0]
            victim.write_text(json.dumps({"key": victim.stem, "spec": junk, "record": junk}))
        with pytest.raises(SystemExit) as e:
            main(["verify", "--from", str(root), "--json"])
        out, err = capsys.readouterr()
        assert "internal error" not in err and "Traceback" not in err
        if kind == "damaged":
            assert e.value.code in (3, 4) and json.loads(out)["status"] in ("fail", "incomplete")
            assert all("warning: ignored" in line for line in err.splitlines())
        else:
            assert e.value.code == 2 and one_line(err) and "--from" in err

    prop()


@pytest.mark.parametrize(
    "device", ["cuda:1", "gpu", *(["cuda"] if not __import__("torch").cuda.is_available() else [])]
)
def test_a_bad_device_is_refused_before_the_folder_is_written(cli, tmp_path, fake_training, device):
    out = tmp_path / "never"
    r = cli("experiment", "ungrok", *TINY, "--device", device, "--out", str(out))
    assert r.code == 2 and one_line(r.err) and "--device" in r.err
    assert not out.exists()
