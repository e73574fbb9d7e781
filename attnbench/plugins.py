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
import stat
import sys
import traceback
from pathlib import Path
from types import ModuleType

from . import modules
from .errors import PluginError
from .io.reading import file_kind, path_problem


def _where(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"{path}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    return f"{path}:{frames[-1].lineno}" if frames else str(path)


def plugin_files(paths: list[Path]) -> list[Path]:
    """The ``.py`` files a list of ``--plugins`` paths names (directories are searched non-recursively)."""
    files: list[Path] = []
    for p in paths:
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            raise PluginError(f"plugin path '{p}' does not exist; pass a .py file or a folder of them.") from None
        except OSError as exc:
            raise PluginError(
                f"plugin path '{p}' cannot be opened ({path_problem(exc, p)}); pass a .py file or a folder of them."
            ) from None
        if stat.S_ISDIR(mode):
            found = sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
            if not found:
                raise PluginError(
                    f"plugin folder '{p}' holds no .py file (names starting with '_' are skipped); "
                    "pass a folder of plugin files, or the file itself."
                )
            files.extend(found)
        elif stat.S_ISREG(mode):
            files.append(p)
        else:
            raise PluginError(
                f"plugin path '{p}' is not a regular file (it is {file_kind(mode)}); pass a .py file or a folder of "
                "them."
            )
    return [f.resolve() for f in files]


def load_plugins(paths: list[Path]) -> list[str]:
    """Import every plugin file once, and check what it registered; return the module names imported.

    Raises:
        PluginError: a file that cannot be imported, or whose registrations cannot work (see ``check_entries``);
            its entries are removed again, and the message names the file and the fix.
    """
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
    """The module of one plugin file (``path`` resolved), imported on first use, with its registrations checked.

    Raises:
        PluginError: the file cannot be loaded, its code raised while importing (the message gives file:line), or
            its registrations cannot work (``check_entries``); its entries are removed again.
    """
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot load plugin '{path}'; it must be a Python source file.")
    module = importlib.util.module_from_spec(spec)
    before = {reg.kind: set(reg.names()) for reg in (modules.ATTENTION, modules.BACKBONES, modules.HEADS)}
    sys.modules[name] = module  # as an import does: classes of the file can find their module while it runs
    try:
        spec.loader.exec_module(module)
        check_entries(path, _added(before))
    except BaseException as exc:
        del sys.modules[name]
        _forget(before)
        if isinstance(exc, PluginError) or not isinstance(exc, (Exception, SystemExit)):
            raise
        # sys.exit() in a plugin must not end attnbench with its code
        detail = exc.msg if isinstance(exc, SyntaxError) else f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise PluginError(f"plugin {_where(exc, path)} failed to import ({detail}); fix the file.") from exc
    return module


def _added(before: dict[str, set[str]]) -> dict[modules.Registry, list[str]]:
    """The entries registered since ``before`` (each registry's names then), per registry."""
    return {
        reg: [n for n in reg.names() if n not in before[reg.kind]]
        for reg in (modules.ATTENTION, modules.BACKBONES, modules.HEADS)
    }


def _forget(before: dict[str, set[str]]) -> None:
    """Unregister what a refused plugin file registered, so the registries hold only entries that work."""
    for reg, names in _added(before).items():
        for n in names:
            reg.unregister(n)


HOOKS = ("block", "stage")
"""Where an attention module can go: inside every block, or at stage boundaries (``hook`` metadata)."""
BACKBONE_META = ("positions", "width_range", "min_input", "min_input_small")
"""The metadata every backbone needs: its in-block slots, its width range and its smallest inputs."""
PROBE_CHANNELS = 64
"""A factory (not a class) is called once with this many channels when loaded, to see that it builds a module."""


def _line(fn: object, path: Path) -> str:
    """``path:line`` where ``fn`` is defined, when it is defined in ``path``; else ``path``."""
    import inspect

    try:
        target = inspect.unwrap(getattr(fn, "func", fn))  # a functools.partial: its function
        if Path(inspect.getsourcefile(target) or "").resolve() == path:  # type: ignore[arg-type]
            return f"{path}:{inspect.getsourcelines(target)[1]}"
    except (TypeError, OSError):
        pass
    return str(path)


def check_entries(path: Path, added: dict[modules.Registry, list[str]]) -> None:
    """Refuse, with one line naming the file and the fix, an entry a plugin registered that cannot work.

    Attention modules: a constructor that is an ``nn.Module`` subclass (or a ``functools.partial`` of one), or a
    factory that returns one (called once with ``PROBE_CHANNELS`` channels; a factory that raises there is left to
    the run, where its row fails with the error); ``hook`` ``block`` or ``stage``. Backbones: a callable builder
    and the metadata ``BACKBONE_META``: ``positions`` (a non-empty list of slot names), ``width_range`` (two numbers,
    low ≤ high), ``min_input`` and ``min_input_small`` (whole numbers ≥ 1).
    """
    import functools
    import math

    from torch import nn

    for name in added.get(modules.ATTENTION, []):
        entry = modules.ATTENTION.get(name)
        where = _line(entry.fn, path)
        hook = entry.meta.get("hook", "block")
        if hook not in HOOKS:
            raise PluginError(
                f"plugin {where}: attention module '{name}' has hook={hook!r}; register it with hook='block' "
                "(inside every block) or hook='stage' (at stage boundaries)."
            )
        fn = entry.fn
        while isinstance(fn, functools.partial):
            fn = fn.func
        fix = "register an nn.Module subclass, or a function returning one"
        if isinstance(fn, type):
            if not issubclass(fn, nn.Module):
                raise PluginError(
                    f"plugin {where}: attention module '{name}' is class {fn.__name__}, which is not a torch.nn.Module; "
                    f"{fix}."
                )
        elif not callable(fn):
            raise PluginError(f"plugin {where}: attention module '{name}' is {type(fn).__name__}, not callable; {fix}.")
        elif not entry.meta.get("baseline"):
            try:
                built = entry.fn(PROBE_CHANNELS)
            except Exception:  # raising for some channel counts is the run's to record, in that row
                continue
            if not isinstance(built, nn.Module):
                raise PluginError(
                    f"plugin {where}: attention module '{name}' returns {type(built).__name__} for "
                    f"{PROBE_CHANNELS} channels, not a torch.nn.Module; {fix}."
                )
    for name in added.get(modules.BACKBONES, []):
        entry = modules.BACKBONES.get(name)
        where = _line(entry.fn, path)
        example = "positions=('block_end',), width_range=(0.25, 2.0), min_input=32, min_input_small=8"
        missing = [k for k in BACKBONE_META if k not in entry.meta]
        if not callable(entry.fn):
            raise PluginError(
                f"plugin {where}: backbone '{name}' is {type(entry.fn).__name__}, not a builder function."
            )
        if missing:
            raise PluginError(
                f"plugin {where}: backbone '{name}' lacks the metadata {', '.join(missing)}; register it with e.g. "
                f"{example}."
            )
        meta = entry.meta
        positions = meta["positions"]
        rng = meta["width_range"]
        problems = []
        if isinstance(positions, str) or not positions or not all(isinstance(p, str) and p for p in positions):
            problems.append(f"positions={positions!r} (a non-empty list of slot names)")
        numbers = isinstance(rng, (tuple, list)) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)
        if not numbers or not all(math.isfinite(v) and v > 0 for v in rng) or rng[0] > rng[1]:
            problems.append(f"width_range={rng!r} (two numbers above 0, low first)")
        for key in ("min_input", "min_input_small"):
            v = meta[key]
            if v is None and key == "min_input_small":
                continue  # no small-input variant: --small-input is refused for it
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                problems.append(f"{key}={v!r} (a whole number of pixels, at least 1)")
        if problems:
            raise PluginError(
                f"plugin {where}: backbone '{name}' has {'; '.join(problems)}; register it with e.g. {example}."
            )
