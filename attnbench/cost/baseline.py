"""Cost baselines for CI: write what a set of models costs, re-measure later, and judge the difference.

A baseline row holds exact counts (params, MACs, element-wise ops), compared exactly, and a latency *ratio* to the
``none`` row of the same configuration measured in the same run, compared with a tolerance: a ratio survives a
noisy, shared CI machine, an absolute time does not. The ratio is the median of the paired per-round ratios (sample
k of the module and of the baseline come from the same interleaved round), and the re-measured one is judged by its
95 % distribution-free interval, not by one number: a regression needs the whole interval above the old ratio plus
the tolerance, an improvement the whole interval below it minus the tolerance. Files written before the interval
columns existed still load (their quartile columns are kept and written too).

Latency is compared only when the torch version and device name match the baseline's (as pyperf refuses to compare
runs whose metadata differ), unless forced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .. import modules
from ..errors import BaselineFileError, DeviceUnavailableError, UsageError, name_fields, opt
from ..io.reading import BadValue, Rule, bad_value
from ..stats import paired_ratio, quartiles
from .records import BASELINE_KEY, MODULE_KEY, USUAL, legacy_defaults, read_result_rows
from .records import VALUES as RESULT_VALUES
from .runner import ProfileResult, profile
from .shape import input_label, parse_input_size
from .spec import BASELINE, ProfileSpec, check_name

EXACT = ("params", "macs", "elementwise_ops")
METRICS = (*EXACT, "latency")
CONFIG = BASELINE_KEY
"""A row's configuration (``records.BASELINE_KEY``)."""
REQUIRED = tuple(c for c in CONFIG if c not in ("build", "quantize"))
"""The configuration columns every baseline file has; files written before the runtimes lack the other two."""
LEGACY_BUILD = "runtime"
"""What older baseline files called the ``build`` column."""
COLUMNS = (
    *CONFIG,
    *EXACT,
    "latency_ratio",
    "latency_ratio_q1",
    "latency_ratio_q3",
    "latency_ratio_ci_low",
    "latency_ratio_ci_high",
    "latency_n",
    "torch_version",
    "runtime_version",
    "device_name",
    "timestamp_utc",
)
_GROUP = tuple(c for c in CONFIG if c != "module")
"""The configuration a baseline ``none`` and its modules share: measured together by one profile spec."""


def config_label(c: dict[str, Any]) -> str:
    """``mbv2/ca w1 @224 after_dw r32``: a baseline row's configuration in a message (``on onnxruntime int8`` when
    it was not eager)."""
    slot = f" {c['position']}" if c.get("position") else ""
    r = f" r{c['reduction']}" if c.get("reduction") is not None else ""
    rt = c.get("build") or "eager"
    q = c.get("quantize") or "none"
    on = f" on {rt}" + (f" {q}" if q != "none" else "") if (rt, q) != ("eager", "none") else ""
    return f"{c['backbone']}/{c['module']} w{c['width']:g} @{input_label(c['input_size'])}{slot}{r}{on}"


@dataclass(frozen=True)
class BaselineRow:
    """One model of a baseline, keyed by its configuration."""

    config: dict[str, Any]
    params: int
    macs: int
    elementwise_ops: int
    latency_ratio: float | None = None
    latency_ratio_q1: float | None = None
    latency_ratio_q3: float | None = None
    latency_ratio_ci_low: float | None = None
    latency_ratio_ci_high: float | None = None
    """The 95 % interval of ``latency_ratio`` (empty in older files and with fewer than 6 paired samples)."""
    latency_n: int | None = None
    torch_version: str = ""
    runtime_version: str = ""
    device_name: str = ""
    timestamp_utc: str = ""
    line: int = 0
    """Line in the CSV file (header = 1), for annotations."""

    @property
    def label(self) -> str:
        return config_label(self.config)

    def as_row(self) -> dict[str, Any]:
        return {**self.config, **{k: getattr(self, k) for k in COLUMNS if k not in self.config}}


