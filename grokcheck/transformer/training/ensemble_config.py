"""What a batched ensemble trains: its members (:class:`Member`) and their shared settings
(:class:`EnsembleConfig`), checked on construction. :mod:`grokcheck.transformer.training.ensemble`
trains them; the experiment runner builds them from run specs.
"""

from __future__ import annotations

from dataclasses import dataclass

from grokcheck import validate
from grokcheck.errors import InputError
from grokcheck.transformer.model import tasks
from grokcheck.transformer.training.convergence import ConvergenceConfig
from grokcheck.transformer.training.optim import OptimConfig


@dataclass(frozen=True)
class Member:
    """One model of an ensemble. Field names and defaults match ``TrainConfig``'s.

    Attributes:
        seed: seeds the initialisation (unused when the ensemble starts from ``init``).
        data_seed: seeds the train subset (default: ``seed``), as ``tasks.split`` does.
        train_frac / train_size: the subset as a fraction or an exact size (at most one;
            default fraction 0.3). The test set is the rest of the dataset.
        lr, weight_decay: AdamW's learning rate and decoupled weight decay (defaults and
            checks are :class:`OptimConfig`'s).
        random_labels: train on uniformly random labels (``tasks.random_labels`` with the
            split's seed), as ``TrainConfig`` does.
    """

    seed: int = 0
    data_seed: int | None = None
    train_frac: float | None = None
    train_size: int | None = None
    lr: float = OptimConfig.lr
    weight_decay: float = OptimConfig.weight_decay
    random_labels: bool = False

    @property
    def split_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed

    def __post_init__(self) -> None:
        validate.seed("seed", self.seed)
        if self.data_seed is not None:
            validate.seed("data_seed", self.data_seed)
        if self.train_frac is not None and self.train_size is not None:
            raise InputError("train_size", "give train_frac or train_size, not both")
        if self.train_size is not None:
            validate.int_at_least("train_size", self.train_size, 1)
        OptimConfig(lr=self.lr, weight_decay=self.weight_decay)  # raises InputError on a bad value


@dataclass(frozen=True)
class EnsembleConfig(OptimConfig):
    """An ensemble run: shared settings (Appendix A defaults) and the members.

    AdamW's betas and eps and the loss and parameter dtypes are :class:`OptimConfig`'s, shared
    by every member. The learning rate and weight decay are each member's own
    (:class:`Member`), and the stacked models always run the exact table engine, so ``lr``,
    ``weight_decay`` and ``engine`` keep OptimConfig's defaults here (anything else is an
    :class:`InputError`). ``steps`` is each member's step budget; with ``convergence`` a member
    stops earlier once the convergence rule fires for it
    (:mod:`grokcheck.transformer.training.convergence`).
    """

    members: tuple[Member, ...] = (Member(),)
    task: str = "add"
    p: int = 113
    steps: int = 1000
    eval_every: int = 100
    tf32: bool = False
    convergence: ConvergenceConfig | None = None  # None: exactly ``steps`` steps per member
    checkpoint_every: int = 1000
    checkpoint_every_s: float = 60.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("lr", "weight_decay"):
            if getattr(self, name) != getattr(OptimConfig, name):
                raise InputError(name, f"is set per member in an ensemble (Member.{name})")
        if self.engine != OptimConfig.engine:
            raise InputError("engine", "a batched ensemble always runs the exact table engine")
        object.__setattr__(self, "members", tuple(self.members))  # a list is fine too
        if len(self.members) == 0 or not all(isinstance(m, Member) for m in self.members):
            raise InputError("members", "an ensemble needs one or more Member objects")
        n = tasks.dataset_size(self.task, self.p)
        for m in self.members:
            size = train_size_of(m, n)
            if not 1 <= size < n:
                raise InputError(
                    "train_size",
                    f"each member needs 1 <= train size < {n} ({self.task} has {n} examples), got {size}",
                )
        validate.steps("steps", self.steps, 0)
        validate.steps("eval_every", self.eval_every, 1)


def train_size_of(m: Member, n: int) -> int:
    if m.train_size is not None:
        return m.train_size
    frac = 0.3 if m.train_frac is None else m.train_frac
    if isinstance(frac, bool) or not 0.0 < float(frac) < 1.0:
        raise InputError("train_frac", f"must be a number in (0, 1), got {frac!r}")
    return round(float(frac) * n)
