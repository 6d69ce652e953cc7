"""What a training run records: typed evaluation rows and per-member milestones.

Every run, single or one member of a batched ensemble, keeps one :class:`Track`: its evaluation
rows (:class:`Row`), the exact first step at which train accuracy reached 100%, the first
evaluation steps at which test accuracy reached the milestones, and why it stopped. A track is
plain data, saved in every checkpoint, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: why a member stopped, besides its stop rule's reason: a non-finite loss, or ``stop()`` fired
#: (an interrupted run is not finished: it gets no result and resumes from its checkpoint)
DIVERGED = "diverged"
INTERRUPTED = "interrupted"
#: test accuracy milestones recorded by every run
TEST_MILESTONES = (0.95, 0.99)
#: circuit fields a row may carry (Appendix B, :mod:`grokcheck.transformer.analysis.circuits`)
CIRCUIT_FIELDS = ("o_t", "o_m", "o_t_test", "o_m_test", "trig_fraction", "correct_logit")
#: progress-measure fields a row may carry (:mod:`grokcheck.transformer.analysis.progress_measures`)
PROGRESS_FIELDS = (
    "restricted_loss", "restricted_loss_test", "excluded_loss", "excluded_loss_test", "key_frequencies",
)  # fmt: skip
#: float32-loss diagnostics a row may carry (:mod:`grokcheck.transformer.analysis.loss_precision`)
PRECISION_FIELDS = ("collapse_f32", "loss_gap_f32")


@dataclass(frozen=True)
class Row:
    """Metrics at one step: float64 cross-entropies, accuracies, parameter norm, wall time.

    ``test_*`` are ``None`` when the run has no test set (pretraining on the full dataset).
    The circuit fields are ``None`` unless the run records circuits (``--circuits``). The
    progress-measure fields (restricted and excluded loss on train and test, the key frequencies
    read from W_E) are ``None`` unless the recorder also sees the network's embedding, as
    ``grokcheck train --circuits`` does. ``collapse_f32`` and ``loss_gap_f32`` compare a float32
    with a float64 cross-entropy on the train set (:mod:`grokcheck.transformer.analysis.loss_precision`);
    ``None`` in rows recorded without them.
    """

    step: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    param_norm: float | None
    wall_s: float = 0.0
    o_t: float | None = None
    o_m: float | None = None
    o_t_test: float | None = None
    o_m_test: float | None = None
    trig_fraction: float | None = None
    correct_logit: float | None = None
    restricted_loss: float | None = None
    restricted_loss_test: float | None = None
    excluded_loss: float | None = None
    excluded_loss_test: float | None = None
    key_frequencies: tuple[int, ...] | None = None
    collapse_f32: float | None = None
    loss_gap_f32: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-able data; circuit, progress and precision fields only when recorded."""
        d = asdict(self)
        for k in CIRCUIT_FIELDS + PROGRESS_FIELDS + PRECISION_FIELDS:
            if d[k] is None:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Row:
        row = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        if row.get("key_frequencies") is not None:  # a JSON list
            row["key_frequencies"] = tuple(row["key_frequencies"])
        return cls(**row)

    def finite(self) -> bool:
        """Whether the train loss and the parameter norm are finite numbers (not diverged)."""
        return (
            self.param_norm is not None and math.isfinite(self.param_norm) and math.isfinite(self.train_loss)
        )


@dataclass
class Track:
    """One run's mutable record. ``stopped`` is ``None`` while the run is going."""

    rows: list[Row] = field(default_factory=list)
    step_train_100: int | None = None
    step_test_95: int | None = None
    step_test_99: int | None = None
    train_acc_drops: int = 0  # steps after step_train_100 where train accuracy was below 100%
    streak_start: int | None = None  # first step of the current run of test acc >= 0.99
    stopped: str | None = None
    stop_step: int | None = None
    wall_s: float = 0.0  # training wall time of this run so far (evaluations included)

    @property
    def last(self) -> Row:
        return self.rows[-1]

    @property
    def step_collapse_f32(self) -> int | None:
        """The first evaluation step at which a float32 loss collapsed on some train example."""
        return next((r.step for r in self.rows if r.collapse_f32), None)

    def add_row(self, row: Row) -> None:
        self.rows.append(row)
        acc = row.test_acc
        if acc is None:
            return
        s = row.step
        if self.step_test_95 is None and acc >= TEST_MILESTONES[0]:
            self.step_test_95 = s
        if self.step_test_99 is None and acc >= TEST_MILESTONES[1]:
            self.step_test_99 = s
        if acc >= TEST_MILESTONES[1]:
            self.streak_start = s if self.streak_start is None else self.streak_start
        else:
            self.streak_start = None

    def add_train_step(self, step: int, correct: int, n_train: int) -> None:
        """Record step ``step``'s train accuracy (at the parameters before its update)."""
        if self.step_train_100 is None and correct == n_train:
            self.step_train_100 = step
        elif self.step_train_100 is not None and correct < n_train:
            self.train_acc_drops += 1

    def stop(self, reason: str, step: int) -> None:
        self.stopped, self.stop_step = reason, step

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = [r.to_dict() for r in self.rows]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Track:
        t = cls(**{f.name: d[f.name] for f in fields(cls) if f.name != "rows"})
        t.rows = [Row.from_dict(r) for r in d["rows"]]
        return t
