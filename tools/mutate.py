"""Mutation testing for grokcheck: every mutant of one file, run against a chosen test subset.

Usage (from the repository root, with the venv active)::

    nice -n 15 python tools/mutate.py grokcheck/theory/xent.py tests/theory/test_xent.py \
        [more test files or node ids] [--timeout 60] [--list] [--only 3,17] [--json out.json]

How it works (stdlib ``ast`` only):

1. The working tree's ``grokcheck/`` and ``tests/`` (and ``pyproject.toml``) are copied to a
   temporary folder (``__pycache__`` left out); the original tree is never written to.
2. Every mutation site of the target file is enumerated (see ``OPERATORS`` below); each
   mutant is the file's AST with exactly one change, written back with ``ast.unparse``.
   Docstrings, annotations and string constants are not mutated.
3. The unmutated file (also round-tripped through ``ast.unparse``) must pass the tests first.
4. Each mutant is written into the copy and the tests run in a forked child of a process that
   has pre-imported numpy, scipy, sympy, pytest and hypothesis (but never grokcheck), with
   ``PYTHONDONTWRITEBYTECODE`` and the copy first on ``sys.path``. The child checks that
   ``grokcheck.__file__`` lies in the copy before running pytest (``-x``, no cache plugin),
   so the mutant really is the code under test. A mutant is *killed* when pytest fails or the
   child passes ``--timeout`` seconds (then it is killed, ``SIGKILL``); else it *survived*.

Operators: arithmetic swaps (+ -, * /, ** -> *, // -> /, % -> *), augmented-assignment
swaps, comparison flips (< <= > >= == != is in), and/or swap, ``not`` removed, unary minus
removed, numeric constants tweaked (0 -> 1, 1 -> 0 and 2, n -> n + 1, x -> 2x, x -> x/2),
True/False swapped, ``min``/``max`` swapped, ``return x`` -> ``return None``, and every
statement of a block replaced by ``pass`` (deleted).

Output: one line per mutant (index, line, operator, verdict) and a total; ``--json`` writes
the survivors' descriptions for the record in docs/testing.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BINOP_SWAPS = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div],
    ast.Div: [ast.Mult],
    ast.Pow: [ast.Mult],
    ast.FloorDiv: [ast.Div],
    ast.Mod: [ast.Mult],
}
CMP_SWAPS = {
    ast.Lt: [ast.LtE, ast.GtE],
    ast.LtE: [ast.Lt, ast.Gt],
    ast.Gt: [ast.GtE, ast.LtE],
    ast.GtE: [ast.Gt, ast.Lt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}


@dataclass(frozen=True)
class Site:
    """One mutation: the ``index``-th node of ``ast.walk`` order, changed by ``op`` to ``arg``."""

    index: int
    line: int
    op: str
    arg: object
    desc: str


def _skip_ids(tree: ast.AST) -> set[int]:
    """Nodes never mutated: docstrings, annotations, ``from __future__`` imports."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            for n in ast.walk(node):
                skip.add(id(n))

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
            for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                mark(a.annotation)
            for a in (node.args.vararg, node.args.kwarg):
                if a is not None:
                    mark(a.annotation)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            mark(node)
        if isinstance(node, ast.JoinedStr):  # f-strings: messages only
            mark(node)
    return skip


def _const_tweaks(v: object) -> list[object]:
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int):
        return [1] if v == 0 else ([0, 2] if v == 1 else [v + 1])
    if isinstance(v, float):
        return [1.0] if v == 0 else [v * 2, v / 2]
    return []


