"""Datasets: every operation against a brute-force formula, S5 against the group laws."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grokcheck.errors import InputError
from grokcheck.transformer.model import tasks
from grokcheck.transformer.model.tasks import (
    S5_ORDER,
    TASKS,
    dataset_size,
    make_dataset,
    s5_elements,
    s5_tables,
    split,
)

MOD_TASKS = [name for name, t in TASKS.items() if not t.s5]
S5_TASKS = [name for name, t in TASKS.items() if t.s5]


def brute(task: str, x: int, y: int, p: int) -> int | None:
    """The answer by plain Python integer arithmetic; ``None`` where the pair is not in the task.

    Division is checked through multiplication (the answer z is the unique z with z*y = x),
    independently of the code's Fermat inverse.
    """
    if task == "add":
        return (x + y) % p
    if task == "sub":
        return (x - y) % p
    if task == "mul":
        return (x * y) % p
    if task in ("div", "div-odd"):
        if task == "div-odd" and y % 2 == 0:
            return (x - y) % p
        if y == 0:
            return None
        (z,) = [z for z in range(p) if (z * y) % p == x]
        return z
    if task == "sq-add":
        return (x**2 + y**2) % p
    if task == "quad1":
        return (x**2 + x * y + y**2) % p
    if task == "quad2":
        return (x**2 + x * y + y**2 + x) % p
    if task == "cube1":
        return (x**3 + x * y) % p
    if task == "cube2":
        return (x**3 + x * y**2 + y) % p
    raise AssertionError(task)


@pytest.mark.parametrize("task", MOD_TASKS)
@pytest.mark.parametrize("p", [2, 7, 23])
def test_mod_tasks_match_brute_force(task: str, p: int) -> None:
    ds = make_dataset(task, p)
    expected = {(x, y): brute(task, x, y, p) for x in range(p) for y in range(p)}
    expected = {k: v for k, v in expected.items() if v is not None}
    got = {(int(t[0]), int(t[2])): int(lab) for t, lab in zip(ds.tokens, ds.labels, strict=True)}
    assert got == expected
    assert len(ds) == len(expected) == dataset_size(task, p)
    assert (ds.tokens[:, 1] == p).all() and (ds.tokens[:, 3] == p + 1).all()
    assert ds.n_vocab == p + 2 and ds.n_classes == p and ds.op_token == p and ds.eq_token == p + 1
    assert ds.tokens.dtype == torch.int64 and ds.labels.dtype == torch.int64


@pytest.mark.parametrize("task", [t for t in MOD_TASKS if not TASKS[t].needs_prime])
def test_composite_modulus_allowed_where_no_division(task: str) -> None:
    p = 12
    ds = make_dataset(task, p)
    for t, lab in zip(ds.tokens[::7], ds.labels[::7], strict=True):
        assert int(lab) == brute(task, int(t[0]), int(t[2]), p)


@given(p=st.integers(2, 60), task=st.sampled_from(MOD_TASKS), data=st.data())
def test_random_pairs_match_brute_force(p: int, task: str, data) -> None:
    if TASKS[task].needs_prime:
        p = data.draw(st.sampled_from([q for q in range(2, 61) if tasks.is_prime(q)]))
    ds = make_dataset(task, p)
    i = data.draw(st.integers(0, len(ds) - 1))
    x, y = int(ds.tokens[i, 0]), int(ds.tokens[i, 2])
    assert int(ds.labels[i]) == brute(task, x, y, p)


def test_paper_sizes() -> None:
    ds = make_dataset("add", 113)
    assert len(ds) == 12769 and ds.n_vocab == 115  # Appendix A
    assert dataset_size("div", 113) == 113 * 112
    assert dataset_size("s5-conj") == 14400


# --- S5 ------------------------------------------------------------------------------------


def test_s5_group_laws() -> None:
    mul = s5_tables()["mul"]  # (120, 120)
    n = S5_ORDER
    ids = torch.arange(n)
    # associativity: (a b) c = a (b c) for all 120^3 triples
    a, b, c = torch.meshgrid(ids, ids, ids, indexing="ij")
    assert torch.equal(mul[mul[a, b], c], mul[a, mul[b, c]])
    # identity: id 0 is the identity permutation
    assert s5_elements()[0] == (0, 1, 2, 3, 4)
    assert torch.equal(mul[0], ids) and torch.equal(mul[:, 0], ids)
    # inverses: every row holds the identity exactly once (a Latin square)
    assert ((mul == 0).sum(dim=1) == 1).all()
    for row in mul:
        assert sorted(row.tolist()) == list(range(n))
    # non-abelian, so the composition convention matters
    assert not torch.equal(mul, mul.T)


def test_s5_convention_is_apply_left_first() -> None:
    from sympy.combinatorics import Permutation

    elems = s5_elements()
    mul = s5_tables()["mul"]
    for i, j in [(1, 2), (5, 77), (119, 3), (42, 42)]:
        a, b = elems[i], elems[j]
        product = elems[int(mul[i, j])]
        # "apply a, then b": the image of k is b[a[k]]; sympy's Permutation product agrees
        assert product == tuple(b[a[k]] for k in range(5))
        assert product == tuple((Permutation(list(a)) * Permutation(list(b))).array_form)


def test_s5_derived_tables() -> None:
    t = s5_tables()
    mul = t["mul"]
    inv = (mul == 0).int().argmax(dim=1)  # inv[x] with x . inv[x] = e
    x, y = torch.meshgrid(torch.arange(S5_ORDER), torch.arange(S5_ORDER), indexing="ij")
    assert torch.equal(t["conj"], mul[mul[x, y], inv[x]])
    assert torch.equal(t["xyx"], mul[mul[x, y], x])
    for task, table in (("s5-mul", mul), ("s5-conj", t["conj"]), ("s5-xyx", t["xyx"])):
        ds = make_dataset(task, 7)  # p is ignored
        assert ds.p is None and ds.n_vocab == 122 and ds.n_classes == 120
        assert torch.equal(ds.labels, table[ds.tokens[:, 0], ds.tokens[:, 2]])
        assert (ds.tokens[:, 1] == 120).all() and (ds.tokens[:, 3] == 121).all()


def test_s5_conjugation_preserves_cycle_type() -> None:
    elems = s5_elements()
    conj = s5_tables()["conj"]

    def cycle_type(s: tuple[int, ...]) -> tuple[int, ...]:
        seen, lengths = set(), []
        for start in range(5):
            n, k = 0, start
            while k not in seen:
                seen.add(k)
                k, n = s[k], n + 1
            if n:
                lengths.append(n)
        return tuple(sorted(lengths))

    for i, j in itertools.product(range(0, 120, 13), range(0, 120, 7)):
        assert cycle_type(elems[int(conj[i, j])]) == cycle_type(elems[j])


# --- bad input -----------------------------------------------------------------------------


def test_unknown_task() -> None:
    with pytest.raises(InputError, match="--task: unknown task 'foo'"):
        make_dataset("foo", 7)


@pytest.mark.parametrize("p", [1, 0, -3, tasks.MAX_P + 1])
def test_bad_p(p: int) -> None:
    with pytest.raises(InputError, match="--p: must be an integer in"):
        make_dataset("add", p)


@pytest.mark.parametrize("task", ["div", "div-odd"])
def test_division_needs_prime(task: str) -> None:
    with pytest.raises(InputError, match="p must be prime; got 12"):
        make_dataset(task, 12)


# --- split ---------------------------------------------------------------------------------


def test_split_partitions_and_is_seeded() -> None:
    ds = make_dataset("add", 23)
    s = split(ds, train_frac=0.3, seed=0)
    assert len(s.train_idx) == round(0.3 * 529) and len(s.test_idx) == 529 - len(s.train_idx)
    both = torch.cat([s.train_idx, s.test_idx])
    assert torch.equal(torch.sort(both).values, torch.arange(529))
    assert torch.equal(s.train_tokens, ds.tokens[s.train_idx])
    assert torch.equal(s.test_labels, ds.labels[s.test_idx])
    assert torch.equal(split(ds, train_frac=0.3, seed=0).train_idx, s.train_idx)
    assert not torch.equal(split(ds, train_frac=0.3, seed=1).train_idx, s.train_idx)
    assert len(split(ds, train_size=100, seed=0).train_idx) == 100


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"train_size": 529}, "--train-size"),
        ({"train_size": 600}, "--train-size"),
        ({"train_size": 0}, "--train-size"),
        ({"train_frac": 1.0}, "--train-frac"),
        ({"train_frac": 0.0}, "--train-frac"),
        ({}, "--train-frac"),
        ({"train_frac": 0.5, "train_size": 10}, "--train-frac"),
    ],
)
def test_split_bad_sizes(kwargs: dict, flag: str) -> None:
    ds = make_dataset("add", 23)
    with pytest.raises(InputError) as e:
        split(ds, seed=0, **kwargs)
    assert str(e.value).startswith(flag + ":")
