"""The engine's core: plans, per-step tables and the per-example gather (see :mod:`.engine`).

Everything here is written for a stack of K models (leading axis K), so :mod:`.ensemble`
reuses it; a single model is K = 1. Shapes: K models, n examples per model, T positions (Pv
varying, Pc constant), Rv table rows (varying (token, position) pairs that occur), H heads,
d = d_model, e = d_head, F = d_mlp, C = n_classes, Wt = F + C rounded up to a multiple of 16.
The formulation and its exactness are described in :mod:`grokcheck.transformer.model.engine`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from grokcheck.errors import InputError

#: parameter names of the reference model, in its order
PARAM_NAMES = ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "b_in", "W_out", "b_out", "W_U")
#: table widths are padded to a multiple of this many elements (unaligned widths made
#: ``embedding_bag`` ~2x slower, measured on a 2-core CPU)
ALIGN = 16


# --- plans: what depends only on the tokens ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class Plan:
    """Index structures for one token set (``K`` models x ``n`` examples), built once.

    Positions split into *constant* ones (one token in every row: ``op``, ``=``) and *varying*
    ones (``x``, ``y``; position 0 counts as varying if none does). Each varying (token,
    position) pair that occurs is one table row.

    Attributes:
        K, n, T, H: models, examples per model, positions, heads.
        var_pos / const_pos: the varying and the constant positions (the last is constant).
        row_tok / row_pos: ``(Rv,)`` token and position of each varying table row.
        const_tok: ``(Pc,)`` the token at each constant position.
        const_pos_t: ``const_pos`` as a tensor.
        first_rows: how many rows belong to the first varying position (they come first).
        bag_idx: ``(K * n, H * Pv)`` row of the ``(K * H * Rv, Wt)`` table stack of each
            (head, position) of each example; increasing within a row (a CSR pattern).
        crow: ``(K * n + 1,)`` CSR row pointers of the ``(K * n, K * H * Rv)`` weight matrix.
        t_crow, t_col, t_order: CSR of its transpose; values ``weights.flatten()[t_order]``.
    """

    K: int
    n: int
    T: int
    H: int
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
        return int(self.row_tok.shape[0])


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


def make_plan(tokens: torch.Tensor, n_heads: int) -> Plan:
    """Build the :class:`Plan` of ``tokens`` ``(n, T)`` (one model) or ``(K, n, T)`` (a stack).

    Raises:
        InputError: the engine is not exact for these tokens (see :func:`exact_reason`).
    """
    T = tokens.shape[-1]
    reason = exact_reason(tokens, T)
    if reason is not None:
        raise InputError("engine", reason)
    tok = tokens.reshape(-1, tokens.shape[-2], T).long()  # (K, n, T)
    K, n, H, dev = tok.shape[0], tok.shape[1], n_heads, tok.device
    flat = tok.reshape(K * n, T)
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
    row_of = torch.stack(rows, dim=1)  # (K*n, Pv)
    model_of = torch.arange(K, device=dev).repeat_interleave(n)[:, None, None]  # (K*n, 1, 1)
    heads = torch.arange(H, device=dev)[:, None]  # (H, 1)
    # (K*n, H, Pv) rows of the (K, H, Rv) table stack; increasing along (head, position)
    # because the rows of a later position come after those of an earlier one
    bag_idx = ((model_of * H + heads) * Rv + row_of[:, None, :]).reshape(K * n, H * Pv)
    flat_idx = bag_idx.reshape(-1)
    t_order = torch.argsort(flat_idx, stable=True)
    counts = torch.bincount(flat_idx, minlength=K * Rv * H)
    return Plan(
        K=K,
        n=n,
        T=T,
        H=H,
        var_pos=var_pos,
        const_pos=const_pos,
        row_tok=row_tok,
        row_pos=torch.cat(row_pos),
        const_tok=flat[0, list(const_pos)].clone(),
        const_pos_t=torch.tensor(const_pos, dtype=torch.int64, device=dev),
        first_rows=len(row_pos[0]),
        bag_idx=bag_idx,
        crow=torch.arange(0, K * n + 1, device=dev) * (Pv * H),
        t_crow=torch.cat([counts.new_zeros(1), counts.cumsum(0)]),
        t_col=torch.arange(K * n, device=dev).repeat_interleave(Pv * H)[t_order],
        t_order=t_order,
    )


# --- the per-example work --------------------------------------------------------------------


class _BagMlp(torch.autograd.Function):
    """``logits = relu(pre) W_ou + direct`` with ``[pre | direct] = gather + bias``, by hand.

    Autograd's own backward for ``embedding_bag`` sorts the indices every step and was ~3x
    slower than this one: the table's gradient is itself a weighted gather (one bag of
    examples per table row, the fixed transposed pattern of :class:`Plan`), the weights' a
    sampled dense product. Writing the backward here also applies ReLU in place and never
    materialises a zero-filled gradient of a sliced buffer.
    """

    @staticmethod
    def forward(ctx, tab, a_var, bias, w_ou, plan: Plan, F: int, C: int):
        # tab (K*H*Rv, Wt), a_var (K*n, H*Pv), bias (K, Wt),
        # w_ou (K, F, Wt - F): W_out W_U with zero columns up to the table width
        K, n = plan.K, plan.n
        # detached inputs: embedding_bag picks its slower training kernel for inputs that require grad
        out = Fn.embedding_bag(plan.bag_idx, tab.detach(), per_sample_weights=a_var.detach(), mode="sum")
        out = out.view(K, n, -1)  # (K, n, Wt)
        out += bias[:, None]
        out.view(K * n, -1)[:, :F].clamp_(min=0)  # relu in place (2-D view: the fast kernel)
        hidden, direct = out[..., :F], out[..., F:]  # (K, n, F), (K, n, Wt - F); row stride Wt
        # the product is Wt - F (a multiple of 16) wide, not C: aligned widths run faster
        # product, then add: measured faster than addmm/baddbmm with the strided ``direct``
        if K == 1:
            logits = torch.mm(hidden[0], w_ou[0]).add_(direct[0]).unsqueeze(0)
        else:
            logits = torch.bmm(hidden, w_ou).add_(direct)  # (K, n, Wt - F)
        ctx.save_for_backward(tab, a_var, w_ou, out)
        ctx.plan, ctx.F, ctx.C = plan, F, C
        return logits[..., :C]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dlogits):
        tab, a_var, w_ou, out = ctx.saved_tensors
        plan, F, C = ctx.plan, ctx.F, ctx.C
        K, n, Wt = out.shape
        need = ctx.needs_input_grad
        hidden = out[..., :F]
        # d logits zero-padded to Wt - F columns, in its own buffer (no aliasing with dout);
        # copies through 2-D views: strided 3-D copies took a slow path
        dlogits = dlogits.contiguous()
        d_direct = dlogits.new_zeros(K, n, Wt - F)
        d_direct.view(K * n, -1)[:, :C] = dlogits.view(K * n, C)
        dout = torch.empty_like(out)  # d[pre | direct], (K, n, Wt)
        flat = dout.view(K * n, Wt)
        flat[:, F:] = d_direct.view(K * n, -1)
        # measured: d hidden is faster contracting over C (113) than over the padded 128, the
        # weight gradient faster at 128
        if K == 1:
            d_w_ou = (hidden[0].t() @ d_direct[0]).unsqueeze(0) if need[3] else None
            torch.mm(dlogits[0], w_ou[0, :, :C].t(), out=dout[0, :, :F])
        else:
            d_w_ou = torch.bmm(hidden.transpose(1, 2), d_direct) if need[3] else None
            torch.bmm(dlogits, w_ou[..., :C].transpose(1, 2), out=dout[..., :F])
        # relu'(pre) = [pre > 0] as in autograd; 2-D strided views take the fast kernel
        dh, h = flat[:, :F], out.view(K * n, Wt)[:, :F]
        torch.ops.aten.threshold_backward.grad_input(dh, h, 0.0, grad_input=dh)
        d_bias = dout.sum(dim=1) if need[2] else None
        d_tab = d_a_var = None
        if need[0]:  # one bag of weighted dout rows per table row
            d_tab = Fn.embedding_bag(
                plan.t_col,
                flat,
                plan.t_crow[:-1],
                mode="sum",
                per_sample_weights=a_var.reshape(-1)[plan.t_order],
            )
        if need[1]:  # each weight's gradient: its example's d[pre | direct] . its table row
            a_s = _csr(plan.crow, plan.bag_idx.reshape(-1), a_var.reshape(-1), (K * n, len(tab)))
            d_a_var = torch.sparse.sampled_addmm(a_s, flat, tab.t(), beta=0.0).values()
            d_a_var = d_a_var.view_as(a_var)
        return d_tab, d_a_var, d_bias, d_w_ou, None, None, None


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():  # "CSR support is in beta": the ops used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


class ScoreRangeError(ArithmeticError):
    """Attention scores too far apart for the engine's unnormalised weights (see :func:`tables`)."""


