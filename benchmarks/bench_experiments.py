"""(e) The quick experiments' own workload: ms per member-step of their chunks, against a FLOP bound.

For each experiment that ``grokcheck verify --full`` runs (quick scale), this builds its runs
and chunks as ``grokcheck experiment`` does: ``grid.experiment_specs``, chunks of at most
``--max-chunk`` runs (``grid.chunks``), each chunk split into ensembles by
``runner.batch_key``, with the ensemble config the runner builds (each member's train size,
learning rate, weight decay and random labels; the evaluation cadence; the convergence rule),
Appendix B's circuit recorder at every evaluation where the experiment records circuits along
the curve, and a checkpoint file. Each ensemble trains for ``--steps`` steps through
``train_ensemble``, the runner's own call. Ungrokking members start from their own fresh
initialisation, not from their seed's pretrained network: nothing is pretrained, and a step
does the same arithmetic whatever the weights. The measurements the runner takes once on each
final network (after its last step) are not timed, nor are the further chunks of ungrok's
D_crit bisection (runs of the same kind).

Each ensemble is timed round-robin in one process with the single-model training step
(``bench_sweep.py``'s ``single``) on its mean train size, for the same number of steps, so
ratios hold on a loaded machine. Per experiment (all its ensembles together):

- ms per member-step (median rep) and member-steps per second; ``x single``: that over the
  single-model step (below 1: batching pays);
- ``dense``: the FLOP bound of the Appendix A transformer as the reference model computes it
  (every product on all 4 positions), forward and backward per example times the mean train
  size, plus the forward passes of the evaluations over the whole dataset (as many as the run
  made, spread over its steps), divided by the fp32 matmul peak measured in this process
  (before and after, the better); ``x dense`` is the time over that bound. The engine reads
  only the last position and folds products into per-step tables, so it can beat this bound;
- ``engine``: the same with the FLOPs the engine does (torch's FLOP counter over one training
  step and one evaluation; sparse products and gathers counted by stored values);
- where the time goes, from one more run of each ensemble with timers around its phases
  (synchronising on CUDA, so its total is a little above the timed runs'): forward (logits,
  loss, accuracy), backward, optimiser (``StackedAdamW``), evaluation, circuits (the
  recorder), checkpoint (writing it) and loop (the rest: bookkeeping, stop rules).

    python benchmarks/bench_experiments.py [--experiments efficiency,ungrok,semigrok,hysteresis]
        [--steps 300] [--reps 3] [--max-chunk 32] [--device cpu|cuda|auto] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from bench_sweep import single_step
from common import count_flops, matmul_peak_gflops, sync, time_once

import grokcheck.transformer.training.batch as batch_mod
from grokcheck.errors import GrokcheckError
from grokcheck.experiments import grid, runner
from grokcheck.experiments.checks import FULL
from grokcheck.experiments.run import ExperimentConfig
from grokcheck.transformer.model import engine
from grokcheck.transformer.training.batch import train_ensemble
from grokcheck.transformer.training.convergence import ConvergenceConfig
from grokcheck.transformer.training.ensemble import Ensemble, EnsembleConfig
from grokcheck.transformer.model.model import ModelConfig
from grokcheck.transformer.training.optim import StackedAdamW
from grokcheck.transformer.model.runtime import configure, resolve_device
from grokcheck.transformer.training.single import circuit_hook

PHASES = ("forward", "backward", "optimiser", "evaluation", "circuits", "checkpoint", "loop")


def dense_flops(cfg: ModelConfig) -> tuple[int, int]:
    """Forward and forward + backward FLOPs per example of the reference model (``model.py``).

    Every product on all ``n_ctx`` positions, attention over all ``n_ctx`` keys (the causal
    mask comes after the product), 2 FLOPs per multiply-add; the backward pass is twice the
    forward (a gradient for each operand of every product).
    """
    d, h, e, f, n, c = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.n_ctx, cfg.n_classes
    per_position = (
        3 * 2 * d * h * e  # W_Q, W_K, W_V
        + 2 * 2 * h * e * n  # scores and pattern @ values
        + 2 * h * e * d  # W_O
        + 2 * 2 * d * f  # W_in, W_out
        + 2 * d * c  # W_U
    )
    return n * per_position, 3 * n * per_position


@dataclasses.dataclass
class Batch:
    """One ensemble of a chunk, as the runner would train it, capped at ``cfg.steps`` steps."""

    experiment: str
    kind: str
    cfg: EnsembleConfig
    hook: Callable | None

    @property
    def K(self) -> int:
        return len(self.cfg.members)

    def sizes(self) -> list[int]:
        return [m.train_size for m in self.cfg.members]  # a spec always gives its size


def batches(name: str, max_chunk: int, steps: int, dev: torch.device) -> list[Batch]:
    """The quick scale's ensembles of experiment ``name``, each capped at ``steps`` steps."""
    out = []
    for chunk in grid.chunks(grid.experiment_specs(name, "quick"), max_chunk):
        for _key, group in itertools.groupby(sorted(chunk, key=runner.batch_key), key=runner.batch_key):
            specs = list(group)
            s0 = specs[0]
            # the runner's own config; an "ungrok" spec as "scratch" is the same config, minus
            # the pretraining of its start network
            fresh = [dataclasses.replace(s, kind="scratch") if s.kind == "ungrok" else s for s in specs]
            cfg, _ = runner._ensemble(fresh, dev, None, None, ConvergenceConfig(window=s0.convergence_window))
            hook = circuit_hook(s0.p) if s0.task == "add" and s0.experiment in runner.CIRCUIT_CURVES else None
            out.append(Batch(name, s0.kind, dataclasses.replace(cfg, steps=steps), hook))
    return out


