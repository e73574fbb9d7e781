"""The one registry type for attention modules and backbones (standard library only).

A registry maps a short, literal key (``"ca"``, ``"mbv2"``) to a constructor plus metadata (paper, arXiv id,
default hyper-parameters, the insertion hook). A duplicate key raises; an unknown key raises
:class:`UnknownNameError` listing the valid keys and the closest match.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownNameError(KeyError):
    """A registry key that is not registered. ``str()`` gives the one-line message with the valid choices."""

    def __init__(self, kind: str, name: str, choices: list[str]) -> None:
        self.kind, self.name, self.choices = kind, name, choices
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        self.message = f"unknown {kind} '{name}'.{hint} Choose from: {', '.join(choices)}."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class DuplicateNameError(ValueError):
    """A key registered twice."""


@dataclass(frozen=True)
class Entry:
    """One registered constructor and its metadata."""

    name: str
    fn: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)


class Registry:
    """A named collection of constructors.

    Args:
        kind: what the registry holds, used in error messages ("attention module", "backbone").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, fn: Callable[..., Any] | None = None, **meta: Any) -> Any:
        """Register ``fn`` under ``name``; usable as ``@REG.register("key", paper=...)`` or called directly.

        Args:
            name: lowercase snake_case key, never derived from ``__name__``.
            fn: the constructor; omit to use as a decorator.
            **meta: metadata shown by ``attnbench list`` (``paper``, ``arxiv``, ``hook``, ``defaults``...).
        """
        if not isinstance(name, str) or not _KEY.fullmatch(name):
            raise ValueError(f"{self.kind} key '{name}' must be lowercase snake_case (letters, digits, '_').")

        def deco(f: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise DuplicateNameError(f"{self.kind} '{name}' is already registered; choose another name.")
            self._entries[name] = Entry(name, f, dict(meta))
            return f

        return deco(fn) if fn is not None else deco

    def register_reference(self, name: str, fn: Callable[..., Any], **meta: Any) -> Entry:
        """Register ``fn`` under a *reference* rather than a key: a name that says where the entry comes from
        (``timm:efficientnet_b0``, ``models/net.py:build``), resolved when a user names it. The reference is kept
        as the user wrote it, so result rows name their source; registering it again returns the first entry."""
        if not isinstance(name, str) or ":" not in name or name != name.strip() or "," in name:
            raise ValueError(f"{self.kind} reference '{name}' must read 'SOURCE:NAME', without commas or spaces.")
        if name not in self._entries:
            self._entries[name] = Entry(name, fn, dict(meta))
        return self._entries[name]

    def unregister(self, name: str) -> None:
        """Remove ``name`` (used by tests and by plugin reloads)."""
        self.get(name)
        del self._entries[name]

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self, include: str | list[str] | None = None, exclude: str | list[str] | None = None) -> list[str]:
        """Registered keys in registration order, filtered by fnmatch patterns."""
        inc = [include] if isinstance(include, str) else include
        exc = [exclude] if isinstance(exclude, str) else (exclude or [])
        out = [n for n in self._entries if inc is None or any(fnmatch.fnmatch(n, p) for p in inc)]
        return [n for n in out if not any(fnmatch.fnmatch(n, p) for p in exc)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


ATTENTION = Registry("attention module")
BACKBONES = Registry("backbone")
HEADS = Registry("head")

# The baseline is an entry like any other, so baseline and attended models share one code path.
ATTENTION.register(
    "none",
    lambda channels, **kw: None,
    paper="no attention (baseline)",
    arxiv="",
    hook="block",
    baseline=True,
    defaults={},
)
