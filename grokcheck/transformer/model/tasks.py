"""Algorithmic tasks of Power et al. (2021) used in Appendix A and Figure 8, as token datasets.

Every example is the 4-token sequence ``<x> <op> <y> <=>`` and its target is the answer token
``<x o y>`` (Appendix A). Token ids: the n elements are ``0 .. n-1`` (n = p for the mod-p tasks,
n = 120 for S5), the operation token is ``n`` and ``=`` is ``n + 1``; so ``n_vocab = n + 2``
(115 for p = 113, as in Appendix A) and there are ``n_classes = n`` answer classes.

Tasks (all arithmetic mod p):

=========  ==========================================  ===========================  ==========
name       answer                                      pairs                        p prime?
=========  ==========================================  ===========================  ==========
add        x + y                                       all p^2                      no
sub        x - y                                       all p^2                      no
mul        x * y                                       all p^2                      no
div        x / y = x * y^(-1)                          y != 0: p (p - 1)            yes
div-odd    x / y if y is odd, else x - y               all p^2 (y = 0 is even)      yes
sq-add     x^2 + y^2                                   all p^2                      no
quad1      x^2 + x y + y^2                             all p^2                      no
quad2      x^2 + x y + y^2 + x                         all p^2                      no
cube1      x^3 + x y                                   all p^2                      no
cube2      x^3 + x y^2 + y                             all p^2                      no
s5-mul     x . y                                       all 120^2                    (no p)
s5-conj    x . y . x^(-1)                              all 120^2                    (no p)
s5-xyx     x . y . x                                   all 120^2                    (no p)
=========  ==========================================  ===========================  ==========

Only the tasks that divide need p prime (the modular inverse of every y != 0 exists only then);
the others are well defined for any modulus p >= 2, so composite p is allowed for them (the
paper itself always uses p = 113). The S5 tasks ignore p.

S5 convention: a permutation is its array form ``s`` (``s[i]`` is the image of ``i``); element
ids number the 120 permutations of ``(0, 1, 2, 3, 4)`` in lexicographic order, so id 0 is the
identity. The product composes left to right, ``(x . y)[i] = y[x[i]]`` ("apply x, then y"),
which is sympy's ``Permutation`` product and Power et al.'s ``c = b[a]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch

from grokcheck.errors import InputError

#: largest modulus accepted: the dataset has p^2 examples (p = 4096 already gives 16.8M)
MAX_P = 4096
#: number of elements of S5
S5_ORDER = 120


@dataclass(frozen=True)
class Task:
    """One binary operation. ``answer(x, y, p)`` maps int64 tensors of operands to answers."""

    name: str
    formula: str
    answer: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
    needs_prime: bool = False
    nonzero_y: bool = False
    s5: bool = False


def _inverse_mod(y: torch.Tensor, p: int) -> torch.Tensor:
    # Fermat: y^(p-2) = y^(-1) mod prime p (y != 0); Python ints avoid int64 overflow in pow.
    table = torch.tensor([pow(int(v), p - 2, p) if v else 0 for v in range(p)], dtype=torch.int64)
    return table[y]


def _div(x: torch.Tensor, y: torch.Tensor, p: int) -> torch.Tensor:
    return x * _inverse_mod(y, p) % p


def _div_odd(x: torch.Tensor, y: torch.Tensor, p: int) -> torch.Tensor:
    return torch.where(y % 2 == 1, _div(x, y, p), (x - y) % p)


def _s5(op: str) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
    def answer(x: torch.Tensor, y: torch.Tensor, p: int) -> torch.Tensor:
        return s5_tables()[op][x, y]

    return answer


# x and y are int64 with values < MAX_P, so x^3 + x*y^2 < 2^38: no overflow before the mod.
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("add", "x + y mod p", lambda x, y, p: (x + y) % p),
        Task("sub", "x - y mod p", lambda x, y, p: (x - y) % p),
        Task("mul", "x * y mod p", lambda x, y, p: x * y % p),
        Task("div", "x / y mod p (y != 0)", _div, needs_prime=True, nonzero_y=True),
        Task("div-odd", "x / y mod p if y odd, else x - y mod p", _div_odd, needs_prime=True),
        Task("sq-add", "x^2 + y^2 mod p", lambda x, y, p: (x * x + y * y) % p),
        Task("quad1", "x^2 + xy + y^2 mod p", lambda x, y, p: (x * x + x * y + y * y) % p),
        Task("quad2", "x^2 + xy + y^2 + x mod p", lambda x, y, p: (x * x + x * y + y * y + x) % p),
        Task("cube1", "x^3 + xy mod p", lambda x, y, p: (x * x * x + x * y) % p),
        Task("cube2", "x^3 + xy^2 + y mod p", lambda x, y, p: (x * x * x + x * y * y + y) % p),
        Task("s5-mul", "x.y in S5", _s5("mul"), s5=True),
        Task("s5-conj", "x.y.x^-1 in S5", _s5("conj"), s5=True),
        Task("s5-xyx", "x.y.x in S5", _s5("xyx"), s5=True),
    )
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """The full dataset of one task: every valid pair, in (x, y) row-major order.

    Attributes:
        tokens: ``(N, 4)`` int64, rows ``[x, op, y, eq]``.
        labels: ``(N,)`` int64 answer ids in ``0 .. n_classes - 1``.
        n_vocab: input vocabulary size, ``n + 2``.
        n_classes: number of answer classes, ``n`` (p, or 120 for S5).
        op_token, eq_token: ids ``n`` and ``n + 1``.
        task: the task's name.
        p: the modulus (``None`` for S5 tasks).
    """

    tokens: torch.Tensor
    labels: torch.Tensor
    n_vocab: int
    n_classes: int
    op_token: int
    eq_token: int
    task: str
    p: int | None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True, eq=False)
class Split:
    """A random train/test split of a :class:`Dataset`: test is everything not in train."""

    dataset: Dataset
    train_idx: torch.Tensor  # (n_train,) int64, sorted
    test_idx: torch.Tensor  # (N - n_train,) int64, sorted

    @property
    def train_tokens(self) -> torch.Tensor:
        return self.dataset.tokens[self.train_idx]

    @property
    def train_labels(self) -> torch.Tensor:
        return self.dataset.labels[self.train_idx]

    @property
    def test_tokens(self) -> torch.Tensor:
        return self.dataset.tokens[self.test_idx]

    @property
    def test_labels(self) -> torch.Tensor:
        return self.dataset.labels[self.test_idx]


def get_task(name: str) -> Task:
    """The task called ``name``, or an :class:`InputError` listing the known ones."""
    if name not in TASKS:
        raise InputError("task", f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


def check_p(task: str, p: int) -> None:
    """Raise :class:`InputError` unless ``p`` is a valid modulus for ``task``."""
    t = get_task(task)
    if t.s5:
        return
    if isinstance(p, bool) or not isinstance(p, int) or not 2 <= p <= MAX_P:
        raise InputError("p", f"must be an integer in [2, {MAX_P}], got {p!r}")
    if t.needs_prime and not is_prime(p):
        raise InputError("p", f"task {task!r} divides mod p, so p must be prime; got {p}")


def dataset_size(task: str, p: int = 113) -> int:
    """Number of examples of ``task`` mod ``p`` without building the dataset."""
    t = get_task(task)
    check_p(task, p)
    if t.s5:
        return S5_ORDER * S5_ORDER
    return p * (p - 1) if t.nonzero_y else p * p


def make_dataset(task: str, p: int = 113) -> Dataset:
    """All examples of ``task`` mod ``p`` (``p`` is ignored for the S5 tasks).

    Raises:
        InputError: unknown task, ``p`` outside ``[2, MAX_P]``, or ``p`` not prime where the task
            divides.
    """
    t = get_task(task)
    check_p(task, p)
    n = S5_ORDER if t.s5 else p
    x, y = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    x, y = x.reshape(-1), y.reshape(-1)  # (n^2,) each, row-major in (x, y)
    if t.nonzero_y:
        keep = y != 0
        x, y = x[keep], y[keep]
    labels = t.answer(x, y, p).to(torch.int64)
    tokens = torch.stack([x, torch.full_like(x, n), y, torch.full_like(x, n + 1)], dim=1)  # (N, 4)
    return Dataset(
        tokens=tokens,
        labels=labels,
        n_vocab=n + 2,
        n_classes=n,
        op_token=n,
        eq_token=n + 1,
        task=task,
        p=None if t.s5 else p,
    )


def split(
    dataset: Dataset,
    *,
    train_size: int | None = None,
    train_frac: float | None = None,
    seed: int = 0,
) -> Split:
    """Choose a random train set (exactly ``train_size`` examples, or ``round(train_frac * N)``).

    The choice depends only on ``seed`` and ``len(dataset)`` (a seeded CPU ``torch.randperm``).

    Raises:
        InputError: neither or both sizes given, or a train set that is empty or the whole
            dataset (there would be no test set).
    """
    n = len(dataset)
    if (train_size is None) == (train_frac is None):
        raise InputError("train_frac", "give exactly one of --train-frac and --train-size")
    if train_frac is not None:
        if isinstance(train_frac, bool) or not (0.0 < float(train_frac) < 1.0):
            raise InputError("train_frac", f"must be a number in (0, 1), got {train_frac!r}")
        train_size = round(float(train_frac) * n)
    if isinstance(train_size, bool) or not isinstance(train_size, int) or not 1 <= train_size < n:
        raise InputError(
            "train_size",
            f"must leave a non-empty train and test set: an integer in [1, {n - 1}] for "
            f"{dataset.task} ({n} examples), got {train_size!r}",
        )
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    train_idx, _ = torch.sort(perm[:train_size])
    test_idx, _ = torch.sort(perm[train_size:])
    return Split(dataset=dataset, train_idx=train_idx, test_idx=test_idx)


# --- S5 -------------------------------------------------------------------------------------


def s5_elements() -> list[tuple[int, ...]]:
    """The 120 permutations of ``(0, .., 4)`` in array form, in id order (lexicographic)."""
    return list(itertools.permutations(range(5)))


def s5_compose(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``a . b``: apply ``a`` first, then ``b``: ``(a . b)[i] = b[a[i]]``."""
    return tuple(b[a[i]] for i in range(len(a)))