#: largest allowed gap, in nats, between a head's highest score and the log of its constant
#: positions' summed weight: keeps every weight and normaliser well inside the normal range
SCORE_RANGE = {torch.float32: 40.0, torch.float64: 500.0}


def stacked_logits(params: Mapping[str, torch.Tensor], plan: Plan) -> torch.Tensor:
    """Logits ``(K, n, C)`` of K stacked models (every parameter has a leading K axis).

    ``params`` maps :data:`PARAM_NAMES` to tensors shaped like the reference model's with a
    leading ``K``. Differentiable in every parameter.

    Raises:
        ScoreRangeError: see :func:`tables` (callers fall back to the reference model).
    """
    F, C = params["W_in"].shape[2], params["W_U"].shape[2]
    tab, a_var, bias, w_ou, spread = tables(params, plan)
    if float(spread) > SCORE_RANGE.get(tab.dtype, 40.0):
        raise ScoreRangeError(f"attention scores span {float(spread):.0f} nats")
    return _BagMlp.apply(tab, a_var, bias, w_ou, plan, F, C)


def tables(params: Mapping[str, torch.Tensor], plan: Plan) -> tuple[torch.Tensor, ...]:
    """Everything before the per-example work (see :class:`_Tables`), differentiable."""
    return _Tables.apply(plan, *(params[k] for k in PARAM_NAMES))


