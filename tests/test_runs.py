"""Run folders: the write preflight and prepare_run_dir leaving nothing behind when it fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from grokcheck.errors import RunError
from grokcheck.runs import preflight_writable, prepare_run_dir

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_writable_paths_pass_and_leave_nothing(tmp_path):
    preflight_writable(tmp_path, "--out")  # existing empty folder
    preflight_writable(tmp_path / "a" / "b" / "c", "--out")  # missing ancestors
    assert _listing(tmp_path) == []


def test_path_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunError, match=r"^--out .*under .*f, which is a file$"):
        preflight_writable(tmp_path / "f" / "run", "--out")
    with pytest.raises(RunError, match=r"^--cache-dir .* is a file"):
        preflight_writable(tmp_path / "f", "--cache-dir")
    assert _listing(tmp_path) == ["f"]


@pytest.mark.skipif(ROOT or sys.platform == "win32", reason="root ignores permission bits")
def test_unwritable_parent_by_permissions(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(RunError, match="--out"):
            preflight_writable(locked / "run", "--out")
        with pytest.raises(RunError):
            prepare_run_dir("t", locked / "a" / "run")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_parent_even_as_root():
    """/proc refuses new folders whoever asks (a stand-in for a read-only mount)."""
    with pytest.raises(RunError) as e:
        preflight_writable(Path("/proc/grokcheck-run"), "--out")
    msg = str(e.value)
    assert msg.startswith("--out /proc/grokcheck-run: cannot create a folder in /proc") and "\n" not in msg


def test_overlong_name(tmp_path):
    with pytest.raises(RunError, match="255 bytes"):
        preflight_writable(tmp_path / ("x" * 300) / "run", "--out")


def test_prepare_run_dir_failures_leave_no_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunError, match="--out"):
        prepare_run_dir("t", tmp_path / "f" / "run")
    with pytest.raises(RunError, match="--out"):
        prepare_run_dir("t", tmp_path / "new" / ("x" * 300))
    assert _listing(tmp_path) == ["f"]  # in particular no empty tmp_path/new


def test_prepare_run_dir_removes_what_it_created_when_mkdir_fails(tmp_path, monkeypatch):
    """A failure after some parents were made (disk full, say) removes those parents again."""
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if self.name == "leaf":
            raise OSError(28, "No space left on device")
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(RunError, match="No space left on device"):
        prepare_run_dir("t", tmp_path / "a" / "b" / "leaf")
    assert _listing(tmp_path) == []


def test_prepare_run_dir_default_and_existing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p1 = prepare_run_dir("sim")
    p2 = prepare_run_dir("sim")
    assert p1 != p2 and p1.is_dir() and p2.is_dir() and p1.parent == Path("runs")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_run_dir("t", empty) == empty
