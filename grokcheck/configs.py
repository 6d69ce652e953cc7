"""Frozen dataclass configs as data: rebuilding them from JSON, hashing them, merging on resume.

Configs are written next to every output and inside every checkpoint (:mod:`grokcheck.records`
turns them into JSON); :func:`from_jsonable` turns that JSON back into the config, nested
configs included, so no module keeps a hand-made list of fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from grokcheck.errors import InputError, RunError

T = TypeVar("T")


def from_jsonable(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build ``cls`` from :func:`grokcheck.records.to_jsonable` output, recursing into fields
    whose type is itself a dataclass. Unknown keys are a :class:`RunError` (a foreign file)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RunError(f"the saved config has fields this grokcheck does not know: {unknown}")
    kwargs = {}
    for name, value in data.items():
        t = hints.get(name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(t):
            value = from_jsonable(t, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def config_key(cfg: Any, *, exclude: Iterable[str] = ()) -> str:
    """16 hex digits of sha256 over the config's JSON (sorted keys), top-level ``exclude``
    fields left out: equal keys mean configs that give the same result."""
    from grokcheck.records import to_jsonable

    data = {k: v for k, v in to_jsonable(cfg).items() if k not in set(exclude)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def merge_resumed(
    cls: type[T], saved: Mapping[str, Any], given: Mapping[str, Any], resumable: Iterable[str]
) -> T:
    """The config of a resumed run: the saved one, with the ``given`` fields applied.

    A given field that differs from the saved value must be in ``resumable`` (fields that only
    move where the run stops); any other difference is an :class:`InputError` naming it.
    """
    from grokcheck.records import to_jsonable

    base = from_jsonable(cls, saved)
    now = to_jsonable(base)
    allowed = set(resumable)
    for name, value in given.items():
        if name not in now:
            raise InputError(name, f"does not apply to this run ({cls.__name__})")
        if to_jsonable(value) != now[name] and name not in allowed:
            raise InputError(name, f"differs from the run being resumed ({now[name]!r} there, {value!r} now)")
    return dataclasses.replace(base, **dict(given))
