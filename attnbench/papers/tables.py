"""The papers' comparison tables as data: which models each row builds, and what the paper published for it.

Published values come from ../shared/PAPERS.md and keep its provenance: ``confirmed`` (paper text, or the authors'
own README or code), ``recalled`` (an unverified recollection of the table: shown, but never a reproduction target),
``inferred`` (a deduction, with the reasoning in the footnote) and ``unknown`` (not recovered: left empty, never
invented). Published MAdds / GFLOPs in these papers count multiply-adds of convs and linear layers, which is our
``macs``. Published top-1 is in percent; the CBAM/BAM tables print top-1 *error*, converted here as 100 − error.

A published value is printed with some rounding ("3.89M"); a measured count that lies outside that rounding
(± half a unit of the last printed digit) is flagged, and the row's footnote gives the known cause where there is
one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..cost import BASELINE
from ..errors import UnknownNameError, UsageError

TAGS = ("confirmed", "recalled", "inferred", "unknown")


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
class Row:
    """One row of a published table and the model that reproduces it."""

    label: str
    backbone: str
    module: str
    width: float = 1.0
    reduction: int | None = None
    params: str | None = None
    madds: str | None = None
    top1: str | None = None
    source: str = "unknown"
    """Provenance of the published values: one of ``TAGS``."""
    note: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    source: str
    """Where the published numbers are documented (section of PAPERS.md)."""
    rows: tuple[Row, ...]


def err(text: str) -> str:
    """Top-1 from a printed top-1 error, keeping the printed precision."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{100 - float(text):.{decimals}f}"


_MNEXT = (
    "the official MobileNeXt structure (transition blocks without depthwise convs, min hidden width) counts "
    "3.535M / 311.3M; the paper prints 3.5M / 300M (PAPERS.md §2.2)"
)
_MNEXT_ATTN = "which r and which blocks carry attention in MobileNeXt is not determined (PAPERS.md §1.6, §8.5)"
_R50 = "the torchvision layout puts the stride on the 3×3 (ResNet v1.5): 4.09 GMACs; the papers' v1 counts 3.86 G"
_MADDS = "published M-Adds are rounded coarsely and may include pooling and scaling (PAPERS.md §7)"
_R24 = "r = 24 for SE/CBAM is inferred: the authors' SE-MobileNetV2 code uses C // 24, and only r = 24 gives 3.89M"

TABLES: dict[str, TableSpec] = {}


def _table(name: str, title: str, source: str, *rows: Row) -> None:
    TABLES[name] = TableSpec(name, title, source, rows)


_table(
    "ca-table1",
    "CA paper, Table 1: importance of coordinate information (MobileNetV2-1.0, ImageNet)",
    "PAPERS.md §1.4",
    Row("MobileNetV2-1.0", "mbv2", "none", params="3.5M", madds="300M", top1="72.3", source="confirmed", note=_MADDS),
    Row("+ SE", "mbv2", "se", reduction=24, params="3.89M", madds="300M", top1="73.5", source="confirmed", note=_R24),
    Row("+ X attention", "mbv2", "ca_x", reduction=24, source="unknown",
        note="not recovered; the authors' README says one direction alone performs like SE; r = 24 inferred"),
    Row("+ Y attention", "mbv2", "ca_y", reduction=24, source="unknown",
        note="not recovered; the authors' README says one direction alone performs like SE; r = 24 inferred"),
    Row("+ Coord. attention", "mbv2", "ca", reduction=32, params="3.95M", madds="310M", top1="74.3",
        source="confirmed", note=_MADDS),
)  # fmt: skip

_table(
    "ca-table2",
    "CA paper, Table 2: MobileNetV2 at width 1.0 / 0.75 / 0.5 with SE, CBAM and CA (ImageNet)",
    "PAPERS.md §1.5",
    Row("MobileNetV2-1.0", "mbv2", "none", 1.0, params="3.5M", madds="300M", top1="72.3", source="confirmed"),
    Row("+ SE", "mbv2", "se", 1.0, 24, "3.89M", "300M", "73.5", "confirmed", _R24),
    Row("+ CBAM", "mbv2", "cbam", 1.0, 24, "3.89M", "300M", "73.6", "confirmed", _R24),
    Row("+ CA", "mbv2", "ca", 1.0, 32, "3.95M", "310M", "74.3", "confirmed", _MADDS),
    Row("MobileNetV2-0.75", "mbv2", "none", 0.75, None, "2.5M", "200M", "69.9", "recalled"),
    Row("+ SE", "mbv2", "se", 0.75, 24, "2.86M", "210M", "71.5", "recalled"),
    Row("+ CBAM", "mbv2", "cbam", 0.75, 24, "2.86M", "210M", "70.5", "recalled"),
    Row("+ CA", "mbv2", "ca", 0.75, 32, "2.89M", "210M", "72.1", "recalled"),
    Row("MobileNetV2-0.5", "mbv2", "none", 0.5, None, "2.0M", "100M", "65.4", "recalled"),
    Row("+ SE", "mbv2", "se", 0.5, 24, "2.1M", "100M", "66.4", "recalled", "low confidence"),
    Row("+ CBAM", "mbv2", "cbam", 0.5, 24, "2.1M", "100M", "65.6", "recalled", "low confidence; printed as ≈65.6"),
    Row("+ CA", "mbv2", "ca", 0.5, 32, "2.1M", "100M", None, "recalled", "low confidence; top-1 ≈67.x, value unknown"),
)  # fmt: skip

