"""JSON conversion, atomic writes and run folders."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from grokcheck.errors import InputError, RunError
from grokcheck.records import atomic_write_json, atomic_write_text, dumps
from grokcheck.runs import prepare_run_dir
from grokcheck.validate import parse_float_list


@dataclass(frozen=True)
class _R:
    a: float
    b: tuple
    c: object


def test_dumps_handles_numpy_and_nonfinite():
    d = json.loads(dumps(_R(float("nan"), (np.float64(1.5), np.int64(2)), np.arange(3))))
    assert d == {"a": None, "b": [1.5, 2], "c": [0, 1, 2]}


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"k": 1})
    atomic_write_text(tmp_path / "x.json", "new")
    assert (tmp_path / "x.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_failed_write_keeps_old_file(tmp_path):
    atomic_write_text(tmp_path / "x.json", "old")
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"k": object()})
    assert (tmp_path / "x.json").read_text() == "old"


def test_run_dir_never_overwrites(tmp_path):
    out = tmp_path / "run"
    assert prepare_run_dir("t", out) == out
    (out / "summary.json").write_text("{}")
    with pytest.raises(RunError, match="--resume"):
        prepare_run_dir("t", out)
    assert prepare_run_dir("t", out, resume=True) == out
    with pytest.raises(RunError):
        prepare_run_dir("t", tmp_path / "missing", resume=True)


def test_parse_float_list():
    assert parse_float_list("norms", "1, 2,3") == (1.0, 2.0, 3.0)
    for bad in ("", "1,x", "1,-1", "nan", "1,inf"):
        with pytest.raises(InputError):
            parse_float_list("norms", bad)


def test_atomic_write_mode_follows_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "m.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "m.txt").stat().st_mode & 0o777 == 0o644
