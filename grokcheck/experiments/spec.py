"""One run of an experiment, as a frozen config (:class:`RunSpec`), and what it reached (:class:`RunRecord`).

This is the contract between the experiment layer (grids, the result store, executors,
predictions) and the training core (:mod:`grokcheck.experiments.runner`, which trains a chunk
of specs as one batched ensemble). A spec's :meth:`RunSpec.key` is the hash of every field, so
it names the run's result file: two specs that differ in anything, the seed included, are two
runs.

Kinds of run:

- ``"ungrok"``: Section 5.2. Start from the network pretrained on the full dataset with the
  same ``seed`` (one pretrained network per seed, Appendix A.2), train on a random subset of
  ``train_size`` examples with ``weight_decay``; test = the rest.
- ``"scratch"``: a fresh initialisation from ``seed`` trained on ``train_size`` examples
  (grokking, semi-grokking near D_crit, C_gen-only networks at large D).
- ``"random_labels"``: as ``"scratch"``, but the train labels are replaced by uniformly random
  labels drawn from ``seed`` (Section 5.1: C_mem-only networks).
"""

from __future__ import annotations

from dataclasses import dataclass

from grokcheck.configs import config_key
from grokcheck.transformer.training.convergence import PRETRAIN_MAX_STEPS, WINDOW
from grokcheck.transformer.training.metrics import Row

KINDS = ("ungrok", "scratch", "random_labels")


@dataclass(frozen=True)
class RunSpec:
    """One training run, trained to convergence (or ``max_steps``).

    Attributes:
        experiment: the experiment it belongs to (``"ungrok"``, ``"tasks"``, ``"semigrok"``,
            ``"efficiency"``); part of the key, so experiments never share result files.
        kind: one of :data:`KINDS`.
        task, p: the dataset (``p`` is ignored by the S5 tasks but kept in the key).
        train_size: D (scratch, random labels) or D' (ungrok).
        weight_decay: AdamW's decoupled weight decay for this run.
        seed: initialisation seed (for ``"ungrok"``: the pretrained network's seed); the subset
            and random labels are drawn from it too.
        max_steps: cap on training steps; a run stops earlier when it converges.
        lr, eps, loss_dtype: AdamW's learning rate and eps, the loss's dtype (recorded because
            they change how fast a run converges).
        eval_every: steps between evaluations (the curves in the record).
        pretrain_max_steps: cap on pretraining for ``"ungrok"`` runs.
        convergence_window: the convergence rule's window in steps (its tolerances are
            :class:`~grokcheck.transformer.training.convergence.ConvergenceConfig`'s defaults).
    """

    experiment: str
    kind: str
    task: str
    p: int
    train_size: int
    weight_decay: float
    seed: int
    max_steps: int
    lr: float = 1e-3
    eps: float = 1e-8
    loss_dtype: str = "float64"
    eval_every: int = 100
    pretrain_max_steps: int = PRETRAIN_MAX_STEPS
    convergence_window: int = WINDOW

    def key(self) -> str:
        """16 hex digits of sha256 over every field (sorted JSON): the run's file name
        (:func:`grokcheck.configs.config_key`).

        Float fields are keyed as floats, so equal specs have one key (``weight_decay=1`` and
        ``1.0``, or ``-0.0`` and ``0.0``, are one run and one file).
        """
        return config_key(self)


#: what a run's curve keeps of each evaluation row (Figures 5-7 plot them against steps; o_t
#: and o_m, Appendix B's circuit strengths on the train set, where the run records circuits)
CURVE_FIELDS = ("step", "train_acc", "test_acc", "train_loss", "test_loss", "param_norm", "o_t", "o_m")


def curve_point(row: Row) -> Row:
    """``row`` with only :data:`CURVE_FIELDS` kept (every other field at its default)."""
    return Row(**{k: getattr(row, k) for k in CURVE_FIELDS})


@dataclass(frozen=True)
class RunRecord:
    """What one run reached, at its last step.

    ``converged`` is true when the convergence rule fired before ``max_steps``; ``stopped`` is
    the reason (``"converged"``, ``"max_steps"``, ``"diverged"``). Circuit fields
    (Appendix B, :mod:`grokcheck.transformer.analysis.circuits`) are ``None`` for tasks other than
    addition: ``o_t``/``o_m`` are the mean correct-class logits of the trigonometric and the
    memorising parts on the train set, ``o_t_test``/``o_m_test`` on the test set,
    ``correct_logit`` the network's mean correct-class logit on the train set (centred over
    classes), ``trig_fraction`` the share of the logit tensor's squared norm in the
    trigonometric subspace and ``gen_only`` whether it exceeds 0.95. ``restricted_loss`` and
    ``excluded_loss`` (train; ``*_test`` on the test set) and ``key_frequencies`` are Nanda et
    al.'s progress measures (:mod:`grokcheck.transformer.analysis.progress_measures`), a second circuit
    measure independent of Appendix B's (addition only). Where the experiment
    records circuits along the curve (``hysteresis``), ``o_t_prev``/``o_m_prev`` are o_t/o_m one
    convergence window before the end, and ``kappa`` is the final network's kappa
    (:func:`grokcheck.transformer.analysis.kappa.kappa_of_state`, on its train set).
    """

    spec: RunSpec
    steps: int
    converged: bool
    stopped: str
    train_acc: float
    test_acc: float
    train_loss: float
    test_loss: float
    param_norm: float
    correct_logit: float | None = None
    o_t: float | None = None
    o_m: float | None = None
    o_t_test: float | None = None
    o_m_test: float | None = None
    trig_fraction: float | None = None
    gen_only: bool | None = None
    restricted_loss: float | None = None
    restricted_loss_test: float | None = None
    excluded_loss: float | None = None
    excluded_loss_test: float | None = None
    key_frequencies: tuple[int, ...] | None = None
    o_t_prev: float | None = None
    o_m_prev: float | None = None
    kappa: float | None = None
    wall_s: float = 0.0
    curve: tuple[Row, ...] = ()  # evaluation rows, each keeping CURVE_FIELDS (curve_point)

    def row(self) -> dict[str, object]:
        """A flat row of the results table: the spec's fields, then what the run reached."""
        s = self.spec
        return {
            "key": s.key(),
            "experiment": s.experiment,
            "kind": s.kind,
            "task": s.task,
            "p": s.p,
            "train_size": s.train_size,
            "weight_decay": s.weight_decay,
            "seed": s.seed,
            "max_steps": s.max_steps,
            "eps": s.eps,
            "loss_dtype": s.loss_dtype,
            "steps": self.steps,
            "converged": self.converged,
            "stopped": self.stopped,
            "train_acc": self.train_acc,
            "test_acc": self.test_acc,
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "param_norm": self.param_norm,
            "correct_logit": self.correct_logit,
            "o_t": self.o_t,
            "o_m": self.o_m,
            "o_t_test": self.o_t_test,
            "o_m_test": self.o_m_test,
            "trig_fraction": self.trig_fraction,
            "gen_only": self.gen_only,
            "restricted_loss": self.restricted_loss,
            "restricted_loss_test": self.restricted_loss_test,
            "excluded_loss": self.excluded_loss,
            "excluded_loss_test": self.excluded_loss_test,
            "key_frequencies": None
            if self.key_frequencies is None
            else " ".join(map(str, self.key_frequencies)),
            "o_t_prev": self.o_t_prev,
            "o_m_prev": self.o_m_prev,
            "kappa": self.kappa,
            "wall_s": self.wall_s,
        }
