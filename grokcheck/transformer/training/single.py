"""One model as a :class:`~grokcheck.transformer.training.loop.Stepper`: torch's AdamW and the fast engine.

The training forward is :func:`grokcheck.transformer.model.engine.make_forward` (the exact table
formulation, falling back to the reference model where it is not exact); evaluation runs the
same forward over the whole dataset once and splits it into the train set (scored against the
labels the run trains on, random ones included) and the test set (the true labels), and
measures on the train set what a float32 loss would have rounded away
(:mod:`grokcheck.transformer.analysis.loss_precision`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from grokcheck.transformer.analysis import loss_precision
from grokcheck.transformer.model import tasks
from grokcheck.transformer.training.loop import evaluation_row
from grokcheck.transformer.training.metrics import Row
from grokcheck.transformer.model.model import param_norm
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.model.runtime import LOSS_DTYPES

#: rows per forward pass when evaluating (bounds memory on large datasets)
EVAL_CHUNK = 16384
#: a circuit recorder: (logits (N, C), train mask (N,), labels scored (N,)) -> Row's circuit fields
CircuitHook = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, Any]]


class SingleModel:
    """A model, its optimizer and its data, stepping as member 0 of a one-member batch.

    Args:
        model: the transformer (its parameters are updated in place).
        optimizer: torch's AdamW over ``model.parameters()``.
        forward: ``tokens (n, 4) -> logits (n, C)``, called once per training step.
        tokens, labels: the whole dataset ``(N, 4)`` and its true labels ``(N,)``.
        train_idx: the train set's rows ``(n,)``; train_labels: what it trains on (default:
            the true labels).
        loss_dtype: the log-softmax's dtype during training (evaluation is always float64).
        circuits: if given, called at each evaluation to add circuit fields to the row.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        forward: Callable[[torch.Tensor], torch.Tensor],
        *,
        tokens: torch.Tensor,
        labels: torch.Tensor,
        train_idx: torch.Tensor,
        train_labels: torch.Tensor | None = None,
        loss_dtype: torch.dtype = torch.float64,
        circuits: CircuitHook | None = None,
    ) -> None:
        self.model, self.optimizer, self.forward = model, optimizer, forward
        self.tokens = tokens
        self.train_tokens = tokens[train_idx]
        self.train_labels = labels[train_idx] if train_labels is None else train_labels.to(labels.device)
        self.scored = labels.clone()  # (N,): the label each example is scored against
        self.scored[train_idx] = self.train_labels
        self.in_train = torch.zeros(len(labels), dtype=torch.bool, device=labels.device)
        self.in_train[train_idx] = True
        self.loss_dtype, self.circuits = loss_dtype, circuits
        self.train_sizes = [len(train_idx)]

    def train_step(self, active: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.forward(self.train_tokens)  # (n_train, C)
        loss = F.cross_entropy(logits.to(self.loss_dtype), self.train_labels)
        loss.backward()
        self.optimizer.step()
        n_correct = (logits.detach().argmax(dim=-1) == self.train_labels).sum()
        return loss.detach().double().cpu().view(1), n_correct.cpu().view(1)

    @torch.no_grad()
    def evaluate(self, members: Sequence[int], step: int) -> list[Row]:
        if not members:
            return []
        chunks = [
            self.forward(self.tokens[i : i + EVAL_CHUNK]) for i in range(0, len(self.tokens), EVAL_CHUNK)
        ]
        logits = torch.cat(chunks)  # (N, C)
        nll = F.cross_entropy(logits.double(), self.scored, reduction="none")
        hit = logits.argmax(dim=-1) == self.scored
        extra = self.circuits(logits, self.in_train, self.scored) if self.circuits is not None else None
        train = self.in_train
        precision = loss_precision.measure(logits[train], self.scored[train])
        return [
            evaluation_row(
                step,
                nll=nll.cpu(),
                hit=hit.cpu(),
                in_train=self.in_train.cpu(),
                norm=param_norm(self.model),
                wall_s=0.0,
                circuits=extra,
                precision=precision,
            )
        ]

    def retire(self, k: int) -> None:
        """Nothing to free: a single run ends when its only member stops."""


def make_forward(model: torch.nn.Module, engine: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The logits function the loop calls: ``tokens (batch, 4) -> logits (batch, n_classes)``."""
    if engine == "reference":
        return model
    from grokcheck.transformer.model import engine as fast

    return fast.make_forward(model, engine)


def circuit_hook(p: int, embedding: Callable[[], torch.Tensor] | None = None) -> CircuitHook:
    """Appendix B's measurements (:mod:`grokcheck.transformer.analysis.circuits`) as a row's circuit
    fields, for addition mod ``p``: o_t/o_m on the train set (scored on the labels trained on)
    and on the test set, the trigonometric share of the logits and the mean correct logit.

    With ``embedding`` (returns the network's current W_E), also Nanda et al.'s progress
    measures (:mod:`grokcheck.transformer.analysis.progress_measures`): restricted and excluded loss on
    the train and test sets, with the key frequencies read from W_E at that evaluation."""
    from grokcheck.transformer.analysis import circuits

    def hook(logits: torch.Tensor, in_train: torch.Tensor, scored: torch.Tensor) -> dict[str, Any]:
        m = circuits.measure_logits(logits, p, train_mask=in_train, train_labels=scored[in_train])
        fields = {
            "o_t": m.o_t_train,
            "o_m": m.o_m_train,
            "o_t_test": m.o_t_test,
            "o_m_test": m.o_m_test,
            "trig_fraction": m.trig_fraction,
            "correct_logit": m.correct_logit_train,
        }
        if embedding is not None:
            from grokcheck.transformer.analysis import progress_measures

            pm = progress_measures.measure_logits(
                logits, p, train_mask=in_train, train_labels=scored[in_train], embedding=embedding()
            )
            fields.update(
                restricted_loss=pm.restricted_loss_train,
                restricted_loss_test=pm.restricted_loss_test,
                excluded_loss=pm.excluded_loss_train,
                excluded_loss_test=pm.excluded_loss_test,
                key_frequencies=pm.key_frequencies,
            )
        return fields

    return hook


def single_stepper(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    optim: OptimConfig,
    ds: tasks.Dataset,
    train_idx: torch.Tensor,
    *,
    train_labels: torch.Tensor | None = None,
    circuits: bool = False,
) -> SingleModel:
    """The one-model stepper every single run uses (grokking, pretraining, ungrokking), on the
    model's device, with ``optim``'s engine and loss dtype."""
    dev = next(model.parameters()).device
    return SingleModel(
        model,
        optimizer,
        make_forward(model, optim.engine),
        tokens=ds.tokens.to(dev),
        labels=ds.labels.to(dev),
        train_idx=train_idx.to(dev),
        train_labels=train_labels,
        loss_dtype=LOSS_DTYPES[optim.loss_dtype],
        circuits=circuit_hook(ds.p, embedding=lambda: model.W_E) if circuits else None,
    )
