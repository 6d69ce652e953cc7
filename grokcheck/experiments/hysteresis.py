"""Hysteresis near D_crit: does the end state depend on where training starts? (beyond the paper)

Theorem D.4 (Appendix D) splits on kappa against the norm exponent q = 2: in case 1
(kappa >= q) the optimum puts all weight on one circuit, in case 2 (kappa < q) both circuits keep
weight near D_crit. Section 4.2: "Our theory does not say which of the two cases will arise in
practice". The two cases predict different things for gradient descent near D_crit:

- case 1: two basins, one per circuit. A network started grokked (C_gen) and one started from
  scratch (which memorises first) on the same train set can each stay in their own basin and
  end in different states: hysteresis.
- case 2: one optimum with both circuits, so both starts end in the same, middling, state.

The ``hysteresis`` experiment trains each (D, seed) twice, ``kind = "ungrok"`` (from the seed's
grokked network) and ``kind = "scratch"`` (from the seed's initialisation), on the same subset
(both draw it from the seed), and measures kappa on every final network
(:func:`grokcheck.transformer.analysis.kappa.kappa_of_state`). :func:`hysteresis_verdict` compares the
outcome with the case that the measured kappa selects.

Grokking is itself a late escape from a plateau, so a gap could be slow dynamics rather than two
basins. A pair counts only when both runs converged (norm, loss and accuracies still over the
convergence window) and their circuit strengths o_t and o_m (Appendix B, train set) moved by at
most :data:`CIRCUIT_RTOL` over the last window; otherwise the row says the budget cannot tell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grokcheck.experiments.convcheck import ACC_TOL, NORM_RTOL
from grokcheck.experiments.semigrok import MID_HI, MID_LO, fits
from grokcheck.experiments.verdict import Table, ok, rows_of, verdict
from grokcheck.verdicts import Check

#: two runs in one state end within twice the convergence check's 0.05 of each other
SAME_TOL = 2 * ACC_TOL
#: o_t, o_m may move by this fraction of the larger of |o_t|, |o_m| over the last window
#: (the convergence check's bound on the parameter norm's drift)
CIRCUIT_RTOL = NORM_RTOL
Q = 2.0  # Theorem D.4's norm exponent: the parameter norm is an L2 norm


@dataclass(frozen=True)
class Pair:
    """One (D, seed, weight decay): the final test accuracy from each start."""

    size: int
    seed: int
    weight_decay: float
    acc_grokked: float | None  # started from the grokked network
    acc_scratch: float | None  # started from the initialisation
    settled: bool  # both converged, fit their train set and their circuits stopped moving

    @property
    def gap(self) -> float | None:
        if self.acc_grokked is None or self.acc_scratch is None:
            return None
        return self.acc_grokked - self.acc_scratch

    @property
    def outcome(self) -> str:
        """``"apart"`` (opposite sides of 0.5, more than SAME_TOL apart), ``"same"``, ``"unclear"``."""
        if not self.settled or self.gap is None:
            return "unclear"
        if abs(self.gap) <= SAME_TOL:
            return "same"
        if (self.acc_grokked >= 0.5) != (self.acc_scratch >= 0.5):
            return "apart"
        return "unclear"


def circuits_settled(r: dict) -> bool:
    """o_t and o_m at the last evaluation vs one convergence window earlier (``*_prev`` fields)."""
    vals = [r.get(k) for k in ("o_t", "o_m", "o_t_prev", "o_m_prev")]
    if not all(ok(v) for v in vals):
        return False
    o_t, o_m, t0, m0 = vals
    scale = max(abs(o_t), abs(o_m), 1e-12)
    return abs(o_t - t0) <= CIRCUIT_RTOL * scale and abs(o_m - m0) <= CIRCUIT_RTOL * scale


def _settled(r: dict | None) -> bool:
    return r is not None and fits(r) and ok(r.get("test_acc")) and circuits_settled(r)


def pairs(table: Table) -> list[Pair]:
    """The hysteresis experiment's runs, paired by (D, seed, weight decay)."""
    rows = [r for r in rows_of(table) if r.get("experiment") == "hysteresis"]
    by: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        by.setdefault((int(r["train_size"]), r["seed"], r["weight_decay"]), {})[r["kind"]] = r
    out = []
    for (d, seed, wd), runs in sorted(by.items()):
        g, s = runs.get("ungrok"), runs.get("scratch")
        out.append(
            Pair(
                d, seed, wd,
                None if g is None or not ok(g.get("test_acc")) else float(g["test_acc"]),
                None if s is None or not ok(s.get("test_acc")) else float(s["test_acc"]),
                _settled(g) and _settled(s),
            )
        )  # fmt: skip
    return out