def s5_inverse(a: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(a)
    for i, ai in enumerate(a):
        inv[ai] = i
    return tuple(inv)


@cache
def s5_tables() -> dict[str, torch.Tensor]:
    """``(120, 120)`` int64 tables of ``x.y``, ``x.y.x^-1`` and ``x.y.x``, indexed by element id."""
    elems = s5_elements()
    index = {e: i for i, e in enumerate(elems)}
    mul = torch.empty(S5_ORDER, S5_ORDER, dtype=torch.int64)
    conj = torch.empty_like(mul)
    xyx = torch.empty_like(mul)
    for i, a in enumerate(elems):
        a_inv = s5_inverse(a)
        for j, b in enumerate(elems):
            ab = s5_compose(a, b)
            mul[i, j] = index[ab]
            conj[i, j] = index[s5_compose(ab, a_inv)]
            xyx[i, j] = index[s5_compose(ab, a)]
    return {"mul": mul, "conj": conj, "xyx": xyx}


#: added to a run's seed for its random labels, so they are not the split's random stream
RANDOM_LABEL_SEED_OFFSET = 7_919


def random_labels(n: int, n_classes: int, seed: int) -> torch.Tensor:
    """``n`` labels drawn uniformly from ``0 .. n_classes - 1`` with a seeded CPU generator.

    Section 5.1 makes C_mem-only networks by "using completely random labels for the training
    data": a network can fit them only by memorising. The draw depends only on the arguments.
    """
    g = torch.Generator().manual_seed(seed + RANDOM_LABEL_SEED_OFFSET)
    return torch.randint(n_classes, (n,), generator=g)
