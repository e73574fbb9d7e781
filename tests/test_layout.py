"""The package's shape: no import circles, one terminal writer, model code free of the harness.

The import graph is read from the source (``ast``), every ``import`` counted wherever it stands (module level,
inside a function, under ``TYPE_CHECKING``), so a circle hidden in a local import is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"attnbench": ROOT / "attnbench", "attnbench.modules": ROOT / "modules"}


def _module_files() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = f
    return out


FILES = _module_files()


def _is_package(name: str) -> bool:
    return FILES[name].name == "__init__.py"


def _resolve(importer: str, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def imports_of(name: str) -> set[str]:
    """The package modules that ``name`` imports (a ``from pkg import sub`` counts as importing ``pkg.sub``)."""
    tree = ast.parse(FILES[name].read_text(), filename=str(FILES[name]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node.level, node.module) if node.level else (node.module or "")
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in FILES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports_of(name) for name in FILES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or ``None``. A package's ``__init__`` importing its own
    submodules (a face that hands names on) is not a circle by itself."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # parent package <-> its own submodule: Python's import system, not a design circle
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_the_package() -> None:
    assert "attnbench.cli.app" in GRAPH and "attnbench.cost.runner" in GRAPH["attnbench.cli.profile"] | set().union(
        *(GRAPH[m] for m in GRAPH["attnbench.cli.profile"])
    )
    assert "attnbench.cli.options" in GRAPH["attnbench.cli.profile"]


def test_no_import_circles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_options_is_a_leaf_of_the_cli() -> None:
    cli = {m for m in GRAPH["attnbench.cli.options"] if m.startswith("attnbench.cli")}
    assert cli == {"attnbench.cli"} or not cli, cli


@pytest.mark.parametrize("name", sorted(n for n in FILES if n.startswith("attnbench.modules")))
def test_model_code_never_imports_the_harness(name: str) -> None:
    harness = {m for m in GRAPH[name] if not m.startswith("attnbench.modules")}
    assert not harness, f"{name} imports {harness}"


RICH_ALLOWED = {"attnbench.cli.render"}


@pytest.mark.parametrize("name", sorted(n for n in FILES if n.startswith("attnbench.") and n not in RICH_ALLOWED))
def test_only_render_imports_rich(name: str) -> None:
    tree = ast.parse(FILES[name].read_text())
    for node in ast.walk(tree):
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            mods = [node.module or ""]
        assert not any(m == "rich" or m.startswith("rich.") for m in mods), f"{name} imports rich"