def hysteresis_verdict(table: Table) -> Check:
    """Which case of Theorem D.4 the runs near D_crit support, against the case kappa selects.

    Outcome: "two states" if a settled pair ends apart (case 1's hysteresis); "one state" if
    every settled pair ends in the same state and at least one of them at middling accuracy
    (case 2); otherwise undecided. PASS when the outcome is the case that the median kappa
    measured on these networks selects, FAIL when it is the other case, NOT RUN when the runs
    cannot tell (unsettled pairs, or both starts at the same extreme everywhere).
    """
    rows = [r for r in rows_of(table) if r.get("experiment") == "hysteresis"]
    ps = pairs(rows)
    kappas = [float(r["kappa"]) for r in rows if ok(r.get("kappa"))]
    kappa = float(np.median(kappas)) if kappas else None
    src = "Theorem D.4, Section 4.2"
    claim = "started grokked vs from scratch near D_crit: two end states iff kappa >= q = 2 (case 1)"
    settled = [p for p in ps if p.settled]
    apart = [p for p in settled if p.outcome == "apart"]
    same = [p for p in settled if p.outcome == "same"]
    mid_same = [p for p in same if MID_LO < (p.acc_grokked + p.acc_scratch) / 2 < MID_HI]
    table_rows = [
        {
            "size": p.size, "seed": p.seed, "weight_decay": p.weight_decay,
            "acc_grokked": p.acc_grokked, "acc_scratch": p.acc_scratch, "gap": p.gap,
            "settled": p.settled, "outcome": p.outcome,
        }
        for p in ps
    ]  # fmt: skip
    details = {
        "pairs": table_rows,
        "kappa_median": kappa,
        "kappa_range": [min(kappas), max(kappas)] if kappas else None,
        "n_settled": len(settled),
        "n_apart": len(apart),
        "n_same": len(same),
    }
    if apart:
        outcome, case = "two states", 1
    elif settled and len(same) == len(settled) and mid_same:
        outcome, case = "one state", 2
    else:
        outcome, case = "undecided", None
    gaps = ", ".join(
        f"D={p.size} s{p.seed}: {p.acc_grokked:.2f}/{p.acc_scratch:.2f}"
        if p.gap is not None
        else f"D={p.size} s{p.seed}: missing"
        for p in ps
    )
    k_txt = "kappa not measured" if kappa is None else f"kappa {kappa:.2f} (case {1 if kappa >= Q else 2})"
    fig = (
        f"{outcome}: {len(apart)} of {len(settled)} settled pairs apart (of {len(ps)}); {k_txt}; "
        f"grokked/scratch test acc {gaps}"
    )
    if not ps:
        return verdict("Hysteresis", "not_run", "no hysteresis runs", src, claim, details)
    if case is None or kappa is None or not math.isfinite(kappa):
        if not settled:
            fig += "; no pair settled within the budget: slow dynamics and two basins cannot be told apart"
        return verdict("Hysteresis", "not_run", fig, src, claim, details)
    expected = 1 if kappa >= Q else 2
    return verdict(
        "Hysteresis", "pass" if case == expected else "fail", fig, src, claim, {**details, "case": case}
    )
