"""``grokcheck report DIR``: the files it writes, and bad input as a one-line error (exit 2), a
foreign file in the way left untouched (exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.report.pages import LABEL, Page, tiny_png, train_folder


def _one_line_error(r, code: int, *words: str) -> None:
    assert r.code == code, (r.code, r.out, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grokcheck: error: "), r.err
    assert "Traceback" not in r.err and all(w in lines[0] for w in words), lines[0]


def test_writes_both_files_and_prints_their_paths(cli, tmp_path):
    root = train_folder(tmp_path / "run")
    r = cli("report", str(root))
    assert r.code == 0, r.err
    assert r.out.split() == [str(root / "report.html"), str(root / "report.md")]
    page = Page((root / "report.html").read_text())
    assert len(page.images()) == 1 and page.verdict_rows() == []
    assert (root / "report.md").read_text().startswith("<!-- generator: grokcheck report")
    again = cli("report", str(root))  # its own report is rewritten
    assert again.code == 0 and again.out == r.out


def test_json_output(cli, tmp_path):
    root = train_folder(tmp_path / "run")
    r = cli("report", str(root), "--format", "md", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d == {"kind": "train", "status": None, "counts": {"pass": 0, "fail": 0, "not_run": 0},
                 "files": [str(root / "report.md")]}  # fmt: skip
    assert not (root / "report.html").exists()


def test_out_file_and_format(cli, tmp_path):
    root = train_folder(tmp_path / "run")
    out = tmp_path / "elsewhere" / "page.html"
    out.parent.mkdir()
    r = cli("report", str(root), "--out", str(out), "--format", "html")
    assert r.code == 0 and r.out.split() == [str(out)] and out.read_text().startswith("<!DOCTYPE html>")
    both = cli("report", str(root), "--out", str(tmp_path / "elsewhere" / "summary"))
    assert both.code == 0, both.err
    assert both.out.split() == [
        str(tmp_path / "elsewhere" / "summary.html"),
        str(tmp_path / "elsewhere" / "summary.md"),
    ]
    into = cli("report", str(root), "--out", str(tmp_path / "elsewhere"), "--format", "md")
    assert into.code == 0 and into.out.split() == [str(tmp_path / "elsewhere" / "report.md")]
    assert not list(root.glob("report.*"))


def test_an_experiment_folder_with_a_failing_verdict(cli, tmp_path):
    root = tmp_path / "exp"
    (root / "results").mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"config": {"name": "ungrok", "scale": "quick"}}))
    verdicts = [
        {"name": "P2", "status": "fail", "figure": "wd 1: too wide", "source": "Figure 4", "claim": "r"},
        {"name": "P3 (D_crit)", "status": "not_run", "figure": "-", "source": "Figure 4", "claim": "r"},
    ]
    (root / "summary.json").write_text(json.dumps({"experiment": "ungrok", "verdicts": verdicts}))
    (root / "figure4.png").write_bytes(tiny_png())
    r = cli("report", str(root), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"] == "fail"
    page = Page((root / "report.html").read_text())
    assert page.verdict_rows() == [(v["name"], LABEL[v["status"]]) for v in verdicts]


@pytest.mark.parametrize("what", ["missing", "file", "empty", "foreign"])
def test_bad_folders(cli, tmp_path, what):
    target = {
        "missing": tmp_path / "nope",
        "file": tmp_path / "a.txt",
        "empty": tmp_path / "empty",
        "foreign": tmp_path / "foreign",
    }[what]
    if what == "file":
        target.write_text("x")
    elif what == "empty":
        target.mkdir()
    elif what == "foreign":  # a folder of someone else's files, not one grokcheck wrote
        target.mkdir()
        (target / "config.json").write_text("{}")
        (target / "notes.md").write_text("mine")
    r = cli("report", str(target))
    words = {"missing": "no such folder", "file": "is a file", "empty": "not a folder grokcheck wrote",
             "foreign": "not a folder grokcheck wrote"}[what]  # fmt: skip
    _one_line_error(r, 2, "DIR", words)
    assert not list(tmp_path.rglob("report.*"))


def test_a_foreign_report_file_is_never_overwritten(cli, tmp_path):
    root = train_folder(tmp_path / "run")
    mine = "<html><body>my own page</body></html>\n"
    (root / "report.html").write_text(mine)
    r = cli("report", str(root))
    _one_line_error(r, 1, "report.html", "not a report grokcheck wrote", "left untouched")
    assert (root / "report.html").read_text() == mine
    assert not (root / "report.md").exists()  # nothing written when one target is refused
    md_only = cli("report", str(root), "--format", "md")
    assert md_only.code == 0 and (root / "report.html").read_text() == mine


def test_bad_options(cli, tmp_path):
    root = train_folder(tmp_path / "run")
    r = cli("report", str(root), "--format", "pdf")
    assert r.code == 2 and "--format" in r.err
    _one_line_error(
        cli("report", str(root), "--out", str(tmp_path / "no" / "x.html")), 2, "--out", "no such folder"
    )


def test_help_imports_nothing_heavy():
    code = (
        "import sys\nfrom grokcheck.cli import main\n"
        "try:\n    main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'sympy', 'scipy', 'matplotlib')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "grokcheck report" in out.stdout and out.stdout.strip().splitlines()[-1] == "HEAVY:"


@pytest.mark.slow
def test_report_of_a_real_training_run(cli, tmp_path):
    run = tmp_path / "run"
    assert (
        cli(
            "train", "--task", "add", "--p", "23", "--steps", "200", "--device", "cpu", "--out", str(run)
        ).code
        == 0
    )
    r = cli("report", str(run))
    assert r.code == 0, r.err
    page = Page((run / "report.html").read_text())
    (img,) = page.images()
    assert img["alt"].startswith("Figure 1a") and len(img["src"]) > 1000
    assert "wall_s" in page.all_text()
