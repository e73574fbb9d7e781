"""The README stays true: its two set-up commands exist, and every ``attnbench`` example parses with today's CLI."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import typer

from attnbench.cli import app as cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def examples() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("attnbench ")]


def parse(argv: list[str]) -> None:
    """Resolve the (sub)command and parse its options exactly as the CLI would, without running it."""

    def rest(ctx: typer.Context) -> list[str]:  # Click < 8.2 names it protected_args, later _protected_args
        return [*(getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])), *ctx.args]

    group = typer.main.get_command(cli.app)
    ctx = group.make_context("attnbench", list(argv))
    cmd, args = group, rest(ctx)
    while hasattr(cmd, "resolve_command") and args:
        name, cmd, args = cmd.resolve_command(ctx, args)
        ctx = cmd.make_context(name, list(args), parent=ctx)
        args = rest(ctx) if hasattr(cmd, "resolve_command") else []


def test_readme_opens_with_the_two_commands() -> None:
    first = README.index("# 1. set up and profile")
    second = README.index("# 2. set up and run the tests")
    assert first < second < README.index("## Usage")
    run_line = README[first:].splitlines()[1]
    assert (
        run_line.endswith("attnbench profile --module ca --backbone mbv2") and "pip install torch==2.13.0" in run_line
    )
    assert "python -m pytest" in README[second:].splitlines()[1]


def test_there_are_examples() -> None:
    assert len(examples()) >= 15


@pytest.mark.parametrize("line", examples())
def test_example_parses(line: str) -> None:
    parse(shlex.split(line)[1:])


def test_plugin_snippet_matches_the_shipped_example() -> None:
    shipped = (Path(__file__).resolve().parents[1] / "examples" / "my_modules" / "my_att.py").read_text()
    register = re.search(r"@ATTENTION\.register\(.*\)", README).group(0)
    assert register in shipped


def test_the_swap_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python example of "Networks with their own SE, and any model" runs as printed, from the repository root."""
    section = README[README.index("### Networks with their own SE") :]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert len(scope["slots"]) == 16 and scope["swap"].reduction_rule == "matched"
    assert scope["swap"].params_before == 5_288_548 and list(scope["df"]["module"]) == ["none", "se", "ca"]


def test_the_runtime_tables_come_from_the_committed_csv() -> None:
    """The README's runtime tables are what ``benchmarks/runtimes_table.py`` makes of ``results/runtimes.csv``."""
    spec = importlib.util.spec_from_file_location("runtimes_table", ROOT / "benchmarks" / "runtimes_table.py")
    assert spec is not None and spec.loader is not None
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.block(ROOT / "results" / "runtimes.csv") in README, (
        "run: python benchmarks/runtimes_table.py --write README.md"
    )
