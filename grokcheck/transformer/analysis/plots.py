"""Figures in the style of Figure 1: loss (log scale) above accuracy, against steps.

The x axes are the paper's: linear for grokking and semi-grokking (Figure 1a, 0-10 x 1e3
epochs; Figure 1c, 0-2 x 1e7), logarithmic for ungrokking (Figure 1b, "Note the log scale for
the x-axis"). With full-batch training one step is one epoch, so the x axis matches the
paper's "Epochs". Step 0 cannot sit on a log axis, so there the curves start at step 1 (one
update from the init); on a linear axis they start at step 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grokcheck.records import save_figure

TRAIN_COLOR, TEST_COLOR = "tab:blue", "tab:red"


def _series(
    rows: Sequence[dict[str, Any]], key: str, offset: int = 0, *, log_x: bool = True
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        if log_x and r["step"] + offset == 0 and len(rows) > 1:
            continue  # step 0 has no place on a log axis; step 1 shows the start
        if r.get(key) is not None:
            xs.append(max(r["step"] + offset, 1) if log_x else r["step"] + offset)
            ys.append(max(r[key], 1e-12) if key.endswith("loss") else r[key])
    return xs, ys


def _figure(*, log_x: bool):
    # A bare Figure (no pyplot): no GUI backend, no global figure list to clean up.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.6))
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax_loss.set_yscale("log")
    if log_x:
        ax_loss.set_xscale("log")
    else:  # as Figure 1a/1c: a linear axis with the power of ten in the corner
        ax_acc.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax_loss.set_ylabel("Loss")
    ax_acc.set_ylabel("Accuracy")
    ax_acc.set_ylim(-0.03, 1.03)
    ax_acc.set_xlabel("Steps (= epochs, full batch)")
    return fig, ax_loss, ax_acc


def plot_curves(
    rows: Sequence[dict[str, Any]], path: str | Path, *, title: str, result: Any | None = None
) -> None:
    """Figure 1a (and 1c): train and test loss and accuracy of one run, with its milestones
    marked, on a linear step axis as in the paper."""
    fig, ax_loss, ax_acc = _figure(log_x=False)
    for key, color, label in (("train", TRAIN_COLOR, "Train"), ("test", TEST_COLOR, "Test")):
        ax_loss.plot(*_series(rows, f"{key}_loss", log_x=False), color=color, label=label)
        ax_acc.plot(*_series(rows, f"{key}_acc", log_x=False), color=color, label=label)
    ax_loss.set_xlim(left=0)
    if result is not None:
        for step, style, label in (
            (result.step_train_100, ":", "train 100%"),
            (result.step_test_95, "--", "test 95%"),
        ):
            if step:
                ax_acc.axvline(step, color="gray", linestyle=style, linewidth=1, label=f"{label} @ {step}")
    ax_loss.legend(loc="best")
    ax_acc.legend(loc="lower right", fontsize="small")
    ax_loss.set_title(title)
    save_figure(fig, path)


def plot_ungrok(rows: Sequence[dict[str, Any]], path: str | Path, *, title: str) -> None:
    """Figure 1b: a grokked network trained on a reduced dataset (test = the complement).

    The x axis counts steps on the reduced dataset on a log scale, as in Figure 1b; the
    pretraining that came before is summarised in the title (its curves are in
    ``pretrain_metrics.jsonl``).
    """
    fig, ax_loss, ax_acc = _figure(log_x=True)
    for key, color, label in (
        ("train", TRAIN_COLOR, "Train (reduced dataset)"),
        ("test", TEST_COLOR, "Test (the rest)"),
    ):
        ax_loss.plot(*_series(rows, f"{key}_loss"), color=color, label=label)
        ax_acc.plot(*_series(rows, f"{key}_acc"), color=color, label=label)
    ax_acc.set_xlabel("Steps on the reduced dataset (= epochs, full batch)")
    ax_loss.legend(loc="best", fontsize="small")
    ax_loss.set_title(title, fontsize="medium")
    save_figure(fig, path)
