"""Bisection of each seed's D_crit: proposals from a grid and results, down to the factor."""

from __future__ import annotations

import math

import pytest

from grokcheck.experiments.bisect import next_specs
from grokcheck.experiments.spec import RunRecord, RunSpec


def spec(d, seed=0, wd=1.0, kind="ungrok"):
    return RunSpec("ungrok", kind, "add", 31, d, wd, seed, 1000)


def rec(s, acc, converged=True):
    return RunRecord(s, 10, converged, "converged" if converged else "max_steps", 1.0, acc, 0.0, 0.0, 1.0)


def step_at(d_crit):
    return lambda d: float(d >= d_crit)


def bisect_to_the_end(sizes, acc_of, factor=1.15, seeds=(0,)):
    specs = [spec(d, s) for d in sizes for s in seeds]
    records = [rec(s, acc_of[s.seed](s.train_size)) for s in specs]
    rounds = 0
    while new := next_specs(specs, records, factor):
        rounds += 1
        specs += new
        records += [rec(s, acc_of[s.seed](s.train_size)) for s in new]
    return specs, records, rounds


def bracket(records, seed):
    acc = {r.spec.train_size: r.test_acc for r in records if r.spec.seed == seed}
    ds = sorted(acc)
    return next((lo, hi) for lo, hi in zip(ds, ds[1:], strict=False) if acc[lo] < 0.5 <= acc[hi])


@pytest.mark.parametrize("d_crit", [61, 100, 133, 250, 399])
def test_each_seed_ends_within_the_factor_around_its_own_crossing(d_crit):
    sizes = (60, 88, 128, 187, 274, 400)
    acc_of = {0: step_at(d_crit), 1: step_at(d_crit * 1.3)}
    _, records, rounds = bisect_to_the_end(sizes, acc_of, seeds=(0, 1))
    for seed, dc in ((0, d_crit), (1, d_crit * 1.3)):
        if dc > 400:
            continue
        lo, hi = bracket(records, seed)
        assert lo < dc <= hi and hi / lo <= 1.15
    assert rounds <= math.ceil(math.log2(math.log(1.47) / math.log(1.15))) + 1


def test_nothing_to_bisect():
    s = [spec(d) for d in (60, 120)]
    assert next_specs(s, [rec(s[0], 0.0), rec(s[1], 1.0)], 2.5) == []  # already within the factor
    assert next_specs(s, [rec(s[0], 1.0), rec(s[1], 1.0)], 1.15) == []  # no crossing in the grid
    # runs at their step cap place the bracket too; diverged ones do not
    assert len(next_specs(s, [rec(s[0], 0.0), rec(s[1], 1.0, converged=False)], 1.15)) == 1
    diverged = RunRecord(s[1], 10, False, "diverged", 1.0, 1.0, 0.0, 0.0, 1.0)
    assert next_specs(s, [rec(s[0], 0.0), diverged], 1.15) == []
    assert next_specs([spec(60, kind="scratch"), spec(120, kind="scratch")], [], 1.15) == []
    with pytest.raises(ValueError):
        next_specs(s, [], 1.0)


def test_midpoint_is_geometric_and_keeps_the_rest_of_the_spec():
    s = [spec(100, wd=0.5), spec(400, wd=0.5)]
    (new,) = next_specs(s, [rec(s[0], 0.1), rec(s[1], 0.9)], 1.15)
    assert new.train_size == 200 and new.weight_decay == 0.5 and new.kind == "ungrok"
    # the crossing nearest the top is the one narrowed
    s3 = [spec(d) for d in (50, 100, 200, 400)]
    (new,) = next_specs(s3, [rec(a, x) for a, x in zip(s3, (0.0, 0.6, 0.2, 1.0), strict=False)], 1.15)
    assert new.train_size == round(math.sqrt(200 * 400))
