"""The papers' comparison tables: which models each row builds, and what the paper published for it.

This module holds the table *definitions* (backbone, module, width and reduction of every row). The published
values, their confidence, their citation and their notes are data: one line per published value in
``published.csv`` beside this module, read with ``importlib.resources`` so it works from an installed package too.
``README.md`` beside it explains the columns, the confidence tags and the known causes of differences.

Confidence tags: ``confirmed`` (paper text, or the authors' own README or code), ``recalled`` (an unverified
recollection of the table: shown, but never a reproduction target), ``inferred`` (a deduction, with the reasoning in
the note) and ``unknown`` (not recovered: left empty, never invented). Published MAdds / GFLOPs in these papers
count multiply-adds of convs and linear layers, which is our ``macs``. Published top-1 is in percent; the CBAM/BAM
tables print top-1 *error* (metric ``top1_err`` in the data), converted here as 100 − error.

A published value is printed with some rounding ("3.89M"); a measured count that lies outside that rounding
(± half a unit of the last printed digit) is flagged, and the row's footnote gives the known cause where there is
one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from ..cost import BASELINE
from ..cost.shape import InputSize, input_label
from ..errors import UnknownNameError, UsageError

TAGS = ("confirmed", "recalled", "inferred", "unknown")
SCORES = {"top1": "top-1", "top1_err": "top-1", "ap": "AP", "map": "mAP", "miou": "mIoU"}
"""The task metric a row publishes, one per row: ImageNet top-1 (``top1_err``: a top-1 *error* as the paper prints
it, shown as 100 − error), COCO box AP, PASCAL VOC detection mAP, segmentation mean IoU; all in percent."""
METRICS = ("params", "madds", *SCORES)
DATA_FILE = "published.csv"
DATA_COLUMNS = ("table", "row", "backbone", "width", "metric", "value", "confidence", "source", "note")


@dataclass(frozen=True)
class Published:
    """A number as a paper prints it ("3.89M", "300M", "1.814G", "72.3")."""

    text: str

    @property
    def value(self) -> float:
        number, unit = _parse(self.text)
        return number * unit

    @property
    def half_unit(self) -> float:
        """Half a unit of the last printed digit: the rounding the printed value allows."""
        number_text = re.sub(r"[^0-9.]", "", self.text)
        decimals = len(number_text.split(".")[1]) if "." in number_text else 0
        return 0.5 * 10.0**-decimals * _parse(self.text)[1]


def _parse(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([MG]?)", text)
    if not m:
        raise ValueError(f"cannot parse published value '{text}'")
    return float(m.group(1)), {"": 1.0, "M": 1e6, "G": 1e9}[m.group(2)]


@dataclass(frozen=True)
class Entry:
    """One line of ``published.csv``: a published value (empty when not recovered) and where it comes from."""

    table: str
    row: str
    backbone: str
    width: float
    metric: str
    value: str
    confidence: str
    """One of ``TAGS``."""
    source: str
    """A citation a reader can follow: paper, arXiv id and table, or the authors' repository README."""
    note: str
    line: int = 0
    """Line number in the data file, for error messages."""


def load_published(text: str | None = None) -> tuple[Entry, ...]:
    """Read ``published.csv`` (shipped with the package), or ``text`` in the same format."""
    if text is None:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    from ..io.csvfile import parse_text

    table = parse_text(text, DATA_FILE)
    if tuple(table.header) != DATA_COLUMNS or table.bad:
        got = f"line {table.bad[0][0]} has {table.bad[0][1]} fields" if table.bad else f"got {table.header}"
        raise ValueError(f"{DATA_FILE}: expected the columns {', '.join(DATA_COLUMNS)}; {got}")
    entries = []
    for line, r in table.rows:
        try:
            width = float(r["width"])
        except (TypeError, ValueError):
            raise ValueError(f"{DATA_FILE} line {line}: width '{r['width']}' is not a number") from None
        fields = {c: r[c].strip() for c in DATA_COLUMNS if c != "width"}
        entries.append(Entry(width=width, line=line, **fields))
    return tuple(entries)


