"""What a user reads speaks of the toolkit and the paper, names only files that exist, and agrees
with the code (README.md, docs/, benchmarks/, tools/, grokcheck/ docstrings, every ``--help``).

The checkers live in tests/user_text_checks.py; the negative controls at the end plant a fault
in a text and require each checker to object, so the guard itself can fail.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.user_text_checks import (
    DOCS,
    ROOT,
    backticked_fields,
    bad_device_words,
    dataclass_fields,
    device_lines,
    doc_files,
    grid_facts,
    help_texts,
    history_hits,
    missing_references,
    package_docstrings,
    repo_paths,
    scale_p_mentions,
    scale_table_mismatches,
    script_files,
    script_text,
    unlisted_pages,
    verify_schema,
    without_mutant_indices,
)


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return help_texts()


@pytest.fixture(scope="module")
def paths() -> tuple[set[str], set[str]]:
    return repo_paths()


# ---------------------------------------------------------------------------------------------
# no history


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_speak_of_the_toolkit_only(path):
    text = path.read_text()
    if path.name == "testing.md":
        text = without_mutant_indices(text)
    assert history_hits(text) == []


@pytest.mark.parametrize("path", script_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_speak_of_the_toolkit_only(path):
    assert history_hits(script_text(path)) == []


def test_package_docstrings_speak_of_the_toolkit_only():
    hits = {where: h for where, doc in package_docstrings().items() if (h := history_hits(doc))}
    assert hits == {}


def test_help_speaks_of_the_toolkit_only(helps):
    assert len(helps) >= 10  # every command and subcommand was rendered
    hits = {cmd: h for cmd, text in helps.items() if (h := history_hits(text))}
    assert hits == {}


# ---------------------------------------------------------------------------------------------
# no references to files the repository lacks


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_only_files_that_exist(path, paths):
    files, dirs = paths
    doc_dir = path.parent.relative_to(ROOT).as_posix()
    assert missing_references(path.read_text(), doc_dir, files, dirs) == []


def test_docstrings_scripts_and_help_name_only_files_that_exist(paths, helps):
    files, dirs = paths
    texts = {**package_docstrings(), **helps, **{str(p): script_text(p) for p in script_files()}}
    missing = {where: m for where, text in texts.items() if (m := missing_references(text, "", files, dirs))}
    assert missing == {}


# ---------------------------------------------------------------------------------------------
# help and docs agree with the code


def test_every_scale_p_in_help_docs_and_docstrings_is_grid_py_s(helps):
    from grokcheck.experiments import grid

    want = {
        scale: {sw.p for name in grid.EXPERIMENTS for sw in grid.sweeps(name, scale)} for scale in grid.SCALES
    }
    assert all(len(v) == 1 for v in want.values())
    sources = {
        "help": "\n".join(helps.values()),
        "docs": "\n".join(p.read_text() for p in doc_files()),
        "docstrings": "\n".join(package_docstrings().values()),
    }
    for where, text in sources.items():
        said = scale_p_mentions(text)
        for scale in ("quick", "paper"):
            assert set(said[scale]) <= want[scale], (where, scale, said[scale])
    # the checks above saw the numbers they compare
    assert scale_p_mentions(sources["help"])["quick"] and scale_p_mentions(sources["docs"])["quick"]
    assert scale_p_mentions(sources["help"])["paper"] and scale_p_mentions(sources["docs"])["paper"]


def test_documented_grids_equal_grid_py():
    assert scale_table_mismatches((DOCS / "predictions.md").read_text(), grid_facts) == []


def test_documented_experiments_are_grid_py_s(helps):
    from grokcheck.experiments import grid

    m = re.search(r"grokcheck experiment ([\w|]+) \[", (DOCS / "predictions.md").read_text())
    assert m is not None and set(m.group(1).split("|")) == set(grid.EXPERIMENTS)
    assert {f"grokcheck experiment {n}" for n in grid.EXPERIMENTS} <= set(helps)


def test_docs_index_and_readme_list_every_docs_page():
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md")
    assert len(pages) >= 5
    assert unlisted_pages((DOCS / "index.md").read_text(), pages) == []
    assert unlisted_pages((ROOT / "README.md").read_text(), ["index.md", *pages], prefix="docs/") == []


def test_verify_json_schema_in_the_index_is_verify_result():
    from grokcheck.experiments.run import ExperimentStats
    from grokcheck.verify import Check, VerifyResult

    want = {f.name: set() for f in dataclasses.fields(VerifyResult)}
    want["checks"] = {f.name for f in dataclasses.fields(Check)}
    want["experiments"] = {f.name for f in dataclasses.fields(ExperimentStats)}
    assert verify_schema((DOCS / "index.md").read_text()) == want


@pytest.mark.parametrize(
    ("command", "cls"),
    [
        ("theorem d1", "grokcheck.theory.d1:D1Check"),
        ("theorem lemmas", "grokcheck.theory.lemmas:LemmasCheck"),
        ("theorem d4", "grokcheck.theory.d4:D4Check"),
    ],
)
def test_theorem_json_fields_in_theory_md_are_the_result_s(command, cls):
    import importlib

    module, name = cls.split(":")
    text = (DOCS / "theory.md").read_text()
    m = re.search(rf"^- `{command}`: (.*?)(?=^- |^#|\Z)", text, re.S | re.M)
    assert m is not None, f"theory.md lists no JSON fields for {command}"
    assert backticked_fields(m.group(1)) == dataclass_fields(getattr(importlib.import_module(module), name))


def test_experiment_json_run_fields_in_predictions_md_are_the_cli_s():
    from grokcheck.experiments.run import RUN_FIELDS

    text = (DOCS / "predictions.md").read_text()
    m = re.search(r"`--json` prints one object: (`experiment`.*?`figures`)", text, re.S)
    assert m is not None
    assert backticked_fields(m.group(1))["runs"] == set(RUN_FIELDS)


def _resolves(name: str) -> bool:
    import torch

    from grokcheck.errors import InputError
    from grokcheck.transformer.model.runtime import resolve_device

    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: True  # ask whether the name is accepted, not whether a GPU is here
    try:
        resolve_device(name)
        return True
    except InputError:
        return False
    finally:
        torch.cuda.is_available = real


def test_device_help_offers_only_what_resolve_device_accepts(helps):
    lines = device_lines(helps)
    assert {"grokcheck train", "grokcheck experiment ungrok"} <= set(lines)
    bad = {cmd: b for cmd, text in lines.items() if (b := bad_device_words(text, _resolves))}
    assert bad == {}


# ---------------------------------------------------------------------------------------------
# negative controls: each checker objects to a planted fault


@pytest.mark.parametrize(
    "text",
    [
        "Runs the batched sweeps of issue 8.",
        "see #12 for the numbers",
        "measured in this session",
        "another engineer's job",
        "Ask the lead before changing it.",
        "The experiments (planned). Not built yet.",
        "TODO: document --out",
        "figures in MEASUREMENTS.md",
        "the issue's 12.6 ms",
        "no GPU was lent to this\nwork",
    ],
)
def test_history_checker_flags_planted_text(text):
    assert history_hits(text) != []


def test_history_checker_passes_toolkit_text():
    assert history_hits("Train sizes D or D', comma-separated (Figure 4; Section 5.2). Colour #1f77b4.") == []


def test_mutant_indices_are_allowed_only_in_the_mutation_section():
    text = "## Mutation testing\n\nd4 #86 survived.\n\n## Other\n\nsee #12\n"
    assert [h.split(":")[0] for h in history_hits(without_mutant_indices(text))] == ["#N reference"]


def test_reference_checker_flags_missing_files():
    files = {"README.md", "docs/index.md", "docs/theory.md", "grokcheck/sim/model.py"}
    dirs = {"docs", "grokcheck", "grokcheck/sim"}
    good = "See [theory](theory.md), `sim/model.py`, grokcheck/sim and https://x.org/DESIGN.md."
    assert missing_references(good, "docs", files, dirs) == []
    written = "writes runs/x/report.md, root/report.md and report.md"
    assert missing_references(written, "docs", files, dirs) == []
    bad = "[x](missing.md), NOTES.md, `grokcheck/sim/nope.py`, `gone.py`, go.sh, docs/gone.md, tests/absent."
    assert missing_references(bad, "docs", files, dirs) == [
        "NOTES.md",
        "docs/gone.md",
        "go.sh",
        "gone.py",
        "grokcheck/sim/nope.py",
        "link missing.md",
        "tests/absent",
    ]


def test_scale_p_checker_reads_a_wrong_p():
    said = scale_p_mentions("quick (p=47, laptop) or paper (p=113). The quick scale: addition mod 47.")
    assert said == {"quick": [47, 47], "paper": [113]}


def test_scale_table_checker_flags_a_wrong_grid():
    text = (DOCS / "predictions.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `semigrok` |"))
    for wrong in (
        row.replace("15k steps", "14k steps"),
        row.replace("seeds 0-2, 15k", "seeds 0-3, 15k"),
        row.replace("D = 250, 300, 350", "D = 250, 300, 400"),
        row.replace(": 9 runs", ": 8 runs"),
    ):
        assert wrong != row
        assert scale_table_mismatches(text.replace(row, wrong), grid_facts) != []
    wrong_p = re.sub(r"quick scale \(p = (\d+)", lambda m: f"quick scale (p = {int(m.group(1)) + 16}", text)
    assert wrong_p != text and scale_table_mismatches(wrong_p, grid_facts) != []


def test_index_checker_flags_an_unlisted_page():
    assert unlisted_pages("[a](theory.md)", ["theory.md", "circuits.md"]) == ["circuits.md"]


def test_schema_checkers_flag_a_missing_field():
    assert verify_schema('```\n{"checks": [{"name", "holds"}], "holds": bool}\n```') == {
        "checks": {"name", "holds"},
        "holds": set(),
    }
    assert backticked_fields("`a`, `b` (`x`, `y` (prose `z`)), `c`") == {
        "a": set(),
        "b": {"x", "y"},
        "c": set(),
    }


def test_device_checker_flags_a_refused_name():
    assert bad_device_words("cpu, cuda, cuda:1 ... [default: cpu].", _resolves) == ["cuda:1"]


#: where the time of ``grokcheck verify --full`` is stated: each pattern's number is minutes
FULL_TIME_PATTERNS = (
    re.compile(r"verify --full[^\n]*\(~(\d+) min"),  # README's command line, the --full help
    re.compile(r"last end-to-end run took about\s+(\d+)\s+minutes"),  # docs/index.md
    re.compile(r"fits in about (\d+) minutes"),  # docs/predictions.md
    re.compile(r"\(\*\*about (\d+) minutes\*\*\)"),  # docs/predictions.md's measured run
)


def full_time_claims(texts: dict[str, str]) -> dict[str, list[int]]:
    """Every stated duration of ``verify --full`` in ``texts`` (name -> text), in minutes."""
    out: dict[str, list[int]] = {}
    for name, text in texts.items():
        for pattern in FULL_TIME_PATTERNS:
            out.setdefault(name, []).extend(int(m) for m in pattern.findall(" ".join(text.split())))
    return {k: v for k, v in out.items() if v}


def test_every_stated_time_of_verify_full_is_the_same(helps) -> None:
    texts = {p.name: p.read_text() for p in (ROOT / "README.md", DOCS / "index.md", DOCS / "predictions.md")}
    texts["verify --help"] = "verify --full " + helps["grokcheck verify"]
    claims = full_time_claims(texts)
    assert set(claims) == {"README.md", "index.md", "predictions.md", "verify --help"}, claims
    assert len({m for ms in claims.values() for m in ms}) == 1, claims


def test_the_time_check_sees_a_disagreeing_page() -> None:
    texts = {"a": "grokcheck verify --full ... (~48 min on 2 cores)", "b": "fits in about 42 minutes"}
    claims = full_time_claims(texts)
    assert claims == {"a": [48], "b": [42]} and len({*claims["a"], *claims["b"]}) == 2