@dataclass(frozen=True)
class Finding:
    """One metric of one row, compared."""

    row: BaselineRow
    metric: str
    old: float | None
    new: float | None
    status: str
    """ok, regression, changed (an exact metric moved down: still a failure), improved, or skipped."""
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("regression", "changed")


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]


def _ratio_stats(result: ProfileResult, name: str, build: str = "eager") -> dict[str, Any]:
    """The latency columns of a baseline row, from the paired samples of its model and the baseline (same build)."""
    base, own = result.samples_ms.get((BASELINE, build)), result.samples_ms.get((name, build))
    if not base or not own:
        return {}
    est = paired_ratio(own, base)
    q1, _, q3 = quartiles([a / b for a, b in zip(own, base)])
    return {
        "latency_ratio": est.median,
        "latency_ratio_q1": q1,
        "latency_ratio_q3": q3,
        "latency_ratio_ci_low": est.low,
        "latency_ratio_ci_high": est.high,
        "latency_n": est.n,
    }


def _record_config(r: Any) -> dict[str, Any]:
    """A profile record's configuration as a baseline keys it."""
    return {k: getattr(r, k) for k in CONFIG}


def rows_from_result(result: ProfileResult) -> list[BaselineRow]:
    """Baseline rows for every record of a profile run that was measured (``status=ok``), one per runtime."""
    rows = []
    for r in result.records:
        if r.status != "ok":
            continue
        rows.append(
            BaselineRow(
                config=_record_config(r),
                params=r.params,
                macs=r.macs,
                elementwise_ops=r.elementwise_ops,
                **_ratio_stats(result, r.module, r.build),
                torch_version=r.torch_version,
                runtime_version=r.runtime_version,
                device_name=r.device_name,
                timestamp_utc=r.timestamp_utc,
            )
        )
    return rows


class Measured(NamedTuple):
    """What ``measure`` got: the rows measured, and the configurations that failed with their errors."""

    rows: list[BaselineRow]
    failed: dict[tuple[Any, ...], tuple[str, str]]
    """``CONFIG`` key → (row label, error) of every eager model that failed; it has no row in ``rows``."""

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.failed)


def measure(specs: Iterable[ProfileSpec], progress: Any = None) -> Measured:
    """Profile every spec and collect the baseline rows, the ``none`` row of each configuration once.

    A model that fails is left out of the rows (a baseline row always holds its counts) and reported in ``failed``.
    ``progress(text, advance)`` is called as each spec starts and goes on (``advance`` False) and once when it ends
    (``advance`` True): one step per spec.
    """
    seen: set[tuple[Any, ...]] = set()
    out = []
    failed: dict[tuple[Any, ...], tuple[str, str]] = {}
    for spec in specs:
        label = f"{spec.backbone} ×{spec.width:g} @{input_label(spec.input_size)}"
        if progress:
            progress(label, False)
        inner = (lambda text, label=label: progress(f"{label}: {text}", False)) if progress else None
        result = profile(spec, inner)
        if progress:
            progress(f"{label}: done", True)
        for r in result.records:
            config = _record_config(r)
            key = tuple(config[k] for k in CONFIG)
            if r.status != "ok" and key not in seen:
                seen.add(key)
                failed[key] = (config_label(config), r.error)
        for row in rows_from_result(result):
            key = tuple(row.config[k] for k in CONFIG)
            if key not in seen:
                seen.add(key)
                out.append(row)
    return Measured(out, failed)


VALUES: dict[str, Rule] = {
    **{k: rule for k, rule in RESULT_VALUES.items() if k in CONFIG},
    **dict.fromkeys((*EXACT, "latency_n"), Rule(int, low=0)),
    **dict.fromkeys(
        ("latency_ratio", "latency_ratio_q1", "latency_ratio_q3", "latency_ratio_ci_low", "latency_ratio_ci_high"),
        Rule(float, low=0, above=True),
    ),
}
"""What each numeric column of a baseline may hold: the configuration as in a results file (sizes and threads ≥ 1),
counts ≥ 0, ratios above 0."""
_NEEDED = tuple(c for c in CONFIG if c in VALUES and c != "reduction")
"""The numeric configuration every row must give (the baseline ``none`` has no reduction)."""


