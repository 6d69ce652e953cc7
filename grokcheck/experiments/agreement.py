"""Two circuit measures on the same converged networks: do they name the same dominant circuit?

Appendix B calls its own measure (the logit split of :mod:`grokcheck.transformer.analysis.circuits`)
"an imperfect proxy measure for the true strength of the trigonometric and memorisation
circuits", and lists its flaws: C_trig and C_mem logits are correlated on the train set, so the
projection "would ... overestimate the strength of C_trig and underestimate the strength of
C_mem". P1 (C_gen-only and C_mem-only networks), Figure 10 and the hysteresis row rest on it.
Nanda et al.'s progress measures (:mod:`grokcheck.transformer.analysis.progress_measures`) read the
circuits from the loss instead (restricted and excluded loss), so where the two name different
dominant circuits, a verdict resting on Appendix B's measure may rest on a misreading.

The row (:func:`measures_agree`), over converged addition runs that carry both measures: each
run's label under each measure by the rules of :mod:`grokcheck.transformer.analysis.dominance`
(``"gen"``, ``"mem"``, ``"mixed"``, and for the progress measures ``"neither"``), the count
that agree, and the count that **conflict** (one measure says C_gen, the other C_mem).

- pass: no run conflicts. Milder disagreements (``"mixed"`` against a definite label) are
  counted and shown but do not fail the row: ``"mixed"`` is where both thresholds are
  arbitrary, and Appendix B's flaw 1 predicts exactly that drift.
- fail: at least one converged run conflicts; the figure names how many.
- not_run: no converged addition run carries both measures.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from grokcheck.experiments.verdict import Table, ok, rows_of, verdict
from grokcheck.verdicts import Check

SOURCE = "Appendix B"
CLAIM = "Appendix B's logit split and Nanda et al.'s progress measures name the same dominant circuit"


def measure_labels(row: dict[str, Any]) -> Any:
    """The :class:`~grokcheck.transformer.analysis.dominance.Dominance` of one results row, or ``None``."""
    from grokcheck.transformer.analysis.dominance import dominance

    if row.get("task") != "add" or not all(
        ok(row.get(k)) for k in ("trig_fraction", "restricted_loss", "excluded_loss")
    ):
        return None
    return dominance(row["trig_fraction"], row["restricted_loss"], row["excluded_loss"], row["p"])


def agreement_table(table: Table) -> list[dict[str, Any]]:
    """One entry per converged addition run with both measures: its key, kind, size and labels."""
    out = []
    for r in rows_of(table):
        if not r.get("converged"):
            continue
        d = measure_labels(r)
        if d is None:
            continue
        out.append(
            {
                "key": r.get("key"),
                "experiment": r.get("experiment"),
                "kind": r.get("kind"),
                "train_size": r.get("train_size"),
                "seed": r.get("seed"),
                **d.as_dict(),
            }
        )
    return out


def measures_agree(table: Table) -> Check:
    """The agreement row (module docstring)."""
    rows = agreement_table(table)
    if not rows:
        return verdict(
            "Circuit measures",
            "not_run",
            "needs converged addition runs with both circuit measures",
            SOURCE,
            CLAIM,
        )
    n, agree = len(rows), sum(r["agree"] for r in rows)
    conflicts = [r for r in rows if r["conflict"]]
    pairs = Counter(f"{r['appendix_b']}/{r['progress']}" for r in rows)
    fig = (
        f"{agree}/{n} converged runs agree, {len(conflicts)} conflict (C_gen vs C_mem); "
        f"Appendix B/progress labels: " + ", ".join(f"{k} x{v}" for k, v in sorted(pairs.items()))
    )
    return verdict(
        "Circuit measures",
        "fail" if conflicts else "pass",
        fig,
        SOURCE,
        CLAIM,
        {"n_runs": n, "n_agree": agree, "n_conflict": len(conflicts), "labels": dict(pairs), "runs": rows},
    )
