"""The error boundary (:func:`grokcheck.cli.main`): every failure is one line on stderr and an
exit status (2 usage, 1 runtime or internal error, 130 Ctrl-C), never a traceback."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

import grokcheck.theory.d4 as d4


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def boom(monkeypatch, tmp_path):
    """check_d4 raises ZeroDivisionError; tracebacks go to tmp_path."""

    def fail(*a, **k):
        return 1 / 0

    monkeypatch.setattr(d4, "check_d4", fail)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("GROKCHECK_TRACEBACK", raising=False)
    return tmp_path


def test_unexpected_exception_is_one_line_and_saved(cli, boom):
    r = cli("theorem", "d4")
    assert r.code == 1 and r.out == ""
    line = _one_line(r.err)
    assert "internal error" in line and "ZeroDivisionError" in line and "GROKCHECK_TRACEBACK=1" in line
    saved = re.search(r"traceback saved to (\S+?);", line)
    assert saved, line
    path = Path(saved.group(1))
    assert path.parent == boom
    text = path.read_text()
    assert text.startswith("Traceback") and "ZeroDivisionError" in text and "fail" in text


def test_traceback_on_request(cli, boom, monkeypatch):
    monkeypatch.setenv("GROKCHECK_TRACEBACK", "1")
    r = cli("theorem", "d4")
    assert r.code == 1
    last = r.err.strip().splitlines()[-1]
    assert "Traceback" in r.err and last.startswith("grokcheck: error: internal error")
    assert list(boom.iterdir()) == []  # nothing saved when it is printed


def test_ctrl_c_is_130_and_one_line(cli, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(d4, "check_d4", interrupt)
    r = cli("theorem", "d4")
    assert r.code == 130
    assert "interrupted" in _one_line(r.err)


def test_abort_is_one_line(cli, monkeypatch):
    import typer

    def abort(*a, **k):
        raise typer.Abort()

    monkeypatch.setattr(d4, "check_d4", abort)
    r = cli("theorem", "d4")
    assert r.code == 1 and "aborted" in _one_line(r.err)


def test_domain_errors_keep_their_codes(cli, monkeypatch):
    from grokcheck.errors import InputError, RunError

    for exc, code in ((InputError("kappa", "bad"), 2), (RunError("disk full"), 1)):

        def fail(*a, exc=exc, **k):
            raise exc

        monkeypatch.setattr(d4, "check_d4", fail)
        r = cli("theorem", "d4")
        assert r.code == code and str(exc) in _one_line(r.err)


@pytest.mark.parametrize(
    "args, code",
    [
        (["--no-such-flag"], 2),
        (["theorem", "d5"], 2),
        (["theorem", "d4", "--kappa"], 2),
        (["theorem", "d4", "--kappa", "1", "extra"], 2),
    ],
)
def test_usage_errors(cli, args, code):
    r = cli(*args)
    assert r.code == code
    _one_line(r.err)


def test_help_and_version_exit_0(cli):
    assert cli("--help").code == 0
    assert cli("theorem", "d4", "--help").code == 0
    assert cli("--version").code == 0
