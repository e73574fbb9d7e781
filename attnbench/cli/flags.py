"""Fields to flags: the library names fields in its messages (``errors.opt``); here each becomes the option of the
command that ran, the one place that knows the options.

A field is looked up among the command's parameters by its own name, then by its aliases (``FIELD_PARAMS``: a
spec's ``input_size`` is ``profile``'s ``--input`` and ``sweep``'s ``--inputs``). A field the command has no option
for keeps its name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import AttnbenchError, name_fields

FIELD_PARAMS: dict[str, tuple[str, ...]] = {
    "modules": ("module", "modules"),
    "module": ("modules",),
    "backbone": ("backbones",),
    "width": ("widths",),
    "input_size": ("input", "inputs"),
    "reduction": ("reductions",),
    "reductions": ("reduction",),
    "weight_decay": ("wd",),
    "num_workers": ("workers",),
    "position": ("positions",),
    "builds": ("runtime",),
    "build": ("runtime",),
    "runtimes": ("runtime",),
}
"""Parameter names a field goes by on some command, tried after the field's own name."""

_options: list[dict[str, str]] = [{}]


def options_of(command: Any) -> dict[str, str]:
    """Parameter name → its long option (``input`` → ``--input``; ``no_latency`` → ``--no-latency``) for a Click
    command."""
    out = {}
    for p in getattr(command, "params", []):
        longs = [o for o in p.opts if o.startswith("--")]
        if longs and p.name:
            name = p.name.rstrip("_")  # modules_: a name Python keeps for itself
            out[name] = longs[0]
            off = [o for o in p.secondary_opts if o.startswith("--")]
            if off:  # --latency/--no-latency: the field no_latency is the flag that turns it off
                out[f"no_{name}"] = off[0]
    return out


def flag(name: str, options: dict[str, str]) -> str | None:
    """The option that sets field ``name`` on a command with ``options``; ``None`` when it has none."""
    return next((options[p] for p in (name, *FIELD_PARAMS.get(name, ())) if p in options), None)


def show(text: str, options: dict[str, str] | None = None) -> str:
    """``text`` with every marked field shown as an option of ``options`` (by default the running command's;
    outside a command, fields keep their names)."""
    table = _options[-1] if options is None else options
    return name_fields(text, lambda f: flag(f, table))


def error_text(exc: AttnbenchError) -> str:
    """An error's message with its fields shown as the options of the command it came from (``running``)."""
    return show(str(exc), getattr(exc, "options", {}))


@contextlib.contextmanager
def running(command: Any) -> Iterator[None]:
    """While ``command`` runs, messages name fields by its options; an error leaving it takes them along."""
    options = options_of(command)
    _options.append(options)
    try:
        yield
    except AttnbenchError as exc:
        if not hasattr(exc, "options"):
            exc.options = options  # type: ignore[attr-defined]
        raise
    finally:
        _options.pop()
