"""Scatter plots of a results CSV: one labelled point per model, with the Pareto front marked.

Reads profile and sweep rows (``records.COLUMNS``), table rows and ablation rows (``top1``/``top5``). Rows that
share a model label (repeated runs, seeds) become one point at their median, with min-max error bars. Labels keep
only what tells the points apart: columns constant over all rows go to the title, and a column that another label
column already determines (``reduction`` when each module has its default) is left out. Non-eager builds
(``build`` column) are separate points tagged ``[compile]`` etc.

matplotlib runs through its object API (``Figure`` + ``FigureCanvasAgg``) and never touches pyplot's global state
or the process-wide backend, so plotting is safe inside any host application. pandas and matplotlib are imported
when a function needs them, so importing this module is light.
"""

from __future__ import annotations

import difflib
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Notice, ResultsFileError, SkippedRowsNotice, UsageError, opt
from .reading import Rule

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PlotPoint",
    "aggregate_points",
    "axis_label",
    "choose_label_boxes",
    "is_better_high",
    "model_labels",
    "pareto_front",
    "plot_csv",
    "read_results",
]

_DROP_ORDER = ("position", "threads", "dtype", "device", "batch", "reduction", "table", "input_size", "width")
"""Label columns tried for removal, first to last, when the remaining ones still tell every model apart."""

_COLOR_POINT = "#4C72B0"
_COLOR_FRONT = "#DD8452"
_FIG_SIZE = (16.0, 10.0)
_DPI = 100  # 1600 x 1000 px
_LABEL_FONT = 11.0


# -- pure helpers ------------------------------------------------------------------------------------------------


def is_better_high(column: str) -> bool:
    """Whether larger values of ``column`` are better: accuracy columns (``top1``, ``top5``, ``*acc*``) and
    throughput."""
    name = column.lower()
    return any(key in name for key in ("acc", "top1", "top5", "top_1", "top_5", "throughput"))


def pareto_front(
    points: Sequence[tuple[float, float]], maximize_y: bool = False, *, maximize_x: bool = False
) -> list[int]:
    """Indices of the non-dominated points, ordered by increasing x.

    A point dominates another when it is at least as good in x and in y and strictly better in one; "good" is
    small unless ``maximize_x``/``maximize_y``. Identical points do not dominate each other, so both stay.
    Points with a NaN coordinate are never on the front.
    """
    sx = -1.0 if maximize_x else 1.0
    sy = -1.0 if maximize_y else 1.0
    pts = [(sx * x, sy * y) for x, y in points]
    valid = sorted((i for i, (x, y) in enumerate(pts) if not (math.isnan(x) or math.isnan(y))), key=lambda i: pts[i])
    # One sweep in x order (O(n log n)): a point is dominated by one of smaller x with y at most its own, or by one
    # of the same x with smaller y.
    front = []
    best = math.inf  # the smallest y among points of smaller x
    k = 0
    while k < len(valid):
        same = [valid[k]]
        while k + len(same) < len(valid) and pts[valid[k + len(same)]][0] == pts[valid[k]][0]:
            same.append(valid[k + len(same)])
        lowest = pts[same[0]][1]  # sorted: the first of the group has its smallest y
        front.extend(i for i in same if pts[i][1] < best and pts[i][1] == lowest)
        best = min(best, lowest)
        k += len(same)
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))


