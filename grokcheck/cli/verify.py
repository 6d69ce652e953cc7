"""``grokcheck verify``: every verification that exists, one row each, one verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from grokcheck.cli.common import JsonOpt, console, emit_json, stop_on_sigint, warn_line
from grokcheck.cli.progress import Reporter

_MARK = {"pass": "[bold green]PASS[/]", "fail": "[bold red]FAIL[/]", "not_run": "[yellow]NOT RUN[/]"}
_OVERALL = {
    "pass": "[bold green]PASS[/]: every claim checked holds",
    "fail": "[bold red]FAIL[/]: a claim of the paper does not hold (the toolkit's own checks pass)",
    "broken": "[bold red]BROKEN[/]: a self-check of the toolkit fails, so no row can be trusted",
    "incomplete": "[yellow]INCOMPLETE[/]: some rows were not run",
}


def verify(
    json_out: JsonOpt = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Longer checks, and run the quick-scale experiments for P1-P4 "
            "(~48 min measured on 2 shared CPU cores).",
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

    Exit status: 0 every row holds; 3 a claim of the paper does not hold (a finding, the
    toolkit's own checks pass); 1 a self-check of the toolkit fails (something is broken) or
    the run failed; 4 some rows were not run; 2 bad usage; 130 interrupted.
    """
    from grokcheck.errors import InputError
    from grokcheck.experiments.checks import DEFAULT_FULL_DIR
    from grokcheck.verify import EXIT_STATUS, run_verify

    if full and from_dir is not None:
        raise InputError(
            "from_dir", "give --full (run the experiments) or --from DIR (read them), not both", flag="--from"
        )
    if out is not None and not full:
        raise InputError("out", "only applies with --full")
    rows = _Rows(full=full, from_dir=from_dir, table=not json_out)
    # Ctrl-C stops at once until the experiments train; then it lets them save first
    with stop_on_sigint(armed=False) as stop, Reporter("verify", every_s=30.0) as progress:

        def on_sweep(name: str, ev: Any) -> None:
            stop.armed = True
            progress.sweep(name, ev)

        result = run_verify(
            quick=not full,
            experiments="run" if full else ("from" if from_dir is not None else None),
            experiments_dir=from_dir if from_dir is not None else out,
            progress=on_sweep,
            warn=warn_line("verify"),
            stop=stop,
            on_check=rows.add,
        )
    if json_out:
        emit_json(result)
    else:
        rows.summary(result)
    if full and stop():
        sys.stderr.write(
            f"grokcheck: interrupted; the experiments' finished runs are kept in {out or DEFAULT_FULL_DIR}: "
            "run the same command again to resume\n"
        )
        raise typer.Exit(130)
    if full:  # verify.json, report.html and report.md beside the experiments
        _write_report(out or DEFAULT_FULL_DIR, result)
    if not result.holds:
        raise typer.Exit(EXIT_STATUS[result.status])


def _write_report(root: Path, result: Any) -> None:
    """The one-page report of the verification; a problem writing it is a warning, not a failure."""
    from grokcheck.errors import GrokcheckError
    from grokcheck.report import write_report

    try:
        for path in write_report(root, verify=result):
            sys.stderr.write(f"verify: report {path}\n")
    except (GrokcheckError, OSError) as e:
        sys.stderr.write(f"verify: warning: no report written: {' '.join(str(e).split())}\n")


class _Rows:
    """The checks as they finish: a table row each on stdout (unless ``--json``), and with
    ``--full``, which runs for many minutes, a line each on stderr too."""

    def __init__(self, *, full: bool, from_dir: Path | None, table: bool) -> None:
        self.full, self.table, self.done = full, table, 0
        self.out = console()
        if table:
            where = f", from {from_dir}" if from_dir else ""
            self.out.print(f"grokcheck verify ({'full' if full else 'quick'}{where})")

    def add(self, c: Any) -> None:
        from rich.markup import escape

        self.done += 1
        if self.full:
            sys.stderr.write(f"verify: check {self.done} {c.status}: {c.name[:70]}\n")
            sys.stderr.flush()
        if self.table:
            text = escape(f"{_source(c):<14} {c.name}: {c.figure}")
            self.out.print(f"  {_MARK[c.status]}  {text}", soft_wrap=True)

    def summary(self, result: Any) -> None:
        claims = [c for c in result.checks if c.kind == "claim"]
        own = [c for c in result.checks if c.kind == "self"]
        self.out.print(
            f"claims of the paper: {sum(c.status == 'pass' for c in claims)}/{len(claims)} hold, "
            f"{sum(c.status == 'not_run' for c in claims)} not run; "
            f"self-checks: {sum(c.status == 'pass' for c in own)}/{len(own)} pass"
        )
        self.out.print(_OVERALL[result.status])


def _source(c: Any) -> str:
    return f"self-check: {c.source}" if c.kind == "self" else c.source
