"""The two-measure agreement row, on tables built by hand (the labels follow from the numbers)."""

from __future__ import annotations

import math

from grokcheck.experiments.agreement import agreement_table, measures_agree

P = 31
CHANCE = math.log(P)


def row(trig, restricted, excluded, *, converged=True, task="add", key="k"):
    return {"key": key, "task": task, "p": P, "kind": "scratch", "train_size": 300, "seed": 0,
            "converged": converged, "trig_fraction": trig, "restricted_loss": restricted,
            "excluded_loss": excluded}  # fmt: skip


GEN = row(0.99, 0.01, CHANCE)  # both measures: C_gen
MEM = row(0.10, CHANCE, 0.01)  # both measures: C_mem


def test_agreeing_runs_pass_and_are_counted():
    v = measures_agree([GEN, MEM, GEN])
    assert v.status == "pass" and v.details["n_agree"] == 3 and v.details["n_conflict"] == 0
    assert "3/3" in v.figure


def test_one_conflict_fails_the_row():
    clash = row(0.99, CHANCE, 0.01, key="clash")  # Appendix B says C_gen, the losses say C_mem
    v = measures_agree([GEN, MEM, clash])
    assert v.status == "fail" and v.details["n_conflict"] == 1 and "1 conflict" in v.figure


def test_mixed_against_a_definite_label_is_shown_but_not_a_failure():
    mixed = row(0.8, 0.01, CHANCE)  # Appendix B: mixed; progress: gen
    v = measures_agree([GEN, mixed])
    assert v.status == "pass" and v.details["n_agree"] == 1 and "mixed/gen x1" in v.figure


def test_runs_that_cannot_be_judged_are_left_out():
    rows = [row(0.99, CHANCE, 0.01, converged=False), row(0.99, CHANCE, 0.01, task="sub"),
            {**GEN, "restricted_loss": None}]  # fmt: skip
    assert agreement_table(rows) == []
    assert measures_agree(rows).status == "not_run"
