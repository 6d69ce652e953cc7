"""The naive baseline: a straightforward full-sequence trainer, as public grokking notebooks do.

It runs every position of ``<x> <op> <y> <=>`` through the layer, unembeds every position and
only then takes the loss at the last one: the obvious translation of the architecture, with
separate Q/K/V projections through the residual stream, a ``-inf`` causal mask and no use of
the fact that only the last position is read. Kept here (not in the package) as the baseline
the engine's speed is measured against; its parameters are laid out like the reference model's
so the same weights can be loaded into both.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class NaiveTransformer(nn.Module):
    """Full-sequence forward: ``tokens (batch, pos) -> logits (batch, pos, n_classes)``."""

    def __init__(
        self,
        n_vocab: int,
        n_classes: int,
        d_model: int = 128,
        n_heads: int = 4,
        d_head: int = 32,
        d_mlp: int = 512,
        n_ctx: int = 4,
    ) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.W_E = nn.Parameter(torch.randn(n_vocab, d_model) / math.sqrt(d_model))
        self.W_pos = nn.Parameter(torch.randn(n_ctx, d_model) / math.sqrt(d_model))
        self.W_Q = nn.Parameter(torch.randn(n_heads, d_model, d_head) / math.sqrt(d_model))
        self.W_K = nn.Parameter(torch.randn(n_heads, d_model, d_head) / math.sqrt(d_model))
        self.W_V = nn.Parameter(torch.randn(n_heads, d_model, d_head) / math.sqrt(d_model))
        self.W_O = nn.Parameter(torch.randn(n_heads, d_head, d_model) / math.sqrt(d_model))
        self.W_in = nn.Parameter(torch.randn(d_model, d_mlp) / math.sqrt(d_model))
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_mlp, d_model) / math.sqrt(d_mlp))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.W_U = nn.Parameter(torch.randn(d_model, n_classes) / math.sqrt(d_model))
        self.register_buffer("mask", torch.tril(torch.ones(n_ctx, n_ctx)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, pos = tokens.shape
        x = self.W_E[tokens] + self.W_pos[:pos]  # (batch, pos, d_model)
        q = torch.einsum("hmd,bpm->bhpd", self.W_Q, x)  # (batch, heads, pos, d_head)
        k = torch.einsum("hmd,bpm->bhpd", self.W_K, x)
        v = torch.einsum("hmd,bpm->bhpd", self.W_V, x)
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.d_head)
        scores = scores.masked_fill(self.mask[:pos, :pos] == 0, float("-inf"))
        z = torch.einsum("bhqk,bhkd->bhqd", scores.softmax(dim=-1), v)  # (batch, heads, pos, d_head)
        x = x + torch.einsum("bhpd,hdm->bpm", z, self.W_O)
        x = x + torch.relu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out
        return x @ self.W_U  # (batch, pos, n_classes): every position unembedded


def naive_step(
    model: NaiveTransformer,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    loss_dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Forward and backward of one full-batch step; the loss reads the last position only."""
    logits = model(tokens)[:, -1]
    loss = nn.functional.cross_entropy(logits.to(loss_dtype), labels)
    loss.backward()
    return loss.detach()
