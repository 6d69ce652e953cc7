"""``grokcheck report``: one self-contained page (HTML and/or Markdown) summarising a folder."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from grokcheck.cli.common import JsonOpt, emit_json


class Format(str, Enum):
    html = "html"
    md = "md"
    both = "both"


def report(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="A 'verify --full' folder, an experiment folder or a 'train' run folder.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File (or folder) to write; with --format both, PATH's .html and .md siblings "
            "[default: DIR/report.html and DIR/report.md].",
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="html, md or both [default: both].", case_sensitive=False)
    ] = Format.both,
    json_out: JsonOpt = False,
) -> None:
    """Write a report of DIR: every verdict with the paper's sentence it tests, its rule and
    numbers, the figures, the configuration and the software versions.

    The HTML page is self-contained (no scripts, nothing loaded from a network). A file that is
    not a report grokcheck wrote is never overwritten.
    """
    from grokcheck.report.write import report_folder

    formats = ("html", "md") if fmt is Format.both else (fmt.value,)
    written = report_folder(folder, out=out, formats=formats)
    if json_out:
        emit_json(written.to_json())
        return
    for p in written.files:
        typer.echo(str(p))
