"""What a report holds, independent of how it is rendered (HTML or Markdown).

A :class:`Report` is read from a folder by :mod:`grokcheck.report.collect` and rendered by
:mod:`grokcheck.report.html_page` and :mod:`grokcheck.report.markdown`; both renderers show the
same rows, figures and facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: a verdict's status as the report shows it
STATUS_LABEL = {"pass": "PASS", "fail": "FAIL", "not_run": "NOT RUN"}
#: the overall verdict (:func:`grokcheck.verify.overall`), and "" where a folder has no verdicts
OVERALL_LABEL = {
    "pass": "PASS",
    "fail": "FAIL",
    "broken": "BROKEN",
    "incomplete": "INCOMPLETE",
    "": "NO VERDICTS",
}
KINDS = ("verify", "experiment", "train")


@dataclass(frozen=True)
class Quote:
    """A sentence of the paper, and where it is (``"Section 4.2"``)."""

    text: str
    where: str


@dataclass(frozen=True)
class VerdictRow:
    """One verdict: the claim, its status, the paper's words, the rule and the numbers behind it.

    Attributes:
        name: the verdict's name (``"P2"``, ``"P3 (D_crit) [sub]"``) or a check's claim.
        status: ``"pass"``, ``"fail"`` or ``"not_run"``.
        source: where the claim is in the paper (``"Figure 4, Section 5.2"``).
        rule: the claim as it is tested, in words, with its thresholds.
        measured: the numbers that decided it, in one line.
        quotes: the paper's sentences the rule tests (empty where none is recorded).
        thresholds: where the rule's numbers come from.
        details: the full numbers (a verdict's ``details``), shown folded.
        group: the part of the verification it belongs to (``"Predictions"``, ``"Checks"``).
        kind: ``"claim"`` (a claim of the paper) or ``"self"`` (a self-check of the toolkit's
            own arithmetic), as :class:`grokcheck.verify.Check` has it.
    """

    name: str
    status: str
    source: str
    rule: str
    measured: str
    quotes: tuple[Quote, ...] = ()
    thresholds: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    kind: str = "claim"

    @property
    def label(self) -> str:
        return STATUS_LABEL.get(self.status, self.status.upper())

    @property
    def detailed(self) -> bool:
        """Whether there is more to show than the summary table's row."""
        return bool(self.quotes or self.thresholds or self.details or (self.rule and self.rule != self.name))

    @property
    def terms(self) -> list[tuple[str, str]]:
        """The detail card's labelled lines, in order, those with a value only."""
        pairs = (
            ("In the paper", self.source),
            ("Rule", self.rule),
            ("Thresholds from", self.thresholds),
            ("Measured", self.measured),
        )
        return [(term, value) for term, value in pairs if value]


@dataclass(frozen=True)
class FigureRef:
    """A PNG of the folder: ``path`` on disk, a short ``title``, a ``caption`` and ``alt`` text."""

    path: Path
    title: str
    caption: str
    alt: str
    group: str = ""


@dataclass(frozen=True)
class Facts:
    """A titled table of (name, value) rows: a configuration, a grid, versions, wall times."""

    title: str
    rows: tuple[tuple[str, str], ...]
    note: str = ""


@dataclass(frozen=True)
class Report:
    """Everything one report shows.

    Attributes:
        kind: ``"verify"``, ``"experiment"`` or ``"train"`` (:data:`KINDS`).
        root: the folder it was read from.
        title: the page's heading.
        status: the overall verdict (``"pass"``, ``"fail"``, ``"incomplete"``), ``""`` for none.
        verdicts: every verdict and check, in the order they were given.
        figures: the folder's PNGs, in reading order.
        facts: configuration, grid, scale, run counts, wall times, software versions.
        notes: sentences a reader needs (what was recomputed, what is missing, what disagrees).
        generated: when the report was built (ISO 8601, seconds).
        version: the grokcheck version that built it.
    """

    kind: str
    root: Path
    title: str
    status: str
    verdicts: tuple[VerdictRow, ...]
    figures: tuple[FigureRef, ...]
    facts: tuple[Facts, ...]
    notes: tuple[str, ...]
    generated: str
    version: str

    @property
    def overall_label(self) -> str:
        return OVERALL_LABEL.get(self.status, self.status.upper())

    def counts(self) -> dict[str, int]:
        """How many verdicts have each status (every status present, zeros included)."""
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUS_LABEL}

    def tally(self) -> str:
        """``"12 pass, 1 fail, 1 not run of 14 rows"``; ``""`` without verdicts."""
        if not self.verdicts:
            return ""
        c = self.counts()
        return f"{c['pass']} pass, {c['fail']} fail, {c['not_run']} not run of {len(self.verdicts)} rows"


def details_text(details: dict[str, Any]) -> str:
    """A verdict's ``details`` as indented JSON, floats to 6 significant figures."""
    import json

    return json.dumps(_rounded(details), indent=1, ensure_ascii=False, default=str)


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}") if x == x and abs(x) != float("inf") else str(x)
    if isinstance(x, dict):
        return {str(k): _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    return x
