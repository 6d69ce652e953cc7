"""Batched ensembles: K transformers with stacked parameters trained in one process.

Each member has its own initialisation seed, train subset (of any size), learning rate and
weight decay; all share the task, AdamW's betas and eps, and the loss and parameter dtypes.
Parameters are stacked along a leading K axis and every step is one batched forward and
backward through :func:`grokcheck.transformer.model.engine.stacked_logits` plus one AdamW update on
the stacks (:class:`StackedAdamW`), so K members cost one process and one device.

The members' subsets, of any sizes, lie end to end without padding (the engine's products run
batched over each run of members with equally many examples); each member's loss is the mean
over its own examples, so member k's gradient is exactly that of a separate run on its subset
(the test suite checks K-batched training against K separate reference runs in float64).

This is what the ungrokking sweeps (dataset sizes x weight decays x seeds, Figure 7) run on:
``init`` starts every member from one pretrained state instead of its own seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grokcheck.errors import InputError, RunError
from grokcheck.transformer.model import engine, tasks
from grokcheck.transformer.analysis import loss_precision
from grokcheck.transformer.training.ensemble_config import EnsembleConfig, Member, train_size_of
from grokcheck.transformer.training.loop import evaluation_row
from grokcheck.transformer.training.metrics import Row
from grokcheck.transformer.model.model import ModelConfig, make_model
from grokcheck.transformer.training.optim import StackedAdamW, load_member_states, member_state, select_members
from grokcheck.transformer.model.runtime import LOSS_DTYPES, PARAM_DTYPES

__all__ = ["Ensemble", "EnsembleConfig", "Init", "Member", "stack_states", "train_size_of"]

#: rows (models x examples) per evaluation chunk: bounds the (rows, d_mlp + n_classes) buffer
EVAL_ROWS = 1 << 17
#: train examples per training group on CPU (8 members at p = 113, 30%; see :class:`Ensemble`)
CPU_GROUP_ROWS = 1 << 15


def stack_states(
    states: Sequence[Mapping[str, torch.Tensor]],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Stack K model state dicts into leaf tensors ``(K, ...)`` that require grad."""
    return {
        k: torch.stack([s[k] for s in states]).to(device=device, dtype=dtype).requires_grad_()
        for k in engine.PARAM_NAMES
    }


#: where each member starts: one state for all, one entry per member (a state, or ``None`` for
#: the member's own seed), or ``None`` (every member from its own seed)
Init = Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor] | None] | None


@dataclass(eq=False)
class _Group:
    """Members trained in one batched pass: stacked leaves, their optimizer, their data."""

    members: list[int]  # indices into the config's members
    params: dict[str, torch.Tensor]  # (Kg, ...) leaves
    opt: StackedAdamW
    idx: list[torch.Tensor]  # each member's train example ids
    plan: engine.Plan  # the members' train examples end to end: R rows
    labels: torch.Tensor  # (R,)
    loss_weight: torch.Tensor  # (R,) float64: 1/n_k on member k's rows


