"""The reference 1-layer decoder-only transformer of Appendix A.

Appendix A: d_model = 128, d_head = 32, 4 heads, d_mlp = 512 (ReLU), learned positional
embeddings, untied embedding and unembedding. As in Nanda et al. (2023), whose set-up the paper
follows, there is no LayerNorm, no attention bias and no unembedding bias; the MLP has biases.

This is the plain, obviously-correct reference: it computes every position of the 4-token
sequence and only then reads the logits at the last position (the ``=`` token). Faster exact
formulations (``grokcheck.transformer.model.engine``) are tested against it.

Initialisation. The paper states none. Ours is normal with mean 0 and std ``1/sqrt(fan_in)``
for every matrix that reads a vector: ``1/sqrt(d_model)`` for W_Q, W_K, W_V, W_O
(``n_heads * d_head = d_model`` inputs), W_in and W_U, and ``1/sqrt(d_mlp)`` for W_out; the
embeddings W_E and W_pos get std ``1/sqrt(d_model)``; biases start at zero. This is grokcheck's
own choice. It agrees with Nanda et al.'s code (progress-measures-paper, ``transformers.py``)
for W_E, W_pos, W_Q, W_K, W_V, W_O and W_in, and differs for two matrices: there W_out has std
``1/sqrt(d_model)`` (ours ``1/sqrt(d_mlp)``, half of it for d_mlp = 4 d_model) and W_U has std
``1/sqrt(d_vocab)`` (ours ``1/sqrt(d_model)``).

Shapes: ``batch`` examples, ``pos`` = n_ctx = 4 positions, ``d_model`` residual width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from grokcheck import validate


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the transformer. Defaults are Appendix A's.

    Attributes:
        n_vocab: input vocabulary size (p + 2 for mod-p tasks: elements, op, '=').
        n_classes: number of answer classes (p for mod-p tasks, 120 for S5).
        d_model: residual stream width.
        n_heads: attention heads (d_model / d_head = 4 in the paper).
        d_head: query/key/value size per head.
        d_mlp: MLP hidden width.
        n_ctx: sequence length (``<x> <op> <y> <=>``).
    """

    n_vocab: int
    n_classes: int
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    n_ctx: int = 4

    def __post_init__(self) -> None:
        validate.int_at_least("n_vocab", self.n_vocab, 1)
        validate.int_at_least("n_classes", self.n_classes, 2)
        for name in ("d_model", "n_heads", "d_head", "d_mlp", "n_ctx"):
            validate.int_at_least(name, getattr(self, name), 1)


class Transformer(nn.Module):
    """One attention layer and one MLP layer on a residual stream; logits at the last position."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg
        self.W_E = nn.Parameter(torch.empty(c.n_vocab, c.d_model))
        self.W_pos = nn.Parameter(torch.empty(c.n_ctx, c.d_model))
        self.W_Q = nn.Parameter(torch.empty(c.n_heads, c.d_model, c.d_head))
        self.W_K = nn.Parameter(torch.empty(c.n_heads, c.d_model, c.d_head))
        self.W_V = nn.Parameter(torch.empty(c.n_heads, c.d_model, c.d_head))
        self.W_O = nn.Parameter(torch.empty(c.n_heads, c.d_head, c.d_model))
        self.W_in = nn.Parameter(torch.empty(c.d_model, c.d_mlp))
        self.b_in = nn.Parameter(torch.empty(c.d_mlp))
        self.W_out = nn.Parameter(torch.empty(c.d_mlp, c.d_model))
        self.b_out = nn.Parameter(torch.empty(c.d_model))
        self.W_U = nn.Parameter(torch.empty(c.d_model, c.n_classes))
        # Causal mask: position i attends to positions j <= i.
        causal = torch.tril(torch.ones(c.n_ctx, c.n_ctx, dtype=torch.bool))
        self.register_buffer("mask", causal, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw a fresh initialisation (see the module docstring) from ``generator``."""
        s_model, s_mlp = 1.0 / math.sqrt(self.cfg.d_model), 1.0 / math.sqrt(self.cfg.d_mlp)
        stds = {
            "W_E": s_model,
            "W_pos": s_model,
            "W_Q": s_model,
            "W_K": s_model,
            "W_V": s_model,
            "W_O": s_model,
            "W_in": s_model,
            "W_out": s_mlp,
            "W_U": s_model,
        }
        for name, std in stds.items():  # this order fixes what a seed draws
            getattr(self, name).normal_(0.0, std, generator=generator)
        self.b_in.zero_()
        self.b_out.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` at the last position of ``tokens`` ``(batch, pos)``."""
        batch, pos = tokens.shape
        # Embedding
        resid = self.W_E[tokens] + self.W_pos[:pos]  # (batch, pos, d_model)

        # Attention: every head at once, causal, scores scaled by 1/sqrt(d_head)
        q = torch.einsum("bpm,hmd->bhpd", resid, self.W_Q)  # (batch, heads, pos, d_head)
        k = torch.einsum("bpm,hmd->bhpd", resid, self.W_K)  # (batch, heads, pos, d_head)
        v = torch.einsum("bpm,hmd->bhpd", resid, self.W_V)  # (batch, heads, pos, d_head)
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.cfg.d_head)
        # scores: (batch, heads, query pos, key pos)
        scores = scores.masked_fill(~self.mask[:pos, :pos], float("-inf"))
        pattern = scores.softmax(dim=-1)  # (batch, heads, q, k)
        z = torch.einsum("bhqk,bhkd->bhqd", pattern, v)  # (batch, heads, pos, d_head)
        resid = resid + torch.einsum("bhpd,hdm->bpm", z, self.W_O)  # (batch, pos, d_model)

        # MLP
        hidden = torch.relu(resid @ self.W_in + self.b_in)  # (batch, pos, d_mlp)
        resid = resid + hidden @ self.W_out + self.b_out  # (batch, pos, d_model)

        # Unembed every position, then read the last one (the '=' token)
        logits = resid @ self.W_U  # (batch, pos, n_classes)
        return logits[:, -1, :]  # (batch, n_classes)


def make_model(
    cfg: ModelConfig,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Transformer:
    """A :class:`Transformer` initialised from ``seed``.

    The weights are drawn on CPU and then moved, so every device starts from the same init.
    """
    model = Transformer(cfg)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    return model.to(device=device, dtype=dtype)


def param_norm(model: nn.Module) -> float:
    """The L2 norm of all parameters together, ``sqrt(sum_i ||theta_i||^2)``."""
    with torch.no_grad():
        return math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in model.parameters()))