def _num(value: str, column: str, line: int, path: Path, rules: dict[str, Rule] = VALUES) -> Any:
    """A CSV cell checked against its column's rule (empty → None); one ``BaselineFileError`` line when it breaks it."""
    try:
        return rules[column].parse(value)
    except BadValue as exc:
        raise BaselineFileError(bad_value(path, line, column, exc, "fix or rewrite the file.")) from None


def _config_from(row: dict[str, str], line: int, path: Path) -> dict[str, Any]:
    """The ``CONFIG`` fields of a CSV row, numbers parsed, the columns an older file lacks filled in."""
    config = {k: _num(row.get(k, ""), k, line, path) if k in VALUES else row.get(k, "") for k in CONFIG}
    config["build"] = row.get("build") or row.get(LEGACY_BUILD) or "eager"
    config["quantize"] = row.get("quantize") or USUAL["quantize"]
    return config


def read_baseline(path: Path) -> list[BaselineRow]:
    """Parse and validate a baseline CSV; every problem is one ``BaselineFileError`` line naming file and line.

    Read as every attnbench file is (``csvfile.read_table``): only a regular file is opened (a FIFO or a device is
    refused, never read), a byte order mark and CRLF line ends are ignored, NUL bytes and a column named twice are
    refused; every number is checked against its rule (``io.reading.Rule``: counts ≥ 0, ratios > 0).
    """
    from ..io.csvfile import read_table

    fix = "give the baseline CSV 'attnbench baseline write' wrote, or rewrite it with that command."
    write = f"write one with 'attnbench baseline write {path}'."
    table = read_table(path, None, "baseline", fix=fix, error=BaselineFileError, missing_ok=False, missing_fix=write)
    if not table.header:
        raise BaselineFileError(f"baseline '{path}' is empty; {write}")
    header = table.header
    missing = [c for c in (*REQUIRED, *EXACT) if c not in header]
    unknown = [c for c in header if c not in (*COLUMNS, LEGACY_BUILD)]
    if missing or unknown:
        what = f"lacks columns {', '.join(missing)}" if missing else f"has unknown columns {', '.join(unknown)}"
        raise BaselineFileError(f"baseline '{path}' {what}; rewrite it with 'attnbench baseline write'.")
    if table.bad:
        line, fields = table.bad[0]
        raise BaselineFileError(f"{path}:{line}: {fields} fields, the header has {len(header)}; fix or rewrite.")
    rows = []
    for i, d in table.rows:
        if not any(d.values()):
            continue
        for name, reg in (("module", modules.ATTENTION), ("backbone", modules.BACKBONES)):
            try:
                check_name(reg, d[name])
            except UsageError as exc:
                raise BaselineFileError(f"{path}:{i}: {exc}") from None
        config = _config_from(d, i, path)
        if any(config[k] is None for k in _NEEDED):
            raise BaselineFileError(f"{path}:{i}: {', '.join(_NEEDED)} must be given.")
        exact = {k: _num(d[k], k, i, path) for k in EXACT}
        if None in exact.values():
            raise BaselineFileError(f"{path}:{i}: params, macs and elementwise_ops must be given.")
        rows.append(
            BaselineRow(
                config=config,
                **exact,
                latency_ratio=_num(d.get("latency_ratio", ""), "latency_ratio", i, path),
                latency_ratio_q1=_num(d.get("latency_ratio_q1", ""), "latency_ratio_q1", i, path),
                latency_ratio_q3=_num(d.get("latency_ratio_q3", ""), "latency_ratio_q3", i, path),
                latency_ratio_ci_low=_num(d.get("latency_ratio_ci_low", ""), "latency_ratio_ci_low", i, path),
                latency_ratio_ci_high=_num(d.get("latency_ratio_ci_high", ""), "latency_ratio_ci_high", i, path),
                latency_n=_num(d.get("latency_n", ""), "latency_n", i, path),
                torch_version=d.get("torch_version", ""),
                runtime_version=d.get("runtime_version", ""),
                device_name=d.get("device_name", ""),
                timestamp_utc=d.get("timestamp_utc", ""),
                line=i,
            )
        )
    if not rows:
        raise BaselineFileError(f"baseline '{path}' has no rows; write one with 'attnbench baseline write {path}'.")
    return rows


