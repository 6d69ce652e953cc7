"""Batched ensembles: K transformers with stacked parameters trained in one process.

Each member has its own initialisation seed, train subset (of any size), learning rate and
weight decay; all share the task, AdamW's betas and eps, and the loss and parameter dtypes.
Parameters are stacked along a leading K axis and every step is one batched forward and
backward through :func:`grokcheck.transformer.engine.stacked_logits` plus one AdamW update on
the stacks (:class:`StackedAdamW`), so K members cost one process and one device.

Subsets of different sizes are padded to the largest one; padded rows get loss weight 0 and
each member's loss is the mean over its own examples, so member k's gradient is exactly that of
a separate run on its subset (the test suite checks K-batched training against K separate
reference runs in float64). Padding costs compute: batch members with similar subset sizes.

This is what the ungrokking sweeps (dataset sizes x weight decays x seeds, Figure 7) run on:
``init`` starts every member from one pretrained state instead of its own seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grokcheck import validate
from grokcheck.errors import InputError, RunError
from grokcheck.transformer import engine, tasks
from grokcheck.transformer.model import ModelConfig, make_model
from grokcheck.transformer.optim import StackedAdamW
from grokcheck.transformer.runtime import LOSS_DTYPES, PARAM_DTYPES

#: rows (models x examples) per evaluation chunk: bounds the (rows, d_mlp + n_classes) buffer
EVAL_ROWS = 1 << 17
#: padded examples per training group on CPU (8 members at p = 113, 30%; see :class:`Ensemble`)
CPU_GROUP_ROWS = 1 << 15


@dataclass(frozen=True)
class Member:
    """One model of an ensemble. Field names and defaults match ``TrainConfig``'s.

    Attributes:
        seed: seeds the initialisation (unused when the ensemble starts from ``init``).
        data_seed: seeds the train subset (default: ``seed``), as ``tasks.split`` does.
        train_frac / train_size: the subset as a fraction or an exact size (at most one;
            default fraction 0.3). The test set is the rest of the dataset.
        lr, weight_decay: AdamW's learning rate and decoupled weight decay.
    """

    seed: int = 0
    data_seed: int | None = None
    train_frac: float | None = None
    train_size: int | None = None
    lr: float = 1e-3
    weight_decay: float = 1.0

    def __post_init__(self) -> None:
        validate.int_at_least("seed", self.seed, 0)
        if self.data_seed is not None:
            validate.int_at_least("data_seed", self.data_seed, 0)
        if self.train_frac is not None and self.train_size is not None:
            raise InputError("train_size", "give train_frac or train_size, not both")
        if self.train_size is not None:
            validate.int_at_least("train_size", self.train_size, 1)
        validate.positive_float("lr", self.lr)
        if validate.finite_float("weight_decay", self.weight_decay) < 0:
            raise InputError("weight_decay", f"must be >= 0, got {self.weight_decay!r}")


@dataclass(frozen=True)
class EnsembleConfig:
    """An ensemble run: shared settings (Appendix A defaults) and the members."""

    members: tuple[Member, ...] = (Member(),)
    task: str = "add"
    p: int = 113
    steps: int = 1000
    eval_every: int = 100
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
    loss_dtype: str = "float64"
    param_dtype: str = "float32"
    tf32: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))  # a list is fine too
        if len(self.members) == 0 or not all(isinstance(m, Member) for m in self.members):
            raise InputError("members", "an ensemble needs one or more Member objects")
        n = tasks.dataset_size(self.task, self.p)
        for m in self.members:
            size = _train_size(m, n)
            if not 1 <= size < n:
                raise InputError(
                    "train_size",
                    f"each member needs 1 <= train size < {n} ({self.task} has {n} examples), got {size}",
                )
        validate.int_at_least("steps", self.steps, 0)
        validate.int_at_least("eval_every", self.eval_every, 1)
        validate.beta("beta1", self.beta1)
        validate.beta("beta2", self.beta2)
        validate.positive_float("eps", self.eps)
        validate.choice("loss_dtype", self.loss_dtype, LOSS_DTYPES)
        validate.choice("param_dtype", self.param_dtype, PARAM_DTYPES)


def _train_size(m: Member, n: int) -> int:
    if m.train_size is not None:
        return m.train_size
    frac = 0.3 if m.train_frac is None else m.train_frac
    if isinstance(frac, bool) or not 0.0 < float(frac) < 1.0:
        raise InputError("train_frac", f"must be a number in (0, 1), got {frac!r}")
    return round(float(frac) * n)


@dataclass(frozen=True)
class MemberResult:
    """One member's run: evaluation rows and milestones (as ``TrainResult`` defines them)."""

    member: Member
    train_size: int
    test_size: int
    rows: tuple[dict[str, Any], ...]
    step_train_100: int | None
    step_test_95: int | None
    step_test_99: int | None


