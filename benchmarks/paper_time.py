"""Wall time of the paper-scale sweeps behind Figures 4, 7 and 5, from measured ms per member-step.

Reads ``bench_sweep.py --json`` outputs (ms per member-step of ``Ensemble.train_step`` at each
ensemble size K and train size D'), builds the paper-scale runs of ``grid.PAPER`` (``ungrok``:
the 750 runs of Figures 4 and 7; ``semigrok``: Figure 5's 200 runs), chunks them as
``grokcheck experiment --scale paper --max-chunk K`` does (``grid.chunks``) and sums over
chunks: members x step cap x the rate at K and the chunk's largest D' (a chunk is padded to
it). Rates between measured sizes are interpolated linearly in D'; above the largest they
follow the last segment's line, below the smallest they take its rate (``extrapolated`` says
when). Evaluations (every ``eval_every`` steps, forward only, over the whole dataset) are
estimated as a third of a step at D' = the dataset size; ``--pretrain-ms`` adds the ungrokking
sweep's pretraining (one network per seed, at most ``pretrain_max_steps`` steps each).

This is an upper bound from the step caps (a run that converges stops earlier and leaves its
chunk), at the rate of a full chunk of K members.

    python benchmarks/paper_time.py SWEEP.json [SWEEP.json ...] [--pretrain-ms MS] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

from grokcheck.experiments import grid
from grokcheck.experiments.spec import RunSpec
from grokcheck.transformer.model import tasks

#: (figures, experiment) estimated
FIGURES = (("Figures 4, 7", "ungrok"), ("Figure 5", "semigrok"))


def rates(sweeps: Sequence[dict]) -> dict[int, list[tuple[int, float]]]:
    """K -> sorted (D', ms per member-step) from ``bench_sweep.py --json`` outputs (this code's
    rows, ``version == "now"``; a later file's value for the same K and D' wins)."""
    out: dict[int, dict[int, float]] = {}
    for sweep in sweeps:
        for r in sweep["rows"]:
            if r["version"] == "now" and r["path"].startswith("K=") and "/" not in r["path"]:
                out.setdefault(int(r["path"][2:]), {})[int(r["size"])] = float(r["ms_per_member_step"])
    return {K: sorted(v.items()) for K, v in sorted(out.items())}


def ms_at(points: Sequence[tuple[int, float]], size: float) -> tuple[float, bool]:
    """The rate at ``size`` from measured ``(D', ms)`` points, and whether it is extrapolated."""
    if size <= points[0][0]:
        return points[0][1], size < points[0][0]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if size <= x1:
            return y0 + (y1 - y0) * (size - x0) / (x1 - x0), False
    if len(points) == 1:
        return points[0][1], True
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return max(y1, y1 + (y1 - y0) * (size - x1) / (x1 - x0)), True


def estimate(specs: Sequence[RunSpec], K: int, points: Sequence[tuple[int, float]]) -> dict:
    """Hours to train ``specs`` in chunks of at most ``K`` (each to its step cap): training,
    evaluations, and whether a training rate was extrapolated beyond the measured sizes."""
    train_ms = eval_ms = 0.0
    extrapolated = False
    chunks = grid.chunks(specs, K)
    for chunk in chunks:
        s0 = chunk[0]
        step, out = ms_at(points, max(s.train_size for s in chunk))
        whole, _ = ms_at(points, tasks.dataset_size(s0.task, s0.p))  # an estimate in any case
        extrapolated |= out
        train_ms += len(chunk) * s0.max_steps * step
        eval_ms += len(chunk) * math.ceil(s0.max_steps / s0.eval_every) * whole / 3
    return {
        "K": K,
        "chunks": len(chunks),
        "train_h": train_ms / 3.6e6,
        "eval_h": eval_ms / 3.6e6,
        "total_h": (train_ms + eval_ms) / 3.6e6,
        "extrapolated": extrapolated,
    }


def pretrain_h(specs: Sequence[RunSpec], ms_per_step: float) -> float:
    """Hours to pretrain one network per seed of the ``"ungrok"`` specs, each to its cap."""
    caps = {s.seed: s.pretrain_max_steps for s in specs if s.kind == "ungrok"}
    return sum(caps.values()) * ms_per_step / 3.6e6


def report(sweeps: Sequence[dict], pretrain_ms: float | None = None) -> dict:
    by_k = rates(sweeps)
    out = []
    for figures, name in FIGURES:
        specs = grid.experiment_specs(name, "paper")
        out.append(
            {
                "figures": figures,
                "experiment": name,
                "runs": len(specs),
                "max_steps": max(s.max_steps for s in specs),
                "estimates": [estimate(specs, K, pts) for K, pts in by_k.items()],
                "pretrain_h": None if pretrain_ms is None else pretrain_h(specs, pretrain_ms),
            }
        )
    return {"rates": {str(K): pts for K, pts in by_k.items()}, "figures": out}


def render(rep: dict, sweeps: Sequence[dict]) -> None:
    print("measured ms per member-step (bench_sweep.py, training steps only):")
    singles = {
        int(r["size"]): r["ms_per_member_step"]
        for s in sweeps
        for r in s["rows"]
        if r["path"] == "single" and r["version"] == "now"
    }
    print("  single model: " + ", ".join(f"D'={n} {ms:.3f}" for n, ms in sorted(singles.items())))
    for K, pts in rep["rates"].items():
        print(f"  K={K}: " + ", ".join(f"D'={n} {ms:.3f}" for n, ms in pts))
    print("paper-scale wall time (an upper bound from the step caps; runs that converge stop earlier):")
    print(f"{'figures':13} {'experiment':10} {'runs':>5} {'cap':>8} {'K':>5} {'chunks':>6} "
          f"{'train h':>8} {'eval h':>7} {'total h':>8}")  # fmt: skip
    for f in rep["figures"]:
        for e in f["estimates"]:
            note = "  (rate extrapolated in D')" if e["extrapolated"] else ""
            print(
                f"{f['figures']:13} {f['experiment']:10} {f['runs']:5d} {f['max_steps']:8d} {e['K']:5d} "
                f"{e['chunks']:6d} {e['train_h']:8.2f} {e['eval_h']:7.2f} {e['total_h']:8.2f}{note}"
            )
        if f["pretrain_h"]:
            hours = f["pretrain_h"]
            print(f"{'':13} {f['experiment']:10} plus pretraining, one network per seed: {hours:.2f} h")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", type=Path, help="bench_sweep.py --json outputs")
    ap.add_argument("--pretrain-ms", type=float, default=None, help="ms per pretraining step")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sweeps = []
    for path in args.sweeps:
        try:
            sweeps.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            raise SystemExit(f"paper_time.py: {path}: not a bench_sweep.py --json output ({e})") from None
    if not rates(sweeps):
        raise SystemExit("paper_time.py: no ensemble rates (K=...) in the given files")
    rep = report(sweeps, args.pretrain_ms)
    if args.json:
        print(json.dumps(rep))
    else:
        render(rep, sweeps)


if __name__ == "__main__":
    main()
