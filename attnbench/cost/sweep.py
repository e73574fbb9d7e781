"""A grid of profile runs: modules × backbones × widths × inputs, one profile run per (backbone, width, input).

Every configuration is validated before anything is measured. Each finished group of rows is appended to the
CSV at once (complete lines, flushed and fsynced), so an interruption keeps every finished group; ``resume`` skips
rows already in the file and measures only what is missing, with no duplicates.

What counts as done when resuming: a row with ``status=ok`` and the same configuration (``records.KEY``) that
measured what this run measures. A count-only row does not satisfy a latency run; a timed row satisfies a
count-only run (it holds the same counts), and a latency run when it was timed under the same settings:
``--repeats``, ``--precision``, ``--max-time`` and ``--warm-calls`` (the row's ``latency_repeats``,
``latency_precision_pp``, ``latency_max_time_s``, ``warm_calls``), whatever ended its rounds (``latency_stop``: the
precision target or the time budget). A row written before the first three columns existed counts when it took at
least ``--repeats`` samples, as it did then; one written before ``warm_calls`` was timed cold (0 warm calls), and warm
and cold samples measure different things. ``--warmup`` is not recorded in the rows, so it cannot be keyed on. A
``failed`` row is history, never done: it is measured again and the new row is appended after it. Rows with the
wrong field count (a torn line) are not done.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from .. import modules
from ..errors import opt
from ..io.csvfile import CsvAppender, check_target
from .records import (
    COLUMNS,
    HEAD_COLUMNS,
    KEY,
    MODULE_KEY,
    USUAL,
    VALUES,
    ProfileRecord,
    as_dict,
    read_result_rows,
    upgrade,
)
from .reduction import reduction_for
from .runner import effective_position, profile
from .shape import input_label, parse_input_size
from .spec import BASELINE, ProfileSpec


class Timing(NamedTuple):
    """How a timed row was measured: its sample count and the settings of its timing rounds."""

    n: int
    repeats: int | None
    """``None`` for a row written before the settings were recorded."""
    precision_pp: float | None
    max_time_s: float | None
    warm_calls: int
    """Untimed calls before each sample (0 for a row written before ``warm_calls``: it was timed cold)."""

    def stands_for(self, spec: ProfileSpec) -> bool:
        """Whether a row timed this way stands for ``spec``'s timing: the same settings, whatever ended the rounds
        (an older row without settings: at least ``spec.repeats`` samples), and the same warm calls."""
        if self.warm_calls != spec.warm_calls:
            return False
        if self.repeats is None or self.precision_pp is None or self.max_time_s is None:
            return self.n >= spec.repeats
        return (
            self.repeats == spec.repeats
            and math.isclose(self.precision_pp, 100 * spec.precision, rel_tol=1e-9)
            and math.isclose(self.max_time_s, spec.max_time, rel_tol=1e-9, abs_tol=1e-12)
        )


Done = dict[tuple[str, ...], set[Timing | None]]
"""Configuration key → what its ok rows measured: ``None`` for counts only, else how they were timed."""


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """A row's identity in a sweep, normalised so CSV strings and measured values compare equal."""
    out = []
    for k in KEY:
        v = row[k]
        if k == "quantize" and (v is None or v == ""):
            out.append(USUAL["quantize"])  # a row written before the quantize column
        elif k == "reduction_rule" and (v is None or v == ""):
            out.append(legacy_rule(row))  # a row written before the reduction_rule column (or the baseline)
        elif v is None or v == "":
            out.append("")
        elif k == "input_size":
            out.append(str(input_label(parse_input_size(v))))
        elif k in VALUES and VALUES[k].kind is float:
            out.append(repr(float(v)))
        elif k in VALUES and VALUES[k].kind is int:
            out.append(str(int(float(v))))
        else:
            out.append(str(v))
    return tuple(out)


def legacy_rule(row: dict[str, Any]) -> str:
    """The ``reduction_rule`` of a row written before that column: ``given`` when its r differs from the module's
    own default (it was set with ``--reduction``), else ``default``; empty for the baseline."""
    module, r = row.get("module", ""), row.get("reduction")
    if module == BASELINE:
        return ""
    try:
        own = modules.attention_defaults(module).get("reduction")
    except modules.UnknownNameError:  # a plugin module that is not loaded: its default is unknown
        own = None
    if r is None or r == "" or (isinstance(own, int) and int(float(r)) == own):
        return "default"
    return "given"


