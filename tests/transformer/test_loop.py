"""The one loop's bookkeeping with a stand-in stepper: which steps are evaluated, and where a
diverged member is recorded to have stopped."""

from __future__ import annotations

import math

import torch

from grokcheck.transformer.training.loop import Schedule, is_eval_step, run_loop
from grokcheck.transformer.training.metrics import DIVERGED, Row, Track


class Stub:
    """Two members; member 0's loss is not finite from ``bad_from`` on; the other's always is."""

    def __init__(self, bad_from: int) -> None:
        self.train_sizes = [10, 10]
        self.bad_from = bad_from
        self.step = 0
        self.evaluated: list[tuple[int, int]] = []

    def train_step(self, active):
        loss = [math.nan if k == 0 and self.step >= self.bad_from else 1.0 for k in active]
        self.step += 1
        return torch.tensor(loss), torch.tensor([5] * len(active))

    def evaluate(self, members, step):
        self.evaluated += [(k, step) for k in members]
        bad = step > self.bad_from
        return [Row(step, math.nan if k == 0 and bad else 1.0, 0.5, 1.0, 0.5, 1.0) for k in members]

    def retire(self, k):
        pass


def test_evaluations_at_powers_of_two_then_every_interval() -> None:
    assert [s for s in range(20) if is_eval_step(s, 8)] == [0, 1, 2, 4, 8, 16]


def test_a_member_diverging_just_before_an_evaluation_stops_at_its_own_step() -> None:
    """Member 0's loss at step 3 is not finite; step 4 is an evaluation step. It stopped at 3
    and is not evaluated after that; member 1 runs to the budget."""
    stub = Stub(bad_from=3)
    tracks = [Track(), Track()]
    run_loop(stub, tracks, start_step=0, schedule=Schedule(budget=8, eval_every=4), rules=[None, None])
    assert (tracks[0].stopped, tracks[0].stop_step) == (DIVERGED, 3)
    assert [k_s for k_s in stub.evaluated if k_s[0] == 0] == [(0, 0), (0, 1), (0, 2)]
    assert tracks[0].last.step == 2  # its last finite evaluation
    assert (tracks[1].stopped, tracks[1].stop_step, tracks[1].last.step) == ("max_steps", 8, 8)
