"""The README and the docs stay true: the two set-up commands open the README, every ``attnbench`` example in
README.md and docs/*.md parses with today's CLI, the plugin snippet is the shipped example's, every repository
path they name exists, every result column is documented, and docs/cli.md is what the code generates."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from attnbench.cli import app as cli
from attnbench.cost.records import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = {"README.md": README} | {f"docs/{p.name}": p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}


def examples() -> list[tuple[str, str]]:
    """``(page, line)`` for every ``attnbench ...`` line of a ```` ```bash ```` block, trailing comment removed."""
    out = []
    for page, text in PAGES.items():
        blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
        out += [(page, line) for line in lines if line.startswith("attnbench ")]
    return out


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
    assert README.index("```text") < first < second < README.index("## Everyday commands")  # a sample output first
    run_line = README[first:].splitlines()[1]
    assert (
        run_line.endswith("attnbench profile --module ca --backbone mbv2") and "pip install torch==2.13.0" in run_line
    )
    test_line = README[second:].splitlines()[1]
    assert "pip install torch==2.13.0" in test_line
    # .ci/run runs this line; the checks it runs may sit in a script it calls
    script = ROOT / ".ci" / "test"
    checks = test_line + (script.read_text() if test_line.endswith(".ci/test") else "")
    assert "python -m pytest" in checks and "mkdocs build --strict" in checks
    assert "attnbench check results/baselines/cost.csv --only params,macs,elementwise_ops" in checks


def test_readme_fits_a_screen() -> None:
    assert len(README.splitlines()) <= 150, "move the detail into a page under docs/ and link it from the README"


def test_there_are_examples() -> None:
    assert len(examples()) >= 36  # the README alone held 36 before the docs pages took its detail
    assert {page for page, _ in examples()} >= {"README.md", "docs/usage.md", "docs/tables.md", "docs/ablation.md"}


@pytest.mark.parametrize("page,line", examples(), ids=[f"{p}:{n}" for n, (p, _) in enumerate(examples())])
def test_example_parses(page: str, line: str) -> None:
    parse(shlex.split(line)[1:])


def test_plugin_snippet_matches_the_shipped_example() -> None:
    shipped = (ROOT / "examples" / "my_modules" / "my_att.py").read_text()
    registers = [m for text in PAGES.values() for m in re.findall(r"@ATTENTION\.register\(.*\)", text)]
    assert registers and all(r in shipped for r in registers)


LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")
"""A Markdown link's target, without its anchor."""
REPO_PATH = re.compile(r"`((?:attnbench|modules|results|benchmarks|examples|tests|docs|\.ci)/[\w./*-]*)`")
"""A code span that names a path in this repository (how the docs pages name files outside docs/)."""


@pytest.mark.parametrize("page", sorted(PAGES))
def test_named_paths_exist(page: str) -> None:
    """The strict MkDocs build checks the links between docs pages (and their anchors); the files outside docs/
    that the pages name as code, and the README's links, are checked here."""
    text = PAGES[page]
    links = [t for t in LINK.findall(text) if "://" not in t]
    link_base = ROOT if page == "README.md" else ROOT / "docs"
    missing = [t for t in links if not (link_base / t).exists()]
    missing += [t for t in REPO_PATH.findall(text) if not any(ROOT.glob(t.rstrip("/")))]
    assert not missing, f"{page} names paths that do not exist: {missing}"


def test_every_result_column_is_documented() -> None:
    documented = set(re.findall(r"`(\w+)`", PAGES["docs/measurement.md"]))
    assert not set(COLUMNS) - documented, "describe the new columns in docs/measurement.md"


CLI_REFERENCE = ["utils", "docs", "--name", "attnbench", "--title", "CLI reference"]
"""Typer's Markdown generator over ``attnbench.cli.app``: ``typer attnbench.cli.app utils docs ...``."""


def test_cli_reference_is_generated_from_the_code(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    cmd = [sys.executable, "-m", "typer", "attnbench.cli.app", *CLI_REFERENCE, "--output", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    regenerate = " ".join(["typer attnbench.cli.app", *map(shlex.quote, CLI_REFERENCE), "--output docs/cli.md"])
    assert out.read_text() == PAGES["docs/cli.md"], f"docs/cli.md is out of date; regenerate it: {regenerate}"


def test_the_swap_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python example of "Networks with their own SE, and any model" runs as printed, from the repository root."""
    page = PAGES["docs/modules.md"]
    section = page[page.index("## Networks with their own SE") :]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict[str, object] = {}
    exec(compile(code, "docs/modules.md", "exec"), scope)
    assert len(scope["slots"]) == 16 and scope["swap"].reduction_rule == "matched"
    assert scope["swap"].params_before == 5_288_548 and list(scope["df"]["module"]) == ["none", "se", "ca"]


def test_the_runtime_tables_come_from_the_committed_csv() -> None:
    """The runtime tables of docs/runtimes.md are what ``benchmarks/runtimes_table.py`` makes of
    ``results/runtimes.csv``."""
    spec = importlib.util.spec_from_file_location("runtimes_table", ROOT / "benchmarks" / "runtimes_table.py")
    assert spec is not None and spec.loader is not None
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.block(ROOT / "results" / "runtimes.csv") in PAGES["docs/runtimes.md"], (
        "run: python benchmarks/runtimes_table.py --write docs/runtimes.md"
    )


def test_the_configuration_keys_are_described_once_as_the_code_declares_them() -> None:
    from attnbench.ablation.records import RESULT_KEY, RUN_KEY
    from attnbench.cost.records import BASELINE_KEY, KEY, USUAL

    page = PAGES["docs/measurement.md"]
    section = page[page.index("## The configuration key") :]
    cost, _, ablation = section.partition("An ablation row has its own key")
    listed = re.findall(r"`(\w+)`", cost[: cost.index("`sweep --resume`, `compare`")])
    assert [c for c in listed if c != "KEY"] == list(KEY)
    usual, _, baseline = cost.partition("A baseline (")
    assert dict(re.findall(r"`(\w+)` (\w+)", usual[usual.index("`USUAL`") :])) == USUAL
    dropped = re.findall(r"`(\w+)`", baseline[baseline.index("leaving out") : baseline.index("); baselines")])
    head = [c for c in KEY if c.startswith("head") or c == "output_stride"]
    assert [c for c in KEY if c not in BASELINE_KEY] == [dropped[0], *head, dropped[-1]]
    result, _, run = ablation.split("\n\n")[0].partition("`ablate --resume` adds")
    assert [c for c in re.findall(r"`(\w+)`", result) if c != "RESULT_KEY"] == list(RESULT_KEY)
    assert [c for c in re.findall(r"`(\w+)`", run) if c != "RUN_KEY"] == list(RUN_KEY[len(RESULT_KEY) :])
    others = [p for p, text in PAGES.items() if p != "docs/measurement.md" and "`reduction_rule`, `width`" in text]
    assert not others, f"the key is described again in {others}"
