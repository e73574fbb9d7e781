"""Paper tables: the data is well-formed, every row builds, confirmed counts reproduce, and exports are correct."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from attnbench.cli import render as report
from attnbench.io import export
from attnbench.papers.tables import TABLE_COLUMNS, TABLES, Published, check_tables, err, get_table, measure_table


def test_table_data_is_well_formed() -> None:
    check_tables()
    assert set(TABLES) == {"ca-table1", "ca-table2", "ca-table3", "ca-table4", "cbam-resnet", "bam-resnet"}


def test_published_values_and_their_rounding() -> None:
    assert Published("3.89M").value == pytest.approx(3.89e6) and Published("3.89M").half_unit == pytest.approx(5e3)
    assert Published("300M").half_unit == pytest.approx(5e5)
    assert Published("1.814G").value == pytest.approx(1.814e9) and Published("1.814G").half_unit == pytest.approx(5e5)
    assert err("29.60") == "70.40" and err("24.56") == "75.44"
    assert report.printed("3.89M") == "3.89" and report.printed("1.814G") == "1814" and report.printed("") == "–"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_row_builds(name: str) -> None:
    spec = get_table(name)
    rows = measure_table(spec, input_size=64)
    assert [r["row"] for r in rows] == [r.label for r in spec.rows]
    assert all(r["params"] > 0 and r["macs"] > 0 and r["elementwise_ops"] > 0 for r in rows)
    for r, row in zip(rows, spec.rows):
        assert r["published_params"] is None or r["published_params"] == pytest.approx(Published(row.params).value)
        if row.source == "unknown":
            assert r["published_params"] is r["published_madds"] is r["published_top1"] is None


def test_confirmed_params_reproduce_at_224() -> None:
    """The CA paper's confirmed MobileNetV2-1.0 rows: our params fall inside the printed rounding."""
    rows = {r["row"]: r for r in measure_table(get_table("ca-table2"), input_size=224) if r["width"] == 1.0}
    for label in ("MobileNetV2-1.0", "+ SE", "+ CBAM", "+ CA"):
        assert rows[label]["source"] == "confirmed"
        assert rows[label]["params_differs"] is False, (label, rows[label]["params"])
    assert rows["+ CA"]["params"] == 3_950_648 and rows["+ SE"]["params"] == 3_888_208
    assert rows["+ CA"]["macs_differs"] is True  # 306.7M vs the printed 310M: flagged, with a footnote
    assert rows["+ CA"]["note"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attnbench", *args], capture_output=True, text=True, timeout=300)


def test_table_csv_markdown_and_latex_exports() -> None:
    out = run_cli("table", "bam-resnet", "--format", "csv", "--input", "64")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == list(TABLE_COLUMNS) and [r["module"] for r in rows] == ["none", "bam"]
    assert rows[0]["published_params"] == "25560000.0" and rows[1]["source"] == "recalled"

    md = run_cli("table", "bam-resnet", "--format", "md", "--input", "64").stdout.splitlines()
    table = [line for line in md if line.startswith("|")]
    assert len(table) == 4 and len({line.count("|") for line in table}) == 1  # header, rule, 2 rows; same width
    assert table[1].startswith("|---|") and "---:" in table[1]
    assert any(line.startswith("1. ") for line in md)

    tex = run_cli("table", "bam-resnet", "--format", "latex", "--input", "64").stdout
    assert tex.count(r"\begin{tabular}") == 1 and r"\toprule" in tex and r"\bottomrule" in tex
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(body) == 3 and len({line.count(" & ") for line in body}) == 1


def test_table_list_and_unknown_name() -> None:
    listed = run_cli("table", "--list")
    assert listed.returncode == 0 and all(name in listed.stdout for name in TABLES)
    bad = run_cli("table", "ca-tabel2")
    assert bad.returncode == 2 and "Did you mean 'ca-table2'?" in bad.stderr and "Traceback" not in bad.stderr


def test_markdown_and_latex_escape_their_special_characters() -> None:
    md = export.to_markdown(["a|b", "n"], [["x|y", "1.5"]], ["note | with pipe"])
    assert "a\\|b" in md and "x\\|y" in md and "| ---" not in md.splitlines()[1]
    tex = export.latex_escape("50% of x_1 & y ×2 Δ")
    assert tex == r"50\% of x\_1 \& y $\times$2 $\Delta$"
    assert export.to_csv(["a", "b"], [[None, 1]]) == "a,b\n,1\n"
