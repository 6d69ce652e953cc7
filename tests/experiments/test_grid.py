"""Grids: the paper's stated numbers, overrides, bad input, and chunks that cover every run once."""

from __future__ import annotations

import math

import pytest

from grokcheck.errors import InputError
from grokcheck.experiments import grid


def test_paper_ungrok_grid_contains_figure7_sizes():
    (sw,) = grid.sweeps("ungrok", "paper")
    r = (1494 / 390) ** (1 / 6)
    fig7 = [round(390 * r**k) for k in range(7)]
    assert fig7[0] == 390 and fig7[-1] == 1494
    assert set(fig7) <= set(sw.sizes) and max(sw.sizes) < 10_000 < max(sw.sizes) * r
    assert sw.weight_decays == (0.1, 0.5, 1.0, 1.5, 2.0) and len(sw.seeds) == 10 and sw.p == 113
    ratios = [b / a for a, b in zip(sw.sizes, sw.sizes[1:], strict=False)]
    assert all(math.isclose(x, r, rel_tol=0.01) for x in ratios)


def test_paper_semigrok_grid():
    (sw,) = grid.sweeps("semigrok", "paper")
    assert len(sw.sizes) == 20 and sw.sizes[0] == 1500 and sw.sizes[-1] == 2050
    steps = {b - a for a, b in zip(sw.sizes, sw.sizes[1:], strict=False)}
    assert steps <= {28, 29, 30} and sw.weight_decays == (1.0,) and len(sw.seeds) == 10


def test_specs_are_the_full_product_and_unique():
    specs = grid.experiment_specs("efficiency", "quick")
    blocks = grid.sweeps("efficiency", "quick")
    n = sum(len(b.sizes) * len(b.weight_decays) * len(b.seeds) * len(b.tasks) for b in blocks)
    assert len(specs) == n == len({s.key() for s in specs})
    assert {s.kind for s in specs} == {"random_labels", "scratch"}


def test_tasks_experiment_has_nine_tasks():
    specs = grid.experiment_specs("tasks", "quick")
    assert {s.task for s in specs} == set(grid.OTHER_TASKS) and len(grid.OTHER_TASKS) == 9


def test_overrides_apply():
    o = grid.GridOverrides(p=23, sizes=(50, 100), weight_decays=(1.0,), seeds=(3,), max_steps=77)
    specs = grid.experiment_specs("ungrok", "quick", o)
    assert [(s.p, s.train_size, s.weight_decay, s.seed, s.max_steps) for s in specs] == [
        (23, 50, 1.0, 3, 77),
        (23, 100, 1.0, 3, 77),
    ]


@pytest.mark.parametrize(
    "o, flag",
    [
        (grid.GridOverrides(p=23, sizes=(529,)), "--sizes"),  # 23^2 = 529: no test set left
        (grid.GridOverrides(sizes=(10, 10)), "--sizes"),
        (grid.GridOverrides(weight_decays=(-1.0,)), "--weight-decays"),
        (grid.GridOverrides(max_steps=0), "--max-steps"),
        (grid.GridOverrides(tasks=("nope",)), "--task"),
        (grid.GridOverrides(p=1), "--p"),
        (grid.GridOverrides(seeds=()), "--seeds"),
    ],
)
def test_bad_overrides(o, flag):
    with pytest.raises(InputError) as e:
        grid.experiment_specs("ungrok", "quick", o)
    assert e.value.flag == flag


def test_unknown_names():
    with pytest.raises(InputError):
        grid.experiment_specs("nope")
    with pytest.raises(InputError):
        grid.experiment_specs("ungrok", "huge")


@pytest.mark.parametrize("k", [1, 3, 7, 100])
def test_chunks_cover_each_run_once_with_neighbouring_sizes(k):
    specs = grid.experiment_specs("efficiency", "quick")
    cs = grid.chunks(specs, k)
    flat = [s for c in cs for s in c]
    assert sorted(s.key() for s in flat) == sorted(s.key() for s in specs)
    assert all(1 <= len(c) <= k for c in cs)
    for c in cs:
        assert len({(s.kind, s.task, s.p, s.max_steps) for s in c}) == 1
        assert [s.train_size for s in c] == sorted(s.train_size for s in c)
    with pytest.raises(InputError):
        grid.chunks(specs, 0)
