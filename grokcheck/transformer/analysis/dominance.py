"""Which circuit dominates a modular-addition network, read two independent ways, and whether they agree.

Appendix B of Varma et al. (:mod:`grokcheck.transformer.analysis.circuits`) reads the split from the logit
tensor's norm: the share ``trig_fraction`` of its squared norm in the trigonometric subspace.
Nanda et al.'s progress measures (:mod:`grokcheck.transformer.analysis.progress_measures`) read it from
the loss: what the logits achieve on the train set when cut down to the key frequencies
(restricted loss) or stripped of them (excluded loss). The rules, on the train set:

- **Appendix B**: ``"gen"`` when ``trig_fraction > 0.95`` (Section 5.1's C_gen-only test),
  ``"mem"`` when ``trig_fraction < 0.5`` (most of the logit energy is outside ``Z_T``),
  ``"mixed"`` between. Appendix B's known flaw applies: ``Z_T`` picks up part of a memorising
  table (about the train fraction of its energy), so a pure lookup table trained on more than
  half of the inputs reads ``"mixed"``.
- **Progress measures**: a part of the logits *fits* the train set when its loss is below half
  the chance loss, ``log(p) / 2`` (the midpoint, on the loss axis, between a perfect fit and
  uniform logits: the correct class gets ``1 / sqrt(p)`` of the probability on average).
  ``"gen"`` when the key-frequency part fits and the rest does not; ``"mem"`` when the rest
  fits and the key part does not; ``"mixed"`` when both fit; ``"neither"`` when neither does
  (an untrained network).

``agree`` is equality of the two labels; ``conflict`` is the sharp disagreement, one measure
saying ``"gen"`` and the other ``"mem"``. Both are meant for converged networks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from grokcheck.errors import InputError

if TYPE_CHECKING:
    from grokcheck.transformer.analysis.circuits import CircuitMetrics
    from grokcheck.transformer.analysis.progress_measures import ProgressMeasures

GEN, MEM, MIXED, NEITHER = "gen", "mem", "mixed", "neither"
#: Appendix B: C_gen dominates above this trig fraction (Section 5.1's C_gen-only threshold) ...
TRIG_GEN = 0.95
#: ... and C_mem below this one
TRIG_MEM = 0.5
#: progress measures: a part of the logits fits the train set below this fraction of log p
FIT_FRACTION = 0.5


@dataclass(frozen=True)
class Dominance:
    """The dominant circuit under each measure (``"gen"``, ``"mem"``, ``"mixed"``; the progress
    measures also ``"neither"``), whether the two labels are equal, and whether they clash."""

    appendix_b: str
    progress: str
    agree: bool
    conflict: bool

    def as_dict(self) -> dict[str, str | bool]:
        return asdict(self)


def by_trig_fraction(trig_fraction: float, *, gen: float = TRIG_GEN, mem: float = TRIG_MEM) -> str:
    """Appendix B's reading: ``"gen"`` above ``gen``, ``"mem"`` below ``mem``, else ``"mixed"``."""
    if not 0.0 <= trig_fraction <= 1.0 + 1e-9:
        raise InputError("trig_fraction", f"must be in [0, 1], got {trig_fraction}")
    return GEN if trig_fraction > gen else MEM if trig_fraction < mem else MIXED


def by_progress(restricted_loss: float, excluded_loss: float, p: int, *, fit: float = FIT_FRACTION) -> str:
    """The progress measures' reading from the train restricted and excluded losses (module docstring)."""
    if p < 2:
        raise InputError("p", f"must be at least 2, got {p}")
    level = fit * math.log(p)
    key_fits, rest_fits = restricted_loss < level, excluded_loss < level
    if key_fits and not rest_fits:
        return GEN
    if rest_fits and not key_fits:
        return MEM
    return MIXED if key_fits else NEITHER


def dominance(trig_fraction: float, restricted_loss: float, excluded_loss: float, p: int) -> Dominance:
    """Both readings of one network from its numbers (e.g. a results-table row) and their agreement."""
    a, b = by_trig_fraction(trig_fraction), by_progress(restricted_loss, excluded_loss, p)
    return Dominance(appendix_b=a, progress=b, agree=a == b, conflict={a, b} == {GEN, MEM})


def dominance_of(circuits: CircuitMetrics, progress: ProgressMeasures) -> Dominance:
    """:func:`dominance` of one network's Appendix B and progress measurements."""
    if circuits.p != progress.p:
        raise InputError("progress", f"measures of different moduli ({circuits.p} and {progress.p})")
    return dominance(
        circuits.trig_fraction, progress.restricted_loss_train, progress.excluded_loss_train, progress.p
    )
