"""The paper's predictions P1-P4 and D_crit as pure functions of a results table.

A table is a sequence of rows (dicts as :meth:`RunRecord.row` makes them, or the records
themselves). Every function returns a verdict, a :class:`grokcheck.verdicts.Check` whose
``status`` is ``"pass"``, ``"fail"`` or ``"not_run"`` (the table lacks the runs the claim
needs, or they cannot decide it). Each rule quotes the sentence it tests; the thresholds are
constants of the rule's module, each with where it comes from (docs/predictions.md has the
same table). This module gathers the rules and re-exports their names:

- P1 (Section 5.1, Figure 3) and D_crit predicted: :mod:`grokcheck.experiments.efficiency`
  (its names are re-exported here).
- P2 and P3, D_crit per seed: :mod:`grokcheck.experiments.ungrokking`. P2, "a sharp
  transition from very strong to near-random test accuracy (around D_crit)"
  (Section 4.2): per weight decay, the mean test accuracy over seeds falls from >= :data:`HIGH`
  to <= :data:`LOW` within a factor :data:`SHARP_FACTOR` in D' (Figure 7's own span).
- P3, "the final test accuracy after ungrokking is independent of the strength of weight
  decay" (Section 5), in two forms: D_crit per weight decay (:func:`p3_weight_decay`) and the
  final test accuracy at each D' across weight decays (:func:`p3_accuracy`).
- Efficiency predicts ungrokking: D_crit observed (per seed, geometric mean) / D_crit predicted
  within a factor :data:`PREDICT_FACTOR`.
- P4 (:mod:`grokcheck.experiments.semigrok`), "semi-grokking does happen in our setting"
  (Section 5.3), two rows never merged: from
  scratch (Figure 5, :func:`p4_semigrokking`) and by ungrokking to middling accuracy (Figure 7,
  Appendix A.2, :func:`p4_ungrok_middling`).

- Circuit measures (:mod:`grokcheck.experiments.agreement`): Appendix B's logit split and Nanda
  et al.'s progress measures name the same dominant circuit on every converged run.

Runs that did not converge are counted in ``details`` and left out; :func:`all_verdicts`
falls back to runs at their step cap, labelled, where too few converged.
"""

from __future__ import annotations

from collections.abc import Sequence

from grokcheck.experiments.efficiency import (  # noqa: F401  (P1's names, re-exported)
    FLAT_TOL,
    N_BOOT,
    N_BUCKETS,
    SlopeFit,
    dcrit_predicted,
    fit_isologit,
    p1_efficiency,
)
from grokcheck.experiments.semigrok import (  # noqa: F401  (P4, re-exported)
    MID_HI,
    MID_LO,
    PAPER_SEMI_RATE,
    SIGNIFICANCE,
    TRAIN_FULL,
    middling,
    p4_semigrokking,
    p4_ungrok_middling,
)
from grokcheck.experiments.ungrokking import (  # noqa: F401  (P2, P3 and D_crit, re-exported)
    ACC_WD_TOL,
    FIG7_STEP,
    HIGH,
    LOW,
    SHARP_FACTOR,
    WD_FACTOR,
    SeedCrit,
    Transition,
    crossing,
    dcrit_observed,
    dcrit_per_seed,
    geometric_mean,
    p2_ungrokking,
    p3_accuracy,
    p3_weight_decay,
    transition,
    transitions,
)
from grokcheck.experiments.verdict import Row, Table, ok, rows_of, select, verdict  # noqa: F401
from grokcheck.verdicts import Check

PREDICT_FACTOR = 2.0


def efficiency_predicts_ungrokking(table: Table) -> Check:
    """D_crit observed by ungrokking (per seed, geometric mean over weight decays) vs predicted
    by efficiency (P1), at the same p."""
    rows = rows_of(table)
    src, claim = "Sections 5.1-5.2", f"D_crit observed / predicted within a factor {PREDICT_FACTOR}"
    ps = sorted(
        {r["p"] for r in rows if r.get("kind") == "ungrok" and r.get("task") == "add"}
        & {r["p"] for r in rows if r.get("kind") == "random_labels"}
    )
    for p in ps:
        sub = [r for r in rows if r["p"] == p]
        pred, lo, hi = dcrit_predicted(sub)
        crits = [c for c in dcrit_per_seed(sub) if c.d_crit is not None]
        if pred is None or not crits:
            continue
        seen = geometric_mean([c.d_crit for c in crits])
        ratio = seen / pred
        holds = 1 / PREDICT_FACTOR <= ratio <= PREDICT_FACTOR
        fig = (
            f"p={p}: observed {seen:.0f} ({len(crits)} seed x wd crossings), predicted {pred:.0f} "
            f"[{lo:.0f}, {hi:.0f}], ratio {ratio:.2f}"
        )
        return verdict(
            "D_crit",
            "pass" if holds else "fail",
            fig,
            src,
            claim,
            {
                "p": p,
                "observed": seen,
                "predicted": pred,
                "predicted_95": [lo, hi],
                "ratio": ratio,
                "per_seed": [c.as_dict() for c in crits],
            },
        )
    return verdict(
        "D_crit", "not_run", "needs ungrokking and efficiency runs at one p, each with a D_crit", src, claim
    )


def _verdicts(table: Table, tasks: Sequence[str]) -> list[Check]:
    from grokcheck.experiments.agreement import measures_agree
    from grokcheck.experiments.hysteresis import hysteresis_verdict

    out = [p1_efficiency(table)]
    for t in tasks:
        out += [p2_ungrokking(table, t), p3_weight_decay(table, t), p3_accuracy(table, t)]
    out += [
        efficiency_predicts_ungrokking(table),
        p4_semigrokking(table),
        p4_ungrok_middling(table),
        hysteresis_verdict(table),
        measures_agree(table),
    ]
    return out


#: the figure's prefix of a verdict measured on runs that hit their step cap
AT_CAP = "at the step cap, not converged: "


def all_verdicts(
    table: Table, tasks: Sequence[str] = ("add",), *, fallback_to_cap: bool = True
) -> list[Check]:
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
