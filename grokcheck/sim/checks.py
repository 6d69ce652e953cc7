"""The toy model's rows of ``grokcheck verify``: Section 3's and Figure 2's claims, and the
converged weights against Theorem D.4.

Each claim is a function of a simulated trace, so the tests can feed it a trace from a
deliberately wrong model and see it fail.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from grokcheck.sim.crosscheck import cross_check
from grokcheck.sim.dynamics import Trace, converge, grokking_summary, simulate
from grokcheck.sim.model import PRESETS, SimConfig
from grokcheck.verify import Check

#: Figure 2a's caption: "C_gen only starts to grow significantly by step 2500"; we accept a
#: first step with w_gen >= ONSET_LEVEL within this window
ONSET_WINDOW = (2000, 3500)
ONSET_LEVEL = 0.1
#: loss (nats) whose first crossing dates the fall of a loss
THRESHOLD = 1.0
#: 2c has "no delay": its test-loss delay must be below this fraction of 2a's
NO_DELAY_FRACTION = 0.1


def late_fall(trace: Trace, cfg: SimConfig) -> Check:
    """2a: the train loss is low while the test loss stays above chance, then the test loss falls.

    Holds when at some step train loss < 0.2 while test loss > log(n_labels) (memorisation),
    and the test loss falls below :data:`THRESHOLD` within the run, at least 2000 steps after
    the train loss did.
    """
    g = grokking_summary(trace, threshold=THRESHOLD)
    chance = math.log(cfg.n_labels)
    memorised = (trace.train_loss < 0.2) & (trace.test_loss > chance)
    n_mem = int(memorised.sum())
    ok = n_mem > 0 and g.delay is not None and g.delay >= 2000
    return Check(
        "test loss stays high while train loss is low, then falls late", "Figure 2a",
        f"{n_mem} steps with train < 0.2 and test > log({cfg.n_labels}); loss < {THRESHOLD:g}: "
        f"train at step {g.train_below}, test at step {g.test_below}",
        ok,
    )


def gen_onset(trace: Trace) -> Check:
    """2a: ``w_gen`` reaches :data:`ONSET_LEVEL` inside :data:`ONSET_WINDOW` (near step 2500)."""
    g = grokking_summary(trace, threshold=THRESHOLD, onset=ONSET_LEVEL)
    lo, hi = ONSET_WINDOW
    ok = g.gen_onset is not None and lo <= g.gen_onset <= hi
    at = float(trace.w_gen[2500]) if len(trace.w_gen) > 2500 else float("nan")
    return Check(
        "C_gen only starts to grow significantly by step 2500", "Figure 2a",
        f"w_gen = {at:.3f} at step 2500, reaches {ONSET_LEVEL:g} at step {g.gen_onset} "
        f"(accepted {lo}-{hi})",
        ok,
    )


def substitution(trace: Trace) -> Check:
    """2a: C_gen overtakes C_mem and the total parameter norm falls from its peak."""
    g = grokking_summary(trace)
    peak, end = float(trace.param_norm.max()), float(trace.param_norm[-1])
    ok = g.gen_overtakes_mem is not None and end < 0.8 * peak
    return Check(
        "C_gen substitutes for C_mem and the parameter norm falls", "Figure 2a",
        f"w_gen > w_mem from step {g.gen_overtakes_mem}; parameter norm {peak:.2f} -> {end:.2f}",
        ok,
    )


def never_grows(trace: Trace, cfg: SimConfig) -> Check:
    """2b: ``w_gen`` stays below ``w_mem`` and the test loss never falls below chance."""
    chance = math.log(cfg.n_labels)
    below = bool(np.all(trace.w_gen[1:] < trace.w_mem[1:]))
    min_test = float(trace.test_loss.min())
    ok = below and min_test >= chance - 1e-9
    return Check(
        "C_gen never grows and test loss stays high", "Figure 2b",
        f"max w_gen/w_mem {np.max(trace.w_gen[1:] / trace.w_mem[1:]):.3f}; min test loss "
        f"{min_test:.4f} vs chance log({cfg.n_labels}) = {chance:.4f}",
        ok,
    )


def no_delay(trace: Trace, delay_2a: int | None) -> Check:
    """2c: C_gen at least as strong as C_mem throughout, and the test loss falls with little
    delay (under :data:`NO_DELAY_FRACTION` of 2a's)."""
    g = grokking_summary(trace, threshold=THRESHOLD)
    prioritised = bool(np.all(trace.w_gen >= trace.w_mem))
    ok = (prioritised and g.delay is not None and delay_2a is not None
          and g.delay <= NO_DELAY_FRACTION * delay_2a)
    return Check(
        "no grokking when C_gen and C_mem are learned equally fast", "Figure 2c",
        f"w_gen >= w_mem at every step: {prioritised}; test-loss delay {g.delay} steps "
        f"(2a: {delay_2a})",
        ok,
    )


def appendix_c_timing() -> Check:
    """Appendix C's weight decay (no 1/2) matches Figure 2a's timing; Eq. 2's 1/2 does not."""
    a = grokking_summary(simulate(PRESETS["2a"]), onset=ONSET_LEVEL).gen_onset
    half = grokking_summary(simulate(dataclasses.replace(PRESETS["2a"], wd_half=True)),
                            onset=ONSET_LEVEL).gen_onset
    lo, hi = ONSET_WINDOW
    ok = a is not None and lo <= a <= hi and (half is None or half > hi)
    return Check(
        "weight decay alpha (P'_g^2 + P'_m^2) as in Appendix C gives Figure 2a's timing",
        "Appendix C", f"w_gen reaches {ONSET_LEVEL:g} at step {a}; with Eq. 2's 1/2 at step {half}",
        ok,
    )


def converged_ratio(panel: str, cfg: SimConfig) -> Check:
    """Gradient descent run to convergence ends at Theorem D.4's optimum (kappa < q)."""
    end = converge(cfg)
    x = cross_check(cfg, end)
    ratio = "-" if x.gd_ratio is None else f"{x.gd_ratio:.6g}"
    theory = "inf" if x.theorem_ratio is None else f"{x.theorem_ratio:.6g}"
    return Check(
        f"converged w_gen/w_mem = Theorem D.4's optimum ({panel})", "Theorem D.4",
        f"{ratio} after {end.steps} steps (theory {theory}); weight error {x.weight_error:.1e}",
        bool(x.holds and x.matches_optimum),
    )


def basin(cfg: SimConfig) -> Check:
    """kappa >= q: the theorem's global optimum vs where gradient descent ends; both reported."""
    end = converge(cfg)
    x = cross_check(cfg, end)
    return Check(
        f"kappa = {cfg.kappa:g} >= q: global optimum vs gradient descent", "Theorem D.4",
        f"theorem: w_gen {x.theorem_w_gen:.4g}, w_mem {x.theorem_w_mem:.3g} (loss {x.theorem_loss:.4f}); "
        f"GD from Table 1 (a): w_gen {x.gd_w_gen:.3g}, w_mem {x.gd_w_mem:.4g} (loss {x.gd_loss:.4f}); "
        f"differ: {not x.matches_optimum}",
        bool(x.holds and end.converged),
    )


def random_configs(n: int, seed: int = 0) -> list[SimConfig]:
    """Random (P_g, P_m, kappa < 1.6) from 2c's initialisation, for the full verification."""
    rng = np.random.default_rng(seed)
    return [
        dataclasses.replace(PRESETS["2c"], P_g=float(pg), P_m=float(pm), kappa=float(k))
        for pg, pm, k in zip(rng.uniform(0.5, 3, n), rng.uniform(0.5, 3, n), rng.uniform(0.4, 1.6, n),
                             strict=True)
    ]


def checks(quick: bool = True) -> Iterator[Check]:
    traces = {p: simulate(cfg) for p, cfg in PRESETS.items()}
    yield late_fall(traces["2a"], PRESETS["2a"])
    yield gen_onset(traces["2a"])
    yield substitution(traces["2a"])
    yield never_grows(traces["2b"], PRESETS["2b"])
    yield no_delay(traces["2c"], grokking_summary(traces["2a"], threshold=THRESHOLD).delay)
    yield appendix_c_timing()
    for panel, cfg in PRESETS.items():
        yield converged_ratio(panel, cfg)
    yield basin(dataclasses.replace(PRESETS["2a"], kappa=2.5))
    if not quick:
        results = [cross_check(c, converge(c)) for c in random_configs(30)]
        worst = max(r.weight_error for r in results)
        yield Check(
            "converged weights = Theorem D.4's optimum, random P_g, P_m, kappa < q",
            "Theorem D.4", f"{len(results)} configs, worst weight error {worst:.1e}",
            all(r.holds for r in results),
        )
