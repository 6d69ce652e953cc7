"""Small input checks shared by every config: each raises :class:`InputError` naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence

from grokcheck.errors import InputError


def positive_float(name: str, value: float, *, flag: str | None = None) -> float:
    """Return ``value`` as a float if it is finite and > 0."""
    x = _as_float(name, value, flag)
    if not (math.isfinite(x) and x > 0):
        raise InputError(name, f"must be a finite number > 0, got {shown(value)}", flag=flag)
    return x


def finite_float(name: str, value: float, *, flag: str | None = None) -> float:
    """Return ``value`` as a float if it is finite (any sign)."""
    x = _as_float(name, value, flag)
    if not math.isfinite(x):
        raise InputError(name, f"must be a finite number, got {shown(value)}", flag=flag)
    return x


def int_at_least(name: str, value: int, low: int, *, flag: str | None = None) -> int:
    """Return ``value`` if it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(name, f"must be an integer >= {low}, got {shown(value)}", flag=flag)
    return value


def choice(name: str, value: str, options, *, flag: str | None = None) -> str:
    """Return ``value`` if it is one of ``options`` (names, e.g. dtypes or engines)."""
    if value not in options:
        raise InputError(name, f"must be one of {', '.join(options)}, got {shown(value)}", flag=flag)
    return value


def beta(name: str, value: float, *, flag: str | None = None) -> float:
    """Return an Adam beta: a finite number in [0, 1)."""
    b = finite_float(name, value, flag=flag)
    if not 0.0 <= b < 1.0:
        raise InputError(name, f"must be in [0, 1), got {shown(value)}", flag=flag)
    return b


def positive_floats(name: str, values: Sequence[float], *, flag: str | None = None) -> tuple[float, ...]:
    """Return a non-empty tuple of finite floats > 0."""
    if len(values) == 0:
        raise InputError(name, "must list at least one number > 0", flag=flag)
    out = []
    for v in values:
        x = _as_float(name, v, flag)
        if not (math.isfinite(x) and x > 0):
            raise InputError(name, f"every value must be a finite number > 0, got {v!r}", flag=flag)
        out.append(x)
    return tuple(out)


def parse_float_list(name: str, text: str, *, flag: str | None = None) -> tuple[float, ...]:
    """Parse ``"1,2,3"`` into floats > 0 (the CLI's ``--norms``)."""
    parts = [t.strip() for t in text.split(",") if t.strip()]
    values = []
    for t in parts:
        try:
            values.append(float(t))
        except ValueError:
            raise InputError(
                name, f"expected comma-separated numbers > 0, got {t!r} in {text!r}", flag=flag
            ) from None
    return positive_floats(name, values, flag=flag)


def _as_float(name: str, value: object, flag: str | None) -> float:
    if isinstance(value, bool):
        raise InputError(name, f"must be a number, got {shown(value)}", flag=flag)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(name, f"must be a number, got {shown(value)}", flag=flag) from None


# ---------------------------------------------------------------------------------------------
# Ranges: every numeric option has a documented closed range that the computation handles.

#: seeds accepted everywhere: what numpy, torch and Python's random all take
SEED_MAX = 2**63 - 1


def float_in(name: str, value: float, low: float, high: float, *, flag: str | None = None) -> float:
    """Return ``value`` as a float if it is finite and ``low <= value <= high``.

    The message names the range, e.g. ``--kappa: must be a number in [0.01, 100], got 1e+308``.
    """
    x = _as_float(name, value, flag)
    if not (math.isfinite(x) and low <= x <= high):
        raise InputError(name, f"must be a number in [{low:g}, {high:g}], got {shown(value)}", flag=flag)
    return x


def int_in(name: str, value: int, low: int, high: int, *, flag: str | None = None) -> int:
    """Return ``value`` if it is an integer with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(name, f"must be an integer in [{low}, {high}], got {shown(value)}", flag=flag)
    return value


def shown(value: object) -> str:
    """``repr(value)`` for an error message, shortened past 30 characters (10**1000 would fill the
    terminal): a long integer as its digit count, anything else cut with "..."."""
    text = repr(value)
    if len(text) <= 30:
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        return f"an integer of {len(str(abs(value)))} digits"
    return text[:30] + "..."


#: the most steps (and steps between evaluations, checkpoints, windows) any command accepts:
#: 30x the paper's longest run (Figure 5 trains 3e7 full-batch steps), and a count that every
#: step counter and schedule handles exactly
STEPS_MAX = 10**9


def steps(name: str, value: int, low: int = 1, *, flag: str | None = None) -> int:
    """Return a step count: an integer in [``low``, :data:`STEPS_MAX`]."""
    return int_in(name, value, low, STEPS_MAX, flag=flag)


def seed(name: str, value: int, *, flag: str | None = None) -> int:
    """Return a random seed: an integer in [0, 2^63 - 1]."""
    return int_in(name, value, 0, SEED_MAX, flag=flag)


def parse_number_list(
    name: str,
    text: str,
    low: float,
    high: float,
    *,
    max_items: int,
    flag: str | None = None,
) -> tuple[float, ...]:
    """Parse ``"1,2,3"`` strictly: 1 to ``max_items`` numbers, each in ``[low, high]``.

    Unlike :func:`parse_float_list`, an empty item (``"1,,2"``, a trailing comma) is an error.
    """
    values = []
    for t in _items(name, text, max_items, flag, noun="numbers", where=f" in [{low:g}, {high:g}]"):
        try:
            x = float(t)
        except ValueError:
            raise InputError(
                name, f"expected comma-separated numbers, got {t!r} in {text!r}", flag=flag
            ) from None
        if not (math.isfinite(x) and low <= x <= high):
            raise InputError(name, f"every value must be in [{low:g}, {high:g}], got {t!r}", flag=flag)
        values.append(x)
    return tuple(values)


def parse_int_list(
    name: str, text: str, low: int, high: int, *, max_items: int, flag: str | None = None
) -> tuple[int, ...]:
    """Parse ``"1,2,3"`` strictly into 1 to ``max_items`` integers in ``[low, high]`` (exactly:
    ``2^63 - 1`` stays itself); an empty item is an error, as in :func:`parse_number_list`."""
    values = []
    for t in _items(name, text, max_items, flag):
        try:
            x = int(t)
        except ValueError:
            raise InputError(name, f"expected comma-separated integers, got {t!r}", flag=flag) from None
        if not low <= x <= high:
            raise InputError(
                name, f"every value must be an integer in [{low}, {high}], got {shown(x)}", flag=flag
            )
        values.append(x)
    return tuple(values)


def parse_name_list(name: str, text: str, *, max_items: int, flag: str | None = None) -> tuple[str, ...]:
    """Parse ``"a,b"`` strictly into 1 to ``max_items`` names (an empty item is an error)."""
    return tuple(_items(name, text, max_items, flag))


def _items(
    name: str, text: str, max_items: int, flag: str | None, *, noun: str = "values", where: str = ""
) -> list[str]:
    """``text`` split at commas into 1 to ``max_items`` non-empty, stripped items."""
    if not isinstance(text, str) or not text.strip():
        sep = "" if where else " comma-separated"
        raise InputError(name, f"must list 1 to {max_items}{sep} {noun}{where}", flag=flag)
    parts = [t.strip() for t in text.split(",")]
    if len(parts) > max_items:
        raise InputError(name, f"at most {max_items} {noun} are supported, got {len(parts)}", flag=flag)
    for i, t in enumerate(parts):
        if not t:
            raise InputError(name, f"item {i + 1} of {text!r} is empty", flag=flag)
    return parts