_table(
    "ca-table3",
    "CA paper, Table 3: MobileNeXt with SE and CA after the first depthwise conv (ImageNet)",
    "PAPERS.md §1.6, §2",
    Row("MobileNeXt-1.0", "mnext", "none", 1.0, None, "3.5M", "300M", "74.0", "confirmed", _MNEXT),
    Row("+ SE", "mnext", "se", 1.0, 24, "3.89M", "300M", "74.7", "confirmed", _MNEXT_ATTN),
    Row("+ CA", "mnext", "ca", 1.0, 32, "4.09M", "330M", "75.2", "confirmed", _MNEXT_ATTN),
    Row("MobileNeXt-0.75", "mnext", "none", 0.75, None, "2.5M", "210M", "72.0", "confirmed",
        "from the MobileNeXt README; that CA Table 3 has this row is unverified"),
    Row("+ SE", "mnext", "se", 0.75, 24, source="unknown", note="not recovered"),
    Row("+ CA", "mnext", "ca", 0.75, 32, source="unknown", note="not recovered"),
    Row("MobileNeXt-0.5", "mnext", "none", 0.5, None, "2.1M", "110M", "67.7", "confirmed",
        "from the MobileNeXt README; that CA Table 3 has this row is unverified"),
    Row("+ SE", "mnext", "se", 0.5, 24, source="unknown", note="not recovered"),
    Row("+ CA", "mnext", "ca", 0.5, 32, source="unknown", note="not recovered"),
)  # fmt: skip

_table(
    "ca-table4",
    "CA paper, Table 4: effect of the reduction ratio r (MobileNetV2-1.0, ImageNet)",
    "PAPERS.md §1.7",
    Row("+ CA (r = 8)", "mbv2", "ca", 1.0, 8, source="unknown", note="accuracy not recovered"),
    Row("+ CA (r = 16)", "mbv2", "ca", 1.0, 16, source="unknown", note="accuracy not recovered"),
    Row("+ CA (r = 32)", "mbv2", "ca", 1.0, 32, "3.95M", "310M", "74.3", "confirmed", "the Table 2 row"),
    Row("+ SE (r = 8)", "mbv2", "se", 1.0, 8, source="unknown", note="accuracy not recovered"),
    Row("+ SE (r = 16)", "mbv2", "se", 1.0, 16, source="unknown", note="accuracy not recovered"),
    Row("+ SE (r = 32)", "mbv2", "se", 1.0, 32, source="unknown", note="accuracy not recovered"),
    Row("+ SE (r = 24)", "mbv2", "se", 1.0, 24, "3.89M", "300M", "73.5", "confirmed", "the Table 2 row"),
)  # fmt: skip

_table(
    "cbam-resnet",
    "CBAM paper, Table 4: ResNet-18 / ResNet-50 with SE and CBAM (ImageNet; top-1 = 100 − error)",
    "PAPERS.md §3.2",
    Row("ResNet-18", "r18", "none", 1.0, None, "11.69M", "1.814G", err("29.60"), "recalled"),
    Row("+ SE", "r18", "se", 1.0, 16, "11.78M", "1.814G", err("29.41"), "recalled"),
    Row("+ CBAM", "r18", "cbam", 1.0, 16, "11.78M", "1.815G", err("29.27"), "recalled"),
    Row("ResNet-50", "r50", "none", 1.0, None, "25.56M", "3.858G", err("24.56"), "recalled", _R50),
    Row("+ SE", "r50", "se", 1.0, 16, "28.09M", "3.860G", err("23.14"), "recalled", _R50),
    Row("+ CBAM", "r50", "cbam", 1.0, 16, "28.09M", "3.864G", err("22.66"), "recalled",
        _R50 + "; the released ResNet-50+CBAM checkpoint reaches 77.622 (confirmed, authors' README)"),
)  # fmt: skip

