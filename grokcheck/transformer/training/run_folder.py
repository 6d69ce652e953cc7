"""A training run's folder on resume and on failure: what may change, the records, stale files.

Shared by :mod:`~grokcheck.transformer.training.train`, :mod:`~grokcheck.transformer.training.ungrok` and
:mod:`~grokcheck.transformer.training.pretrain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError, RunError
from grokcheck.records import atomic_write_json, atomic_write_text, dumps, to_jsonable
from grokcheck.transformer.training.metrics import Track

#: config fields that may change when a run is resumed (they only move where it stops)
RESUMABLE_CHANGES = ("steps", "max_steps", "hold_steps", "ungrok_max_steps", "checkpoint_every_s")


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


def reopen(track: Track, step: int, budget: int) -> None:
    """On resume: a run that stopped at its step budget continues when the budget grew; a budget
    below the step already reached is refused (the records could not agree with it)."""
    if budget < step:
        raise InputError("steps", f"the run being resumed is already at step {step}; give a budget >= {step}")
    if track.stopped in ("steps", "max_steps") and budget > step:
        track.stopped = track.stop_step = None


def divergence_message(cfg: Any, track: Track, out: Path | None) -> str:
    where = ""
    if out is not None:
        ckpt = next(
            (f for f in sorted(out.glob("*checkpoint.pt")) if f.name != "pretrain_checkpoint.pt"), None
        )
        where = (
            f"; the last good checkpoint ({ckpt.name}) is kept in {out}"
            if ckpt is not None
            else "; it diverged before its first checkpoint"
        )
    return (
        f"training diverged at step {track.stop_step} (non-finite loss or parameters); "
        f"lower the learning rate ({cfg.lr:g}) or the weight decay ({cfg.weight_decay:g}){where}"
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


def track_rows(track: Track) -> list[dict[str, Any]]:
    return [r.to_dict() for r in track.rows]


def write_metrics(path: Path, track: Track) -> None:
    """All evaluation rows so far as JSON lines (readable with ``pandas.read_json(lines=True)``)."""
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in track_rows(track)))
