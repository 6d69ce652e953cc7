"""The paper's figures from a results table (RunRecords, curves included), as PNGs.

Figure 3 (efficiency), 4 (ungrokking vs D'), 5 (semi-grokking curves), 6 (one semi-grokking run),
7 (ungrokking curves), 8 (ungrokking on other tasks), 10 (o_t/o_m vs D'). Each ``figure_N``
returns a matplotlib figure (Agg backend); :func:`experiment_figures` saves an experiment's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grokcheck.experiments.spec import RunRecord
from grokcheck.records import save_figure


def _log(ax, *, x: bool = True, y: bool = False) -> None:
    # log axes need positive data: an empty panel stays linear instead of raising
    lim = ax.dataLim
    if x and np.isfinite(lim.x1) and lim.x1 > 0:
        ax.set_xscale("log")
    if y and np.isfinite(lim.y1) and lim.y1 > 0:
        ax.set_yscale("log")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ungrok(records: Sequence[RunRecord], task: str | None = "add") -> list[RunRecord]:
    return [r for r in records if r.spec.kind == "ungrok" and (task is None or r.spec.task == task)]


def _acc_vs_size(ax: Any, recs: Sequence[RunRecord], title: str) -> None:
    cmap = _plt().get_cmap("viridis")
    wds = sorted({r.spec.weight_decay for r in recs})
    for i, wd in enumerate(wds):
        c = cmap(i / max(1, len(wds) - 1))
        sub = [r for r in recs if r.spec.weight_decay == wd]
        done = [r for r in sub if r.converged]
        capped = [r for r in sub if not r.converged]
        ax.scatter([r.spec.train_size for r in done], [r.test_acc for r in done], s=8, color=c, alpha=0.4)
        ax.scatter(
            [r.spec.train_size for r in capped], [r.test_acc for r in capped], s=14, color=c, marker="x"
        )
        ds = sorted({r.spec.train_size for r in sub})
        ax.plot(
            ds,
            [np.mean([r.test_acc for r in sub if r.spec.train_size == d]) for d in ds],
            color=c,
            label=f"wd {wd:g}",
        )
    _log(ax)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("reduced dataset size D'")
    ax.set_ylabel("final test accuracy")
    ax.set_title(title + _cap_note(recs))
    if wds:
        ax.legend(fontsize=7)


def _cap_note(recs: Sequence[RunRecord], marker: str = "x") -> str:
    """A title's second line saying how many runs stopped at their cap instead of converging."""
    n_cap = sum(not r.converged for r in recs)
    if not recs:
        return ""
    if not n_cap:
        return "\nall runs converged"
    return f"\n{n_cap} of {len(recs)} runs at the step cap, not converged ({marker})"


def figure_4(records: Sequence[RunRecord]) -> Any:
    """Test accuracy at convergence vs D', per weight decay (dots: seeds, line: mean)."""
    fig, ax = _plt().subplots(figsize=(5, 3.5))
    _acc_vs_size(ax, _ungrok(records), "Ungrokking (Figure 4)")
    return fig


