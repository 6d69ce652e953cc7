"""P2 and P3 (Section 5.2, Figures 4, 7, 8): ungrokking as a function of D', and D_crit per seed.

Pure functions of a results table (rows as :meth:`RunRecord.row` makes them, or the records).
The ungrokking runs of the ``hysteresis`` experiment are left out: they have their own row
(:mod:`grokcheck.experiments.hysteresis`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grokcheck.experiments.convcheck import ACC_TOL
from grokcheck.experiments.verdict import Table, ok, rows_of, verdict
from grokcheck.verdicts import Check

#: "very strong" and "near-random" test accuracy (Section 4.2's words for the two sides of P2).
#: The paper gives no numbers; Figure 4's curves run from ~1 down to below 0.1 and Figure 7's
#: from near 1 to near 0, so 0.9 and 0.2 are generous readings of both words.
HIGH, LOW = 0.9, 0.2
#: the widest fall that still counts as "sharp": Figure 7 shows the whole transition, near 0 to
#: near 1, over 7 sizes in [390, 1494], a factor 1494 / 390 = 3.83 in D'; rounded up to 4.
SHARP_FACTOR = 4.0
#: Figure 7's grid step, (1494 / 390)^(1/6) = 1.251: the finest resolution in D' the paper shows
FIG7_STEP = (1494 / 390) ** (1 / 6)
#: P3, D_crit form: D_crit per weight decay may differ by two of Figure 7's grid steps
#: (1.251^2 = 1.57, rounded down to 1.5); a larger shift would separate Figure 4's curves by
#: more than the paper's own resolution, where Figure 4 shows them on top of each other.
WD_FACTOR = 1.5
#: P3, accuracy form: two converged runs of one state differ by up to the convergence check's
#: 0.05 each (docs/predictions.md), so weight decays may differ by 2 x 0.05 at any D', or by
#: the spread that seeds alone give at that D' where that is larger ("D_crit is affected by the
#: random initialisation", Section 5.3).
ACC_WD_TOL = 2 * ACC_TOL


@dataclass(frozen=True)
class Transition:
    weight_decay: float
    sizes: tuple[int, ...]
    mean_acc: tuple[float, ...]
    d_lo: int | None  # largest D' at and below which mean <= LOW
    d_hi: int | None  # smallest D' at and above which mean >= HIGH
    d_crit: float | None  # mean crosses 0.5 (ln-interpolated)
    sharp: bool


def crossing(sizes: Sequence[int], accs: Sequence[float]) -> tuple[int, int, float] | None:
    """The 0.5 crossing nearest the top of an accuracy-vs-D' curve (sizes ascending).

    Returns ``(lo, hi, d)``: the neighbouring sizes with ``acc(lo) < 0.5 <= acc(hi)`` and the
    crossing interpolated linearly in ln D'; ``None`` when the curve never crosses upwards.
    """
    for i in reversed(range(len(sizes) - 1)):
        a0, a1 = accs[i], accs[i + 1]
        if a0 < 0.5 <= a1:
            f = (0.5 - a0) / (a1 - a0)
            d = math.exp(math.log(sizes[i]) + f * (math.log(sizes[i + 1]) - math.log(sizes[i])))
            return int(sizes[i]), int(sizes[i + 1]), d
    return None


def transition(sizes: Sequence[int], accs: Sequence[float], weight_decay: float = math.nan) -> Transition:
    """Where a mean-accuracy-vs-D' curve falls (one mean per size, any order)."""
    order = np.argsort(sizes)
    d = [int(sizes[i]) for i in order]
    a = [float(accs[i]) for i in order]
    d_lo = d_hi = None
    for i in range(len(d)):
        if all(x <= LOW for x in a[: i + 1]):
            d_lo = d[i]
    for i in reversed(range(len(d))):
        if all(x >= HIGH for x in a[i:]):
            d_hi = d[i]
    cr = crossing(d, a)
    sharp = d_lo is not None and d_hi is not None and d_lo < d_hi and d_hi / d_lo <= SHARP_FACTOR * 1.01
    return Transition(weight_decay, tuple(d), tuple(a), d_lo, d_hi, None if cr is None else cr[2], sharp)


