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
        train_size=d,
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
    # linear in ln D from 0 at 400 to 1 at 2500: <= 0.2 only at 400 and 500, >= 0.9 only at 2500
    t = [row(d=d, acc=math.log(d / 400) / math.log(2500 / 400)) for d in SIZES]
    v = P.p2_ungrokking(t)
    assert v.status == "fail" and v.details["per_weight_decay"][0]["d_hi"] / 500 == 5


#: Figure 7 as the paper describes it: 7 geometric sizes in [390, 1494], 10 seeds; near 0 at
#: the bottom, "ungrokking to middling test accuracy" in between, "~0.7 with a dataset size of
#: around 800-1000" (Appendix A.2), near 1 at the top
FIG7_SIZES = [round(390 * ((1494 / 390) ** (1 / 6)) ** k) for k in range(7)]
FIG7_MEANS = [0.02, 0.08, 0.35, 0.7, 0.72, 0.93, 0.99]


def fig7_table(sizes=FIG7_SIZES, means=FIG7_MEANS, wd=1.0):
    # 10 seeds around each mean (+-0.05, clipped), so the seeds' mean is the reported one
    out = []
    for d, m in zip(sizes, means, strict=False):
        for s in range(10):
            out.append(
                row(
                    d=d, wd=wd, seed=s, acc=min(1.0, max(0.0, m + 0.05 * (s % 2 * 2 - 1) * (m not in (0, 1))))
                )
            )
    return out


def test_p2_passes_the_papers_figure_7():
    assert FIG7_SIZES == [390, 488, 610, 763, 955, 1194, 1494]
    v = P.p2_ungrokking(fig7_table())
    assert v.status == "pass", v.figure
    (t,) = v.details["per_weight_decay"]
    assert t["d_lo"] == 488 and t["d_hi"] == 1194  # a fall over x2.45, middling at 763 and 955


def test_p2_fails_a_fall_spread_over_10x():
    sizes = [round(200 * 10 ** (k / 6)) for k in range(-1, 8)]  # 147 .. 2929
    means = [0.0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.95, 1.0]  # <= 0.2 to 200*10^(1/6)=294, >= 0.9 from 2000
    v = P.p2_ungrokking(fig7_table(sizes, means))
    assert v.status == "fail" and "too wide" in v.figure
    assert v.details["per_weight_decay"][0]["d_hi"] / v.details["per_weight_decay"][0]["d_lo"] > 4


def test_p2_rule_sits_at_figure_7s_span():
    # the same fall stretched just inside and just outside a factor 4 in D'
    for stretch, want in ((3.9, "pass"), (4.2, "fail")):
        t = [
            row(d=400, acc=0.0),
            row(d=round(400 * stretch), acc=1.0),
            row(d=round(400 * stretch**0.5), acc=0.5),
        ]
        assert P.p2_ungrokking(t).status == want, stretch


def test_p2_not_run_without_ungrok_runs_or_converged_runs():
    assert P.p2_ungrokking([]).status == "not_run"
    assert P.p2_ungrokking([row(kind="scratch")]).status == "not_run"
    t = [dict(r, converged=False) for r in ungrok_table()]
    v = P.p2_ungrokking(t)
    assert v.status == "not_run" and v.details["not_converged"] == len(t)


def test_p2_is_undecided_where_the_missing_sizes_did_not_converge():
    """The fall's bottom lies among memorising runs that had not converged: a converged-only
    curve that never reaches LOW is missing data, not a refutation (the quick scale's case)."""
    full = fig7_table()
    low = set(FIG7_SIZES[:2])  # the two sizes near 0 did not converge
    t = [dict(r, converged=False) if r["train_size"] in low else r for r in full]
    v = P.p2_ungrokking(t)
    assert v.status == "not_run", v.figure
    assert "undecided" in v.figure and v.details["undecided"] == {"1.0": [390, 488]}
    # the same runs all converged: the rule decides (Figure 7 passes)
    assert P.p2_ungrokking(full).status == "pass"


def test_p2_undecided_never_hides_a_conclusive_failure():
    # controls: flat curves with every size converged still fail, also beside an undecided one
    flat = [row(d=d, wd=2.0, acc=0.5) for d in SIZES]
    assert P.p2_ungrokking(flat).status == "fail"
    t = [dict(r, converged=False) if r["train_size"] in (390, 488) else r for r in fig7_table()]
    v = P.p2_ungrokking(t + flat)
    assert v.status == "fail" and "undecided" in v.figure
    # a missing size above the observed fall changes nothing: a spread fall still fails
    sizes = [round(200 * 10 ** (k / 6)) for k in range(-1, 8)]
    means = [0.0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.95, 1.0]
    spread = fig7_table(sizes, means) + [row(d=5000, seed=s, acc=1.0, converged=False) for s in range(10)]
    assert P.p2_ungrokking(spread).status == "fail"


