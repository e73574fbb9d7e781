"""``attnbench.io.plot``: Pareto front, labels, aggregation, errors, and the PNG itself."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pandas as pd
import pytest

from attnbench.cost.records import KEY, USUAL
from attnbench.errors import ResultsFileError, UsageError
from attnbench.io.plot import (
    aggregate_points,
    axis_label,
    choose_label_boxes,
    is_better_high,
    model_labels,
    pareto_front,
    plot_csv,
)

IDENTITY = ("table", *KEY)  # what the CLI passes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows() -> list[dict[str, object]]:
    """Eight profile-like rows: mbv2 at width 1.0 and 0.5, four modules, one input size."""
    rows = []
    for width in (1.0, 0.5):
        for module, d_macs, lat, r in (
            ("none", 0, 10.0, None),
            ("se", 0.6e6, 12.0, 16),
            ("cbam", 1.6e6, 15.0, 16),
            ("ca", 4.2e6, 13.0, 32),
        ):
            f = width**2
            rows.append(
                dict(
                    backbone="mbv2",
                    module=module,
                    reduction=r,
                    width=width,
                    input_size=160,
                    batch=1,
                    device="cpu",
                    dtype="float32",
                    threads=1,
                    build="eager",
                    params=3.5e6 * f,
                    macs=154e6 * f + d_macs,
                    latency_ms_median=lat * f,
                    latency_ms_iqr=0.4,
                )
            )
    return rows


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "p.csv"
    pd.DataFrame(_rows()).to_csv(path, index=False)
    return path


# -- Pareto front ----------------------------------------------------------------------------------------------


def test_pareto_front_minimising_both() -> None:
    pts = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.5, 3.0), (5.0, 1.0), (0.5, 9.0)]
    # (3,4) is dominated by (2,3); (2.5,3) by (2,3) (same y, more x); (5,1) by (4,1).
    assert pareto_front(pts, maximize_y=False) == [6, 0, 1, 3]


def test_pareto_front_maximising_y() -> None:
    pts = [(3.5, 72.3), (3.9, 73.5), (3.9, 73.7), (3.95, 74.3), (4.1, 74.0), (3.4, 70.0)]
    assert pareto_front(pts, maximize_y=True) == [5, 0, 2, 3]


def test_pareto_front_ties_nan_and_maximise_x() -> None:
    assert pareto_front([(1.0, 1.0), (1.0, 1.0), (2.0, 2.0)], False) == [0, 1]  # identical points both stay
    assert pareto_front([(1.0, math.nan), (2.0, 2.0), (math.nan, 0.0)], False) == [1]
    assert pareto_front([], False) == []
    assert pareto_front([(74.0, 300.0), (73.0, 310.0), (75.0, 400.0)], False, maximize_x=True) == [0, 2]


def test_better_high_columns() -> None:
    assert all(map(is_better_high, ("top1", "top5", "accuracy", "val_acc", "top1_acc", "throughput_ips")))
    assert not any(map(is_better_high, ("macs", "latency_ms_median", "params", "elementwise_ops")))


# -- labels, axes, aggregation ---------------------------------------------------------------------------------


def test_labels_drop_constant_and_determined_columns() -> None:
    labels, shared = model_labels(pd.DataFrame(_rows()), identity=IDENTITY)
    # backbone, input, batch, device, dtype, threads are constant; reduction is fixed by the module.
    assert labels[:4] == ["none ×1", "se ×1", "cbam ×1", "ca ×1"]
    assert labels[4] == "none ×0.5"
    assert shared == ["mbv2", "input 160", "batch 1", "cpu", "float32", "1 thread(s)"]


def test_labels_keep_what_tells_models_apart() -> None:
    rows = [
        dict(backbone=b, module=m, reduction=r, width=1.0, input_size=224)
        for b in ("mbv2", "mnext")
        for m, r in (("se", 8), ("se", 16), ("ca", 32))
    ]
    labels, shared = model_labels(pd.DataFrame(rows), identity=IDENTITY)
    assert labels == ["mbv2/se r8", "mbv2/se r16", "mbv2/ca r32", "mnext/se r8", "mnext/se r16", "mnext/ca r32"]
    assert shared == ["width 1", "input 224"]


def test_labels_tag_non_eager_builds_and_accept_a_column_or_template() -> None:
    frame = pd.DataFrame(
        [dict(backbone="mbv2", module=m, build=b, reduction=16) for m in ("se", "ca") for b in ("eager", "compile")]
    )
    assert model_labels(frame, identity=IDENTITY)[0] == ["se", "se [compile]", "ca", "ca [compile]"]
    assert model_labels(frame, "module")[0] == ["se", "se [compile]", "ca", "ca [compile]"]
    assert model_labels(frame, "{module}/r{reduction}")[0][0] == "se/r16"
    with pytest.raises(UsageError, match="did you mean 'module'"):
        model_labels(frame, "modul")
    with pytest.raises(UsageError, match="label template"):
        model_labels(frame, "{nope}")


def test_quantized_rows_are_other_models_and_usual_values_go_unnamed() -> None:
    rows = [
        dict(backbone="mbv2", module=m, quantize=q, mode="inference", reduction_rule="default")
        for m in ("se", "ca")
        for q in ("none", "int8")
    ]
    labels, shared = model_labels(pd.DataFrame(rows), identity=IDENTITY, usual=USUAL)
    assert labels == ["se none", "se int8", "ca none", "ca int8"]
    assert shared == ["mbv2"]
    assert model_labels(pd.DataFrame(rows[:1]), identity=IDENTITY)[1] == [
        "mbv2",
        "se",
        "reduction_rule default",
        "quantize none",
        "mode inference",
    ]


def test_repeated_runs_aggregate_to_the_median() -> None:
    labels = ["ca", "ca", "ca", "se", "ca"]
    xs = [1.0, 1.0, 1.0, 2.0, 1.0]
    ys = [10.0, 14.0, 11.0, 7.0, 30.0]
    points = aggregate_points(labels, xs, ys)
    assert [p.label for p in points] == ["ca", "se"]
    ca = points[0]
    assert (ca.n, ca.y, ca.y_min, ca.y_max, ca.x) == (4, 12.5, 10.0, 30.0, 1.0)
    assert points[1].n == 1 and points[1].y == 7.0
    assert aggregate_points(["a", "a"], [1.0, math.nan], [2.0, 3.0])[0].n == 1


def test_repeats_share_a_label_in_ablation_rows() -> None:
    rows = [dict(backbone="mbv2", module=m, seed=s, top1=0.7) for m in ("se", "ca") for s in range(3)]
    labels, _ = model_labels(pd.DataFrame(rows), identity=IDENTITY)
    assert labels == ["se"] * 3 + ["ca"] * 3


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("macs", [3e8], ("MACs (M)", 1e-6)),
        ("attn_macs", [3e6], ("attention MACs (M)", 1e-6)),
        ("params", [3.5e6], ("params (M)", 1e-6)),
        ("elementwise_ops", [1e7], ("element-wise ops (M)", 1e-6)),
        ("latency_ms_median", [10.0], ("latency (ms, median)", 1.0)),
        ("top1", [0.74], ("top-1 accuracy (%)", 100.0)),
        ("top1", [74.0], ("top-1 accuracy (%)", 1.0)),
        ("d_latency_pct", [20.0], ("Δ latency (%)", 1.0)),
        ("peak_mem_bytes", [2e7], ("peak memory (MB)", 1e-6)),
        ("throughput_ips", [90.0], ("throughput (images/s)", 1.0)),
    ],
)
def test_axis_labels(column: str, values: list[float], expected: tuple[str, float]) -> None:
    assert axis_label(column, values) == expected


def test_label_boxes_avoid_each_other() -> None:
    centers = [(100.0, 100.0), (104.0, 100.0), (108.0, 102.0)]
    boxes = choose_label_boxes(centers, [(60.0, 14.0)] * 3, (0.0, 0.0, 400.0, 300.0), px_per_pt=1.0)
    rects = []
    for (cx, cy), (dx, dy, r) in zip(centers, boxes):
        x0 = cx + dx / math.hypot(dx, dy) * r - (60 if dx < 0 else 30 if dx == 0 else 0)
        y0 = cy + dy / math.hypot(dx, dy) * r - (14 if dy < 0 else 7 if dy == 0 else 0)
        rects.append((x0, y0, x0 + 60, y0 + 14))
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = rects[i], rects[j]
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (a, b)


# -- the PNG ---------------------------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])  # IHDR follows the magic
    return width, height


def test_png_written_at_the_default_path(csv: Path) -> None:
    out = plot_csv(csv, "macs", "latency_ms_median")
    assert out == csv.with_name("p-macs-latency_ms_median.png")
    assert out.stat().st_size > 20_000
    assert _png_size(out) == (1600, 1000)
    assert [p.name for p in csv.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_png_with_accuracy_repeats_filter_and_custom_out(tmp_path: Path) -> None:
    import matplotlib.image

    rows = [
        dict(backbone=b, module=m, seed=s, params=p, top1=a + 0.001 * s)
        for b in ("mbv2", "mnext")
        for m, p, a in (("none", 3.5e6, 0.72), ("ca", 3.95e6, 0.74))
        for s in range(3)
    ]
    path = tmp_path / "abl.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = plot_csv(path, "params", "top1", out=tmp_path / "a.png", where={"backbone": "mnext"})
    assert out == tmp_path / "a.png"
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (1000, 1600) and image.std() > 0.01  # not blank


def test_pyplot_state_untouched(csv: Path) -> None:
    import sys

    before = "matplotlib.pyplot" in sys.modules
    plot_csv(csv, "params", "macs")
    assert ("matplotlib.pyplot" in sys.modules) == before


# -- errors ----------------------------------------------------------------------------------------------------


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert text and "\n" not in text
    return text


def test_missing_empty_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="does not exist") as info:
        plot_csv(tmp_path / "nope.csv", "macs", "params")
    assert info.value.exit_code == 2 and _one_line(info.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ResultsFileError, match="is empty"):
        plot_csv(empty, "macs", "params")
    header = tmp_path / "header.csv"
    header.write_text("backbone,module,macs,params\n")
    with pytest.raises(ResultsFileError, match="no rows"):
        plot_csv(header, "macs", "params")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 50)
    with pytest.raises(ResultsFileError, match="is not a readable CSV"):
        plot_csv(binary, "macs", "params")
    with pytest.raises(ResultsFileError, match="is a folder"):
        plot_csv(tmp_path, "macs", "params")


def test_unknown_column_lists_numeric_columns(csv: Path) -> None:
    with pytest.raises(UsageError) as info:
        plot_csv(csv, "mac", "latency_ms_median")
    text = _one_line(info.value)
    assert "unknown column 'mac'" in text and "did you mean 'macs'" in text and "`x`" in text
    assert "params, macs, latency_ms_median" in text and "module" not in text.split("from")[-1]
    assert info.value.exit_code == 2


def test_column_without_numbers(csv: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'module' of p.csv has no numeric values; choose `y` from"):
        plot_csv(csv, "macs", "module")
    frame = pd.DataFrame(_rows()).assign(latency_ms_median=None)
    no_latency = tmp_path / "nolat.csv"
    frame.to_csv(no_latency, index=False)
    with pytest.raises(UsageError, match="'latency_ms_median' of nolat.csv has no numeric values"):
        plot_csv(no_latency, "macs", "latency_ms_median")


def test_bad_filter_and_unwritable_out(csv: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no row of p.csv has backbone=r50; values present: mbv2"):
        plot_csv(csv, "macs", "params", where={"backbone": "r50"})
    with pytest.raises(UsageError, match="unknown filter column 'backbon'"):
        plot_csv(csv, "macs", "params", where={"backbon": "mbv2"})
    with pytest.raises(ResultsFileError, match="does not exist; create it"):
        plot_csv(csv, "macs", "params", out=tmp_path / "missing" / "x.png")


# -- where the PNG goes, decided before drawing --------------------------------------------------------------------


def test_out_that_is_a_folder_a_symlink_or_in_a_missing_folder(csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="is a folder") as info:
        plot_csv(csv, "macs", "params", out=tmp_path)
    assert info.value.exit_code == 2 and _one_line(info.value)
    target = tmp_path / "real.png"
    target.write_bytes(b"kept")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    with pytest.raises(ResultsFileError, match="is a symbolic link"):
        plot_csv(csv, "macs", "params", out=link)
    assert target.read_bytes() == b"kept"
    with pytest.raises(ResultsFileError, match="does not exist"):
        plot_csv(csv, "macs", "params", out=tmp_path / "missing" / "x.png")


def test_out_is_checked_before_drawing(csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import attnbench.io.plot as plot

    def no_drawing(*args: object, **kw: object) -> None:
        raise AssertionError("drew the plot before checking --out")

    monkeypatch.setattr(plot, "_draw", no_drawing)
    with pytest.raises(ResultsFileError, match="is a folder"):
        plot_csv(csv, "macs", "params", out=tmp_path)


def test_png_gets_the_mode_of_a_new_file(csv: Path) -> None:
    import os

    mask = os.umask(0o022)
    try:
        out = plot_csv(csv, "macs", "params")
    finally:
        os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o644


# -- values that are not finite ----------------------------------------------------------------------------------


def test_infinite_values_are_skipped_with_one_notice(tmp_path: Path) -> None:
    from attnbench.errors import Notice

    rows = _rows()
    rows[1]["latency_ms_median"] = math.inf
    rows[2]["macs"] = -math.inf
    path = tmp_path / "inf.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.warns(Notice) as caught:
        out = plot_csv(path, "macs", "latency_ms_median")
    assert out.exists() and _png_size(out) == (1600, 1000)
    (notice,) = [str(w.message) for w in caught if issubclass(w.category, Notice)]
    assert notice == f"{path}: skipped 2 row(s) whose 'macs' or 'latency_ms_median' is not a finite number."


def test_only_infinite_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "inf.csv"
    pd.DataFrame(_rows()).assign(latency_ms_median=math.inf).to_csv(path, index=False)
    with pytest.warns(Warning), pytest.raises(UsageError, match="no row of inf.csv has numeric values in both"):
        plot_csv(path, "macs", "latency_ms_median")


def test_the_command_prints_the_notice_as_one_line(tmp_path: Path) -> None:
    from clihelp import run_cli

    rows = _rows()
    rows[1]["latency_ms_median"] = "inf"
    path = tmp_path / "inf.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, out, err = run_cli("plot", str(path))
    assert code == 0, err
    assert err.splitlines() == [
        f"Warning: {path}: skipped 1 row(s) whose 'macs' or 'latency_ms_median' is not a finite number.",
        f"wrote {path.with_name('inf-macs-latency_ms_median.png')}",
    ]


def test_an_empty_path_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="'.' is a folder"):  # Path("") is the current folder
        plot_csv(Path(""), "macs", "params")
