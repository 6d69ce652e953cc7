"""The verify row: it must pass for a run that groks and fail otherwise."""

from __future__ import annotations

import dataclasses

import pytest

from grokcheck.transformer import checks
from grokcheck.transformer.training.metrics import FinalMetrics
from grokcheck.transformer.training.phase import PhaseResult

GROKKED = PhaseResult(
    task="add",
    p=31,
    train_size=673,
    test_size=288,
    steps=1500,
    final=FinalMetrics(1500, 1e-7, 1.0, 1e-3, 1.0, 30.0),
    step_train_100=80,
    step_test_95=900,
    step_test_99=1100,
    train_acc_drops=0,
    stopped="grokked",
    wall_s=30.0,
    device="cpu",
    loss_dtype="float64",
    eps=1e-8,
    threads=1,
)


def test_judge_passes_a_grokked_run() -> None:
    assert checks.judge(GROKKED, max_steps=3000, seed=0).holds


@pytest.mark.parametrize(
    "change",
    [
        {"stopped": "max_steps"},  # ran out of budget
        {"step_test_95": 80},  # generalised together with memorising: no delay, no grokking
        {"step_test_95": None, "step_test_99": None},
        {"step_train_100": None},
        {"final": FinalMetrics(1500, 1e-2, 0.99, 1e-3, 1.0, 30.0)},  # train accuracy not 100%
        {"final": FinalMetrics(1500, 1e-7, 1.0, 1e-1, 0.97, 30.0)},  # test accuracy fell back
    ],
)
def test_judge_fails_runs_that_did_not_grok(change: dict) -> None:
    assert not checks.judge(dataclasses.replace(GROKKED, **change), max_steps=3000, seed=0).holds


def test_real_run_with_too_small_a_budget_fails() -> None:
    row = checks.grok_check(23, 0.5, 0, 40)
    assert not row.holds and "40/40 steps" in row.figure


@pytest.mark.slow
def test_quick_row_holds() -> None:
    row = checks.grok_check(*checks.QUICK)
    assert row.holds, row.figure


def test_batch_equals_alone_row_holds_and_can_fail() -> None:
    from grokcheck.transformer.checks import batch_equals_alone_check

    ok = batch_equals_alone_check(steps=4)
    assert ok.holds and "tolerance" in ok.figure
    wrong = batch_equals_alone_check(steps=4, alone_changes={"weight_decay": 0.9})
    assert not wrong.holds
