"""The experiments' verify rows (P1-P4, D_crit, ...): from finished experiment folders, or by
running the quick scale.

Like the theory, toy-model and transformer checks, :func:`checks` gives
:class:`grokcheck.verdicts.Check` rows: each prediction's verdict, named by its label and its
rule (:func:`titled`), so a prediction whose runs are missing shows as not run, never as a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError
from grokcheck.experiments.predictions import all_verdicts
from grokcheck.experiments.spec import RunRecord
from grokcheck.experiments.store import RESULTS, ExperimentStore
from grokcheck.runs import DEFAULT_ROOT
from grokcheck.verdicts import Check

#: the experiments ``verify --full`` runs (quick scale), in this order
FULL = ("efficiency", "ungrok", "semigrok", "hysteresis")
DEFAULT_FULL_DIR = DEFAULT_ROOT / "verify-full"
#: the subfolder of a ``verify --full`` folder that caches pretrained networks
CACHE = "cache"


#: how :func:`checks` gets its rows: run the quick scale, or read finished folders
MODES = ("run", "from")


def checks(
    quick: bool = True,
    *,
    mode: str,
    root: str | Path | None,
    runner: Any = None,
    progress: Callable[[str, Any], None] | None = None,
    on_experiment: Callable[[Any], None] | None = None,
    stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Check]:
    """The experiments' rows, as every pillar gives its ``checks``: ``mode="run"`` runs the
    quick scale into ``root`` (:func:`run_quick`, resuming what is there; ``quick`` picks no
    other scale), ``mode="from"`` reads the finished experiment folders under it. ``root`` is
    checked by :func:`preflight` (call it before any other work), not again here."""
    if mode == "run":
        return run_quick(
            root, runner=runner, progress=progress, on_experiment=on_experiment, stop=stop, warn=warn
        )
    if mode == "from":
        return rows_from_records(pooled_records(root, warn))
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def preflight(mode: str, root: str | Path | None) -> None:
    """Check, before any work, that ``root`` serves ``mode`` (an :class:`InputError` if not)."""
    if mode == "run":
        plan_quick(root)
    elif mode == "from":
        check_from_dir(root)
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def titled(v: Check) -> Check:
    """A prediction's verdict as a verify row: named by its label and its rule
    (``"P1: <claim>"``), as the other pillars' rows are named by what they check."""
    return replace(v, name=f"{v.name}: {v.claim}") if v.claim else v


def folders(root: str | Path) -> list[Path]:
    """Experiment folders at or under ``root`` (those holding a ``results/`` folder)."""
    root = Path(root)
    found = [root] if (root / RESULTS).is_dir() else []
    found += sorted(p.parent for p in root.rglob(RESULTS) if p.is_dir() and p.parent != root)
    return found


def pooled_records(root: str | Path, warn: Callable[[str], None] | None = None) -> list[RunRecord]:
    """Every valid result under ``root``, each run once; ``warn`` gets one line per file left out.

    A file is left out when it fails the result-file checks
    (:mod:`grokcheck.experiments.resultfile`) or holds a run already counted from another
    folder (the same key: a copied experiment folder must not double its runs).
    """
    seen: dict[str, Path] = {}
    out: list[RunRecord] = []
    for folder in folders(root):
        store = ExperimentStore(folder)
        records, problems = store.scan()
        for line in problems:
            if warn is not None:
                warn(line)
        for r in records:
            key = r.spec.key()
            if key in seen:
                if warn is not None:
                    warn(f"ignored {store.path(r.spec)}: the same run as {seen[key]} (counted once)")
                continue
            seen[key] = store.path(r.spec)
            out.append(r)
    return out


def rows_from_records(records: Sequence[RunRecord]) -> list[Check]:
    tasks = ["add"] + sorted({r.spec.task for r in records if r.spec.kind == "ungrok"} - {"add"})
    return [titled(v) for v in all_verdicts(records, tasks=tasks)]


def check_from_dir(root: str | Path | None) -> Path:
    """``root`` as ``verify --from`` needs it: a folder holding experiment folders (else InputError)."""
    if root is None or not Path(root).exists():
        raise InputError("from_dir", f"no such folder: {root}", flag="--from")
    if not Path(root).is_dir():
        raise InputError(
            "from_dir", f"{root} is a file; give the folder holding experiment folders", flag="--from"
        )
    if not folders(root):
        raise InputError("from_dir", f"no experiment folders (with results/) under {root}", flag="--from")
    return Path(root)


def from_dir(root: str | Path | None, warn: Callable[[str], None] | None = None) -> list[Check]:
    """P1-P4 and D_crit rows from every finished experiment folder under ``root`` (pooled);
    ``warn`` gets one line per result file left out (see :func:`pooled_records`)."""
    return rows_from_records(pooled_records(check_from_dir(root), warn))


def _quick_configs(root: Path, device: str = "cpu") -> list[Any]:
    from grokcheck.experiments.run import ExperimentConfig

    # the pretrained networks live inside the verification's folder, not in ./runs
    return [
        ExperimentConfig(name, "quick", out=root / name, device=device, cache_dir=root / CACHE)
        for name in FULL
    ]


def plan_quick(root: str | Path | None = None) -> None:
    """Check, before any work, that ``verify --full`` can write its experiments into ``root``."""
    from grokcheck.experiments.run import plan
    from grokcheck.runs import preflight_writable

    root = Path(root) if root is not None else DEFAULT_FULL_DIR
    preflight_writable(root, "--out")
    for cfg in _quick_configs(root):
        plan(cfg)


def run_quick(
    root: str | Path | None = None,
    *,
    runner: Any = None,
    progress: Callable[[str, Any], None] | None = None,
    device: str = "cpu",
    on_experiment: Callable[[Any], None] | None = None,
    stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Check]:
    """Run the quick scale of :data:`FULL` into ``root``/NAME (resuming), then :func:`from_dir`.

    ``on_experiment`` gets each experiment's :class:`~grokcheck.experiments.run.ExperimentStats`
    (wall time, runs finished and converged) when it has run. When ``stop`` fires, the
    experiment under way keeps what finished and the rest are not started.
    """
    import time

    from grokcheck.experiments.run import ExperimentStats, run_experiment

    root = Path(root) if root is not None else DEFAULT_FULL_DIR
    for cfg in _quick_configs(root, device):
        if stop is not None and stop():
            break
        cb = None if progress is None else (lambda ev, n=cfg.name: progress(n, ev))
        t0 = time.perf_counter()
        result = run_experiment(cfg, runner=runner, progress=cb, stop=stop, warn=warn)
        if on_experiment is not None:
            on_experiment(ExperimentStats.of(result, time.perf_counter() - t0))
    return rows_from_records(pooled_records(root, warn))
