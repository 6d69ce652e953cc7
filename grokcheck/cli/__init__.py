"""The ``grokcheck`` command (typer). A thin layer: parse, build a config, call the library, render.

:func:`main` is the console-script entry point. It turns every error into a one-line message
on stderr and an exit status: 2 for usage errors (bad flags, values out of range), 1 for
runtime failures, 130 for Ctrl-C; never a traceback for a :class:`GrokcheckError`.
Command modules import torch, sympy, scipy and matplotlib only inside command bodies, so
``grokcheck --help`` stays fast.
"""

from __future__ import annotations

import errno
import sys

import typer

try:  # typer >= 0.20 vendors its own click; Abort and Exit then live in typer.exceptions
    from typer._click import exceptions as click_exc
    from typer.exceptions import Abort, Exit
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exc
    from click.exceptions import Abort, Exit

from grokcheck import __version__
from grokcheck.cli import circuits as circuits_cli
from grokcheck.cli import experiment as experiment_cli
from grokcheck.cli import report as report_cli
from grokcheck.cli import sim, theorem, train, verify
from grokcheck.cli.common import help_from
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
app.command("train", cls=help_from(train.help_defaults))(train.train)
app.add_typer(experiment_cli.app, name="experiment")
app.command("circuits")(circuits_cli.circuits)
app.command("report")(report_cli.report)

# Each pillar adds its command here (one import above, one line below).


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every failure to a one-line message and exit status.

    2 for usage errors, 1 for runtime failures (an ``OSError`` from the system, such as a full
    disk under stdout, is one: its message, no traceback; and a bug: "internal error", with the
    traceback saved to a file, or shown when ``GROKCHECK_TRACEBACK=1``), 130 for Ctrl-C.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # click's own main() is bypassed: it turns Ctrl-C into a silent exit status
        command = typer.main.get_command(app)
        with command.make_context("grokcheck", args) as ctx:
            command.invoke(ctx)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        code = 0
    except Exit as e:  # typer.Exit(n) from a command, --help, --version
        code = e.exit_code
    except click_exc.UsageError as e:  # bad flag, bad value, unknown command
        if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:  # a bare group: show its help
            sys.stdout.write(e.ctx.get_help() + "\n")
            _error(
                f"missing command; choose one of those listed by {e.ctx.command_path} --help",
                e.ctx.command_path,
            )
            raise SystemExit(2) from None
        _error(e.format_message(), e.ctx.command_path if e.ctx else "grokcheck")
        code = 2
    except GrokcheckError as e:
        _error(str(e), "grokcheck")
        code = e.exit_code
    except click_exc.ClickException as e:
        _error(e.format_message(), "grokcheck")
        code = e.exit_code
    except KeyboardInterrupt:
        _error("interrupted", "grokcheck")
        code = 130
    except (Abort, EOFError):  # a prompt closed (no input), or typer.Abort from a command
        _error("aborted", "grokcheck")
        code = 1
    except BrokenPipeError:
        _silence_stdout()
        code = 1
    except OSError as e:  # the system refused a read or write (a full disk, a file that vanished)
        if _is_stdout(e):
            _silence_stdout()
        _error(_os_message(e), "grokcheck")
        code = 1
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the boundary: a bug must not print a traceback
        _error(_internal_error(e), "grokcheck")
        code = 1
    raise SystemExit(code if isinstance(code, int) else 0)


def _os_message(e: OSError) -> str:
    what = e.strerror or type(e).__name__
    if e.filename is not None:
        return f"{e.filename}: {what}"
    return f"cannot write the output: {what}" if _is_stdout(e) else what


def _is_stdout(e: OSError) -> bool:
    return e.filename is None and e.errno in (errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EDQUOT, errno.EFBIG)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's own flush at exit cannot fail a second time."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _internal_error(e: BaseException) -> str:
    """One line for an unexpected exception; the traceback goes to a file (or stderr on request)."""
    import os
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    what = f"internal error: {type(e).__name__}: {e}"
    if os.environ.get("GROKCHECK_TRACEBACK") == "1":
        sys.stderr.write(text)
        return what
    try:
        fd, path = tempfile.mkstemp(prefix="grokcheck-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        where = f"traceback saved to {path}"
    except OSError:
        where = "could not save the traceback"
    return f"{what} ({where}; set GROKCHECK_TRACEBACK=1 to print it); please report this"


def _error(message: str, where: str) -> None:
    text = " ".join(message.split())  # one line, whatever click produced
    sys.stderr.write(f"{where}: error: {text}\n")
    sys.stderr.flush()
