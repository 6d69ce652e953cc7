"""Figures: every experiment's PNGs are written, also from an empty or partial table."""

from __future__ import annotations

import numpy as np
import pytest

from grokcheck.experiments import figures, grid
from tests.experiments.fakes import fake_record

PNG = b"\x89PNG\r\n\x1a\n"


def _records(name):
    return [fake_record(s) for s in grid.experiment_specs(name, "quick")]


@pytest.mark.parametrize(
    "name, files",
    [
        ("ungrok", {"figure4.png", "figure7.png", "figure10.png"}),
        ("tasks", {"figure8.png"}),
        ("semigrok", {"figure5.png", "figure6.png"}),
        ("efficiency", {"figure3.png"}),
    ],
)
def test_experiment_figures_are_pngs(tmp_path, name, files):
    recs = _records(name)
    if name == "tasks":
        recs = [r for r in recs if r.spec.task in ("sub", "mul")]
    paths = figures.experiment_figures(name, recs, tmp_path)
    assert {p.name for p in paths} == files
    assert all(p.read_bytes()[:8] == PNG for p in paths)


def test_empty_tables_still_draw(tmp_path):
    for name in grid.EXPERIMENTS:
        figures.experiment_figures(name, [], tmp_path)


def test_figure_10_draws_a_predicted_curve():
    fig = figures.figure_10(_records("ungrok"), predicted=lambda d: (d / 500.0) ** 3)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 1 and np.allclose(lines[0].get_ydata(), (lines[0].get_xdata() / 500.0) ** 3)
