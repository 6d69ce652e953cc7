"""P1-P4 and D_crit on constructed tables: each must say yes, no, and not run where it should."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grokcheck.experiments import predictions as P


def row(kind="ungrok", d=1000, wd=1.0, seed=0, acc=1.0, **kw):
    r = dict(
        experiment={"ungrok": "ungrok", "scratch": "efficiency", "random_labels": "efficiency"}[kind],
        kind=kind,
        task="add",
        p=113,
        reduced_size=d,
        weight_decay=wd,
        seed=seed,
        converged=True,
        train_acc=1.0,
        test_acc=acc,
        param_norm=40.0,
        correct_logit=None,
        gen_only=None,
        trig_fraction=None,
    )
    r.update(kw)
    return r


SIZES = [400, 500, 630, 800, 1000, 1260, 1600, 2000, 2500]


def ungrok_table(d_crit=1000.0, wds=(0.5, 1.0, 2.0), width=30.0, seeds=(0, 1)):
    """Accuracy 1 / (1 + (d_crit / D)^width): sharp for large width."""
    return [
        row(
            d=d,
            wd=wd,
            seed=s,
            acc=1 / (1 + (d_crit[wd] if isinstance(d_crit, dict) else d_crit) ** width / d**width),
        )
        for wd in wds
        for d in SIZES
        for s in seeds
    ]


# ---------------------------------------------------------------- P2


def test_p2_sharp_transition_passes():
    v = P.p2_ungrokking(ungrok_table())
    assert v.status == "pass", v.figure
    assert all(t["d_lo"] == 800 and t["d_hi"] == 1260 for t in v.details["per_weight_decay"])


def test_p2_flat_curves_fail():
    assert P.p2_ungrokking([row(d=d, acc=1.0) for d in SIZES]).status == "fail"
    assert P.p2_ungrokking([row(d=d, acc=0.5) for d in SIZES]).status == "fail"


def test_p2_gradual_fall_fails():
    # linear in ln D from 0 at 400 to 1 at 2500: <= 0.2 only below ~580, >= 0.9 only above ~2090
    t = [row(d=d, acc=math.log(d / 400) / math.log(2500 / 400)) for d in SIZES]
    assert P.p2_ungrokking(t).status == "fail"


def test_p2_not_run_without_ungrok_runs_or_converged_runs():
    assert P.p2_ungrokking([]).status == "not_run"
    assert P.p2_ungrokking([row(kind="scratch")]).status == "not_run"
    t = [dict(r, converged=False) for r in ungrok_table()]
    v = P.p2_ungrokking(t)
    assert v.status == "not_run" and v.details["not_converged"] == len(t)


def test_dcrit_observed_interpolates_in_log_size():
    t = [row(d=400, acc=0.0), row(d=800, acc=0.2), row(d=1000, acc=0.8), row(d=2000, acc=1.0)]
    (d,) = P.dcrit_observed(t).values()
    assert d == pytest.approx(math.sqrt(800 * 1000))  # 0.5 is halfway from 0.2 to 0.8


def test_dcrit_observed_averages_seeds_first():
    t = [
        row(d=400, acc=0.0),
        row(d=800, acc=0.0, seed=0),
        row(d=800, acc=0.6, seed=1),
        row(d=1600, acc=1.0),
    ]  # mean 0.3 at 800 -> crossing between 800 and 1600
    (d,) = P.dcrit_observed(t).values()
    assert d == pytest.approx(math.exp(math.log(800) + (0.2 / 0.7) * math.log(2)))


# ---------------------------------------------------------------- P3


def test_p3_agreeing_weight_decays_pass():
    v = P.p3_weight_decay(ungrok_table(d_crit={0.5: 950.0, 1.0: 1000.0, 2.0: 1100.0}))
    assert v.status == "pass" and v.details["ratio"] == pytest.approx(
        1100 / 950, rel=0.1
    )  # grid interpolation


def test_p3_transitions_4x_apart_fail():
    v = P.p3_weight_decay(ungrok_table(d_crit={0.5: 500.0, 2.0: 2000.0}, wds=(0.5, 2.0)))
    assert v.status == "fail" and v.details["ratio"] == pytest.approx(4.0, rel=0.1)


def test_p3_missing_crossing_fails_and_one_weight_decay_is_not_run():
    t = [r for r in ungrok_table(wds=(1.0,))] + [row(d=d, wd=2.0, acc=1.0) for d in SIZES]
    assert P.p3_weight_decay(t).status == "fail"
    assert P.p3_weight_decay(ungrok_table(wds=(1.0,))).status == "not_run"


def test_other_tasks_are_named():
    t = [dict(r, task="mul") for r in ungrok_table()]
    assert P.p2_ungrokking(t, "mul").name == "P2 [mul]" and P.p2_ungrokking(t, "mul").status == "pass"
    assert P.p2_ungrokking(t).status == "not_run"


# ---------------------------------------------------------------- P1 and D_crit predicted

rng = np.random.default_rng(0)
MEM_D = [500, 1000, 2000, 4000, 8000]
GEN_D = [4000, 5000, 6000, 7000, 8000]
GEN_LEVEL = 10.0 + 5.0 * math.log(1000)


def mem_rows(slope=5.0, seeds=(0, 1, 2), base=10.0):
    # logit set by the weight decay; norm rises with ln D at fixed logit
    return [
        row(
            kind="random_labels",
            d=d,
            wd=wd,
            seed=s,
            acc=0.01,
            correct_logit=30.0 * (1 + wd),
            param_norm=base + 4 * math.log(1 + wd) + slope * math.log(d) + 0.05 * rng.standard_normal(),
            gen_only=False,
        )
        for d in MEM_D
        for wd in (0.5, 1.0, 2.0)
        for s in seeds
    ]


def gen_rows(slope=0.0, seeds=(0, 1, 2), level=GEN_LEVEL):
    return [
        row(
            kind="scratch",
            d=d,
            wd=wd,
            seed=s,
            acc=1.0,
            correct_logit=30.0 * (1 + wd),
            param_norm=level + 4 * math.log(1 + wd) + slope * math.log(d) + 0.05 * rng.standard_normal(),
            gen_only=True,
        )
        for d in GEN_D
        for wd in (0.5, 1.0, 2.0)
        for s in seeds
    ]


def test_p1_passes_when_mem_rises_and_gen_is_flat():
    v = P.p1_efficiency(mem_rows() + gen_rows())
    assert v.status == "pass", v.figure
    assert v.details["c_mem_slope"][0] == pytest.approx(5.0, abs=0.1)


def test_p1_fails_on_flat_mem_or_rising_gen():
    assert P.p1_efficiency(mem_rows(slope=0.0) + gen_rows()).status == "fail"
    assert P.p1_efficiency(mem_rows() + gen_rows(slope=5.0)).status == "fail"


def test_p1_not_run_and_exclusions():
    assert P.p1_efficiency(mem_rows()).status == "not_run"
    t = mem_rows() + [dict(r, gen_only=False) for r in gen_rows()]
    v = P.p1_efficiency(t)
    assert v.status == "not_run" and v.details["c_gen_not_gen_only"] == len(gen_rows())
    t = [dict(r, converged=False) for r in mem_rows()] + gen_rows()
    assert P.p1_efficiency(t).details["c_mem_not_converged"] == len(mem_rows())


def test_fit_with_one_bucket_is_ordinary_regression():
    d = np.array([500, 1000, 2000, 4000, 8000, 600, 3000], dtype=float)
    norm = 3 + 2 * np.log(d) + np.array([0.1, -0.2, 0.05, 0.0, 0.3, -0.1, 0.02])
    fit = P.fit_isologit([(0, x, y) for x, y in zip(d, norm, strict=True)])
    slope, _ = np.polyfit(np.log(d), norm, 1)
    assert fit.slope == pytest.approx(slope) and fit.lo < slope < fit.hi


def test_dcrit_predicted_is_where_the_norms_meet():
    # C_mem: 10 + 4 ln(1+wd) + 5 ln D; C_gen: 10 + 4 ln(1+wd) + 5 ln 1000 -> they meet at D = 1000
    est, lo, hi = P.dcrit_predicted(mem_rows() + gen_rows())
    assert est == pytest.approx(1000, rel=0.05)
    assert lo <= est <= hi


def test_efficiency_predicts_ungrokking():
    eff = mem_rows() + gen_rows()
    assert P.efficiency_predicts_ungrokking(eff + ungrok_table(d_crit=1100.0)).status == "pass"
    v = P.efficiency_predicts_ungrokking(eff + ungrok_table(d_crit=2200.0))  # 1000 predicted: 2.2x off
    assert v.status == "fail" and v.details["ratio"] == pytest.approx(2.2, rel=0.1)
    assert P.efficiency_predicts_ungrokking(eff).status == "not_run"
    other_p = [dict(r, p=47) for r in ungrok_table()]
    assert P.efficiency_predicts_ungrokking(eff + other_p).status == "not_run"


# ---------------------------------------------------------------- P4


def semi(acc, **kw):
    return row(kind="scratch", acc=acc, experiment="semigrok", **kw)


def test_p4_counts_middling_converged_runs():
    v = P.p4_semigrokking([semi(1.0), semi(0.6), semi(0.55), semi(0.05)])
    assert v.status == "pass" and v.details["n_middling"] == 2


def test_p4_fails_without_middling_runs():
    assert P.p4_semigrokking([semi(1.0), semi(0.1), semi(0.95)]).status == "fail"
    # middling, but not converged or not fitting the train set: not semi-grokking
    assert P.p4_semigrokking([semi(0.6, converged=False), semi(0.6, train_acc=0.9)]).status == "fail"
    assert P.p4_semigrokking([semi(0.6, converged=False)]).status == "not_run"  # nothing converged


def test_p4_not_run_and_ungrok_middling_reported():
    v = P.p4_semigrokking([row(acc=0.7), row(acc=1.0)])
    assert v.status == "not_run" and v.details["ungrok_middling"] == 1


def test_all_verdicts_names():
    names = [v.name for v in P.all_verdicts([], tasks=("add", "mul"))]
    assert names == ["P1", "P2", "P3", "P2 [mul]", "P3 [mul]", "D_crit", "P4"]
    assert all(v.status == "not_run" for v in P.all_verdicts([]))


def test_unconverged_runs_give_a_labelled_verdict_at_the_cap_or_none():
    capped = [{**r, "converged": False, "stopped": "max_steps"} for r in ungrok_table()]
    strict = {v.name: v for v in P.all_verdicts(capped, fallback_to_cap=False)}
    assert strict["P2"].status == "not_run"
    loose = {v.name: v for v in P.all_verdicts(capped)}
    assert loose["P2"].status == "pass" and loose["P2"].figure.startswith(P.AT_CAP)
    assert loose["P2"].details["measured_at"] == "step cap"
    # a flat curve at the cap still fails, and diverged runs never count
    flat = [{**r, "test_acc": 0.6} for r in capped]
    assert {v.name: v for v in P.all_verdicts(flat)}["P2"].status == "fail"
    diverged = [{**r, "stopped": "diverged"} for r in capped]
    assert {v.name: v for v in P.all_verdicts(diverged)}["P2"].status == "not_run"
    # converged runs are judged as they are, without the label
    done = {v.name: v for v in P.all_verdicts(ungrok_table())}
    assert done["P2"].status == "pass" and not done["P2"].figure.startswith(P.AT_CAP)