def select_runtimes(rows: Sequence[BaselineRow], names: Sequence[str], path: Path) -> list[BaselineRow]:
    """The rows of ``rows`` on the runtimes ``names`` (each a known runtime); one line when none is left."""
    from ..runtimes import get, runtime_of

    for name in names:
        get(name)
    kept = [r for r in rows if runtime_of(r.config["build"]) in names or r.config["build"] in names]
    if not kept:
        have = ", ".join(dict.fromkeys(r.config["build"] for r in rows))
        raise UsageError(f"baseline '{path}' has no rows on {opt('runtime')} {', '.join(names)}; it has: {have}.")
    return kept


def write_baseline(path: Path, rows: Sequence[BaselineRow]) -> None:
    """Write ``rows`` atomically (``csvfile.atomic_write``): readers see the old file or the whole new one.

    The file gets the mode a new file gets under the user's umask. Check the path with ``csvfile.check_path``
    before measuring; this checks it again.

    Raises:
        ResultsFileError: the path cannot take a file (a folder, a symbolic link, a missing folder).
        FileWriteError: writing failed (the old file is unchanged).
    """
    from ..io.csvfile import atomic_write, csv_text

    atomic_write(path, csv_text(COLUMNS, [row.as_row() for row in rows]), option="")


def specs_for(
    rows: Iterable[BaselineRow],
    latency: bool,
    repeats: int,
    warmup: int,
    precision: float = 0.02,
    max_time: float = 60.0,
    path: Path | None = None,
    warm_calls: int = 1,
) -> list[ProfileSpec]:
    """One profile spec per configuration group; each measures its baseline and all of its modules together.

    The configuration comes from the file, so a value that does not fit (a width outside the backbone's range, an
    unknown slot or dtype, more threads than this machine's cores when latency is timed) is a file error,
    ``FILE:LINE: ...`` naming the column; ``repeats`` and ``warmup`` are the command's own options.

    Raises:
        BaselineFileError: a row's configuration is not valid (exit 2).
        DeviceUnavailableError: a row's device is not present here (exit 1), with the file and line.
        UsageError: ``repeats`` or ``warmup`` is bad.
    """
    ProfileSpec(
        modules=(),
        repeats=repeats,
        warmup=warmup,
        latency=latency,
        precision=precision,
        max_time=max_time,
        warm_calls=warm_calls,
    ).validate(require_module=False)
    groups: dict[tuple[Any, ...], list[str]] = {}
    lines: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(row.config[k] for k in _GROUP)
        names = groups.setdefault(key, [])
        lines.setdefault(key, row.line)
        if row.config["module"] != BASELINE:
            names.append(row.config["module"])
    specs = []
    for key, names in groups.items():
        c = dict(zip(_GROUP, key))
        where = f"{path}:{lines[key]}" if path is not None else f"line {lines[key]}"
        spec = ProfileSpec(
            modules=tuple(dict.fromkeys(names)),
            backbone=c["backbone"],
            width=c["width"],
            input_size=parse_input_size(c["input_size"]),
            batch=c["batch"],
            device=c["device"],
            dtype=c["dtype"],
            threads=c["threads"],
            reduction=c["reduction"],
            position=c["position"] or None,
            builds=(c["build"],),
            quantize=c["quantize"],
            latency=latency,
            memory=False,
            repeats=repeats,
            warmup=warmup,
            precision=precision,
            max_time=max_time,
            warm_calls=warm_calls,
        )
        try:
            # threads only matter where latency is timed
            specs.append(spec.validate(require_module=False, check_cores=latency, hint_small=False))
        except DeviceUnavailableError as exc:  # the values came from the file: its columns, not the command's options
            raise DeviceUnavailableError(f"{where}: {_as_columns(exc)}") from None
        except UsageError as exc:
            raise BaselineFileError(f"{where}: {_as_columns(exc).rstrip('.')}; fix or rewrite the file.") from None
    return specs


