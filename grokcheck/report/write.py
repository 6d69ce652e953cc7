"""Writing a report, and the rule that keeps it from overwriting anything else.

A report file is written (atomically: a temp file, then a rename) only where no file is, or
where the file there is a report grokcheck wrote: an HTML page with
:data:`~grokcheck.report.html_page.GENERATOR` in its head, or a Markdown file starting with
:data:`~grokcheck.report.markdown.GENERATOR`. Anything else is left untouched and the write is
refused before either file is written.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokcheck.errors import InputError, RunError
from grokcheck.records import atomic_write_json, atomic_write_text, to_jsonable
from grokcheck.report.collect import VERIFY_RECORD, build_report, folder_kind
from grokcheck.report.content import Report
from grokcheck.report.facts import environment
from grokcheck.report.html_page import GENERATOR as HTML_MARK
from grokcheck.report.html_page import render_html
from grokcheck.report.markdown import GENERATOR as MD_MARK
from grokcheck.report.markdown import render_markdown

FORMATS = ("html", "md")
REPORT_NAMES = {"html": "report.html", "md": "report.md"}
#: how far into a file its generator mark is looked for
_HEAD_BYTES = 4096


def is_report(path: Path) -> bool:
    """Whether ``path`` is a report grokcheck wrote (its generator mark near its start)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return False
    return HTML_MARK.encode() in head or head.startswith(MD_MARK.encode())


def report_paths(root: Path, out: Path | None, formats: Sequence[str]) -> dict[str, Path]:
    """Where each format goes: ``root/report.html`` and ``root/report.md`` by default; with
    ``out`` a folder, the same names in it; with ``out`` a file name, that file for a single
    format, or its ``.html`` and ``.md`` siblings for both."""
    if out is None:
        return {f: root / REPORT_NAMES[f] for f in formats}
    out = Path(out)
    if out.is_dir():
        return {f: out / REPORT_NAMES[f] for f in formats}
    if len(formats) == 1:
        return {formats[0]: out}
    return {f: out.with_suffix("." + f) for f in formats}


def _check_target(path: Path) -> None:
    if not path.parent.is_dir():
        raise InputError("out", f"no such folder: {path.parent}")
    if path.is_dir():
        raise InputError("out", f"{path} is a folder")
    if path.exists() and not is_report(path):
        raise RunError(
            f"{path} exists and is not a report grokcheck wrote; it is left untouched "
            "(move it, or write the report elsewhere)"
        )


def write_report(
    root: str | Path,
    *,
    out: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    verify: Any = None,
) -> tuple[Path, ...]:
    """Write the report of folder ``root`` (HTML and/or Markdown); returns the paths written.

    Args:
        root: a verification, experiment or training-run folder
            (:func:`grokcheck.report.collect.folder_kind`).
        out: where to write (:func:`report_paths`); default: inside ``root``.
        formats: ``"html"``, ``"md"`` or both.
        verify: a :class:`grokcheck.verify.VerifyResult` to record in ``root/verify.json`` first
            (:func:`write_verify_record`), so the report shows every row of the verification.

    Raises:
        InputError: ``root`` is not such a folder, an unknown format, ``out`` in a missing folder.
        RunError: a file that is not a grokcheck report is where a report would go.
    """
    root = Path(root)
    if verify is not None:
        write_verify_record(root, verify)
    return report_folder(root, out=out, formats=formats).files


@dataclass(frozen=True)
class WrittenReport:
    """A report written to ``files``, and what ``grokcheck report --json`` says of it."""

    report: Report
    files: tuple[Path, ...]

    def to_json(self) -> dict[str, Any]:
        r = self.report
        return {
            "kind": r.kind,
            "status": r.status or None,
            "counts": r.counts(),
            "files": [str(p) for p in self.files],
        }


def report_folder(
    root: str | Path, *, out: str | Path | None = None, formats: Sequence[str] = FORMATS
) -> WrittenReport:
    """``grokcheck report``: check ``root`` and every target, then build the report and write it
    in each format (arguments as for :func:`write_report`)."""
    paths = plan(root, out, formats)  # every target checked before anything is written
    report = build_report(Path(root))
    return WrittenReport(report, save(report, paths))


def plan(root: str | Path, out: str | Path | None, formats: Sequence[str]) -> dict[str, Path]:
    """Check ``root``, the formats and every target before anything is written; returns the
    path of each format."""
    root = Path(root)
    folder_kind(root)
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InputError("format", f"choose from {', '.join(FORMATS)}, got {', '.join(bad) or 'none'}")
    paths = report_paths(root, Path(out) if out is not None else None, formats)
    for path in paths.values():
        _check_target(path)
    return paths


def save(report: Report, paths: dict[str, Path]) -> tuple[Path, ...]:
    """Render ``report`` in each format of ``paths`` and write it there (atomically)."""
    for fmt, path in paths.items():
        if fmt == "html":
            text = render_html(report)
        else:
            text = render_markdown(report, at=path.parent)
        atomic_write_text(path, text)
    return tuple(paths.values())


def write_verify_record(root: str | Path, result: Any) -> Path:
    """Record a verification in ``root/verify.json``: ``verify --json``'s object, with the
    software versions and when it finished (``environment``, ``written``).

    An existing ``verify.json`` is replaced only if it is such a record.
    """
    path = Path(root) / VERIFY_RECORD
    if path.exists() and not _is_verify_record(path):
        raise RunError(f"{path} exists and is not a verification record; it is left untouched")
    data = {
        **to_jsonable(result),
        "environment": environment(),
        "written": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    atomic_write_json(path, data)
    return path


def _is_verify_record(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("checks"), list)