def test_dcrit_observed_interpolates_in_log_size():
    t = [row(d=400, acc=0.0), row(d=800, acc=0.2), row(d=1000, acc=0.8), row(d=2000, acc=1.0)]
    (d,) = P.dcrit_observed(t).values()
    assert d == pytest.approx(math.sqrt(800 * 1000))  # 0.5 is halfway from 0.2 to 0.8


def test_dcrit_observed_is_the_geometric_mean_of_the_seeds():
    t = [row(d=d, seed=0, acc=a) for d, a in ((400, 0.0), (800, 0.0), (1600, 1.0))]
    t += [row(d=d, seed=1, acc=a) for d, a in ((400, 0.0), (800, 0.6), (1600, 1.0))]
    s0 = math.sqrt(800 * 1600)  # 0.5 halfway from 0 to 1
    s1 = math.exp(math.log(400) + (0.5 / 0.6) * math.log(2))
    (d,) = P.dcrit_observed(t).values()
    assert d == pytest.approx(math.sqrt(s0 * s1))


# ---------------------------------------------------------------- P3


def test_p3_agreeing_weight_decays_pass():
    v = P.p3_weight_decay(ungrok_table(d_crit={0.5: 950.0, 1.0: 1000.0, 2.0: 1100.0}))
    assert v.name == "P3 (D_crit)"
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


def test_dcrit_per_seed_brackets_each_seed():
    t = [row(d=d, seed=0, acc=float(d >= 800)) for d in (400, 630, 800, 1000)]
    t += [row(d=d, seed=1, acc=float(d >= 1000)) for d in (400, 630, 800, 900, 1000)]
    t += [row(d=d, seed=2, acc=1.0) for d in (400, 800)]
    c0, c1, c2 = P.dcrit_per_seed(t)
    assert (c0.lo, c0.hi) == (630, 800) and c0.d_crit == pytest.approx(math.sqrt(630 * 800))
    assert (c1.lo, c1.hi) == (900, 1000) and c1.factor == pytest.approx(1000 / 900)
    assert (c2.lo, c2.hi, c2.d_crit) == (None, 400, None)  # below the grid
    # a weight decay where one seed never crosses has no D_crit observed
    assert P.dcrit_observed(t) == {1.0: None}
    assert P.dcrit_observed(t[:9])[1.0] == pytest.approx(math.sqrt(c0.d_crit * c1.d_crit))


def test_transition_mean_uses_sizes_every_seed_ran():
    t = [row(d=d, seed=s, acc=float(d >= 1000)) for d in (400, 800, 1000, 2000) for s in (0, 1)]
    t.append(row(d=900, seed=0, acc=0.0))  # a bisection point of seed 0 only
    (tr,), _ = P.transitions(t)
    assert tr.sizes == (400, 800, 1000, 2000)


def wd_table(shift: dict[float, float], seeds=range(3)):
    """Figure 7's curve per weight decay, its sizes scaled by shift[wd]."""
    return [
        dict(r, train_size=round(r["train_size"] * f))
        for wd, f in shift.items()
        for r in fig7_table(wd=wd)
        if r["seed"] in seeds
    ]


def test_p3_accuracy_passes_the_same_curve_at_every_weight_decay():
    t = wd_table({w: 1.0 for w in (0.1, 0.5, 1.0, 1.5, 2.0)})  # Figure 4's weight decays
    v = P.p3_accuracy(t)
    assert v.status == "pass", v.figure
    assert P.p3_weight_decay(t).status == "pass" and P.p2_ungrokking(t).status == "pass"
    assert v.name == "P3 (accuracy)"


def test_p3_accuracy_fails_when_weight_decay_moves_the_curve():
    # same sizes, curves shifted by one grid step: at 764 one weight decay sits at 0.7, the other at 0.35
    t = fig7_table(wd=0.5) + fig7_table(FIG7_SIZES, FIG7_MEANS[1:] + [1.0], wd=2.0)
    v = P.p3_accuracy(t)
    assert v.status == "fail", v.figure
    # and both forms say no to curves a factor 2 apart in D'
    t2 = wd_table({0.5: 1.0, 2.0: 2.0})
    v2 = P.p3_weight_decay(t2)
    assert v2.status == "fail" and v2.details["ratio"] == pytest.approx(2.0, rel=0.02)
    assert P.p3_weight_decay(wd_table({0.5: 1.0, 2.0: 1.2})).status == "pass"


