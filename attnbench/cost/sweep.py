"""A grid of profile runs: modules × backbones × widths × inputs, one profile run per (backbone, width, input).

Every configuration is validated before anything is measured. Each finished group of rows is appended to the
CSV at once (complete lines, flushed and fsynced), so an interruption keeps every finished group; ``resume`` skips
rows already in the file and measures only what is missing, with no duplicates.

What counts as done when resuming: a row with ``status=ok`` and the same configuration (``KEY``: backbone, module,
position, reduction, width, input size, batch, device, dtype, threads, build) that measured at least what this run
measures. A count-only row does not satisfy a latency run; a timed row satisfies a count-only run (it holds the
same counts), and a latency run when it took at least ``--repeats`` samples (timing samples until precise, so
``latency_n`` is the number it needed, never fewer than ``--repeats``).
``--warmup`` is not recorded in the rows, so it cannot be keyed on. A ``failed`` row is history, never done: it is
measured again and the new row is appended after it. Rows with the wrong field count (a torn line) are not done.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import FileRepairNotice, ResultsFileError
from ..io.csvfile import append_rows, atomic_write, check_target, csv_text, read_rows, read_table
from .records import ADDED_COLUMNS, COLUMNS, HEAD_COLUMNS, ProfileRecord, as_dict, legacy_defaults
from .runner import effective_position, effective_reduction, profile
from .shape import input_label, parse_input_size
from .spec import BASELINE, ProfileSpec

KEY = ("backbone", "module", "position", "reduction", "width", "input_size", "head", "head_classes", "output_stride",
       "head_slots", "batch", "device", "dtype", "threads", "build", "quantize", "mode")  # fmt: skip
"""A row's configuration: what must be equal for a row to stand for another."""

Done = dict[tuple[str, ...], set[int | None]]
"""Configuration key → what its ok rows measured: ``None`` for counts only, else the latency sample count."""


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """A row's identity in a sweep, normalised so CSV strings and measured values compare equal."""
    out = []
    for k in KEY:
        v = row[k]
        if k == "quantize" and (v is None or v == ""):
            out.append("none")  # a row written before the quantize column
        elif v is None or v == "":
            out.append("")
        elif k == "width":
            out.append(repr(float(v)))
        elif k == "input_size":
            out.append(str(input_label(parse_input_size(v))))
        elif k in ("batch", "threads", "reduction", "head_classes", "output_stride"):
            out.append(str(int(float(v))))
        else:
            out.append(str(v))
    return tuple(out)


def row_timing(row: dict[str, Any]) -> int | None:
    """What a row timed: its latency sample count, or ``None`` for a count-only row."""
    n, median = row.get("latency_n"), row.get("latency_ms_median")
    if n in (None, "") or median in (None, ""):
        return None
    return int(float(n))


def plan(
    build_spec: Callable[..., ProfileSpec], modules: Iterable[str], backbones: Iterable[str], widths: Iterable[float],
    inputs: Iterable[int], **fields: Any,
) -> list[ProfileSpec]:  # fmt: skip
    """One validated spec per (backbone, width, input); raises on the first bad configuration, before any work.

    A value given twice (``--widths 0.5,.5``) is one configuration, measured once.
    """
    mods = list(modules)
    axes = [list(dict.fromkeys(axis)) for axis in (backbones, widths, inputs)]
    return [build_spec(mods, backbone=b, width=w, input_size=i, **fields)
            for b, w, i in itertools.product(*axes)]  # fmt: skip


def is_older_header(header: list[str]) -> bool:
    """Whether ``header`` is today's ``COLUMNS`` less some of ``ADDED_COLUMNS`` (an older attnbench's file)."""
    return header != list(COLUMNS) and header == [c for c in COLUMNS if c in header or c not in ADDED_COLUMNS]


