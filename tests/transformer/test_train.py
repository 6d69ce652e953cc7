"""The trainer: metrics against independent recomputation, stopping rules, resume, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grokcheck.errors import InputError, RunError
from grokcheck.transformer.training.checkpoint import load_checkpoint, save_checkpoint
from grokcheck.transformer.training.convergence import PRETRAIN_CONVERGENCE, converged_rule, grokked_rule
from grokcheck.transformer.training.loop import is_eval_step
from grokcheck.transformer.training.metrics import Row, Track
from grokcheck.transformer.model.model import ModelConfig, make_model, param_norm
from grokcheck.transformer.model.tasks import make_dataset, split
from grokcheck.transformer.training.train import TrainConfig, train

SMALL = TrainConfig(p=23, train_frac=0.5, steps=60, eval_every=20, checkpoint_every=25)


def rows(path: Path) -> list[dict]:
    """Metrics rows without the wall clock (which differs between runs)."""
    out = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        r.pop("wall_s")
        out.append(r)
    return out


def test_metrics_match_an_independent_recomputation(tmp_path: Path) -> None:
    r = train(SMALL, device="cpu", out_dir=tmp_path)
    assert r.steps == 60 and r.stopped == "steps" and r.train_size == 264 and r.test_size == 265
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt", kind="train")
    ds = make_dataset("add", 23)
    sp = split(ds, train_frac=0.5, seed=0)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes))
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        for tokens, labels, loss, acc in (
            (sp.train_tokens, sp.train_labels, r.final.train_loss, r.final.train_acc),
            (sp.test_tokens, sp.test_labels, r.final.test_loss, r.final.test_acc),
        ):
            logits = model(tokens).double()
            assert loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)
            assert acc == pytest.approx(float((logits.argmax(-1) == labels).double().mean()))
    assert r.final.param_norm == pytest.approx(param_norm(model), rel=1e-9)
    steps = [row["step"] for row in rows(tmp_path / "metrics.jsonl")]
    assert steps == [0, 1, 2, 4, 8, 16, 20, 40, 60]
    for name in ("config.json", "summary.json", "curves.png", "checkpoint.pt"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["final"]["step"] == 60
    assert json.loads((tmp_path / "config.json").read_text())["p"] == 23


def test_step_train_100_is_the_first_perfect_step() -> None:
    """Recompute train accuracy at every step with a plain AdamW loop on the reference model."""
    cfg = dataclasses.replace(SMALL, steps=90, engine="reference")
    r = train(cfg, device="cpu")
    ds = make_dataset("add", 23)
    sp = split(ds, train_frac=0.5, seed=0)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    first = None
    for step in range(90):
        opt.zero_grad()
        logits = model(sp.train_tokens)
        if first is None and bool((logits.argmax(-1) == sp.train_labels).all()):
            first = step
        F.cross_entropy(logits.double(), sp.train_labels).backward()
        opt.step()
    assert first is not None and r.step_train_100 == first


def test_resume_after_interrupt_equals_uninterrupted(tmp_path: Path) -> None:
    full = train(SMALL, device="cpu", out_dir=tmp_path / "a")
    calls = 0

    def stop() -> bool:  # as if Ctrl-C came during step 37
        nonlocal calls
        calls += 1
        return calls > 37

    part = train(SMALL, device="cpu", out_dir=tmp_path / "b", stop=stop)
    assert part.stopped == "interrupted" and part.steps == 37
    assert part.final.step == 37  # the summary's final row is at the step it reached
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt", kind="train")["step"] == 37
    resumed = train(SMALL, device="cpu", out_dir=tmp_path / "b", resume=True)
    assert resumed.steps == 60 and resumed.stopped == "steps"
    assert resumed.final == full.final
    # the resumed records are the uninterrupted ones plus the evaluation made at the interruption
    b_rows = rows(tmp_path / "b" / "metrics.jsonl")
    assert [r for r in b_rows if r["step"] != 37] == rows(tmp_path / "a" / "metrics.jsonl")
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt", kind="train")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt", kind="train")
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name


def test_resume_may_extend_steps_but_not_change_the_trajectory(tmp_path: Path) -> None:
    train(dataclasses.replace(SMALL, steps=20), device="cpu", out_dir=tmp_path)
    longer = train(dataclasses.replace(SMALL, steps=30), device="cpu", out_dir=tmp_path, resume=True)
    assert longer.steps == 30
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(InputError, match="--lr: differs from the run being resumed"):
        train(dataclasses.replace(SMALL, lr=2e-3), device="cpu", out_dir=tmp_path, resume=True)
    assert (tmp_path / "config.json").read_text() == before


def test_float32_loss_runs_and_is_recorded() -> None:
    r = train(dataclasses.replace(SMALL, steps=10, loss_dtype="float32"), device="cpu")
    assert r.loss_dtype == "float32" and r.final.train_loss < 3.2


def row(step: int, *, train_acc: float = 1.0, test_acc: float | None = None, norm: float = 1.0) -> Row:
    return Row(
        step=step, train_loss=0.1, train_acc=train_acc, test_loss=None, test_acc=test_acc, param_norm=norm
    )


def test_stopping_rules() -> None:
    t = Track()
    for s, acc in ((0, 0.1), (100, 0.995), (200, 0.999), (300, 0.98), (400, 0.99), (500, 1.0)):
        t.add_row(row(s, test_acc=acc))
    assert (t.step_test_95, t.step_test_99, t.streak_start) == (100, 100, 400)
    assert grokked_rule(100)(t) == "grokked" and grokked_rule(101)(t) is None

    p = Track()
    plateau = converged_rule(PRETRAIN_CONVERGENCE)  # < 1% change of the norm over 500 steps
    for s, norm, acc in ((0, 50.0, 0.0), (250, 45.0, 1.0), (500, 44.8, 1.0), (750, 44.7, 1.0)):
        p.add_row(row(s, train_acc=acc, norm=norm))
        if s == 500:
            assert plateau(p) is None  # 50 -> 44.8 is a 10% fall
    assert plateau(p) == "converged"  # 45 -> 44.7 < 1%
    assert [s for s in range(0, 130) if is_eval_step(s, 50)] == [0, 1, 2, 4, 8, 16, 32, 50, 100]


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"steps": -1}, "--steps"),
        ({"lr": -1e-3}, "--lr"),
        ({"lr": 0.0}, "--lr"),
        ({"weight_decay": -0.5}, "--weight-decay"),
        ({"train_size": 529, "train_frac": None}, "--train-size"),
        ({"train_size": 10, "train_frac": 0.5}, "--train-size"),
        ({"train_frac": 1.5}, "--train-frac"),
        ({"p": 1}, "--p"),
        ({"task": "nope"}, "--task"),
        ({"loss_dtype": "float16"}, "--loss-dtype"),
        ({"eps": 0.0}, "--eps"),
        ({"beta2": 1.0}, "--beta2"),
    ],
)
def test_bad_config(kwargs: dict, flag: str) -> None:
    with pytest.raises(InputError) as e:
        dataclasses.replace(SMALL, **kwargs)
    assert str(e.value).startswith(flag + ":")


def test_divide_task_needs_prime() -> None:
    with pytest.raises(InputError, match="must be prime"):
        TrainConfig(task="div", p=25)


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not found"):
        load_checkpoint(tmp_path / "none.pt", kind="train")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(RunError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.pt", kind="train")
    torch.save({"hello": 1}, tmp_path / "foreign.pt")
    with pytest.raises(RunError, match="not a grokcheck"):
        load_checkpoint(tmp_path / "foreign.pt", kind="train")
    save_checkpoint(tmp_path / "u.pt", {"config": {}, "model": {}, "step": 0}, kind="ungrok")
    with pytest.raises(RunError, match="expected train"):
        load_checkpoint(tmp_path / "u.pt", kind="train")
    train(dataclasses.replace(SMALL, steps=3), device="cpu", out_dir=tmp_path / "run")
    data = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="corrupt"):
        train(dataclasses.replace(SMALL, steps=5), device="cpu", out_dir=tmp_path / "run", resume=True)


def test_cuda_unavailable_is_an_input_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="--device: CUDA is not available"):
        train(SMALL, device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    """Same code path on both devices; results agree to float32 rounding over a few steps."""
    cfg = dataclasses.replace(SMALL, steps=20)
    cpu, gpu = train(cfg, device="cpu"), train(cfg, device="cuda")
    assert gpu.device.startswith("cuda")
    assert gpu.final.train_loss == pytest.approx(cpu.final.train_loss, rel=1e-3)
    assert gpu.final.param_norm == pytest.approx(cpu.final.param_norm, rel=1e-4)


@pytest.mark.slow
def test_small_p_groks_within_budget() -> None:
    """p = 47 at 50% train groks in ~1.5k-2k steps (seeds 0 and 1)."""
    cfg = TrainConfig(p=47, train_frac=0.5, max_steps=4000, hold_steps=200)
    r = train(cfg, device="cpu")
    assert r.stopped == "grokked", r
    assert r.step_test_95 is not None and r.step_test_95 < 3000
    assert r.final.test_acc >= 0.99 and r.final.train_acc == 1.0


def test_first_converged_finds_where_the_rule_stops_a_curve():
    from grokcheck.transformer.training.convergence import ConvergenceConfig, first_converged

    cfg = ConvergenceConfig(window=200)
    # the norm falls 1% per 100 steps until step 600, then stays: the rule holds from step 800
    rows = [
        Row(step=s, train_loss=1e-3, train_acc=1.0, test_loss=1.0, test_acc=0.5,
            param_norm=20.0 * 0.99 ** (min(s, 600) // 100))
        for s in range(0, 1200, 100)
    ]  # fmt: skip
    assert first_converged(rows, cfg).step == 800
    assert first_converged(rows[:8], cfg) is None  # cut before it settles
    # and it agrees with the stop rule fed the same rows one at a time
    rule, track = converged_rule(cfg), Track()
    stops = []
    for r in rows:
        track.rows.append(r)
        stops.append(rule(track))
    assert stops.index("converged") == 8