def axis_label(column: str, values: Sequence[float] = ()) -> tuple[str, float]:
    """The axis label of ``column`` with its unit, and the factor that data is multiplied by for display.

    ``macs`` → ("MACs (M)", 1e-6); ``latency_ms_median`` → ("latency (ms, median)", 1); ``top1`` in [0, 1] →
    ("top-1 accuracy (%)", 100). Unknown large counts are shown in millions.
    """
    name = column.lower()
    prefix = ""
    base = name
    for pre, text in (("published_", "published "), ("attn_", "attention "), ("d_", "Δ ")):
        if base.startswith(pre):
            prefix, base = text, base[len(pre) :]
            break
    finite = [abs(v) for v in values if not math.isnan(v)]
    top = max(finite) if finite else 0.0
    millions = {
        "macs": "MACs",
        "madds": "MAdds",
        "params": "params",
        "elementwise_ops": "element-wise ops",
        "flops": "FLOPs",
    }
    if base in millions:
        return f"{prefix}{millions[base]} (M)", 1e-6
    if base.startswith("latency_ms"):
        stat = base[len("latency_ms") :].strip("_")
        if base.endswith("_pct"):
            return f"{prefix}latency (%)", 1.0
        if stat == "iqr":
            return f"{prefix}latency IQR (ms)", 1.0
        return (f"{prefix}latency (ms, {stat})" if stat else f"{prefix}latency (ms)"), 1.0
    if base.endswith("_pct"):
        return f"{prefix}{base[:-4].replace('_', ' ')} (%)", 1.0
    if base == "throughput_ips":
        return f"{prefix}throughput (images/s)", 1.0
    if base.endswith("_bytes"):
        return f"{prefix}{base[:-6].replace('_', ' ').replace('mem', 'memory')} (MB)", 1e-6
    acc = {"top1": "top-1 accuracy", "top5": "top-5 accuracy", "accuracy": "accuracy", "acc": "accuracy"}
    if base in acc or is_better_high(base) and "throughput" not in base:
        text = acc.get(base, base.replace("_", " "))
        return f"{prefix}{text} (%)", (100.0 if finite and top <= 1.0 else 1.0)
    if base.endswith("_ms"):
        return f"{prefix}{base[:-3].replace('_', ' ')} (ms)", 1.0
    if top >= 1e6:
        return f"{prefix}{base.replace('_', ' ')} (M)", 1e-6
    return prefix + base.replace("_", " "), 1.0


def _fmt(column: str, value: Any) -> str:
    """One label part; empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("", "nan", "<NA>"):
        return ""
    if isinstance(value, float) and value.is_integer() and column != "width":
        value = int(value)
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return {
        "reduction": f"r{text}",
        "width": f"×{text}",
        "input_size": f"@{text}",
        "batch": f"b{text}",
        "threads": f"{text}thr",
    }.get(column, text)


def _describe_constant(column: str, value: Any) -> str:
    """How a column shared by all rows reads in the title: ``mbv2``, ``width 1``, ``input 160``, ``r 16``."""
    text = _fmt(column, value)
    if not text or column in ("backbone", "module", "device", "dtype", "table", "position"):
        return text
    if column == "threads":
        return f"{text[:-3]} thread(s)"
    name = {"input_size": "input", "reduction": "r"}.get(column, column)
    return f"{name} {_fmt('', value)}"


def model_labels(
    frame: pd.DataFrame,
    label: str | None = None,
    *,
    identity: Sequence[str] = (),
    usual: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Per-row model labels and the descriptions of what all rows share (for the title).

    Args:
        frame: the results rows.
        label: ``None`` for the automatic label ("backbone/module r ×width @input", shortened); a column name to
            label points by that column; or a ``str.format`` template over the columns (``"{module} r{reduction}"``).
        identity: the columns that tell one model from another, in label order (the caller's configuration key);
            rows equal on all of them are repeats of one model. ``build`` is shown as a ``[tag]`` instead.
        usual: column → the value every row has unless told otherwise (``quantize: none``); a column constant at
            that value is not named in the title.

    Returns:
        (one label per row, constant descriptions such as ``"mbv2"``, ``"input 160"``). Rows whose ``build`` is not
        ``eager`` get the build as a ``[tag]`` when builds differ between rows.
    """
    rows = frame.to_dict("records")
    shared: list[str] = []
    builds = [str(r.get("build", "") or "") for r in rows] if "build" in frame.columns else []
    tag_builds = len(set(builds)) > 1
    if builds and not tag_builds and builds[0] not in ("", "eager", "nan"):
        shared.append(f"build {builds[0]}")
    if label is not None:
        if label in frame.columns:
            labels = [_fmt(label, r[label]) or "?" for r in rows]
        elif "{" in label:
            try:
                labels = [label.format_map({k: _fmt_plain(v) for k, v in r.items()}) for r in rows]
            except (KeyError, IndexError, ValueError) as e:
                raise UsageError(
                    f"label template '{label}' does not fit the columns ({e}); use {{column}} fields of: "
                    f"{', '.join(map(str, frame.columns))}."
                ) from e
        else:
            raise UsageError(_unknown(label, list(map(str, frame.columns)), "label column", opt("label")))
    else:
        present = [c for c in identity if c in frame.columns and c != "build"]
        varying = []
        for c in present:
            values = {_fmt(c, r[c]) for r in rows}
            if len(values) > 1:
                varying.append(c)
            elif values != {""} and values != {(usual or {}).get(c)}:
                shared.append(_describe_constant(c, rows[0][c]))

        def keys(cols: list[str]) -> set[tuple[str, ...]]:
            return {tuple(_fmt(c, r[c]) for c in cols) for r in rows}

        n_models = len(keys(varying))
        for c in _DROP_ORDER:
            if c in varying:
                rest = [v for v in varying if v != c]
                if rest and len(keys(rest)) == n_models:
                    varying = rest
        labels = []
        for r in rows:
            name = "/".join(p for p in (_fmt(c, r[c]) for c in ("backbone", "module") if c in varying) if p)
            extra = [p for p in (_fmt(c, r[c]) for c in varying if c not in ("backbone", "module")) if p]
            text = " ".join(([name] if name else []) + extra)
            if not text:  # every identity column is constant: the rows are runs of one model
                text = next((_fmt(c, r[c]) for c in ("module", "backbone") if c in frame.columns), "") or "model"
            labels.append(text)
    if tag_builds:
        labels = [f"{lab} [{b}]" if b not in ("", "eager", "nan") else lab for lab, b in zip(labels, builds)]
    return labels, shared


