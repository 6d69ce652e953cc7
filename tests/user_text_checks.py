"""Checkers of the text a grokcheck user reads, and the collectors of that text.

User-facing text: README.md, docs/**/*.md, the scripts in benchmarks/ and tools/ (docstrings,
comments, strings), every docstring under grokcheck/, and the ``--help`` of every command and
subcommand (rendered in-process). Each checker is a plain function of a text, so that
tests/test_user_text.py can hand it a text where it must object (its negative controls).
"""

from __future__ import annotations

import ast
import dataclasses
import io
import os
import re
import tokenize
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_DIRS = {".git", ".venv", "venv", "runs", "__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache"}

# ---------------------------------------------------------------------------------------------
# the checkers (pure functions of text)

#: words about how grokcheck was built rather than what it does; (label, pattern, flags)
HISTORY: tuple[tuple[str, str, int], ...] = (
    ("issue number", r"\b(?:issues?|PR|pull request)\s*#?\s*\d+", re.I),
    ("issue reference", r"\b(?:the|this|that|an?) issue\b|\bissue's\b", re.I),
    ("#N reference", r"(?<![\w&/#])#\d+\b", 0),
    ("session", r"\bsessions?\b", re.I),
    ("engineer", r"\bengineers?\b", re.I),
    ("the lead", r"\bthe lead\b", re.I),
    ("planned", r"\bplanned\b", re.I),
    ("not built yet", r"\bnot (?:yet )?built\b", re.I),
    ("this work", r"\b(?:to|during|in) this work\b", re.I),
    ("lent", r"\blent\b", re.I),
    ("TODO", r"\b(?:TODO|FIXME)\b", 0),
    ("notes outside the repository", r"\b(?:MEASUREMENTS|STYLE|PAPER-NOTES|DESIGN)\.md\b", re.I),
)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def history_hits(text: str) -> list[str]:
    """Every phrase of ``text`` that speaks of the project's own history, as ``label: context``."""
    flat = _flat(text)
    hits = []
    for label, pattern, flags in HISTORY:
        for m in re.finditer(pattern, flat, flags):
            hits.append(f"{label}: ...{flat[max(0, m.start() - 40) : m.end() + 40]}...")
    return hits


def without_mutant_indices(text: str) -> str:
    """docs/testing.md's mutation section numbers mutants ``#N`` (``tools/mutate.py --show N``)."""
    start = text.find("## Mutation testing")
    if start < 0:
        return text
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    return text[:start] + re.sub(r"#\d+", "mutant", text[start:end]) + text[end:]


#: files of other public repositories that grokcheck cites by name: Nanda et al.'s
#: progress-measures-paper code (grokcheck/transformer/model/model.py)
EXTERNAL_FILES = {"transformers.py"}
#: the repository's own top-level folders
TOP = (".ci", "grokcheck", "tests", "docs", "benchmarks", "tools")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FILE = re.compile(r"(?<![\w/.:<-])((?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*\.(?:py|md|sh|toml))(?![\w/-])")
_DIR = re.compile(r"(?<![\w/.:<-])((?:" + "|".join(map(re.escape, TOP)) + r")/[\w./-]*\w)")


def missing_references(text: str, doc_dir: str, files: set[str], dirs: set[str]) -> list[str]:
    """Files and folders that ``text`` (a document in repository folder ``doc_dir``) names but the
    repository lacks. ``files``/``dirs``: repository-relative POSIX paths. URLs are not checked.

    Markdown links resolve against ``doc_dir``; ``a/b.py``-style paths against the repository
    root, ``doc_dir``, or as the tail of a repository path (``sim/model.py``); a bare ``x.py``,
    ``x.sh`` or a capitalised ``NOTES.md`` must be the name of some repository file. Files a run
    writes are not references: a ``.md`` path counts only under a repository folder
    (``docs/x.md``), a lower-case bare ``report.md`` not at all (a page in docs/ is named through
    a link, which is checked).
    """
    basenames = {f.rsplit("/", 1)[-1] for f in files}

    def join(base: str, rel: str) -> str:
        parts: list[str] = [p for p in base.split("/") if p and p != "."]
        for p in rel.split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(p)
        return "/".join(parts)

    known = files | dirs

    def exists(rel: str) -> bool:
        return any(join(base, rel) in known for base in ("", doc_dir))

    def names_a_repository_file(name: str) -> bool:  # rather than a file a run writes
        if name.endswith((".py", ".sh")):
            return True
        if "/" in name:
            return name.split("/")[0] in TOP
        return not name.endswith(".md") or name[0].isupper()

    missing = []
    for target in _LINK.findall(text):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        if join(doc_dir, target.split("#")[0]) not in known:
            missing.append(f"link {target}")
    for name in _FILE.findall(text):
        if not names_a_repository_file(name):
            continue
        if "/" in name:
            ok = exists(name) or any(f.endswith("/" + name) for f in files)
        else:
            ok = name in basenames or name in EXTERNAL_FILES
        if not ok:
            missing.append(name)
    for path in _DIR.findall(text):
        if not exists(path):
            missing.append(path)
    return sorted(set(missing))


