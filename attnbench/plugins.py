"""Load user attention modules from ``--plugins`` paths.

A plugin is a Python file that registers entries exactly as the built-ins do::

    from attnbench.modules import ATTENTION

    @ATTENTION.register("my_att", paper="...", hook="block")
    class MyAtt(nn.Module): ...

Plugin files are executed as Python code with the user's permissions: load only files you trust.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .errors import PluginError


def _where(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"{path}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    return f"{path}:{frames[-1].lineno}" if frames else str(path)


def plugin_files(paths: list[Path]) -> list[Path]:
    """The ``.py`` files a list of ``--plugins`` paths names (directories are searched non-recursively)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
            if not found:
                raise PluginError(
                    f"plugin folder '{p}' holds no .py file (names starting with '_' are skipped); "
                    "pass a folder of plugin files, or the file itself."
                )
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise PluginError(f"plugin path '{p}' does not exist; pass a .py file or a folder of them.")
    return [f.resolve() for f in files]


def load_plugins(paths: list[Path]) -> list[str]:
    """Import every plugin file once; return the module names imported."""
    names = []
    for path in plugin_files(paths):
        name = _module_name(path)
        if name not in sys.modules:
            load_file(path)
            names.append(name)
    return names


def _module_name(path: Path) -> str:
    return "attnbench_plugin_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]


def load_file(path: Path) -> ModuleType:
    """The module of one plugin file (``path`` resolved), imported on first use.

    Raises:
        PluginError: the file cannot be loaded, or its code raised while importing (the message gives file:line).
    """
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot load plugin '{path}'; it must be a Python source file.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end attnbench with its code
        detail = exc.msg if isinstance(exc, SyntaxError) else f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise PluginError(f"plugin {_where(exc, path)} failed to import ({detail}); fix the file.") from exc
    sys.modules[name] = module
    return module
