"""P4 (Section 5.3): semi-grokking, by two routes that are never merged.

From scratch (Figure 5) and by ungrokking to middling accuracy (Figure 7, Appendix A.2). A run
counts when it converged, fits its train set and ends at middling test accuracy.
"""

from __future__ import annotations

import math

from grokcheck.experiments.ungrokking import FIG7_STEP, dcrit_per_seed
from grokcheck.experiments.verdict import Row, Table, ok, rows_of, verdict
from grokcheck.verdicts import Check

#: "middling" test accuracy (P4): strictly between LOW's neighbourhood and HIGH; Figure 1c's
#: 0.83, Figure 6's ~0.55 and Appendix A.2's ~0.7 all lie inside (0.3, 0.9).
MID_LO, MID_HI = 0.3, 0.9
TRAIN_FULL = 0.999
#: Figure 5: "Out of 200 runs, at least 6 show clear semi-grokking"; zero middling runs refute
#: P4 only when that rate makes zero unlikely, P(0) = (1 - 6/200)^n < SIGNIFICANCE
PAPER_SEMI_RATE = 6 / 200
SIGNIFICANCE = 0.05


def fits(r: Row) -> bool:
    """A converged run at train accuracy 1 (>= TRAIN_FULL)."""
    return bool(r.get("converged")) and ok(r.get("train_acc")) and r["train_acc"] >= TRAIN_FULL


def middling(r: Row) -> bool:
    """A converged run that fits its train set and ends at middling test accuracy."""
    return fits(r) and ok(r.get("test_acc")) and MID_LO < r["test_acc"] < MID_HI


def p4_semigrokking(table: Table) -> Check:
    """P4 from scratch (Figure 5): "Out of 200 runs, at least 6 show clear semi-grokking".

    PASS with one converged run (train acc 1) at test acc in (MID_LO, MID_HI). With none, FAIL
    only if the paper's rate makes zero unlikely among the converged runs that fit their train
    set (``(1 - 6/200)^n < 0.05``, n >= 99); otherwise NOT RUN, as inconclusive.
    """
    semi = [r for r in rows_of(table) if r.get("experiment") == "semigrok"]
    n_mid, n_fit = sum(map(middling, semi)), sum(map(fits, semi))
    p_zero = (1 - PAPER_SEMI_RATE) ** n_fit
    details = {
        "n_runs": len(semi),
        "n_converged": sum(bool(r.get("converged")) for r in semi),
        "n_fit": n_fit,
        "n_middling": n_mid,
        "p_zero_at_paper_rate": p_zero,
    }
    src = "Figure 5, Section 5.3"
    claim = f"from scratch, converged runs with train acc 1 end at test acc in ({MID_LO}, {MID_HI})"
    fig = f"{n_mid}/{len(semi)} runs middling ({n_fit} converged with train acc 1)"
    if n_mid:
        return verdict("P4 (scratch)", "pass", fig, src, claim, details)
    if n_fit and p_zero < SIGNIFICANCE:
        return verdict("P4 (scratch)", "fail", fig, src, claim, details)
    why = f"; at the paper's rate (6/200) none in {n_fit} has probability {p_zero:.2f}: inconclusive"
    return verdict("P4 (scratch)", "not_run", fig + why, src, claim, details)


def p4_ungrok_middling(table: Table) -> Check:
    """P4 by ungrokking (Figure 7, Appendix A.2): "ungrokking to middling test accuracy", "test
    accuracy of ~0.7 with a dataset size of around 800-1000".

    PASS with one converged ungrokking run (train acc 1) at test acc in (MID_LO, MID_HI). FAIL
    when none is middling although 3+ converged runs lie within one of Figure 7's grid steps
    (x1.251) of their own seed's D_crit, where Figure 7's runs end middling; else NOT RUN.
    """
    rows = [
        r
        for r in rows_of(table)
        if r.get("kind") == "ungrok" and r.get("task") == "add" and r.get("experiment") != "hysteresis"
    ]
    n_mid = sum(map(middling, rows))
    crit = {(c.weight_decay, c.seed): c.d_crit for c in dcrit_per_seed(rows) if c.d_crit is not None}
    near = [
        r
        for r in rows
        if fits(r)
        and (d := crit.get((r["weight_decay"], r["seed"]))) is not None
        and abs(math.log(r["train_size"] / d)) <= math.log(FIG7_STEP)
    ]
    details = {"n_runs": len(rows), "n_middling": n_mid, "n_near_dcrit": len(near)}
    src = "Figure 7, Appendix A.2"
    claim = f"ungrokking near D_crit ends at test acc in ({MID_LO}, {MID_HI}) with train acc 1"
    fig = (
        f"{n_mid}/{len(rows)} ungrokking runs middling "
        f"({len(near)} converged within x{FIG7_STEP:.3f} of their seed's D_crit)"
    )
    if n_mid:
        return verdict("P4 (ungrok)", "pass", fig, src, claim, details)
    if len(near) >= 3:
        return verdict("P4 (ungrok)", "fail", fig, src, claim, details)
    return verdict("P4 (ungrok)", "not_run", fig, src, claim, details)
