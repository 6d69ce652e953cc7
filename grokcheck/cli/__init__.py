"""The ``grokcheck`` command (typer). A thin layer: parse, build a config, call the library, render.

:func:`main` is the console-script entry point. It turns every error into a one-line message
on stderr and an exit status: 2 for usage errors (bad flags, values out of range), 1 for
runtime failures, 130 for Ctrl-C; never a traceback for a :class:`GrokcheckError`.
Command modules import torch, sympy, scipy and matplotlib only inside command bodies, so
``grokcheck --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exc

from grokcheck import __version__
from grokcheck.cli import sim, theorem, train, verify
from grokcheck.errors import GrokcheckError

app = typer.Typer(
    name="grokcheck",
    help="Verify 'Explaining grokking through circuit efficiency' (Varma et al., 2023).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"grokcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Check the paper's theorems, reproduce its toy model, and train its transformer."""


app.add_typer(theorem.app, name="theorem")
app.command("verify")(verify.verify)
app.command("sim")(sim.sim)
app.command("train")(train.train)

# Each pillar adds its command here (one import above, one line below).


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every failure to a one-line message and exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = app(args=args, prog_name="grokcheck", standalone_mode=False)
    except click_exc.UsageError as e:  # bad flag, bad value, unknown command
        if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:  # a bare group: show its help
            sys.stdout.write(e.ctx.get_help() + "\n")
            raise SystemExit(2) from None
        _error(e.format_message(), e.ctx.command_path if e.ctx else "grokcheck")
        code = 2
    except GrokcheckError as e:
        _error(str(e), "grokcheck")
        code = e.exit_code
    except click_exc.ClickException as e:
        _error(e.format_message(), "grokcheck")
        code = e.exit_code
    except (click_exc.Abort, KeyboardInterrupt):
        _error("interrupted", "grokcheck")
        code = 130
    except BrokenPipeError:
        code = 1
    raise SystemExit(code if isinstance(code, int) else 0)


def _error(message: str, where: str) -> None:
    text = " ".join(message.split())  # one line, whatever click produced
    sys.stderr.write(f"{where}: error: {text}\n")
    sys.stderr.flush()