def train_timed(
    b: Batch, dev: torch.device, *, steps: int | None = None, hook: Callable | None = None
) -> float:
    """Seconds of one ``train_ensemble`` call on a fresh ensemble (building it not counted)."""
    cfg = b.cfg if steps is None else dataclasses.replace(b.cfg, steps=steps)
    ens = Ensemble(cfg, device=dev, circuits=hook if hook is not None else b.hook)
    with tempfile.TemporaryDirectory(prefix="bench_experiments_") as tmp:
        return time_once(
            lambda: train_ensemble(cfg, device=dev, ensemble=ens, checkpoint=Path(tmp) / "batch.pt"), dev
        )


class PhaseTimer:
    """Seconds and calls per phase, each timed between device synchronisations."""

    def __init__(self, dev: torch.device) -> None:
        self.dev, self.s, self.calls = dev, defaultdict(float), defaultdict(int)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*a, **kw):
            sync(self.dev)
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                sync(self.dev)
                self.s[name] += time.perf_counter() - t0
                self.calls[name] += 1

        return timed


@contextlib.contextmanager
def phase_timers(timer: PhaseTimer) -> Iterator[None]:
    """Time every ``Ensemble`` step and evaluation, backward pass, optimiser step and checkpoint
    write of this process (the library is unchanged: its functions are wrapped, then restored)."""
    saved = (Ensemble.train_step, Ensemble.evaluate, torch.Tensor.backward, StackedAdamW.step)
    save_ckpt = batch_mod.save_checkpoint
    Ensemble.train_step = timer.wrap("step", Ensemble.train_step)
    Ensemble.evaluate = timer.wrap("evaluate", Ensemble.evaluate)
    torch.Tensor.backward = timer.wrap("backward", torch.Tensor.backward)
    StackedAdamW.step = timer.wrap("optimiser", StackedAdamW.step)
    batch_mod.save_checkpoint = timer.wrap("checkpoint", save_ckpt)
    try:
        yield
    finally:
        Ensemble.train_step, Ensemble.evaluate, torch.Tensor.backward, StackedAdamW.step = saved
        batch_mod.save_checkpoint = save_ckpt


