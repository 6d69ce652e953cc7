"""A report as Markdown (CommonMark with GitHub's tables): the HTML page's content, with the
figures linked by their paths relative to the Markdown file instead of embedded."""

from __future__ import annotations

import os
import re
from pathlib import Path

from grokcheck.report.content import Report, VerdictRow, details_text

#: the first line of every Markdown report: how a later run knows the file is a report
GENERATOR = "<!-- generator: grokcheck report (this file is rewritten by grokcheck report) -->"
PAPER = (
    "Varma, Shah, Kenton, Kramár and Kumar (2023), *Explaining grokking through circuit "
    "efficiency*, arXiv:2309.02390"
)
_SPECIAL = re.compile(r"([\\`*\[\]<|])")


def md(text: str) -> str:
    """``text`` as one line of literal Markdown: markup characters escaped, no raw HTML."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: str) -> str:
    """``text`` as a code span (the fence is longer than any run of backticks inside)."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _status(v: VerdictRow) -> str:
    return f"**{v.label}**"


def _link(path: Path, base: Path) -> str:
    try:
        rel = Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive: no relative path exists
        rel = path.resolve().as_posix()
    return f"<{rel}>" if re.search(r"[\s()<>]", rel) else rel


def render_markdown(report: Report, at: Path | None = None) -> str:
    """The Markdown text of ``report``; figure links are relative to folder ``at`` (default: the
    report's folder, where ``report.md`` goes)."""
    base = Path(at) if at is not None else report.root
    lines = [
        GENERATOR,
        f"# {md(report.title)}",
        "",
        f"**Overall: {report.overall_label}.** {report.tally()}".rstrip() + ("." if report.verdicts else ""),
        "",
        f"Checks the claims of {PAPER}.",
        f"Folder {code(report.root)} ({report.kind}); built {report.generated} "
        f"by grokcheck {md(report.version)}.",
    ]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {md(n)}" for n in report.notes]
    lines += ["", "## Verdicts", ""]
    if not report.verdicts:
        lines.append("This folder has no verdicts.")
    groups = list(dict.fromkeys(v.group for v in report.verdicts))
    for group in groups:
        if len(groups) > 1 or group:
            lines += [f"### {md(group or 'Verdicts')}", ""]
        lines += ["| Verdict | Status | In the paper | Measured |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {md(v.name)} | {_status(v)} | {md(v.source)} | {md(v.measured)} |"
            for v in report.verdicts
            if v.group == group
        ]
        lines.append("")
    detailed = [v for v in report.verdicts if v.detailed]
    if detailed:
        lines += ["## The verdicts in detail", ""]
    for v in detailed:
        lines += [f"### {md(v.name)}: {v.label}", ""]
        lines += [f"> “{md(q.text)}” ({md(q.where)})\n" for q in v.quotes]
        for term, value in v.terms:
            lines.append(f"- **{term}:** {md(value)}")
        if v.details:
            numbers = details_text(v.details)
            fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", numbers)), default=0))
            lines += ["", "<details><summary>All numbers</summary>", "", f"{fence}json", numbers, fence]
            lines += ["", "</details>"]
        lines.append("")
    lines += ["## Figures", ""]
    if not report.figures:
        lines += ["This folder has no figures.", ""]
    for f in report.figures:
        where = f" ({md(f.group)})" if f.group else ""
        lines += [
            f"![{md(f.alt)}]({_link(f.path, base)})",
            "",
            f"*{md(f.title)}{where}: {md(f.caption)}.*",
            "",
        ]
    lines += ["## Configuration and software", ""]
    for f in report.facts:
        lines += [f"### {md(f.title)}", ""]
        if f.note:
            lines += [f"{md(f.note)}.", ""]
        if f.rows:
            lines += ["| | |", "| --- | --- |"] + [f"| {md(k)} | {md(v)} |" for k, v in f.rows] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
