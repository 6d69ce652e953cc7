"""Run folders: every run writes into its own folder, and nothing a user has is overwritten.

Layout (DESIGN.md): ``config.json``, metrics (CSV or JSON lines), ``summary.json``, PNG figures
and checkpoints, all written atomically (:mod:`grokcheck.records`).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from grokcheck.errors import RunError

DEFAULT_ROOT = Path("runs")


def prepare_run_dir(kind: str, out: str | Path | None = None, *, resume: bool = False) -> Path:
    """Return the folder a run should write into, creating it.

    - ``out`` given and ``resume``: the folder must exist (it holds the run to continue).
    - ``out`` given, no ``resume``: the folder must be new or empty, so an earlier run is never
      overwritten; a :class:`RunError` says what to do otherwise.
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
        path.mkdir(parents=True)
        return path
    path = Path(out)
    if resume:
        if not path.is_dir():
            raise RunError(f"--resume: no run folder at {path}")
        return path
    if path.exists() and not path.is_dir():
        raise RunError(f"--out {path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise RunError(
            f"--out {path} already holds files; pass --resume to continue that run or choose a new folder"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path