def breakdown(b: Batch, dev: torch.device) -> tuple[dict[str, float], int]:
    """Seconds per phase (:data:`PHASES`) of one instrumented run, and its number of evaluations."""
    timer = PhaseTimer(dev)
    hook = timer.wrap("circuits", b.hook) if b.hook is not None else None
    with phase_timers(timer):
        total = train_timed(b, dev, hook=hook)
    s = timer.s
    phases = {
        "forward": s["step"] - s["backward"] - s["optimiser"],
        "backward": s["backward"],
        "optimiser": s["optimiser"],
        "evaluation": s["evaluate"] - s["circuits"],
        "circuits": s["circuits"],
        "checkpoint": s["checkpoint"],
        "loop": total - s["step"] - s["evaluate"] - s["checkpoint"],
    }
    return phases, timer.calls["evaluate"]


def flops_per_member_step(b: Batch, dev: torch.device, n_evals: int) -> tuple[float, float]:
    """(dense, engine) FLOPs per member-step, evaluations included at the run's count."""
    ens = Ensemble(b.cfg, device=dev)
    N = len(ens.dataset)
    fwd, fwd_bwd = dense_flops(ens.model_cfg)
    steps = b.cfg.steps
    dense = fwd_bwd * statistics.fmean(b.sizes()) + fwd * N * n_evals / steps
    eng = (count_flops(ens.train_step) + count_flops(ens.evaluate) * n_evals / steps) / b.K
    return dense, eng


def measure(name: str, args: argparse.Namespace, dev: torch.device) -> list[dict]:
    """One row per ensemble of experiment ``name``: times, FLOPs and phases per member-step."""
    bs = batches(name, args.max_chunk, args.steps, dev)
    singles = []
    for b in bs:
        step = single_step(engine, round(statistics.fmean(b.sizes())), b.cfg.p, str(dev))
        singles.append(lambda step=step: [step() for _ in range(args.steps)])
    for b, single in zip(bs, singles, strict=True):  # warm-up
        train_timed(b, dev, steps=min(args.steps, 5))
        single()
    chunk_s: list[list[float]] = [[] for _ in bs]
    single_s: list[list[float]] = [[] for _ in bs]
    for _ in range(args.reps):
        for i, (b, single) in enumerate(zip(bs, singles, strict=True)):
            chunk_s[i].append(train_timed(b, dev))
            single_s[i].append(time_once(single, dev))
    rows = []
    for i, b in enumerate(bs):
        phases, n_evals = breakdown(b, dev)
        dense, eng = flops_per_member_step(b, dev, n_evals)
        member_steps = b.K * args.steps
        rows.append(
            {
                "kind": b.kind,
                "K": b.K,
                "mean_train_size": round(statistics.fmean(b.sizes()), 1),
                "max_train_size": max(b.sizes()),
                "evaluations": n_evals,
                "circuits": b.hook is not None,
                "ms_per_member_step": 1e3 * statistics.median(chunk_s[i]) / member_steps,
                "single_ms_per_step": 1e3 * statistics.median(single_s[i]) / args.steps,
                "dense_flop_per_member_step": dense,
                "engine_flop_per_member_step": eng,
                "phase_ms_per_member_step": {k: 1e3 * v / member_steps for k, v in phases.items()},
            }
        )
    return rows


