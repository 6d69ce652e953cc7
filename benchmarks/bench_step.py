"""(a) Time of one full-batch training step: naive full-sequence trainer vs reference vs engine.

p = 113 addition, 30% train (3831 examples), float32 parameters, float64 loss, AdamW: the
default ``grokcheck train`` step. The three trainers (and, with ``--compile``, the engine under
torch.compile) run in one process, each on its own copy of the same weights, warmed up and then
timed round-robin. Prints medians, ratios to the naive trainer, FLOPs per step (counted with
torch's FLOP counter, sparse products and gathers counted by stored values), achieved GFLOP/s
as a fraction of this machine's fp32 matmul peak measured in the same run, the cost of one
evaluation of the train and test sets and its share of training at the default eval interval.

    python benchmarks/bench_step.py [--reps 30] [--threads 2] [--compile] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F
from common import count_flops, interleaved, matmul_peak_gflops, median_ms, page_faults
from naive import NaiveTransformer

from grokcheck.transformer.model import engine, runtime, tasks
from grokcheck.transformer.model.model import ModelConfig, make_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=113)
    ap.add_argument("--train-frac", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch's default")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--compile", action="store_true", help="also time the engine under torch.compile")
    ap.add_argument("--no-tune-malloc", action="store_true", help="keep glibc's default malloc settings")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_tune_malloc:
        runtime.tune_malloc()

    ds = tasks.make_dataset("add", args.p)
    sp = tasks.split(ds, train_frac=args.train_frac, seed=0)
    tok, lab = sp.train_tokens, sp.train_labels
    ref = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=0)
    naive = NaiveTransformer(ds.n_vocab, ds.n_classes)
    naive.load_state_dict(ref.state_dict(), strict=False)  # same weights ("mask" is its own)
    with torch.no_grad():  # the baseline computes the same function
        gap = (naive(tok)[:, -1] - ref(tok)).abs().max() / ref(tok).abs().max()
    if gap > 1e-4:
        raise SystemExit(f"naive and reference logits differ by {float(gap):.1e} (relative)")
    fast_model = copy.deepcopy(ref)

    def trainer(model, forward):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(forward(tok).double(), lab)
            loss.backward()
            opt.step()

        return step

    fast = engine.FastForward(fast_model)
    steps = {
        "naive": trainer(naive, lambda t: naive(t)[:, -1]),
        "reference": trainer(ref, ref),
        "engine": trainer(fast_model, fast),
    }
    compile_s = None
    if args.compile:  # compile the table construction (the per-example part has sparse ops)
        comp_model = copy.deepcopy(ref)
        comp_plans = engine.FastForward(comp_model)
        comp_tables = torch.compile(engine.tables, dynamic=False)

        def compiled(tokens):
            plan = comp_plans.plan(tokens)
            params = {k: getattr(comp_model, k).unsqueeze(0) for k in engine.PARAM_NAMES}
            tab, a_var, bias, w_ou, _ = comp_tables(params, plan)
            return engine._BagMlp.apply(tab, a_var, bias, w_ou, plan, ref.cfg.d_mlp, ds.n_classes)[0]

        steps["engine+compile"] = trainer(comp_model, compiled)
        t0 = time.perf_counter()
        steps["engine+compile"]()
        compile_s = time.perf_counter() - t0

    flops = {name: count_flops(fn) for name, fn in steps.items() if name != "engine+compile"}
    peak = matmul_peak_gflops()
    f0 = page_faults()
    times = interleaved(steps, warmup=args.warmup, reps=args.reps)
    faults = (page_faults() - f0) / (args.reps * len(steps))
    peak = max(peak, matmul_peak_gflops())  # before and after: the better of the two

    # one evaluation of the whole dataset (train and test sets, as the loop's evaluation does it:
    # the engine's forward, a float64 loss and accuracy per example, no gradient)
    def evaluate():
        with torch.no_grad():
            logits = fast(ds.tokens)
            F.cross_entropy(logits.double(), ds.labels, reduction="none")
            (logits.argmax(dim=-1) == ds.labels).sum()

    eval_ms = median_ms(interleaved({"eval": evaluate}, warmup=2, reps=max(5, args.reps // 3))["eval"])
    med = {k: median_ms(v) for k, v in times.items()}
    rows = []
    for name, ms in med.items():
        fl = flops.get(name, flops["engine"])
        rows.append(
            {
                "trainer": name,
                "median_ms": round(ms, 2),
                "speedup_vs_naive": round(med["naive"] / ms, 2),
                "gflop_per_step": round(fl / 1e9, 3),
                "gflops": round(fl / ms / 1e6, 1),
                "fraction_of_peak": round(fl / ms / 1e6 / peak, 3),
            }
        )
    result = {
        "p": args.p,
        "train_size": len(lab),
        "threads": torch.get_num_threads(),
        "reps": args.reps,
        "matmul_peak_gflops": round(peak, 1),
        "rows": rows,
        "eval_ms": round(eval_ms, 2),
        "eval_every": args.eval_every,
        "eval_fraction": round(eval_ms / (args.eval_every * med["engine"] + eval_ms), 4),
        "page_faults_per_step": round(faults, 1),
        "malloc_tuned": not args.no_tune_malloc,
        "compile_s": None if compile_s is None else round(compile_s, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"p={args.p} add, {len(lab)} train examples, {result['threads']} threads, "
        f"{args.reps} reps; fp32 matmul peak {peak:.0f} GFLOP/s"
    )
    print(f"{'trainer':16} {'median ms':>10} {'x naive':>8} {'GFLOP':>7} {'GFLOP/s':>8} {'of peak':>8}")
    for r in rows:
        print(
            f"{r['trainer']:16} {r['median_ms']:10.2f} {r['speedup_vs_naive']:8.2f} "
            f"{r['gflop_per_step']:7.2f} {r['gflops']:8.1f} {r['fraction_of_peak']:8.1%}"
        )
    print(
        f"eval (train + test, engine): {eval_ms:.1f} ms = {result['eval_fraction']:.1%} of "
        f"training time at eval every {args.eval_every} steps"
    )
    print(f"page faults per step: {faults:.0f} (malloc tuned: {result['malloc_tuned']})")
    if compile_s is not None:
        print(f"torch.compile: first step (cold compile) {compile_s:.1f} s")


if __name__ == "__main__":
    main()