PUBLISHED = load_published()


@dataclass(frozen=True)
class Row:
    """One row of a published table and the model that reproduces it; its published values come from the data."""

    label: str
    backbone: str
    module: str
    width: float = 1.0
    reduction: int | None = None
    head: str | None = None
    """A dense head (``ssdlite``, ``deeplabv3``, ...); ``None``: the classification network."""
    output_stride: int | None = None
    num_classes: int | None = None
    """Classes of the head (``None``: its default)."""
    published: tuple[Entry, ...] = ()
    """This row's lines of ``published.csv``, attached when the table is defined."""

    def entry(self, metric: str) -> Entry | None:
        return next((e for e in self.published if e.metric == metric), None)

    def _value(self, metric: str) -> str | None:
        e = self.entry(metric)
        return e.value if e is not None and e.value else None

    @property
    def params(self) -> str | None:
        return self._value("params")

    @property
    def madds(self) -> str | None:
        return self._value("madds")

    @property
    def top1(self) -> str | None:
        """Published top-1 in percent (100 − the printed error for tables that print ``top1_err``)."""
        error = self._value("top1_err")
        return err(error) if error is not None else self._value("top1")

    @property
    def score_metric(self) -> str:
        """The task metric the row publishes (a key of ``SCORES``; ``top1`` when it publishes none)."""
        return next((e.metric for e in self.published if e.metric in SCORES), "top1")

    @property
    def score(self) -> str | None:
        """The published task metric in percent: top-1 (see ``top1``), AP, mAP or mIoU."""
        metric = self.score_metric
        return self.top1 if metric in ("top1", "top1_err") else self._value(metric)

    @property
    def source(self) -> str:
        """Provenance of the row's published values: the one tag they share, or ``unknown`` if none is stated.

        Mixed tags come back joined by ``/``, which ``check_tables`` rejects.
        """
        tags = sorted({e.confidence for e in self.published if e.value})
        return "/".join(tags) if tags else "unknown"

    @property
    def note(self) -> str:
        """The row's footnote: its values' notes in metric order, each ``;``-separated clause once."""
        clauses: list[str] = []
        for metric in METRICS:
            e = self.entry(metric)
            for clause in e.note.split("; ") if e is not None and e.note else ():
                if clause not in clauses:
                    clauses.append(clause)
        return "; ".join(clauses)


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    source: str
    """The paper and table the published numbers come from; per-value citations are in ``published.csv``."""
    rows: tuple[Row, ...]
    input_size: InputSize = 224
    """The input the table's counts are made at (the ``input_size`` field overrides it)."""


