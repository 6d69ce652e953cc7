"""Fuzz the whole CLI: every command, every option, hostile values.

The command tree is introspected (``typer.main.get_command(grokcheck.cli.app)``, walking
groups), so commands and options added later are fuzzed without touching this file. For each
command, hypothesis draws a subset of its options and gives each a value from: floats with
extremes (1e308, 5e-324, -0.0, nan, inf), huge and negative integers (2^63, 10^30), odd
strings (empty, whitespace, unicode, ``1,,2``, leading dashes). The property, for every draw:

- exit status in {0, 1, 2};
- no ``Traceback`` in stdout or stderr, and no "internal error" (an unexpected exception);
- on failure exactly one line on stderr.

Commands whose valid draws could start long work (``MUST_FAIL``: training, sweeps, the full
verify, and the toy simulator whose default run takes seconds) get at least one value that
cannot parse in every draw, so they must fail fast; ``verify`` only gets invalid extras. Each
example has a deadline. ``FUZZ_EXAMPLES`` (default 40 per command) scales the budget; the
number of cases run is printed at the end of the module (``-s`` shows it).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from enum import Enum
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import grokcheck.cli

#: command paths (space-joined) whose valid draws could run for long: every draw must fail
MUST_FAIL_PREFIXES = ("train", "experiment", "verify", "sim")
#: commands that only get invalid extra options
ONLY_INVALID_EXTRAS = ("verify",)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
DEADLINE_MS = 20_000

CASES = {"run": 0}


def _walk(cmd, path):
    sub = getattr(cmd, "commands", None)
    if sub is None:
        yield " ".join(path), cmd
        return
    for name, child in sorted(sub.items()):
        yield from _walk(child, [*path, name])


def _commands():
    root = typer.main.get_command(grokcheck.cli.app)
    return dict(_walk(root, []))


COMMANDS = _commands()


def _kind(param) -> str:
    """'flag', 'int', 'float', 'choice', 'path' or 'str' for a click/typer option."""
    if getattr(param, "is_flag", False):
        return "flag"
    td = getattr(param, "type_descriptor", None)
    ann = getattr(td, "annotation", None)
    if ann is None:  # older typer: a click ParamType
        name = type(getattr(param, "type", None)).__name__.lower()
        return {"int": "int", "intparamtype": "int", "floatparamtype": "float", "choice": "choice"}.get(
            name, "path" if "path" in name else "str"
        )
    if isinstance(ann, type):
        if issubclass(ann, bool):
            return "flag"
        if issubclass(ann, int):
            return "int"
        if issubclass(ann, float):
            return "float"
        if issubclass(ann, Enum):
            return "choice"
        if issubclass(ann, Path):
            return "path"
    return "str"


EXTREME_FLOATS = [1e308, -1e308, 1e-308, 5e-324, -5e-324, -0.0, 0.0, math.nan, math.inf, -math.inf]
floats = st.one_of(
    st.sampled_from(EXTREME_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=10),
).map(repr)
ints = st.one_of(
    st.sampled_from([2**63, 2**63 - 1, -(2**63), 10**30, -(10**30), 2**31, -1, 0]),
    st.integers(min_value=-5, max_value=300),
    st.integers(),
).map(str)
odd_strings = st.one_of(
    st.sampled_from(
        ["", " ", "1,,2", ",", "1,2,", "-", "--", "--x", "nan", "1e308", "0x10", "１", "\t", "é"]
    ),
    st.text(max_size=12),
    st.text(alphabet="0123456789.,-+eE naif", max_size=12),
)
paths = st.one_of(st.sampled_from(["", ".", "out", "a/b", "x" * 300, "\u00e9t\u00e9"]), st.text(max_size=8))
#: values that no int, float or enum option accepts
UNPARSEABLE = st.sampled_from(["not-a-number", "1.5.5", "--", "", "1e", "∞"])


def _value(kind: str):
    if kind == "int":
        return st.one_of(ints, floats, odd_strings)
    if kind == "float":
        return st.one_of(floats, ints, odd_strings)
    if kind == "path":
        # relative only (the run's cwd is a temporary folder): never a path outside it
        return paths.map(lambda s: s.lstrip("/") or "out")
    return st.one_of(odd_strings, floats, ints)


def _options(cmd):
    return [p for p in cmd.params if getattr(p, "opts", None) and p.param_type_name == "option"]


@st.composite
def argv_for(draw, path: str, cmd):
    must_fail = path.startswith(MUST_FAIL_PREFIXES)
    only_extras = path.startswith(ONLY_INVALID_EXTRAS)
    opts = _options(cmd)
    args: list[str] = []
    for p in opts:
        kind = _kind(p)
        if kind == "flag":
            if draw(st.booleans()):
                args.append(draw(st.sampled_from(p.opts + list(getattr(p, "secondary_opts", [])))))
            continue
        if only_extras or not draw(st.booleans()):
            continue
        args += [p.opts[0], draw(_value(kind))]
    if must_fail:
        typed = [p for p in opts if _kind(p) in ("int", "float", "choice")]
        if typed and not only_extras and draw(st.booleans()):
            p = draw(st.sampled_from(typed))
            args += [p.opts[0], draw(UNPARSEABLE)]  # the last occurrence wins: invalid for sure
        else:
            junk = draw(st.sampled_from(["--fuzz-no-such-option", "-Z", "stray-argument"]))
            args.append(junk)
    elif draw(st.integers(0, 9)) == 0:
        args.append(draw(st.sampled_from(["--fuzz-no-such-option", "stray"])))
    return path.split() + args


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            grokcheck.cli.main(argv)
        except SystemExit as e:
            code = e.code
    return (code if isinstance(code, int) else (0 if code is None else -1)), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workdir():
    """Runs happen in a scratch folder, so --out values and default run folders land there."""
    with tempfile.TemporaryDirectory(prefix="grokcheck-fuzz-") as d, contextlib.chdir(d):
        yield Path(d)
    print(f"\nfuzz: {CASES['run']} CLI invocations over {len(COMMANDS)} commands")


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_cli_never_crashes(path, workdir):
    cmd = COMMANDS[path]

    @settings(
        max_examples=EXAMPLES,
        deadline=DEADLINE_MS,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(argv=argv_for(path, cmd))
    def prop(argv):
        CASES["run"] += 1
        code, out, err = _run(argv)
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in out and "Traceback" not in err, (argv, err)
        assert "internal error" not in err, (argv, err)
        if path.startswith(MUST_FAIL_PREFIXES):
            assert code != 0, argv
        if code != 0:
            assert len(err.strip("\n").splitlines()) == 1, (argv, err)

    prop()


def test_tree_is_introspected():
    """The walk finds nested groups (theorem d4) and top-level commands alike."""
    assert {"theorem d4", "theorem d1", "theorem lemmas", "verify"} <= COMMANDS.keys()
    d4 = COMMANDS["theorem d4"]
    kinds = {p.opts[0]: _kind(p) for p in _options(d4)}
    assert kinds["--kappa"] == "float" and kinds["--n-labels"] == "int" and kinds["--json"] == "flag"


def test_a_crash_would_be_caught(monkeypatch):
    """Negative control: a command that raises must break the property (it reports an internal error)."""
    import grokcheck.theory.d4 as d4

    monkeypatch.setattr(d4, "check_d4", lambda *a, **k: {}["missing"])
    monkeypatch.setattr(tempfile, "tempdir", tempfile.mkdtemp())
    code, _, err = _run(["theorem", "d4"])
    assert code == 1 and "internal error" in err
