"""Appendix B's measurements and Nanda et al.'s progress measures of a saved run: its network
and the data it was trained on.

The run's config is rebuilt from its checkpoint (:func:`grokcheck.configs.from_jsonable`) and
asked for its own split (``TrainConfig.train_split`` / ``UngrokConfig.train_split``), so the
data a run trained on is decided in one place, random labels included.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from grokcheck.configs import from_jsonable
from grokcheck.errors import RunError
from grokcheck.transformer.analysis import progress_measures
from grokcheck.transformer.model import tasks
from grokcheck.transformer.training.checkpoint import load_checkpoint
from grokcheck.transformer.analysis.circuits import CircuitMetrics, check_task, measure_state


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


def kappa_of_run(run_dir, *, checkpoint=None, device: torch.device | str = "cpu"):
    """The saved network's kappa (:func:`grokcheck.transformer.analysis.kappa.kappa_of_state`) on the
    train set and the labels it was trained on: Theorem D.4's case follows from it."""
    from grokcheck.transformer.analysis.kappa import kappa_of_state

    path, ckpt = _load(run_dir, checkpoint)
    sp, labels = run_split(ckpt["kind"], ckpt["config"])
    try:
        return kappa_of_state(ckpt["model"], sp.dataset.tokens[sp.train_idx], labels, device=device)
    except (KeyError, RuntimeError, IndexError) as e:
        reason = " ".join(str(e).split())[:120]
        raise RunError(f"checkpoint {path} does not hold a reference-model state ({reason})") from None


def measure_run(run_dir, *, checkpoint=None, device: torch.device | str = "cpu") -> CircuitMetrics:
    """Appendix B for the network saved in a run folder (``grokcheck train --out DIR``).

    Args:
        run_dir: the run folder; its checkpoint is ``run_dir/checkpoint.pt`` unless ``checkpoint``
            names another file. The split is rebuilt from the checkpoint's own config.

    Raises:
        RunError: a missing or corrupt checkpoint. InputError: a run of another task.
    """
    path, ckpt = _load(run_dir, checkpoint)
    sp, labels = run_split(ckpt["kind"], ckpt["config"])
    try:
        return measure_state(ckpt["model"], sp, train_labels=labels, device=device)
    except (KeyError, RuntimeError, IndexError) as e:
        reason = " ".join(str(e).split())[:120]
        raise RunError(f"checkpoint {path} does not hold a reference-model state ({reason})") from None


def progress_of_run(
    run_dir, *, checkpoint=None, device: torch.device | str = "cpu"
) -> progress_measures.ProgressMeasures:
    """Nanda et al.'s progress measures (:mod:`grokcheck.transformer.analysis.progress_measures`) for the
    network saved in a run folder, with the key frequencies read from its W_E; as :func:`measure_run`.

    Raises:
        RunError: a missing or corrupt checkpoint. InputError: a run of another task.
    """
    path, ckpt = _load(run_dir, checkpoint)
    sp, labels = run_split(ckpt["kind"], ckpt["config"])
    try:
        return progress_measures.measure_state(ckpt["model"], sp, train_labels=labels, device=device)
    except (KeyError, RuntimeError, IndexError) as e:
        reason = " ".join(str(e).split())[:120]
        raise RunError(f"checkpoint {path} does not hold a reference-model state ({reason})") from None