def _all_ungrok_rows(table: Table, task: str) -> list[dict]:
    # the hysteresis experiment's runs from the grokked network are judged in their own row
    return [
        r
        for r in rows_of(table)
        if r.get("kind") == "ungrok" and r.get("task") == task and r.get("experiment") != "hysteresis"
    ]


def _ungrok_rows(table: Table, task: str) -> tuple[list[dict], int]:
    rows = _all_ungrok_rows(table, task)
    used = [r for r in rows if r.get("converged") and ok(r.get("test_acc"))]
    return used, len(rows) - len(used)


def _by(rows: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return dict(sorted(out.items()))


def transitions(table: Table, task: str = "add") -> tuple[list[Transition], int]:
    """One :class:`Transition` per weight decay of the task's ungrokking runs, and the runs left out.

    Only sizes that every seed of the weight decay ran enter the mean, so sizes added for one
    seed (the bisection of :func:`dcrit_per_seed`) do not bias the curve.
    """
    used, left = _ungrok_rows(table, task)
    out = []
    for (wd,), rs in _by(used, "weight_decay").items():
        seeds = {r["seed"] for r in rs}
        by_d: dict[int, list[float]] = {}
        for (d,), at in _by(rs, "train_size").items():
            if {r["seed"] for r in at} == seeds:
                by_d[int(d)] = [float(r["test_acc"]) for r in at]
        ds = sorted(by_d)
        out.append(transition(ds, [float(np.mean(by_d[x])) for x in ds], wd))
    return out, left


def _tag(task: str) -> str:
    return "" if task == "add" else f" [{task}]"


def _src(task: str) -> str:
    return "Figure 4, Section 5.2" if task == "add" else "Figure 8"


def p2_ungrokking(table: Table, task: str = "add") -> Check:
    """P2: "a sharp transition from very strong to near-random test accuracy (around D_crit)".

    Per weight decay with 3+ sizes: PASS when the mean test accuracy is >= HIGH at and above
    D_hi, <= LOW at and below D_lo and D_hi / D_lo <= SHARP_FACTOR. A flat curve, or a fall
    spread over more than Figure 7's factor in D', fails. A curve that is not sharp only where
    grid sizes are missing because their runs did not converge (below D_hi, or anywhere when
    there is no D_hi) is undecided, not refuted: the row is not run unless another weight
    decay fails.
    """
    trs, left = transitions(table, task)
    trs = [t for t in trs if len(t.sizes) >= 3]
    unconverged = _unconverged_sizes(table, task)
    claim = (
        f"test acc falls from >= {HIGH} to <= {LOW} within a factor {SHARP_FACTOR:g} in D' (Figure 7's span)"
    )
    if not trs:
        return verdict(
            "P2" + _tag(task),
            "not_run",
            "no weight decay with 3 converged D' sizes",
            _src(task),
            claim,
            {"not_converged": left},
        )

    def missing(t: Transition) -> list[int]:
        """Grid sizes without every seed converged that could move D_lo or D_hi."""
        if t.sharp:
            return []
        top = math.inf if t.d_hi is None else t.d_hi
        return sorted(d for d in unconverged.get(t.weight_decay, ()) if d < top)

    undecided = {t.weight_decay: m for t in trs if (m := missing(t))}

    def part(t: Transition) -> str:
        if t.weight_decay in undecided:
            sizes = ", ".join(map(str, undecided[t.weight_decay]))
            return f"wd {t.weight_decay:g}: undecided, D' = {sizes} not converged"
        if t.sharp:
            return f"wd {t.weight_decay:g}: {t.d_lo}->{t.d_hi} (x{t.d_hi / t.d_lo:.2f})"
        if t.d_lo is None or t.d_hi is None:
            return f"wd {t.weight_decay:g}: no fall from >= {HIGH} to <= {LOW} in the grid"
        return f"wd {t.weight_decay:g}: {t.d_lo}->{t.d_hi} (x{t.d_hi / t.d_lo:.2f}, too wide)"

    details = {
        "not_converged": left,
        "per_weight_decay": [
            {
                "weight_decay": t.weight_decay,
                "d_lo": t.d_lo,
                "d_hi": t.d_hi,
                "d_crit": t.d_crit,
                "sharp": t.sharp,
                "sizes": list(t.sizes),
                "mean_acc": list(t.mean_acc),
            }
            for t in trs
        ],
    }
    if all(t.sharp for t in trs):
        status = "pass"
    elif any(not t.sharp and t.weight_decay not in undecided for t in trs):
        status = "fail"
    else:
        status = "not_run"
    details["undecided"] = {str(wd): sizes for wd, sizes in undecided.items()}
    return verdict("P2" + _tag(task), status, "; ".join(map(part, trs)), _src(task), claim, details)


def _unconverged_sizes(table: Table, task: str) -> dict[float, set[int]]:
    """Per weight decay, the grid sizes (run by every seed of it) where some seed's run did not
    converge: the sizes a converged-only curve is missing."""
    out: dict[float, set[int]] = {}
    for (wd,), rs in _by(_all_ungrok_rows(table, task), "weight_decay").items():
        seeds = {r["seed"] for r in rs}
        for (d,), at in _by(rs, "train_size").items():
            if {r["seed"] for r in at} == seeds and not all(
                r.get("converged") and ok(r.get("test_acc")) for r in at
            ):
                out.setdefault(float(wd), set()).add(int(d))
    return out


@dataclass(frozen=True)
class SeedCrit:
    """D_crit of one seed and weight decay: the 0.5 crossing of its converged test accuracy.

    ``lo``/``hi``: the bracketing sizes (``acc(lo) < 0.5 <= acc(hi)``); ``d_crit``: the crossing
    interpolated in ln D'. No crossing: ``d_crit`` is ``None`` and ``lo``/``hi`` say which side
    of the grid it lies on (``hi`` = the smallest size if every size is >= 0.5, ``lo`` = the
    largest if every size is below).
    """

    weight_decay: float
    seed: int
    lo: int | None
    hi: int | None
    d_crit: float | None

    @property
    def factor(self) -> float | None:
        return None if self.lo is None or self.hi is None else self.hi / self.lo

    def as_dict(self) -> dict[str, float | int | None]:
        return {"weight_decay": self.weight_decay, "seed": self.seed, "lo": self.lo, "hi": self.hi,
                "d_crit": self.d_crit}  # fmt: skip


def dcrit_per_seed(table: Table, task: str = "add") -> list[SeedCrit]:
    """D_crit per (weight decay, seed) from its converged ungrokking runs (grid and bisection)."""
    used, _ = _ungrok_rows(table, task)
    out = []
    for (wd, seed), rs in _by(used, "weight_decay", "seed").items():
        by_d = {int(r["train_size"]): float(r["test_acc"]) for r in rs}
        ds = sorted(by_d)
        cr = crossing(ds, [by_d[d] for d in ds])
        if cr is not None:
            out.append(SeedCrit(wd, seed, *cr))
        elif all(by_d[d] >= 0.5 for d in ds):
            out.append(SeedCrit(wd, seed, None, ds[0], None))
        else:
            out.append(SeedCrit(wd, seed, ds[-1], None, None))
    return out


def geometric_mean(xs: Sequence[float]) -> float:
    return math.exp(float(np.mean(np.log(xs))))


def dcrit_observed(table: Table, task: str = "add") -> dict[float, float | None]:
    """D_crit observed per weight decay: the geometric mean of its seeds' D_crit.

    ``None`` for a weight decay where some seed has no 0.5 crossing.
    """
    out: dict[float, list[SeedCrit]] = {}
    for c in dcrit_per_seed(table, task):
        out.setdefault(c.weight_decay, []).append(c)
    return {
        wd: (geometric_mean([c.d_crit for c in cs]) if all(c.d_crit is not None for c in cs) else None)
        for wd, cs in out.items()
    }


def _crit_text(c: SeedCrit) -> str:
    if c.d_crit is None:
        return f"seed {c.seed}: " + (f"< {c.hi}" if c.hi is not None else f"> {c.lo}")
    return f"seed {c.seed}: {c.d_crit:.0f} [{c.lo}, {c.hi}]"


def p3_weight_decay(table: Table, task: str = "add") -> Check:
    """P3 in its D_crit form: "since D_crit does not depend on weight decay" (Section 4.2).

    D_crit per weight decay (geometric mean over seeds) agrees within :data:`WD_FACTOR`.
    """
    obs = dcrit_observed(table, task)
    claim = f"D_crit per weight decay agrees within a factor {WD_FACTOR}"
    name = "P3 (D_crit)" + _tag(task)
    if len(obs) < 2:
        return verdict(name, "not_run", f"{len(obs)} weight decay(s) with data (need 2)", _src(task), claim)
    per_seed = dcrit_per_seed(table, task)
    fig = ", ".join(f"wd {w:g}: " + ("no crossing" if d is None else f"{d:.0f}") for w, d in obs.items())
    fig += " (per seed: " + "; ".join(f"wd {c.weight_decay:g} " + _crit_text(c) for c in per_seed) + ")"
    details = {
        "d_crit": obs,
        "per_seed": [c.as_dict() for c in per_seed],
    }
    found = [d for d in obs.values() if d is not None]
    if len(found) < len(obs):
        _, left = _ungrok_rows(table, task)
        if left:  # the crossing may lie among runs that did not converge: untested, not refuted
            why = f" (a seed without a 0.5 crossing among converged runs; {left} runs did not converge)"
            return verdict(name, "not_run", fig + why, _src(task), claim, details)
        return verdict(name, "fail", fig + " (a seed without a 0.5 crossing)", _src(task), claim, details)
    ratio = max(found) / min(found)
    return verdict(
        name,
        "pass" if ratio <= WD_FACTOR else "fail",
        f"{fig}; max/min {ratio:.2f}",
        _src(task),
        claim,
        {**details, "ratio": ratio},
    )


def p3_accuracy(table: Table, task: str = "add") -> Check:
    """P3 as Section 5 states it: "the final test accuracy after ungrokking is independent of
    the strength of weight decay".

    At every D' run by every seed of 2+ weight decays: the range over weight decays of the mean test accuracy
    is at most ``max(ACC_WD_TOL, the largest range over seeds within one weight decay at that
    D')``. FAIL names the worst D'.
    """
    used, left = _ungrok_rows(table, task)
    claim = "final test acc at each D' differs across weight decays by no more than seeds differ"
    name = "P3 (accuracy)" + _tag(task)
    seeds_of = {wd: {r["seed"] for r in g} for (wd,), g in _by(used, "weight_decay").items()}
    per_d = []
    for (d,), rs in _by(used, "train_size").items():
        # only weight decays whose every seed ran this D': bisection points are per seed, and
        # comparing other seeds would confound the seed's D_crit with the weight decay's
        by_wd = {
            wd: g for (wd,), g in _by(rs, "weight_decay").items() if {r["seed"] for r in g} == seeds_of[wd]
        }
        if len(by_wd) < 2:
            continue
        means = [float(np.mean([r["test_acc"] for r in g])) for g in by_wd.values()]
        seed_range = max(
            max(r["test_acc"] for r in g) - min(r["test_acc"] for r in g) for g in by_wd.values()
        )
        tol = max(ACC_WD_TOL, float(seed_range))
        per_d.append({"size": int(d), "wd_range": max(means) - min(means), "tol": tol})
    if len(per_d) < 3:
        return verdict(
            name, "not_run", f"{len(per_d)} D' run by 2+ weight decays (need 3)", _src(task), claim,
            {"not_converged": left},
        )  # fmt: skip
    worst = max(per_d, key=lambda x: x["wd_range"] - x["tol"])
    holds = all(x["wd_range"] <= x["tol"] + 1e-12 for x in per_d)
    fig = (
        f"largest gap across weight decays {worst['wd_range']:.2f} at D'={worst['size']} "
        f"(allowed {worst['tol']:.2f})"
    )
    return verdict(
        name, "pass" if holds else "fail", fig, _src(task), claim, {"per_size": per_d, "not_converged": left}
    )
