"""Pieces every command shares: option types defined once, JSON output, consoles.

Commands follow one shape: parse -> build a config -> one library call -> render.
Library errors (:class:`grokcheck.errors.GrokcheckError`) are turned into exit codes by
:func:`grokcheck.cli.main`, not here.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results on CPU are reproducible).")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Run folder to write into (default: a new folder under runs/)."),
]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DeviceOpt = Annotated[
    Device, typer.Option("--device", help="auto = CUDA when available, else CPU.", case_sensitive=False)
]


def emit_json(result: Any) -> None:
    """Print ``result`` (a dataclass or plain data) as one JSON object on stdout."""
    from grokcheck.records import dumps

    sys.stdout.write(dumps(result) + "\n")
    sys.stdout.flush()


def console(stderr: bool = False):
    """A rich console bound to the current stdout/stderr (so test capture works)."""
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)


def verdict(holds: bool) -> str:
    return "[bold green]PASS[/]" if holds else "[bold red]FAIL[/]"


def fmt(x: float | None, digits: int = 6) -> str:
    """Compact number for tables: ``None`` as '-', otherwise ``digits`` significant figures."""
    if x is None:
        return "-"
    return f"{x:.{digits}g}"