def _as_columns(exc: Exception) -> str:
    """A message about a value read from the baseline file, its fields named as the file's columns."""
    return name_fields(str(exc), lambda field: None)


def compare(
    old: Sequence[BaselineRow],
    new: Sequence[BaselineRow],
    metrics: Sequence[str],
    tolerance: float,
    force: bool,
    failed: dict[tuple[Any, ...], tuple[str, str]] | None = None,
) -> CheckResult:
    """Judge every old row against its re-measured twin; a row that failed to re-measure is a regression naming why
    (``failed`` as from ``measure``)."""
    by_key = {tuple(r.config[k] for k in CONFIG): r for r in new}
    result = CheckResult()
    for row in old:
        key = tuple(row.config[k] for k in CONFIG)
        twin = by_key.get(key)
        if twin is None:
            why = (
                f"could not be re-measured: {failed[key][1]}"
                if failed and key in failed
                else "row could not be re-measured"
            )
            result.findings.append(Finding(row, "row", None, None, "regression", why))
            continue
        for metric in EXACT:
            if metric not in metrics:
                continue
            a, b = getattr(row, metric), getattr(twin, metric)
            status = "ok" if a == b else ("regression" if b > a else "changed")
            result.findings.append(Finding(row, metric, a, b, status))
        if "latency" in metrics and row.config["module"] != BASELINE:
            result.findings.append(_judge_latency(row, twin, tolerance, force))
    return result


def _judge_latency(row: BaselineRow, twin: BaselineRow, tolerance: float, force: bool) -> Finding:
    if row.latency_ratio is None:
        return Finding(row, "latency", None, twin.latency_ratio, "skipped", "the baseline has no latency ratio")
    if twin.latency_ratio is None:
        return Finding(row, "latency", row.latency_ratio, None, "skipped", "latency was not measured")
    differs = [
        f"{what} {a or '?'} → {b}"
        for what, a, b in (
            ("torch", row.torch_version, twin.torch_version),
            (row.config["build"], row.runtime_version, twin.runtime_version),
            ("device", row.device_name, twin.device_name),
        )
        if a != b
    ]
    if differs and not force:
        note = f"not compared: {'; '.join(differs)} (pass {opt('force')} to compare anyway)"
        return Finding(row, "latency", row.latency_ratio, twin.latency_ratio, "skipped", note)
    limit_hi, limit_lo = row.latency_ratio * (1 + tolerance), row.latency_ratio * (1 - tolerance)
    low, high = twin.latency_ratio_ci_low, twin.latency_ratio_ci_high
    if low is None or high is None:
        note = f"no 95% interval from {twin.latency_n} paired samples; raise {opt('repeats')}"
        return Finding(row, "latency", row.latency_ratio, twin.latency_ratio, "skipped", note)
    note = (
        f"95% interval {low:.3f}–{high:.3f} over {twin.latency_n} paired samples; limits {limit_lo:.3f}–{limit_hi:.3f}"
    )
    if differs:
        note += f"; forced across {'; '.join(differs)}"
    if low > limit_hi:
        status = "regression"
    elif high < limit_lo:
        status = "improved"
    else:
        status = "ok"
    return Finding(row, "latency", row.latency_ratio, twin.latency_ratio, status, note)


