"""The package's shape: no import cycle anywhere in ``grokcheck/`` and no module over 400 lines.

Every import counts, at module level or inside a function (deferred imports keep start-up
fast, but a deferred cycle is still two modules that cannot be understood apart), and so do
imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "grokcheck"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from a.b import c`` counts a.b, and a.b.c
    when that is a module)."""
    mods = {module_name(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert len(graph) > 50 and "grokcheck.verify" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_planted_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    graph["grokcheck.verdicts"] = graph["grokcheck.verdicts"] | {
        "grokcheck.verify"
    }  # verify imports verdicts
    assert any({"grokcheck.verdicts", "grokcheck.verify"} <= set(c) for c in cycles(graph))


def test_the_verdict_type_depends_on_nothing_in_the_package():
    assert import_graph()["grokcheck.verdicts"] == set()


def test_no_module_over_400_lines():
    long = {
        module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


#: ``grokcheck.transformer``'s layers, lowest first: a module imports only from its own layer or
#: a lower one (the package docstring of ``grokcheck.transformer`` says the same)
LAYERS = ("model", "analysis", "training")


def layer_violations(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    def layer(module: str) -> int | None:
        parts = module.split(".")
        if len(parts) > 2 and parts[1] == "transformer" and parts[2] in LAYERS:
            return LAYERS.index(parts[2])
        return None

    return sorted(
        (m, d)
        for m, deps in graph.items()
        if (lm := layer(m)) is not None
        for d in deps
        if (ld := layer(d)) is not None and ld > lm
    )


def test_the_transformer_layers_import_downwards_only():
    graph = import_graph()
    assert {"grokcheck.transformer.model.model", "grokcheck.transformer.training.loop"} <= set(graph)
    assert layer_violations(graph) == []


def test_the_layer_check_finds_an_upward_import():
    graph = import_graph()
    graph["grokcheck.transformer.model.tasks"] = {"grokcheck.transformer.training.loop"}
    assert layer_violations(graph) == [
        ("grokcheck.transformer.model.tasks", "grokcheck.transformer.training.loop")
    ]