def _fmt_plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dataclass(frozen=True)
class PlotPoint:
    """One model on the plot: the median over its rows, and their range."""

    label: str
    x: float
    y: float
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    n: int
    """Rows aggregated into the point."""


def aggregate_points(labels: Sequence[str], xs: Sequence[float], ys: Sequence[float]) -> list[PlotPoint]:
    """One point per distinct label (first-appearance order): median x and y, min-max ranges, row count.

    Rows with a NaN x or y are skipped; a label with no complete row yields no point.
    """
    groups: dict[str, list[tuple[float, float]]] = {}
    for lab, x, y in zip(labels, xs, ys):
        if math.isnan(x) or math.isnan(y):
            continue
        groups.setdefault(lab, []).append((x, y))
    points = []
    for lab, pairs in groups.items():
        gx = sorted(p[0] for p in pairs)
        gy = sorted(p[1] for p in pairs)
        points.append(
            PlotPoint(lab, statistics.median(gx), statistics.median(gy), gx[0], gx[-1], gy[0], gy[-1], len(pairs))
        )
    return points


# -- reading -----------------------------------------------------------------------------------------------------


def _unknown(name: str, choices: list[str], what: str, option: str) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {what} '{name}'{hint}; choose {option} from: {', '.join(choices) or '(none)'}."


_FIX = "pass a CSV written by attnbench."
_EMPTY_FIX = "write rows to it with a profile or sweep first."
"""How to fill an empty results file (the CLI names its own options)."""
_CURVES_FIX = "run ablate with curve_samples > 0."
"""How to get learning curves into ablation rows (the CLI names its own options)."""


def _check_results_path(csv_path: Path) -> None:
    """Refuse a path that is missing or not a regular file before any work (the default ``--out`` is named after
    it); ``read_results`` reads it."""
    from .reading import check_regular

    check_regular(csv_path, f"results file '{csv_path}'", _FIX)


def _load(
    csv_path: Path, rules: Mapping[str, Rule] | None = None, empty_fix: str = _EMPTY_FIX
) -> tuple[list[tuple[int, dict[str, str]]], Any]:
    """The rows of a results CSV with their line numbers, and the same rows as a DataFrame (pandas' types)."""
    import pandas as pd

    from .csvfile import read_table
    from .reading import check_values

    table = read_table(csv_path, None, "results file", fix=_FIX, missing_ok=False)
    if not table.header:
        raise ResultsFileError(f"results file {csv_path} is empty; {empty_fix}")
    if table.bad:
        line, fields = table.bad[0]
        raise ResultsFileError(
            f"{csv_path}:{line}: {fields} fields, the header has {len(table.header)}; fix or remove that line."
        )
    if not table.rows:
        raise ResultsFileError(f"results file {csv_path} has a header but no rows; add rows before plotting.")
    # Infinite values pass here: the plot leaves them out with one notice (``plot_csv``).
    check_values(table.rows, rules or {}, csv_path, finite=False)
    frame = pd.DataFrame([r for _, r in table.rows], columns=table.header)
    frame = frame.mask(frame == "")  # an empty cell is a missing value
    for column in frame.columns:  # a column whose every cell is a number is numeric (``inf`` included)
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (TypeError, ValueError):
            pass
    return table.rows, frame


