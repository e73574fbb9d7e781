"""What the CLI writes beside its screen table: progress bars, ``--export-*`` files, ``compare``, 80-column tables.

Every model here is tiny (ResNet-18 ×0.35 at 32 px) and every command runs in-process.
"""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest
from clihelp import ANSI, error_line, run_cli
from rich.console import Console

from attnbench.cli import render
from attnbench.papers import tables

TINY = ("--backbone", "r18", "--width", "0.35", "--input", "32")


@pytest.fixture
def tiny_table(monkeypatch: pytest.MonkeyPatch) -> str:
    """A paper table of two ResNet-18 ×0.35 rows (none, SE), registered for the test as 'tiny'."""
    rows = (tables.Row("ResNet-18", "r18", "none", 0.35), tables.Row("+ SE", "r18", "se", 0.35, 16))
    monkeypatch.setitem(tables.TABLES, "tiny", tables.TableSpec("tiny", "Tiny: ResNet-18 ×0.35", "tests", rows))
    return "tiny"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal: what the progress bars draw, ANSI codes included."""
    buf = io.StringIO()
    monkeypatch.setattr(render.console, "stderr", Console(file=buf, force_terminal=True, width=120))
    return buf


# --------------------------------------------------------------------------------------------------- progress bars


def test_table_baseline_write_and_check_show_a_progress_bar_with_count_and_eta(
    tmp_path: Path, tiny_table: str, terminal: io.StringIO
) -> None:
    base = tmp_path / "base.csv"
    grid = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency")
    # the bar counts measurement groups: baseline write's grid points, check's configurations, table's profile runs
    for args, count in (
        (("baseline", "write", base, *grid), "1/1"),
        (("check", base, "--only", "params"), "2/2"),
        (("table", tiny_table, "--input", "32"), "1/1"),
    ):
        terminal.seek(0)
        terminal.truncate()
        code, _, err = run_cli(*args)
        shown = ANSI.sub("", terminal.getvalue())
        assert code == 0 and count in shown and "ETA" in shown, (args, shown)


def test_the_progress_bar_is_silent_when_quiet_or_off_a_terminal(
    terminal: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    with render.progress_bar(2, "table", quiet=True) as update:  # --quiet
        update("r18 ×0.35", True)
    assert terminal.getvalue() == ""
    piped = io.StringIO()
    monkeypatch.setattr(render.console, "stderr", Console(file=piped))  # not a terminal
    with render.progress_bar(2, "table") as update:
        update("r18 ×0.35", True)
    assert piped.getvalue() == ""


# --------------------------------------------------------------------------------------------------- --export-*


def test_profile_writes_every_export_beside_its_stdout_output(tmp_path: Path) -> None:
    from attnbench.cost.records import COLUMNS
    from attnbench.io.csvfile import read_rows

    files = {fmt: tmp_path / f"r.{fmt}" for fmt in ("csv", "json", "md")}
    code, out, err = run_cli(
        "profile",
        "-m",
        "se",
        *TINY,
        "--no-latency",
        "--format",
        "json",
        *[a for fmt, p in files.items() for a in (f"--export-{fmt}", p)],
    )
    assert code == 0, err
    assert files["json"].read_text() == out  # the same data as --format json
    data = json.loads(out)
    rows = read_rows(files["csv"], COLUMNS).rows
    assert [r["module"] for r in rows] == [d["module"] for d in data] == ["none", "se"]
    assert [int(r["params"]) for r in rows] == [d["params"] for d in data]
    md = files["md"].read_text().splitlines()
    assert md[0] == "**attnbench profile**" and sum(line.startswith("| se |") for line in md) == 1


def test_sweep_and_table_exports_hold_what_their_format_prints(tmp_path: Path, tiny_table: str) -> None:
    md = tmp_path / "t.md"
    code, out, err = run_cli("table", tiny_table, "--input", "32", "--format", "md", "--export-md", md)
    assert code == 0, err
    assert md.read_text() == out
    js = tmp_path / "s.json"
    grid = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency")
    code, out, err = run_cli("sweep", *grid, "--format", "json", "--export-json", js)
    assert code == 0, err
    assert js.read_text() == out and [r["module"] for r in json.loads(out)] == ["none", "se"]


@pytest.mark.parametrize(
    "target, says",
    [
        ("folder/", "is a folder"),
        ("missing/r.json", "does not exist"),
        ("link.json", "is a symbolic link"),
        ("same.csv", "is also the --csv file"),
    ],
)
def test_a_bad_export_path_is_refused_before_measuring(tmp_path: Path, target: str, says: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    code, out, err = run_cli(
        "profile", "-m", "se", *TINY, "--no-latency", "--csv", tmp_path / "same.csv", "--export-json", tmp_path / target
    )
    assert code == 2 and out == ""
    assert says in error_line(err) and "--export-json" in err
    assert not (tmp_path / "same.csv").exists()  # nothing was measured


def test_an_export_that_cannot_be_written_is_saved_to_unsaved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attnbench.io import csvfile, durable

    commit = durable._commit

    def disk_full(tmp: Path, p: Path) -> None:
        if not p.name.endswith(csvfile.UNSAVED_SUFFIX):
            raise OSError(errno.ENOSPC, "No space left on device")
        commit(tmp, p)

    monkeypatch.setattr(durable, "_commit", disk_full)
    target = tmp_path / "r.json"
    code, out, err = run_cli("profile", "-m", "se", *TINY, "--no-latency", "--export-json", target)
    assert code == 1
    assert "se: +0.011M params" in out  # the screen table came first
    line = error_line(err, hint=False)
    assert "--export-json" in line and "No space left on device" in line and "r.json.unsaved" in line
    assert not target.exists()
    assert [r["module"] for r in json.loads((tmp_path / "r.json.unsaved").read_text())] == ["none", "se"]


# --------------------------------------------------------------------------------------------------- compare

TIMED = ("--repeats", "6", "--warmup", "1", "--max-time", "0")  # 6 paired samples: the fewest with an interval


def test_compare_puts_two_profile_csvs_side_by_side(tmp_path: Path) -> None:
    from attnbench.cost.compare import COLUMNS

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli("profile", "-m", "se,ca", *TINY, *TIMED, "--csv", a, "--quiet")[0] == 0
    assert run_cli("profile", "-m", "se,cbam", *TINY, *TIMED, "--csv", b, "--quiet")[0] == 0
    code, out, err = run_cli("compare", a, b, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["module"], r["in"]) for r in rows] == [
        ("none", "both"),
        ("se", "both"),
        ("ca", "a_only"),
        ("cbam", "b_only"),
    ]
    se = rows[1]
    assert se["params_diff"] == se["macs_diff"] == se["elementwise_ops_diff"] == 0 and se["params_a"] > 0
    assert se["latency_ratio"] == pytest.approx(se["latency_ms_median_b"] / se["latency_ms_median_a"])
    assert se["d_latency_pct_change"] == pytest.approx(se["d_latency_pct_b"] - se["d_latency_pct_a"])
    lo_a, hi_a, lo_b, hi_b = (se[f"d_latency_pct_ci_{e}_{s}"] for s in "ab" for e in ("low", "high"))
    assert se["ci_overlap"] is (lo_a <= hi_b and lo_b <= hi_a)
    assert rows[2]["params_b"] is None and rows[3]["params_a"] is None and rows[2]["ci_overlap"] is None
    code, out, _ = run_cli("compare", a, b, "--format", "csv")
    assert code == 0 and out.splitlines()[0] == ",".join(COLUMNS)
    code, out, _ = run_cli("compare", a, b)
    assert code == 0 and "A only" in out and "B only" in out and "CIs overlap" in out


@pytest.mark.parametrize(
    ("column", "values", "heading"),
    [("quantize", ("none", "int8"), "quant"), ("mode", ("inference", "training"), "mode")],
)
def test_compare_shows_every_key_column_that_differs(column: str, values: tuple[str, str], heading: str) -> None:
    """An int8 row and a float32 row (or training and inference) of one model are two configurations: the table
    says which is which instead of printing two identical lines."""
    from attnbench.cli.render import compare_cells
    from attnbench.cost.compare import COLUMNS
    from attnbench.cost.records import SETTING_KEY

    base = {c: None for c in COLUMNS} | {c: "" for c in SETTING_KEY} | {"module": "se", "in": "a_only", "width": 1.0}
    base |= {"backbone": "mbv2", "input_size": 224, "build": "onnxruntime", "quantize": "none", "mode": "inference"}
    rows = [base | {column: values[0]}, base | {column: values[1], "in": "b_only"}]
    columns, cells = compare_cells(rows)
    at = columns.index(heading)
    assert [c[at] for c in cells] == list(values) and cells[0][:at] == cells[1][:at]
    others = [c for c in ("backbone", "input", "build") if c in columns]
    assert not others, "columns that do not differ stay out"


def test_compare_reads_a_file_written_before_the_mode_column(tmp_path: Path) -> None:
    import csv

    a, old = tmp_path / "a.csv", tmp_path / "old.csv"
    assert run_cli("profile", "-m", "se", *TINY, "--no-latency", "--csv", a, "--quiet")[0] == 0
    with a.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with old.open("w", newline="") as f:  # the same rows without the column: they timed inference
        w = csv.DictWriter(f, [c for c in rows[0] if c != "mode"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    code, out, err = run_cli("compare", old, a, "--format", "json")
    assert code == 0, err
    assert [(r["module"], r["mode"], r["in"]) for r in json.loads(out)] == [
        ("none", "inference", "both"),
        ("se", "inference", "both"),
    ]


def test_compare_refuses_what_is_not_two_matching_result_files(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    assert run_cli("profile", "-m", "se", *TINY, "--no-latency", "--csv", a, "--quiet")[0] == 0
    other = tmp_path / "other.csv"
    other.write_text(a.read_text().replace(",0.35,32,", ",0.5,32,"))  # the same models at another width
    table = tmp_path / "table.csv"
    table.write_text("model,params\nx,1\n")
    for args, says in (
        ((a, tmp_path / "nope.csv"), "B '{tmp}/nope.csv' does not exist"),
        ((tmp_path, a), "A '{tmp}' is a folder"),
        ((a, table), "B '{tmp}/table.csv' is not a results CSV"),
        ((a, other), "no row of '{tmp}/a.csv' matches a row of '{tmp}/other.csv'"),
    ):
        code, out, err = run_cli("compare", *args)
        assert code == 2 and out == "", args
        assert says.format(tmp=tmp_path) in error_line(err)


# --------------------------------------------------------------------------------------------------- 80 columns


def fits_80(text: str) -> None:
    long = [line for line in text.splitlines() if len(line) > 80]
    assert not long, long


def test_piped_profile_and_table_fit_80_columns_with_whole_words(tiny_table: str) -> None:
    code, out, err = run_cli("profile", "-m", "se,cbam", *TINY, *TIMED)  # stdout is not a terminal here
    assert code == 0, err
    fits_80(out)
    words = out.split()
    assert all(w in words for w in render.PROFILE_LEGEND.split())  # the legend wraps at word boundaries only
    assert "1.532 (+0.011)" in out and "Δlat" in out and "mem MB" in out  # nothing left out
    code, out, err = run_cli("table", tiny_table, "--input", "32", "--latency", *TIMED)
    assert code == 0, err
    fits_80(out)
    assert "unverified recollection" in out and "latency ms" in out and "+ SE" in out


def test_a_console_80_wide_gets_the_compact_tables() -> None:
    import pandas as pd

    from attnbench.cost.records import COLUMNS

    row = dict.fromkeys(COLUMNS)
    row.update(
        backbone="mbv2",
        width=1.0,
        input_size=224,
        batch=1,
        device="cpu",
        device_name="AMD EPYC",
        threads=1,
        dtype="float32",
        build="eager",
        status="ok",
        position="",
        attn_count=0,
        params=3_504_872,
        macs=300_774_272,
        elementwise_ops=13_061_000,
        latency_ms_median=12.345,
        latency_ms_iqr=0.5,
        throughput_ips=81.0,
        peak_mem_bytes=40_000_000,
    )
    ca = {
        **row,
        "module": "ca",
        "position": "after_expand",
        "reduction": 32,
        "attn_count": 16,
        "params": 3_951_000,
        "d_params": 446_000,
        "d_macs": 5_900_000,
        "d_elementwise_ops": 7_800_000,
        "d_latency_pct": 31.25,
        "d_latency_pct_ci_low": 28.04,
        "d_latency_pct_ci_high": 134.1,
    }
    frame = pd.DataFrame([{**row, "module": "none"}, ca])
    for width in (80, 200):
        buf = io.StringIO()
        render.show_profile(frame, console=Console(file=buf, width=width, color_system=None))
        text = buf.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        tables = sum(line.split()[:1] == ["module"] or line.startswith("┃ module") for line in text.splitlines())
        assert tables == (2 if width == 80 else 1)  # too wide for 80: counts, then timing and memory
        assert "+31.2% [28.0, 134.1]" in text and "(+0.446)" in text and "after_expand" in text
