"""Reading one result file, trusting nothing in it.

A result file ``results/<key>.json`` holds ``{"key": ..., "spec": ..., "record": ...}``
(:class:`~grokcheck.experiments.store.ExperimentStore` writes it). Files can be copied, edited
or damaged after they were written, and every verdict counts what it reads, so
:func:`load_result` accepts a file only when

- its name is the key of the spec inside it, and its ``"key"`` field says the same (a copy
  under another name, or a spec edited to another size or seed, is refused);
- the record's own spec equals that spec;
- every field has its type and its range: integers are integers (not booleans), accuracies
  lie in [0, 1], losses are non-negative (or ``null``: not finite), the step count lies in
  [0, max_steps], ``stopped`` is a stop reason and agrees with ``converged``, each curve point
  has its fields and the curve's steps rise;
- it has no field this grokcheck does not know (a file from another version).

The checked values are then built into the run's dataclasses by the same JSON round trip as
every saved config (:func:`grokcheck.configs.from_jsonable`).

Otherwise it raises :class:`BadResult` with one line saying what is wrong; the store then
treats the run as not finished, so a rerun trains it again, and ``verify --from`` reports the
file and leaves it out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

from grokcheck.configs import from_jsonable
from grokcheck.errors import RunError
from grokcheck.experiments.spec import KINDS, RunRecord, RunSpec
from grokcheck.transformer.training.metrics import CIRCUIT_FIELDS, PRECISION_FIELDS, PROGRESS_FIELDS

#: why a finished run stopped (an interrupted run never gets a result file)
STOP_REASONS = ("converged", "max_steps", "diverged")
LOSS_DTYPES = ("float32", "float64")
SEED_MAX = 2**63 - 1


class BadResult(ValueError):
    """A result file that cannot be counted; the message is one line saying why."""


def load_result(path: str | Path) -> RunRecord:
    """The run record in ``path``, checked as the module docstring says (else :class:`BadResult`)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise BadResult(f"unreadable ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    except ValueError:
        raise BadResult("not valid JSON") from None
    if (
        not isinstance(d, dict)
        or not isinstance(d.get("spec"), dict)
        or not isinstance(d.get("record"), dict)
    ):
        raise BadResult("not a result file (needs 'key', 'spec' and 'record')")
    spec = parse_spec(d["spec"])
    key = spec.key()
    if path.stem != key:
        raise BadResult(f"its name is not its run's key {key} (a copy, or an edited spec)")
    if d.get("key") != key:
        raise BadResult(f"its 'key' field {d.get('key')!r} is not its run's key {key}")
    record = parse_record(d["record"])
    if record.spec != spec:
        raise BadResult("its record belongs to another run than its spec")
    return record


def parse_spec(d: dict[str, Any]) -> RunSpec:
    kw = dict(d)
    for k in ("experiment", "task"):
        _need(k in kw and isinstance(kw[k], str) and kw[k] != "", f"spec.{k} must be a name")
    _need(kw.get("kind") in KINDS, f"spec.kind must be one of {', '.join(KINDS)}")
    _need(kw.get("loss_dtype", "float64") in LOSS_DTYPES, "spec.loss_dtype must be float32 or float64")
    for k, low in (("p", 2), ("train_size", 1), ("max_steps", 1), ("eval_every", 1)):
        _int(kw.get(k), f"spec.{k}", low)
    for k in ("pretrain_max_steps", "convergence_window"):
        if k in kw:
            _int(kw[k], f"spec.{k}", 1)
    _int(kw.get("seed"), "spec.seed", 0, SEED_MAX)
    _number(kw.get("weight_decay"), "spec.weight_decay", low=0.0)
    for k in ("lr", "eps"):
        if k in kw:
            _number(kw[k], f"spec.{k}", low=0.0, open_low=True)
    return _built(RunSpec, kw, "spec")


def parse_record(d: dict[str, Any]) -> RunRecord:
    spec = parse_spec(d.get("spec") if isinstance(d.get("spec"), dict) else {})
    kw: dict[str, Any] = dict(d)
    kw["spec"] = spec
    _int(kw.get("steps"), "steps", 0, spec.max_steps)
    _need(isinstance(kw.get("converged"), bool), "converged must be true or false")
    _need(kw.get("stopped") in STOP_REASONS, f"stopped must be one of {', '.join(STOP_REASONS)}")
    _need(kw["converged"] == (kw["stopped"] == "converged"), "converged disagrees with stopped")
    for k in ("train_acc", "test_acc"):
        _number(kw.get(k), k, low=0.0, high=1.0)
    for k in ("train_loss", "test_loss"):
        kw[k] = _nan_if_none(_number(kw.get(k), k, low=0.0, optional=True))
    _number(kw.get("param_norm"), "param_norm", low=0.0)
    for k in ("correct_logit", "o_t", "o_m", "o_t_test", "o_m_test", "o_t_prev", "o_m_prev", "kappa"):
        _number(kw.get(k), k, optional=True)
    for k in ("restricted_loss", "restricted_loss_test", "excluded_loss", "excluded_loss_test"):
        _number(kw.get(k), k, low=0.0, optional=True)
    _keys(kw.get("key_frequencies"), "key_frequencies", spec.p)
    _number(kw.get("trig_fraction"), "trig_fraction", low=0.0, high=1.0, optional=True)
    _need(
        kw.get("gen_only") is None or isinstance(kw["gen_only"], bool), "gen_only must be true, false or null"
    )
    _number(kw.get("wall_s", 0.0), "wall_s", low=0.0)
    kw["curve"] = _curve(kw.get("curve", []), kw["steps"], spec.p)
    return _built(RunRecord, kw, "record")


def _curve(points: Any, steps: int, p: int) -> list[dict[str, Any]]:
    """The checked curve points (a point is a training
    :class:`~grokcheck.transformer.training.metrics.Row`: its curve fields, and any other
    field where a point has it; a field of no row is refused when the points are built)."""
    _need(isinstance(points, list), "curve must be a list")
    out: list[dict[str, Any]] = []
    for i, c in enumerate(points):
        where = f"curve[{i}]"
        _need(isinstance(c, dict), f"{where} must be an object with the curve's fields")
        last = out[-1]["step"] if out else -1
        _int(c.get("step"), f"{where}.step", last + 1, steps)
        for k in ("train_acc", "test_acc"):
            _number(c.get(k), f"{where}.{k}", low=0.0, high=1.0)
        _number(c.get("param_norm"), f"{where}.param_norm", low=0.0)
        point = dict(c)
        for k in ("train_loss", "test_loss"):
            point[k] = _nan_if_none(_number(c.get(k), f"{where}.{k}", low=0.0, optional=True))
        for k in CIRCUIT_FIELDS + PRECISION_FIELDS:
            _number(c.get(k), f"{where}.{k}", optional=True)
        for k in [f for f in PROGRESS_FIELDS if f != "key_frequencies"] + ["wall_s"]:
            _number(c.get(k), f"{where}.{k}", low=0.0, optional=True)
        _keys(c.get("key_frequencies"), f"{where}.key_frequencies", p)
        out.append(point)
    return out


T = TypeVar("T")


def _built(cls: type[T], checked: dict[str, Any], what: str) -> T:
    """``cls`` from its checked JSON fields; a field this grokcheck does not know is a BadResult."""
    try:
        return from_jsonable(cls, checked, what=what)
    except RunError as e:
        raise BadResult(str(e)) from None


def _keys(v: Any, name: str, p: int) -> None:
    if v is not None:
        _need(isinstance(v, list), f"{name} must be a list of integers or null")
        for k in v:
            _int(k, f"{name}[]", 1, p)


def _need(ok: bool, problem: str) -> None:
    if not ok:
        raise BadResult(problem)


def _int(v: Any, name: str, low: int, high: int | None = None) -> int:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high)
    _need(ok, f"{name} must be an integer in [{low}, {high if high is not None else 'inf'}], got {v!r}")
    return v


def _number(
    v: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    optional: bool = False,
) -> float | None:
    if v is None and optional:
        return None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok and low is not None:
        ok = v > low if open_low else v >= low
    if ok and high is not None:
        ok = v <= high
    what = "a finite number" + (" or null" if optional else "")
    if low is not None or high is not None:
        what += f" in {'(' if open_low else '['}{low if low is not None else '-inf'}, "
        what += f"{high if high is not None else 'inf'}]"
    _need(ok, f"{name} must be {what}, got {v!r}")
    return v


def _nan_if_none(v: Any) -> Any:
    return float("nan") if v is None else v
