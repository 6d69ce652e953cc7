"""The engine's plans: index structures that depend only on the tokens (see :mod:`.engine`).

A :class:`Plan` is built once per token set and reused at every step. It covers a stack of K
models, each with its own examples: ``n`` each (a regular ``(K, n, T)`` stack), or any number
each (``sizes``), the rows of all models laid end to end without padding. Shapes: R rows
(examples of all models), T positions (Pv varying, Pc constant), Rv table rows (varying
(token, position) pairs that occur), H heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from grokcheck.errors import InputError


@dataclass(frozen=True, eq=False)
class Plan:
    """Index structures for one token set (K models, R rows in all), built once.

    Positions split into *constant* ones (one token in every row: ``op``, ``=``) and *varying*
    ones (``x``, ``y``; position 0 counts as varying if none does). Each varying (token,
    position) pair that occurs is one table row.

    Attributes:
        K, n, T, H: models, the largest number of examples of one model, positions, heads.
        sizes: examples of each model; model k owns rows ``offsets[k]:offsets[k] + sizes[k]``.
        stacked: the tokens came as a ``(K, n, T)`` stack (logits come back as ``(K, n, C)``),
            not as rows end to end (logits ``(R, C)``).
        runs: ``(k0, k1, row0, m)`` per run of consecutive models with ``m`` examples each:
            their rows ``row0:row0 + (k1 - k0) * m`` form a ``(k1 - k0, m, ...)`` batch.
        model_of: ``(R,)`` the model of each row.
        var_pos / const_pos: the varying and the constant positions (the last is constant).
        row_tok / row_pos: ``(Rv,)`` token and position of each varying table row.
        const_tok: ``(Pc,)`` the token at each constant position.
        const_pos_t: ``const_pos`` as a tensor.
        first_rows: how many rows belong to the first varying position (they come first).
        bag_idx: ``(R, H * Pv)`` row of the ``(K * H * Rv, Wt)`` table stack of each
            (head, position) of each example; increasing within a row (a CSR pattern).
        crow: ``(R + 1,)`` CSR row pointers of the ``(R, K * H * Rv)`` weight matrix.
        t_crow, t_col, t_order: CSR of its transpose; values ``weights.flatten()[t_order]``.
    """

    K: int
    n: int
    T: int
    H: int
    sizes: tuple[int, ...]
    stacked: bool
    runs: tuple[tuple[int, int, int, int], ...]
    model_of: torch.Tensor
    var_pos: tuple[int, ...]
    const_pos: tuple[int, ...]
    row_tok: torch.Tensor
    row_pos: torch.Tensor
    const_tok: torch.Tensor
    const_pos_t: torch.Tensor
    first_rows: int
    bag_idx: torch.Tensor
    crow: torch.Tensor
    t_crow: torch.Tensor
    t_col: torch.Tensor
    t_order: torch.Tensor

    @property
    def n_rows(self) -> int:
        """Rv: the varying (token, position) pairs, i.e. table rows per head and model."""
        return int(self.row_tok.shape[0])

    @property
    def rows(self) -> int:
        """R: examples of all models together."""
        return int(self.model_of.shape[0])

    def sum_per_model(self, x: torch.Tensor) -> torch.Tensor:
        """``(R, ...) -> (K, ...)``: each model's sum over its rows (a fixed order on every
        device, unlike ``index_add_``'s atomics on CUDA; differentiable)."""
        parts = [
            x[r0 : r0 + (k1 - k0) * m].unflatten(0, (k1 - k0, m)).sum(dim=1) for k0, k1, r0, m in self.runs
        ]
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def exact_reason(tokens: torch.Tensor, n_ctx: int) -> str | None:
    """``None`` if the engine is exact for ``tokens (..., n, T)`` on a model with ``n_ctx``
    positions, else why it is not."""
    if tokens.dtype not in (torch.int64, torch.int32) or tokens.dim() < 2:
        return "tokens must be an integer tensor (..., examples, positions)"
    if not 2 <= tokens.shape[-1] <= n_ctx:
        return f"sequences must have 2 to {n_ctx} positions, got {tokens.shape[-1]}"
    if tokens.numel() == 0:
        return "no examples"
    last = tokens[..., -1]
    if not bool((last == last.reshape(-1)[0]).all()):
        return "the last token (the query) differs between examples"
    return None


