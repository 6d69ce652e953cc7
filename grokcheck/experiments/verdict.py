"""A verdict on one of the paper's predictions, and the results table verdicts are read from.

A verdict is a :class:`grokcheck.verdicts.Check`, the row every pillar gives: its ``name`` is
the prediction's label (``"P2 [mul]"``), ``claim`` the rule in words and ``details`` the numbers
behind its ``figure``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from grokcheck.experiments.spec import RunRecord
from grokcheck.verdicts import Check

Row = Mapping[str, Any]
Table = Sequence[Row | RunRecord]


def verdict(
    name: str,
    status: str,
    figure: str,
    source: str = "",
    claim: str = "",
    details: Mapping[str, Any] | None = None,
) -> Check:
    """A prediction's verdict: ``status`` is ``"pass"``, ``"fail"`` or ``"not_run"``."""
    return Check(
        name, source, figure, holds=status == "pass", claim=claim, status=status, details=dict(details or {})
    )


def rows_of(table: Table) -> list[dict[str, Any]]:
    return [dict(r.row()) if isinstance(r, RunRecord) else dict(r) for r in table]


def ok(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def select(rows: list[dict[str, Any]], **eq: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r.get(k) == v for k, v in eq.items())]
