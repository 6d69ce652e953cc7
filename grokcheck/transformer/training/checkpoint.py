"""Checkpoints: one ``torch.save``'d dict per file, written atomically, validated on load.

A checkpoint holds everything needed to continue a run exactly: the config (as JSON-able
data), the model's and the optimizer's state, the step, the metrics so far, the milestone
tracker and torch's RNG state. Loading checks the format tag and the expected keys, and turns
every failure (missing file, truncated or foreign file, wrong kind) into a one-line
:class:`RunError` naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from grokcheck.errors import RunError
from grokcheck.records import atomic_write_bytes

FORMAT = "grokcheck-transformer-checkpoint"
VERSION = 1
#: keys every checkpoint has, whatever its kind
REQUIRED = ("format", "version", "kind", "config", "model", "step")


def save_checkpoint(path: str | Path, payload: dict[str, Any], *, kind: str) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically.

    Args:
        path: destination file; its folder is created.
        payload: must contain ``config``, ``model`` (a state dict) and ``step``.
        kind: what the file is (``"train"``, ``"pretrain"``, ``"ungrok"``); checked on load.
    """
    data = {"format": FORMAT, "version": VERSION, "kind": kind, **payload}
    buf = io.BytesIO()
    torch.save(data, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, *, kind: str | tuple[str, ...]) -> dict[str, Any]:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Tensors are loaded on CPU with ``weights_only=True`` (no arbitrary code runs).

    Raises:
        RunError: the file is missing, unreadable, not a grokcheck checkpoint, of another
            ``kind`` or from an unknown format version.
    """
    path = Path(path)
    kinds = (kind,) if isinstance(kind, str) else kind
    if path.exists() and not path.is_file():
        raise RunError(f"checkpoint {path} is a folder or special file, not a checkpoint")
    if not path.is_file():
        raise RunError(f"checkpoint {path} not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types (and long messages) for truncated or foreign files
        raise RunError(
            f"checkpoint {path} is corrupt or not a grokcheck checkpoint (torch cannot read it)"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RunError(f"checkpoint {path} is not a grokcheck transformer checkpoint")
    if data.get("version") != VERSION:
        raise RunError(
            f"checkpoint {path} has format version {data.get('version')!r}; "
            f"this grokcheck reads version {VERSION}"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise RunError(f"checkpoint {path} is incomplete (missing {', '.join(missing)})")
    if data["kind"] not in kinds:
        raise RunError(f"checkpoint {path} holds a {data['kind']!r} run, expected {' or '.join(kinds)}")
    return data


# --- what a checkpoint holds, and reading a run folder back -------------------------------


def resumable_checkpoint(out: Path, name: str = "checkpoint.pt") -> Path | None:
    """The checkpoint a ``--resume`` of run folder ``out`` continues from, or ``None`` when the
    run was killed before its first checkpoint (then it starts again).

    Raises :class:`RunError` when ``out/name`` is not a file, and when the run had finished
    (``summary.json`` is there) but its checkpoint is gone: starting again would replace a
    finished run's metrics and summary.
    """
    path = out / name
    if path.exists() and not path.is_file():
        raise RunError(f"checkpoint {path} is a folder or special file, not a checkpoint")
    if path.is_file():
        return path
    if (out / "summary.json").exists():
        raise RunError(
            f"{out} holds a finished run but its {name} is missing, so it cannot be resumed; "
            "its files are left as they are"
        )
    return None


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor detached and on CPU (state dicts, nested lists and dicts)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    return obj


def single_payload(
    config: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer, tracks: list[Any], step: int
) -> dict[str, Any]:
    """A one-model run's checkpoint: config, model and optimizer states, step, tracks, RNG."""
    from grokcheck.records import to_jsonable

    return {
        "config": to_jsonable(config),
        "model": to_cpu(model.state_dict()),
        "optimizer": to_cpu(optimizer.state_dict()),
        "step": step,
        "tracks": [t.to_dict() for t in tracks],
        "rng": torch.get_rng_state(),
    }


def restore_single(
    ckpt: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
) -> list[Any]:
    """Load a :func:`single_payload` into ``model`` (and ``optimizer``); return its tracks."""
    from grokcheck.transformer.training.metrics import Track

    try:
        model.load_state_dict(ckpt["model"])
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
        tracks = [Track.from_dict(t) for t in ckpt.get("tracks", [])]
        if "rng" in ckpt:
            torch.set_rng_state(ckpt["rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        reason = " ".join(str(e).split())[:120]
        raise RunError(f"checkpoint does not fit this model or run ({reason})") from None
    return tracks


def read_saved_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder, as a dict; one-line :class:`RunError` otherwise."""
    import json

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RunError(f"no run to continue in {run_dir} ({path.name} not found)")
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"cannot read {path} ({' '.join(str(e).split())})") from None
    if not isinstance(saved, dict):
        raise RunError(f"{path} is not a run config")
    return saved
