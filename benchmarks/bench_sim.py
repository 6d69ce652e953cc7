"""Speed of the toy simulator (Appendix C): the three panels of Figure 2 and runs to convergence.

Target: all three panels, 10k steps each, computed in under 0.5 s.

    python benchmarks/bench_sim.py [--repeats N]

Prints the median and min wall time of each stage over ``N`` repeats (CPU timings are noisy
when other work shares the machine; the min is the least disturbed).
"""

from __future__ import annotations

import argparse
import statistics
import time


def timed(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from grokcheck.sim.crosscheck import cross_check
    from grokcheck.sim.dynamics import converge, simulate
    from grokcheck.sim.model import PRESETS
    from grokcheck.sim.run import run_figure

    cross_check(PRESETS["2a"], converge(PRESETS["2a"]))  # warm: sympy import and derivation, once

    stages = {
        "3 panels x 10k steps (simulate + metrics)": lambda: [simulate(c) for c in PRESETS.values()],
        "3 runs to convergence (from step 0)": lambda: [converge(c) for c in PRESETS.values()],
        "run_figure('2'), no files (simulate, converge, cross-check)": lambda: run_figure("2", figures=False),
    }
    steps = sum(converge(c).steps for c in PRESETS.values())
    print(f"toy simulator, {args.repeats} repeats (median / min, seconds)")
    results = {}
    for name, fn in stages.items():
        results[name] = med, best = timed(fn, args.repeats)
        print(f"  {name:<62} {med:7.3f} / {best:7.3f}")
    med, best = results[next(iter(stages))]
    print(
        f"  per displayed step: {best / 30_000 * 1e6:.2f} us; the convergence runs take {steps} steps in all"
    )
    print(f"  target, 3 panels < 0.5 s: {'met' if med < 0.5 else 'NOT met'} (median {med:.3f} s)")


if __name__ == "__main__":
    main()
