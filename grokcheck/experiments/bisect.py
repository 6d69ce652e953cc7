"""D_crit per seed by bisection in log D' (Section 5.2's ungrokking runs, one seed at a time).

The paper gives no procedure for D_crit; it notes that "D_crit is affected by the random
initialisation" (Section 5.3). A fixed D' grid only brackets the 0.5 crossing of each seed's
converged test accuracy to within the grid's ratio. :func:`next_specs` narrows each bracket:
for every (task, weight decay, seed) whose converged runs cross 0.5 between neighbouring sizes
``lo < hi`` with ``hi / lo > factor``, it proposes one run at the geometric midpoint, started
from the same seed's pretrained network like every ungrokking run. Repeating until nothing is
proposed leaves each bracket within ``factor`` (about log2(ln(ratio) / ln(factor)) rounds).

The proposals are a pure function of the grid and the finished results, so an interrupted
bisection resumes: the same runs are proposed again and the finished ones are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from grokcheck.experiments.spec import RunRecord, RunSpec

#: the bracket each seed's D_crit is narrowed to (a factor in D')
DEFAULT_FACTOR = 1.15
#: runs that place a bracket: converged ones, and those at their step cap (on the memorising side
#: of the transition runs rarely converge within a laptop's budget; where they stand at the cap
#: still says on which side of 0.5 the seed is). The verdicts judge D_crit on converged runs
#: first and label a D_crit that needed runs at the cap (``predictions.all_verdicts``).
PLACED = ("converged", "max_steps")
#: bisection rounds at most (a grid ratio of 1.5 needs 2 rounds for 1.15; 8 handle a ratio of 1e30)
MAX_ROUNDS = 8


def _group(s: RunSpec) -> RunSpec:
    return replace(s, train_size=1)


def next_specs(specs: Sequence[RunSpec], records: Sequence[RunRecord], factor: float) -> list[RunSpec]:
    """The next round's runs: one midpoint per ungrokking bracket still wider than ``factor``."""
    if not factor > 1.0:
        raise ValueError(f"factor must exceed 1, got {factor}")
    done = {r.spec.key(): r for r in records}
    groups: dict[RunSpec, list[RunSpec]] = {}
    for s in specs:
        if s.kind == "ungrok":
            groups.setdefault(_group(s), []).append(s)
    out = []
    for members in groups.values():
        sizes = {s.train_size for s in members}
        acc = {}
        for s in members:
            r = done.get(s.key())
            if r is not None and r.stopped in PLACED and math.isfinite(r.test_acc):
                acc[s.train_size] = r.test_acc
        ds = sorted(acc)
        for lo, hi in reversed(list(zip(ds, ds[1:], strict=False))):  # the crossing nearest the top
            if acc[lo] < 0.5 <= acc[hi]:
                mid = round(math.sqrt(lo * hi))
                if hi / lo > factor and lo < mid < hi and mid not in sizes:
                    out.append(replace(members[0], train_size=mid))
                break
    return out
