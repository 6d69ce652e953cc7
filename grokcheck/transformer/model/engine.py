"""A fast exact forward/backward for the Appendix A transformer: tables instead of sequences.

The reference model (:mod:`grokcheck.transformer.model.model`) runs all 4 positions of
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

The core lives in :mod:`.plans` (what depends only on the tokens) and :mod:`.tables` (the
tables, the gather and their hand-written backward passes) and is re-exported here; this
module adds the single-model drop-in (:class:`FastForward`, :func:`make_forward`) and the
TF32 switch (:func:`matmul_precision`); the allocator tuning is
:func:`grokcheck.transformer.model.runtime.tune_malloc`. Everything is written for a
stack of K models (leading axis K), each with its own examples (any number each, laid end to
end), so :mod:`.ensemble` reuses it; a single model is K = 1. Shapes: K models, n examples per
model, T positions (Pv varying, Pc constant), Rv table rows (varying (token, position) pairs
that occur), H heads, d = d_model, e = d_head, F = d_mlp, C = n_classes, Wt = F + C rounded up
to a multiple of 16.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator

import torch

from grokcheck.errors import InputError
from grokcheck.transformer.model.plans import Plan, exact_reason, make_plan  # noqa: F401  (re-exported)
from grokcheck.transformer.model.tables import (  # noqa: F401  (re-exported: the engine's public names)
    ALIGN,
    PARAM_NAMES,
    SCORE_RANGE,
    ScoreRangeError,
    _BagMlp,
    _Tables,
    stacked_logits,
    tables,
)

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
    from grokcheck.transformer.model.model import Transformer

    return type(model) is Transformer


def make_forward(model: torch.nn.Module, engine: str = "auto") -> Callable[[torch.Tensor], torch.Tensor]:
    """The logits function a training loop calls: ``tokens (n, T) -> logits (n, C)``.

    ``engine``: ``"auto"`` uses :class:`FastForward` for the reference transformer (it falls
    back to the model itself for any token set where it is not exact); ``"reference"`` is the
    model. Process-wide allocator tuning
    (:func:`~grokcheck.transformer.model.runtime.tune_malloc`) is done by
    :func:`grokcheck.transformer.model.runtime.configure`, not here.

    Raises:
        InputError: an unknown ``engine``.
    """
    if engine == "reference":
        return model
    if engine != "auto":
        raise InputError("engine", f"must be auto or reference, got {engine!r}")
    if not supports(model):
        return model
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
