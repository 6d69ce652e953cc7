"""``grokcheck verify``: every verification that exists, one row each, one verdict."""

from __future__ import annotations

from typing import Annotated

import typer

from grokcheck.cli.common import JsonOpt, console, emit_json, verdict


def verify(
    json_out: JsonOpt = False,
    full: Annotated[
        bool, typer.Option("--full", help="Run the longer versions of every check (minutes).")
    ] = False,
) -> None:
    """Run every check (theorems, toy model, transformer); exit 0 only if all hold."""
    from grokcheck.verify import run_verify

    out = console()
    if json_out:
        result = run_verify(quick=not full)
        emit_json(result)
    else:
        out.print(f"grokcheck verify ({'full' if full else 'quick'})")
        result = run_verify(
            quick=not full,
            on_check=lambda c: out.print(
                f"  {verdict(c.holds)}  {c.source:<14} {c.name}: {c.figure}", soft_wrap=True
            ),
        )
        n_pass = sum(c.holds for c in result.checks)
        out.print(f"{n_pass}/{len(result.checks)} checks hold: {verdict(result.holds)}")
    if not result.holds:
        raise typer.Exit(1)