# the scale's name, then its p within the same sentence and before the other scale's name
_QUICK_P = re.compile(r"\bquick\b(?:(?!paper)[^.]){0,30}?(?:\bp ?= ?|\bmod )(\d+)", re.I)
_PAPER_P = re.compile(r"\bpaper\b(?: scale)?(?:(?!quick)[^.]){0,12}?\bp ?= ?(\d+)", re.I)


def scale_p_mentions(text: str) -> dict[str, list[int]]:
    """The p that ``text`` gives each scale: "quick (p=31", "quick scale (addition mod 31", ..."""
    flat = _flat(text)
    return {
        "quick": [int(x) for x in _QUICK_P.findall(flat)],
        "paper": [int(x) for x in _PAPER_P.findall(flat)],
    }


def grid_facts(name: str, scale: str) -> dict[str, typing.Any]:
    """What grokcheck/experiments/grid.py runs for ``name`` at ``scale``, as the docs state it."""
    from grokcheck.experiments import grid

    sweeps = grid.sweeps(name, scale)
    return {
        "p": {sw.p for sw in sweeps},
        "lr": {sw.lr for sw in sweeps},
        "cap": {sw.max_steps for sw in sweeps},
        "runs": len(grid.experiment_specs(name, scale)),
        "seeds": {s for sw in sweeps for s in sw.seeds},
        "weight_decays": {w for sw in sweeps for w in sw.weight_decays},
        "sizes": {d for sw in sweeps for d in sw.sizes},
    }


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w^])\d+(?:\.\d+)?(?![\w^])", text)]


def _cell_facts(cell: str) -> dict[str, typing.Any]:
    out: dict[str, typing.Any] = {}
    cap = re.search(r"(\d+(?:\.\d+)?)\s*([kM])\s+steps", cell)
    if cap:
        out["cap"] = {round(float(cap.group(1)) * {"k": 1e3, "M": 1e6}[cap.group(2)])}
    runs = re.search(r"(\d[\d,]*)\s+runs\b", cell)
    if runs:
        out["runs"] = int(runs.group(1).replace(",", ""))
    seeds = re.search(r"\bseeds? (\d+)(?:-(\d+)| and (\d+))?", cell)
    if seeds:
        lo = int(seeds.group(1))
        hi = int(seeds.group(2)) if seeds.group(2) else None
        out["seeds"] = (
            set(range(lo, hi + 1))
            if hi is not None
            else {lo} | ({int(seeds.group(3))} if seeds.group(3) else set())
        )
    wd = re.search(r"\bwd ((?:\d+(?:\.\d+)?(?:, | and )?)+)", cell)
    if wd:
        out["weight_decays"] = set(_numbers(wd.group(1)))
    return out


