"""The phase driver against a hand-written loop of torch AdamW steps on the reference model:
parameters, final metrics, resume, the cache, divergence, and when a run's config is written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grokcheck.errors import InputError, RunError
from grokcheck.records import to_jsonable
from grokcheck.transformer.model.model import ModelConfig, make_model, param_norm
from grokcheck.transformer.model.tasks import make_dataset, random_labels, split
from grokcheck.transformer.training import single
from grokcheck.transformer.training.checkpoint import load_checkpoint
from grokcheck.transformer.training.loop import Schedule
from grokcheck.transformer.training.metrics import DIVERGED, FINAL_FIELDS, INTERRUPTED, STEPS
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.training.phase import Phase, PhaseData, raise_if_diverged, run_phase
from grokcheck.transformer.training.pretrain import PretrainConfig, pretrain

DS = make_dataset("add", 23)
SPLIT = split(DS, train_size=200, seed=0)
OPTIM = OptimConfig(lr=3e-3, weight_decay=0.5, engine="reference")
STEPS_ = 12
PHASE = Phase(
    "train",
    config=OPTIM,
    optim=OPTIM,
    schedule=Schedule(budget=STEPS_, eval_every=4, checkpoint_every=5, budget_reason=STEPS),
)
DATA = PhaseData(DS, SPLIT.train_idx)


def hand_loop(
    steps: int, *, seed: int = 0, state: dict | None = None, labels: torch.Tensor | None = None
) -> torch.nn.Module:
    """Full-batch AdamW written out: the reference model, torch's optimiser, a float64 loss."""
    model = make_model(ModelConfig(DS.n_vocab, DS.n_classes), seed=seed)
    if state is not None:
        model.load_state_dict(state)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.5)
    y = SPLIT.train_labels if labels is None else labels
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(SPLIT.train_tokens).double(), y).backward()
        opt.step()
    return model


def same_parameters(state: dict, model: torch.nn.Module) -> bool:
    return all(torch.equal(state[n], p.detach()) for n, p in model.state_dict().items())


def test_a_phase_is_a_plain_adamw_loop_and_reports_its_last_evaluation() -> None:
    r = run_phase(PHASE, DATA, start=3, device="cpu")
    model = hand_loop(STEPS_, seed=3)
    assert same_parameters(r.state, model)
    assert not same_parameters(r.state, hand_loop(STEPS_ - 1, seed=3))  # the check can fail
    assert (r.steps, r.stopped, r.train_size, r.test_size, r.budget) == (12, STEPS, 200, 329, 12)
    assert r.initial_param_norm == pytest.approx(
        param_norm(make_model(ModelConfig(DS.n_vocab, DS.n_classes), seed=3))
    )
    with torch.no_grad():
        for idx, loss, acc in (
            (SPLIT.train_idx, r.final.train_loss, r.final.train_acc),
            (SPLIT.test_idx, r.final.test_loss, r.final.test_acc),
        ):
            logits = model(DS.tokens[idx]).double()
            assert loss == pytest.approx(float(F.cross_entropy(logits, DS.labels[idx])), rel=1e-9)
            assert acc == float((logits.argmax(-1) == DS.labels[idx]).double().mean())
    assert r.final.param_norm == pytest.approx(param_norm(model), rel=1e-12)
    assert [row.step for row in r.rows] == [0, 1, 2, 4, 8, 12]


def test_given_parameters_and_labels_are_where_it_starts_and_what_it_fits() -> None:
    start = hand_loop(5, seed=1).state_dict()
    labels = random_labels(200, DS.n_classes, seed=7)
    data = PhaseData(DS, SPLIT.train_idx, labels, random_labels=True)
    r = run_phase(PHASE, data, start=start, device="cpu")
    assert same_parameters(r.state, hand_loop(STEPS_, state=start, labels=labels))
    assert not same_parameters(r.state, hand_loop(STEPS_, state=start))
    assert r.initial_param_norm is None and r.random_labels and r.note is not None


