"""A grid of profile runs: modules × backbones × widths × inputs, one profile run per (backbone, width, input).

Every configuration is validated before anything is measured. Each finished group of rows is appended to the
CSV at once (complete lines, flushed and fsynced), so an interruption keeps every finished group; ``resume`` skips
rows already in the file and measures only what is missing, with no duplicates.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError
from ..io.csvfile import append_rows, check_target, read_rows
from .records import COLUMNS, ProfileRecord, as_dict
from .runner import profile
from .spec import BASELINE, ProfileSpec

KEY = ("backbone", "module", "width", "input_size", "batch", "device", "dtype", "threads", "build")


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """A row's identity in a sweep, normalised so CSV strings and measured values compare equal."""
    out = []
    for k in KEY:
        v = row[k]
        out.append(
            repr(float(v))
            if k == "width"
            else str(int(float(v)))
            if k in ("input_size", "batch", "threads")
            else str(v)
        )
    return tuple(out)


def plan(
    build_spec: Callable[..., ProfileSpec], modules: Iterable[str], backbones: Iterable[str], widths: Iterable[float],
    inputs: Iterable[int], **fields: Any,
) -> list[ProfileSpec]:  # fmt: skip
    """One validated spec per (backbone, width, input); raises on the first bad configuration, before any work."""
    mods = list(modules)
    return [build_spec(mods, backbone=b, width=w, input_size=i, **fields)
            for b, w, i in itertools.product(backbones, widths, inputs)]  # fmt: skip


def existing_keys(path: Path) -> set[tuple[str, ...]]:
    """Keys of the rows already in a results CSV (empty when the file does not exist yet)."""
    check_target(path, COLUMNS)
    try:
        return {row_key(r) for r in read_rows(path, COLUMNS).rows if all(r.get(k) for k in KEY)}
    except ValueError as exc:
        raise ResultsFileError(f"--csv '{path}' has a malformed row ({exc}); fix it or choose a new file.") from exc


def run(
    specs: list[ProfileSpec], csv_path: Path | None, resume: bool, progress: Callable[[str, bool], None] | None = None
) -> Iterator[tuple[list[ProfileRecord], tuple[str, ...]]]:
    """Measure each spec (minus rows already in ``csv_path`` when resuming), append its rows, yield them with the
    run's warnings, one group at a time."""
    done = existing_keys(csv_path) if csv_path is not None and resume else set()
    if csv_path is not None:
        check_target(csv_path, COLUMNS)
    for spec in specs:
        wanted = [n for n in spec.names if not all(row_key(_key_fields(spec, n, b)) in done for b in spec.builds)]
        label = f"{spec.backbone} ×{spec.width:g} @{spec.input_size}"
        if not wanted:
            if progress:
                progress(f"{label}: already in the CSV", True)
            continue
        if progress:
            progress(f"{label}: {', '.join(wanted)}", False)
        result = profile(replace(spec, modules=tuple(n for n in wanted if n != BASELINE)))
        rows = [r for r in result.records if row_key(as_dict(r)) not in done]
        if csv_path is not None:
            append_rows(csv_path, COLUMNS, (as_dict(r) for r in rows))
        yield rows, result.warnings
        if progress:
            progress(f"{label}: done", True)


def _key_fields(spec: ProfileSpec, name: str, build: str) -> dict[str, Any]:
    return {"backbone": spec.backbone, "module": name, "width": spec.width, "input_size": spec.input_size,
            "batch": spec.batch, "device": spec.device, "dtype": spec.dtype, "threads": spec.threads, "build": build}  # fmt: skip