def make_plan(tokens: torch.Tensor, n_heads: int, sizes: Sequence[int] | None = None) -> Plan:
    """Build the :class:`Plan` of ``tokens``: ``(n, T)`` (one model), ``(K, n, T)`` (a stack),
    or, with ``sizes``, ``(R, T)``: the examples of ``len(sizes)`` models end to end, model k
    owning the next ``sizes[k]`` rows.

    Raises:
        InputError: the engine is not exact for these tokens (see :func:`exact_reason`), or
            ``sizes`` does not split the rows into models of at least one example each.
    """
    T = tokens.shape[-1]
    reason = exact_reason(tokens, T)
    if reason is not None:
        raise InputError("engine", reason)
    stacked = sizes is None
    if stacked:
        tok = tokens.reshape(-1, tokens.shape[-2], T).long()  # (K, n, T)
        sizes = (tok.shape[1],) * tok.shape[0]
        flat = tok.reshape(-1, T)
    else:
        sizes = tuple(int(s) for s in sizes)
        if tokens.dim() != 2 or not sizes or min(sizes) < 1 or sum(sizes) != tokens.shape[0]:
            raise InputError("engine", f"sizes {list(sizes)} do not split {tokens.shape[0]} rows into models")
        flat = tokens.long()
    K, R, H, dev = len(sizes), flat.shape[0], n_heads, flat.device
    # varying positions: those whose token changes, at least one (position 0 if none does);
    # the last position (the query) is constant
    var_pos = tuple(j for j in range(T - 1) if not bool((flat[:, j] == flat[0, j]).all())) or (0,)
    const_pos = tuple(j for j in range(T) if j not in var_pos)
    Pv = len(var_pos)
    row_tok, row_pos, rows = [], [], []
    for j in var_pos:
        uniq, inverse = torch.unique(flat[:, j], return_inverse=True)  # sorted unique tokens
        rows.append(inverse + sum(len(u) for u in row_tok))
        row_tok.append(uniq)
        row_pos.append(torch.full_like(uniq, j))
    row_tok = torch.cat(row_tok)
    Rv = len(row_tok)
    row_of = torch.stack(rows, dim=1)  # (R, Pv)
    model_of = torch.repeat_interleave(torch.arange(K, device=dev), torch.tensor(sizes, device=dev))
    heads = torch.arange(H, device=dev)[:, None]  # (H, 1)
    # (R, H, Pv) rows of the (K, H, Rv) table stack; increasing along (head, position)
    # because the rows of a later position come after those of an earlier one
    bag_idx = ((model_of[:, None, None] * H + heads) * Rv + row_of[:, None, :]).reshape(R, H * Pv)
    flat_idx = bag_idx.reshape(-1)
    t_order = torch.argsort(flat_idx, stable=True)
    counts = torch.bincount(flat_idx, minlength=K * Rv * H)
    return Plan(
        K=K,
        n=max(sizes),
        T=T,
        H=H,
        sizes=sizes,
        stacked=stacked,
        runs=_runs(sizes),
        model_of=model_of,
        var_pos=var_pos,
        const_pos=const_pos,
        row_tok=row_tok,
        row_pos=torch.cat(row_pos),
        const_tok=flat[0, list(const_pos)].clone(),
        const_pos_t=torch.tensor(const_pos, dtype=torch.int64, device=dev),
        first_rows=len(row_pos[0]),
        bag_idx=bag_idx,
        crow=torch.arange(0, R + 1, device=dev) * (Pv * H),
        t_crow=torch.cat([counts.new_zeros(1), counts.cumsum(0)]),
        t_col=torch.arange(R, device=dev).repeat_interleave(Pv * H)[t_order],
        t_order=t_order,
    )


def _runs(sizes: tuple[int, ...]) -> tuple[tuple[int, int, int, int], ...]:
    runs, k0, row0 = [], 0, 0
    for k in range(1, len(sizes) + 1):
        if k == len(sizes) or sizes[k] != sizes[k0]:
            runs.append((k0, k, row0, sizes[k0]))
            row0 += (k - k0) * sizes[k0]
            k0 = k
    return tuple(runs)
