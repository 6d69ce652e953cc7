"""Run folders: every run writes into its own folder, and nothing a user has is overwritten.

Layout: ``config.json``, metrics (CSV or JSON lines), ``summary.json``, PNG figures
and checkpoints, all written atomically (:mod:`grokcheck.records`).
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path

from grokcheck.errors import FolderError, RunError

DEFAULT_ROOT = Path("runs")


def prepare_run_dir(kind: str, out: str | Path | None = None, *, resume: bool = False) -> Path:
    """Return the folder a run should write into, creating it.

    - ``out`` given and ``resume``: the folder must exist (it holds the run to continue).
    - ``out`` given, no ``resume``: the folder must be new or empty, so an earlier run is never
      overwritten; a :class:`FolderError` (a usage error) says what to do otherwise.
    - ``out`` omitted: a fresh ``runs/<kind>-<timestamp>`` folder.
    """
    if out is None:
        if resume:
            raise RunError("--resume needs --out DIR naming the run to continue")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = DEFAULT_ROOT / f"{kind}-{stamp}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        preflight_writable(path, "--out")
        _make_dirs(path, "--out")
        return path
    path = Path(out)
    if resume:
        if path.exists() and not path.is_dir():
            raise FolderError(f"--out {path} is {_not_folder(path)}, not a run folder to resume")
        if not path.is_dir():
            raise RunError(f"--resume: no run folder at {path}")
        return path
    preflight_writable(path, "--out")  # also: a file in the way, a file above it
    if path.is_dir() and any(path.iterdir()):
        raise FolderError(
            f"--out {path} already holds files; pass --resume to continue that run or choose a new folder"
        )
    _make_dirs(path, "--out")
    return path


def preflight_writable(path: str | Path, flag: str) -> None:
    """Check, before any work, that a run folder could be created (or written) at ``path``.

    Probes the folder itself if it exists, else its nearest existing ancestor, by creating and
    removing a temporary folder there, so it leaves nothing behind. Raises :class:`FolderError`
    (usage) with one line naming ``flag`` if ``path`` or an ancestor is a file or a name is too
    long, and :class:`RunError` if nothing can be created there (permissions, a read-only file
    system).
    """
    path = Path(path)
    for part in path.parts:  # checked first: stat() itself fails on such names
        if len(os.fsencode(part)) > 255:
            raise FolderError(f"{flag} {path}: the name {part[:20]}... is longer than 255 bytes")
    probe_in = path
    while not probe_in.exists():
        if probe_in.is_symlink():  # a dangling link: mkdir would fail on it
            raise FolderError(f"{flag} {path}: {probe_in} is a broken symbolic link")
        parent = probe_in.parent
        if parent == probe_in:
            break
        probe_in = parent
    if probe_in.exists() and not probe_in.is_dir():
        what = (
            f"is {_not_folder(path)}, not a folder"
            if probe_in == path
            else f"is under {probe_in}, which is {_not_folder(probe_in)}"
        )
        raise FolderError(f"{flag} {path} {what}")
    try:
        tmp = tempfile.mkdtemp(prefix=".grokcheck-probe-", dir=probe_in)
        os.rmdir(tmp)
    except OSError as e:
        raise RunError(f"{flag} {path}: cannot create a folder in {probe_in}: {_reason(e)}") from None


def _make_dirs(path: Path, flag: str) -> None:
    """``mkdir -p path``; on failure remove every folder this call created, then raise RunError."""
    created: list[Path] = []
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for p in reversed(missing):
            p.mkdir()
            created.append(p)
    except FileExistsError:
        if not path.is_dir():
            _remove(created)
            raise FolderError(f"{flag} {path} is a file, not a folder") from None
    except OSError as e:
        _remove(created)
        raise RunError(f"{flag} {path}: cannot create the folder: {_reason(e)}") from None


def _not_folder(path: Path) -> str:
    return "a file" if path.is_file() else "a device or other special file"


def _remove(created: list[Path]) -> None:
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            pass


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__