def test_an_interrupted_phase_resumes_to_the_uninterrupted_parameters(tmp_path: Path) -> None:
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 7

    ckpt, rows = tmp_path / "ck.pt", tmp_path / "rows.jsonl"
    part = run_phase(PHASE, DATA, start=0, device="cpu", checkpoint=ckpt, metrics=rows, stop=stop)
    assert (part.stopped, part.steps, load_checkpoint(ckpt, kind="train")["step"]) == (INTERRUPTED, 7, 7)
    done = run_phase(PHASE, DATA, start=0, device="cpu", checkpoint=ckpt, metrics=rows, resume=True)
    assert done.steps == STEPS_ and done.stopped == STEPS
    assert same_parameters(done.state, hand_loop(STEPS_))
    full = run_phase(PHASE, DATA, start=0, device="cpu")
    assert done.final == full.final
    strip = [
        {k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in rows.read_text().splitlines()
    ]
    expected = [{k: v for k, v in r.to_dict().items() if k != "wall_s"} for r in full.rows]
    assert [r for r in strip if r["step"] != 7] == expected  # plus the evaluation at the interruption


def test_a_resume_with_another_config_is_refused_before_the_run_config_is_written(tmp_path: Path) -> None:
    ckpt = tmp_path / "ck.pt"
    run_phase(
        dataclasses.replace(PHASE, schedule=Schedule(budget=4)), DATA, start=0, device="cpu", checkpoint=ckpt
    )
    started: list[int] = []
    other = dataclasses.replace(PHASE, config=dataclasses.replace(OPTIM, lr=2e-3))
    with pytest.raises(InputError, match="^--lr: differs"):
        run_phase(
            other,
            DATA,
            start=0,
            device="cpu",
            checkpoint=ckpt,
            resume=True,
            on_start=lambda: started.append(1),
        )
    assert started == []
    run_phase(
        PHASE, DATA, start=0, device="cpu", checkpoint=ckpt, resume=True, on_start=lambda: started.append(1)
    )
    assert started == [1]


def test_the_cache_holds_a_finished_phase_only(tmp_path: Path) -> None:
    run_phase(PHASE, DATA, start=0, device="cpu", cache=tmp_path / "done.pt")
    cached = load_checkpoint(tmp_path / "done.pt", kind="train")
    assert cached["step"] == STEPS_ and cached["config"] == to_jsonable(OPTIM)
    assert same_parameters(cached["model"], hand_loop(STEPS_))
    r = run_phase(PHASE, DATA, start=0, device="cpu", cache=tmp_path / "cut.pt", stop=lambda: True)
    assert r.stopped == INTERRUPTED and not (tmp_path / "cut.pt").exists()


def poison_after(monkeypatch, calls: int) -> None:
    """Make the parameters NaN before training step ``calls - 1``: its loss is not finite (a
    step followed by no evaluation, so the loop records the divergence at that step)."""
    real = single.SingleModel.train_step
    seen = {"n": 0}

    def poisoned(self, active):
        seen["n"] += 1
        if seen["n"] == calls:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))
        return real(self, active)

    monkeypatch.setattr(single.SingleModel, "train_step", poisoned)


def test_divergence_is_returned_then_raised_with_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    poison_after(monkeypatch, 6)
    ckpt = tmp_path / "ck.pt"
    phase = dataclasses.replace(PHASE, schedule=Schedule(budget=STEPS_, eval_every=4, checkpoint_every=2))
    r = run_phase(phase, DATA, start=0, device="cpu", checkpoint=ckpt, cache=tmp_path / "c.pt")
    assert r.stopped == DIVERGED and not r.converged and not (tmp_path / "c.pt").exists()
    good = load_checkpoint(ckpt, kind="train")
    assert good["step"] == 4 and all(bool(torch.isfinite(v).all()) for v in good["model"].values())
    with pytest.raises(RunError, match=r"diverged at step 5 .*last good checkpoint \(ck.pt\)") as e:
        raise_if_diverged(r)
    assert "\n" not in str(e.value)
    raise_if_diverged(run_phase(PHASE, DATA, start=0, device="cpu"))  # a finite phase passes


def test_pretraining_reports_divergence_like_every_phase(tmp_path: Path, monkeypatch) -> None:
    poison_after(monkeypatch, 6)
    cfg = PretrainConfig(p=23, max_steps=20, eval_every=5, checkpoint_every=2)
    with pytest.raises(RunError, match=r"training diverged at step 5 .*lower the learning rate \(0.001\)"):
        pretrain(cfg, device="cpu", cache_dir=tmp_path / "cache", run_checkpoint=tmp_path / "run" / "pre.pt")
    assert load_checkpoint(tmp_path / "run" / "pre.pt", kind="pretrain")["step"] == 4
    assert not (tmp_path / "cache").exists()


def test_the_summary_has_the_result_fields_and_final_metrics_only() -> None:
    r = run_phase(PHASE, DATA, start=0, device="cpu")
    data = json.loads(json.dumps(to_jsonable(r)))
    assert not {"rows", "state", "divergence"} & set(data)
    assert list(data["final"]) == list(FINAL_FIELDS) and "wall_s" in data
    assert type(data["stopped"]) is str and data["stopped"] == "steps"
    assert data["final"]["step"] == r.rows[-1].step == STEPS_
