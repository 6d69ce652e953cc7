"""(c) Per-model step time of batched ensembles, K = 1, 8 and 64, on CPU and (if present) CUDA.

p = 113 addition, 30% train per member (members differ in init seed and subset), float32
parameters, float64 loss: one ``Ensemble.train_step()`` updates all K members. Reports the
median step time, the time per model, and the per-model throughput relative to K = 1 on the
same device (target on CUDA: >= 20x at K = 64).

    python benchmarks/bench_ensemble.py [--ks 1,8,64] [--devices cpu,cuda] [--reps 5] [--json]
"""

from __future__ import annotations

import argparse
import json

import torch
from common import interleaved, median_ms

from grokcheck.transformer.model import runtime
from grokcheck.transformer.training.ensemble import Ensemble, EnsembleConfig, Member


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,8,64")
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--p", type=int, default=113)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch's default")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA (off by default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime.tune_malloc()
    ks = [int(k) for k in args.ks.split(",")]
    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    rows = []
    for dev in devices:
        base = None
        for K in ks:
            members = tuple(Member(seed=k) for k in range(K))
            ens = Ensemble(EnsembleConfig(members=members, p=args.p, tf32=args.tf32), device=dev)
            t = median_ms(interleaved({"step": ens.train_step}, warmup=2, reps=args.reps, device=dev)["step"])
            base = t if K == 1 else base
            row = {
                "device": dev,
                "K": K,
                "step_ms": round(t, 1),
                "ms_per_model": round(t / K, 2),
                "throughput_vs_K1": None if base is None else round(base * K / t, 2),
            }
            rows.append(row)
            if not args.json:
                print(
                    f"{dev:5} K={K:3d}: {t:9.1f} ms/step, {t / K:8.2f} ms/model, "
                    f"per-model throughput x{row['throughput_vs_K1']} vs K=1",
                    flush=True,
                )
            del ens
            if dev == "cuda":
                torch.cuda.empty_cache()
    if "cuda" not in devices and not args.json:
        print("cuda: not available on this machine (unmeasured)")
    if args.json:
        print(json.dumps({"threads": torch.get_num_threads(), "tf32": args.tf32, "rows": rows}))


if __name__ == "__main__":
    main()