def summarise(name: str, rows: list[dict], peak_gflops: float) -> dict:
    """An experiment's figures over its ensembles, each weighted by its members."""
    w = [r["K"] for r in rows]

    def mean(key: str) -> float:
        return sum(r[key] * k for r, k in zip(rows, w, strict=True)) / sum(w)

    ms = mean("ms_per_member_step")
    dense, eng = mean("dense_flop_per_member_step"), mean("engine_flop_per_member_step")
    dense_ms, eng_ms = dense / peak_gflops / 1e6, eng / peak_gflops / 1e6
    phases = {
        p: sum(r["phase_ms_per_member_step"][p] * k for r, k in zip(rows, w, strict=True)) / sum(w)
        for p in PHASES
    }
    return {
        "experiment": name,
        "ensembles": len(rows),
        "members": sum(w),
        "mean_train_size": round(mean("mean_train_size"), 1),
        "ms_per_member_step": round(ms, 4),
        "member_steps_per_s": round(1e3 / ms, 1),
        "x_single": round(ms / mean("single_ms_per_step"), 3),
        "dense_mflop_per_member_step": round(dense / 1e6, 3),
        "dense_bound_ms": round(dense_ms, 4),
        "x_dense_bound": round(ms / dense_ms, 2),
        "engine_mflop_per_member_step": round(eng / 1e6, 3),
        "engine_bound_ms": round(eng_ms, 4),
        "x_engine_bound": round(ms / eng_ms, 2),
        "instrumented_ms_per_member_step": round(sum(phases.values()), 4),
        "phase_share": {p: round(v / sum(phases.values()), 4) for p, v in phases.items()},
        "ensembles_detail": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", default=",".join(FULL), help="comma-separated, from grid.EXPERIMENTS")
    ap.add_argument("--steps", type=int, default=300, help="training steps per ensemble and rep")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-chunk", type=int, default=ExperimentConfig.max_chunk, help="most runs per chunk")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--threads", type=int, default=0, help="0 = torch's default")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    names = [n for n in args.experiments.split(",") if n]
    bad = [n for n in names if n not in grid.EXPERIMENTS]
    if bad or not names:
        given = ", ".join(bad) or "(none given)"
        ap.error(f"--experiments: unknown {given}; choose from {', '.join(grid.EXPERIMENTS)}")
    if args.steps < 1 or args.reps < 1 or args.max_chunk < 1:
        ap.error("--steps, --reps and --max-chunk must be positive")
    try:
        dev = resolve_device(args.device)
    except GrokcheckError as e:
        raise SystemExit(f"bench_experiments.py: {e}") from None
    configure(dev, threads=args.threads or None)
    peak_n = 4096 if dev.type == "cuda" else 1024
    peak = matmul_peak_gflops(dev, n=peak_n)
    rows = {n: measure(n, args, dev) for n in names}
    peak = max(peak, matmul_peak_gflops(dev, n=peak_n))
    out = {
        "scale": "quick",
        "p": grid.QUICK_P,
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "reps": args.reps,
        "max_chunk": args.max_chunk,
        "matmul_peak_gflops": round(peak, 1),
        "experiments": [summarise(n, r, peak) for n, r in rows.items()],
    }
    if args.json:
        print(json.dumps(out))
        return
    render(out)


def render(out: dict) -> None:
    print(
        f"quick scale (add mod {out['p']}), {out['device']}{' ' + out['gpu'] if out['gpu'] else ''}, "
        f"{out['threads']} threads, {out['steps']} steps x {out['reps']} reps, chunks of <= "
        f"{out['max_chunk']}; fp32 matmul peak {out['matmul_peak_gflops']:.0f} GFLOP/s"
    )
    head = (
        f"{'experiment':11} {'ens':>3} {'members':>7} {'mean D':>7} {'ms/m-step':>9} {'m-steps/s':>9} "
        f"{'x single':>8} {'dense MFLOP':>11} {'x dense':>7} {'engine MFLOP':>12} {'x engine':>8}"
    )
    print(head)
    for r in out["experiments"]:
        print(
            f"{r['experiment']:11} {r['ensembles']:3d} {r['members']:7d} {r['mean_train_size']:7.0f} "
            f"{r['ms_per_member_step']:9.3f} {r['member_steps_per_s']:9.0f} {r['x_single']:8.2f} "
            f"{r['dense_mflop_per_member_step']:11.2f} {r['x_dense_bound']:7.2f} "
            f"{r['engine_mflop_per_member_step']:12.2f} {r['x_engine_bound']:8.2f}"
        )
    print("where the time goes (shares of an instrumented run; its ms per member-step):")
    print(f"{'experiment':11} {'instr ms':>8} " + " ".join(f"{p:>10}" for p in PHASES))
    for r in out["experiments"]:
        shares = " ".join(f"{r['phase_share'][p]:10.1%}" for p in PHASES)
        print(f"{r['experiment']:11} {r['instrumented_ms_per_member_step']:8.3f} {shares}")


if __name__ == "__main__":
    main()
