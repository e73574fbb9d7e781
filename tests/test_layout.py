"""The package's shape: no import circles, one terminal writer, model code free of the harness.

The import graph is read from the source (``ast``), every ``import`` counted wherever it stands (module level,
inside a function, under ``TYPE_CHECKING``), so a circle hidden in a local import is found too.
"""

from __future__ import annotations

import ast
import re
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


RICH_ALLOWED = {n for n in FILES if n == "attnbench.cli.render" or n.startswith("attnbench.cli.render.")}


@pytest.mark.parametrize("name", sorted(n for n in FILES if n.startswith("attnbench.") and n not in RICH_ALLOWED))
def test_only_render_imports_rich(name: str) -> None:
    tree = ast.parse(FILES[name].read_text())
    for node in ast.walk(tree):
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            mods = [node.module or ""]
        assert not any(m == "rich" or m.startswith("rich.") for m in mods), f"{name} imports rich"


CSV_HOME = "attnbench.io.csvtext"
KEY_HOMES = {"attnbench.cost.records", "attnbench.ablation.records"}


def csv_uses(source: str) -> list[str]:
    """Where ``source`` reads or writes CSV by itself: the csv module, or pandas' CSV reader or writer."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "csv" for a in node.names):
            found.append(f"line {node.lineno}: import csv")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "csv":
            found.append(f"line {node.lineno}: from csv import")
        elif isinstance(node, ast.Attribute) and node.attr in ("to_csv", "read_csv"):
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def key_copies(source: str, key: set[str]) -> list[str]:
    """Literal lists of three or more column names, all of them key columns (other lists spread in or not): a key
    spelled out again."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            rest = [e for e in node.elts if not isinstance(e, ast.Constant)]
            if len(names) >= 3 and set(names) <= key and all(isinstance(e, ast.Starred) for e in rest):
                found.append(f"line {node.lineno}: {names}")
    return found


def _key_columns() -> set[str]:
    from attnbench.ablation.records import RESULT_KEY
    from attnbench.cost.records import KEY

    return {*KEY, *RESULT_KEY}


@pytest.mark.parametrize("name", sorted(n for n in FILES if n.startswith("attnbench.") and n != CSV_HOME))
def test_csv_is_read_and_written_in_one_place(name: str) -> None:
    """Every CSV goes through ``io/csvtext.py`` (``read_table``, ``parse_text``, ``csv_text``; the appender encodes
    its rows there too)."""
    assert not csv_uses(FILES[name].read_text()), name


@pytest.mark.parametrize("name", sorted(n for n in FILES if n.startswith("attnbench.") and n not in KEY_HOMES))
def test_the_configuration_keys_are_declared_in_one_place(name: str) -> None:
    """Only the two record modules spell out a key (``KEY``, ``BASELINE_KEY``, ``RESULT_KEY``); everything else
    builds on them."""
    assert not key_copies(FILES[name].read_text(), _key_columns()), name


def test_the_layout_checks_find_a_copy() -> None:
    source = "import csv\nimport pandas as pd\nGROUP = ('backbone', 'width', 'input_size')\npd.read_csv('x')\n"
    assert csv_uses(source) == ["line 1: import csv", "line 4: .read_csv"]
    assert key_copies(source, _key_columns()) == ["line 3: ['backbone', 'width', 'input_size']"]
    assert key_copies("COLUMNS = ('backbone', 'module', 'published_top1')", _key_columns()) == []
    assert key_copies("K = ('position', 'reduction', 'width', *HEAD)", _key_columns()) == [
        "line 1: ['position', 'reduction', 'width']"
    ]


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def flag_literals(source: str) -> list[str]:
    """The ``--flag`` spellings in the string literals of ``source``, docstrings left out (they may describe the
    command line). The library names fields (``errors.opt``); only ``cli/`` knows how a command spells them."""
    tree = ast.parse(source)
    docstrings = {  # a string standing alone as a statement documents what precedes or encloses it
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found += [f"line {node.lineno}: {m}" for m in FLAG.findall(node.value)]
    return found


@pytest.mark.parametrize(
    "name", sorted(n for n in FILES if n.startswith("attnbench.") and not n.startswith("attnbench.cli"))
)
def test_no_flag_is_spelled_below_the_cli(name: str) -> None:
    assert not flag_literals(FILES[name].read_text()), name


def test_the_flag_check_finds_a_flag() -> None:
    source = 'def f():\n    """Like --resume."""\n    raise UsageError(f"drop --small-input, keep {x}--")\n'
    assert flag_literals(source) == ["line 3: --small-input"]
