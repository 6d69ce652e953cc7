"""Wall time of the theorem commands, end to end (process start, imports, sympy, scipy).

Target: ``grokcheck theorem d4`` with up to 6 circuits answers
in under 2 s on this machine. Run: ``python benchmarks/bench_theory.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["theorem", "d4", "--kappa", "1.2"],
    ["theorem", "d4", "--kappa", "1.2", "--norms", "1,2,3,4,5,6"],
    ["theorem", "d4", "--kappa", "2.5", "--norms", "1,2,3,4,5,6"],
    ["theorem", "d4", "--kappa", "1.999", "--norms", "1,1,2,3,4,5"],
    ["theorem", "d1"],
    ["theorem", "lemmas"],
    ["--help"],
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'command':<58} {'median s':>9} {'max s':>7}")
    for cmd in COMMANDS:
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "grokcheck", *cmd], check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        print(f"{'grokcheck ' + ' '.join(cmd):<58} {statistics.median(times):9.2f} {max(times):7.2f}")


if __name__ == "__main__":
    main()
