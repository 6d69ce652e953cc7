"""``grokcheck.configs``: one hash and one JSON round trip for configs and results.

The keys are compared with sha256 of JSON text written out here by hand, so a change of what a
result file's name hashes cannot pass unnoticed.
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from grokcheck.configs import config_key, from_jsonable
from grokcheck.errors import RunError
from grokcheck.experiments.spec import RunSpec
from grokcheck.records import to_jsonable


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


SPEC_JSON = (
    '{"convergence_window": 2000, "eps": 1e-08, "eval_every": 100, "experiment": "ungrok", '
    '"kind": "ungrok", "loss_dtype": "float64", "lr": 0.001, "max_steps": 5000, "p": 113, '
    '"pretrain_max_steps": 20000, "seed": 0, "task": "add", "train_size": 1000, "weight_decay": %s}'
)


def spec(**change) -> RunSpec:
    fields = dict(experiment="ungrok", kind="ungrok", task="add", p=113, train_size=1000)
    fields.update(weight_decay=1.0, seed=0, max_steps=5000, lr=1e-3, eps=1e-8, loss_dtype="float64")
    fields.update(eval_every=100, pretrain_max_steps=20_000, convergence_window=2000)
    return RunSpec(**{**fields, **change})


def test_a_run_s_key_hashes_its_fields_as_result_files_are_named():
    assert spec().key() == config_key(spec()) == sha16(SPEC_JSON % "1.0")
    assert spec(weight_decay=1).key() == sha16(SPEC_JSON % "1.0")  # a float field keyed as a float
    assert spec(weight_decay=-0.0).key() == spec(weight_decay=0.0).key() == sha16(SPEC_JSON % "0.0")
    assert spec(seed=1).key() != spec().key()


@dataclasses.dataclass(frozen=True)
class Inner:
    n: int
    x: float = 0.5


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner
    points: tuple[Inner, ...] = ()
    maybe: Inner | None = None
    sizes: tuple[int, ...] | None = None
    rate: float = 1.0


def test_only_float_fields_are_keyed_as_floats_and_mappings_hash_as_given():
    assert config_key(Inner(1, 2)) == config_key(Inner(1, 2.0)) == sha16('{"n": 1, "x": 2.0}')
    assert config_key(Inner(1, 2)) != config_key(Inner(2, 2))
    assert config_key({"b": 1, "a": [1, 2]}) == sha16('{"a": [1, 2], "b": 1}')  # as a pretraining cache
    assert config_key(Inner(1, 2), exclude=("x",)) == sha16('{"n": 1}')


def test_the_round_trip_rebuilds_nested_configs_and_tuples_of_them():
    cfg = Outer(Inner(1), (Inner(2, 0.25), Inner(3)), Inner(4), (5, 6), 2.0)
    back = from_jsonable(Outer, to_jsonable(cfg))
    assert back == cfg and isinstance(back.points[1], Inner) and back.sizes == (5, 6)
    assert from_jsonable(Outer, {"inner": {"n": 1}}) == Outer(Inner(1))


def test_an_unknown_field_at_any_depth_is_refused_by_name():
    data = to_jsonable(Outer(Inner(1), (Inner(2), Inner(3))))
    data["points"][1]["colour"] = "red"
    with pytest.raises(
        RunError, match=r"the result\.points\[1\] has fields this grokcheck does not know: colour"
    ):
        from_jsonable(Outer, data, what="the result")
    with pytest.raises(RunError, match="the saved config has fields this grokcheck does not know: a, b"):
        from_jsonable(Inner, {"n": 1, "b": 0, "a": 0})
