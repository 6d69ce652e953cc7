"""The engine's core: per-step tables and the per-example gather (see :mod:`.engine`).

Everything here is written for a stack of K models (leading axis K), so :mod:`.ensemble`
reuses it; a single model is K = 1. Shapes: K models, R examples of all models together
(:class:`~.plans.Plan`), Pv varying and Pc constant positions, Rv table rows (varying
(token, position) pairs that occur), H heads, d = d_model, e = d_head, F = d_mlp,
C = n_classes, Wt = F + C rounded up to a multiple of 16. The formulation and its exactness
are described in :mod:`grokcheck.transformer.model.engine`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import torch
import torch.nn.functional as Fn

from grokcheck.transformer.model.plans import Plan

#: parameter names of the reference model, in its order
PARAM_NAMES = ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "b_in", "W_out", "b_out", "W_U")
#: table widths are padded to a multiple of this many elements (unaligned widths made
#: ``embedding_bag`` ~2x slower, measured on a 2-core CPU)
ALIGN = 16


# --- the per-example work --------------------------------------------------------------------


class _BagMlp(torch.autograd.Function):
    """``logits = relu(pre) W_ou + direct`` with ``[pre | direct] = gather + bias``, by hand.

    Autograd's own backward for ``embedding_bag`` sorts the indices every step and was ~3x
    slower than this one: the table's gradient is itself a weighted gather (one bag of
    examples per table row, the fixed transposed pattern of :class:`Plan`), the weights' a
    sampled dense product. Writing the backward here also applies ReLU in place and never
    materialises a zero-filled gradient of a sliced buffer. The rows of all models lie end to
    end (no padding); the per-model products run as one batched product per run of models with
    equally many examples (:attr:`Plan.runs`).
    """

    @staticmethod
    def forward(ctx, tab, a_var, bias, w_ou, plan: Plan, F: int, C: int):
        # tab (K*H*Rv, Wt), a_var (R, H*Pv), bias (K, Wt),
        # w_ou (K, F, Wt - F): W_out W_U with zero columns up to the table width
        # detached inputs: embedding_bag picks its slower training kernel for inputs that require grad
        out = Fn.embedding_bag(plan.bag_idx, tab.detach(), per_sample_weights=a_var.detach(), mode="sum")
        R, Wt = out.shape  # (R, Wt) = [pre | direct] before the bias
        # the product is Wt - F (a multiple of 16) wide, not C: aligned widths run faster
        logits = out.new_empty(R, Wt - F)  # (R, Wt - F)
        for k0, k1, r0, m in plan.runs:
            rows = out[r0 : r0 + (k1 - k0) * m]
            rows.view(k1 - k0, m, Wt).add_(bias[k0:k1, None])
            rows[:, :F].clamp_(min=0)  # relu in place (2-D view: the fast kernel)
            _bmm(_runs_of(rows[:, :F], k1 - k0), w_ou[k0:k1], _runs_of(logits[r0 : r0 + len(rows)], k1 - k0))
        # product, then add: measured faster than addmm/baddbmm with the strided ``direct``
        logits.add_(out[:, F:])
        ctx.save_for_backward(tab, a_var, w_ou, out)
        ctx.plan, ctx.F, ctx.C = plan, F, C
        logits = logits[:, :C]
        return logits.view(plan.K, plan.n, C) if plan.stacked else logits

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dlogits):
        tab, a_var, w_ou, out = ctx.saved_tensors
        plan, F, C = ctx.plan, ctx.F, ctx.C
        R, Wt = out.shape
        need = ctx.needs_input_grad
        dlogits = dlogits.reshape(R, C)
        # d[pre | direct]: d direct is d logits zero-padded to Wt - F columns; copies through
        # 2-D views (strided 3-D copies took a slow path)
        dout = torch.empty_like(out)
        dout[:, F : F + C] = dlogits
        dout[:, F + C :].zero_()
        d_w_ou = torch.empty_like(w_ou) if need[3] else None
        for k0, k1, r0, m in plan.runs:
            kr, r1 = k1 - k0, r0 + (k1 - k0) * m
            if need[3]:
                hidden = _runs_of(out[r0:r1, :F], kr).transpose(1, 2)
                _bmm(hidden, _runs_of(dout[r0:r1, F:], kr), d_w_ou[k0:k1])
            # measured: d hidden is faster contracting over C (113) than over the padded 128, the
            # weight gradient faster at 128
            dh = _runs_of(dout[r0:r1, :F], kr)
            _bmm(_runs_of(dlogits[r0:r1], kr), w_ou[k0:k1, :, :C].transpose(1, 2), dh)
        # relu'(pre) = [pre > 0] as in autograd; 2-D strided views take the fast kernel
        dh, h = dout[:, :F], out[:, :F]
        torch.ops.aten.threshold_backward.grad_input(dh, h, 0.0, grad_input=dh)
        d_bias = plan.sum_per_model(dout) if need[2] else None  # (K, Wt)
        d_tab = d_a_var = None
        if need[0]:  # one bag of weighted dout rows per table row
            d_tab = Fn.embedding_bag(
                plan.t_col,
                dout,
                plan.t_crow[:-1],
                mode="sum",
                per_sample_weights=a_var.reshape(-1)[plan.t_order],
            )
        if need[1]:  # each weight's gradient: its example's d[pre | direct] . its table row
            a_s = _csr(plan.crow, plan.bag_idx.reshape(-1), a_var.reshape(-1), (R, len(tab)))
            d_a_var = torch.sparse.sampled_addmm(a_s, dout, tab.t(), beta=0.0).values()
            d_a_var = d_a_var.view_as(a_var)
        return d_tab, d_a_var, d_bias, d_w_ou, None, None, None


def _runs_of(rows: torch.Tensor, kr: int) -> torch.Tensor:
    """``(kr * m, w)`` rows of ``kr`` models with ``m`` examples each -> ``(kr, m, w)``."""
    return rows.unflatten(0, (kr, -1))


def _bmm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    """``out = a @ b`` per model; one model takes ``mm`` (measured faster than a batch of 1)."""
    if a.shape[0] == 1:
        torch.mm(a[0], b[0], out=out[0])
    else:
        torch.bmm(a, b, out=out)


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
    ``a_var (R, H*Pv)`` (``1/Z``), ``bias (K, Wt) = [r0 W_in + b_in | (r0 + b_out) W_U | 0]``,
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
        Wt, R, Pv, Rv, R0 = _width(F, C), plan.rows, len(plan.var_pos), plan.n_rows, plan.first_rows
        res_tok = torch.cat([plan.row_tok, plan.const_tok])
        res_pos = torch.cat([plan.row_pos, plan.const_pos_t])
        # residual rows W_E[t] + W_pos[j]: the Rv varying ones, then the Pc constant ones
        Ea = W_E.index_select(1, res_tok) + W_pos.index_select(1, res_pos)  # (K, Rv + Pc, d)
        r0 = Ea[:, -1]  # (K, d): the last position's own residual (its token is constant)
        q = (r0[:, None, None, :] @ W_Q)[:, :, 0]  # (K, H, e): one query per head
        # row vector times a transposed matrix: measured ~5x faster than matrix times a column
        kq = (q[:, :, None, :] @ W_K.transpose(2, 3))[:, :, 0] / math.sqrt(e)  # (K, H, d): W_K q / sqrt(e)
        S = kq @ Ea.transpose(1, 2)  # (K, H, Rv + Pc)
        ua = (S - S.amax(dim=2, keepdim=True)).exp_()
        u, uc = ua[..., :Rv].contiguous(), ua[..., Rv:]  # (K, H, Rv), (K, H, Pc)
        zc = uc.sum(dim=2)  # (K, H): part of every example's normaliser
        spread = -zc.log().max()
        # (R, H): each example's normaliser; bag_idx indexes the (K, H, Rv) stack of u too
        z = u.view(-1)[plan.bag_idx].view(R, H, Pv).sum(dim=2) + zc.index_select(0, plan.model_of)
        w = z.reciprocal()
        a_var = w[..., None].expand(R, H, Pv).reshape(R, H * Pv)
        # values of every residual row, all heads in one product: (K, Rv + Pc, H, e)
        Wv = W_V.permute(0, 2, 1, 3).reshape(K, d, H * e)
        VA = torch.bmm(Ea, Wv).view(K, -1, H, e)
        V, Vc = VA[:, :Rv].permute(0, 2, 1, 3), VA[:, Rv:].permute(0, 2, 1, 3)  # (K, H, Rv | Pc, e)
        vc = (uc[..., None] * Vc).sum(dim=2)  # (K, H, e)
        V2 = torch.mul(V, u[..., None], out=VA.new_empty(K, H, Rv, e))
        V2[:, :, :R0] += vc[:, :, None]  # the first varying position's rows carry c
        WinU = torch.cat([W_in, W_U, W_in.new_zeros(K, d, Wt - F - C)], dim=2)  # (K, d, Wt)
        Wo = W_O.reshape(K, H * e, d)
        OVU = torch.bmm(Wo, WinU)  # (K, H e, Wt)
        tab = torch.bmm(V2.view(K * H, Rv, e), OVU.view(K * H, e, Wt))  # (K H, Rv, Wt)
        bias = torch.cat(
            [
                torch.baddbmm(b_in[:, None], r0[:, None], W_in)[:, 0],
                ((r0 + b_out)[:, None] @ W_U)[:, 0],
                W_in.new_zeros(K, Wt - F - C),
            ],
            dim=1,
        )
        w_ou = W_out @ WinU[..., F:]  # (K, F, Wt - F)
        ctx.plan, ctx.sizes, ctx.res = plan, (W_E.shape[1], W_pos.shape[1]), (res_tok, res_pos)
        ctx.mark_non_differentiable(spread)
        ctx.save_for_backward(
            W_Q, W_K, Wv, Wo, W_in, W_out, b_out, W_U, Ea, q, kq, ua, u, w, VA, V2, OVU, WinU
        )
        return tab.view(K * H * Rv, Wt), a_var, bias, w_ou, spread

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_tab, d_a, d_bias, d_w_ou, _):
        W_Q, W_K, Wv, Wo, W_in, W_out, b_out, W_U, Ea, q, kq, ua, u, w, VA, V2, OVU, WinU = ctx.saved_tensors
        plan, (n_vocab, n_ctx), (res_tok, res_pos) = ctx.plan, ctx.sizes, ctx.res
        K, H, Rv, e = V2.shape
        d, F, C, Wt = Ea.shape[2], W_in.shape[2], W_U.shape[2], WinU.shape[2]
        R, Pv, R0, Pc = plan.rows, len(plan.var_pos), plan.first_rows, ua.shape[2] - Rv
        r0, uc = Ea[:, -1], ua[..., Rv:]
        # weights 1/Z -> normalisers -> u (through the gather of z) and the constant part zc
        d_z = -d_a.view(R, H, Pv).sum(dim=2) * w * w  # (R, H)
        d_u = (
            u.new_zeros(K * H * Rv)
            .index_add_(0, plan.bag_idx.reshape(-1), d_z[..., None].expand(R, H, Pv).reshape(-1))
            .view(K, H, Rv)
        )
        d_uc = plan.sum_per_model(d_z)[..., None].expand(K, H, Pc).clone()
        # tables -> (V2, OVU); V2 = u V (+ vc on the first rows)
        d_tab = d_tab.view(K * H, Rv, Wt)
        d_V2 = torch.bmm(d_tab, OVU.view(K * H, e, Wt).transpose(1, 2)).view(K, H, Rv, e)
        d_OVU = torch.bmm(V2.view(K * H, Rv, e).transpose(1, 2), d_tab).view(K, H * e, Wt)
        V, Vc = VA[:, :Rv].permute(0, 2, 1, 3), VA[:, Rv:].permute(0, 2, 1, 3)
        d_u += (d_V2 * V).sum(dim=3)
        d_vc = d_V2[:, :, :R0].sum(dim=2)  # (K, H, e)
        d_uc += (Vc * d_vc[:, :, None]).sum(dim=3)
        d_VA = torch.empty_like(VA)  # (K, Rv + Pc, H, e)
        torch.mul(d_V2, u[..., None], out=d_VA[:, :Rv].permute(0, 2, 1, 3))
        torch.mul(uc[..., None], d_vc[:, :, None], out=d_VA[:, Rv:].permute(0, 2, 1, 3))
        d_VA = d_VA.view(K, Rv + Pc, H * e)
        # u = exp(S - m) (m cancels: no gradient); S = kq Ea^T
        d_S = torch.cat([d_u, d_uc], dim=2).mul_(ua)  # (K, H, Rv + Pc)
        d_kq = (d_S @ Ea) / math.sqrt(e)  # (K, H, d)
        d_Ea = torch.bmm(d_S.transpose(1, 2), kq).baddbmm_(d_VA, Wv.transpose(1, 2))  # (K, Rv + Pc, d)
        d_W_V = torch.bmm(Ea.transpose(1, 2), d_VA).view(K, d, H, e).permute(0, 2, 1, 3).contiguous()
        d_W_K = d_kq[..., None] * q[:, :, None, :]  # (K, H, d, e)
        d_q = (d_kq[:, :, None, :] @ W_K)[:, :, 0]  # (K, H, e)
        d_W_Q = r0[:, None, :, None] * d_q[:, :, None, :]
        d_r0 = (d_q[:, :, None, :] @ W_Q.transpose(2, 3))[:, :, 0].sum(dim=1)  # (K, d)
        # OVU = W_O[h] WinU; w_ou = W_out WinU[:, F:]; bias = [r0 W_in + b_in | (r0 + b_out) W_U | 0]
        d_pre, d_dir = d_bias[:, :F], d_bias[:, F : F + C]
        d_W_O = torch.bmm(d_OVU, WinU.transpose(1, 2)).view(K, H, e, d)
        Wo_t = Wo.transpose(1, 2)
        d_W_in = torch.mul(r0[:, :, None], d_pre[:, None, :]).baddbmm_(Wo_t, d_OVU[..., :F])
        # W_U's gradient Wt - F wide (the zero columns' gradients are dropped): products with
        # an aligned width measured ~2x faster
        d_W_U = torch.mul((r0 + b_out)[:, :, None], d_bias[:, None, F:]).baddbmm_(Wo_t, d_OVU[..., F:])
        d_W_U = d_W_U.baddbmm_(W_out.transpose(1, 2), d_w_ou)[..., :C].contiguous()
        d_W_out = torch.bmm(d_w_ou[..., :C], W_U.transpose(1, 2))  # (K, F, d)
        d_b_out = (d_dir[:, None, :] @ W_U.transpose(1, 2))[:, 0]  # (K, d)
        d_r0 += (d_pre[:, None, :] @ W_in.transpose(1, 2))[:, 0] + d_b_out
        d_Ea[:, -1] += d_r0
        # residual rows W_E[token] + W_pos[position]
        d_W_E = d_Ea.new_zeros(K, n_vocab, d).index_add_(1, res_tok, d_Ea)
        d_W_pos = d_Ea.new_zeros(K, n_ctx, d).index_add_(1, res_pos, d_Ea)
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
