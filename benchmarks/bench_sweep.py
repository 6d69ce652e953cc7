"""(d) Small-dataset steps: ms per member-step of batched ensembles next to the single-model path.

p = 113 addition, train subsets of D' examples (sizes as in the ungrokking sweeps of Figure 7),
float32 parameters, float64 loss, AdamW. For each D' it times, interleaved in one process:

- ``single``: the single-model training step (``engine.make_forward(model, "auto")``, i.e.
  ``FastForward``, with ``torch.optim.AdamW``, cross-entropy on ``logits.double()``: the step of
  ``grokcheck.transformer.training.loop``);
- ``K=k``: one ``Ensemble.train_step()`` of k members (each its own seed and subset), divided
  by k: ms per member-step.

``--baseline-rev REV`` also times the same steps with the ``grokcheck`` package as it was at
git revision REV (``git archive``, imported under another name), so a before/after comparison
of the engine, the ensemble and the optimizer runs side by side in one process.

    python benchmarks/bench_sweep.py [--ks 1,8,32] [--sizes 400,800,1500] [--device cpu]
        [--threads 2] [--reps 20] [--baseline-rev REV [--malloc now|baseline|none]]
        [--max-rows 4000,8000] [--json]
    python benchmarks/bench_sweep.py --device cuda --ks 1,64,256       # on a GPU
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from common import count_flops, interleaved, matmul_peak_gflops, median_ms

ROOT = Path(__file__).resolve().parent.parent


def version(pkg: str) -> types.SimpleNamespace:
    """The modules of package ``pkg`` (``grokcheck`` or a loaded revision) the steps use."""

    def first(*names: str) -> types.ModuleType:  # module paths moved between revisions
        for name in names[:-1]:
            try:
                return importlib.import_module(name)
            except ModuleNotFoundError:
                pass
        return importlib.import_module(names[-1])

    t = f"{pkg}.transformer"
    return types.SimpleNamespace(
        engine=first(f"{t}.model.engine", f"{t}.engine"),
        # the allocator tuning: runtime's now, the engine's in older revisions
        tune_malloc=getattr(first(f"{t}.model.runtime", f"{t}.runtime"), "tune_malloc", None)
        or first(f"{t}.model.engine", f"{t}.engine").tune_malloc,
        ensemble=first(f"{t}.training.ensemble", f"{t}.ensemble"),
        model=first(f"{t}.model.model", f"{t}.model"),
        tasks=first(f"{t}.model.tasks", f"{t}.tasks"),
    )


def load_revision(rev: str) -> types.SimpleNamespace:
    """The ``grokcheck`` package as of git revision ``rev``, imported as ``grokcheck_<rev>``."""
    name = "grokcheck_" + re.sub(r"\W", "_", rev)
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    archive = subprocess.run(
        ["git", "archive", rev, "grokcheck"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (tmp / "grokcheck").rename(tmp / name)
    for path in (tmp / name).rglob("*.py"):
        path.write_text(re.sub(r"\bgrokcheck(?=\.|\s+import\b)", name, path.read_text()))
    sys.path.insert(0, str(tmp))
    return version(name)


def make_ensemble(ver: types.SimpleNamespace, K: int, size: int, p: int, device: str, max_rows=None):
    """K members, seeds 0..K-1, each its own train subset of ``size`` examples; groups of at
    most ``max_rows`` examples (``None``: the ensemble's default).

    The one place that builds ensembles here, so a change of ``Ensemble``'s constructor is
    adapted in one line."""
    E = ver.ensemble
    members = tuple(E.Member(seed=k, train_size=size) for k in range(K))
    return E.Ensemble(E.EnsembleConfig(members=members, p=p), device=device, max_rows=max_rows)


def single_step(eng: types.ModuleType, size: int, p: int, device: str) -> Callable[[], None]:
    """The training loop's step for one model on a ``size``-example subset (seed 0), with the
    engine module ``eng`` (the model comes from the same package, so the engine applies)."""
    ver = version(eng.__name__.split(".")[0])
    ds = ver.tasks.make_dataset("add", p)
    sp = ver.tasks.split(ds, train_size=size, seed=0)
    tok, lab = sp.train_tokens.to(device), sp.train_labels.to(device)
    model = ver.model.make_model(ver.model.ModelConfig(ds.n_vocab, ds.n_classes), seed=0, device=device)
    fwd = eng.make_forward(model, "auto")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(tok).double(), lab)
        loss.backward()
        opt.step()

    return step


def ensemble_step(
    ver: types.SimpleNamespace, K: int, size: int, p: int, device: str, max_rows: int | None = None
) -> Callable[[], None]:
    return make_ensemble(ver, K, size, p, device, max_rows).train_step


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
        "--max-rows", default="", help="also time these group bounds (train examples), e.g. 4000,8000"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.ks.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    bounds = [int(r) for r in args.max_rows.split(",") if r]
    versions = {"now": version("grokcheck")}
    if args.baseline_rev:
        versions[args.baseline_rev] = load_revision(args.baseline_rev)
    if torch.device(args.device).type == "cpu" and args.malloc != "none":
        if args.malloc == "baseline" and not args.baseline_rev:
            raise SystemExit("--malloc baseline needs --baseline-rev")
        versions["now" if args.malloc == "now" else args.baseline_rev].tune_malloc()
    peak = matmul_peak_gflops(args.device)
    rows = []
    bound_ms = {}  # the FLOP bound of one member-step: the engine's FLOPs at the measured peak
    for size in sizes:
        flops = count_flops(ensemble_step(versions["now"], 1, size, args.p, args.device))
        bound_ms[size] = flops / (peak * 1e6)
        fns, per = {}, {}
        for ver, mods in versions.items():
            fns[(ver, "single")] = single_step(mods.engine, size, args.p, args.device)
            per[(ver, "single")] = 1
            for K in ks:
                fns[(ver, f"K={K}")] = ensemble_step(mods, K, size, args.p, args.device)
                per[(ver, f"K={K}")] = K
                for rows_ in bounds:
                    name = f"K={K}/g{rows_}"
                    fns[(ver, name)] = ensemble_step(mods, K, size, args.p, args.device, rows_)
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
        "bound_ms": {str(size): round(ms, 3) for size, ms in bound_ms.items()},
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result))
        return
    paths = ["single"] + [f"K={K}{g}" for K in ks for g in [""] + [f"/g{r}" for r in bounds]]
    print(
        f"p={args.p} add, {args.device}, {result['threads']} threads, {args.reps} reps, "
        f"fp32 matmul peak {peak:.0f} GFLOP/s; ms per member-step (median); bound = the engine's "
        f"FLOPs per member-step at that peak; x bound = the largest K against it"
    )
    last = f"K={ks[-1]}"
    print(
        f"{'D_prime':>7} {'version':>10} "
        + " ".join(f"{c:>{max(8, len(c))}}" for c in paths)
        + f" {'bound':>8} {'x bound':>8}"
    )
    for size in sizes:
        for ver in versions:
            cells = {
                r["path"]: r["ms_per_member_step"] for r in rows if r["size"] == size and r["version"] == ver
            }
            print(
                f"{size:7d} {ver:>10} "
                + " ".join(f"{cells[c]:{max(8, len(c))}.2f}" for c in paths)
                + f" {bound_ms[size]:8.2f} {cells[last] / bound_ms[size]:8.2f}"
            )


if __name__ == "__main__":
    main()