class Ensemble:
    """K members on one device: stacked parameters, train subsets end to end, AdamW state.

    A :class:`~grokcheck.transformer.training.loop.Stepper`: :func:`grokcheck.transformer.training.loop.run_loop`
    trains it. Members are trained in groups of at most ``max_rows`` train examples (members
    of similar subset size share a group). On CPU one group of K = 64 at p = 113 was 1.5x
    slower per model than groups of 8: its buffers exceed glibc's largest mmap threshold
    (32 MiB) and are page-faulted in at every step. On CUDA all members form one group by
    default. :meth:`retire` removes a member from its group (its state stays readable), so a
    converged member stops costing compute; every member's arithmetic is its own, so the
    others' trajectories do not change.

    Args:
        cfg: the run's configuration.
        device: where to train (``"cpu"``, ``"cuda"`` or a ``torch.device``).
        init: where members start (:data:`Init`): e.g. a list of each seed's pretrained
            network for ungrokking (Appendix A.2), or ``None`` for their own seeds.
        max_rows: group size bound in train examples; ``None``: :data:`CPU_GROUP_ROWS` on
            CPU, unbounded elsewhere.
        circuits: if given, called per member at each evaluation to add circuit fields.
    """

    def __init__(
        self,
        cfg: EnsembleConfig,
        *,
        device: torch.device | str = "cpu",
        init: Init = None,
        max_rows: int | None = None,
        circuits: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, Any]] | None = None,
    ) -> None:
        self.cfg, self.device, self.circuits = cfg, torch.device(device), circuits
        ds = self.dataset = tasks.make_dataset(cfg.task, cfg.p)
        self.model_cfg = ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes)
        K, N = len(cfg.members), len(ds)
        splits = [tasks.split(ds, train_size=train_size_of(m, N), seed=m.split_seed) for m in cfg.members]
        self.sizes = [len(s.train_idx) for s in splits]
        self.train_sizes = self.sizes
        self.in_train = torch.zeros(K, N, dtype=torch.bool)  # (K, N): each member's train set
        self.scored = ds.labels.expand(K, N).clone()  # (K, N): the label each example is scored on
        for k, (m, s) in enumerate(zip(cfg.members, splits, strict=True)):
            self.in_train[k, s.train_idx] = True
            if m.random_labels:
                self.scored[k, s.train_idx] = tasks.random_labels(
                    len(s.train_idx), ds.n_classes, m.split_seed
                )
        starts = _starts(init, K)
        if max_rows is None:
            max_rows = CPU_GROUP_ROWS if self.device.type == "cpu" else 2**62
        self.groups: list[_Group] = []
        self.retired: dict[int, tuple[dict[str, torch.Tensor], dict[str, Any]]] = {}
        # largest first: members of one size are adjacent (one batched product per size)
        order = sorted(range(K), key=lambda k: -self.sizes[k])
        while order:
            rows, take = self.sizes[order[0]], 1
            while take < len(order) and rows + self.sizes[order[take]] <= max_rows:
                rows, take = rows + self.sizes[order[take]], take + 1
            members, order = order[:take], order[take:]
            self.groups.append(self._group(members, [splits[k] for k in members], starts))
        self.steps_done = 0
        self._eval_plans: dict[tuple[int, int, int], engine.Plan] = {}

    def _group(self, members: list[int], splits: list[tasks.Split], starts: list[Any]) -> _Group:
        cfg, dev = self.cfg, self.device
        states = [
            starts[k]
            if starts[k] is not None
            else make_model(self.model_cfg, seed=cfg.members[k].seed, dtype=torch.float64).state_dict()
            for k in members
        ]
        params = stack_states(states, device=dev, dtype=PARAM_DTYPES[cfg.param_dtype])
        opt = StackedAdamW(
            params,
            [cfg.members[k].lr for k in members],
            [cfg.members[k].weight_decay for k in members],
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.eps,
        )
        return self._with_data(members, params, opt, [s.train_idx for s in splits])

    def _with_data(
        self, members: list[int], params: dict[str, torch.Tensor], opt: StackedAdamW, idx: list[torch.Tensor]
    ) -> _Group:
        dev, sizes = self.device, [len(i) for i in idx]
        rows = torch.cat(idx)  # (R,)
        labels = torch.cat([self.scored[k, i] for k, i in zip(members, idx, strict=True)])
        weight = torch.cat([torch.full((n,), 1.0 / n, dtype=torch.float64) for n in sizes])
        return _Group(
            members=members,
            params=params,
            opt=opt,
            idx=idx,
            plan=engine.make_plan(self.dataset.tokens[rows].to(dev), self.model_cfg.n_heads, sizes=sizes),
            labels=labels.to(dev),
            loss_weight=weight.to(dev),
        )

    @property
    def active(self) -> list[int]:
        return sorted(k for g in self.groups for k in g.members)

    def train_step(self, active: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One AdamW step of every member still in the batch; returns the losses (float64, on
        CPU) and the numbers of correct train predictions of ``active`` (default: every member
        in the batch, in member order), both at the parameters before the step."""
        K = len(self.cfg.members)
        losses, correct = torch.full((K,), math.nan, dtype=torch.float64), torch.zeros(K, dtype=torch.int64)
        for g in self.groups:
            g.opt.zero_grad()
            with engine.matmul_precision(tf32=self.cfg.tf32):
                logits = _logits(g.params, g.plan)  # (R, C)
                logp = logits.to(LOSS_DTYPES[self.cfg.loss_dtype]).log_softmax(dim=-1)
                nll = -logp.gather(1, g.labels[:, None])[:, 0]  # (R,)
                loss = g.plan.sum_per_model(nll * g.loss_weight)  # (Kg,): each member's mean loss
                loss.sum().backward()
            g.opt.step()
            hits = g.plan.sum_per_model(logits.detach().argmax(dim=-1) == g.labels)
            losses[g.members] = loss.detach().double().cpu()
            correct[g.members] = hits.cpu()
        self.steps_done += 1
        which = self.active if active is None else list(active)
        return losses[which], correct[which]

    def retire(self, k: int) -> None:
        """Take member ``k`` out of the batch; :meth:`member_state` still returns its state."""
        for gi, g in enumerate(self.groups):
            if k not in g.members:
                continue
            i = g.members.index(k)
            self.retired[k] = (self._slice_state(g, i), self._slice_opt(g, i))
            keep = [j for j in range(len(g.members)) if j != i]
            if not keep:
                del self.groups[gi]
                return
            sel = torch.tensor(keep, device=self.device)
            params = {n: t.detach()[sel].clone().requires_grad_() for n, t in g.params.items()}
            opt = select_members(g.opt, params, keep)
            kept = [g.members[j] for j in keep]
            self.groups[gi] = self._with_data(kept, params, opt, [g.idx[j] for j in keep])
            return

    @staticmethod
    def _slice_state(g: _Group, i: int) -> dict[str, torch.Tensor]:
        return {name: t[i].detach().cpu().clone() for name, t in g.params.items()}

    @staticmethod
    def _slice_opt(g: _Group, i: int) -> dict[str, Any]:
        return member_state(g.opt, i)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s parameters as a state dict of the reference model (on CPU)."""
        if k in self.retired:
            return {n: t.clone() for n, t in self.retired[k][0].items()}
        for g in self.groups:
            if k in g.members:
                return self._slice_state(g, g.members.index(k))
        raise IndexError(f"no member {k}")

    def state_dict(self) -> dict[str, Any]:
        """Every member's parameters and AdamW state (on CPU), for a checkpoint."""
        out: dict[str, Any] = {"params": {}, "opt": {}, "steps_done": self.steps_done}
        for k, (params, opt) in self.retired.items():
            out["params"][k], out["opt"][k] = params, opt
        for g in self.groups:
            for i, k in enumerate(g.members):
                out["params"][k], out["opt"][k] = self._slice_state(g, i), self._slice_opt(g, i)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output into an ensemble built from the same config."""
        for g in self.groups:
            with torch.no_grad():
                for name, t in g.params.items():
                    t.copy_(torch.stack([state["params"][k][name] for k in g.members]).to(t))
            load_member_states(g.opt, [state["opt"][k] for k in g.members])
        self.steps_done = int(state["steps_done"])

    @torch.no_grad()
    def evaluate(self, members: Sequence[int] | None = None, step: int | None = None) -> list[Row]:
        """Loss (float64) and accuracy of each of ``members`` (default: those in the batch) on
        its train set (scored on the labels it trains on) and test set (true labels), its
        parameter norm and its train set's float32-loss diagnostics: one ``Row`` per member."""
        N = len(self.dataset)
        want = self.active if members is None else list(members)
        step = self.steps_done if step is None else step
        rows: dict[int, Row] = {}
        for g in self.groups:
            local = [i for i, k in enumerate(g.members) if k in want]
            if not local:
                continue
            kc = max(1, min(len(local), EVAL_ROWS // N))  # members per chunk
            n_chunk = max(1, min(N, EVAL_ROWS))  # examples per chunk (when one member is too many)
            for c0 in range(0, len(local), kc):
                sel = local[c0 : c0 + kc]
                ks = [g.members[i] for i in sel]
                sub = {name: t[sel] for name, t in g.params.items()}
                norms = torch.sqrt(sum(t.double().pow(2).flatten(1).sum(1) for t in sub.values())).cpu()
                parts = []
                for i0 in range(0, N, n_chunk):
                    i1 = min(N, i0 + n_chunk)
                    with engine.matmul_precision(tf32=self.cfg.tf32):
                        parts.append(_logits(sub, self._eval_plan(len(sel), i0, i1)))
                logits = torch.cat(parts, dim=1)  # (kc, N, C)
                y = self.scored[ks].to(self.device)  # (kc, N)
                lp = logits.double().log_softmax(dim=-1)
                nll = -lp.gather(2, y[..., None])[..., 0].cpu()
                hit = (logits.argmax(dim=-1) == y).cpu()
                for j, k in enumerate(ks):
                    train = self.in_train[k].to(self.device)
                    extra = self.circuits(logits[j], train, y[j]) if self.circuits is not None else None
                    f32 = loss_precision.measure(logits[j][train], y[j][train])
                    rows[k] = evaluation_row(
                        step, nll=nll[j], hit=hit[j], in_train=self.in_train[k], norm=float(norms[j]),
                        wall_s=0.0, circuits=extra, precision=f32,
                    )  # fmt: skip
        return [rows[k] for k in want]

    def _eval_plan(self, kc: int, i0: int, i1: int) -> engine.Plan:
        key = (kc, i0, i1)
        if key not in self._eval_plans:
            tok = self.dataset.tokens[i0:i1].to(self.device)
            self._eval_plans[key] = engine.make_plan(tok.expand(kc, -1, -1), self.model_cfg.n_heads)
        return self._eval_plans[key]


def _starts(init: Init, K: int) -> list[Mapping[str, torch.Tensor] | None]:
    if init is None:
        return [None] * K
    if isinstance(init, Mapping):
        return [init] * K
    starts = list(init)
    if len(starts) != K:
        raise InputError("init", f"one starting state per member: got {len(starts)} for {K} members")
    return starts


def _logits(params: Mapping[str, torch.Tensor], plan: engine.Plan) -> torch.Tensor:
    try:
        return engine.stacked_logits(params, plan)
    except engine.ScoreRangeError:
        raise RunError(
            "a member's attention scores span too many nats for the batched engine "
            f"(> {engine.SCORE_RANGE[torch.float32]:g} in float32); train it alone with "
            "grokcheck train, which falls back to the reference model, or use float64"
        ) from None
