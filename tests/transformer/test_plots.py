"""Figure 1-style plots use the paper's x axes: linear for grokking, log for ungrokking."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("matplotlib")

from grokcheck.transformer.analysis import plots  # noqa: E402

ROWS = [
    {"step": s, "train_loss": 4.0 / (s + 1), "test_loss": 5.0, "train_acc": min(1.0, s / 50), "test_acc": 0.1}
    for s in range(0, 1001, 10)
]


@pytest.fixture
def saved(monkeypatch):
    figs = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figs.append(fig))
    return figs


def test_grokking_curves_have_a_linear_step_axis_from_zero(saved, tmp_path):
    plots.plot_curves(
        ROWS, tmp_path / "c.png", title="t", result=SimpleNamespace(step_train_100=50, step_test_95=None)
    )
    ax_loss, ax_acc = saved[0].axes
    assert ax_loss.get_xscale() == "linear" and ax_acc.get_xscale() == "linear"
    assert ax_loss.get_yscale() == "log" and ax_loss.get_xlim()[0] == 0
    assert ax_loss.lines[0].get_xdata()[0] == 0  # step 0 is drawn


def test_ungrokking_curves_have_a_log_step_axis(saved, tmp_path):
    plots.plot_ungrok(ROWS, tmp_path / "u.png", title="t")
    ax_loss, _ = saved[0].axes
    assert ax_loss.get_xscale() == "log" and ax_loss.lines[0].get_xdata()[0] == 10  # step 0 left out
