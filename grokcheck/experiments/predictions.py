"""The paper's predictions P1-P4 and D_crit as pure functions of a results table.

A table is a sequence of rows (dicts as :meth:`RunRecord.row` makes them, or the records
themselves). Every function returns a frozen :class:`Verdict` whose ``status`` is ``"pass"``,
``"fail"`` or ``"not_run"`` (the table lacks the runs the claim needs). Thresholds are module
constants, stated in docs/predictions.md:

- P1 (Section 5.1, Figure 3) and D_crit predicted: :mod:`grokcheck.experiments.efficiency`
  (its names are re-exported here).
- P2 (Section 5.2, Figure 4): per weight decay, the mean test accuracy over seeds at each D'
  is >= :data:`HIGH` at and above some D_hi, <= :data:`LOW` at and below some D_lo, with
  ``D_hi / D_lo <= SHARP_FACTOR`` (1% slack: grid sizes are rounded to integers). D_crit
  observed: where the mean crosses 0.5, interpolated linearly in ln D'.
- P3: D_crit observed agrees across weight decays within :data:`WD_FACTOR` (max / min).
- Efficiency predicts ungrokking: D_crit observed (geometric mean over weight decays) / D_crit
  predicted within a factor :data:`PREDICT_FACTOR`.
- P4 (Section 5.3, Figure 5): at least one converged semi-grokking run with train accuracy 1 and
  test accuracy in (:data:`MID_LO`, :data:`MID_HI`); not run when none converged.

Runs that did not converge are counted in ``details`` and left out; :func:`all_verdicts`
falls back to runs at their step cap, labelled, where too few converged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grokcheck.experiments.efficiency import (  # noqa: F401  (P1's names, re-exported)
    FLAT_TOL,
    N_BOOT,
    N_BUCKETS,
    SlopeFit,
    bucket_edges,
    bucket_of,
    dcrit_predicted,
    fit_isologit,
    p1_efficiency,
)
from grokcheck.experiments.verdict import Row, Table, Verdict, ok, rows_of, select  # noqa: F401

HIGH, LOW, SHARP_FACTOR = 0.9, 0.2, 2.0
WD_FACTOR = 1.5
PREDICT_FACTOR = 2.0
MID_LO, MID_HI = 0.3, 0.9
TRAIN_FULL = 0.999


# ---------------------------------------------------------------- P2, P3: ungrokking


@dataclass(frozen=True)
class Transition:
    weight_decay: float
    sizes: tuple[int, ...]
    mean_acc: tuple[float, ...]
    d_lo: int | None  # largest D' at and below which mean <= LOW
    d_hi: int | None  # smallest D' at and above which mean >= HIGH
    d_crit: float | None  # mean crosses 0.5 (ln-interpolated)
    sharp: bool


def transition(sizes: Sequence[int], accs: Sequence[float], weight_decay: float = math.nan) -> Transition:
    """Where a mean-accuracy-vs-D' curve falls (sizes ascending, one mean per size)."""
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
    crit = None
    for i in reversed(range(len(d) - 1)):  # the crossing nearest the top
        if a[i] < 0.5 <= a[i + 1]:
            f = (0.5 - a[i]) / (a[i + 1] - a[i])
            crit = math.exp(math.log(d[i]) + f * (math.log(d[i + 1]) - math.log(d[i])))
            break
    sharp = d_lo is not None and d_hi is not None and d_lo < d_hi and d_hi / d_lo <= SHARP_FACTOR * 1.01
    return Transition(weight_decay, tuple(d), tuple(a), d_lo, d_hi, crit, sharp)


