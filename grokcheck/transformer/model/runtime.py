"""Where and how the transformer runs: device, CPU threads, dtypes, process-wide settings.

Everything process-wide is applied by an explicit call (:func:`configure`), never as a side
effect of building a model or a forward function: the training entry points call it once.
"""

from __future__ import annotations

import torch

from grokcheck.errors import InputError
from grokcheck.transformer.model import choices

LOSS_DTYPES = {name: getattr(torch, name) for name in choices.LOSS_DTYPES}
PARAM_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` = CUDA when available, else CPU. Asking for CUDA without one is an input error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("device", "CUDA is not available on this machine; use --device cpu or auto")
        return torch.device("cuda")
    if device == "cpu":
        return torch.device("cpu")
    raise InputError("device", f"must be auto, cpu or cuda, got {device!r}")


def configure(device: torch.device, *, threads: int | None = None) -> None:
    """Process-wide settings for training on ``device``.

    On CPU: glibc's allocator keeps freed buffers (:func:`grokcheck.transformer.model.engine.tune_malloc`;
    it changes speed, never a result) and, when ``threads`` is given, torch uses that many
    threads (results are bit-reproducible for a fixed thread count). TF32 stays off on CUDA
    unless a caller opts in around its matmuls (:func:`grokcheck.transformer.model.engine.matmul_precision`).
    """
    from grokcheck.transformer.model import engine

    if device.type == "cpu":
        engine.tune_malloc()
    if threads is not None:
        torch.set_num_threads(threads)
