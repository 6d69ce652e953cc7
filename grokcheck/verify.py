"""``grokcheck verify``: run every verification that exists and give one verdict.

Each pillar exposes ``checks(quick: bool) -> list[Check]`` in a ``checks`` module listed in
:data:`PROVIDERS`. A check is one row: what was claimed, the figure measured, and PASS/FAIL.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

#: modules with a ``checks(quick)`` function, in the order their rows are shown
PROVIDERS: tuple[str, ...] = (
    "grokcheck.theory.checks",
    "grokcheck.sim.checks",
    "grokcheck.transformer.checks",
)


@dataclass(frozen=True)
class Check:
    """One verified claim. ``figure`` is the measured number or short fact that backs ``holds``."""

    name: str
    source: str  # where the claim is in the paper, e.g. "Theorem D.4" or "Figure 2a"
    figure: str
    holds: bool
    detail: str = ""


@dataclass(frozen=True)
class VerifyResult:
    checks: tuple[Check, ...]
    holds: bool
    quick: bool


def run_verify(
    *,
    quick: bool = True,
    providers: tuple[str, ...] | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> VerifyResult:
    """Run every provider's checks; ``holds`` is true only if every check holds."""
    rows: list[Check] = []
    for name in PROVIDERS if providers is None else providers:
        module = importlib.import_module(name)
        for check in module.checks(quick=quick):
            rows.append(check)
            if on_check is not None:
                on_check(check)
    return VerifyResult(checks=tuple(rows), holds=bool(rows) and all(c.holds for c in rows), quick=quick)
