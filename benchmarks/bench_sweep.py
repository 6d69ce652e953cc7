"""(d) Small-dataset steps: ms per member-step of batched ensembles next to the single-model path.

p = 113 addition, train subsets of D' examples (sizes as in the ungrokking sweeps of Figure 7),
float32 parameters, float64 loss, AdamW. For each D' it times, interleaved in one process:

- ``single``: the single-model training step (``engine.make_forward(model, "auto")``, i.e.
  ``FastForward``, with ``torch.optim.AdamW``, cross-entropy on ``logits.double()``: the step of
  ``grokcheck.transformer.training.loop``);
- ``K=k``: one ``Ensemble.train_step()`` of k members (each its own seed and subset), divided
  by k: ms per member-step.

``--baseline-rev REV`` also times the same steps with ``engine.py`` and ``optim.py`` as they
were at git revision REV (loaded from ``git show`` as separate modules), so a before/after
comparison runs side by side in one process.

    python benchmarks/bench_sweep.py [--ks 1,8,32] [--sizes 400,800,1500] [--device cpu]
        [--threads 2] [--reps 20] [--baseline-rev REV [--malloc now|baseline|none]]
        [--max-rows 4000,8000] [--json]
    python benchmarks/bench_sweep.py --device cuda --ks 1,64,256       # on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from common import interleaved, matmul_peak_gflops, median_ms

import grokcheck.transformer.training.ensemble as ensemble_mod
from grokcheck.transformer.model import engine, tasks
from grokcheck.transformer.training import optim as optim_mod
from grokcheck.transformer.training.ensemble import Ensemble, EnsembleConfig, Member
from grokcheck.transformer.model.model import ModelConfig, make_model

ROOT = Path(__file__).resolve().parent.parent


def make_ensemble(K: int, size: int, p: int, device: str, max_rows: int | None = None) -> Ensemble:
    """K members, seeds 0..K-1, each its own train subset of ``size`` examples; groups of at
    most ``max_rows`` padded examples (``None``: the ensemble's default).

    The one place that builds ensembles here, so a change of ``Ensemble``'s constructor is
    adapted in one line."""
    members = tuple(Member(seed=k, train_size=size) for k in range(K))
    return Ensemble(EnsembleConfig(members=members, p=p), device=device, max_rows=max_rows)


def load_revision(rev: str) -> tuple[types.ModuleType, types.ModuleType]:
    """``engine.py`` and ``optim.py`` as of git revision ``rev``, as fresh modules."""
    mods = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    for name in ("engine", "optim"):
        src = subprocess.run(
            ["git", "show", f"{rev}:grokcheck/transformer/{name}.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path = tmp / f"{name}_{rev}.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location(f"_baseline_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods[0], mods[1]


@contextlib.contextmanager
def using(eng: types.ModuleType, opt: types.ModuleType) -> Iterator[None]:
    """Run ``Ensemble`` with another engine/optim module (what the ensemble module imported)."""
    old = ensemble_mod.engine, ensemble_mod.StackedAdamW
    ensemble_mod.engine, ensemble_mod.StackedAdamW = eng, opt.StackedAdamW
    try:
        yield
    finally:
        ensemble_mod.engine, ensemble_mod.StackedAdamW = old


def single_step(eng: types.ModuleType, size: int, p: int, device: str) -> Callable[[], None]:
    """The training loop's step for one model on a ``size``-example subset (seed 0)."""
    ds = tasks.make_dataset("add", p)
    sp = tasks.split(ds, train_size=size, seed=0)
    tok, lab = sp.train_tokens.to(device), sp.train_labels.to(device)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=0, device=device)
    fwd = eng.make_forward(model, "auto")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(tok).double(), lab)
        loss.backward()
        opt.step()

    return step


def ensemble_step(
    eng, opt, K: int, size: int, p: int, device: str, max_rows: int | None = None
) -> Callable[[], None]:
    with using(eng, opt):
        ens = make_ensemble(K, size, p, device, max_rows)

    def step() -> None:
        with using(eng, opt):
            ens.train_step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,8,32", help="ensemble sizes, comma-separated")
    ap.add_argument("--sizes", default="400,800,1500", help="train subset sizes D'")
    ap.add_argument("--p", type=int, default=113)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch's default")
    ap.add_argument(
        "--baseline-rev", default=None, help="also time engine.py and optim.py at this git revision"
    )
    ap.add_argument(
        "--malloc",
        choices=("now", "baseline", "none"),
        default="now",
        help="process-wide allocator settings: this engine's tune_malloc, the baseline's, or glibc's",
    )
    ap.add_argument(
        "--max-rows", default="", help="also time these group bounds (padded examples), e.g. 4000,8000"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.ks.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    bounds = [int(r) for r in args.max_rows.split(",") if r]
    versions = {"now": (engine, optim_mod)}
    if args.baseline_rev:
        versions[args.baseline_rev] = load_revision(args.baseline_rev)
    if torch.device(args.device).type == "cpu" and args.malloc != "none":
        if args.malloc == "baseline" and not args.baseline_rev:
            raise SystemExit("--malloc baseline needs --baseline-rev")
        versions["now" if args.malloc == "now" else args.baseline_rev][0].tune_malloc()
    peak = matmul_peak_gflops(args.device)
    rows = []
    for size in sizes:
        fns, per = {}, {}
        for ver, (eng, opt) in versions.items():
            fns[(ver, "single")], per[(ver, "single")] = single_step(eng, size, args.p, args.device), 1
            for K in ks:
                fns[(ver, f"K={K}")] = ensemble_step(eng, opt, K, size, args.p, args.device)
                per[(ver, f"K={K}")] = K
                for rows_ in bounds:
                    name = f"K={K}/g{rows_}"
                    fns[(ver, name)] = ensemble_step(eng, opt, K, size, args.p, args.device, rows_)
                    per[(ver, name)] = K
        times = interleaved(fns, warmup=args.warmup, reps=args.reps, device=args.device)
        for (ver, what), ts in times.items():
            rows.append(
                {
                    "size": size,
                    "version": ver,
                    "path": what,
                    "ms_per_member_step": round(median_ms(ts) / per[(ver, what)], 3),
                }
            )
        del fns
    result = {
        "p": args.p,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "reps": args.reps,
        "malloc": args.malloc,
        "matmul_peak_gflops": round(peak, 1),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result))
        return
    paths = ["single"] + [f"K={K}{g}" for K in ks for g in [""] + [f"/g{r}" for r in bounds]]
    print(
        f"p={args.p} add, {args.device}, {result['threads']} threads, {args.reps} reps, "
        f"fp32 matmul peak {peak:.0f} GFLOP/s; ms per member-step (median)"
    )
    print(f"{'D_prime':>7} {'version':>10} " + " ".join(f"{c:>{max(8, len(c))}}" for c in paths))
    for size in sizes:
        for ver in versions:
            cells = {
                r["path"]: r["ms_per_member_step"] for r in rows if r["size"] == size and r["version"] == ver
            }
            print(f"{size:7d} {ver:>10} " + " ".join(f"{cells[c]:{max(8, len(c))}.2f}" for c in paths))


if __name__ == "__main__":
    main()
