"""The hysteresis verdict on constructed tables: case 1, case 2, undecided, and unsettled runs."""

from __future__ import annotations

from grokcheck.experiments import hysteresis as H


def run(kind, d, acc, seed=0, kappa=6.0, **kw):
    r = dict(
        experiment="hysteresis", kind=kind, task="add", p=31, train_size=d, weight_decay=1.0,
        seed=seed, converged=True, train_acc=1.0, test_acc=acc, kappa=kappa,
        o_t=10.0, o_m=2.0, o_t_prev=10.05, o_m_prev=2.01,
    )  # fmt: skip
    r.update(kw)
    return r


def pair(d, grokked, scratch, **kw):
    return [run("ungrok", d, grokked, **kw), run("scratch", d, scratch, **kw)]


def test_two_end_states_with_kappa_above_q_support_case_1():
    t = pair(100, 0.95, 0.05) + pair(130, 1.0, 0.9) + pair(160, 1.0, 1.0)
    v = H.hysteresis_verdict(t)
    assert v.status == "pass" and v.details["case"] == 1 and v.details["n_apart"] == 1
    assert v.figure.startswith("two states")


def test_one_middling_state_contradicts_kappa_above_q():
    t = pair(100, 0.6, 0.62) + pair(130, 0.75, 0.7)
    v = H.hysteresis_verdict(t)
    assert v.status == "fail" and v.details["case"] == 2
    # the same runs with kappa < q agree with the theorem
    t2 = pair(100, 0.6, 0.62, kappa=1.5) + pair(130, 0.75, 0.7, kappa=1.5)
    assert H.hysteresis_verdict(t2).status == "pass"
    # and two end states with kappa < q contradict it
    assert H.hysteresis_verdict(pair(100, 1.0, 0.0, kappa=1.5)).status == "fail"


def test_same_extremes_everywhere_decide_nothing():
    t = pair(100, 0.02, 0.03) + pair(200, 1.0, 1.0)
    v = H.hysteresis_verdict(t)
    assert v.status == "not_run" and v.figure.startswith("undecided")


def test_unsettled_runs_do_not_count():
    # the circuits were still moving: o_t changed by 20% over the last window
    t = pair(100, 1.0, 0.0, o_t_prev=8.0)
    v = H.hysteresis_verdict(t)
    assert v.status == "not_run" and "cannot be told apart" in v.figure
    assert H.hysteresis_verdict(pair(100, 1.0, 0.0, converged=False)).status == "not_run"
    assert H.hysteresis_verdict(pair(100, 1.0, 0.0, train_acc=0.9)).status == "not_run"
    assert H.hysteresis_verdict(pair(100, 1.0, 0.0, o_t_prev=None)).status == "not_run"


def test_a_missing_partner_or_kappa():
    assert H.hysteresis_verdict([run("ungrok", 100, 1.0)]).status == "not_run"
    assert H.hysteresis_verdict(pair(100, 1.0, 0.0, kappa=None)).status == "not_run"
    assert H.hysteresis_verdict([]).status == "not_run"


def test_circuits_settled_is_relative_to_the_larger_circuit():
    assert H.circuits_settled(dict(o_t=10.0, o_m=-1.0, o_t_prev=10.19, o_m_prev=-1.19))
    assert not H.circuits_settled(dict(o_t=10.0, o_m=-1.0, o_t_prev=10.21, o_m_prev=-1.0))
