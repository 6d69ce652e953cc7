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


def from_jsonable(cls: type[T], data: Mapping[str, Any], *, what: str = "the saved config") -> T:
    """Build ``cls`` from :func:`grokcheck.records.to_jsonable` output: a field whose type is a
    dataclass (or ``tuple[<dataclass>, ...]``) is rebuilt from its mapping (or list of them),
    other lists become tuples. Unknown keys, at any depth, are a :class:`RunError` naming
    ``what`` and the keys (a foreign or newer file); values are not checked here."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RunError(f"{what} has fields this grokcheck does not know: {', '.join(unknown)}")
    return cls(**{name: _rebuilt(hints.get(name), value, f"{what}.{name}") for name, value in data.items()})


def _rebuilt(hint: Any, value: Any, what: str) -> Any:
    if isinstance(value, Mapping) and (cls := _dataclass_in(hint)) is not None:
        return from_jsonable(cls, value, what=what)
    if isinstance(value, list):
        item = _item_type(hint)
        return tuple(_rebuilt(item, v, f"{what}[{i}]") for i, v in enumerate(value))
    return value


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass ``hint`` names, alone or in a union with ``None``."""
    return next((t for t in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(t)), None)


def _item_type(hint: Any) -> Any:
    """``X`` of ``tuple[X, ...]`` (alone or in a union with ``None``), else ``None``."""
    for t in (hint, *typing.get_args(hint)):
        args = typing.get_args(t)
        if typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def config_key(cfg: Any, *, exclude: Iterable[str] = ()) -> str:
    """16 hex digits of sha256 over the config's JSON (sorted keys), top-level ``exclude``
    fields left out: equal keys mean configs that give the same result.

    A top-level field annotated ``float`` is keyed as a float, so ``1`` and ``1.0`` (or
    ``-0.0`` and ``0.0``) give one key.
    """
    from grokcheck.records import to_jsonable

    data = {k: v for k, v in to_jsonable(cfg).items() if k not in set(exclude)}
    if dataclasses.is_dataclass(cfg):
        hints = typing.get_type_hints(type(cfg))
        for k, v in data.items():
            if hints.get(k) is float and isinstance(v, (int, float)) and not isinstance(v, bool):
                data[k] = float(v) + 0.0  # + 0.0 turns -0.0 into 0.0
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