@dataclass(frozen=True)
class EnsembleResult:
    members: tuple[MemberResult, ...]
    steps: int
    wall_s: float
    ms_per_step: float  # training steps only (all K members together), evaluation excluded
    device: str


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


@dataclass(eq=False)
class _Group:
    """Members trained in one batched pass: stacked leaves, their optimizer, padded data."""

    members: list[int]  # indices into the config's members
    params: dict[str, torch.Tensor]  # (Kg, ...) leaves
    opt: StackedAdamW
    plan: engine.Plan
    labels: torch.Tensor  # (Kg, n_max)
    valid: torch.Tensor  # (Kg, n_max) bool: False on padding
    loss_weight: torch.Tensor  # (Kg, n_max) float64: 1/n_k on member k's rows, 0 on padding


class Ensemble:
    """K members on one device: stacked parameters, padded train subsets, AdamW state.

    Members are trained in groups of at most ``max_rows`` padded examples (members of similar
    subset size share a group). On CPU one group of K = 64 at p = 113 was 1.5x slower per model
    than groups of 8: its buffers exceed glibc's largest mmap threshold (32 MiB) and are
    page-faulted in at every step. On CUDA all members form one group by default.

    Args:
        cfg: the run's configuration.
        device: where to train (``"cpu"``, ``"cuda"`` or a ``torch.device``).
        init: a state dict every member starts from (e.g. a pretrained checkpoint's
            ``"model"``); ``None``: member k starts from ``make_model(seed=members[k].seed)``.
        max_rows: group size bound in padded examples; ``None``: :data:`CPU_GROUP_ROWS` on
            CPU, unbounded elsewhere.
    """

    def __init__(
        self,
        cfg: EnsembleConfig,
        *,
        device: torch.device | str = "cpu",
        init: Mapping[str, torch.Tensor] | None = None,
        max_rows: int | None = None,
    ) -> None:
        self.cfg, self.device = cfg, torch.device(device)
        ds = self.dataset = tasks.make_dataset(cfg.task, cfg.p)
        self.model_cfg = ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes)
        K, N = len(cfg.members), len(ds)
        splits = [
            tasks.split(ds, train_size=_train_size(m, N), seed=m.seed if m.data_seed is None else m.data_seed)
            for m in cfg.members
        ]
        self.sizes = [len(s.train_idx) for s in splits]
        self.in_train = torch.zeros(K, N, dtype=torch.bool)  # (K, N): each member's train set
        for k, s in enumerate(splits):
            self.in_train[k, s.train_idx] = True
        if max_rows is None:
            max_rows = CPU_GROUP_ROWS if self.device.type == "cpu" else 2**62
        self.groups: list[_Group] = []
        order = sorted(range(K), key=lambda k: -self.sizes[k])  # largest first: little padding
        while order:
            n_max, take = self.sizes[order[0]], 1
            while take < len(order) and (take + 1) * n_max <= max_rows:
                take += 1
            members, order = order[:take], order[take:]
            self.groups.append(self._group(members, [splits[k] for k in members], init))
        self.steps_done = 0
        self._eval_plans: dict[tuple[int, int, int], engine.Plan] = {}

    def _group(
        self, members: list[int], splits: list[tasks.Split], init: Mapping[str, torch.Tensor] | None
    ) -> _Group:
        cfg, ds, dev = self.cfg, self.dataset, self.device
        if init is None:
            states = [
                make_model(self.model_cfg, seed=cfg.members[k].seed, dtype=torch.float64).state_dict()
                for k in members
            ]
        else:
            states = [init] * len(members)
        params = stack_states(states, device=dev, dtype=PARAM_DTYPES[cfg.param_dtype])
        opt = StackedAdamW(
            params,
            [cfg.members[k].lr for k in members],
            [cfg.members[k].weight_decay for k in members],
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.eps,
        )
        sizes = torch.tensor([len(s.train_idx) for s in splits])
        n_max = int(sizes.max())
        # (Kg, n_max) example ids; padding repeats the member's first example
        idx = torch.stack(
            [torch.cat([s.train_idx, s.train_idx[:1].expand(n_max - len(s.train_idx))]) for s in splits]
        )
        valid = torch.arange(n_max)[None, :] < sizes[:, None]
        return _Group(
            members=members,
            params=params,
            opt=opt,
            plan=engine.make_plan(ds.tokens[idx].to(dev), self.model_cfg.n_heads),
            labels=ds.labels[idx].to(dev),
            valid=valid.to(dev),
            loss_weight=(valid.double() / sizes[:, None].double()).to(dev),
        )

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One AdamW step of every member; returns the losses ``(K,)`` (float64, on CPU) and
        the numbers of correct train predictions ``(K,)``, both at the parameters before the
        step."""
        K = len(self.cfg.members)
        losses, correct = torch.empty(K, dtype=torch.float64), torch.empty(K, dtype=torch.int64)
        for g in self.groups:
            g.opt.zero_grad()
            with engine.matmul_precision(tf32=self.cfg.tf32):
                logits = _logits(g.params, g.plan)  # (Kg, n_max, C)
                logp = logits.to(LOSS_DTYPES[self.cfg.loss_dtype]).log_softmax(dim=-1)
                nll = -logp.gather(2, g.labels[..., None])[..., 0]  # (Kg, n_max)
                loss = (nll * g.loss_weight).sum(dim=1)  # (Kg,): each member's mean loss
                loss.sum().backward()
            g.opt.step()
            hits = ((logits.detach().argmax(dim=-1) == g.labels) & g.valid).sum(dim=1)
            losses[g.members] = loss.detach().double().cpu()
            correct[g.members] = hits.cpu()
        self.steps_done += 1
        return losses, correct

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s parameters as a state dict of the reference model (on CPU)."""
        for g in self.groups:
            if k in g.members:
                i = g.members.index(k)
                return {name: t[i].detach().cpu().clone() for name, t in g.params.items()}
        raise IndexError(f"no member {k}")

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, Any]]:
        """Loss (float64) and accuracy of every member on its train and test sets, and its
        parameter norm: one row per member, in member order."""
        ds, N = self.dataset, len(self.dataset)
        K = len(self.cfg.members)
        nll = torch.empty(K, N, dtype=torch.float64)
        hit = torch.empty(K, N, dtype=torch.bool)
        norms = torch.empty(K, dtype=torch.float64)
        n_chunk = max(1, min(N, EVAL_ROWS))  # examples per chunk (when one member is too many)
        for g in self.groups:
            Kg = len(g.members)
            kc = max(1, min(Kg, EVAL_ROWS // N))  # members per chunk
            norms[g.members] = torch.sqrt(
                sum(t.double().pow(2).flatten(1).sum(1) for t in g.params.values())
            ).cpu()
            for k0 in range(0, Kg, kc):
                k1 = min(Kg, k0 + kc)
                sub = {name: t[k0:k1] for name, t in g.params.items()}
                rows = g.members[k0:k1]
                for i0 in range(0, N, n_chunk):
                    i1 = min(N, i0 + n_chunk)
                    with engine.matmul_precision(tf32=self.cfg.tf32):
                        logits = _logits(sub, self._eval_plan(k1 - k0, i0, i1))
                    y = ds.labels[i0:i1].to(self.device)
                    lp = logits.double().log_softmax(dim=-1)  # (k1 - k0, i1 - i0, C)
                    nll[rows, i0:i1] = -lp.gather(2, y.expand(k1 - k0, -1)[..., None])[..., 0].cpu()
                    hit[rows, i0:i1] = (logits.argmax(dim=-1) == y).cpu()
        out = []
        for k in range(K):
            tr, te = self.in_train[k], ~self.in_train[k]
            out.append(
                {
                    "step": self.steps_done,
                    "train_loss": float(nll[k, tr].mean()),
                    "train_acc": float(hit[k, tr].double().mean()),
                    "test_loss": float(nll[k, te].mean()),
                    "test_acc": float(hit[k, te].double().mean()),
                    "param_norm": float(norms[k]),
                }
            )
        return out

    def _eval_plan(self, kc: int, i0: int, i1: int) -> engine.Plan:
        key = (kc, i0, i1)
        if key not in self._eval_plans:
            tok = self.dataset.tokens[i0:i1].to(self.device)
            self._eval_plans[key] = engine.make_plan(tok.expand(kc, -1, -1), self.model_cfg.n_heads)
        return self._eval_plans[key]


def _logits(params: Mapping[str, torch.Tensor], plan: engine.Plan) -> torch.Tensor:
    try:
        return engine.stacked_logits(params, plan)
    except engine.ScoreRangeError:
        raise RunError(
            "a member's attention scores span too many nats for the batched engine "
            f"(> {engine.SCORE_RANGE[torch.float32]:g} in float32); train it alone with "
            "grokcheck train, which falls back to the reference model, or use float64"
        ) from None


def train_ensemble(
    cfg: EnsembleConfig,
    *,
    device: torch.device | str = "cpu",
    init: Mapping[str, torch.Tensor] | None = None,
    progress: Callable[[int, list[dict[str, Any]] | None], None] | None = None,
    stop: Callable[[], bool] | None = None,
    ensemble: Ensemble | None = None,
) -> EnsembleResult:
    """Train every member for ``cfg.steps`` steps; evaluate at step 0, every ``eval_every``
    steps and at the end.

    Args:
        cfg: members and shared settings.
        device: where the stacked models live.
        init: one state dict every member starts from (see :class:`Ensemble`).
        progress: called with ``(step, rows)`` after every step (``rows`` after evaluations).
        stop: polled between steps; the run ends early when it returns true.
        ensemble: an already built :class:`Ensemble` to continue (its parameters are updated
            in place; ``cfg.steps`` counts from its first step).
    """
    ens = ensemble if ensemble is not None else Ensemble(cfg, device=device, init=init)
    K = len(cfg.members)
    history: list[list[dict[str, Any]]] = [[] for _ in range(K)]
    first_100: list[int | None] = [None] * K
    train_s, t_start = 0.0, time.perf_counter()

    def record() -> list[dict[str, Any]]:
        rows = ens.evaluate()
        for k, r in enumerate(rows):
            history[k].append(r)
        return rows

    rows = record()
    if progress is not None:
        progress(ens.steps_done, rows)
    sizes, start = ens.sizes, ens.steps_done
    while ens.steps_done < cfg.steps and not (stop is not None and stop()):
        s = ens.steps_done
        t0 = time.perf_counter()
        _, correct = ens.train_step()
        correct = correct.tolist()  # synchronises with the device, so the timing is honest
        train_s += time.perf_counter() - t0
        for k in range(K):
            if first_100[k] is None and correct[k] == sizes[k]:
                first_100[k] = s
        rows = record() if ens.steps_done % cfg.eval_every == 0 or ens.steps_done == cfg.steps else None
        if progress is not None:
            progress(ens.steps_done, rows)
    if history[0][-1]["step"] != ens.steps_done:
        record()
    members = []
    for k, m in enumerate(cfg.members):
        rs = history[k]
        members.append(
            MemberResult(
                member=m,
                train_size=sizes[k],
                test_size=len(ens.dataset) - sizes[k],
                rows=tuple(rs),
                step_train_100=first_100[k],
                step_test_95=next((r["step"] for r in rs if r["test_acc"] >= 0.95), None),
                step_test_99=next((r["step"] for r in rs if r["test_acc"] >= 0.99), None),
            )
        )
    done = max(1, ens.steps_done - start)
    return EnsembleResult(
        members=tuple(members),
        steps=ens.steps_done,
        wall_s=round(time.perf_counter() - t_start, 3),
        ms_per_step=round(1e3 * train_s / done, 3),
        device=str(ens.device),
    )