def scale_table_mismatches(markdown: str, facts: Callable[[str, str], dict[str, typing.Any]]) -> list[str]:
    """Where the Scales table (``| experiment | figures | paper scale (p = .., lr ..) | quick scale
    (..) |``) disagrees with ``facts(name, scale)``: p, lr, step cap, number of runs, seeds,
    weight decays, and (quick scale) every train size or, for a ``lo..hi`` range, its ends."""
    lines = markdown.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith("| experiment | figures |")), None)
    if head is None:
        return ["no Scales table"]
    header = [c.strip() for c in lines[head].strip("|").split("|")]
    scales = {}
    for col, cell in enumerate(header[2:], start=2):
        m = re.match(r"(\w+) scale \(p = (\d+), lr ([\d.e-]+)\)", cell)
        if not m:
            return [f"unreadable header cell {cell!r}"]
        scales[col] = (m.group(1), int(m.group(2)), float(m.group(3)))
    bad, rows = [], 0
    for line in lines[head + 2 :]:
        if not line.startswith("| `"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = cells[0].strip("`")
        rows += 1
        for col, (scale, p, lr) in scales.items():
            want = facts(name, scale)
            said = {"p": {p}, "lr": {lr}, **_cell_facts(cells[col])}
            for key in ("p", "lr", "cap", "runs"):
                if key not in said:
                    bad.append(f"{name} {scale}: the table gives no {key}")
            for key, value in said.items():
                if value != want[key]:
                    bad.append(f"{name} {scale}: {key} {value} in the docs, {want[key]} in the code")
            if scale == "quick":
                nums = set(_numbers(cells[col]))
                sizes = want["sizes"]
                need = {min(sizes), max(sizes)} if ".." in cells[col] else sizes
                if not need <= nums:
                    bad.append(f"{name} {scale}: sizes {sorted(need - nums)} of the code are not in the docs")
    if rows == 0:
        bad.append("the Scales table has no rows")
    return bad


def unlisted_pages(index_text: str, pages: list[str], prefix: str = "") -> list[str]:
    """Pages (``docs/*.md`` names) that ``index_text`` does not link to (as ``prefix + name``)."""
    linked = set(_LINK.findall(index_text))
    return [p for p in pages if prefix + p not in linked]


def backticked_fields(text: str) -> dict[str, set[str]]:
    """A documented field list: each top-level `name` with the `names` in the parentheses right
    after it (deeper parentheses are prose)."""
    out: dict[str, set[str]] = {}
    depth, last = 0, None
    for m in re.finditer(r"`([\w ]+)`|[()]", text):
        if m.group(0) == "(":
            depth += 1
        elif m.group(0) == ")":
            depth -= 1
        elif depth == 0:
            last = m.group(1)
            out[last] = set()
        elif depth == 1 and last is not None:
            out[last].add(m.group(1))
    return out


def dataclass_fields(cls: type) -> dict[str, set[str]]:
    """What ``emit_json`` prints for a dataclass: its fields, and the fields of nested dataclasses."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        out[f.name] = {g.name for g in dataclasses.fields(t)} if dataclasses.is_dataclass(t) else set()
    return out


def verify_schema(index_text: str) -> dict[str, set[str]]:
    """The ``grokcheck verify --json`` schema that docs/index.md states (its fenced block)."""
    m = re.search(r"```\n(\{\"checks\".*?)```", index_text, re.S)
    if not m:
        return {}
    block = _flat(m.group(1))
    out = {key: set() for key in re.findall(r'"(\w+)":', block)}
    for key in ("checks", "experiments"):
        items = re.search(rf'"{key}": \[\{{([^}}]*)\}}', block)
        if items:
            out[key] = set(re.findall(r'"(\w+)"', items.group(1)))
    return out


def bad_device_words(help_text: str, accepts: Callable[[str], bool]) -> list[str]:
    """Device names that a ``--device`` help offers but the code refuses."""
    words = re.findall(r"\b(auto|cpu|cuda(?::\d+)?|mps|xpu)\b", help_text)
    return [w for w in words if not accepts(w)]


# ---------------------------------------------------------------------------------------------
# the texts


def repo_paths() -> tuple[set[str], set[str]]:
    """Repository-relative files and folders (virtual environments, caches and runs left out)."""
    files, dirs = set(), set()
    for here, subdirs, names in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        rel = Path(here).relative_to(ROOT)
        dirs.update((rel / d).as_posix() for d in subdirs)
        files.update((rel / n).as_posix() for n in names)
    return files, dirs


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def script_text(path: Path) -> str:
    """The words a user of a script reads: its comments and strings (docstrings, help, prints)."""
    if path.suffix == ".sh":
        return path.read_text()
    kinds = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    parts = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in kinds:
            parts.append(tok.string)
    return "\n".join(parts)


def script_files() -> list[Path]:
    return sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("benchmarks/*.sh"), *ROOT.glob("tools/*.py")])


def docstrings(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield getattr(node, "lineno", 1), doc


def package_docstrings() -> dict[str, str]:
    out = {}
    for path in sorted((ROOT / "grokcheck").rglob("*.py")):
        for line, doc in docstrings(path):
            out[f"{path.relative_to(ROOT)}:{line}"] = doc
    return out


def help_texts() -> dict[str, str]:
    """``--help`` of every command and subcommand, rendered wide so nothing is cut."""
    import typer

    from grokcheck.cli import app

    out = {}

    def walk(cmd: typing.Any, path: list[str], parent: typing.Any) -> None:
        ctx = cmd.context_class(
            cmd, info_name=path[-1], parent=parent, terminal_width=200, max_content_width=200
        )
        out[" ".join(path)] = cmd.get_help(ctx)
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name], ctx)

    walk(typer.main.get_command(app), ["grokcheck"], None)
    return out


def device_lines(helps: dict[str, str]) -> dict[str, str]:
    """The rendered ``--device`` line (choices and help) of every command that has one."""
    out = {}
    for cmd, text in helps.items():
        lines = [line for line in text.splitlines() if line.lstrip().startswith("--device")]
        if lines:
            out[cmd] = " ".join(lines)
    return out