def sites(source: str) -> list[Site]:
    tree = ast.parse(source)
    skip = _skip_ids(tree)
    out: list[Site] = []
    for i, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in BINOP_SWAPS:
            for new in BINOP_SWAPS[type(node.op)]:
                out.append(Site(i, line, "binop", new, f"{type(node.op).__name__} -> {new.__name__}"))
        elif isinstance(node, ast.Compare):
            for k, cop in enumerate(node.ops):
                for new in CMP_SWAPS.get(type(cop), []):
                    out.append(Site(i, line, "cmp", (k, new), f"{type(cop).__name__} -> {new.__name__}"))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            out.append(Site(i, line, "boolop", new, f"{type(node.op).__name__} -> {new.__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            out.append(Site(i, line, "unary", None, f"drop {type(node.op).__name__}"))
        elif isinstance(node, ast.Constant):
            for new in _const_tweaks(node.value):
                out.append(Site(i, line, "const", new, f"{node.value!r} -> {new!r}"))
        elif isinstance(node, ast.Name) and node.id in ("min", "max") and isinstance(node.ctx, ast.Load):
            new = "max" if node.id == "min" else "min"
            out.append(Site(i, line, "name", new, f"{node.id} -> {new}"))
        elif isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                out.append(Site(i, line, "return", None, "return None"))
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and not isinstance(node, ast.Expression):
                for k, stmt in enumerate(block):
                    if id(stmt) in skip or isinstance(stmt, ast.Pass):
                        continue
                    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
                        continue
                    if isinstance(node, ast.Module):
                        continue  # module-level statements: definitions, constants
                    first = stmt.lineno
                    out.append(Site(i, first, "delete", (field, k), f"delete {type(stmt).__name__}"))
    return out


def mutate(source: str, site: Site) -> str:
    tree = ast.parse(source)
    node = next(n for k, n in enumerate(ast.walk(tree)) if k == site.index)
    if site.op == "binop":
        node.op = site.arg()
    elif site.op == "cmp":
        k, new = site.arg
        node.ops[k] = new()
    elif site.op == "boolop":
        node.op = site.arg()
    elif site.op == "unary":
        parent = next(p for p in ast.walk(tree) for c in ast.iter_child_nodes(p) if c is node)
        _replace_child(parent, node, node.operand)
    elif site.op == "const":
        node.value = site.arg
    elif site.op == "name":
        node.id = site.arg
    elif site.op == "return":
        node.value = ast.Constant(None)
    elif site.op == "delete":
        field, k = site.arg
        getattr(node, field)[k] = ast.Pass()
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for k, v in enumerate(value):
                if v is old:
                    value[k] = new
                    return
    raise RuntimeError("child not found")


def _copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("grokcheck", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml",):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, dest / name)


def _child(copy_root: Path, tests: list[str], quiet: bool) -> None:
    """In the forked child: make sure the copy is what gets imported, then run pytest."""
    os.chdir(copy_root)
    sys.path.insert(0, str(copy_root))
    sys.dont_write_bytecode = True
    if quiet:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    import grokcheck  # noqa: PLC0415 - first import happens here, in the copy

    if not os.path.realpath(grokcheck.__file__).startswith(os.path.realpath(copy_root)):
        os._exit(99)  # the wrong package would be under test
    import pytest  # noqa: PLC0415

    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests])
    os._exit(int(code))


def run_tests(copy_root: Path, tests: list[str], timeout: float, quiet: bool = True) -> tuple[str, float]:
    """Fork, run the tests, return ('pass' | 'fail' | 'timeout' | 'wrong-package', seconds)."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            _child(copy_root, tests, quiet)
        finally:
            os._exit(98)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            verdict = "pass" if code == 0 else ("wrong-package" if code == 99 else "fail")
            return verdict, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - t0
        time.sleep(0.02)


def _preload() -> None:
    """Heavy imports shared by every forked child (never grokcheck itself)."""
    for mod in ("numpy", "scipy.optimize", "sympy", "hypothesis", "pytest", "threadpoolctl", "typer", "rich"):
        try:
            __import__(mod)
        except ImportError:
            pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="file to mutate, relative to the repository root")
    ap.add_argument("tests", nargs="+", help="test files or node ids to run against each mutant")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant (killed past it)")
    ap.add_argument("--list", action="store_true", help="only list the mutants")
    ap.add_argument("--only", default="", help="comma-separated mutant indices to run")
    ap.add_argument("--json", default="", help="write the results here")
    ap.add_argument("--show", type=int, default=-1, help="print mutant N's source diff and exit")
    args = ap.parse_args(argv)

    target = Path(args.target)
    source = (ROOT / target).read_text()
    all_sites = sites(source)
    if args.show >= 0:
        import difflib

        s = all_sites[args.show]
        print(s)
        a, b = ast.unparse(ast.parse(source)).splitlines(), mutate(source, s).splitlines()
        print("\n".join(difflib.unified_diff(a, b, lineterm="", n=1)))
        return 0
    if args.list:
        for k, s in enumerate(all_sites):
            print(f"{k:4d}  line {s.line:4d}  {s.op:7s} {s.desc}")
        print(f"{len(all_sites)} mutants")
        return 0
    chosen = [int(x) for x in args.only.split(",") if x] or list(range(len(all_sites)))

    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")  # derandomised: the same examples each run
    _preload()
    work = Path(tempfile.mkdtemp(prefix="grokcheck-mutate-"))
    try:
        _copy_tree(work)
        dest = work / target
        dest.write_text(ast.unparse(ast.parse(source)))  # round-tripped, like every mutant
        verdict, secs = run_tests(work, args.tests, args.timeout * 3, quiet=False)
        print(f"baseline (unmutated, round-tripped): {verdict} in {secs:.1f}s", flush=True)
        if verdict != "pass":
            return 2
        results = []
        killed = 0
        t_start = time.monotonic()
        for n, k in enumerate(chosen):
            s = all_sites[k]
            dest.write_text(mutate(source, s))
            verdict, secs = run_tests(work, args.tests, args.timeout)
            if verdict == "wrong-package":
                print("the copy's grokcheck was not the one imported; stopping", file=sys.stderr)
                return 2
            dead = verdict != "pass"
            killed += dead
            results.append({"index": k, "line": s.line, "op": s.op, "desc": s.desc, "verdict": verdict})
            mark = "killed" if dead else "SURVIVED"
            print(
                f"[{n + 1}/{len(chosen)}] #{k:4d} line {s.line:4d} {s.desc:28s} "
                f"{mark} ({verdict}, {secs:.1f}s)",
                flush=True,
            )
        dest.write_text(source)
        total = len(chosen)
        print(
            f"{target}: {killed}/{total} killed ({100 * killed / max(total, 1):.1f}%), "
            f"{total - killed} survived, {time.monotonic() - t_start:.0f}s",
            flush=True,
        )
        if args.json:
            Path(args.json).write_text(
                json.dumps({"target": str(target), "tests": args.tests, "results": results}, indent=1)
            )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
