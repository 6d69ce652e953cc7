"""Where and how the transformer runs: device, CPU threads, dtypes, process-wide settings.

Everything process-wide is applied by an explicit call (:func:`configure`), never as a side
effect of building a model or a forward function: the training entry points call it once.
"""

from __future__ import annotations

import ctypes
import ctypes.util

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

    On CPU: glibc's allocator keeps freed buffers (:func:`tune_malloc`;
    it changes speed, never a result) and, when ``threads`` is given, torch uses that many
    threads (results are bit-reproducible for a fixed thread count). TF32 stays off on CUDA
    unless a caller opts in around its matmuls (:func:`grokcheck.transformer.model.engine.matmul_precision`).
    """
    if device.type == "cpu":
        tune_malloc()
    if threads is not None:
        torch.set_num_threads(threads)


#: glibc ``mallopt`` settings close to the GLIBC_TUNABLES that, set before start, removed the
#: per-step page faults on a 2-core CPU (mmap_threshold=32 MiB, trim_threshold=4 GiB,
#: top_pad=256 MiB; mallopt takes an int, so the trim threshold is 2 GiB),
#: plus mmap_max=0: glibc caps the mmap threshold at 32 MiB, and an ensemble group's buffers
#: (e.g. 32 members x 800 examples x 640 floats, 65 MB) above it were mmap'd and page-faulted
#: in at every step (~25k faults per step); with mmap_max=0 every block comes from the heap.
#: Keys: M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_MAX = -4.
_MALLOPT = {-3: 32 * 2**20, -1: 2**31 - 1, -2: 256 * 2**20, -4: 0}
_malloc_tuned: bool | None = None


def tune_malloc() -> bool:
    """Keep freed memory in glibc's heap so each step's buffers reuse already-mapped pages.

    With glibc's defaults every step's multi-megabyte buffers are returned to the OS and
    page-faulted back in (measured on a 2-core CPU: ~5000 page faults and 8-11 ms of system time
    per step); blocks above 32 MiB (glibc's largest mmap threshold) would still be, so mmap is off.
    ``mallopt`` sets at run time what the ``GLIBC_TUNABLES`` environment variable sets at start,
    so no re-exec is needed. It changes only the allocator's speed and the process's resident
    memory (freed memory is kept for reuse instead of being returned), never a result.
    Process-wide and idempotent; returns whether it applied (false where libc is not glibc).
    """
    global _malloc_tuned
    if _malloc_tuned is None:
        _malloc_tuned = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        _malloc_tuned = all(mallopt(k, v) == 1 for k, v in _MALLOPT.items())
    return _malloc_tuned