def err(text: str) -> str:
    """Top-1 from a printed top-1 error, keeping the printed precision."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{100 - float(text):.{decimals}f}"


TABLES: dict[str, TableSpec] = {}


def _table(name: str, title: str, source: str, *rows: Row, input_size: InputSize = 224) -> None:
    """Define a table; each row gets its lines of the data file (matched on table, label, backbone and width)."""

    def lines(row: Row) -> tuple[Entry, ...]:
        key = (name, row.label, row.backbone, row.width)
        return tuple(e for e in PUBLISHED if (e.table, e.row, e.backbone, e.width) == key)

    rows_ = tuple(replace(row, published=lines(row)) for row in rows)
    TABLES[name] = TableSpec(name, title, source, rows_, input_size)


_CA = "Hou et al., Coordinate Attention, CVPR 2021 (arXiv:2103.02907)"

_table(
    "ca-table1",
    "CA paper, Table 1: importance of coordinate information (MobileNetV2-1.0, ImageNet)",
    f"{_CA}, Table 1",
    Row("MobileNetV2-1.0", "mbv2", "none"),
    Row("+ SE", "mbv2", "se", reduction=24),
    Row("+ X attention", "mbv2", "ca_x", reduction=24),
    Row("+ Y attention", "mbv2", "ca_y", reduction=24),
    Row("+ Coord. attention", "mbv2", "ca", reduction=32),
)

_table(
    "ca-table2",
    "CA paper, Table 2: MobileNetV2 at width 1.0 / 0.75 / 0.5 with SE, CBAM and CA (ImageNet)",
    f"{_CA}, Table 2",
    Row("MobileNetV2-1.0", "mbv2", "none", 1.0),
    Row("+ SE", "mbv2", "se", 1.0, 24),
    Row("+ CBAM", "mbv2", "cbam", 1.0, 24),
    Row("+ CA", "mbv2", "ca", 1.0, 32),
    Row("MobileNetV2-0.75", "mbv2", "none", 0.75),
    Row("+ SE", "mbv2", "se", 0.75, 24),
    Row("+ CBAM", "mbv2", "cbam", 0.75, 24),
    Row("+ CA", "mbv2", "ca", 0.75, 32),
    Row("MobileNetV2-0.5", "mbv2", "none", 0.5),
    Row("+ SE", "mbv2", "se", 0.5, 24),
    Row("+ CBAM", "mbv2", "cbam", 0.5, 24),
    Row("+ CA", "mbv2", "ca", 0.5, 32),
)

_table(
    "ca-table3",
    "CA paper, Table 3: MobileNeXt with SE and CA after the first depthwise conv (ImageNet)",
    f"{_CA}, Table 3; MobileNeXt baselines: Zhou et al., MobileNeXt, ECCV 2020 (arXiv:2007.02269)",
    Row("MobileNeXt-1.0", "mnext", "none", 1.0),
    Row("+ SE", "mnext", "se", 1.0, 24),
    Row("+ CA", "mnext", "ca", 1.0, 32),
    Row("MobileNeXt-0.75", "mnext", "none", 0.75),
    Row("+ SE", "mnext", "se", 0.75, 24),
    Row("+ CA", "mnext", "ca", 0.75, 32),
    Row("MobileNeXt-0.5", "mnext", "none", 0.5),
    Row("+ SE", "mnext", "se", 0.5, 24),
    Row("+ CA", "mnext", "ca", 0.5, 32),
)

_table(
    "ca-table4",
    "CA paper, Table 4: effect of the reduction ratio r (MobileNetV2-1.0, ImageNet)",
    f"{_CA}, Table 4",
    Row("+ CA (r = 8)", "mbv2", "ca", 1.0, 8),
    Row("+ CA (r = 16)", "mbv2", "ca", 1.0, 16),
    Row("+ CA (r = 32)", "mbv2", "ca", 1.0, 32),
    Row("+ SE (r = 8)", "mbv2", "se", 1.0, 8),
    Row("+ SE (r = 16)", "mbv2", "se", 1.0, 16),
    Row("+ SE (r = 32)", "mbv2", "se", 1.0, 32),
    Row("+ SE (r = 24)", "mbv2", "se", 1.0, 24),
)

_table(
    "ca-table5",
    "CA paper, Table 5: EfficientNet-b0 with its SE replaced by CA (ImageNet)",
    f"{_CA}, Table 5",
    Row("EfficientNet-b0 (w/ SE)", "effnet_b0", "se"),
    Row("EfficientNet-b0 (w/ CA)", "effnet_b0", "ca"),
)

_table(
    "cbam-resnet",
    "CBAM paper, Table 4: ResNet-18 / ResNet-50 with SE and CBAM (ImageNet; top-1 = 100 − error)",
    "Woo et al., CBAM, ECCV 2018 (arXiv:1807.06521), Table 4",
    Row("ResNet-18", "r18", "none"),
    Row("+ SE", "r18", "se", 1.0, 16),
    Row("+ CBAM", "r18", "cbam", 1.0, 16),
    Row("ResNet-50", "r50", "none"),
    Row("+ SE", "r50", "se", 1.0, 16),
    Row("+ CBAM", "r50", "cbam", 1.0, 16),
)

_table(
    "bam-resnet",
    "BAM paper: ResNet-50 with BAM after layer1-3 (ImageNet; top-1 = 100 − error)",
    "Park et al., BAM, BMVC 2018 (arXiv:1807.06514), ImageNet-1K classification table",
    Row("ResNet-50", "r50", "none"),
    Row("+ BAM", "r50", "bam", 1.0, 16),
)


_CA_DENSE = f"{_CA}, Tables 6-9 as listed in the authors' README"


def _dense_rows(head: str, stride: int | None = None, classes: int | None = None, suffix: str = "") -> list[Row]:
    """MobileNetV2 with none, SE, CBAM and CA under ``head``, reductions as the paper's Table 2."""
    kw = {"head": head, "output_stride": stride, "num_classes": classes}
    return [
        Row(f"MobileNetV2{suffix}", "mbv2", "none", **kw),
        Row(f"+ SE{suffix}", "mbv2", "se", 1.0, 24, **kw),
        Row(f"+ CBAM{suffix}", "mbv2", "cbam", 1.0, 24, **kw),
        Row(f"+ CA{suffix}", "mbv2", "ca", 1.0, 32, **kw),
    ]


