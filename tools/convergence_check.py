"""Continue a sample of converged runs for 3x as many steps again and report how far they move.

    python tools/convergence_check.py runs/verify-full [--n 12] [--seed 0] [--json out.json]

Reads every experiment folder under the given folder (as ``grokcheck verify --from`` does),
samples ``--n`` converged runs spread over experiments and kinds, retrains each to 4x its
converged step with no stop rule, and prints one line per run: the change of test accuracy and
parameter norm from the converged step to 4x it. Exit status 0 when every run stays within
0.05 in test accuracy and 2% in norm (grokcheck.experiments.convcheck), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()

    from grokcheck.experiments import checks, convcheck

    picked = convcheck.sample(checks.pooled_records(a.root), a.n, a.seed)
    if not picked:
        print(f"no converged runs under {a.root}", file=sys.stderr)
        return 1
    t0 = time.time()
    res = convcheck.continue_runs(picked, device=a.device)
    for c in res:
        print(
            f"{c.experiment:<10} {c.kind:<13} D={c.train_size:<4} wd={c.weight_decay:<4g} seed={c.seed} "
            f"converged at {c.step} (again {c.step_again}): "
            f"test acc {c.test_acc:.3f} -> {c.test_acc_later:.3f} "
            f"({c.d_acc:+.3f}), norm {c.norm:.3f} -> {c.norm_later:.3f} ({100 * c.d_norm:+.2f}%) "
            + ("ok" if c.holds else "MOVED")
        )
    worst_acc = max(abs(c.d_acc) for c in res)
    worst_norm = max(abs(c.d_norm) for c in res)
    print(
        f"{sum(c.holds for c in res)}/{len(res)} within {convcheck.ACC_TOL} test acc and "
        f"{100 * convcheck.NORM_RTOL:g}% norm; largest moves {worst_acc:.3f} and {100 * worst_norm:.2f}%; "
        f"{time.time() - t0:.0f} s"
    )
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(
                [{**asdict(c), "d_acc": c.d_acc, "d_norm": c.d_norm, "holds": c.holds} for c in res],
                f,
                indent=1,
            )
    return 0 if all(c.holds for c in res) else 1


if __name__ == "__main__":
    sys.exit(main())
