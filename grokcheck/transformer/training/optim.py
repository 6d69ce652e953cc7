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
from typing import Any

import torch

from grokcheck import validate
from grokcheck.errors import InputError, RunError
from grokcheck.transformer.model.choices import ENGINES
from grokcheck.transformer.model.runtime import LOSS_DTYPES, PARAM_DTYPES


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


#: elements per chunk of :meth:`StackedAdamW.step`: the five buffers of a chunk (parameter,
#: gradient, two moments, one temporary) stay in cache across its passes (~5 MB here)
STEP_CHUNK = 1 << 18


class StackedAdamW:
    """AdamW on stacked parameters ``(K, ...)`` with a learning rate and weight decay per model.

    The update is torch's single-tensor AdamW, written on stacks: decoupled decay
    ``theta *= 1 - lr wd``, then ``theta -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``,
    with per-model factors formed in float64 and cast to the parameter dtype as torch casts its
    Python-float scalars. Every element goes through the same sequence of rounded operations
    as in torch's AdamW, so each member is bitwise equal to a separate ``torch.optim.AdamW``.

    Speed: the update is memory-bound (a handful of elementwise passes over K x ~230k
    parameters). The passes run on chunks of whole members of about :data:`STEP_CHUNK` elements
    (all passes over one chunk, then the next), so a large stack reads its parameters, gradients
    and moments from memory once per step instead of once per pass; the per-member factors are
    computed once per step, and temporaries are reused in place. Members that share a learning
    rate take torch's own ``addcdiv_(m, denom, value=-step)``, one pass fewer.
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
        neg_step64 = -self.lr / bc1
        lrs, neg_steps = self.lr.tolist(), neg_step64.tolist()
        factors: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        for k, p in self.params.items():
            g = p.grad
            if g is None:
                continue
            key = (p.dtype, p.device)
            if key not in factors:  # (K,) per-member factors, cast as torch casts its scalars
                factors[key] = ((1 - self.lr * self.wd).to(p), neg_step64.to(p))
            decay, neg_step = factors[key]
            K = p.shape[0]
            kc = max(1, STEP_CHUNK // max(1, p[0].numel()))  # members per chunk
            shape = (-1,) + (1,) * (p.dim() - 1)
            m_all, v_all = self.exp_avg[k], self.exp_avg_sq[k]
            tmp = tmp2 = None
            for k0 in range(0, K, kc):
                k1 = min(K, k0 + kc)
                pc, gc, m, v = p[k0:k1], g[k0:k1], m_all[k0:k1], v_all[k0:k1]
                if tmp is None or tmp.shape != pc.shape:
                    tmp, tmp2 = torch.empty_like(pc), None
                pc.mul_(decay[k0:k1].view(shape))
                m.lerp_(gc, 1 - b1)
                v.mul_(b2).addcmul_(gc, gc, value=1 - b2)
                torch.sqrt(v, out=tmp)
                tmp.div_(bc2_sqrt).add_(self.eps)  # denom
                if all(lr == lrs[k0] for lr in lrs[k0:k1]):  # one learning rate: torch's own call
                    pc.addcdiv_(m, tmp, value=neg_steps[k0])
                else:  # theta + (m * -step) / denom: addcdiv rounds its value times m first too
                    tmp2 = torch.mul(m, neg_step[k0:k1].view(shape), out=tmp2)
                    pc.addcdiv_(tmp2, tmp)

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None


# StackedAdamW's per-member state: moments, step count, lr and weight decay of one member


def member_state(opt: StackedAdamW, i: int) -> dict[str, Any]:
    return {
        "exp_avg": {n: m[i].detach().cpu().clone() for n, m in opt.exp_avg.items()},
        "exp_avg_sq": {n: v[i].detach().cpu().clone() for n, v in opt.exp_avg_sq.items()},
        "t": opt.t,
        "lr": float(opt.lr[i]),
        "wd": float(opt.wd[i]),
    }


def load_member_states(opt: StackedAdamW, states: Sequence[Mapping[str, Any]]) -> None:
    for name in opt.exp_avg:
        opt.exp_avg[name].copy_(torch.stack([s["exp_avg"][name] for s in states]))
        opt.exp_avg_sq[name].copy_(torch.stack([s["exp_avg_sq"][name] for s in states]))
    ts = {s["t"] for s in states}
    if len(ts) != 1:
        raise RunError("checkpoint: members of one group have different optimizer step counts")
    opt.t = ts.pop()


def select_members(opt: StackedAdamW, params: dict[str, torch.Tensor], keep: list[int]) -> StackedAdamW:
    """A StackedAdamW over ``params`` (members ``keep`` of ``opt``'s stack) with their state."""
    new = StackedAdamW(
        params,
        [float(opt.lr[i]) for i in keep],
        [float(opt.wd[i]) for i in keep],
        betas=opt.betas,
        eps=opt.eps,
    )
    new.t = opt.t
    for name in new.exp_avg:
        new.exp_avg[name].copy_(opt.exp_avg[name][keep])
        new.exp_avg_sq[name].copy_(opt.exp_avg_sq[name][keep])
    return new
