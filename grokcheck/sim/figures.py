"""Figure 2's panels: losses on a log axis (left), logits and parameter norm (right), vs steps
on a linear axis (0-10 x 1e3, as in the paper).

Colours and order follow the paper's legend: train loss, test loss, gen logit, mem logit,
parameter norm. The losses are Appendix C's (cross-entropy plus L_wd, solid); the
cross-entropies alone are drawn thin and dashed in the same colours, so both definitions can
be compared with the paper's plot. matplotlib is imported inside the functions (Agg backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grokcheck.records import save_figure
from grokcheck.sim.dynamics import Trace
from grokcheck.sim.model import PANEL_TITLES

#: most points drawn per curve; longer traces are subsampled evenly (the curves are smooth)
MAX_POINTS = 2001

#: (label, Trace attribute, colour, axis, line style) in the order of Figure 2's legend, then
#: the cross-entropy parts
SERIES = (
    ("Train loss", "train_loss", "tab:blue", "loss", "-"),
    ("Test loss", "test_loss", "tab:orange", "loss", "-"),
    ("Gen logit", "w_gen", "tab:green", "right", "-"),
    ("Mem logit", "w_mem", "tab:red", "right", "-"),
    ("Parameter norm", "param_norm", "tab:purple", "right", "-"),
    ("Train x-ent", "train_xent", "tab:blue", "loss", "--"),
    ("Test x-ent", "test_xent", "tab:orange", "loss", "--"),
)


def _draw(ax, trace: Trace, title: str):
    """Draw one panel on ``ax``; return the lines and the twin axis (logits, norm)."""
    import numpy as np

    idx = np.unique(np.linspace(0, len(trace.step) - 1, min(len(trace.step), MAX_POINTS)).astype(int))
    right = ax.twinx()
    lines = []
    for label, attr, colour, side, style in SERIES:
        target = ax if side == "loss" else right
        (line,) = target.plot(
            trace.step[idx],
            getattr(trace, attr)[idx],
            color=colour,
            label=label,
            ls=style,
            lw=1.5 if style == "-" else 1.0,
        )
        lines.append(line)
    ax.set_yscale("log")
    ax.set_xlabel("Steps")
    ax.set_ylabel("Loss (solid: with L_wd; dashed: x-ent)")
    right.set_ylabel("Logit / parameter norm")
    ax.set_xlim(0, int(trace.step[-1]))
    ax.ticklabel_format(axis="x", style="sci", scilimits=(3, 3))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="major")
    return lines, right


def _new_figure(n: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 0.6, 3.8), squeeze=False)
    return plt, fig, list(axes[0])


def plot_panel(trace: Trace, panel: str, path: str | Path) -> None:
    """One panel as its own PNG, with the legend above it."""
    plt, fig, (ax,) = _new_figure(1)
    lines, _ = _draw(ax, trace, PANEL_TITLES.get(panel, panel))
    fig.legend(handles=lines, loc="upper center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, 1.14))
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_panels(traces: Sequence[Trace], panels: Sequence[str], path: str | Path) -> None:
    """Panels side by side (Figure 2's layout), shared axis ranges and one legend."""
    plt, fig, axes = _new_figure(len(traces))
    lines, twins = [], []
    for ax, trace, panel in zip(axes, traces, panels, strict=True):
        lines, right = _draw(ax, trace, PANEL_TITLES.get(panel, panel))
        twins.append(right)
    for group in (axes, twins):
        lo = min(a.get_ylim()[0] for a in group)
        hi = max(a.get_ylim()[1] for a in group)
        for a in group:
            a.set_ylim(lo, hi)
    fig.legend(handles=lines, loc="upper center", ncol=len(SERIES), fontsize=8, bbox_to_anchor=(0.5, 1.06))
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