def transitions(table: Table, task: str = "add") -> tuple[list[Transition], int]:
    """One :class:`Transition` per weight decay of the task's ungrokking runs, and the runs left out."""
    rows = [r for r in rows_of(table) if r.get("kind") == "ungrok" and r.get("task") == task]
    used = [r for r in rows if r.get("converged") and ok(r.get("test_acc"))]
    out = []
    for wd in sorted({r["weight_decay"] for r in used}):
        by_d: dict[int, list[float]] = {}
        for r in used:
            if r["weight_decay"] == wd:
                by_d.setdefault(int(r["reduced_size"]), []).append(float(r["test_acc"]))
        ds = sorted(by_d)
        out.append(transition(ds, [float(np.mean(by_d[x])) for x in ds], wd))
    return out, len(rows) - len(used)


def _tag(task: str) -> str:
    return "" if task == "add" else f" [{task}]"


def p2_ungrokking(table: Table, task: str = "add") -> Verdict:
    """P2: ungrokking is a sharp transition in D' (Figure 4; Figure 8 for other tasks)."""
    trs, left = transitions(table, task)
    trs = [t for t in trs if len(t.sizes) >= 3]
    src = "Figure 4, Section 5.2" if task == "add" else "Figure 8"
    claim = f"test acc >= {HIGH} above D_crit, <= {LOW} below, within a factor {SHARP_FACTOR} in D'"
    if not trs:
        return Verdict(
            "P2" + _tag(task),
            "not_run",
            "no weight decay with 3 converged D' sizes",
            src,
            claim,
            {"not_converged": left},
        )
    parts = [
        f"wd {t.weight_decay:g}: " + (f"{t.d_lo}->{t.d_hi}" if t.sharp else "no sharp fall") for t in trs
    ]
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
    return Verdict(
        "P2" + _tag(task),
        "pass" if all(t.sharp for t in trs) else "fail",
        "; ".join(parts),
        src,
        claim,
        details,
    )


def dcrit_observed(table: Table, task: str = "add") -> dict[float, float | None]:
    """D_crit observed per weight decay (where the mean test accuracy crosses 0.5)."""
    return {t.weight_decay: t.d_crit for t in transitions(table, task)[0] if len(t.sizes) >= 3}


def p3_weight_decay(table: Table, task: str = "add") -> Verdict:
    """P3: D_crit does not depend on weight decay (Figure 4: agree within WD_FACTOR)."""
    obs = dcrit_observed(table, task)
    src = "Figure 4, Section 5.2" if task == "add" else "Figure 8"
    claim = f"D_crit observed agrees across weight decays within a factor {WD_FACTOR}"
    if len(obs) < 2:
        return Verdict(
            "P3" + _tag(task), "not_run", f"{len(obs)} weight decay(s) with data (need 2)", src, claim
        )
    fig = ", ".join(f"wd {w:g}: " + ("none" if d is None else f"{d:.0f}") for w, d in obs.items())
    found = [d for d in obs.values() if d is not None]
    if len(found) < len(obs):
        return Verdict(
            "P3" + _tag(task), "fail", fig + " (no 0.5 crossing somewhere)", src, claim, {"d_crit": obs}
        )
    ratio = max(found) / min(found)
    return Verdict(
        "P3" + _tag(task),
        "pass" if ratio <= WD_FACTOR else "fail",
        f"{fig}; max/min {ratio:.2f}",
        src,
        claim,
        {"d_crit": obs, "ratio": ratio},
    )


def efficiency_predicts_ungrokking(table: Table) -> Verdict:
    """D_crit observed by ungrokking vs predicted by efficiency (P1), at the same p."""
    rows = rows_of(table)
    src, claim = "Sections 5.1-5.2", f"D_crit observed / predicted within a factor {PREDICT_FACTOR}"
    ps = sorted(
        {r["p"] for r in rows if r.get("kind") == "ungrok" and r.get("task") == "add"}
        & {r["p"] for r in rows if r.get("kind") == "random_labels"}
    )
    for p in ps:
        sub = [r for r in rows if r["p"] == p]
        pred, lo, hi = dcrit_predicted(sub)
        obs = [d for d in dcrit_observed(sub).values() if d is not None]
        if pred is None or not obs:
            continue
        seen = math.exp(float(np.mean(np.log(obs))))
        ratio = seen / pred
        ok = 1 / PREDICT_FACTOR <= ratio <= PREDICT_FACTOR
        fig = f"p={p}: observed {seen:.0f}, predicted {pred:.0f} [{lo:.0f}, {hi:.0f}], ratio {ratio:.2f}"
        return Verdict(
            "D_crit",
            "pass" if ok else "fail",
            fig,
            src,
            claim,
            {"p": p, "observed": seen, "predicted": pred, "predicted_95": [lo, hi], "ratio": ratio},
        )
    return Verdict(
        "D_crit", "not_run", "needs ungrokking and efficiency runs at one p, each with a D_crit", src, claim
    )


