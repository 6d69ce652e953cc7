"""A fast exact forward/backward for the Appendix A transformer: tables instead of sequences.

The reference model (:mod:`grokcheck.transformer.model`) runs all 4 positions of
``<x> <op> <y> <=>`` through attention, the MLP and the unembedding, then keeps the last
position. With one layer only the last position's output is read, and its query is the ``=``
token at the last position, the same for every example. So everything before the MLP is a
weighted sum of terms that each depend on one (token, position) pair. With
``E[t, j] = W_E[t] + W_pos[j]`` and ``r0 = E[=, 3]`` (the last position's own residual):

- the query ``q_h = r0 W_Q[h]`` is one vector per head and step;
- key position ``j`` scores ``S[t_j, j, h] = E[t_j, j] W_K[h] q_h / sqrt(d_head)``, and
  ``a[j, h] = softmax_j S``;
- the attention output at the last position is ``sum_{j,h} a[j,h] E[t_j, j] W_V[h] W_O[h]``.

Every linear map after attention folds into per-step tables. With the row
``T[t, j, h] = E[t, j] W_V[h] W_O[h] [W_in | W_U]`` (width ``d_mlp + n_classes``), the last
position's MLP pre-activation and direct-path logits are

    [pre | direct] = [r0 W_in + b_in | (r0 + b_out) W_U] + sum_{j,h} a[j,h] T[t_j, j, h]
    logits = relu(pre) (W_out W_U) + direct

which is the reference's ``(resid + relu(resid W_in + b_in) W_out + b_out) W_U`` at the last
position with the linear maps reassociated. The softmax is applied unnormalised
(:func:`tables`): ``a[j, h] = u[t_j, j, h] / Z[h]`` with ``u = exp(S - max S)`` a function of
one (token, position), so the constant positions (``op``, ``=``) fold into the rows of ``x``
and each example needs, per head, two table rows (``x``, ``y``) sharing one weight ``1 / Z``:
a weighted gather (``F.embedding_bag``) of 8 rows of width 640, then one 512 x 128 product,
instead of 4 positions through every layer: 1.8 GFLOP per p = 113 training step, not 19.5.
The backward of the gather (:class:`_BagMlp`) is itself a gather plus a sampled dense product
over a sparsity pattern fixed for the run (:class:`Plan`).

Exactness: the same function and gradients as the reference up to floating-point
reassociation (tests: < 1e-10 relative in float64, ~1e-15 typical). The engine applies when
the last token is the same in every row (true for every task); :func:`exact_reason` says why
not otherwise, and :func:`make_forward` then falls back to the model.

Everything is written for a stack of K models (leading axis K), so :mod:`.ensemble` reuses it;
a single model is K = 1. Shapes: K models, n examples per model, T positions (Pv varying, Pc
constant), Rv table rows (varying (token, position) pairs that occur), H heads, d = d_model,
e = d_head, F = d_mlp, C = n_classes, Wt = F + C rounded up to a multiple of 16.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from grokcheck.errors import InputError

#: parameter names of the reference model, in its order
PARAM_NAMES = ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "b_in", "W_out", "b_out", "W_U")
#: table widths are padded to a multiple of this many elements (unaligned widths made
#: ``embedding_bag`` ~2x slower, MEASUREMENTS.md)
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
        score_idx: ``(K * n * Pv,)`` row of the ``(K * Rv, H)`` score stack of each varying
            position of each example.
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
    score_idx: torch.Tensor
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
        score_idx=(model_of[:, :, 0] * Rv + row_of).reshape(-1),
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
        out = Fn.embedding_bag(plan.bag_idx, tab, per_sample_weights=a_var, mode="sum")
        out = out.view(K, n, -1)  # (K, n, Wt)
        out += bias[:, None]
        out.view(K * n, -1)[:, :F].clamp_(min=0)  # relu in place (2-D view: the fast kernel)
        hidden, direct = out[..., :F], out[..., F:]  # (K, n, F), (K, n, Wt - F); row stride Wt
        # the product is Wt - F (a multiple of 16) wide, not C: aligned widths run faster
        if K == 1:
            logits = torch.addmm(direct[0], hidden[0], w_ou[0]).unsqueeze(0)
        else:
            logits = torch.baddbmm(direct, hidden, w_ou)  # (K, n, Wt - F)
        ctx.save_for_backward(tab, a_var, w_ou, out)
        ctx.plan, ctx.F, ctx.C = plan, F, C
        return logits[..., :C]

    @staticmethod
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
    """Everything before the per-example work, differentiable by autograd.

    Unnormalised attention: with ``u_j = exp(S_j - m)`` (``m`` a per-head shift that cancels),
    ``sum_j a_j T_j = (u_x T_x + u_y T_y + c) / Z`` with ``c = sum_const u_j T_j`` and
    ``Z = u_x + u_y + sum_const u_j``. The constant ``c`` folds into the rows of the first
    varying position, so per example and head two rows share one weight ``1/Z`` and the
    constant positions cost nothing per example.

    Returns ``tab (K*H*Rv, Wt)`` (rows ``u T``, plus ``c`` on the first varying position's),
    ``a_var (K*n, H*Pv)`` (``1/Z``), ``bias (K, Wt) = [r0 W_in + b_in | (r0 + b_out) W_U | 0]``,
    ``w_ou (K, F, Wt - F) = W_out [W_U | 0]`` and ``spread``, the largest gap in nats between a
    head's highest score and the log of its constant positions' summed weight. ``m`` is the
    highest score, so no weight overflows; the constant positions bound every ``Z`` from below,
    and :func:`stacked_logits` refuses a ``spread`` beyond :data:`SCORE_RANGE`, which keeps that
    bound far from underflow.
    """
    W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, b_in, W_out, b_out, W_U = (params[k] for k in PARAM_NAMES)
    K, _, d = W_E.shape
    H, e = W_Q.shape[1], W_Q.shape[3]
    F, C = W_in.shape[2], W_U.shape[2]
    Wt = -(-(F + C) // ALIGN) * ALIGN
    Pv, Rv, n = len(plan.var_pos), plan.n_rows, plan.n

    # Residual stream rows, one per (token, position) pair that occurs
    # index_select, not [], for the gathers: its backward is index_add, not a sorting index_put
    E_var = W_E.index_select(1, plan.row_tok) + W_pos.index_select(1, plan.row_pos)  # (K, Rv, d)
    E_c = W_E[:, plan.const_tok] + W_pos[:, list(plan.const_pos)]  # (K, Pc, d)
    r0 = E_c[:, -1]  # (K, d): the last position's own residual (its token is constant)

    # Attention: the query is the same for every example, so fold it into W_K
    q = torch.einsum("kd,khde->khe", r0, W_Q)  # (K, H, e)
    kq = torch.einsum("khde,khe->khd", W_K, q) / math.sqrt(e)  # (K, H, d)
    S_var = torch.einsum("krd,khd->krh", E_var, kq)  # (K, Rv, H)
    S_c = torch.einsum("kcd,khd->kch", E_c, kq)  # (K, Pc, H)
    m = torch.maximum(S_var.amax(dim=1), S_c.amax(dim=1)).detach()  # (K, H)
    u_var, u_c = (S_var - m[:, None]).exp(), (S_c - m[:, None]).exp()
    z_c = u_c.sum(dim=1)  # (K, H): part of every example's normaliser
    spread = -z_c.detach().log().max()  # checked by the caller (no graph break here)
    z = u_var.reshape(K * Rv, H).index_select(0, plan.score_idx).view(K * n, Pv, H).sum(dim=1)
    z = z + z_c.repeat_interleave(n, dim=0)  # (K*n, H)
    a_var = z.reciprocal()[:, :, None].expand(K * n, H, Pv).reshape(K * n, H * Pv)

    # Tables: OV circuit followed by [W_in | W_U], one row of width Wt per (row, head). The
    # weights u and the constant c are applied to the d_head-wide values before the product
    # with OVU, not to the 640-wide table (broadcast products over the table were slow).
    WinU = torch.cat([W_in, W_U, W_in.new_zeros(K, d, Wt - F - C)], dim=2)  # (K, d, Wt)
    OVU = torch.einsum("khed,kdw->khew", W_O, WinU)  # (K, H, e, Wt)
    V = torch.einsum("krd,khde->khre", E_var, W_V)  # (K, H, Rv, e)
    v_c = torch.einsum("kch,kcd,khde->khe", u_c, E_c, W_V)  # (K, H, e): sum_c u_c E_c W_V
    first = (plan.row_pos == plan.var_pos[0]).to(V.dtype)[:, None]  # (Rv, 1): rows carrying c
    V = V * u_var.transpose(1, 2)[..., None] + first * v_c[:, :, None]
    tab = V @ OVU  # (K, H, Rv, Wt)
    bias = torch.cat(
        [
            torch.einsum("kd,kdf->kf", r0, W_in) + b_in,
            torch.einsum("kd,kdc->kc", r0 + b_out, W_U),
            W_in.new_zeros(K, Wt - F - C),
        ],
        dim=1,
    )
    w_ou = W_out @ WinU[..., F:]  # (K, F, Wt - F): W_out W_U and zero columns
    return tab.reshape(K * H * Rv, Wt), a_var, bias, w_ou, spread


# --- one model: a drop-in logits function ----------------------------------------------------


class FastForward:
    """``tokens (n, T) -> logits (n, C)`` for one :class:`~.model.Transformer`, via tables.

    Reads the model's parameters at every call (so an optimizer stepping ``model.parameters()``
    trains through it, with the same parameters and optimizer state as the reference) and
    falls back to ``model(tokens)`` for token sets where the engine is not exact. Plans are
    cached per token tensor: the training loop passes the same train and test tensors (or the
    same slices of them) at every step.

    Args:
        model: the reference model; its ``cfg`` gives the head count and context length.
        max_plans: how many token sets to remember.
    """

    def __init__(self, model: torch.nn.Module, *, max_plans: int = 8) -> None:
        self.model = model
        self.max_plans = max_plans
        self._plans: OrderedDict[tuple, tuple[torch.Tensor, Plan | None]] = OrderedDict()

    def plan(self, tokens: torch.Tensor) -> Plan | None:
        """The cached :class:`Plan` for ``tokens``, or ``None`` where the engine is not exact."""
        # The cache holds a reference to ``tokens``, so its storage cannot be freed and reused
        # by another tensor while the entry lives; ``_version`` changes on in-place writes.
        key = (
            tokens.data_ptr(),
            tokens.storage_offset(),
            tuple(tokens.shape),
            tokens.stride(),
            tokens.device,
            tokens.dtype,
            tokens._version,
        )
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            return hit[1]
        cfg = self.model.cfg
        ok = tokens.dim() == 2 and exact_reason(tokens, cfg.n_ctx) is None
        plan = make_plan(tokens, cfg.n_heads) if ok else None
        self._plans[key] = (tokens, plan)
        if len(self._plans) > self.max_plans:
            self._plans.popitem(last=False)
        return plan

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        plan = self.plan(tokens)
        if plan is None:
            return self.model(tokens)
        params = {k: getattr(self.model, k).unsqueeze(0) for k in PARAM_NAMES}
        try:
            return stacked_logits(params, plan)[0]
        except ScoreRangeError:
            return self.model(tokens)


def supports(model: torch.nn.Module) -> bool:
    """Whether ``model`` is the reference transformer (the engine reads its parameters by name)."""
    from grokcheck.transformer.model import Transformer

    return type(model) is Transformer


def make_forward(model: torch.nn.Module, engine: str = "auto") -> Callable[[torch.Tensor], torch.Tensor]:
    """The logits function a training loop calls: ``tokens (n, T) -> logits (n, C)``.

    ``engine``: ``"auto"`` uses :class:`FastForward` for the reference transformer (it falls
    back to the model itself for any token set where it is not exact); ``"reference"`` is the
    model. On CPU, ``"auto"`` also applies :func:`tune_malloc`.

    Raises:
        InputError: an unknown ``engine``.
    """
    if engine == "reference":
        return model
    if engine != "auto":
        raise InputError("engine", f"must be auto or reference, got {engine!r}")
    if not supports(model):
        return model
    if next(model.parameters()).device.type == "cpu":
        tune_malloc()
    return FastForward(model)


@contextlib.contextmanager
def matmul_precision(*, tf32: bool = False) -> Iterator[None]:
    """Run the block with TF32 matmuls off (the default, for fidelity) or on (opt-in).

    TF32 rounds matmul inputs to 10 mantissa bits on NVIDIA GPUs since Ampere; it has no effect
    on CPU. The previous setting is restored on exit.
    """
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(tf32)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


# --- allocator -------------------------------------------------------------------------------

#: glibc ``mallopt`` settings close to MEASUREMENTS.md's GLIBC_TUNABLES (mmap_threshold=32 MiB,
#: trim_threshold=4 GiB, top_pad=256 MiB; mallopt takes an int, so the trim threshold is 2 GiB).
#: Keys: M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2 (glibc's malloc.h).
_MALLOPT = {-3: 32 * 2**20, -1: 2**31 - 1, -2: 256 * 2**20}
_malloc_tuned: bool | None = None


def tune_malloc() -> bool:
    """Keep freed memory in glibc's heap so each step's buffers reuse already-mapped pages.

    With glibc's defaults every step's multi-megabyte buffers are returned to the OS and
    page-faulted back in (MEASUREMENTS.md: ~5000 faults and 8-11 ms of system time per step).
    ``mallopt`` sets at run time what the ``GLIBC_TUNABLES`` environment variable sets at start,
    so no re-exec is needed. It changes only the allocator's speed and the process's resident
    memory (freed memory is kept for reuse instead of being returned), never a result.
    Process-wide and idempotent; returns whether it applied (false where libc is not glibc).
    """
    global _malloc_tuned
    if _malloc_tuned is None:
        _malloc_tuned = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        _malloc_tuned = all(mallopt(k, v) == 1 for k, v in _MALLOPT.items())
    return _malloc_tuned
