"""Domain exceptions. Library code raises these; only ``grokcheck.cli`` turns them into exit codes."""

from __future__ import annotations


class GrokcheckError(Exception):
    """Base class for every error a user can act on. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class InputError(GrokcheckError, ValueError):
    """Bad user input (a value out of range, an unknown name). Exit status 2.

    ``name`` is the parameter's name as the library knows it (``kappa``, ``n_labels``); the CLI
    shows it as the flag (``--kappa``, ``--n-labels``) unless ``flag`` is given explicitly.
    """

    exit_code = 2

    def __init__(self, name: str, problem: str, *, flag: str | None = None) -> None:
        self.name = name
        self.problem = problem
        self.flag = flag or "--" + name.replace("_", "-")
        super().__init__(f"{self.flag}: {problem}")


class RunError(GrokcheckError):
    """A runtime failure (a missing or corrupt checkpoint, a run folder in the way). Exit status 1."""

    exit_code = 1


class FolderError(RunError):
    """A folder given on the command line cannot be used as asked: it is a file, lies under a
    file, has a name the file system refuses, or holds something this command did not write.
    A usage error (exit status 2): nothing was written, the user picks another folder."""

    exit_code = 2
