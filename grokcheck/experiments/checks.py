"""Verify rows for P1-P4 and D_crit: from finished experiment folders, or by running the quick scale.

Every row is a :class:`grokcheck.verify.Check` carrying its verdict's status, so a prediction
whose runs are missing shows as not run, never as a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError
from grokcheck.experiments.predictions import Verdict, all_verdicts
from grokcheck.experiments.spec import RunRecord
from grokcheck.experiments.store import RESULTS, ExperimentStore
from grokcheck.verify import Check

#: the experiments ``verify --full`` runs (quick scale), in this order
FULL = ("efficiency", "ungrok", "semigrok", "hysteresis")
DEFAULT_FULL_DIR = Path("runs") / "verify-full"


def as_check(v: Verdict) -> Check:
    return Check(
        name=f"{v.name}: {v.claim}" if v.claim else v.name,
        source=v.source,
        figure=v.figure,
        holds=v.holds,
        detail=v.claim,
        status=v.status,
    )


def folders(root: str | Path) -> list[Path]:
    """Experiment folders at or under ``root`` (those holding a ``results/`` folder)."""
    root = Path(root)
    found = [root] if (root / RESULTS).is_dir() else []
    found += sorted(p.parent for p in root.rglob(RESULTS) if p.is_dir() and p.parent != root)
    return found


def pooled_records(root: str | Path) -> list[RunRecord]:
    return [r for f in folders(root) for r in ExperimentStore(f).records()]


def rows_from_records(records: Sequence[RunRecord]) -> list[Check]:
    tasks = ["add"] + sorted({r.spec.task for r in records if r.spec.kind == "ungrok"} - {"add"})
    return [as_check(v) for v in all_verdicts(records, tasks=tasks)]


def from_dir(root: str | Path | None) -> list[Check]:
    """P1-P4 and D_crit rows from every finished experiment folder under ``root`` (pooled)."""
    if root is None or not Path(root).is_dir():
        raise InputError("from_dir", f"no such folder: {root}", flag="--from")
    if not folders(root):
        raise InputError("from_dir", f"no experiment folders (with results/) under {root}", flag="--from")
    return rows_from_records(pooled_records(root))


def run_quick(
    root: str | Path | None = None,
    *,
    runner: Any = None,
    progress: Callable[[str, Any], None] | None = None,
    device: str = "cpu",
    on_experiment: Callable[[Any], None] | None = None,
) -> list[Check]:
    """Run the quick scale of :data:`FULL` into ``root``/NAME (resuming), then :func:`from_dir`.

    ``on_experiment`` gets each experiment's :class:`~grokcheck.experiments.run.ExperimentStats`
    (wall time, runs finished and converged) when it has run.
    """
    import time

    from grokcheck.experiments.run import ExperimentConfig, ExperimentStats, run_experiment

    root = Path(root) if root is not None else DEFAULT_FULL_DIR
    for name in FULL:
        cb = None if progress is None else (lambda ev, n=name: progress(n, ev))
        t0 = time.perf_counter()
        result = run_experiment(
            ExperimentConfig(name, "quick", out=root / name, device=device), runner=runner, progress=cb
        )
        if on_experiment is not None:
            on_experiment(ExperimentStats.of(result, time.perf_counter() - t0))
    return from_dir(root)
