"""``grokcheck.report``: every verdict with its status, every figure embedded byte for byte,
nothing loaded from outside, the same rows in Markdown, and never a user's file overwritten.

The folders are made by the real writers (experiments run with the fake runner, the verify
record by :func:`write_verify_record`); the expected rows come from the verdict files and the
rule functions, read independently of the report's own parsing.
"""

from __future__ import annotations

import base64
import json
import platform
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from grokcheck.errors import InputError, RunError
from grokcheck.experiments.checks import pooled_records, titled
from grokcheck.experiments.grid import GridOverrides
from grokcheck.experiments.predictions import SHARP_FACTOR, all_verdicts, verdict
from grokcheck.experiments.run import ExperimentConfig, ExperimentStats, run_experiment
from grokcheck.experiments.store import ExperimentStore
from grokcheck.report import build_report, is_report, render_html, render_markdown, write_report
from grokcheck.report.claims import base_name, claim_for
from grokcheck.report.markdown import md
from grokcheck.verify import Check, VerifyResult, overall
from tests.experiments.fakes import fake_runner
from tests.report.pages import (
    LABEL,
    Page,
    markdown_images,
    markdown_rows,
    outside_references,
    tiny_png,
    train_folder,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "predictions.md"
#: rows of other checks, with markup and separators that must come out as text
OTHER = (
    Check("scaling <b>up</b> lowers x-ent & 'more'", "Theorem D.1", "L(2h) < L(h) | 100 cases", True),
    Check("C_gen never grows", "Figure 2b", "max w_gen 0.75 > 0.2 x max w_mem", False),
    Check("kappa = 2.5 >= q", "Theorem D.4", "", False, status="not_run"),
)


@pytest.fixture(scope="module")
def verify_dir(tmp_path_factory) -> Path:
    """A verification folder as ``verify --full`` leaves it: two experiments, then verify.json."""
    root = tmp_path_factory.mktemp("verify-full")
    stats = []
    small = GridOverrides(seeds=(0, 1))
    for name in ("ungrok", "efficiency"):
        result = run_experiment(ExperimentConfig(name, "quick", small, out=root / name), runner=fake_runner)
        stats.append(ExperimentStats.of(result, 12.5))
    rows = (*OTHER, *(titled(v) for v in _pooled(root)))
    result = VerifyResult(
        rows, overall(rows) == "pass", quick=False, status=overall(rows), experiments=tuple(stats)
    )
    write_report(root, verify=result)
    return root


def _pooled(root: Path) -> list[Check]:
    return all_verdicts(pooled_records(root), tasks=["add"])


def _expected(root: Path) -> list[tuple[str, str]]:
    return [(c.name, LABEL[c.status]) for c in OTHER] + [(v.name, LABEL[v.status]) for v in _pooled(root)]


def test_every_verdict_is_in_the_page_with_its_status(verify_dir):
    page = Page((verify_dir / "report.html").read_text())
    expected = _expected(verify_dir)
    assert page.verdict_rows() == expected
    assert {s for _, s in expected} == {"PASS", "FAIL", "NOT RUN"}  # the fixture has all three
    assert "Overall: FAIL" in " ".join(page.all_text().split())  # a failing row fails the whole
    assert "**Overall: FAIL.**" in (verify_dir / "report.md").read_text()
    recorded = json.loads((verify_dir / "verify.json").read_text())
    assert len(recorded["checks"]) == len(expected) and recorded["environment"]["python"]


def test_markdown_has_the_same_rows(verify_dir):
    text = (verify_dir / "report.md").read_text()
    assert markdown_rows(text) == _expected(verify_dir)


def _pngs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.png"))


def test_every_png_is_embedded_byte_for_byte_with_alt_text(verify_dir):
    page = Page((verify_dir / "report.html").read_text())
    sources = _pngs(verify_dir)
    assert len(sources) == 4  # figures 4, 7, 10 and 3
    decoded = []
    for img in page.images():
        assert (img.get("alt") or "").strip(), img
        prefix, _, payload = (img.get("src") or "").partition(",")
        assert prefix == "data:image/png;base64"
        data = base64.b64decode(payload, validate=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        decoded.append(data)
    assert sorted(map(len, decoded)) == sorted(p.stat().st_size for p in sources)
    assert Counter(decoded) == Counter(p.read_bytes() for p in sources)


def test_the_page_loads_nothing_from_outside(verify_dir):
    raw = (verify_dir / "report.html").read_text()
    assert outside_references(Page(raw), raw) == []
    assert "Content-Security-Policy" in raw


@pytest.mark.parametrize(
    "bad",
    [
        '<img src="http://example.org/a.png" alt="x">',
        '<link rel="stylesheet" href="s.css">',
        "<script>1</script>",
        '<p onclick="x()">a</p>',
        '<a href="https://example.org">a</a>',
        "<style>body { background: url(a.png) }</style>",
    ],
)
def test_the_outside_reference_check_can_fail(bad):
    raw = f"<html><body>{bad}</body></html>"
    assert outside_references(Page(raw), raw)


def test_markdown_figures_are_relative_paths_that_exist(verify_dir):
    images = markdown_images((verify_dir / "report.md").read_text())
    assert len(images) == 4 and all(alt for alt, _ in images)
    for _, target in images:
        assert not Path(target).is_absolute() and (verify_dir / target).is_file()
    assert {(verify_dir / t).resolve() for _, t in images} == {p.resolve() for p in _pngs(verify_dir)}


def test_markdown_elsewhere_links_back_to_the_figures(verify_dir, tmp_path):
    (path,) = write_report(verify_dir, out=tmp_path / "r.md", formats=["md"])
    for _, target in markdown_images(path.read_text()):
        assert (tmp_path / target).resolve().is_file()


def test_the_paper_sentence_and_rule_are_shown(verify_dir):
    html, text = (verify_dir / "report.html").read_text(), (verify_dir / "report.md").read_text()
    plain = Page(html).all_text()
    for sentence in (
        "sharp transition from very strong to near-random test accuracy",
        "the final test accuracy after ungrokking is independent of the strength of weight decay",
        "memorisation efficiency decreases with increasing train dataset size",
    ):
        assert sentence in plain and sentence in text
    p2 = next(v for v in _pooled(verify_dir) if v.name == "P2")
    assert p2.claim in plain and p2.figure in plain  # the rule and the numbers behind it
    assert f"rounded up to {SHARP_FACTOR:g}" in plain  # where the threshold comes from


def _experiment_copy(verify_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(verify_dir / "ungrok", tmp_path / "ungrok"))


def test_experiment_folder_shows_every_verdict_of_its_summary(verify_dir, tmp_path):
    root = _experiment_copy(verify_dir, tmp_path)
    write_report(root)
    summary = json.loads((root / "summary.json").read_text())["verdicts"]
    expected = [(v["name"], LABEL[v["status"]]) for v in summary]
    assert Page((root / "report.html").read_text()).verdict_rows() == expected
    assert markdown_rows((root / "report.md").read_text()) == expected


@pytest.mark.parametrize("status, overall_label", [("fail", "FAIL"), ("pass", "PASS")])
def test_a_verdict_file_that_says_fail_shows_fail(verify_dir, tmp_path, status, overall_label):
    root = _experiment_copy(verify_dir, tmp_path)
    odd = '<script>alert(1)</script> & "quoted" | piped'
    verdicts = [verdict("P1", "pass", "fine", "Figure 3"), verdict("P2", status, odd, "Figure 4", "a rule")]
    ExperimentStore(root).write_summary({"experiment": "ungrok", "verdicts": verdicts})
    write_report(root)
    page = Page((root / "report.html").read_text())
    assert page.verdict_rows() == [("P1", "PASS"), ("P2", LABEL[status])]
    assert f"Overall: {overall_label}" in " ".join(page.all_text().split())
    assert odd in page.all_text() and not [t for t, _ in page.elements if t == "script"]
    assert markdown_rows((root / "report.md").read_text()) == [("P1", "PASS"), ("P2", LABEL[status])]
    assert odd in (root / "report.md").read_text().replace("\\", "")


def test_the_recorded_verdict_wins_and_a_disagreement_is_noted(verify_dir, tmp_path):
    root = Path(shutil.copytree(verify_dir, tmp_path / "v"))
    record = json.loads((root / "verify.json").read_text())
    p1 = next(c for c in record["checks"] if c["name"].startswith("P1: "))
    assert p1["status"] == "pass"
    p1["status"] = "fail"
    (root / "verify.json").write_text(json.dumps(record))
    report = build_report(root)
    assert [v.status for v in report.verdicts if v.name == "P1"] == ["fail"]
    assert any(n.startswith("P1: verify.json records FAIL") for n in report.notes)


def test_without_verify_json_the_verdicts_are_computed_and_it_says_so(verify_dir, tmp_path):
    root = Path(shutil.copytree(verify_dir, tmp_path / "v"))
    (root / "verify.json").unlink()
    report = build_report(root)
    assert [(v.name, v.status) for v in report.verdicts] == [(v.name, v.status) for v in _pooled(root)]
    assert any("No verify.json" in n for n in report.notes)


def test_training_run_folder(tmp_path):
    png = tiny_png(3, 2)
    root = train_folder(tmp_path / "run", png=png)
    report = build_report(root)
    assert report.kind == "train" and report.verdicts == () and report.status == ""
    facts = {k: v for f in report.facts for k, v in f.rows}
    assert (
        facts["final.test_acc"] == "0.0486"
        and facts["wall_s"] == "16.991"
        and facts["convergence.window"] == "2000"
    )
    page = Page(render_html(report))
    (img,) = page.images()
    assert base64.b64decode(img["src"].split(",", 1)[1]) == png and "Figure 1a" in img["alt"]
    assert "This folder has no verdicts." in page.all_text()
    assert markdown_images(render_markdown(report)) == [(img["alt"], "curves.png")]


def test_a_file_named_png_that_is_not_one_is_listed_not_embedded(tmp_path):
    root = train_folder(tmp_path / "run")
    (root / "notes.png").write_text("not an image")
    report = build_report(root)
    assert [f.path.name for f in report.figures] == ["curves.png"]
    assert any("notes.png" in n and "not a PNG" in n for n in report.notes)


def test_never_overwrites_a_file_it_did_not_write(tmp_path):
    root = train_folder(tmp_path / "run")
    (root / "report.md").write_text("my notes\n")
    with pytest.raises(RunError, match="report.md exists and is not a report"):
        write_report(root)
    assert (root / "report.md").read_text() == "my notes\n"
    assert not (root / "report.html").exists()  # refused before anything was written
    paths = write_report(root, formats=["html"])
    assert all(is_report(p) for p in paths) and not is_report(root / "report.md")
    assert write_report(root, formats=["html"]) == paths  # its own report is rewritten


def test_bad_folders_are_input_errors(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    for bad, why in (
        (tmp_path / "nope", "no such folder"),
        (tmp_path / "f.txt", "is a file"),
        (tmp_path, "not a folder grokcheck wrote"),
    ):
        with pytest.raises(InputError, match=why):
            build_report(bad)


def test_every_prediction_verdict_has_the_paper_sentence_from_the_docs():
    docs = re.sub(r"\n> ?", "\n", DOCS.read_text())  # blockquote markers inside a quoted sentence

    def plain(s: str) -> str:
        return " ".join(s.replace("“", '"').replace("”", '"').replace("′", "'").split())

    names = {v.name for v in all_verdicts([], tasks=("add", "sub"))}
    assert "P2 [sub]" in names
    for name in names:
        claim = claim_for(name)
        assert claim is not None and claim.quotes and claim.thresholds, name
        for q in claim.quotes:
            assert plain(q.text) in plain(docs), (name, q.text)
    assert claim_for("scaling a perfect classifier lowers x-ent") is None
    assert base_name("P3 (D_crit) [sub]") == "P3 (D_crit)"


@pytest.mark.parametrize("text", ["a|b", "x <script> y", "[link](http://a)", "*bold* `code` \\ end"])
def test_markdown_cells_keep_text_literal(text):
    line = f"| {md(text)} | **PASS** | s | m |"
    assert markdown_rows(f"x\n## Verdicts\n{line}\n") == [(text, "PASS")]
    assert not re.search(r"(?<!\\)<", md(text))


def test_verify_json_saved_from_the_command_line(verify_dir, tmp_path):
    """``grokcheck verify --json > DIR/verify.json``: its rows, self-checks grouped apart."""
    root = Path(shutil.copytree(verify_dir, tmp_path / "v"))
    printed = json.loads((root / "verify.json").read_text())
    del printed["environment"], printed["written"]
    printed["checks"].insert(0, {"name": "exact = numeric", "source": "Theorem D.4", "figure": "1e-3 apart",
                                 "holds": False, "detail": "", "status": "fail", "kind": "self"})  # fmt: skip
    printed["status"] = "broken"
    (root / "verify.json").write_text(json.dumps(printed))
    report = build_report(root)
    assert report.overall_label == "BROKEN" and report.verdicts[0].group.startswith("Self-checks")
    assert [(v.name, v.label) for v in report.verdicts][1:] == _expected(root)
    software = next(f for f in report.facts if f.title == "Software")
    assert software.note.startswith("The folder records no versions")
    page = Page(render_html(report))
    assert page.verdict_rows()[0] == ("exact = numeric", "FAIL")
    assert "Overall: BROKEN" in " ".join(page.all_text().split())


def test_a_verify_json_naming_the_rule_detail_reads_the_same(verify_dir, tmp_path):
    """A verify.json whose rows give the rule as ``detail`` (and no ``details``) shows the same
    rows, rules and numbers as one that gives ``claim`` and ``details``."""
    root = Path(shutil.copytree(verify_dir, tmp_path / "v"))
    now = build_report(root)
    record = json.loads((root / "verify.json").read_text())
    assert any(c["details"] for c in record["checks"])  # the numbers behind a prediction's figure
    for c in record["checks"]:
        c["detail"] = c.pop("claim")
        del c["details"]
    (root / "verify.json").write_text(json.dumps(record))
    before = build_report(root)
    assert [(v.name, v.label, v.rule, v.details) for v in before.verdicts] == [
        (v.name, v.label, v.rule, v.details) for v in now.verdicts
    ]
    assert any(v.rule and v.details for v in before.verdicts)


def test_configuration_grid_wall_time_and_versions(verify_dir):
    report = build_report(verify_dir)
    facts = {f.title: dict(f.rows) for f in report.facts}
    ungrok = facts["Experiment ungrok (ungrok/)"]
    assert ungrok["scale"] == "quick" and ungrok["wall time in this verification"] == "12.5 s"
    assert ungrok["grid override: seeds"] == "0, 1"
    grid = facts["Grid of ungrok: what ran"]
    specs = [r.spec for r in ExperimentStore(verify_dir / "ungrok").records()]
    assert grid["ungrok (add): D or D'"] == ", ".join(str(d) for d in sorted({s.train_size for s in specs}))
    assert grid["ungrok (add): seeds"] == "0, 1"
    assert facts["Verification"]["wall time of the experiments"] == "25.0 s"
    assert facts["Software"]["python"] == platform.python_version() and "torch" in facts["Software"]
