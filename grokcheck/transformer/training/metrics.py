"""What a training run records: typed evaluation rows, per-member milestones, why it stopped.

Every run, single or one member of a batched ensemble, keeps one :class:`Track`: its evaluation
rows (:class:`Row`), the exact first step at which train accuracy reached 100%, the first
evaluation steps at which test accuracy reached the milestones, and why it stopped (one of
:data:`STOP_REASONS`). A track is plain data, saved in every checkpoint, so a resumed run
continues exactly where it stopped. A phase's summary reports its last row as
:data:`FinalMetrics`, a projection of :class:`Row`.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields, make_dataclass
from typing import Any

# Why a run stopped. A stop rule fired (:mod:`grokcheck.transformer.training.convergence`): test
# accuracy >= 0.99 held (Figure 1a's grokking), or the run converged (Section 5.2's "at
# convergence"); it reached its step budget: a fixed number of steps, or the cap on a run to a
# rule; its loss or parameters stopped being finite; or ``stop()`` fired (an interrupted run is
# not finished: it resumes from its checkpoint).
GROKKED = "grokked"
CONVERGED = "converged"
STEPS = "steps"
MAX_STEPS = "max_steps"
DIVERGED = "diverged"
INTERRUPTED = "interrupted"
#: every reason a run may give for stopping (``stopped`` in results and summaries)
STOP_REASONS = (GROKKED, CONVERGED, STEPS, MAX_STEPS, DIVERGED, INTERRUPTED)
#: the reasons a stop rule gives: the run finished before its budget
RULE_REASONS = (GROKKED, CONVERGED)
#: the reasons of a run that used its whole step budget (a larger budget on resume continues it)
BUDGET_REASONS = (STEPS, MAX_STEPS)
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


#: the fields of a row that a phase's summary reports as ``final``: the losses, accuracies,
#: parameter norm and float32-loss diagnostics, without the row's wall time (the summary has its
#: own ``wall_s``, and a resumed run must report the same ``final`` as an uninterrupted one)
FINAL_FIELDS = ("step", "train_loss", "train_acc", "test_loss", "test_acc", "param_norm", *PRECISION_FIELDS)


def _row_projection(name: str, keep: tuple[str, ...], doc: str) -> type:
    """A frozen dataclass with the fields of :class:`Row` named in ``keep``, in Row's order and
    with Row's types and defaults: Row stays the one place where they are declared."""
    spec = [
        (f.name, f.type) if f.default is MISSING else (f.name, f.type, field(default=f.default))
        for f in fields(Row)
        if f.name in keep
    ]
    return make_dataclass(name, spec, frozen=True, namespace={"__doc__": doc, "__module__": __name__})


FinalMetrics = _row_projection(
    "FinalMetrics",
    FINAL_FIELDS,
    """A phase's last evaluation: the :data:`FINAL_FIELDS` of its last :class:`Row`.""",
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
    def outcome(self) -> str:
        """Why the run stopped; :data:`INTERRUPTED` while it is open (it resumes from there)."""
        return self.stopped or INTERRUPTED

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
        if reason not in STOP_REASONS:
            raise ValueError(f"unknown stop reason {reason!r}")
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