# ---------------------------------------------------------------- P4: semi-grokking


def _middling(r: dict) -> bool:
    return (
        bool(r.get("converged"))
        and ok(r.get("train_acc"))
        and r["train_acc"] >= TRAIN_FULL
        and ok(r.get("test_acc"))
        and MID_LO < r["test_acc"] < MID_HI
    )


def p4_semigrokking(table: Table) -> Verdict:
    """P4: some run near D_crit converges at middling test accuracy (Figure 5)."""
    rows = rows_of(table)
    semi = [r for r in rows if r.get("experiment") == "semigrok"]
    ung = [r for r in rows if r.get("kind") == "ungrok"]
    n_mid, n_ung_mid = sum(map(_middling, semi)), sum(map(_middling, ung))
    details = {
        "n_runs": len(semi),
        "n_converged": sum(bool(r.get("converged")) for r in semi),
        "n_middling": n_mid,
        "ungrok_middling": n_ung_mid,
        "ungrok_runs": len(ung),
    }
    src = "Figure 5, Section 5.3"
    claim = f"a converged run with train acc 1 ends at test acc in ({MID_LO}, {MID_HI})"
    fig = f"{n_mid}/{len(semi)} semi-grokking runs middling; {n_ung_mid}/{len(ung)} ungrokking runs"
    if not details["n_converged"]:  # no semi-grokking run reached convergence: untested
        return Verdict("P4", "not_run", fig, src, claim, details)
    return Verdict("P4", "pass" if n_mid >= 1 else "fail", fig, src, claim, details)


def _verdicts(table: Table, tasks: Sequence[str]) -> list[Verdict]:
    out = [p1_efficiency(table)]
    for t in tasks:
        out += [p2_ungrokking(table, t), p3_weight_decay(table, t)]
    out += [efficiency_predicts_ungrokking(table), p4_semigrokking(table)]
    return out


#: the figure's prefix of a verdict measured on runs that hit their step cap
AT_CAP = "at the step cap, not converged: "


def all_verdicts(
    table: Table, tasks: Sequence[str] = ("add",), *, fallback_to_cap: bool = True
) -> list[Verdict]:
    """Every verdict the table can speak to: P1, P2 and P3 per task, D_crit, P4.

    Each verdict is first judged on converged runs only (the paper measures "at convergence").
    Where that leaves it not run and ``fallback_to_cap`` is set, it is judged again on the runs
    as they stood at their step cap (converged or not; diverged runs never count), and its
    figure starts with :data:`AT_CAP` and its details say ``measured_at: "step cap"``: an
    answer with its caveat rather than none. A short budget can make a run look converged at
    middling accuracy when it is still moving, so such verdicts are weaker evidence.
    """
    from dataclasses import replace

    strict = _verdicts(table, tasks)
    if not fallback_to_cap:
        return strict
    capped_rows = [
        {**r, "converged": True}
        for r in rows_of(table)
        if r.get("stopped") in ("converged", "max_steps", "steps")
    ]
    capped = _verdicts(capped_rows, tasks)
    out = []
    for s, c in zip(strict, capped, strict=True):
        if s.status == "not_run" and c.status != "not_run":
            out.append(replace(c, figure=AT_CAP + c.figure, details={**c.details, "measured_at": "step cap"}))
        else:
            out.append(s)
    return out
