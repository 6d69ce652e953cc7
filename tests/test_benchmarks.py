"""The benchmark scripts run and say what they should: ``bench_experiments.py``'s FLOP bound and
tables, ``paper_time.py``'s arithmetic, and ``gpu.sh`` on a machine without a CUDA GPU."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_experiments  # noqa: E402
import paper_time  # noqa: E402
from common import count_flops  # noqa: E402

from grokcheck.experiments.spec import RunSpec  # noqa: E402
from grokcheck.transformer.model import tasks  # noqa: E402
from grokcheck.transformer.model.model import ModelConfig, make_model  # noqa: E402


def _reference_flops(cfg: ModelConfig, n: int) -> tuple[int, int]:
    """torch's FLOP count of the reference model on ``n`` examples: forward, forward + backward."""
    model = make_model(cfg)
    tokens = torch.randint(0, cfg.n_vocab, (n, cfg.n_ctx))
    labels = torch.randint(0, cfg.n_classes, (n,))
    with torch.no_grad():
        fwd = count_flops(lambda: model(tokens))
    return fwd, count_flops(lambda: F.cross_entropy(model(tokens), labels).backward())


@pytest.mark.parametrize(
    "cfg", [ModelConfig(33, 31), ModelConfig(10, 7, d_model=24, n_heads=3, d_head=8, d_mlp=40)]
)
def test_dense_flops_equal_torchs_count_of_the_reference_model(cfg: ModelConfig) -> None:
    fwd, fwd_bwd = bench_experiments.dense_flops(cfg)
    assert (fwd * 5, fwd_bwd * 5) == _reference_flops(cfg, 5)
    # a three-token sequence (no '=' position) is not what the model computes
    short = bench_experiments.dense_flops(dataclasses.replace(cfg, n_ctx=3))
    assert short[1] * 5 != _reference_flops(cfg, 5)[1]


def test_rates_are_interpolated_linearly_and_held_below_the_smallest_size() -> None:
    pts = [(100, 1.0), (300, 3.0), (500, 4.0)]
    assert paper_time.ms_at(pts, 200) == (2.0, False)
    assert paper_time.ms_at(pts, 400) == (3.5, False)
    assert paper_time.ms_at(pts, 700) == (5.0, True)  # the last segment's line
    assert paper_time.ms_at(pts, 50) == (1.0, True)
    assert paper_time.ms_at([(100, 2.0)], 900) == (2.0, True)


def test_paper_time_sums_chunks_at_their_largest_size() -> None:
    def spec(size: int, seed: int) -> RunSpec:
        return RunSpec("ungrok", "ungrok", "add", 23, size, 1.0, seed, max_steps=1000, eval_every=100)

    specs = [spec(100, 0), spec(200, 1), spec(300, 2)]
    pts = [(100, 1.0), (300, 3.0)]
    got = paper_time.estimate(specs, 2, pts)
    # chunks {100, 200} at D' = 200 (2 ms) and {300} (3 ms), 1000 steps each member
    assert got["chunks"] == 2 and got["extrapolated"] is False
    assert math.isclose(got["train_h"], (2 * 1000 * 2.0 + 1 * 1000 * 3.0) / 3.6e6)
    # 10 evaluations per run, each a third of a step at D' = 529 (the line through the points)
    assert math.isclose(got["eval_h"], 3 * 10 * (1.0 + 0.01 * (529 - 100)) / 3 / 3.6e6)
    one_chunk = paper_time.estimate(specs, 3, pts)  # all three padded to D' = 300
    assert math.isclose(one_chunk["train_h"], 3 * 1000 * 3.0 / 3.6e6)
    assert math.isclose(paper_time.pretrain_h(specs, 2.0), 3 * 20_000 * 2.0 / 3.6e6)


