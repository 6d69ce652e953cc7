"""Appendix B's measurements and Nanda et al.'s progress measures of a saved run: its network
and the data it was trained on.

The run's config is rebuilt from its checkpoint (:func:`grokcheck.configs.from_jsonable`) and
asked for its own split (``TrainConfig.train_split`` / ``UngrokConfig.train_split``), so the
data a run trained on is decided in one place, random labels included. :func:`circuits_of_run`
is what ``grokcheck circuits`` reports: both readings, the dominant circuit under each, and the
network's kappa with Theorem D.4's case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from grokcheck.configs import from_jsonable
from grokcheck.errors import RunError
from grokcheck.transformer.analysis import progress_measures
from grokcheck.transformer.analysis.circuits import CircuitMetrics, check_task, measure_state
from grokcheck.transformer.analysis.dominance import Dominance, dominance_of
from grokcheck.transformer.model import tasks
from grokcheck.transformer.training.checkpoint import load_checkpoint

T = TypeVar("T")


@dataclass(frozen=True)
class RunCircuits:
    """One saved network's circuits (Appendix B), progress measures, dominant circuit and kappa.

    ``kappa`` is ``None`` where the network has none (e.g. a train margin that is not positive
    at every scale, as in an untrained network); ``kappa_error`` then says why, and ``d4_case``
    (Theorem D.4: 1 if kappa >= q = 2, else 2) is ``None`` too.
    """

    circuits: CircuitMetrics
    progress: progress_measures.ProgressMeasures
    dominance: Dominance
    kappa: float | None
    kappa_homogeneous: bool | None
    d4_case: int | None
    kappa_error: str | None

    def to_json(self) -> dict[str, Any]:
        """The circuit fields at the top level; the progress measures and dominance under their keys."""
        from grokcheck.records import to_jsonable

        return {
            **to_jsonable(self.circuits),
            "kappa": self.kappa,
            "kappa_homogeneous": self.kappa_homogeneous,
            "d4_case": self.d4_case,
            "kappa_error": self.kappa_error,
            "progress": self.progress.as_dict(),
            "dominance": self.dominance.as_dict(),
        }


def circuits_of_run(run_dir, *, checkpoint=None, device: str = "auto") -> RunCircuits:
    """Everything ``grokcheck circuits`` reports of the network saved in a run folder.

    Args:
        run_dir: a run folder of ``grokcheck train``; its checkpoint is ``run_dir/checkpoint.pt``
            unless ``checkpoint`` names another file.
        device: ``auto``, ``cpu`` or ``cuda``.

    Raises:
        RunError: a missing or corrupt checkpoint. InputError: a run of another task, or CUDA
            without a GPU.
    """
    from grokcheck.transformer.analysis.kappa import kappa_of_state, theorem_case
    from grokcheck.transformer.model.runtime import resolve_device

    dev = resolve_device(device)
    path, ckpt = _load(run_dir, checkpoint)
    sp, labels = run_split(ckpt["kind"], ckpt["config"])
    state = ckpt["model"]
    m = _on_state(path, lambda: measure_state(state, sp, train_labels=labels, device=dev))
    pm = _on_state(path, lambda: progress_measures.measure_state(state, sp, train_labels=labels, device=dev))
    try:
        tokens = sp.dataset.tokens[sp.train_idx]
        k = _on_state(path, lambda: kappa_of_state(state, tokens, labels, device=dev))
        kappa, homogeneous, why = k.kappa, k.homogeneous, None
    except RunError as e:  # e.g. a margin that is not positive: an untrained network has no kappa
        kappa, homogeneous, why = None, None, str(e)
    case = theorem_case(kappa) if kappa is not None and kappa > 0 else None
    return RunCircuits(m, pm, dominance_of(m, pm), kappa, homogeneous, case, why)


def run_split(kind: str, config: Mapping) -> tuple[tasks.Split, torch.Tensor]:
    """The train split and train labels of a saved ``grokcheck train`` run (grokking, random
    labels or ungrokking: the reduced subset), from its kind and saved config (as stored in
    its checkpoint).

    Raises:
        InputError: the run is not of modular addition. RunError: not a run config.
    """
    from grokcheck.transformer.training.train import TrainConfig
    from grokcheck.transformer.training.ungrok import UngrokConfig

    cls = UngrokConfig if kind == "ungrok" else TrainConfig
    try:
        cfg = from_jsonable(cls, config)
    except (TypeError, ValueError) as e:
        raise RunError(f"the run's config cannot be read ({' '.join(str(e).split())[:120]})") from None
    check_task(cfg.task)
    return cfg.train_split()


def _load(run_dir, checkpoint) -> tuple[Path, Mapping]:
    path = Path(checkpoint) if checkpoint is not None else Path(run_dir) / "checkpoint.pt"
    ckpt = load_checkpoint(path, kind=("train", "ungrok"))
    if not isinstance(ckpt["config"], Mapping) or not isinstance(ckpt["model"], Mapping):
        raise RunError(f"checkpoint {path} has no config or model state")
    return path, ckpt


def _on_state(path: Path, measure: Callable[[], T]) -> T:
    """``measure()`` of a checkpoint's state; a state that is not the reference model's is a RunError."""
    try:
        return measure()
    except (KeyError, RuntimeError, IndexError) as e:
        reason = " ".join(str(e).split())[:120]
        raise RunError(f"checkpoint {path} does not hold a reference-model state ({reason})") from None
