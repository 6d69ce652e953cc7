"""Would a float32 loss have collapsed? Two numbers from the logits an evaluation already has.

The cross-entropy of one example (Section 2, Eq. 1) is, as Theorem D.1's proof rewrites it,
``log(1 + sum_{y' != y*} exp(o_y' - o_y*))``. Once the correct logit leads every other one by a
margin ``m`` with ``(C - 1) exp(-m)`` below half of float32's spacing above 1 (2**-24, about
6e-8; sooner, depending on the order of the sum), a float32 log-softmax rounds the ``1 + ...``
to exactly 1: the example's loss is exactly 0 and so is the gradient on its correct logit (its
probability has rounded to 1); only the wrong logits' tiny float32 probabilities still act.
Prieto et al. (2025, "Grokking at the edge of numerical stability") call this softmax
collapse. The runs compute their loss in float64 by default for this reason; these numbers
show where a float32 loss would have differed (with ``loss_dtype="float32"``, where it did).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossPrecision:
    """Float32 against float64 cross-entropy over a set of examples.

    Attributes:
        collapse_f32: the share of examples whose float32 cross-entropy is exactly 0.
        loss_gap_f32: the largest ``|float64 loss - float32 loss|`` over the examples.
    """

    collapse_f32: float
    loss_gap_f32: float


def measure(logits: torch.Tensor, labels: torch.Tensor) -> LossPrecision:
    """Softmax collapse of ``logits (n, C)`` scored against ``labels (n,)``, ``n >= 1``.

    The float32 loss is computed from the logits cast to float32 (what a float32 training step
    sees), the float64 loss from the logits cast to float64, each by torch's cross-entropy on
    the logits' device.
    """
    nll32 = F.cross_entropy(logits.float(), labels, reduction="none")  # (n,)
    nll64 = F.cross_entropy(logits.double(), labels, reduction="none")  # (n,)
    return LossPrecision(
        collapse_f32=float((nll32 == 0).double().mean()),
        loss_gap_f32=float((nll64 - nll32.double()).abs().max()),
    )