_table(
    "ca-table6",
    "CA paper, Table 6: SSDLite320 object detection on COCO (box AP)",
    f"{_CA_DENSE} (Table 6); detection code: Andrew-Qibin/ssdlite-pytorch-mobilenext",
    *_dense_rows("ssdlite")[:1],
    Row("MobileNeXt", "mnext", "none", head="ssdlite"),
    *_dense_rows("ssdlite")[1:],
    input_size=320,
)

_table(
    "ca-table7",
    "CA paper, Table 7: SSDLite320 object detection on PASCAL VOC 2007 test (mAP)",
    f"{_CA_DENSE} (Table 7); detection code: Andrew-Qibin/ssdlite-pytorch-mobilenext",
    *_dense_rows("ssdlite_voc"),
    input_size=320,
)

_table(
    "ca-table8",
    "CA paper, Table 8: DeepLabV3 semantic segmentation on PASCAL VOC 2012 val (mIoU), output stride 16 and 8",
    f"{_CA_DENSE} (Table 8)",
    *_dense_rows("deeplabv3", 16, 21, " (OS 16)"),
    *_dense_rows("deeplabv3", 8, 21, " (OS 8)"),
    input_size=512,
)

_table(
    "ca-table9",
    "CA paper, Table 9: DeepLabV3 semantic segmentation on Cityscapes val (mIoU), output stride 8",
    f"{_CA_DENSE} (Table 9)",
    *_dense_rows("deeplabv3", 8, 19),
    input_size=(1024, 2048),
)


