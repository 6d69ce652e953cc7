"""Properties of the experiment layer: chunking, result-file round trips, run keys, and P2's
monotonicity (Section 5.2, Figure 7), each on drawn inputs."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from grokcheck.errors import InputError
from grokcheck.experiments import predictions as P
from grokcheck.experiments.grid import chunks
from grokcheck.experiments.resultfile import load_result
from grokcheck.experiments.spec import KINDS, RunSpec
from grokcheck.experiments.store import ExperimentStore
from tests.experiments.fakes import fake_record
from tests.experiments.test_predictions import SIZES, row

EXPERIMENTS = ("ungrok", "tasks", "semigrok", "efficiency")


def specs(*, max_p: int = 60) -> st.SearchStrategy[RunSpec]:
    """Valid specs; ``max_steps`` >= 1000 so that the fake record's flags agree."""

    @st.composite
    def build(draw) -> RunSpec:
        p = draw(st.integers(5, max_p))
        return RunSpec(
            experiment=draw(st.sampled_from(EXPERIMENTS)),
            kind=draw(st.sampled_from(KINDS)),
            task=draw(st.sampled_from(("add", "sub", "mul"))),
            p=p,
            train_size=draw(st.integers(1, p * p - 1)),
            weight_decay=draw(st.floats(0.0, 5.0, allow_nan=False)),
            seed=draw(st.integers(0, 2**63 - 1)),
            max_steps=draw(st.integers(1000, 10**6)),
            lr=draw(st.floats(1e-5, 1e-1)),
        )

    return build()


# ---------------------------------------------------------------- chunks


def _batch_fields(s: RunSpec) -> tuple:
    # what members of one ensemble share: every field but train size, weight decay and seed
    d = dataclasses.asdict(s)
    return tuple(sorted((k, v) for k, v in d.items() if k not in ("train_size", "weight_decay", "seed")))


@st.composite
def spec_lists(draw) -> list[RunSpec]:
    # few distinct values per field, so groups, ties and repeated specs all occur
    n = draw(st.integers(0, 40))
    return [
        RunSpec(
            experiment=draw(st.sampled_from(("ungrok", "efficiency"))),
            kind=draw(st.sampled_from(("ungrok", "scratch"))),
            task="add",
            p=31,
            train_size=draw(st.integers(50, 60)),
            weight_decay=draw(st.sampled_from((0.5, 1.0))),
            seed=draw(st.integers(0, 2)),
            max_steps=draw(st.sampled_from((1000, 2000))),
        )
        for _ in range(n)
    ]


@settings(max_examples=60)
@given(spec_lists(), st.integers(1, 7))
def test_chunks_cover_every_spec_once_in_full_sorted_pieces(specs_, max_chunk):
    out = chunks(specs_, max_chunk)
    assert Counter(s for c in out for s in c) == Counter(specs_)  # each spec exactly once
    assert all(1 <= len(c) <= max_chunk for c in out)
    assert all(len({_batch_fields(s) for s in c}) == 1 for c in out)  # one ensemble per chunk

    # a group's chunks are consecutive, in order of the group's first spec in the input, sorted
    # by (size, weight decay, seed) across its chunks, and all full but the last
    firsts = list(dict.fromkeys(_batch_fields(s) for s in specs_))
    groups = [_batch_fields(c[0]) for c in out]
    assert list(dict.fromkeys(groups)) == firsts
    for g in firsts:
        pieces = [c for c, k in zip(out, groups, strict=True) if k == g]
        members = [s for c in pieces for s in c]
        n = sum(_batch_fields(s) == g for s in specs_)
        assert len(pieces) == math.ceil(n / max_chunk)
        assert all(len(c) == max_chunk for c in pieces[:-1])
        order = [(s.train_size, s.weight_decay, s.seed) for s in members]
        assert order == sorted(order)


@settings(max_examples=30)
@given(spec_lists(), st.integers(1, 7), st.randoms(use_true_random=False))
def test_chunks_do_not_depend_on_the_input_order(specs_, max_chunk, rnd):
    """Members sharing (size, weight decay, seed) within a group are equal specs, so the chunks
    are the same whatever order the specs come in (only the groups' order may change)."""
    shuffled = list(specs_)
    rnd.shuffle(shuffled)
    assert Counter(chunks(shuffled, max_chunk)) == Counter(chunks(specs_, max_chunk))
    assert chunks(specs_, max_chunk) == chunks(list(specs_), max_chunk)


@pytest.mark.parametrize("bad", [0, -1])
def test_chunks_refuse_a_non_positive_size(bad):
    with pytest.raises(InputError, match="must be a positive integer"):
        chunks([], bad)


# ---------------------------------------------------------------- result files


@settings(max_examples=25)
@given(specs())
def test_a_result_file_round_trips(spec):
    record = fake_record(spec)
    with tempfile.TemporaryDirectory() as tmp:
        store = ExperimentStore(tmp)
        path = store.write(record)
        assert path.name == f"{spec.key()}.json"
        assert store.read(spec) == record
        assert load_result(path) == record
        # negative control: the same file with its test accuracy out of range is refused
        d = json.loads(path.read_text())
        d["record"]["test_acc"] = 1.5
        path.write_text(json.dumps(d))
        assert store.read(spec) is None


