"""Figure 9 (C_trig and C_mem logits and parameter norm during a run) and Figure 3 (efficiency).

Figure 9: train and test loss on a log axis, and on a second axis the C_trig and C_mem correct
logits (Appendix B's ``o_t``, ``o_m``) with the parameter norm, against steps (= epochs, full
batch), for one run; below it, where recorded, Nanda et al.'s restricted and excluded loss.
Figure 3: for C_mem-only and C_gen-only runs at convergence, the correct logit against the
parameter norm coloured by dataset size D (a, c), and "isologit curves": logits bucketed
geometrically into six buckets (:func:`logit_buckets`, the buckets P1's verdict fits on too),
parameter norm against D per bucket (b, d).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grokcheck.records import save_figure

#: Figure 3: "we geometrically bucket logit values into six buckets"
N_BUCKETS = 6
TRIG_COLOR, MEM_COLOR, NORM_COLOR = "tab:green", "tab:purple", "black"


def plot_circuit_curves(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str,
    o_t_key: str = "o_t_train",
    o_m_key: str = "o_m_train",
    norm_key: str = "param_norm",
    restricted_key: str = "restricted_loss",
    excluded_key: str = "excluded_loss",
    chance: float | None = None,
) -> None:
    """Figure 9 for one run from its evaluation rows (dicts with ``step``, ``train_loss``,
    ``test_loss`` and the three keys named; rows without a value are skipped per curve).

    When the rows carry Nanda et al.'s progress measures (``restricted_key``, ``excluded_key``
    and their ``_test`` forms), a second panel shows them against the train and test loss on a
    log axis, with the chance loss ``log p`` as a dotted line when ``chance`` is given."""
    from matplotlib.figure import Figure

    progress = any(r.get(restricted_key) is not None or r.get(excluded_key) is not None for r in rows)
    fig = Figure(figsize=(7.0, 8.0), layout="constrained") if progress else Figure(figsize=(7.0, 4.2))
    axes = fig.subplots(2 if progress else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    right = ax.twinx()
    for key, color, label, axis in (
        ("train_loss", "tab:blue", "Train loss", ax),
        ("test_loss", "tab:red", "Test loss", ax),
        (o_t_key, TRIG_COLOR, "C_trig logit", right),
        (o_m_key, MEM_COLOR, "C_mem logit", right),
        (norm_key, NORM_COLOR, "Parameter norm", right),
    ):
        style = "--" if axis is right and key == norm_key else "-"
        _curve(axis, rows, key, style=style, color=color, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("Epochs (= steps, full batch)")
    ax.set_ylabel("Loss")
    right.set_ylabel("Correct logit / parameter norm")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="best", fontsize="small")
    ax.set_title(title, fontsize="medium")
    if progress:
        low = axes[1]
        for key, style, color, label in (
            ("train_loss", "-", "tab:blue", "Train loss"),
            ("test_loss", "-", "tab:red", "Test loss"),
            (restricted_key, "-", TRIG_COLOR, "Restricted loss (train)"),
            (restricted_key + "_test", ":", TRIG_COLOR, "Restricted loss (test)"),
            (excluded_key, "-", MEM_COLOR, "Excluded loss (train)"),
            (excluded_key + "_test", ":", MEM_COLOR, "Excluded loss (test)"),
        ):
            _curve(low, rows, key, style=style, color=color, label=label)
        if chance is not None:
            low.axhline(chance, color="grey", linestyle=":", linewidth=1, label="Chance (log p)")
        low.set_yscale("log")
        low.set_xlabel("Epochs (= steps, full batch)")
        low.set_ylabel("Loss")
        low.set_title(
            "Progress measures (Nanda et al., 2023): key frequencies kept / removed", fontsize="medium"
        )
        low.legend(loc="best", fontsize="small")
    save_figure(fig, path)


def _curve(axis, rows: Sequence[Mapping[str, Any]], key: str, **style) -> None:
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    if key.endswith("loss") or key.endswith("loss_test"):
        pts = [(s, max(v, 1e-12)) for s, v in pts]
    if pts:
        xs, ys = zip(*pts, strict=True)
        axis.plot(xs, ys, style.pop("style"), **style)


def logit_bucket_edges(logits: Any, n_buckets: int = N_BUCKETS) -> np.ndarray:
    """Figure 3's bucket edges: ``n_buckets + 1`` edges in geometric progression from the
    smallest to the largest positive logit (all equal when the logits are). ``ValueError``
    when no logit is positive."""
    lg = np.asarray(logits, dtype=float)
    lg = lg[lg > 0]
    if len(lg) == 0:
        raise ValueError("no positive logit to bucket")
    return np.geomspace(lg.min(), lg.max(), n_buckets + 1)


def logit_buckets(logits: Any, edges: np.ndarray) -> np.ndarray:
    """The bucket of each logit: ``b`` where ``edges[b] <= logit < edges[b + 1]``, the top
    bucket closed (the largest logit belongs to it); -1 for a logit that is not positive, not a
    number, or outside ``[edges[0], edges[-1]]``."""
    lg = np.atleast_1d(np.asarray(logits, dtype=float))
    which = np.minimum(np.searchsorted(edges, lg, side="right") - 1, len(edges) - 2)
    inside = (lg > 0) & (lg >= edges[0]) & (lg <= edges[-1])
    return np.where(inside, which, -1)


@dataclass(frozen=True)
class IsologitCurve:
    """One logit bucket ``[lo, hi)``: the mean parameter norm at each dataset size in it."""

    lo: float
    hi: float
    sizes: tuple[float, ...]
    mean_norms: tuple[float, ...]


def isologit_curves(
    D: Any, logit: Any, norm: Any, *, n_buckets: int = N_BUCKETS, edges: np.ndarray | None = None
) -> list[IsologitCurve]:
    """Figure 3b/3d: the runs bucketed by logit (:func:`logit_buckets`; ``edges`` default to
    :func:`logit_bucket_edges` of these logits) and, per bucket, the mean norm at each dataset
    size. Runs outside the buckets are left out; empty buckets give no curve."""
    d, lg, nm = (np.asarray(v, dtype=float) for v in (D, logit, norm))
    if edges is None:
        if not (lg > 0).any():
            return []
        edges = logit_bucket_edges(lg, n_buckets)
    which = logit_buckets(lg, edges)
    curves = []
    for b in range(len(edges) - 1):
        sel = which == b
        if not sel.any():
            continue
        sizes = np.unique(d[sel])
        means = [float(nm[sel & (d == s)].mean()) for s in sizes]
        curves.append(
            IsologitCurve(float(edges[b]), float(edges[b + 1]), tuple(map(float, sizes)), tuple(means))
        )
    return curves


def efficiency_figure(
    circuits: Mapping[str, tuple[Any, Any, Any]], *, title: str, n_buckets: int = N_BUCKETS
) -> Any:
    """Figure 3: one row per circuit (e.g. ``{"C_mem": (D, logit, norm), "C_gen": (...)}``),
    each run a point: correct logit against parameter norm coloured by D (3a, 3c), and the
    isologit curves, parameter norm against D per logit bucket (3b, 3d). The buckets span
    every circuit's logits, so a bucket is the same logit range in every row (as P1's fit
    uses them, :mod:`grokcheck.experiments.efficiency`). Log axes, as in the paper; a circuit
    without runs leaves its row empty."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    data = {name: tuple(np.asarray(v, dtype=float) for v in t) for name, t in circuits.items()}
    every = np.concatenate([lg for _, lg, _ in data.values()]) if data else np.array([])
    edges = logit_bucket_edges(every, n_buckets) if (every > 0).any() else None
    fig = Figure(figsize=(9.0, 3.6 * max(1, len(data))), layout="constrained")
    axes = fig.subplots(max(1, len(data)), 2, squeeze=False)
    for (name, (d, lg, nm)), (ax_s, ax_i) in zip(data.items(), axes, strict=False):
        ax_s.set_title(f"{name}: scatter", fontsize="medium")
        ax_i.set_title(f"{name}: isologit curves", fontsize="medium")
        ax_s.set_xlabel("Parameter norm")
        ax_s.set_ylabel("Correct logit")
        ax_i.set_xlabel("Dataset size")
        ax_i.set_ylabel("Parameter norm")
        keep = (lg > 0) & (nm > 0) & (d > 0)
        if not keep.any() or edges is None:
            continue
        d, lg, nm = d[keep], lg[keep], nm[keep]
        colours = LogNorm(d.min(), d.max()) if d.min() < d.max() else None
        sc = ax_s.scatter(nm, lg, c=d, cmap="viridis", norm=colours, s=14)
        fig.colorbar(sc, ax=ax_s, label="Dataset size")
        for c in isologit_curves(d, lg, nm, edges=edges):
            ax_i.plot(c.sizes, c.mean_norms, "o-", markersize=3, label=f"logit {c.lo:.3g}-{c.hi:.3g}")
        for ax in (ax_s, ax_i):
            _log_axes(ax)
        ax_i.legend(fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    return fig


def _log_axes(ax: Any) -> None:
    # log axes labelled in plain numbers: the ranges here span less than a decade, where the
    # default labels (1.8 x 10^1, ...) crowd each other
    from matplotlib.ticker import FormatStrFormatter

    for axis, scale in ((ax.xaxis, ax.set_xscale), (ax.yaxis, ax.set_yscale)):
        scale("log")
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(FormatStrFormatter("%g"))