_table(
    "bam-resnet",
    "BAM paper: ResNet-50 with BAM after layer1-3 (ImageNet; top-1 = 100 − error)",
    "PAPERS.md §4.2",
    Row("ResNet-50", "r50", "none", 1.0, None, "25.56M", "3.86G", err("24.56"), "recalled", _R50),
    Row("+ BAM", "r50", "bam", 1.0, 16, "25.92M", "3.94G", err("24.02"), "recalled",
        _R50 + "; the released ResNet-50+BAM checkpoint reaches 76.860 (confirmed, authors' README)"),
)  # fmt: skip


def get_table(name: str) -> TableSpec:
    if name not in TABLES:
        import difflib

        close = difflib.get_close_matches(name, list(TABLES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownNameError(f"unknown table '{name}'.{hint} Choose from: {', '.join(TABLES)}.")
    return TABLES[name]


TABLE_COLUMNS = (
    "table", "row", "backbone", "module", "width", "reduction", "input_size", "published_params", "published_madds",
    "published_top1", "published_params_text", "published_madds_text", "source", "params", "macs", "elementwise_ops", "d_params_pct", "d_macs_pct", "params_differs",
    "macs_differs", "latency_ms_median", "latency_ms_iqr", "d_latency_pct", "note",
)  # fmt: skip


def _pct(ours: float, published: Published | None) -> float | None:
    return None if published is None else 100 * (ours - published.value) / published.value


def _differs(ours: float, published: Published | None) -> bool | None:
    return None if published is None else abs(ours - published.value) > published.half_unit


def measure_table(
    spec: TableSpec, latency: bool = False, input_size: int = 224, progress: Callable[[str], None] | None = None,
    **profile_fields: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    """Build and measure every row of ``spec``; one dict per row with ``TABLE_COLUMNS``.

    Rows that share backbone, width and reduction are measured in one profile run (with its own baseline), so a
    latency Δ is always against a baseline timed in the same interleaved rounds.
    """
    from ..api import build_spec
    from ..cost.runner import profile

    groups: dict[tuple[str, float, int | None], list[str]] = {}
    for row in spec.rows:
        if row.module != BASELINE:
            groups.setdefault((row.backbone, row.width, row.reduction), []).append(row.module)
    for row in spec.rows:  # a baseline row with no module group of its own backbone and width
        if row.module == BASELINE and not any(k[:2] == (row.backbone, row.width) for k in groups):
            groups[(row.backbone, row.width, None)] = []
    measured: dict[tuple[str, float, int | None, str], Any] = {}
    for (backbone, width, reduction), names in groups.items():
        if progress:
            progress(f"{backbone} ×{width:g} r={reduction}: {', '.join(['none', *names])}")
        ps = build_spec(names, backbone=backbone, width=width, reduction=reduction, input_size=input_size,
                        latency=latency, memory=False, require_module=False, **profile_fields)  # fmt: skip
        for rec in profile(ps).records:
            measured.setdefault((backbone, width, reduction if rec.module != BASELINE else None, rec.module), rec)
    out = []
    for row in spec.rows:
        rec = measured[(row.backbone, row.width, row.reduction if row.module != BASELINE else None, row.module)]
        pp, pm = (Published(row.params) if row.params else None), (Published(row.madds) if row.madds else None)
        out.append({
            "table": spec.name, "row": row.label, "backbone": row.backbone, "module": row.module, "width": row.width,
            "reduction": rec.reduction, "input_size": input_size,
            "published_params": pp.value if pp else None, "published_madds": pm.value if pm else None,
            "published_top1": float(row.top1) if row.top1 else None, "published_params_text": row.params or "",
            "published_madds_text": row.madds or "", "source": row.source,
            "params": rec.params, "macs": rec.macs, "elementwise_ops": rec.elementwise_ops,
            "d_params_pct": _pct(rec.params, pp), "d_macs_pct": _pct(rec.macs, pm),
            "params_differs": _differs(rec.params, pp), "macs_differs": _differs(rec.macs, pm),
            "latency_ms_median": rec.latency_ms_median, "latency_ms_iqr": rec.latency_ms_iqr,
            "d_latency_pct": rec.d_latency_pct, "note": row.note,
        })  # fmt: skip
    return out


def check_tables() -> None:
    """Validate the table data itself (used by the tests): tags, parseable values, known names."""
    from .. import modules

    for spec in TABLES.values():
        for row in spec.rows:
            if row.source not in TAGS:
                raise UsageError(f"{spec.name}/{row.label}: unknown source tag '{row.source}'")
            for text in (row.params, row.madds):
                if text is not None:
                    Published(text).value  # noqa: B018 - parse check
            if row.source == "unknown" and (row.params or row.madds or row.top1):
                raise UsageError(f"{spec.name}/{row.label}: 'unknown' rows publish no values")
            modules.BACKBONES.get(row.backbone)
            modules.ATTENTION.get(row.module)