class _Tables(torch.autograd.Function):
    """Parameters (each with a leading K) -> tables and weights, with a hand-written backward.

    Unnormalised attention: with ``u_j = exp(S_j - m)`` (``m`` a per-head shift that cancels),
    ``sum_j a_j T_j = (u_x T_x + u_y T_y + c) / Z`` with ``c = sum_const u_j T_j`` and
    ``Z = u_x + u_y + sum_const u_j``. The constant ``c`` folds into the rows of the first
    varying position, so per example and head two rows share one weight ``1/Z`` and the
    constant positions cost nothing per example. ``u`` and ``c`` are applied to the values
    (``d_head`` wide) before the product with ``OVU = W_O [W_in | W_U | 0]``.

    Outputs: ``tab (K*H*Rv, Wt)`` (rows ``u T``, plus ``c`` on the first varying position's),
    ``a_var (K*n, H*Pv)`` (``1/Z``), ``bias (K, Wt) = [r0 W_in + b_in | (r0 + b_out) W_U | 0]``,
    ``w_ou (K, F, Wt - F) = W_out [W_U | 0]`` and ``spread``, the largest gap in nats between a
    head's highest score and the log of its constant positions' summed weight. ``m`` is the
    highest score, so no weight overflows; the constant positions bound every ``Z`` from below,
    and :func:`stacked_logits` refuses a ``spread`` beyond :data:`SCORE_RANGE`, which keeps that
    bound far from underflow. The backward is written out because autograd's graph of ~100
    small ops cost twice the FLOPs' time and barely used a second thread.
    """

    @staticmethod
    def forward(ctx, plan: Plan, W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, b_in, W_out, b_out, W_U):
        K, _, d = W_E.shape
        H, e = W_Q.shape[1], W_Q.shape[3]
        F, C = W_in.shape[2], W_U.shape[2]
        Wt, n, Pv, Rv, R0 = _width(F, C), plan.n, len(plan.var_pos), plan.n_rows, plan.first_rows
        E = W_E.index_select(1, plan.row_tok) + W_pos.index_select(1, plan.row_pos)  # (K, Rv, d)
        Ec = W_E.index_select(1, plan.const_tok) + W_pos.index_select(1, plan.const_pos_t)  # (K, Pc, d)
        r0 = Ec[:, -1]  # (K, d): the last position's own residual (its token is constant)
        q = (r0[:, None, None, :] @ W_Q)[:, :, 0]  # (K, H, e): one query per head
        kq = (W_K @ q[..., None])[..., 0] / math.sqrt(e)  # (K, H, d): W_K q / sqrt(e)
        S, Sc = kq @ E.transpose(1, 2), kq @ Ec.transpose(1, 2)  # (K, H, Rv), (K, H, Pc)
        m = torch.maximum(S.amax(dim=2), Sc.amax(dim=2))[..., None]  # (K, H, 1)
        u, uc = (S - m).exp_(), (Sc - m).exp_()
        zc = uc.sum(dim=2)  # (K, H): part of every example's normaliser
        spread = -zc.log().max()
        # (K*n, H): each example's normaliser; bag_idx indexes the (K, H, Rv) stack of u too
        z = u.reshape(-1)[plan.bag_idx].view(K * n, H, Pv).sum(dim=2) + zc.repeat_interleave(n, dim=0)
        w = z.reciprocal()
        a_var = w[..., None].expand(K * n, H, Pv).reshape(K * n, H * Pv)
        WinU = torch.cat([W_in, W_U, W_in.new_zeros(K, d, Wt - F - C)], dim=2)  # (K, d, Wt)
        OVU = (W_O.reshape(K, H * e, d) @ WinU).view(K, H, e, Wt)
        V, Vc = E[:, None] @ W_V, Ec[:, None] @ W_V  # (K, H, Rv, e), (K, H, Pc, e)
        vc = (uc[..., None] * Vc).sum(dim=2)  # (K, H, e)
        V2 = V * u[..., None]
        V2[:, :, :R0] += vc[:, :, None]  # the first varying position's rows carry c
        tab = V2 @ OVU  # (K, H, Rv, Wt)
        bias = torch.cat(
            [
                (r0[:, None] @ W_in)[:, 0] + b_in,
                ((r0 + b_out)[:, None] @ W_U)[:, 0],
                W_in.new_zeros(K, Wt - F - C),
            ],
            dim=1,
        )
        w_ou = W_out @ WinU[..., F:]  # (K, F, Wt - F)
        ctx.plan, ctx.sizes = plan, (W_E.shape[1], W_pos.shape[1])
        ctx.mark_non_differentiable(spread)
        ctx.save_for_backward(
            W_Q, W_K, W_V, W_O, W_in, W_out, b_out, W_U, E, Ec, q, kq, u, uc, w, V, Vc, V2, OVU, WinU
        )
        return tab.reshape(K * H * Rv, Wt), a_var, bias, w_ou, spread

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_tab, d_a, d_bias, d_w_ou, _):
        (W_Q, W_K, W_V, W_O, W_in, W_out, b_out, W_U, E, Ec, q, kq, u, uc, w, V, Vc, V2, OVU, WinU) = (
            ctx.saved_tensors
        )
        plan, (n_vocab, n_ctx) = ctx.plan, ctx.sizes
        K, H, Rv, e = V.shape
        d, F, C, Wt = E.shape[2], W_in.shape[2], W_U.shape[2], WinU.shape[2]
        n, Pv, R0 = plan.n, len(plan.var_pos), plan.first_rows
        r0 = Ec[:, -1]
        # weights 1/Z -> normalisers -> u (through the gather of z) and the constant part zc
        d_z = -d_a.view(K * n, H, Pv).sum(dim=2) * w * w  # (K*n, H)
        d_u = (
            u.new_zeros(K * H * Rv)
            .index_add_(0, plan.bag_idx.reshape(-1), d_z[..., None].expand(K * n, H, Pv).reshape(-1))
            .view(K, H, Rv)
        )
        d_uc = d_z.view(K, n, H).sum(dim=1)[..., None].expand(K, H, uc.shape[2]).clone()
        # tables -> (V2, OVU); V2 = u V (+ vc on the first rows)
        d_tab = d_tab.view(K, H, Rv, Wt)
        d_V2 = d_tab @ OVU.transpose(2, 3)  # (K, H, Rv, e)
        d_OVU = V2.transpose(2, 3) @ d_tab  # (K, H, e, Wt)
        d_u += (d_V2 * V).sum(dim=3)
        d_V = d_V2 * u[..., None]
        d_vc = d_V2[:, :, :R0].sum(dim=2)  # (K, H, e)
        d_uc += (Vc * d_vc[:, :, None]).sum(dim=3)
        d_Vc = uc[..., None] * d_vc[:, :, None]  # (K, H, Pc, e)
        # u = exp(S - m) (m cancels: no gradient); S = kq E^T
        d_S, d_Sc = d_u * u, d_uc * uc
        d_kq = (d_S @ E + d_Sc @ Ec) / math.sqrt(e)  # (K, H, d)
        d_E = d_S.transpose(1, 2) @ kq  # (K, Rv, d)
        d_Ec = d_Sc.transpose(1, 2) @ kq  # (K, Pc, d)
        d_W_K = d_kq[..., None] * q[:, :, None, :]  # (K, H, d, e)
        d_q = (d_kq[:, :, None, :] @ W_K)[:, :, 0]  # (K, H, e)
        d_W_Q = r0[:, None, :, None] * d_q[:, :, None, :]
        d_r0 = (W_Q @ d_q[..., None])[..., 0].sum(dim=1)  # (K, d)
        # V = E W_V[h]
        W_Vt = W_V.transpose(2, 3)  # (K, H, e, d)
        d_W_V = E[:, None].transpose(2, 3) @ d_V + Ec[:, None].transpose(2, 3) @ d_Vc  # (K, H, d, e)
        d_E += (d_V @ W_Vt).sum(dim=1)
        d_Ec += (d_Vc @ W_Vt).sum(dim=1)
        # OVU = W_O[h] WinU; w_ou = W_out WinU[:, F:]
        d_OVU = d_OVU.reshape(K, H * e, Wt)
        d_W_O = (d_OVU @ WinU.transpose(1, 2)).view(K, H, e, d)
        d_WinU = W_O.reshape(K, H * e, d).transpose(1, 2) @ d_OVU  # (K, d, Wt)
        d_WinU[..., F:] += W_out.transpose(1, 2) @ d_w_ou
        d_W_out = d_w_ou @ WinU[..., F:].transpose(1, 2)  # (K, F, d)
        # bias = [r0 W_in + b_in | (r0 + b_out) W_U | 0]
        d_pre, d_dir = d_bias[:, :F], d_bias[:, F : F + C]
        d_W_in = d_WinU[..., :F] + r0[:, :, None] * d_pre[:, None, :]
        d_W_U = d_WinU[..., F : F + C] + (r0 + b_out)[:, :, None] * d_dir[:, None, :]
        d_b_out = (W_U @ d_dir[..., None])[..., 0]  # (K, d)
        d_r0 += (W_in @ d_pre[..., None])[..., 0] + d_b_out
        d_Ec[:, -1] += d_r0
        # residual rows W_E[token] + W_pos[position]
        d_W_E = d_E.new_zeros(K, n_vocab, d).index_add_(1, plan.row_tok, d_E)
        d_W_E.index_add_(1, plan.const_tok, d_Ec)
        d_W_pos = d_E.new_zeros(K, n_ctx, d).index_add_(1, plan.row_pos, d_E)
        d_W_pos.index_add_(1, plan.const_pos_t, d_Ec)
        return (
            None,
            d_W_E,
            d_W_pos,
            d_W_Q,
            d_W_K,
            d_W_V,
            d_W_O,
            d_W_in,
            d_pre.clone(),
            d_W_out,
            d_b_out,
            d_W_U,
        )


def _width(F: int, C: int) -> int:
    return -(-(F + C) // ALIGN) * ALIGN
