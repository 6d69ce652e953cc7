"""The one verdict row every check in grokcheck gives, and the overall verdict of many rows.

A dependency-free module: the theory, toy-model, transformer and experiment checks all build
:class:`Check` rows (an experiment's verdict on a prediction is one too), and
:mod:`grokcheck.verify` gathers them, without importing each other.

Two kinds of row: a **claim** of the paper (a theorem, a figure's caption, a prediction), and a
**self**-check of the toolkit (its own arithmetic against an independent computation). A claim
that fails is a finding about the paper; a self-check that fails means something here is
broken, and then no claim row can be trusted. :func:`overall` says which, and
``grokcheck verify`` exits with :data:`EXIT_STATUS` of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pass", "fail", "not_run")
KINDS = ("claim", "self")
#: the exit status of ``grokcheck verify`` for each overall status
EXIT_STATUS = {"pass": 0, "broken": 1, "fail": 3, "incomplete": 4}


@dataclass(frozen=True)
class Check:
    """One verified claim. ``figure`` is the measured number or short fact that backs ``holds``.

    ``status`` defaults to ``"pass"``/``"fail"`` from ``holds``; ``"not_run"`` forces ``holds``
    to false. ``kind`` is ``"claim"`` (the paper's) or ``"self"`` (the toolkit's own arithmetic).
    ``claim`` is the rule ``figure`` is judged by, in words, where ``name`` is only a label (a
    prediction's verdict: ``"P2 [mul]"``); ``details`` are the numbers behind ``figure``
    (JSON values), where the rule gives them.
    """

    name: str
    source: str  # where the claim is in the paper, e.g. "Theorem D.4" or "Figure 2a"
    figure: str
    holds: bool
    claim: str = ""
    status: str | None = None
    kind: str = "claim"
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        status = self.status or ("pass" if self.holds else "fail")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "holds", status == "pass")


def overall(rows: tuple[Check, ...] | list[Check]) -> str:
    """``"broken"`` if a self-check fails, ``"fail"`` if a claim fails, ``"incomplete"`` if a row
    was not run (or there are none), else ``"pass"``."""
    if any(c.status == "fail" and c.kind == "self" for c in rows):
        return "broken"
    if any(c.status == "fail" for c in rows):
        return "fail"
    if not rows or any(c.status == "not_run" for c in rows):
        return "incomplete"
    return "pass"
