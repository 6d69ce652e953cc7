"""Pieces every command shares: option types defined once, choices and defaults read from the
library, JSON output, consoles, Ctrl-C.

Commands follow one shape: parse -> build a config -> one library call -> render.
Library errors (:class:`grokcheck.errors.GrokcheckError`) are turned into exit codes by
:func:`grokcheck.cli.main`, not here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.transformer.model.choices import DEVICES

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results on CPU are reproducible).")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Run folder to write into (default: a new folder under runs/)."),
]


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A typer choice type whose members are the library's own names (``values``)."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


Device = choices("Device", DEVICES)

DeviceOpt = Annotated[
    Device, typer.Option("--device", help="auto = CUDA when available, else CPU.", case_sensitive=False)
]


def help_from(texts: Callable[[], Mapping[str, str]]) -> type:
    """A command class whose ``--help`` ends each option's help with ``texts()[name]``.

    ``texts()`` is called only when the help is shown, so it may read the defaults from the
    library's configs (in modules that import torch) without slowing the start-up of every
    command; help and code then read the same fields and cannot disagree.
    """
    from typer.core import TyperCommand

    class LibraryHelpCommand(TyperCommand):
        def format_help(self, ctx: Any, formatter: Any) -> None:
            if not getattr(self, "_library_help", False):
                self._library_help = True
                shown = texts()
                for param in self.params:
                    if param.name in shown:
                        param.help = f"{param.help or ''} {shown[param.name]}".strip()
            super().format_help(ctx, formatter)

    return LibraryHelpCommand


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


class Stop:
    """``stop()`` is true once Ctrl-C was pressed while ``armed`` (see :func:`stop_on_sigint`)."""

    def __init__(self, armed: bool) -> None:
        self.armed = armed
        self.hit = False

    def __call__(self) -> bool:
        return self.hit


@contextlib.contextmanager
def stop_on_sigint(*, armed: bool = True) -> Iterator[Stop]:
    """While inside: the first Ctrl-C makes the yielded ``stop()`` true (the library polls it at
    every training step, saves and returns what finished); a second one, or any Ctrl-C while
    ``stop.armed`` is false (nothing is training, nothing to save), stops at once
    (``KeyboardInterrupt``). Outside the main thread nothing is installed."""
    import signal
    import threading

    stop = Stop(armed)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_sigint(signum: int, frame: object) -> None:
        if stop.hit or not stop.armed:
            raise KeyboardInterrupt
        stop.hit = True
        sys.stderr.write("grokcheck: stopping after the current step (Ctrl-C again to stop at once)\n")
        sys.stderr.flush()

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)


def warn_line(prefix: str) -> Callable[[str], None]:
    """A ``warn`` callback: one line on stderr per problem, prefixed with the command's name."""

    def warn(line: str) -> None:
        sys.stderr.write(f"{prefix}: warning: {' '.join(line.split())}\n")
        sys.stderr.flush()

    return warn