def row_timing(row: dict[str, Any]) -> Timing | None:
    """How a row was timed, or ``None`` for a count-only row."""
    n, median = row.get("latency_n"), row.get("latency_ms_median")
    if n in (None, "") or median in (None, ""):
        return None

    def number(column: str) -> float | None:
        v = row.get(column)
        return None if v in (None, "") else float(v)

    repeats = number("latency_repeats")
    return Timing(
        int(float(n)),
        None if repeats is None else int(repeats),
        number("latency_precision_pp"),
        number("latency_max_time_s"),
        int(number("warm_calls") or 0),
    )


def plan(
    build_spec: Callable[..., ProfileSpec],
    modules: Iterable[str],
    backbones: Iterable[str],
    widths: Iterable[float],
    inputs: Iterable[int],
    **fields: Any,
) -> list[ProfileSpec]:
    """One validated spec per (backbone, width, input); raises on the first bad configuration, before any work.

    A value given twice (``--widths 0.5,.5``) is one configuration, measured once.
    """
    mods = list(modules)
    axes = [list(dict.fromkeys(axis)) for axis in (backbones, widths, inputs)]
    return [build_spec(mods, backbone=b, width=w, input_size=i, **fields) for b, w, i in itertools.product(*axes)]


def existing(path: Path) -> Done:
    """What the ok rows already in a results CSV measured, by configuration (empty when the file does not exist).

    Raises:
        ResultsFileError: the file cannot take rows (``check_target``), or a cell breaks its column's rule
            (``FILE:LINE: column 'x': ...``, from ``records.read_result_rows``).
    """
    check_target(path, COLUMNS)
    done: Done = {}
    required = [k for k in KEY if k == "module" or k not in (*MODULE_KEY, *HEAD_COLUMNS)]  # set in every ok row
    checked = read_result_rows(path, opt("csv"), "choose another path.", missing_ok=True, columns=COLUMNS)
    for _, r in checked.rows:
        if r.get("status") == "ok" and all(r.get(k) not in (None, "") for k in required):
            done.setdefault(row_key(r), set()).add(row_timing(r))
    return done


def is_done(done: Done, spec: ProfileSpec, name: str, build: str) -> bool:
    """Whether ``done`` holds a row that stands for model ``name`` (``build``) as ``spec`` would measure it."""
    measured = done.get(row_key(_key_fields(spec, name, build)), set())
    if not spec.latency:
        return bool(measured)
    return any(t is not None and t.stands_for(spec) for t in measured)


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
    out = CsvAppender(csv_path, COLUMNS).open() if csv_path is not None else None  # checks the target first
    try:
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
            if out is not None:  # one appender for the run: a file replaced or removed meanwhile takes no rows
                out.extend(as_dict(r) for r in rows)
            for r in rows:  # measured now: a later spec of the same run that names it again does not measure it again
                if r.status == "ok":
                    done.setdefault(row_key(as_dict(r)), set()).add(row_timing(as_dict(r)))
            yield rows, result.warnings
            if progress:
                progress(f"{label}: done", True)
    finally:
        if out is not None:
            out.close()


def _key_fields(spec: ProfileSpec, name: str, build: str) -> dict[str, Any]:
    reduction = reduction_for(spec, name)
    return {
        "backbone": spec.backbone,
        "module": name,
        "position": effective_position(spec, name),
        "reduction": reduction.value,
        "reduction_rule": reduction.rule,
        "width": spec.width,
        "input_size": input_label(spec.input_size),
        "head": spec.head or "",
        "head_classes": spec.classes if spec.head else None,
        "output_stride": spec.stride,
        "head_slots": spec.slots,
        "batch": spec.batch,
        "device": spec.device,
        "dtype": spec.dtype,
        "threads": spec.threads,
        "build": build,
        "quantize": spec.quantize,
        "mode": spec.mode,
    }
