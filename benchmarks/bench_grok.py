"""(b) Time to grok: p = 113 addition, 30% train, seed 0, until test accuracy >= 0.99.

Runs the library's own trainer (``grokcheck.transformer.training.train.train``, the code behind
``grokcheck train --task add``) with its defaults: float32 parameters, float64 loss, eval every
100 steps, engine ``auto``. It stops at the first evaluation with test accuracy >= 0.99
(``hold_steps=0``) and reports the wall time and steps to get there, the time spent in
evaluations and the page faults per step. ``--engine reference`` times the reference model
instead (slow: about 10x).

    python benchmarks/bench_grok.py [--engine auto|reference] [--threads 2] [--max-steps N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import page_faults

from grokcheck.transformer.training.single import SingleModel
from grokcheck.transformer.training.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="auto", choices=("auto", "reference"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss-dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch's default")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    eval_s = 0.0
    evaluate = SingleModel.evaluate

    def timed_evaluate(*a, **k):  # the loop calls the stepper's ``evaluate`` at each evaluation
        nonlocal eval_s
        t0 = time.perf_counter()
        out = evaluate(*a, **k)
        eval_s += time.perf_counter() - t0
        return out

    SingleModel.evaluate = timed_evaluate
    cfg = TrainConfig(
        task="add",
        p=113,
        seed=args.seed,
        max_steps=args.max_steps,
        hold_steps=0,
        engine=args.engine,
        loss_dtype=args.loss_dtype,
    )
    f0 = page_faults()
    t0 = time.perf_counter()
    r = train(cfg, device="cpu")
    wall = time.perf_counter() - t0
    faults = (page_faults() - f0) / max(1, r.steps)
    out = {
        "engine": args.engine,
        "threads": torch.get_num_threads(),
        "loss_dtype": args.loss_dtype,
        "step_test_99": r.step_test_99,
        "step_test_95": r.step_test_95,
        "step_train_100": r.step_train_100,
        "steps": r.steps,
        "stopped": r.stopped,
        "wall_s": round(wall, 1),
        "train_wall_s": r.wall_s,
        "eval_s": round(eval_s, 2),
        "eval_fraction": round(eval_s / wall, 4),
        "ms_per_step": round(1e3 * (wall - eval_s) / max(1, r.steps), 2),
        "page_faults_per_step": round(faults, 1),
        "final_test_acc": r.final.test_acc,
    }
    if args.json:
        print(json.dumps(out))
        return
    hit = "reached" if r.step_test_99 is not None else "did NOT reach"
    print(
        f"p=113 add, 30% train, seed {args.seed}, engine {args.engine}, {out['threads']} threads: "
        f"{hit} test acc >= 0.99 at step {r.step_test_99} in {wall:.1f} s wall"
    )
    print(
        f"  {out['ms_per_step']:.1f} ms per training step; evaluation {eval_s:.1f} s "
        f"({out['eval_fraction']:.1%} of the run); {faults:.0f} page faults per step"
    )
    print(f"  train acc 100% at step {r.step_train_100}; test acc >= 0.95 at step {r.step_test_95}")


if __name__ == "__main__":
    main()
