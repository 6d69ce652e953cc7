"""Prediction P1 (Section 5.1, Figure 3) and D_crit predicted from efficiency, as pure functions
of a results table.

C_mem-only runs (random labels) and C_gen-only runs (scratch at large D, ``gen_only``) are
bucketed geometrically by correct logit into :data:`N_BUCKETS` buckets spanning both circuits'
logits (:func:`grokcheck.transformer.analysis.circuit_plots.logit_buckets`, the buckets Figure
3 draws); per circuit, ordinary
least squares of ``norm = a_bucket + slope * ln D`` (one offset per bucket, one pooled slope).
C_mem passes if the slope's 95% interval lies above 0; C_gen if its interval includes 0 or
``|slope|`` < :data:`FLAT_TOL`. D_crit predicted: per bucket holding both circuits, the D where
C_mem's fitted norm reaches C_gen's mean norm; the geometric mean over buckets, with a 95%
interval from a bootstrap over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grokcheck.experiments.verdict import Table, ok, rows_of, verdict
from grokcheck.transformer.analysis.circuit_plots import (  # noqa: F401  (N_BUCKETS: P1's, re-exported)
    N_BUCKETS,
    logit_bucket_edges,
    logit_buckets,
)
from grokcheck.verdicts import Check

FLAT_TOL = 0.5
N_BOOT = 200


@dataclass(frozen=True)
class SlopeFit:
    slope: float
    lo: float  # 95% interval
    hi: float
    offsets: dict[int, float]  # bucket -> a_bucket
    n: int


def fit_isologit(points: Sequence[tuple[int, float, float]]) -> SlopeFit | None:
    """OLS of ``norm = a_bucket + slope * ln D`` over (bucket, D, norm) points.

    ``None`` when the slope is not identified (no bucket with two distinct D) or there are no
    residual degrees of freedom.
    """
    from scipy import stats

    buckets = sorted({b for b, _, _ in points})
    identified = any(len({d for bb, d, _ in points if bb == b}) > 1 for b in buckets)
    n, k = len(points), len(buckets) + 1
    if not identified or n <= k:
        return None
    X = np.zeros((n, k))
    y = np.empty(n)
    for i, (b, d, norm) in enumerate(points):
        X[i, buckets.index(b)] = 1.0
        X[i, -1] = math.log(d)
        y[i] = norm
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    s2 = float(resid @ resid) / (n - k)
    cov = s2 * np.linalg.pinv(X.T @ X)
    se = math.sqrt(max(cov[-1, -1], 0.0))
    t = float(stats.t.ppf(0.975, n - k))
    slope = float(beta[-1])
    return SlopeFit(
        slope, slope - t * se, slope + t * se, {b: float(beta[i]) for i, b in enumerate(buckets)}, n
    )


def _circuits(rows: list[dict[str, Any]]) -> tuple[list[dict], list[dict], dict[str, int]]:
    """C_mem-only and C_gen-only runs usable for Figure 3, and counts of those left out."""
    mem_all = [r for r in rows if r.get("kind") == "random_labels" and r.get("task") == "add"]
    gen_all = [
        r
        for r in rows
        if r.get("kind") == "scratch" and r.get("task") == "add" and r.get("experiment") == "efficiency"
    ]

    def usable(r: dict) -> bool:
        return (
            bool(r.get("converged"))
            and ok(r.get("correct_logit"))
            and ok(r.get("param_norm"))
            and r["correct_logit"] > 0
        )

    def gen_only(r: dict) -> bool:
        if r.get("gen_only") is not None:
            return bool(r["gen_only"])
        return ok(r.get("trig_fraction")) and r["trig_fraction"] > 0.95

    mem = [r for r in mem_all if usable(r)]
    gen = [r for r in gen_all if usable(r) and gen_only(r)]
    left = {
        "c_mem_not_converged": sum(not r.get("converged") for r in mem_all),
        "c_gen_not_converged": sum(not r.get("converged") for r in gen_all),
        "c_gen_not_gen_only": sum(bool(r.get("converged")) and not gen_only(r) for r in gen_all),
    }
    return mem, gen, left


def _buckets(runs: list[dict], edges: np.ndarray) -> list[int]:
    return [int(b) for b in logit_buckets([r["correct_logit"] for r in runs], edges)]


def _points(runs: list[dict], edges: np.ndarray) -> list[tuple[int, float, float]]:
    return [
        (b, float(r["train_size"]), float(r["param_norm"]))
        for b, r in zip(_buckets(runs, edges), runs, strict=True)
        if b >= 0
    ]


def p1_efficiency(table: Table) -> Check:
    """P1: C_mem's isologit norm rises with D, C_gen's is flat (Figure 3)."""
    mem, gen, left = _circuits(rows_of(table))
    src, claim = "Figure 3, Section 5.1", "C_mem's norm at fixed logit rises with D; C_gen's is flat"
    if len(mem) < 3 or len(gen) < 3:
        return verdict(
            "P1",
            "not_run",
            f"{len(mem)} C_mem and {len(gen)} C_gen usable runs (need 3 each)",
            src,
            claim,
            dict(left),
        )
    edges = logit_bucket_edges([r["correct_logit"] for r in mem + gen])
    fm, fg = fit_isologit(_points(mem, edges)), fit_isologit(_points(gen, edges))
    details: dict[str, Any] = {
        **left,
        "n_c_mem": len(mem),
        "n_c_gen": len(gen),
        "bucket_edges": [float(e) for e in edges],
    }
    if fm is None or fg is None:
        which = " and ".join(n for n, f in (("C_mem", fm), ("C_gen", fg)) if f is None)
        return verdict(
            "P1",
            "not_run",
            f"{which}: slope not identified (need 2 sizes in a logit bucket)",
            src,
            claim,
            details,
        )
    mem_rises = fm.lo > 0
    gen_flat = fg.lo <= 0 <= fg.hi or abs(fg.slope) < FLAT_TOL
    details.update(
        c_mem_slope=[fm.slope, fm.lo, fm.hi],
        c_gen_slope=[fg.slope, fg.lo, fg.hi],
        c_mem_rises=mem_rises,
        c_gen_flat=gen_flat,
    )
    fig = (
        f"d norm/d ln D: C_mem {fm.slope:.3g} [{fm.lo:.3g}, {fm.hi:.3g}], "
        f"C_gen {fg.slope:.3g} [{fg.lo:.3g}, {fg.hi:.3g}]"
    )
    return verdict("P1", "pass" if mem_rises and gen_flat else "fail", fig, src, claim, details)


def _crossing(mem: list[dict], gen: list[dict], edges: np.ndarray) -> float | None:
    fm = fit_isologit(_points(mem, edges))
    if fm is None or not fm.slope > 0:
        return None
    logs = []
    gen_buckets = _buckets(gen, edges)
    for b, a in fm.offsets.items():
        gn = [r["param_norm"] for r, g in zip(gen, gen_buckets, strict=True) if g == b]
        if gn:
            logs.append((float(np.mean(gn)) - a) / fm.slope)
    return math.exp(float(np.mean(logs))) if logs else None


def dcrit_predicted(
    table: Table, *, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float | None, float, float]:
    """D_crit predicted from efficiency, with a 95% bootstrap interval over seeds (NaN if none)."""
    mem, gen, _ = _circuits(rows_of(table))
    if len(mem) < 3 or not gen:
        return None, math.nan, math.nan
    edges = logit_bucket_edges([r["correct_logit"] for r in mem + gen])
    est = _crossing(mem, gen, edges)
    if est is None:
        return None, math.nan, math.nan
    seeds = sorted({r["seed"] for r in mem + gen})
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = rng.choice(seeds, size=len(seeds), replace=True)
        m = [r for s in pick for r in mem if r["seed"] == s]
        g = [r for s in pick for r in gen if r["seed"] == s]
        c = _crossing(m, g, edges) if m and g else None
        if c is not None:
            boots.append(c)
    if len(boots) < 10:
        return est, math.nan, math.nan
    return est, float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))
