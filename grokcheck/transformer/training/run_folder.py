"""A training run's folder on resume and on failure: what may change, the records, stale files.

Used by the phase driver (:mod:`~grokcheck.transformer.training.phase`) and by the runs made of
phases, :mod:`~grokcheck.transformer.training.train` and :mod:`~grokcheck.transformer.training.ungrok`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError, RunError
from grokcheck.records import atomic_write_json, atomic_write_text, dumps, to_jsonable
from grokcheck.transformer.training.checkpoint import resumable_checkpoint
from grokcheck.transformer.training.metrics import BUDGET_REASONS, Row, Track

#: config fields that may change when a run is resumed (they only move where it stops)
RESUMABLE_CHANGES = (
    "steps",
    "max_steps",
    "hold_steps",
    "ungrok_steps",
    "ungrok_max_steps",
    "checkpoint_every_s",
)


#: the kinds of run a ``grokcheck train`` folder holds; ``config.json`` says which under "kind"
RUN_KINDS = ("train", "ungrok")


def write_run_config(out: Path, kind: str, cfg: Any) -> None:
    """``config.json``: the run's kind (one of :data:`RUN_KINDS`) and every config field."""
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    atomic_write_json(out / "config.json", {"kind": kind, **to_jsonable(cfg)})


def split_kind(saved: Mapping[str, Any], where: Any) -> tuple[str, dict[str, Any]]:
    """A saved ``config.json`` (as a dict) -> (its run kind, the config's fields).

    Raises:
        RunError: the file does not say which kind of run it is.
    """
    fields = dict(saved)
    kind = fields.pop("kind", None)
    if kind not in RUN_KINDS:
        raise RunError(f"{where} does not say which kind of run it holds (kind: train or ungrok)")
    return kind, fields


def check_resumable(out: Path | None) -> None:
    """Before resuming the run in folder ``out``: it must be given, holds no temp file a killed
    write left behind, and a finished run there still has its checkpoint
    (:func:`~grokcheck.transformer.training.checkpoint.resumable_checkpoint`)."""
    if out is None:
        raise InputError("out", "resume needs the run folder")
    remove_stale_temp_files(out)
    resumable_checkpoint(out)


def reopen(track: Track, step: int, budget: int) -> None:
    """On resume: a run that stopped at its step budget continues when the budget grew; a budget
    below the step already reached is refused (the records could not agree with it)."""
    if budget < step:
        raise InputError("steps", f"the run being resumed is already at step {step}; give a budget >= {step}")
    if track.stopped in BUDGET_REASONS and budget > step:
        track.stopped = track.stop_step = None


def divergence_message(optim: Any, step: int | None, checkpoint: Path | None) -> str:
    """The one message for a phase whose loss or parameters stopped being finite at ``step``:
    what to lower (``optim``'s learning rate and weight decay) and whether ``checkpoint``, the
    phase's last good checkpoint, is there to keep (``None``: the phase saves none)."""
    where = ""
    if checkpoint is not None:
        where = (
            f"; the last good checkpoint ({checkpoint.name}) is kept in {checkpoint.parent}"
            if checkpoint.is_file()
            else "; it diverged before its first checkpoint"
        )
    return (
        f"training diverged at step {step} (non-finite loss or parameters); "
        f"lower the learning rate ({optim.lr:g}) or the weight decay ({optim.weight_decay:g}){where}"
    )


def remove_stale_temp_files(out: Path) -> None:
    """Temp files an atomic write left behind when its process was killed mid-write."""
    for tmp in out.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def check_same_config(cfg: Any, saved: dict[str, Any], path: Path) -> None:
    """On resume every config field must match the saved one, except :data:`RESUMABLE_CHANGES`."""
    now = to_jsonable(cfg)
    for key, value in now.items():
        if key in RESUMABLE_CHANGES:
            continue
        if key not in saved or saved[key] != value:
            raise InputError(
                key,
                f"differs from the run being resumed in {path.parent} "
                f"({saved.get(key)!r} there, {value!r} now)",
            )


def row_dicts(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Evaluation rows as JSON-able dicts (what ``metrics.jsonl`` holds and the plots read)."""
    return [r.to_dict() for r in rows]


def write_metrics(path: Path, track: Track) -> None:
    """All evaluation rows so far as JSON lines (readable with ``pandas.read_json(lines=True)``)."""
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in row_dicts(track.rows)))
