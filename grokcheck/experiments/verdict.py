"""A verdict on one of the paper's predictions, and the results table verdicts are read from."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from grokcheck.experiments.spec import RunRecord

Row = Mapping[str, Any]
Table = Sequence[Row | RunRecord]


@dataclass(frozen=True)
class Verdict:
    """One prediction's verdict. ``figure``: the measured numbers in one line; ``source``: the paper."""

    name: str
    status: str  # "pass" | "fail" | "not_run"
    figure: str
    source: str = ""
    claim: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.status == "pass"


def rows_of(table: Table) -> list[dict[str, Any]]:
    return [dict(r.row()) if isinstance(r, RunRecord) else dict(r) for r in table]


def ok(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def select(rows: list[dict[str, Any]], **eq: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r.get(k) == v for k, v in eq.items())]
