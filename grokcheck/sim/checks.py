"""The toy model's rows of ``grokcheck verify``: every claim in Figure 2's caption that the
simulator can measure, and the converged weights against Theorem D.4.

Each claim is a function of a simulated trace, so the tests can feed it a trace from a
deliberately wrong model and see it fail. Claims about losses are decided under Appendix C's
definitions (cross-entropy plus ``L_wd``, ``loss="appendix_c"``); each such row also states
the figure for the cross-entropy alone, so a reader can compare both with the paper's plot.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from grokcheck.sim.crosscheck import cross_check
from grokcheck.sim.dynamics import Trace, converge, grokking_summary, simulate
from grokcheck.sim.model import PRESETS, SimConfig
from grokcheck.verdicts import Check

#: Figure 2a's caption: "C_gen only starts to grow significantly by step 2500"; we accept a
#: first step with w_gen >= ONSET_LEVEL within this window
ONSET_WINDOW = (2000, 3500)
ONSET_LEVEL = 0.1
#: loss (nats) whose first crossing dates the fall of a loss
THRESHOLD = 1.0
#: "grokking": the test loss falls at least this many steps after the train loss (a fifth of
#: Figure 2's 10k-step axis)
MIN_DELAY = 2000
#: 2a "substitutes for C_mem": at the end w_mem is below this fraction of its peak
SUBSTITUTE_FRACTION = 0.5
#: 2a "total parameter norm falls": at the end it is below this fraction of its peak
NORM_FALL_FRACTION = 0.8
#: 2b "C_gen never grows": its largest weight stays below this fraction of C_mem's largest
NEVER_GROWS_FRACTION = 0.2
#: 2c "no grokking": its test-loss delay must be below this fraction of 2a's
NO_DELAY_FRACTION = 0.1
#: 2c "test loss is very similar to train loss throughout training": test/train <= this
#: factor at every step after the first SIMILAR_SKIP of the run (both curves start at
#: log(q), so the first steps, where the train loss falls first, are left out)
SIMILAR_RATIO = 2.0
SIMILAR_SKIP = 0.01

#: how a row names each loss definition
LOSS_NAMES = {"appendix_c": "with L_wd (Appendix C)", "xent": "cross-entropy alone"}
OTHER = {"appendix_c": "xent", "xent": "appendix_c"}


def _steps(x: int | None) -> str:
    return "never" if x is None else str(x)


# ---------------------------------------------------------------------------------------------
# Measures (numbers), each a pure function of a trace


def memorised_steps(trace: Trace, cfg: SimConfig, loss: str = "appendix_c") -> int:
    """Steps with train loss < :data:`THRESHOLD` while the test loss is above chance log(q)."""
    train, test = trace.losses(loss)
    return int(((train < THRESHOLD) & (test > math.log(cfg.n_labels))).sum())


def loss_ratio(test: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``test / train``, with 1 where both are 0 and inf where only the train loss is (a
    cross-entropy can underflow to 0 without weight decay)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(test, float) / np.asarray(train, float)
    return np.where((train == 0) & (test == 0), 1.0, np.where(train == 0, np.inf, r))


def max_loss_ratio(trace: Trace, loss: str = "appendix_c", skip: float = SIMILAR_SKIP) -> tuple[float, int]:
    """Largest test/train loss ratio after the first ``skip`` of the run, and its step."""
    train, test = trace.losses(loss)
    first = max(1, math.ceil(skip * (len(train) - 1)))
    ratio = loss_ratio(test[first:], train[first:])
    i = int(np.argmax(ratio))
    return float(ratio[i]), first + i


# ---------------------------------------------------------------------------------------------
# Rows


def late_fall(trace: Trace, cfg: SimConfig, loss: str = "appendix_c") -> Check:
    """2a "we observe grokking": the train loss is low while the test loss stays above chance,
    then the test loss falls late.

    Holds when at some step train loss < :data:`THRESHOLD` while test loss > log(n_labels)
    (memorisation), and the test loss falls below :data:`THRESHOLD` within the run at least
    :data:`MIN_DELAY` steps after the train loss did.
    """
    g = grokking_summary(trace, threshold=THRESHOLD, loss=loss)
    n_mem = memorised_steps(trace, cfg, loss)
    o = grokking_summary(trace, threshold=THRESHOLD, loss=OTHER[loss])
    ok = n_mem > 0 and g.delay is not None and g.delay >= MIN_DELAY
    return Check(
        "grokking: test loss stays high while train loss is low, then falls late",
        "Figure 2a",
        f"{LOSS_NAMES[loss]}: {n_mem} steps with train < {THRESHOLD:g} and test > log({cfg.n_labels}); "
        f"loss < {THRESHOLD:g}: train at step {_steps(g.train_below)}, test at step "
        f"{_steps(g.test_below)}, delay {_steps(g.delay)} (needed >= {MIN_DELAY}); "
        f"{LOSS_NAMES[OTHER[loss]]}: {memorised_steps(trace, cfg, OTHER[loss])} steps, "
        f"delay {_steps(o.delay)}",
        ok,
    )


def gen_onset(trace: Trace) -> Check:
    """2a: ``w_gen`` reaches :data:`ONSET_LEVEL` inside :data:`ONSET_WINDOW` (near step 2500)."""
    g = grokking_summary(trace, threshold=THRESHOLD, onset=ONSET_LEVEL)
    lo, hi = ONSET_WINDOW
    ok = g.gen_onset is not None and lo <= g.gen_onset <= hi
    at = float(trace.w_gen[2500]) if len(trace.w_gen) > 2500 else float("nan")
    return Check(
        "C_gen only starts to grow significantly by step 2500",
        "Figure 2a",
        f"w_gen = {at:.3f} at step 2500, reaches {ONSET_LEVEL:g} at step {_steps(g.gen_onset)} "
        f"(accepted {lo}-{hi})",
        ok,
    )


def substitution(trace: Trace) -> Check:
    """2a "and then substitutes for C_mem": ``w_gen`` overtakes ``w_mem`` within the run and
    ``w_mem`` ends below :data:`SUBSTITUTE_FRACTION` of its peak."""
    g = grokking_summary(trace)
    peak, end = float(trace.w_mem.max()), float(trace.w_mem[-1])
    ok = g.gen_overtakes_mem is not None and end < SUBSTITUTE_FRACTION * peak
    return Check(
        "C_gen then substitutes for C_mem",
        "Figure 2a",
        f"w_gen > w_mem from step {_steps(g.gen_overtakes_mem)}; w_mem {peak:.3f} (peak) -> "
        f"{end:.3f} (end), needed < {SUBSTITUTE_FRACTION:g} x peak",
        ok,
    )


def norm_falls(trace: Trace) -> Check:
    """2a "Total parameter norm falls": the norm ends below :data:`NORM_FALL_FRACTION` of its peak."""
    i = int(np.argmax(trace.param_norm))
    peak, end = float(trace.param_norm[i]), float(trace.param_norm[-1])
    return Check(
        "total parameter norm falls (C_gen is more efficient)",
        "Figure 2a",
        f"parameter norm {peak:.3f} (peak, step {i}) -> {end:.3f} (end) = {end / peak:.2f} x peak, "
        f"needed < {NORM_FALL_FRACTION:g}",
        end < NORM_FALL_FRACTION * peak,
    )


def never_grows(trace: Trace) -> Check:
    """2b "it [C_gen] never grows": ``max w_gen`` stays below :data:`NEVER_GROWS_FRACTION` of
    ``max w_mem``. (``w_gen`` does rise to its optimal share, 1/8 of ``w_mem``; on Figure 2's
    0-10 logit axis that stays near the bottom.)"""
    g, m = float(trace.w_gen.max()), float(trace.w_mem.max())
    return Check(
        "C_gen never grows",
        "Figure 2b",
        f"max w_gen {g:.3f} = {g / m:.3f} x max w_mem {m:.3f}, needed < {NEVER_GROWS_FRACTION:g}",
        g < NEVER_GROWS_FRACTION * m,
    )


def test_stays_high(trace: Trace, cfg: SimConfig, loss: str = "appendix_c") -> Check:
    """2b "test loss stays high due to C_mem throughout training": the test loss is at or above
    chance log(n_labels) at every step, and ``w_mem > w_gen`` at every step after the first."""
    chance = math.log(cfg.n_labels)
    mins = {d: float(trace.losses(d)[1].min()) for d in (loss, OTHER[loss])}
    mem_leads = bool(np.all(trace.w_mem[1:] > trace.w_gen[1:]))
    ok = mem_leads and mins[loss] >= chance - 1e-9
    return Check(
        "test loss stays high due to C_mem throughout training",
        "Figure 2b",
        f"min test loss {LOSS_NAMES[loss]} {mins[loss]:.4f}, {LOSS_NAMES[OTHER[loss]]} "
        f"{mins[OTHER[loss]]:.4f}, vs chance log({cfg.n_labels}) = {chance:.4f}; "
        f"w_mem > w_gen at every step: {mem_leads}",
        ok,
    )


def prioritised(trace: Trace) -> Check:
    """2c "C_gen is prioritised at least as much as C_mem throughout training": ``w_gen >= w_mem``
    at every step."""
    gap = trace.w_gen - trace.w_mem
    i = int(np.argmin(gap))
    return Check(
        "C_gen is prioritised at least as much as C_mem throughout training",
        "Figure 2c",
        f"min (w_gen - w_mem) = {gap[i]:.3g} at step {i}, needed >= 0",
        bool(gap[i] >= 0),
    )


def similar_losses(trace: Trace, loss: str = "appendix_c") -> Check:
    """2c "test loss is very similar to train loss throughout training": the largest test/train
    ratio after the first :data:`SIMILAR_SKIP` of the run is at most :data:`SIMILAR_RATIO`."""
    r, at = max_loss_ratio(trace, loss)
    ro, at_o = max_loss_ratio(trace, OTHER[loss])
    train, test = trace.losses(loss)
    first = max(1, math.ceil(SIMILAR_SKIP * (len(train) - 1)))
    ratios = loss_ratio(test, train)
    above = np.flatnonzero(ratios > SIMILAR_RATIO)
    if above.size and above[-1] == len(train) - 1:
        settled = f"> {SIMILAR_RATIO:g} to the last step"
    else:
        settled = f"<= {SIMILAR_RATIO:g} from step {above[-1] + 1 if above.size else 0} on"
    return Check(
        "test loss is very similar to train loss throughout training",
        "Figure 2c",
        f"{LOSS_NAMES[loss]}: max test/train after step {first} = {r:.2f} at step {at}, "
        f"{settled}, {ratios[-1]:.2f} at the end "
        f"(needed <= {SIMILAR_RATIO:g} after step {first}); "
        f"{LOSS_NAMES[OTHER[loss]]}: {ro:.2f} at step {at_o}",
        r <= SIMILAR_RATIO,
    )


def no_delay(trace: Trace, delay_2a: int | None, loss: str = "appendix_c") -> Check:
    """2c "no grokking is observed": the test loss falls with little delay (under
    :data:`NO_DELAY_FRACTION` of 2a's delay, both under the same loss definition)."""
    g = grokking_summary(trace, threshold=THRESHOLD, loss=loss)
    ok = g.delay is not None and delay_2a is not None and g.delay <= NO_DELAY_FRACTION * delay_2a
    frac = "-" if g.delay is None or not delay_2a else f"{g.delay / delay_2a:.1%}"
    return Check(
        "no grokking when C_gen and C_mem are learned equally fast",
        "Figure 2c",
        f"{LOSS_NAMES[loss]}: test-loss delay {_steps(g.delay)} steps = {frac} of 2a's "
        f"{_steps(delay_2a)} (needed <= {NO_DELAY_FRACTION:.0%})",
        ok,
    )


def caption_rows(
    traces: dict[str, Trace], loss: str = "appendix_c", configs: dict[str, SimConfig] | None = None
) -> list[Check]:
    """Every Figure 2 caption row, from the three panels' traces (run with ``configs``, by
    default Table 1's), under one loss definition."""
    configs = configs or PRESETS
    a, b, c = traces["2a"], traces["2b"], traces["2c"]
    delay_2a = grokking_summary(a, threshold=THRESHOLD, loss=loss).delay
    return [
        late_fall(a, configs["2a"], loss),
        gen_onset(a),
        substitution(a),
        norm_falls(a),
        never_grows(b),
        test_stays_high(b, configs["2b"], loss),
        prioritised(c),
        similar_losses(c, loss),
        no_delay(c, delay_2a, loss),
    ]


def appendix_c_timing() -> Check:
    """Appendix C's weight decay (no 1/2) matches Figure 2a's timing; Eq. 2's 1/2 does not."""
    a = grokking_summary(simulate(PRESETS["2a"]), onset=ONSET_LEVEL).gen_onset
    half = grokking_summary(
        simulate(dataclasses.replace(PRESETS["2a"], wd_half=True)), onset=ONSET_LEVEL
    ).gen_onset
    lo, hi = ONSET_WINDOW
    ok = a is not None and lo <= a <= hi and (half is None or half > hi)
    return Check(
        "weight decay alpha (P'_g^2 + P'_m^2) as in Appendix C gives Figure 2a's timing",
        "Appendix C",
        f"w_gen reaches {ONSET_LEVEL:g} at step {a}; with Eq. 2's 1/2 at step {half}",
        ok,
    )


def converged_ratio(panel: str, cfg: SimConfig) -> Check:
    """Gradient descent run to convergence ends at Theorem D.4's optimum (kappa < q)."""
    end = converge(cfg)
    x = cross_check(cfg, end)
    ratio = "-" if x.gd_ratio is None else f"{x.gd_ratio:.6g}"
    theory = "inf" if x.theorem_ratio is None else f"{x.theorem_ratio:.6g}"
    return Check(
        f"converged w_gen/w_mem = Theorem D.4's optimum ({panel})",
        "Theorem D.4",
        f"{ratio} after {end.steps} steps (theory {theory}); weight error {x.weight_error:.1e}",
        bool(x.holds and x.matches_optimum),
    )


def basin(cfg: SimConfig) -> Check:
    """kappa >= q: the theorem's global optimum vs where gradient descent ends; both reported."""
    end = converge(cfg)
    x = cross_check(cfg, end)
    return Check(
        f"kappa = {cfg.kappa:g} >= q: global optimum vs gradient descent",
        "Theorem D.4",
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
        for pg, pm, k in zip(
            rng.uniform(0.5, 3, n), rng.uniform(0.5, 3, n), rng.uniform(0.4, 1.6, n), strict=True
        )
    ]


def checks(quick: bool = True) -> Iterator[Check]:
    traces = {p: simulate(cfg) for p, cfg in PRESETS.items()}
    yield from caption_rows(traces)
    yield appendix_c_timing()
    for panel, cfg in PRESETS.items():
        yield converged_ratio(panel, cfg)
    yield basin(dataclasses.replace(PRESETS["2a"], kappa=2.5))
    if not quick:
        results = [cross_check(c, converge(c)) for c in random_configs(30)]
        worst = max(r.weight_error for r in results)
        yield Check(
            "converged weights = Theorem D.4's optimum, random P_g, P_m, kappa < q",
            "Theorem D.4",
            f"{len(results)} configs, worst weight error {worst:.1e}",
            all(r.holds for r in results),
        )