def figure_8(records: Sequence[RunRecord]) -> Any:
    """Figure 4 for every task present, one panel each."""
    tasks = sorted({r.spec.task for r in _ungrok(records, None)})
    n = max(1, len(tasks))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = _plt().subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, t in zip(axes.flat, tasks, strict=False):
        _acc_vs_size(ax, _ungrok(records, t), t)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _curves(ax: Any, recs: Sequence[RunRecord], value: Callable[[RunRecord], float], label: str) -> None:
    plt = _plt()
    vals = [value(r) for r in recs]
    lo, hi = (min(vals), max(vals)) if vals else (0, 1)
    norm = plt.Normalize(lo, hi if hi > lo else lo + 1)
    cmap = plt.get_cmap("viridis")
    for r, v in zip(recs, vals, strict=False):
        pts = [c for c in r.curve if c.step > 0]
        ax.plot([c.step for c in pts], [c.test_acc for c in pts], color=cmap(norm(v)), lw=0.8, alpha=0.8)
    _log(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("test accuracy")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    ax.figure.colorbar(sm, ax=ax, label=label)


def figure_7(records: Sequence[RunRecord]) -> Any:
    """Test accuracy vs steps of every ungrokking run, coloured by D'."""
    fig, ax = _plt().subplots(figsize=(5, 3.5))
    _curves(ax, _ungrok(records), lambda r: r.spec.train_size, "D'")
    ax.set_title("Ungrokking curves (Figure 7)" + _cap_note(_ungrok(records)))
    return fig


def figure_5(records: Sequence[RunRecord]) -> Any:
    """Test accuracy vs steps of every semi-grokking run, coloured by final test accuracy."""
    fig, ax = _plt().subplots(figsize=(5, 3.5))
    scratch = [r for r in records if r.spec.kind == "scratch"]
    _curves(ax, scratch, lambda r: r.test_acc, "final test accuracy")
    ax.set_title("Semi-grokking (Figure 5)" + _cap_note(scratch))
    return fig


def figure_6(record: RunRecord) -> Any:
    """One run: losses, accuracies and parameter norm against steps."""
    fig, (a1, a2, a3) = _plt().subplots(3, 1, figsize=(5, 6), sharex=True)
    pts = [c for c in record.curve if c.step > 0]
    s = [c.step for c in pts]
    a1.plot(s, [c.train_loss for c in pts], label="train")
    a1.plot(s, [c.test_loss for c in pts], label="test")
    _log(a1, x=False, y=True)
    a1.set_ylabel("loss")
    a1.legend(fontsize=7)
    a2.plot(s, [c.train_acc for c in pts], label="train")
    a2.plot(s, [c.test_acc for c in pts], label="test")
    a2.set_ylabel("accuracy")
    a3.plot(s, [c.param_norm for c in pts])
    a3.set_ylabel("parameter norm")
    a3.set_xlabel("step")
    _log(a3)
    a1.set_title(f"D = {record.spec.train_size}, seed {record.spec.seed} (Figure 6)")
    return fig


def figure_10(
    records: Sequence[RunRecord], predicted: Callable[[np.ndarray], np.ndarray] | None = None
) -> Any:
    """o_t/o_m (train set) and test accuracy vs D'; ``predicted`` maps D' to a ratio drawn over it."""
    recs = [r for r in _ungrok(records) if r.o_t is not None and r.o_m not in (None, 0)]
    fig, (a1, a2) = _plt().subplots(1, 2, figsize=(9, 3.5))
    d = np.array([r.spec.train_size for r in recs], dtype=float)
    ratio = np.array([r.o_t / r.o_m for r in recs], dtype=float) if recs else np.array([])
    a1.scatter(d, np.abs(ratio), s=8)
    if predicted is not None and len(d):
        xs = np.geomspace(d.min(), d.max(), 50)
        a1.plot(xs, np.abs(predicted(xs)), color="k", lw=1, label="predicted")
        a1.legend(fontsize=7)
    _log(a1, y=True)
    a1.set_xlabel("D'")
    a1.set_ylabel("|o_t / o_m|")
    a2.scatter(d, [r.test_acc for r in recs], s=8)
    _log(a2)
    a2.set_xlabel("D'")
    a2.set_ylabel("test accuracy")
    fig.suptitle("Figure 10")
    fig.tight_layout()
    return fig


def figure_3(records: Sequence[RunRecord]) -> Any:
    """Figure 3 from the C_mem-only (random labels) and C_gen-only runs: correct logit against
    parameter norm coloured by D, and the isologit curves
    (:func:`grokcheck.transformer.analysis.circuit_plots.efficiency_figure`)."""
    from grokcheck.transformer.analysis.circuit_plots import efficiency_figure

    mem = [r for r in records if r.spec.kind == "random_labels" and r.correct_logit is not None]
    gen = [r for r in records if r.spec.kind == "scratch" and r.correct_logit is not None and r.gen_only]
    return efficiency_figure(
        {
            name: (
                [r.spec.train_size for r in recs],
                [r.correct_logit for r in recs],
                [r.param_norm for r in recs],
            )
            for name, recs in (("C_mem", mem), ("C_gen", gen))
        },
        title="Figure 3: efficiency of C_mem and C_gen against dataset size",
    )


def figure_hysteresis(records: Sequence[RunRecord]) -> Any:
    """Final test accuracy vs D from a grokked network and from scratch, one line per seed."""
    fig, ax = _plt().subplots(figsize=(5, 3.5))
    for kind, marker, label in (("ungrok", "o", "from grokked"), ("scratch", "s", "from scratch")):
        for seed in sorted({r.spec.seed for r in records}):
            sub = sorted(
                (r for r in records if r.spec.kind == kind and r.spec.seed == seed),
                key=lambda r: r.spec.train_size,
            )
            if not sub:
                continue
            ax.plot(
                [r.spec.train_size for r in sub], [r.test_acc for r in sub], marker=marker, lw=0.8,
                ls="-" if kind == "ungrok" else "--", label=f"{label}, seed {seed}",
                fillstyle="full" if all(r.converged for r in sub) else "none",
            )  # fmt: skip
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("train size D")
    ax.set_ylabel("final test accuracy")
    ax.set_title("Hysteresis near D_crit" + _cap_note(records, "hollow"))
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def experiment_figures(name: str, records: Sequence[RunRecord], out: Path) -> list[Path]:
    """Save the figures of experiment ``name`` under ``out``; returns their paths."""
    plt = _plt()
    figs: list[tuple[str, Any]] = []
    if name == "ungrok":
        figs = [
            ("figure4.png", figure_4(records)),
            ("figure7.png", figure_7(records)),
            ("figure10.png", figure_10(records)),
        ]
    elif name == "tasks":
        figs = [("figure8.png", figure_8(records))]
    elif name == "semigrok":
        figs = [("figure5.png", figure_5(records))]
        scratch = [r for r in records if r.spec.kind == "scratch" and r.curve]
        if scratch:
            pick = min(scratch, key=lambda r: abs(r.test_acc - 0.6))
            figs.append(("figure6.png", figure_6(pick)))
    elif name == "efficiency":
        figs = [("figure3.png", figure_3(records))]
    elif name == "hysteresis":
        figs = [("hysteresis.png", figure_hysteresis(records))]
    paths = []
    for fname, fig in figs:
        path = Path(out) / fname
        save_figure(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths
