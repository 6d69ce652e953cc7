"""Figures in the style of Figure 1: loss (log scale) above accuracy, steps on a log axis.

With full-batch training one step is one epoch, so the x axis matches the paper's "Epochs".
Step 0 cannot sit on a log axis, so curves start at step 1 (one update from the init).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grokcheck.records import save_figure

TRAIN_COLOR, TEST_COLOR = "tab:blue", "tab:red"


def _series(rows: Sequence[dict[str, Any]], key: str, offset: int = 0) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        if r["step"] + offset == 0 and len(rows) > 1:
            continue  # step 0 has no place on a log axis; step 1 shows the start
        if r.get(key) is not None:
            xs.append(max(r["step"] + offset, 1))
            ys.append(max(r[key], 1e-12) if key.endswith("loss") else r[key])
    return xs, ys


def _figure():
    # A bare Figure (no pyplot): no GUI backend, no global figure list to clean up.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.6))
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax_loss.set_yscale("log")
    ax_loss.set_xscale("log")
    ax_loss.set_ylabel("Loss")
    ax_acc.set_ylabel("Accuracy")
    ax_acc.set_ylim(-0.03, 1.03)
    ax_acc.set_xlabel("Steps (= epochs, full batch)")
    return fig, ax_loss, ax_acc


def plot_curves(
    rows: Sequence[dict[str, Any]], path: str | Path, *, title: str, result: Any | None = None
) -> None:
    """Figure 1a: train and test loss and accuracy of one run, with its milestones marked."""
    fig, ax_loss, ax_acc = _figure()
    for key, color, label in (("train", TRAIN_COLOR, "Train"), ("test", TEST_COLOR, "Test")):
        ax_loss.plot(*_series(rows, f"{key}_loss"), color=color, label=label)
        ax_acc.plot(*_series(rows, f"{key}_acc"), color=color, label=label)
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

    The x axis counts steps on the reduced dataset, as in Figure 1b; the pretraining that came
    before is summarised in the title (its curves are in ``pretrain_metrics.jsonl``).
    """
    fig, ax_loss, ax_acc = _figure()
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
