"""A plugin's ordinary bug is a failed row, never the end of the run; a registration that cannot work is refused
when the plugin is loaded, in one line naming the file and the fix.

Every ``Exception`` a plugin's ``__init__`` or ``forward`` raises (``AttributeError``, ``KeyError``, ``IndexError``,
``MemoryError``, ...) becomes a row with ``status=failed`` and ``Type: message``; the baseline and the other modules
of the same group are measured and written, and the command ends with exit 1 and one ``Error:`` line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from clihelp import error_line, run_cli

from attnbench import modules

GRID = ("--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--quiet")

FAILING = """
import torch
from torch import nn
from attnbench.modules import ATTENTION


@ATTENTION.register("{name}", paper="test module with a bug", arxiv="", hook="block")
class Buggy(nn.Module):
    def __init__(self, channels, *, reduction=16):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))
        if "{where}" == "init":
            {raise_}

    def forward(self, x):
        Buggy.calls = getattr(Buggy, "calls", 0) + 1
        if "{where}" == "forward" or ("{where}" == "timing" and Buggy.calls > {after}):
            {raise_}
        return x * self.scale
"""

ERRORS = {
    "AttributeError": "self.missing.thing",
    "KeyError": "{}['nope']",
    "IndexError": "[][3]",
    "MemoryError": "raise MemoryError('cannot allocate the table')",
    "ZeroDivisionError": "1 / 0",
    "ValueError": "raise ValueError('bad value')",
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("where", ["init", "forward"])
@pytest.mark.parametrize("error", list(ERRORS))
def test_an_exception_in_a_plugin_is_a_failed_row_and_the_group_goes_on(tmp_path: Path, error: str, where: str) -> None:
    name = f"buggy_{error.lower()}_{where}"
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(FAILING.format(name=name, where=where, raise_=ERRORS[error], after=0))
    out = tmp_path / "rows.csv"
    code, stdout, err = run_cli(
        "sweep", "--modules", f"se,{name}", *GRID, "--no-latency", "--csv", out, "--plugins", plugin
    )
    assert code == 1
    line = error_line(err.replace(f"3 rows appended to {out}\n", ""))
    assert line.startswith(f"Error: 1 of 3 rows failed: r18/{name} ×0.35 @32: InsertionError: module '{name}'")
    assert f": {error}" in line
    rows = _rows(out)
    assert [(r["module"], r["status"]) for r in rows] == [("none", "ok"), ("se", "ok"), (name, "failed")]
    assert error in rows[2]["error"] and "\n" not in rows[2]["error"] and rows[2]["params"] == ""
    assert stdout.count("\n") == 4  # the three rows printed too (CSV with its header)


def test_an_exception_only_while_timed_keeps_the_counts_of_the_others(tmp_path: Path) -> None:
    name = "buggy_timing"
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(FAILING.format(name=name, where="timing", raise_="{}['late']", after=40))
    out = tmp_path / "rows.csv"
    timing = "--repeats 6 --max-time 0 --warmup 1".split()
    code, _, err = run_cli("sweep", "--modules", f"se,{name}", *GRID, *timing, "--csv", out, "--plugins", plugin)
    assert code == 1, err
    rows = {r["module"]: r for r in _rows(out)}
    assert rows["none"]["status"] == rows["se"]["status"] == "ok" and rows["se"]["latency_n"] == "6"
    assert rows[name]["status"] == "failed" and rows[name]["error"] == "timing failed: KeyError: 'late'"


REGISTRATIONS = [
    (
        "factory-returns-int",
        "from attnbench.modules import ATTENTION\n\n"
        "@ATTENTION.register('{name}', paper='t', arxiv='', hook='block')\n"
        "def make(channels, *, reduction=16):\n    return 42\n",
        ":3: attention module '{name}' returns int for 64 channels, not a torch.nn.Module; register an nn.Module",
    ),
    (
        "class-not-a-module",
        "from attnbench.modules import ATTENTION\n\n"
        "class Plain:\n    def __init__(self, channels):\n        pass\n\n"
        "ATTENTION.register('{name}', Plain, paper='t', arxiv='', hook='block')\n",
        ":3: attention module '{name}' is class Plain, which is not a torch.nn.Module",
    ),
    (
        "unknown-hook",
        "from torch import nn\nfrom attnbench.modules import ATTENTION\n\n"
        "@ATTENTION.register('{name}', paper='t', arxiv='', hook='blok')\n"
        "class Gate(nn.Module):\n    def __init__(self, channels, *, reduction=16):\n        super().__init__()\n",
        ":4: attention module '{name}' has hook='blok'; register it with hook='block'",
    ),
    (
        "backbone-without-metadata",
        "from torch import nn\nfrom attnbench.modules import BACKBONES\n\n"
        "@BACKBONES.register('{name}', paper='t')\n"
        "def build(**kw):\n    return nn.Identity()\n",
        ":4: backbone '{name}' lacks the metadata positions, width_range, min_input, min_input_small; register it",
    ),
    (
        "backbone-bad-metadata",
        "from torch import nn\nfrom attnbench.modules import BACKBONES\n\n"
        "@BACKBONES.register('{name}', paper='t', positions='after', width_range=(2.0, 1.0), min_input=0,\n"
        "                    min_input_small=8)\n"
        "def build(**kw):\n    return nn.Identity()\n",
        "backbone '{name}' has positions='after' (a non-empty list of slot names); width_range=(2.0, 1.0)",
    ),
]


@pytest.mark.parametrize(("case", "source", "says"), REGISTRATIONS, ids=[r[0] for r in REGISTRATIONS])
def test_a_registration_that_cannot_work_is_refused_when_loaded(
    tmp_path: Path, case: str, source: str, says: str
) -> None:
    name = "reg_" + case.replace("-", "_")
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(source.format(name=name))
    code, out, err = run_cli("list", "--plugins", plugin)
    assert code == 2 and out == ""
    line = error_line(err)
    assert line.startswith(f"Error: plugin {plugin.resolve()}") and says.format(name=name) in line, line
    assert name not in modules.ATTENTION and name not in modules.BACKBONES  # nothing of the file stays registered


def test_a_factory_that_fails_for_the_probe_is_left_to_the_run(tmp_path: Path) -> None:
    """A factory raising for the probe's channel count may work for others: the run records it per row."""
    plugin = tmp_path / "picky.py"
    plugin.write_text(
        "from torch import nn\nfrom attnbench.modules import ATTENTION\n\n"
        "@ATTENTION.register('picky_factory', paper='t', arxiv='', hook='block')\n"
        "def make(channels, *, reduction=16):\n"
        "    if channels == 64:\n        raise KeyError(channels)\n    return nn.Identity()\n"
    )
    code, out, err = run_cli("list", "--plugins", plugin)
    assert code == 0, err
    assert "picky_factory" in out
