"""StackedAdamW equals torch's AdamW per member, bitwise, whatever the chunking of its step."""

from __future__ import annotations

import pytest
import torch

from grokcheck.transformer.training import optim
from grokcheck.transformer.training.optim import StackedAdamW

SHAPES = {"W": (7, 6, 5), "b": (7, 3), "s": (7,)}


def run(chunk: int, dtype: torch.dtype, monkeypatch, *, coupled: bool = False, same_lr: bool = False) -> None:
    """8 steps of StackedAdamW on 7 members (per-member lr and wd) against torch's AdamW."""
    monkeypatch.setattr(optim, "STEP_CHUNK", chunk)
    g = torch.Generator().manual_seed(chunk)
    K = 7
    lrs = [3e-3] * K if same_lr else [1e-3 * (1 + k) for k in range(K)]
    wds = [0.2 * k for k in range(K)]
    start = {n: torch.randn(s, generator=g, dtype=torch.float64).to(dtype) for n, s in SHAPES.items()}
    stacked = {n: t.clone().requires_grad_() for n, t in start.items()}
    opt = StackedAdamW(stacked, lrs, wds, betas=(0.9, 0.98), eps=1e-8)
    refs = [{n: t[k].clone().requires_grad_() for n, t in start.items()} for k in range(K)]
    cls = torch.optim.Adam if coupled else torch.optim.AdamW
    ropts = [cls(list(refs[k].values()), lr=lrs[k], betas=(0.9, 0.98), weight_decay=wds[k]) for k in range(K)]
    for _ in range(8):
        grads = {
            n: (
                torch.randn(s, generator=g, dtype=torch.float64)
                * 10.0 ** torch.randint(-12, 1, s, generator=g)
            )
            for n, s in SHAPES.items()
        }
        for n in SHAPES:
            stacked[n].grad = grads[n].to(dtype)
        opt.step()
        opt.zero_grad()
        assert all(p.grad is None for p in stacked.values())
        for k in range(K):
            for n in SHAPES:
                refs[k][n].grad = grads[n][k].to(dtype)
            ropts[k].step()
    for k in range(K):
        for n in SHAPES:
            assert torch.equal(stacked[n][k].detach(), refs[k][n].detach()), (n, k)


@pytest.mark.parametrize("chunk", [1, 30, 70, 1 << 18])  # one member, 1 and 2 members of W, all
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_step_is_bitwise_torch_adamw_per_member(chunk, dtype, monkeypatch) -> None:
    run(chunk, dtype, monkeypatch)


@pytest.mark.parametrize("chunk", [30, 1 << 18])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_members_sharing_a_learning_rate_take_torch_s_own_update(chunk, dtype, monkeypatch) -> None:
    """Chunks whose members share one learning rate take addcdiv_ with torch's value=-step."""
    run(chunk, dtype, monkeypatch, same_lr=True)


def test_the_comparison_catches_coupled_weight_decay(monkeypatch) -> None:
    """Negative control: against Adam with L2 regularisation the same comparison fails."""
    with pytest.raises(AssertionError):
        run(30, torch.float64, monkeypatch, coupled=True)


def test_a_parameter_without_gradient_is_left_alone() -> None:
    p = {"a": torch.ones(2, 3, requires_grad=True), "b": torch.ones(2, 4, requires_grad=True)}
    opt = StackedAdamW(p, [0.1, 0.1], [1.0, 1.0])
    p["a"].grad = torch.ones(2, 3)
    opt.step()
    assert torch.equal(p["b"].detach(), torch.ones(2, 4)) and not torch.equal(
        p["a"].detach(), torch.ones(2, 3)
    )