# ---------------------------------------------------------------- keys


def _other(name: str, value):
    """A valid value of field ``name`` different from ``value``."""
    if name == "kind":
        return next(k for k in KINDS if k != value)
    if name == "loss_dtype":
        return "float32" if value == "float64" else "float64"
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, int):
        return value + 1
    return value * 2 + 1e-3  # floats here are non-negative, so this differs


@settings(max_examples=25)
@given(specs())
@example(RunSpec("ungrok", "ungrok", "add", 31, 100, 1.0, 0, 1000))
def test_every_field_changes_the_key(spec):
    key = spec.key()
    assert len(key) == 16 and int(key, 16) >= 0
    for f in dataclasses.fields(RunSpec):
        changed = dataclasses.replace(spec, **{f.name: _other(f.name, getattr(spec, f.name))})
        assert changed != spec and changed.key() != key, f.name
    assert RunSpec(**dataclasses.asdict(spec)).key() == key


@settings(max_examples=25)
@given(specs(), st.integers(0, 5))
def test_equal_specs_have_equal_keys(spec, whole):
    """``weight_decay=1`` and ``1.0`` (or ``-0.0`` and ``0.0``) are equal specs: one run, one key."""
    a = dataclasses.replace(spec, weight_decay=float(whole), lr=1.0)
    b = dataclasses.replace(spec, weight_decay=whole, lr=1)
    assert a == b and a.key() == b.key()
    z = dataclasses.replace(spec, weight_decay=-0.0)
    assert z == dataclasses.replace(spec, weight_decay=0.0)
    assert z.key() == dataclasses.replace(spec, weight_decay=0.0).key()


# ---------------------------------------------------------------- P2 is monotone


@st.composite
def sharp_tables(draw) -> tuple[list[dict], float, float]:
    """A Figure-7-like table that passes P2, and the smallest and largest seed D_crit in it.

    Each (weight decay, seed) falls as 1 / (1 + (D_s / D')^w) with w >= 20 and D_s within
    [D, 1.1 D], D in [500, 2000]: at SIZES (steps of ~1.25) the mean is <= 0.012 a step
    below D and >= 0.988 a step above 1.1 D, so D_hi / D_lo <= ~2.7 < 4 and P2 passes.
    """
    d_crit = draw(st.floats(500.0, 2000.0))
    width = draw(st.floats(20.0, 60.0))
    wds = draw(st.lists(st.sampled_from((0.5, 1.0, 2.0)), min_size=1, max_size=2, unique=True))
    n_seeds = draw(st.integers(1, 3))
    crits = {(wd, s): d_crit * (1 + 0.1 * draw(st.floats(0.0, 1.0))) for wd in wds for s in range(n_seeds)}
    table = [
        row(d=d, wd=wd, seed=s, acc=1 / (1 + (c / d) ** width)) for (wd, s), c in crits.items() for d in SIZES
    ]
    return table, d_crit, max(crits.values())


@settings(max_examples=40)
@given(sharp_tables(), st.randoms(use_true_random=False))
def test_p2_stays_passed_when_accuracy_rises_above_the_crossing(case, rnd):
    """Raising test accuracies (to at most 1) at every D' where every seed is already >= 0.5
    cannot turn P2 from pass to fail: there the mean is >= 0.5 > LOW, so D_lo (the end of the
    run of means <= LOW) is unchanged; the means at and above D_hi stay >= HIGH, so D_hi can
    only move down, never below the 0.5 crossing, which lies above D_lo. The fall stays sharp
    and no wider."""
    table, _, top_crit = case
    assert P.p2_ungrokking(table).status == "pass"
    raised = [
        dict(r, test_acc=r["test_acc"] + rnd.random() * (1 - r["test_acc"]))
        if r["train_size"] >= top_crit
        else r
        for r in table
    ]
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in raised)
    assert P.p2_ungrokking(raised).status == "pass"


@settings(max_examples=40)
@given(sharp_tables(), st.randoms(use_true_random=False))
def test_p2_stays_passed_when_accuracy_falls_below_the_crossing(case, rnd):
    """Lowering test accuracies (to at least 0) at every D' where every seed is below 0.5: there
    the mean is < 0.5 < HIGH, so D_hi is unchanged, and D_lo can only move up, never past the
    0.5 crossing, which lies below D_hi."""
    table, low_crit, _ = case
    lowered = [
        dict(r, test_acc=r["test_acc"] * rnd.random()) if r["train_size"] < low_crit else r for r in table
    ]
    assert P.p2_ungrokking(lowered).status == "pass"


def test_p2_monotonicity_is_one_sided():
    """Negative control: raising accuracies below the crossing (here to 1) does break P2."""
    table = [row(d=d, seed=s, acc=1 / (1 + (1000 / d) ** 30)) for d in SIZES for s in (0, 1)]
    assert P.p2_ungrokking(table).status == "pass"
    flat = [dict(r, test_acc=1.0) for r in table]
    assert P.p2_ungrokking(flat).status == "fail"