def get_table(name: str) -> TableSpec:
    if name not in TABLES:
        import difflib

        close = difflib.get_close_matches(name, list(TABLES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownNameError(f"unknown table '{name}'.{hint} Choose from: {', '.join(TABLES)}.")
    return TABLES[name]


TABLE_COLUMNS = (
    "table",
    "row",
    "backbone",
    "module",
    "width",
    "reduction",
    "reduction_rule",
    "input_size",
    "head",
    "output_stride",
    "head_classes",
    "build",
    "quantize",
    "published_params",
    "published_madds",
    "published_top1",
    "published_score",
    "score_metric",
    "published_score_text",
    "published_params_text",
    "published_madds_text",
    "source",
    "params",
    "macs",
    "elementwise_ops",
    "d_params_pct",
    "d_macs_pct",
    "params_differs",
    "macs_differs",
    "latency_ms_median",
    "latency_ms_iqr",
    "d_latency_pct",
    "note",
)


def _pct(ours: float, published: Published | None) -> float | None:
    return None if published is None else 100 * (ours - published.value) / published.value


def _differs(ours: float, published: Published | None) -> bool | None:
    return None if published is None else abs(ours - published.value) > published.half_unit


Group = tuple[str, float, int | None, str | None, int | None, int | None]
"""A profile run of ``measure_table``: backbone, width, reduction, head, output stride, head classes."""


def _group(row: Row, reduction: int | None) -> Group:
    return (row.backbone, row.width, reduction, row.head, row.output_stride, row.num_classes)


def measure_groups(spec: TableSpec) -> dict[Group, list[str]]:
    """The profile runs ``measure_table`` makes: (backbone, width, reduction, head, output stride, classes) → the
    modules measured beside ``none``.

    Rows that share all of these are measured in one run; a baseline row with no module group of its own model
    (backbone, width and head) gets a run of its own.
    """
    groups: dict[Group, list[str]] = {}
    for row in spec.rows:
        if row.module != BASELINE:
            groups.setdefault(_group(row, row.reduction), []).append(row.module)
    models = {(k[:2], k[3:]) for k in groups}  # the model without its reduction
    for row in spec.rows:
        key = _group(row, None)
        if row.module == BASELINE and (key[:2], key[3:]) not in models:
            groups[key] = []
    return groups


def measure_table(
    spec: TableSpec,
    latency: bool = False,
    input_size: InputSize | None = None,
    progress: Callable[[str, bool], None] | None = None,
    **profile_fields: Any,
) -> list[dict[str, Any]]:
    """Build and measure every row of ``spec``; one dict per row with ``TABLE_COLUMNS``.

    Rows that share backbone, width, reduction and head are measured in one profile run (with its own baseline),
    so a latency Δ is always against a baseline timed in the same interleaved rounds. ``input_size`` (``None``:
    the table's own) is the input of every row. ``progress(text, advance)`` is called as each run starts and goes
    on (``advance`` False) and once when it ends (``advance`` True): one step per group of ``measure_groups``.
    """
    from ..api import build_spec
    from ..cost.runner import profile

    size = spec.input_size if input_size is None else input_size
    measured: dict[tuple[Group, str, str], Any] = {}
    builds = tuple(profile_fields.get("builds", ("eager",)))
    for group, names in measure_groups(spec).items():
        backbone, width, reduction, head, stride, classes = group
        on = f" + {head}" if head else ""
        label = f"{backbone}{on} ×{width:g} r={reduction}: {', '.join(['none', *names])}"
        if progress:
            progress(label, False)
        ps = build_spec(
            names,
            backbone=backbone,
            width=width,
            reduction=reduction,
            input_size=size,
            head=head,
            output_stride=stride,
            num_classes=classes,
            latency=latency,
            memory=False,
            require_module=False,
            **profile_fields,
        )
        inner = (lambda text, label=label: progress(f"{label}: {text}", False)) if progress else None
        for rec in profile(ps, inner).records:
            key = (group if rec.module != BASELINE else (*group[:2], None, *group[3:]), rec.module, rec.build)
            measured.setdefault(key, rec)
        if progress:
            progress(f"{label}: done", True)
    out = []
    for row, build in ((row, build) for build in builds for row in spec.rows):
        group = _group(row, row.reduction if row.module != BASELINE else None)
        rec = measured[(group, row.module, build)]
        pp, pm = (Published(row.params) if row.params else None), (Published(row.madds) if row.madds else None)
        out.append(
            {
                "table": spec.name,
                "row": row.label,
                "backbone": row.backbone,
                "module": row.module,
                "width": row.width,
                "reduction": rec.reduction,
                "reduction_rule": rec.reduction_rule,
                "input_size": input_label(size),
                "head": rec.head,
                "output_stride": rec.output_stride,
                "head_classes": rec.head_classes,
                "build": rec.build,
                "quantize": rec.quantize,
                "published_params": pp.value if pp else None,
                "published_madds": pm.value if pm else None,
                "published_top1": float(row.top1) if row.top1 else None,
                "published_score": float(row.score) if row.score else None,
                "score_metric": row.score_metric,
                "published_score_text": row.score or "",
                "published_params_text": row.params or "",
                "published_madds_text": row.madds or "",
                "source": row.source,
                "params": rec.params,
                "macs": rec.macs,
                "elementwise_ops": rec.elementwise_ops,
                "d_params_pct": _pct(rec.params, pp),
                "d_macs_pct": _pct(rec.macs, pm),
                "params_differs": _differs(rec.params, pp),
                "macs_differs": _differs(rec.macs, pm),
                "latency_ms_median": rec.latency_ms_median,
                "latency_ms_iqr": rec.latency_ms_iqr,
                "d_latency_pct": rec.d_latency_pct,
                "note": row.note,
            }
        )
    return out


def check_published(entries: tuple[Entry, ...] = PUBLISHED) -> list[str]:
    """Problems with the data file's lines on their own and against the table definitions (empty when none)."""
    problems: list[str] = []
    defined = {(spec.name, row.label, row.backbone, row.width) for spec in TABLES.values() for row in spec.rows}
    seen: set[tuple[str, str, str, float, str]] = set()
    for e in entries:
        where = f"{DATA_FILE} line {e.line} ({e.table} / {e.row} / {e.backbone} ×{e.width:g} / {e.metric})"
        key = (e.table, e.row, e.backbone, e.width, e.metric)
        if key in seen:
            problems.append(f"{where}: a second line for the same value")
        seen.add(key)
        if (e.table, e.row, e.backbone, e.width) not in defined:
            problems.append(f"{where}: no such row in the table definitions")
        if e.metric not in METRICS:
            problems.append(f"{where}: unknown metric; choose from {', '.join(METRICS)}")
        if e.confidence not in TAGS:
            problems.append(f"{where}: unknown confidence '{e.confidence}'; choose from {', '.join(TAGS)}")
        if not e.source:
            problems.append(f"{where}: no source")
        if e.confidence == "inferred" and not e.note:
            problems.append(f"{where}: an inferred value needs its reasoning in the note")
        if (e.confidence == "unknown") != (not e.value):
            problems.append(f"{where}: a value is empty exactly when its confidence is 'unknown'")
        if e.value:
            try:
                number = Published(e.value).value if e.metric in ("params", "madds") else float(e.value)
            except ValueError:
                problems.append(f"{where}: cannot parse '{e.value}'")
            else:
                if number <= 0 or (e.metric in SCORES and number > 100):
                    problems.append(f"{where}: '{e.value}' is out of range")
    return problems


def check_tables() -> None:
    """Validate the table data itself (used by the tests): the data file, every row's values, known names."""
    from .. import modules

    problems = check_published()
    for spec in TABLES.values():
        keys = [(row.label, row.backbone, row.width) for row in spec.rows]
        for row in spec.rows:
            where = f"{spec.name} / {row.label} / {row.backbone} ×{row.width:g}"
            if keys.count((row.label, row.backbone, row.width)) > 1:
                problems.append(f"{where}: two rows with the same label, backbone and width")
            metrics = [e.metric for e in row.published]
            if "params" not in metrics or "madds" not in metrics or sum(m in SCORES for m in metrics) != 1:
                problems.append(
                    f"{where}: {DATA_FILE} needs one line each for params, madds and one task metric "
                    f"({', '.join(SCORES)})"
                )
            if row.source not in TAGS:
                problems.append(f"{where}: its stated values mix confidence tags ({row.source})")
            modules.BACKBONES.get(row.backbone)
            modules.ATTENTION.get(row.module)
            if row.head is not None:
                modules.HEADS.get(row.head)
    if problems:
        raise UsageError("published numbers: " + "; ".join(problems))
