"""A run whose loss or parameters stop being finite stops with a one-line error, keeps its last
good checkpoint, and records why it stopped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from grokcheck.errors import RunError
from grokcheck.transformer.training.checkpoint import load_checkpoint
from grokcheck.transformer.training.train import TrainConfig, train

BASE = TrainConfig(p=23, train_frac=0.5, steps=40, eval_every=5, checkpoint_every=10)


def test_a_huge_learning_rate_diverges_with_a_run_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="diverged at step .*lower the learning rate") as e:
        train(dataclasses.replace(BASE, lr=50.0), device="cpu", out_dir=tmp_path)
    assert "\n" not in str(e.value)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped"] == "diverged" and summary["final"]["param_norm"] is not None


def test_the_last_good_checkpoint_is_kept(tmp_path: Path, monkeypatch) -> None:
    """Poison the parameters after step 12: the checkpoint of step 10 must survive, finite."""
    from grokcheck.transformer.training import single

    real = single.SingleModel.train_step
    calls = {"n": 0}

    def poisoned(self, active):
        calls["n"] += 1
        if calls["n"] == 13:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))
        return real(self, active)

    monkeypatch.setattr(single.SingleModel, "train_step", poisoned)
    with pytest.raises(RunError, match="last good checkpoint"):
        train(BASE, device="cpu", out_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt", kind="train")
    assert ckpt["step"] == 10
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model"].values())


def test_a_finite_run_is_not_called_diverged() -> None:
    r = train(dataclasses.replace(BASE, steps=10), device="cpu")
    assert r.stopped == "steps"
