"""The one progress reporter: a training run's plain lines (when, and what they say), and bars
instead of lines on a terminal. Sweep lines: tests/cli/test_verify_progress.py; simulation
lines: tests/cli/test_sim_cli.py."""

from __future__ import annotations

import io
from types import SimpleNamespace as NS

from grokcheck.cli.progress import Reporter


def row(train_loss=0.5, train_acc=0.75, test_loss=2.0, test_acc=0.25, norm=30.0):
    return NS(
        train_loss=train_loss,
        train_acc=train_acc,
        test_loss=test_loss,
        test_acc=test_acc,
        param_norm=norm,
        collapse_f32=None,
    )


def step(phase, s, budget, r=None):
    return NS(phase=phase, step=s, budget=budget, row=r, train_loss=0.5, train_acc=0.75)


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def test_training_lines_at_evaluations_throttled_and_always_at_a_new_phase_and_the_last_step():
    clock, out = Clock(), io.StringIO()
    rep = Reporter("train", every_s=10.0, tty=False, clock=clock, stream=out)
    rep.training(step("pretrain", 0, 100, row(test_loss=None, test_acc=None)))  # the first: at once
    clock.t = 1.0
    rep.training(step("pretrain", 1, 100))  # a step without an evaluation: never a line
    rep.training(step("pretrain", 10, 100, row()))  # 1 s after the last line: none
    clock.t = 11.0
    rep.training(step("pretrain", 20, 100, row()))  # 10 s on: a line
    clock.t = 12.0
    rep.training(step("pretrain", 100, 100, row()))  # the last step: a line
    rep.training(step("ungrok", 0, 50, row()))  # a new phase: a line
    clock.t = 13.0
    rep.training(step("ungrok", 10, 50, row()))
    assert out.getvalue().splitlines() == [
        "[pretrain] step 0/100 train loss 0.5 acc 0.75 | norm 30",
        "[pretrain] step 20/100 train loss 0.5 acc 0.75 | test loss 2 acc 0.25 | norm 30",
        "[pretrain] step 100/100 train loss 0.5 acc 0.75 | test loss 2 acc 0.25 | norm 30",
        "[ungrok] step 0/50 train loss 0.5 acc 0.75 | test loss 2 acc 0.25 | norm 30",
    ]


def test_quiet_at_first_then_lines():
    clock, out = Clock(), io.StringIO()
    rep = Reporter("sim", quiet_s=2.0, tty=False, clock=clock, stream=out)
    rep.sim("2b", "simulate", 10, 100)
    clock.t = 2.5
    rep.sim("2b", "simulate", 20, 100)
    assert out.getvalue().splitlines() == ["[sim 2b] simulating: step 20 of 100"]


def test_a_terminal_gets_bars_not_lines():
    clock, out = Clock(), io.StringIO()
    with Reporter("train", tty=True, clock=clock, stream=out) as rep:
        rep.training(step("train", 0, 100, row()))
        clock.t = 100.0
        rep.training(step("train", 100, 100, row()))
        rep.sim("2a", "simulate", 5, 10)
    assert "[train]" not in out.getvalue() and "[sim" not in out.getvalue()