def rows_from_profile_csv(path: Path) -> Measured:
    """Baseline rows from a profile/sweep CSV: the rows of every runtime (a build is its runtime here), each latency
    ratio taken against the ``none`` row of the same configuration, runtime, quantization and run (same ``timestamp_utc``): ``d_latency_pct`` and its interval where the file has them (the paired
    median), else the ratio of the medians. Without paired samples, the quartiles equal it.

    Only ``status=ok`` rows become baseline rows; a configuration whose rows all failed is reported in ``failed``.
    A latency that is not a positive finite number is refused with its line."""
    from ..io.csvfile import parse_cell

    fix = "pass a results CSV that 'attnbench profile' or 'attnbench sweep' wrote."
    source = opt("from_csv")
    table = read_result_rows(path, source, fix, error=BaselineFileError)
    table = table._replace(rows=[(line, {k: _text(v) for k, v in r.items()}) for line, r in table.rows])
    header = table.header
    if table.bad:
        line, fields = table.bad[0]
        raise BaselineFileError(
            f"{source} '{path}' line {line} has {fields} fields, not {len(header)} (a torn or glued row); "
            "fix or remove that line."
        )
    if not header or any(c not in header for c in (*REQUIRED, *EXACT, "build", "latency_ms_median")):
        raise BaselineFileError(
            f"{source} '{path}' is not a profile CSV (expected the columns of the results CSV 'attnbench profile' "
            "writes)."
        )
    headed = next(((line, r["head"]) for line, r in table.rows if r.get("head")), None)
    if headed is not None:
        raise BaselineFileError(
            f"{path}:{headed[0]}: a row of the dense head '{headed[1]}'; a baseline holds classification models "
            "only: give a file without head rows."
        )
    table = table._replace(rows=[(line, legacy_defaults(r)) for line, r in table.rows])
    eager = [(line, r) for line, r in table.rows if r.get("status", "ok") == "ok"]  # every runtime
    failed = {}
    for line, r in table.rows:
        if r.get("status", "ok") != "ok":
            config = _config_from(r, line, path)
            failed[tuple(config[k] for k in CONFIG)] = (config_label(config), r.get("error", "") or "failed")
    run = (*(c for c in _GROUP if c not in MODULE_KEY), "timestamp_utc")  # a model and the none it ran beside

    def latency(line: int, r: dict[str, str]) -> float | None:
        try:
            return parse_cell(r["latency_ms_median"], float, positive=True)
        except ValueError:
            raise BaselineFileError(
                f"{path}:{line}: column 'latency_ms_median' holds '{r['latency_ms_median']}', not a positive finite "
                "number; fix or remove that line."
            ) from None

    base = {tuple(r[k] for k in run): latency(line, r) for line, r in eager if r["module"] == BASELINE}
    rows = []
    for line, r in eager:
        own, none = latency(line, r), base.get(tuple(r[k] for k in run))
        ratio = own / none if own is not None and none is not None else None
        config = _config_from(r, line, path)
        low = high = None
        if none is not None and r.get("d_latency_pct"):
            ratio = 1 + float(r["d_latency_pct"]) / 100
            if r.get("d_latency_pct_ci_low") and r.get("d_latency_pct_ci_high"):
                low, high = (1 + float(r[c]) / 100 for c in ("d_latency_pct_ci_low", "d_latency_pct_ci_high"))
        rows.append(
            BaselineRow(
                config=config,
                **{k: _num(r[k], k, line, path) for k in EXACT},
                latency_ratio=ratio,
                latency_ratio_q1=ratio,
                latency_ratio_q3=ratio,
                latency_ratio_ci_low=low,
                latency_ratio_ci_high=high,
                latency_n=_num(r.get("latency_n", ""), "latency_n", line, path),
                torch_version=r.get("torch_version", ""),
                runtime_version=r.get("runtime_version", ""),
                device_name=r.get("device_name", ""),
                timestamp_utc=r.get("timestamp_utc", ""),
            )
        )
    latest = {tuple(r.config[k] for k in CONFIG): r for r in rows}  # a configuration measured twice: the last run
    failed = {k: v for k, v in failed.items() if k not in latest}  # measured again after it failed: not a failure
    if not latest and not failed:
        raise BaselineFileError(f"{source} '{path}' has no rows.")
    return Measured(list(latest.values()), failed)


def _text(value: Any) -> str:
    """A checked cell back as the text the parsers below take (``None`` → ``""``)."""
    return "" if value is None else str(value)
