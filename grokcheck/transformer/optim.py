"""AdamW, as Appendix A uses it (full batch, decoupled weight decay), for one model and for stacks.

:class:`OptimConfig` holds the optimiser's settings with the paper's defaults (eps is not in the
paper: PyTorch's 1e-8, recorded with every result). :func:`make_optimizer` builds torch's AdamW
for one model; :class:`StackedAdamW` applies the same update to ``(K, ...)`` stacks of K models,
each with its own learning rate and weight decay (bitwise equal to torch's per member; the test
suite checks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from grokcheck import validate
from grokcheck.errors import InputError
from grokcheck.transformer.runtime import LOSS_DTYPES, PARAM_DTYPES

#: logits functions: "reference" is the model itself; "auto" is grokcheck.transformer.engine's
#: exact table formulation where it applies (same function and gradients up to rounding)
ENGINES = ("auto", "reference")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW settings shared by every phase. Defaults are Appendix A's (eps: PyTorch's)."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.98
    weight_decay: float = 1.0
    eps: float = 1e-8
    loss_dtype: str = "float64"
    param_dtype: str = "float32"
    engine: str = "auto"

    def __post_init__(self) -> None:
        validate.positive_float("lr", self.lr)
        validate.beta("beta1", self.beta1)
        validate.beta("beta2", self.beta2)
        wd = validate.finite_float("weight_decay", self.weight_decay)
        if wd < 0:
            raise InputError("weight_decay", f"must be >= 0, got {self.weight_decay!r}")
        validate.positive_float("eps", self.eps)
        validate.choice("loss_dtype", self.loss_dtype, LOSS_DTYPES)
        validate.choice("param_dtype", self.param_dtype, PARAM_DTYPES)
        validate.choice("engine", self.engine, ENGINES)



def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
    )



class StackedAdamW:
    """AdamW on stacked parameters ``(K, ...)`` with a learning rate and weight decay per model.

    The update is torch's single-tensor AdamW, written on stacks: decoupled decay
    ``theta *= 1 - lr wd``, then ``theta -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``,
    with per-model factors formed in float64 and cast to the parameter dtype as torch casts its
    Python-float scalars.
    """

    def __init__(
        self,
        params: Mapping[str, torch.Tensor],
        lr: Sequence[float],
        weight_decay: Sequence[float],
        *,
        betas: tuple[float, float] = (0.9, 0.98),
        eps: float = 1e-8,
    ) -> None:
        self.params = dict(params)
        self.lr = torch.tensor(list(lr), dtype=torch.float64)
        self.wd = torch.tensor(list(weight_decay), dtype=torch.float64)
        self.betas, self.eps, self.t = betas, eps, 0
        self.exp_avg = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(p) for k, p in self.params.items()}

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2_sqrt = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for k, p in self.params.items():
            g = p.grad
            if g is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            decay = (1 - self.lr * self.wd).to(p).view(shape)
            neg_step = (-self.lr / bc1).to(p).view(shape)
            m, v = self.exp_avg[k], self.exp_avg_sq[k]
            p.mul_(decay)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.addcdiv_(m * neg_step, denom)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None