def test_paper_time_reads_only_this_codes_ensemble_rows() -> None:
    rows = [
        {"size": 400, "version": "now", "path": "K=64", "ms_per_member_step": 1.0},
        {"size": 400, "version": "now", "path": "single", "ms_per_member_step": 9.0},
        {"size": 400, "version": "now", "path": "K=64/g4000", "ms_per_member_step": 8.0},
        {"size": 400, "version": "abc123", "path": "K=64", "ms_per_member_step": 7.0},
        {"size": 100, "version": "now", "path": "K=8", "ms_per_member_step": 0.5},
    ]
    assert paper_time.rates([{"rows": rows}]) == {8: [(100, 0.5)], 64: [(400, 1.0)]}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def test_bench_experiments_runs_and_prints_its_columns(capsys) -> None:
    r = _run(
        sys.executable,
        str(BENCH / "bench_experiments.py"),
        "--experiments", "semigrok",
        "--steps", "2",
        "--reps", "1",
        "--max-chunk", "3",
        "--threads", "1",
        "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (e,) = out["experiments"]
    assert e["experiment"] == "semigrok" and e["ensembles"] == 3 and e["members"] == 9
    ms, rate = e["ms_per_member_step"], e["member_steps_per_s"]  # printed to 4 and to 1 decimal
    assert abs(ms * rate - 1e3) <= 1e3 * (0.05 / rate + 0.00005 / ms) * 1.01
    assert math.isclose(sum(e["phase_share"].values()), 1.0, abs_tol=1e-3)
    for d in e["ensembles_detail"]:
        assert d["K"] == 3 and d["circuits"] is False
        assert d["evaluations"] == 3  # steps 0, 1 and 2 (powers of two below eval_every, the end)
    # the dense bound: 3 x forward per train example, one forward per example per evaluation
    fwd, fwd_bwd = bench_experiments.dense_flops(ModelConfig(33, 31))
    n = tasks.dataset_size("add", 31)
    want = sum(fwd_bwd * d["mean_train_size"] + fwd * n * 3 / 2 for d in e["ensembles_detail"]) / 3
    assert math.isclose(e["dense_mflop_per_member_step"], want / 1e6, rel_tol=1e-3)
    assert 0 < e["engine_mflop_per_member_step"] < e["dense_mflop_per_member_step"]
    bench_experiments.render(out)
    text = capsys.readouterr().out
    for column in (
        "ms/m-step",
        "m-steps/s",
        "x single",
        "dense MFLOP",
        "x dense",
        "engine MFLOP",
        "x engine",
    ):
        assert column in text
    for phase in bench_experiments.PHASES:
        assert phase in text
    assert "\nsemigrok " in text


def test_bench_experiments_refuses_an_unknown_experiment() -> None:
    r = _run(sys.executable, str(BENCH / "bench_experiments.py"), "--experiments", "grokking")
    assert r.returncode == 2 and "--experiments: unknown grokking" in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_gpu_sh_without_cuda_exits_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = _run("bash", str(BENCH / "gpu.sh"), str(out), env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "no CUDA GPU" in r.stderr
    assert not out.exists()


def test_gpu_sh_goes_on_when_cuda_is_found(tmp_path: Path) -> None:
    """Control: an interpreter that answers True to everything passes the check, and every
    step of the script runs and is reported (no GPU work is done: nothing really runs)."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho True\n")
    fake.chmod(0o755)
    out = tmp_path / "results"
    r = _run(
        "bash",
        str(BENCH / "gpu.sh"),
        str(out),
        env={**os.environ, "PYTHON": str(fake), "TMPDIR": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert "no CUDA GPU" not in r.stderr
    status = (out / "status.txt").read_text().splitlines()
    names = [line.split(":")[0] for line in status]
    assert names == ["tests", "sweep-K64", "sweep-K256", "sweep-K1024", "grok", "estimate"]
    assert all(": ok after" in line for line in status)
    assert (out / "summary.txt").read_text() in r.stdout


def test_paper_time_prints_each_figure_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    rows = [
        {"size": n, "version": "now", "path": p, "ms_per_member_step": ms}
        for n, p, ms in ((400, "K=64", 0.5), (1500, "K=64", 1.5), (400, "single", 2.0))
    ]
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"rows": rows}))
    r = _run(sys.executable, str(BENCH / "paper_time.py"), str(sweep), "--pretrain-ms", "2")
    assert r.returncode == 0, r.stderr
    assert "Figures 4, 7  ungrok       750" in r.stdout and "Figure 5      semigrok     200" in r.stdout
    assert "upper bound" in r.stdout and "plus pretraining" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    r = _run(sys.executable, str(BENCH / "paper_time.py"), str(bad))
    assert (
        r.returncode == 1 and r.stderr.count("\n") == 1 and "not a bench_sweep.py --json output" in r.stderr
    )


@pytest.mark.parametrize(
    "script, args",
    [
        ("bench_step.py", ("--p", "11", "--reps", "2", "--warmup", "1", "--json")),
        (
            "bench_sweep.py",
            ("--p", "11", "--ks", "1,2", "--sizes", "20", "--reps", "1", "--warmup", "1", "--json"),
        ),
        ("bench_ensemble.py", ("--p", "11", "--ks", "1,2", "--reps", "1", "--json")),
    ],
)
def test_each_step_benchmark_runs_on_a_tiny_case(script: str, args: tuple[str, ...]) -> None:
    """A benchmark that stopped matching the library fails here, not in front of a user."""
    done = _run(sys.executable, str(BENCH / script), *args)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out, f"{script} printed an empty result"
