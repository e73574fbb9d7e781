"""``attnbench.modules`` is model code only (torch + stdlib); ``import attnbench`` loads nothing heavy.

Checked in fresh interpreters, since the test session itself has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "rich", "typer", "fvcore", "matplotlib")


def imported_after(statement: str, cwd: Path) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def heavy_in(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY)


def test_modules_imports_only_torch_and_stdlib(tmp_path: Path) -> None:
    mods = imported_after("import attnbench.modules", tmp_path)
    assert "torch" in mods  # the check below would be vacuous if the import failed silently
    assert "attnbench.modules.backbones" in mods
    assert heavy_in(mods) == []
    harness = sorted(
        m
        for m in mods
        if m.startswith("attnbench.") and m != "attnbench.modules" and not m.startswith("attnbench.modules.")
    )
    assert harness == [], f"attnbench.modules pulled in harness modules: {harness}"


def test_import_attnbench_is_light(tmp_path: Path) -> None:
    mods = imported_after("import attnbench", tmp_path)
    assert heavy_in(mods) == []
    assert sorted(m for m in mods if m.split(".")[0] == "attnbench") == ["attnbench"]