def upgrade(path: Path, option: str = "--csv") -> bool:
    """Rewrite a results CSV written before some of today's columns (runtime, mode, allocator) with today's
    header, so rows can be appended.

    Its rows are kept as they were, with the new columns filled by ``records.legacy_defaults`` (their build's
    runtime, no quantization, inference, the rest empty); the file is replaced atomically and a notice says so.
    Any other file is left alone (``check_target`` judges it). Returns whether the file was rewritten.
    """
    import warnings

    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            first = f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return False
    header = first.split(",")
    if not is_older_header(header):
        return False
    table = read_table(path, header, option)
    rows = [legacy_defaults(r) for _, r in table.rows]
    atomic_write(path, csv_text(COLUMNS, rows), option=option)
    warnings.warn(
        FileRepairNotice(
            f"{option} '{path}' had the columns of an older attnbench; rewritten with today's columns "
            f"({len(rows)} rows kept; new ones filled: runtime from their build, quantize none, mode inference)."
        ),
        stacklevel=2,
    )
    return True


def existing(path: Path) -> Done:
    """What the ok rows already in a results CSV measured, by configuration (empty when the file does not exist)."""
    check_target(path, COLUMNS)
    done: Done = {}
    required = [k for k in KEY if k not in ("position", "reduction", *HEAD_COLUMNS)]  # empty for the baseline
    try:
        for r in read_rows(path, COLUMNS).rows:
            if r.get("status") == "ok" and all(r.get(k) for k in required):
                done.setdefault(row_key(r), set()).add(row_timing(r))
    except ValueError as exc:
        raise ResultsFileError(f"--csv '{path}' has a malformed row ({exc}); fix it or choose a new file.") from exc
    return done


def is_done(done: Done, spec: ProfileSpec, name: str, build: str) -> bool:
    """Whether ``done`` holds a row that stands for model ``name`` (``build``) as ``spec`` would measure it."""
    measured = done.get(row_key(_key_fields(spec, name, build)), set())
    if not spec.latency:
        return bool(measured)
    return any(n is not None and n >= spec.repeats for n in measured)


def _record_done(done: Done, spec: ProfileSpec, record: ProfileRecord) -> bool:
    return is_done(done, spec, record.module, record.build)


def run(
    specs: list[ProfileSpec], csv_path: Path | None, resume: bool, progress: Callable[[str, bool], None] | None = None
) -> Iterator[tuple[list[ProfileRecord], tuple[str, ...]]]:
    """Measure each spec (minus rows already in ``csv_path`` when resuming), append its rows, yield them with the
    run's warnings, one group at a time."""
    if csv_path is not None:
        upgrade(csv_path)
    done = existing(csv_path) if csv_path is not None and resume else {}
    if csv_path is not None:
        check_target(csv_path, COLUMNS)
    for spec in specs:
        wanted = [n for n in spec.names if not all(is_done(done, spec, n, b) for b in spec.builds)]
        head = f" + {spec.head}" if spec.head else ""
        label = f"{spec.backbone}{head} ×{spec.width:g} @{input_label(spec.input_size)}"
        if not wanted:
            if progress:
                progress(f"{label}: already in the CSV", True)
            continue
        if progress:
            progress(f"{label}: {', '.join(wanted)}", False)
        result = profile(replace(spec, modules=tuple(n for n in wanted if n != BASELINE)))
        rows = [r for r in result.records if not _record_done(done, spec, r)]
        if csv_path is not None:
            append_rows(csv_path, COLUMNS, (as_dict(r) for r in rows))
        for r in rows:  # measured now: a later spec of the same run that names it again does not measure it again
            if r.status == "ok":
                done.setdefault(row_key(as_dict(r)), set()).add(row_timing(as_dict(r)))
        yield rows, result.warnings
        if progress:
            progress(f"{label}: done", True)


def _key_fields(spec: ProfileSpec, name: str, build: str) -> dict[str, Any]:
    return {"backbone": spec.backbone, "module": name, "position": effective_position(spec, name),
            "reduction": effective_reduction(spec, name), "width": spec.width,
            "input_size": input_label(spec.input_size), "head": spec.head or "",
            "head_classes": spec.classes if spec.head else None, "output_stride": spec.stride,
            "head_slots": spec.slots,
            "batch": spec.batch, "device": spec.device, "dtype": spec.dtype, "threads": spec.threads, "build": build,
            "quantize": spec.quantize, "mode": spec.mode}  # fmt: skip