def test_p3_accuracy_tolerates_what_seeds_alone_do():
    # at 764 seeds of each weight decay span 0.2-0.9; weight decays differ by 0.3 there
    t = [
        row(d=d, wd=wd, seed=s, acc=a)
        for wd in (0.5, 2.0)
        for d, a in ((400, 0.0), (1500, 1.0))
        for s in (0, 1)
    ]
    t += [row(d=764, wd=0.5, seed=0, acc=0.2), row(d=764, wd=0.5, seed=1, acc=0.9)]
    t += [row(d=764, wd=2.0, seed=0, acc=0.5), row(d=764, wd=2.0, seed=1, acc=1.0)]
    assert P.p3_accuracy(t).status == "pass"
    assert P.p3_accuracy(t[:6]).status == "not_run"  # 2 sizes run by both weight decays


def test_p3_without_a_crossing_among_converged_runs_is_untested_not_refuted():
    t = ungrok_table(wds=(0.5, 2.0))
    below = [dict(r, converged=False) if r["weight_decay"] == 2.0 and r["test_acc"] < 0.5 else r for r in t]
    v = P.p3_weight_decay(below)
    assert v.status == "not_run" and "did not converge" in v.figure


def test_p3_accuracy_compares_only_sizes_every_seed_ran():
    t = [
        row(d=d, wd=wd, seed=s, acc=float(d >= 1000))
        for wd in (0.5, 2.0)
        for d in (400, 800, 1600)
        for s in (0, 1)
    ]
    # bisection points of one seed each, at the same D' for both weight decays: not comparable
    t += [row(d=1000, wd=0.5, seed=0, acc=1.0), row(d=1000, wd=2.0, seed=1, acc=0.0)]
    v = P.p3_accuracy(t)
    assert v.status == "pass" and [x["size"] for x in v.details["per_size"]] == [400, 800, 1600]


def test_hysteresis_runs_stay_out_of_the_ungrokking_rows():
    t = ungrok_table(wds=(1.0,)) + [row(d=d, acc=0.5, experiment="hysteresis") for d in (900, 1000, 1100)]
    assert P.p2_ungrokking(t).status == "pass"
    assert P.p4_ungrok_middling(t).details["n_runs"] == len(ungrok_table(wds=(1.0,)))


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
    assert v.status == "pass" and v.details["n_middling"] == 2 and v.name == "P4 (scratch)"


def test_p4_passes_the_papers_figure_5_rate():
    # "Out of 200 runs, at least 6 show clear semi-grokking"
    t = [semi(0.6)] * 6 + [semi(1.0)] * 150 + [semi(0.02)] * 44
    assert P.p4_semigrokking(t).status == "pass"


def test_p4_fails_only_when_the_papers_rate_makes_zero_unlikely():
    # 99 converged runs without one middling: (1 - 0.03)^99 = 0.049 < 0.05
    assert P.p4_semigrokking([semi(1.0)] * 99).status == "fail"
    v = P.p4_semigrokking([semi(1.0)] * 12)  # 0.69 at the paper's rate: no evidence either way
    assert v.status == "not_run" and "inconclusive" in v.figure
    assert v.details["p_zero_at_paper_rate"] == pytest.approx(0.97**12)
    # middling, but not converged or not fitting the train set: not semi-grokking
    t = [semi(0.6, converged=False), semi(0.6, train_acc=0.9)] + [semi(1.0)] * 98
    assert P.p4_semigrokking(t).status == "not_run"
    assert P.p4_semigrokking(t + [semi(0.05)]).status == "fail"


def test_p4_ungrok_passes_figure_7_and_counts_its_own_runs():
    v = P.p4_ungrok_middling(fig7_table())
    assert v.status == "pass" and v.name == "P4 (ungrok)"
    assert v.details["n_middling"] == 30  # 610 (0.35 +- 0.05), 764 and 955
    assert P.p4_semigrokking(fig7_table()).status == "not_run"  # never merged


def test_p4_ungrok_fails_a_step_with_runs_at_dcrit():
    # every seed jumps from 0 to 1 between 764 and 955, and bisection put runs right at the step
    t = [row(d=d, seed=s, acc=float(d >= 855)) for s in range(3) for d in (610, 764, 850, 860, 955, 1195)]
    v = P.p4_ungrok_middling(t)
    assert v.status == "fail" and v.details["n_near_dcrit"] >= 3
    assert P.p4_ungrok_middling(t[:2]).status == "not_run"  # nothing near a D_crit


def test_all_verdicts_names():
    names = [v.name for v in P.all_verdicts([], tasks=("add", "mul"))]
    assert names == [
        "P1", "P2", "P3 (D_crit)", "P3 (accuracy)", "P2 [mul]", "P3 (D_crit) [mul]", "P3 (accuracy) [mul]",
        "D_crit", "P4 (scratch)", "P4 (ungrok)", "Hysteresis", "Circuit measures",
    ]  # fmt: skip
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