def read_results(
    csv_path: Path, rules: Mapping[str, Rule] | None = None, *, empty_fix: str = _EMPTY_FIX
) -> pd.DataFrame:
    """The rows of a results CSV, read as every attnbench reader does (``csvfile.read_table``: a regular file only,
    a byte order mark and CRLF ignored, NUL bytes and a column named twice refused), each cell of a column in
    ``rules`` checked against its rule (``inf`` is let through: the plot skips it with a notice).

    Raises:
        ResultsFileError: the file is missing, not a regular file, unreadable, not a CSV, has no rows, a row with
            another field count, or a cell that breaks its rule (``FILE:LINE``) (exit code 2).
    """
    return _load(csv_path, rules, empty_fix)[1]


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    import pandas as pd

    return [str(c) for c in frame.columns if pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _numeric(frame: pd.DataFrame, column: str, csv_path: Path, axis: str) -> list[float]:
    import pandas as pd

    numeric = _numeric_columns(frame)
    if column not in frame.columns:
        option = f"{opt(axis)} (a numeric column of {csv_path.name})"
        raise UsageError(_unknown(column, numeric, "column", option))
    values = pd.to_numeric(frame[column], errors="coerce")
    if not values.notna().any():
        raise UsageError(
            f"column '{column}' of {csv_path.name} has no numeric values; choose {opt(axis)} from: "
            f"{', '.join(numeric) or '(none)'}."
        )
    return [float(v) for v in values.astype("float64")]


def _apply_where(frame: pd.DataFrame, where: Mapping[str, Any], csv_path: Path) -> pd.DataFrame:
    import pandas as pd

    for column, wanted in where.items():
        if column not in frame.columns:
            raise UsageError(_unknown(column, list(map(str, frame.columns)), "filter column", opt("where")))
        col = frame[column]
        as_num = pd.to_numeric(col, errors="coerce")
        try:
            target = float(wanted)
            mask = (as_num == target) | (col.astype(str) == str(wanted))
        except (TypeError, ValueError):
            mask = col.astype(str) == str(wanted)
        if not mask.any():
            present = ", ".join(sorted({_fmt(column, v) or "(empty)" for v in col.tolist()}))
            raise UsageError(f"no row of {csv_path.name} has {column}={wanted}; values present: {present}.")
        frame = frame[mask]
    return frame


# -- drawing -----------------------------------------------------------------------------------------------------

_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_RADII = (7.0, 14.0, 24.0, 38.0, 56.0)
"""Label offsets tried, in points: the eight directions at growing distances."""


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


Rect = tuple[float, float, float, float]
"""x0, y0, x1, y1 in display pixels."""


def _inside(px: float, py: float, r: Rect) -> bool:
    return r[0] <= px <= r[2] and r[1] <= py <= r[3]


def _leader(center: tuple[float, float], rect: Rect, step: float = 6.0) -> list[tuple[float, float]]:
    """Sample points of the leader line from a marker to the nearest point of its label's box."""
    cx, cy = center
    tx, ty = min(max(cx, rect[0]), rect[2]), min(max(cy, rect[1]), rect[3])
    n = max(1, int(math.hypot(tx - cx, ty - cy) / step))
    return [(cx + (tx - cx) * k / n, cy + (ty - cy) * k / n) for k in range(2, n)]


def choose_label_boxes(
    centers: Sequence[tuple[float, float]],
    sizes: Sequence[tuple[float, float]],
    bounds: Rect,
    fixed: Sequence[Rect] = (),
    order: Sequence[int] | None = None,
    marker_px: float = 7.0,
    px_per_pt: float = _DPI / 72.0,
) -> list[tuple[float, float, float]]:
    """Greedy label placement in display pixels: ``(dx, dy, radius_pt)`` per point (``dx, dy`` in {-1, 0, 1}).

    Each label, in ``order``, takes the nearest candidate offset (eight directions at growing distances) that
    overlaps no placed label, marker, leader line or ``fixed`` box and stays inside ``bounds``; if none is free,
    the least-bad one. Far labels (beyond the second ring) get a leader line, which must not cross labels or
    markers either.
    """
    n = len(centers)
    markers = [(cx - marker_px, cy - marker_px, cx + marker_px, cy + marker_px) for cx, cy in centers]
    placed: list[Rect] = list(fixed)
    lines: list[tuple[float, float]] = []
    result: list[tuple[float, float, float]] = [(1.0, 1.0, _RADII[0])] * n
    for i in order if order is not None else range(n):
        w, h = sizes[i]
        cx, cy = centers[i]
        best = (math.inf, (1.0, 1.0, _RADII[0]), (cx, cy, cx + w, cy + h), [(cx, cy)])
        for ring, radius in enumerate(_RADII):
            for dx, dy in _DIRECTIONS:
                norm = math.hypot(dx, dy)
                ox, oy = dx / norm * radius * px_per_pt, dy / norm * radius * px_per_pt
                x0 = cx + ox - (w if dx < 0 else w / 2 if dx == 0 else 0)
                y0 = cy + oy - (h if dy < 0 else h / 2 if dy == 0 else 0)
                rect = (x0, y0, x0 + w, y0 + h)
                outside = max(0.0, bounds[0] - rect[0]) + max(0.0, rect[2] - bounds[2])
                outside += max(0.0, bounds[1] - rect[1]) + max(0.0, rect[3] - bounds[3])
                cost = outside * 1e4 + sum(_overlap(rect, o) for o in placed)
                cost += 3 * sum(_overlap(rect, m) for j, m in enumerate(markers) if j != i)
                cost += 150 * sum(1 for q in lines if _inside(*q, rect))
                own = _leader((cx, cy), rect) if ring > 1 else []
                cost += 150 * sum(1 for q in own for r in (*placed, *markers) if _inside(*q, r))
                cost += 40 * ring  # nearer is better when both overlap a little
                if cost < best[0]:
                    best = (cost, (float(dx), float(dy), radius), rect, own)
            if best[0] <= 40 * ring:  # a free spot on this ring: stop looking farther out
                break
        _, choice, rect, own = best
        result[i] = choice
        placed.append(rect)
        lines.extend(own)
    return result


def _place_labels(ax: Any, renderer: Any, pts: list[tuple[float, float]], texts: list[str], bold: list[bool]) -> None:
    """Annotate each point with its label, Pareto points first, avoiding other labels and markers."""
    font = _LABEL_FONT if len(pts) <= 20 else _LABEL_FONT - 1 if len(pts) <= 40 else _LABEL_FONT - 2
    px_per_pt = _DPI / 72.0
    box = ax.get_window_extent(renderer)
    bounds = (box.x0 + 2, box.y0 + 2, box.x1 - 2, box.y1 - 2)
    centers = [(float(a), float(b)) for a, b in (ax.transData.transform(p) for p in pts)]
    fixed: list[Rect] = []
    probe = ax.text(0, 0, "", fontsize=font)
    sizes = []
    pad = 0.2 * font * px_per_pt
    for text, heavy in zip(texts, bold):
        probe.set_text(text)
        probe.set_fontweight("bold" if heavy else "normal")
        ext = probe.get_window_extent(renderer)
        sizes.append((ext.width + 2 * pad, ext.height + 2 * pad))
    probe.remove()
    order = sorted(range(len(pts)), key=lambda i: (not bold[i], centers[i][0], centers[i][1]))
    for i, (dx, dy, radius) in enumerate(choose_label_boxes(centers, sizes, bounds, fixed, order)):
        norm = math.hypot(dx, dy)
        ax.annotate(
            texts[i],
            pts[i],
            xytext=(dx / norm * radius, dy / norm * radius),
            textcoords="offset points",
            ha="left" if dx > 0 else "right" if dx < 0 else "center",
            va="bottom" if dy > 0 else "top" if dy < 0 else "center",
            fontsize=font,
            fontweight="bold" if bold[i] else "normal",
            zorder=6,
            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8),
            arrowprops=dict(arrowstyle="-", color="0.5", lw=0.7, shrinkA=0, shrinkB=5) if radius > _RADII[1] else None,
        )


