"""Mutation-testing companions for grokcheck/sim/figures.py: what is plotted (every series'
points, on which axis), the axis scales and ranges, titles, legend entries, and the files
written, checked on made traces whose values are known. The figure object is captured by
replacing ``save_figure`` in grokcheck.sim.figures (one test keeps the real one and reads the PNG).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from grokcheck.sim import figures  # noqa: E402
from grokcheck.sim.dynamics import Trace  # noqa: E402

#: (label, attribute, left axis?) in Figure 2's legend order, then the cross-entropies
EXPECTED = [
    ("Train loss", "train_loss", True),
    ("Test loss", "test_loss", True),
    ("Gen logit", "w_gen", False),
    ("Mem logit", "w_mem", False),
    ("Parameter norm", "param_norm", False),
    ("Train x-ent", "train_xent", True),
    ("Test x-ent", "test_xent", True),
]


def made(n: int, scale: float = 1.0) -> Trace:
    """Each series a distinct function of the step, so any mix-up shows."""
    t = np.arange(n, dtype=float)
    return Trace(
        step=np.arange(n),
        subweights=np.zeros((n, 4)),
        w_gen=scale * (0.001 * t),
        w_mem=scale * (5 + 0.0005 * t),
        train_loss=scale * (2.0 + np.cos(t)),
        test_loss=scale * (4.0 + 0.1 * np.sin(t)),
        train_xent=scale * (1.0 + 0.5 * np.cos(t)),
        test_xent=scale * (3.0 + t / (n + 1)),
        wd_loss=np.zeros(n),
        param_norm=scale * (1 + np.sqrt(t)),
    )


@pytest.fixture
def saved(monkeypatch):
    """Figures handed to save_figure, with their paths (nothing is rendered)."""
    out: list = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: out.append((fig, path)))
    return out


def check_panel(ax, right, trace: Trace, steps: np.ndarray, title: str) -> None:
    assert ax.get_yscale() == "log" and right.get_yscale() == "linear"
    assert ax.get_xscale() == "linear"
    assert ax.get_xlim() == (0.0, float(trace.step[-1]))
    assert ax.get_title() == title and ax.get_xlabel() == "Steps"
    assert ax.get_ylabel() == "Loss (solid: with L_wd; dashed: x-ent)"
    assert right.get_ylabel() == "Logit / parameter norm"
    left_lines = [(ln.get_label(), ln) for ln in ax.get_lines()]
    right_lines = [(ln.get_label(), ln) for ln in right.get_lines()]
    assert [lab for lab, _ in left_lines] == [lab for lab, _, left in EXPECTED if left]
    assert [lab for lab, _ in right_lines] == [lab for lab, _, left in EXPECTED if not left]
    for label, line in left_lines + right_lines:
        attr = next(a for lab, a, _ in EXPECTED if lab == label)
        np.testing.assert_array_equal(line.get_xdata(), steps)
        np.testing.assert_array_equal(line.get_ydata(), getattr(trace, attr)[steps])
        assert line.get_linestyle() == ("--" if "x-ent" in label else "-")


def test_plot_panel_draws_every_series_subsampled(saved, tmp_path):
    """4001 points: linspace(0, 4000, 2001) hits exactly the even steps 0, 2, ..., 4000."""
    t = made(4001)
    figures.plot_panel(t, "2b", tmp_path / "p.png")
    ((fig, path),) = saved
    assert path == tmp_path / "p.png"
    ax, right = fig.axes  # one panel and its twin, nothing else
    check_panel(ax, right, t, np.arange(0, 4001, 2), "(b) C_gen less efficient than C_mem")
    assert [x.get_text() for x in fig.legends[0].get_texts()] == [lab for lab, _, _ in EXPECTED]
    assert len(fig.legends) == 1
    assert not plt.fignum_exists(fig.number)  # closed after saving


def test_short_trace_draws_every_point_and_unknown_panel_titles_itself(saved, tmp_path):
    t = made(7)
    figures.plot_panel(t, "my run", tmp_path / "q.png")
    ((fig, _),) = saved
    ax, right = fig.axes
    check_panel(ax, right, t, np.arange(7), "my run")


def test_x_axis_in_thousands(saved, tmp_path):
    """Figure 2's step axis reads 0-10 with a x10^3 offset."""
    figures.plot_panel(made(10001), "2a", tmp_path / "r.png")
    ((fig, _),) = saved
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")  # rendered as save_figure does
    ax = fig.axes[0]
    # tick labels run 0 ... 10 (which ticks in between is the locator's choice, size-dependent)
    ticks = [float(x.get_text().replace("\u2212", "-")) for x in ax.get_xticklabels()]
    assert min(ticks) == 0 and max(ticks) == 10
    assert "3" in ax.xaxis.get_offset_text().get_text()  # 1e3 or x10^3, as rcParams choose


def test_plot_panels_share_ranges(saved, tmp_path):
    """Three panels whose data differ 100x in scale: each group (loss axes, twin axes) ends with
    one common y range that contains every panel's data."""
    traces = [made(401, 1.0), made(201, 100.0), made(301, 0.01)]
    figures.plot_panels(traces, ["2a", "2b", "2c"], tmp_path / "f.png")
    ((fig, path),) = saved
    assert path == tmp_path / "f.png" and len(fig.axes) == 6
    axes, twins = fig.axes[:3], fig.axes[3:]
    titles = [
        "(a) All three ingredients",
        "(b) C_gen less efficient than C_mem",
        "(c) C_gen and C_mem learned at equal speeds",
    ]
    for ax, right, t, title in zip(axes, twins, traces, titles, strict=True):
        check_panel(ax, right, t, np.arange(len(t.step)), title)
    for group, left in ((axes, True), (twins, False)):
        lims = {a.get_ylim() for a in group}
        assert len(lims) == 1
        ((lo, hi),) = lims
        data = np.concatenate([getattr(t, a) for t in traces for _, a, lft in EXPECTED if lft == left])
        assert lo <= data.min() and data.max() <= hi
        # no wider than the data needs (matplotlib's 5% margins, in log space on the left)
        if left:
            assert lo > data.min() / 2 and hi < data.max() * 2
        else:
            span = data.max() - data.min()
            assert lo > data.min() - 0.1 * span and hi < data.max() + 0.1 * span
    assert [x.get_text() for x in fig.legends[0].get_texts()] == [lab for lab, _, _ in EXPECTED]
    assert not plt.fignum_exists(fig.number)


def test_plot_panels_needs_one_name_per_trace(saved, tmp_path):
    with pytest.raises(ValueError):
        figures.plot_panels([made(5), made(5)], ["2a"], tmp_path / "g.png")


def test_png_is_written(tmp_path):
    figures.plot_panel(made(50), "2c", tmp_path / "sub" / "c.png")
    assert (tmp_path / "sub" / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
