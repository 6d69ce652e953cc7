"""Helpers shared by the benchmark scripts: timing, matmul peak, FLOP counting, page faults."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so scripts can import naive.py

aten = torch.ops.aten


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_once(fn: Callable[[], object], device: torch.device | str = "cpu") -> float:
    """Seconds for one call, with the device synchronised before and after."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    warmup: int,
    reps: int,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Warm every function up, then time them round-robin so drifts in machine load hit all
    of them alike. Returns the seconds of each repetition per name."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            times[name].append(time_once(fn, device))
    return times


def median_ms(ts: list[float]) -> float:
    return 1e3 * statistics.median(ts)


def matmul_peak_gflops(device: torch.device | str = "cpu", n: int = 1024, reps: int = 10) -> float:
    """Best-of fp32 GFLOP/s of an ``n x n`` by ``n x n`` product: the matmul peak step times are
    compared against."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    best = min(time_once(lambda: a @ b, device) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _raw(f):
    f._get_raw = True
    return f


@_raw
def _mm_flops(a, b, *, out_val=None, **kw):
    if a.layout == torch.sparse_csr:  # sparse x dense: one multiply-add per stored value and column
        return 2 * a._nnz() * b.shape[1]
    return 2 * a.shape[0] * a.shape[1] * b.shape[1]


@_raw
def _addmm_flops(bias, a, b, *args, out_val=None, **kw):
    return _mm_flops(a, b)


@_raw
def _baddbmm_flops(inp, b1, b2, *args, out_val=None, **kw):
    return 2 * b1.shape[0] * b1.shape[1] * b1.shape[2] * b2.shape[2]


@_raw
def _embedding_bag_flops(weight, indices, *args, out_val=None, **kw):
    return 2 * indices.numel() * weight.shape[1]


@_raw
def _sampled_addmm_flops(inp, m1, m2, *args, out_val=None, **kw):
    return 2 * inp._nnz() * m1.shape[1]


#: torch's FLOP formulas count a sparse CSR product as dense and skip gathers and in-place
#: products; these count the work actually done (multiply-adds of stored values)
CUSTOM_FLOPS = {
    aten.mm: _mm_flops,
    aten.addmm: _addmm_flops,
    aten.addmm_: _addmm_flops,
    aten.baddbmm_: _baddbmm_flops,
    aten._embedding_bag: _embedding_bag_flops,
    aten._embedding_bag_forward_only: _embedding_bag_flops,
    aten.sparse_sampled_addmm: _sampled_addmm_flops,
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call: matmuls (dense and sparse) and weighted gathers, forward and backward."""
    with FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as fc:
        fn()
    return fc.get_total_flops()


def page_faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