def _log_axis(axis: Any, set_scale: Any) -> None:
    """Log scale with plain numbers at 1-2-5 steps (50, 100, 200), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    set_scale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _use_log(values: list[float]) -> bool:
    finite = [v for v in values if v > 0 and not math.isnan(v)]
    return len(finite) == len(values) and len(finite) > 1 and max(finite) / min(finite) >= 30


def plot_csv(
    csv_path: Path,
    x: str,
    y: str,
    out: Path | None = None,
    label: str | None = None,
    maximize_y: bool | None = None,
    *,
    where: Mapping[str, Any] | None = None,
    rules: Mapping[str, Rule] | None = None,
    identity: Sequence[str] = (),
    usual: Mapping[str, str] | None = None,
    empty_fix: str = _EMPTY_FIX,
) -> Path:
    """Write a PNG scatter of ``y`` against ``x`` for the rows of ``csv_path``, with the Pareto front marked.

    Args:
        csv_path: a results CSV (profile, sweep, table or ablation rows).
        x: numeric column for the horizontal axis; smaller is better (larger for accuracy/throughput columns).
        y: numeric column for the vertical axis; smaller is better unless it is an accuracy column (``top1``,
            ``top5``, ``*acc*``) or throughput.
        out: PNG path; default ``csv_path`` with its suffix replaced by ``-{x}-{y}.png``.
        label: how points are labelled: ``None`` (automatic), a column name, or a ``str.format`` template over the
            columns. Rows with the same label are one point (median, min-max bars).
        maximize_y: override whether larger ``y`` is better.
        where: keep only rows whose column equals the value (``{"backbone": "mbv2"}``); shown in the title.
        rules: what the cells of each column may hold (``io.reading.Rule``; the CLI passes the results columns'),
            checked before anything is drawn.
        identity, usual: which columns tell models apart and their usual values (as :func:`model_labels`).
        empty_fix: how to fill an empty ``csv_path``, for the message.

    Returns:
        The path written (atomically: a temporary file in the same folder, then renamed).

    Raises:
        ResultsFileError: ``csv_path`` is missing, unreadable or has no rows, or ``out`` cannot be written (exit 2).
        UsageError: unknown column (the message lists the numeric ones), a column without numeric values, a bad
            label template or filter, or no row with both values (exit 2).
    """
    from .csvfile import check_path

    csv_path = Path(csv_path)
    _check_results_path(csv_path)  # the default --out is named after it
    out = Path(out) if out is not None else csv_path.with_name(f"{csv_path.stem}-{x}-{y}.png")
    check_path(out, option=opt("out"))  # a folder, a link, a missing or unwritable folder: refused before any work
    frame = read_results(csv_path, rules, empty_fix=empty_fix)
    if where:
        frame = _apply_where(frame, where, csv_path)
    xs = _numeric(frame, x, csv_path, "x")
    ys = _numeric(frame, y, csv_path, "y")
    infinite = [i for i, (a, b) in enumerate(zip(xs, ys)) if math.isinf(a) or math.isinf(b)]
    if infinite:  # plotted as missing values: no point, no axis limit, one line saying how many
        import warnings

        warnings.warn(
            f"{csv_path}: skipped {len(infinite)} row(s) whose '{x}' or '{y}' is not a finite number.",
            SkippedRowsNotice,
            stacklevel=2,
        )
        xs = [math.nan if math.isinf(v) else v for v in xs]
        ys = [math.nan if math.isinf(v) else v for v in ys]
    # Filtered columns are constant now; the title names them once, as the filter.
    shown = frame.drop(columns=[c for c in (where or {}) if c != label])
    labels, shared = model_labels(shown, label, identity=identity, usual=usual)
    points = aggregate_points(labels, xs, ys)
    if not points:
        raise UsageError(
            f"no row of {csv_path.name} has numeric values in both '{x}' and '{y}'; choose columns that are "
            "filled in the same rows."
        )
    skipped = sum(1 for a, b in zip(xs, ys) if math.isnan(a) or math.isnan(b))
    max_x = is_better_high(x)
    max_y = is_better_high(y) if maximize_y is None else maximize_y
    front = set(pareto_front([(p.x, p.y) for p in points], max_y, maximize_x=max_x))

    xlabel, kx = axis_label(x, xs)
    ylabel, ky = axis_label(y, ys)
    labelled = _labelled(len(points), front)
    if len(labelled) < len(points):
        import warnings

        warnings.warn(
            f"{csv_path}: {len(points)} models, more than {LABEL_LIMIT}: "
            + (
                f"labelled only the {len(labelled)} on the Pareto front."
                if labelled
                else f"no labels (the Pareto front alone has {len(front)})."
            ),
            Notice,
            stacklevel=2,
        )
    title = _title(csv_path, xlabel, ylabel, shared, where, len(frame), len(points), skipped, len(labelled))
    fig = _draw(points, front, (xlabel, kx, max_x), (ylabel, ky, max_y), title, labelled)
    _save_atomic(fig, out)
    return out


LABEL_LIMIT = 100
"""Past this many models only the Pareto front is labelled (placing labels costs time quadratic in their number)."""


def _labelled(n_points: int, front: set[int]) -> list[int]:
    """The points that get a label: all of them up to ``LABEL_LIMIT``, else the Pareto front (none past the limit)."""
    if n_points <= LABEL_LIMIT:
        return list(range(n_points))
    return sorted(front) if len(front) <= LABEL_LIMIT else []


def _title(
    csv_path: Path,
    xlabel: str,
    ylabel: str,
    shared: list[str],
    where: Mapping[str, Any] | None,
    n_rows: int,
    n_points: int,
    skipped: int,
    n_labelled: int | None = None,
) -> str:
    line1 = f"{ylabel} vs {xlabel}  —  {csv_path.name}"
    facts = []
    if where:
        facts.append("filter " + ", ".join(f"{k}={v}" for k, v in where.items()))
    if shared:
        facts.append("all rows: " + ", ".join(s for s in shared if s))
    counts = f"{n_rows} row(s), {n_points} model(s)"
    if n_points < n_rows - skipped:
        counts += " (repeats: median, bars min–max)"
    if skipped:
        counts += f", {skipped} row(s) without both values skipped"
    if n_labelled is not None and n_labelled < n_points:
        counts += f", labels: Pareto front only ({n_labelled})" if n_labelled else ", no labels"
    facts.append(counts)
    return line1 + "\n" + "  ·  ".join(facts)


def _draw(
    points: list[PlotPoint],
    front: set[int],
    xaxis: tuple[str, float, bool],
    yaxis: tuple[str, float, bool],
    title: str,
    labelled: Sequence[int] | None = None,
) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    xlabel, kx, max_x = xaxis
    ylabel, ky, max_y = yaxis
    fig = Figure(figsize=_FIG_SIZE, dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    px = [p.x * kx for p in points]
    py = [p.y * ky for p in points]

    spread = [i for i, p in enumerate(points) if p.n > 1 and (p.x_max > p.x_min or p.y_max > p.y_min)]
    if spread:
        ax.errorbar(
            [px[i] for i in spread],
            [py[i] for i in spread],
            xerr=[
                [(points[i].x - points[i].x_min) * kx for i in spread],
                [(points[i].x_max - points[i].x) * kx for i in spread],
            ],
            yerr=[
                [(points[i].y - points[i].y_min) * ky for i in spread],
                [(points[i].y_max - points[i].y) * ky for i in spread],
            ],
            fmt="none",
            ecolor="0.55",
            elinewidth=1.0,
            capsize=3,
            zorder=2,
        )
    others = [i for i in range(len(points)) if i not in front]
    ax.scatter(
        [px[i] for i in others],
        [py[i] for i in others],
        s=70,
        color=_COLOR_POINT,
        alpha=0.9,
        zorder=3,
        edgecolors="white",
        linewidths=0.8,
    )
    ordered = sorted(front, key=lambda i: (px[i], py[i]))
    ax.step(
        [px[i] for i in ordered],
        [py[i] for i in ordered],
        where="pre" if max_x else "post",
        color=_COLOR_FRONT,
        lw=1.8,
        ls="--",
        zorder=2.5,
    )
    ax.scatter(
        [px[i] for i in ordered],
        [py[i] for i in ordered],
        s=120,
        color=_COLOR_FRONT,
        edgecolors="black",
        linewidths=1.0,
        zorder=4,
    )

    if _use_log(px):
        _log_axis(ax.xaxis, ax.set_xscale)
        xlabel += ", log scale"
    if _use_log(py):
        _log_axis(ax.yaxis, ax.set_yscale)
        ylabel += ", log scale"
    ax.set_xlabel(xlabel, fontsize=13)
    ax.set_ylabel(ylabel, fontsize=13)
    ax.set_title(title, fontsize=13, loc="left")
    ax.tick_params(labelsize=11)
    ax.grid(True, which="major", alpha=0.35)
    ax.minorticks_on()
    ax.grid(True, which="minor", alpha=0.12)
    ax.margins(x=0.12, y=0.12)

    better = f"{'higher' if max_x else 'lower'} x, {'higher' if max_y else 'lower'} y"
    handles = [
        Line2D([], [], marker="o", ls="none", color=_COLOR_POINT, markersize=8, label="model"),
        Line2D(
            [],
            [],
            marker="o",
            ls="--",
            color=_COLOR_FRONT,
            markeredgecolor="black",
            markersize=10,
            label=f"Pareto front (better: {better})",
        ),
    ]
    if spread:
        handles.append(Line2D([], [], color="0.55", marker="|", markersize=10, label="min–max over repeats"))
    # Below the axes, so it never hides a point or a label.
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=11, frameon=False)
    fig.tight_layout(rect=(0.0, 0.035, 1.0, 1.0))

    shown = range(len(points)) if labelled is None else labelled
    labels = [points[i].label + (f" (n={points[i].n})" if points[i].n > 1 else "") for i in shown]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    _place_labels(ax, renderer, [(px[i], py[i]) for i in shown], labels, [i in front for i in shown])
    return fig


_FRACTION = Rule(float, low=0, high=1)


def _check_curves(rows: list[tuple[int, dict[str, str]]], csv_path: Path) -> None:
    """Refuse a ``curve_top1`` cell that is not space-separated fractions from 0 to 1, naming its line."""
    from .reading import BadValue, bad_value

    for line, row in rows:
        for value in (row.get("curve_top1") or "").split():
            try:
                _FRACTION.parse(value)
            except BadValue as exc:
                raise ResultsFileError(
                    bad_value(csv_path, line, "curve_top1", exc, "fix or remove that line.")
                ) from None


def _save_atomic(fig: Any, out: Path) -> None:
    """Write the PNG through ``csvfile.atomic_path``: the old file or the whole new one, with a new file's mode."""
    from .csvfile import atomic_path

    with atomic_path(out, option=opt("out")) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)


