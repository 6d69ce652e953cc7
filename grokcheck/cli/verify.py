"""``grokcheck verify``: every verification that exists, one row each, one verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import JsonOpt, console, emit_json

_MARK = {"pass": "[bold green]PASS[/]", "fail": "[bold red]FAIL[/]", "not_run": "[yellow]NOT RUN[/]"}
_OVERALL = {"pass": "[bold green]PASS[/]", "fail": "[bold red]FAIL[/]", "incomplete": "[yellow]INCOMPLETE[/]"}


def verify(
    json_out: JsonOpt = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Longer checks, and run the quick-scale experiments for P1-P4 (under an hour on 2 cores).",
        ),
    ] = False,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="Add the P1-P4 rows from finished experiment folders under DIR."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="With --full: folder for the experiments (resumed) [default: runs/verify-full]."
        ),
    ] = None,
) -> None:
    """Run every check (theorems, toy model, transformer, and with --full/--from the predictions P1-P4).

    Exit 0 only if every row passes; a row that was not run makes the verdict INCOMPLETE (exit 1).
    """
    from grokcheck.cli.progress import SweepReporter
    from grokcheck.errors import InputError
    from grokcheck.verify import run_verify

    if full and from_dir is not None:
        raise InputError(
            "from_dir", "give --full (run the experiments) or --from DIR (read them), not both", flag="--from"
        )
    if out is not None and not full:
        raise InputError("out", "only applies with --full")
    experiments = "run" if full else ("from" if from_dir is not None else None)
    where = from_dir if from_dir is not None else out
    if from_dir is not None and not from_dir.is_dir():
        raise InputError("from_dir", f"no such folder: {from_dir}", flag="--from")
    kw: dict[str, Any] = {
        "quick": not full,
        "experiments": experiments,
        "experiments_dir": where,
        "progress": SweepReporter("verify"),  # plain lines on stderr, terminal or not
    }
    out_c = console()
    done: list[Any] = []

    def note(c: Any) -> None:
        # --full runs for many minutes: each finished check is a line on stderr too
        done.append(c)
        if full:
            sys.stderr.write(f"verify: check {len(done)} {c.status}: {c.name[:70]}\n")
            sys.stderr.flush()

    if json_out:
        result = run_verify(**kw, on_check=note)
        emit_json(result)
    else:
        from rich.markup import escape

        out_c.print(
            f"grokcheck verify ({'full' if full else 'quick'}{', from ' + str(from_dir) if from_dir else ''})"
        )
        result = run_verify(
            **kw,
            on_check=lambda c: (
                note(c),
                out_c.print(
                    f"  {_MARK[c.status]}  " + escape(f"{c.source:<14} {c.name}: {c.figure}"), soft_wrap=True
                ),
            ),
        )
        n_pass = sum(c.status == "pass" for c in result.checks)
        n_not = sum(c.status == "not_run" for c in result.checks)
        out_c.print(f"{n_pass}/{len(result.checks)} checks hold, {n_not} not run: {_OVERALL[result.status]}")
    if not result.holds:
        raise typer.Exit(1)