def plot_curves(
    csv_path: Path,
    out: Path | None = None,
    *,
    where: Mapping[str, Any] | None = None,
    rules: Mapping[str, Rule] | None = None,
    empty_fix: str = _EMPTY_FIX,
    curves_fix: str = _CURVES_FIX,
) -> Path:
    """Write a PNG of the ablation rows' learning curves: test top-1 (on the first ``curve_samples`` test images)
    after every epoch, or mean IoU for a dense task's rows (those with a ``head``), one line per run, one colour per
    module, one panel per task (``data``). ``empty_fix`` and ``curves_fix`` say how to get rows, or rows with
    curves, for the messages.

    Raises:
        ResultsFileError: ``csv_path`` is missing, unreadable or has no rows, or ``out`` cannot be written (exit 2).
        UsageError: the rows hold no ``curve_top1`` (not an ablation CSV, or runs without curves) (exit 2).
    """
    from .csvfile import check_path

    csv_path = Path(csv_path)
    _check_results_path(csv_path)
    out = Path(out) if out is not None else csv_path.with_name(f"{csv_path.stem}-curves.png")
    check_path(out, option=opt("out"))
    lines, frame = _load(csv_path, rules, empty_fix)
    _check_curves(lines, csv_path)
    if where:
        frame = _apply_where(frame, where, csv_path)
    if "curve_top1" not in frame.columns or "module" not in frame.columns:
        raise UsageError(
            f"{csv_path.name} has no curve_top1 column; plot {opt('curves')} reads `attnbench ablate` rows."
        )
    runs = []
    for _, row in frame.iterrows():
        text = row["curve_top1"]
        if isinstance(text, (int, float)) and math.isfinite(text):  # a one-epoch curve reads as a number
            text = repr(float(text))
        if isinstance(text, str) and text.strip():
            runs.append((str(row.get("data", "")), str(row["module"]), [100 * float(v) for v in text.split()]))
    dense = {str(t) for t, h in zip(frame.get("data", []), frame.get("head", [])) if isinstance(h, str) and h}
    if not runs:
        raise UsageError(f"no row of {csv_path.name} has a learning curve; {curves_fix}")
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(t for t, _, _ in runs))
    modules = list(dict.fromkeys(m for _, m, _ in runs))
    colours = {m: colormaps["tab10"](i % 10) for i, m in enumerate(modules)}
    cols = min(2, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(6.4 * cols, 4.2 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        seen: set[str] = set()
        for t, m, curve in runs:
            if t != task:
                continue
            ax.plot(
                range(1, len(curve) + 1), curve, color=colours[m], alpha=0.8, lw=1.2, label=m if m not in seen else None
            )
            seen.add(m)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test mIoU (%)" if task in dense else "test top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    fig.suptitle(f"{csv_path.name}: learning curves ({len(runs)} runs)", fontsize=10)
    fig.tight_layout()
    _save_atomic(fig, out)
    return out
