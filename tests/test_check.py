"""`attnbench baseline write` and `attnbench check`: a written baseline checks clean; an edited one fails with
exit 1 and names the row and the metric; a corrupt one gives exit 2 and one ``Error:`` line, never a traceback.

One baseline (mbv2 at 32 px with se and ca, 10 timed samples) is written once per module; each test edits its own
copy. Runs call ``cli.main`` in-process; counts-only checks (``--only params,macs,elementwise_ops``) skip timing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, run_cli

FAST = ("--repeats", "10", "--warmup", "1", "--max-time", "0")
COUNTS = ("--only", "params,macs,elementwise_ops")
CA = "mbv2/ca w1 @32 after_dw r32"  # label of the ca row (line 4 of the file)
SE = "mbv2/se w1 @32 after_dw r16"
NONE = "mbv2/none w1 @32"


def table_rows(stdout: str) -> dict[tuple[str, str], dict[str, str]]:
    """The check table as {(row label, metric): cells}; continuation lines of wrapped notes are skipped."""
    cols = ("line", "row", "metric", "old", "new", "change", "status", "note")
    rows = {}
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert len(cells) == len(cols), line
        if cells[0]:
            rows[(cells[1], cells[2])] = dict(zip(cols, cells))
    return rows


def summary(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("check ")]
    assert len(lines) == 1, stdout
    return lines[0]


def findings(stdout: str) -> dict[tuple[str, str], dict[str, Any]]:
    data = json.loads(stdout)
    return {(f["row"], f["metric"]): f for f in data["findings"]}


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline written once: mbv2 @32 with none, se, ca (lines 2, 3, 4)."""
    path = tmp_path_factory.mktemp("baseline") / "cost.csv"
    code, out, err = run_cli(
        "baseline", "write", path, "--modules", "se,ca", "--backbones", "mbv2", "--inputs", "32", *FAST, "-q"
    )
    assert code == 0, err
    assert err.strip() == f"3 rows written to {path}"
    return path


@pytest.fixture
def base(written: Path, tmp_path: Path) -> Path:
    """A private copy of the written baseline, in a folder of its own."""
    folder = tmp_path / "b"
    folder.mkdir()
    return Path(shutil.copy(written, folder / "cost.csv"))


@pytest.fixture
def orig(written: Path) -> dict[str, dict[str, str]]:
    """The written rows by module."""
    return {r["module"]: r for r in read_rows(written)[1]}


def edit(path: Path, module: str, /, drop: tuple[str, ...] = (), **changes: str) -> Path:
    """Change columns of the row of ``module`` in place (and drop the rows of the modules in ``drop``)."""
    header, rows = read_rows(path)
    assert module in [r["module"] for r in rows]
    rows = [r for r in rows if r["module"] not in drop]
    for r in rows:
        if r["module"] == module:
            r.update(changes)
    return write_rows(path, header, rows)


# ------------------------------------------------------------------------------------------------- write, check


def test_written_baseline_has_one_row_per_model(written: Path) -> None:
    header, rows = read_rows(written)
    from attnbench.cost.records import BASELINE_KEY

    assert header[: len(BASELINE_KEY)] == list(BASELINE_KEY) and "runtime" not in header
    assert [(r["backbone"], r["module"], r["input_size"]) for r in rows] == [
        ("mbv2", "none", "32"),
        ("mbv2", "se", "32"),
        ("mbv2", "ca", "32"),
    ]
    none = rows[0]
    assert (none["latency_ratio"], none["latency_ratio_q1"], none["latency_ratio_q3"]) == ("1.0", "1.0", "1.0")
    for r in rows:
        assert int(r["params"]) > 0 and int(r["macs"]) > 0 and int(r["elementwise_ops"]) > 0
        assert r["latency_n"] == "10"
        q1, med, q3 = float(r["latency_ratio_q1"]), float(r["latency_ratio"]), float(r["latency_ratio_q3"])
        assert 0 < q1 <= med <= q3
        low, high = float(r["latency_ratio_ci_low"]), float(r["latency_ratio_ci_high"])  # 10 pairs: x_(2), x_(9)
        assert 0 < low <= med <= high
    assert int(rows[1]["params"]) > int(none["params"]) and int(rows[2]["params"]) > int(none["params"])


def test_written_baseline_follows_umask(written: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    assert (written.stat().st_mode & 0o777) == (0o666 & ~mask)


def test_written_baseline_checks_clean(base: Path) -> None:
    # A generous tolerance: this test is about the round trip, not about the noise of a shared CI machine.
    code, out, err = run_cli("check", base, *FAST, "--latency-tolerance", "25%")
    assert code == 0, out + err
    assert "Traceback" not in err
    assert summary(out).startswith(f"check {base}: all checks hold (")
    rows = table_rows(out)
    assert {k for k, r in rows.items() if r["metric"] == "latency"} == {(SE, "latency"), (CA, "latency")}
    assert len(rows) == 3 * 3 + 2
    for key, r in rows.items():
        assert r["status"] in ("ok", "improved"), key
        if r["metric"] != "latency":
            assert (r["status"], r["old"], r["change"]) == ("ok", r["new"], ""), key


@pytest.mark.slow  # re-measures latency
def test_baseline_without_interval_columns_still_loads(base: Path) -> None:
    header, rows = read_rows(base)
    old = [c for c in header if c not in ("latency_ratio_ci_low", "latency_ratio_ci_high")]
    write_rows(base, old, [{c: r[c] for c in old} for r in rows])
    # The widest tolerance: what is checked is that the file loads and its latency rows are judged, not this
    # machine's load (the judge's thresholds have tests of their own).
    code, out, err = run_cli("check", base, *FAST, "--latency-tolerance", "900%", "--format", "json")
    assert code == 0, out + err
    findings = json.loads(out)["findings"]
    assert {f["status"] for f in findings} <= {"ok", "improved"}
    assert {f["row"] for f in findings if f["metric"] == "latency"} == {SE, CA}


def test_baseline_that_calls_the_build_runtime_still_loads(base: Path) -> None:
    header, rows = read_rows(base)
    renamed = ["runtime" if c == "build" else c for c in header]
    write_rows(base, renamed, [{("runtime" if k == "build" else k): v for k, v in r.items()} for r in rows])
    code, out, err = run_cli("check", base, *COUNTS, "--format", "json")
    assert code == 0, out + err
    assert {f["build"] for f in json.loads(out)["findings"]} == {"eager"}


def test_quiet_check_prints_only_what_failed_and_the_summary(base: Path, orig: dict) -> None:
    code, out, err = run_cli("check", base, *COUNTS, "--quiet")
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"check {base}: all checks hold (9 ok)"]

    edit(base, "ca", params=str(int(orig["ca"]["params"]) + 1))
    code, out, err = run_cli("check", base, *COUNTS, "--quiet")
    assert code == 1, out + err
    assert list(table_rows(out)) == [(CA, "params")]
    assert out.splitlines()[-1] == f"check {base}: 1 failing (1 changed, 8 ok)"


@pytest.mark.slow  # re-measures latency
def test_changed_only_shows_the_rows_that_are_not_ok(base: Path, orig: dict) -> None:
    # Ten times the measured ratio: improved however loaded the machine is (twice was within a noisy interval).
    tenfold = float(orig["ca"]["latency_ratio"]) * 10
    edit(base, "ca", drop=("se",), latency_ratio=str(tenfold))
    code, out, err = run_cli("check", base, *FAST, "--latency-tolerance", "10%", "--changed-only")
    assert code == 0, out + err
    assert {k: r["status"] for k, r in table_rows(out).items()} == {(CA, "latency"): "improved"}
    code, out, err = run_cli("check", base, *FAST, "--latency-tolerance", "10%", "--quiet")
    assert (code, out.splitlines()) == (0, [f"check {base}: all checks hold (1 improved, 6 ok)"])


def test_counts_only_check_passes_without_latency_findings(base: Path) -> None:
    code, out, err = run_cli("check", base, *COUNTS)
    assert code == 0, out + err
    assert summary(out) == f"check {base}: all checks hold (9 ok)"
    rows = table_rows(out)
    assert sorted(rows) == sorted((label, m) for label in (NONE, SE, CA) for m in ("params", "macs", "elementwise_ops"))
    assert {r["line"] for (label, _), r in rows.items() if label == CA} == {"4"}

    code, out, _ = run_cli("check", base, *COUNTS, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["ok"], data["accepted"], data["summary"]) == (True, False, {"ok": 9})
    assert "latency" not in {f["metric"] for f in data["findings"]}


# ---------------------------------------------------------------------------------------- edited exact counts


@pytest.mark.parametrize(
    ("metric", "delta", "status"),
    [("params", +1, "changed"), ("macs", -1, "regression")],
    ids=["params+1-new-is-lower", "macs-1-new-is-higher"],
)
def test_edited_count_fails_naming_row_metric_old_and_new(
    base: Path, orig: dict, metric: str, delta: int, status: str
) -> None:
    # The baseline is edited, so the re-measured value moves the other way: a baseline one too high reads as a
    # decrease ("changed"), one too low as an increase ("regression"). Both fail.
    true = int(orig["ca"][metric])
    edit(base, "ca", **{metric: str(true + delta)})
    code, out, err = run_cli("check", base, *COUNTS)
    assert code == 1, out + err
    assert err == ""
    counts = "1 changed, 8 ok" if status == "changed" else "8 ok, 1 regression"  # sorted by status
    assert summary(out) == f"check {base}: 1 failing ({counts})"
    row = table_rows(out)[(CA, metric)]
    assert row == {
        "line": "4",
        "row": CA,
        "metric": metric,
        "old": f"{true + delta:,}",
        "new": f"{true:,}",
        "change": f"{-delta:+,}",
        "status": status,
        "note": "",
    }
    assert all(r["status"] == "ok" for k, r in table_rows(out).items() if k != (CA, metric))


# ------------------------------------------------------------------------------------------ edited latency ratio


def _row(ratio: float | None, low: float | None = None, high: float | None = None, torch: str = "2.13.0") -> Any:
    from attnbench.cost.baseline import CONFIG, BaselineRow

    config = {**dict.fromkeys(CONFIG, ""), "backbone": "mbv2", "module": "ca", "width": 1.0, "input_size": 32}
    return BaselineRow(
        config,
        10,
        10,
        10,
        ratio,
        latency_ratio_ci_low=low,
        latency_ratio_ci_high=high,
        latency_n=10,
        torch_version=torch,
    )


@pytest.mark.parametrize(
    ("old", "new", "force", "status", "note"),
    [
        (_row(1.1), _row(1.5, 1.4, 1.6), False, "regression", "95% interval 1.400–1.600 over 10 paired samples"),
        (_row(1.5), _row(1.1, 1.0, 1.2), False, "improved", "limits 1.350–1.650"),
        (_row(1.2), _row(1.25, 1.1, 1.4), False, "ok", "limits 1.080–1.320"),
        (_row(None), _row(1.2, 1.1, 1.3), False, "skipped", "the baseline has no latency ratio"),
        (_row(1.2), _row(1.2), False, "skipped", "no 95% interval from 10 paired samples; raise `repeats`"),
        (_row(1.1, torch="0.0.0"), _row(1.5, 1.4, 1.6), False, "skipped", "(pass `force` to compare anyway)"),
        (_row(1.1, torch="0.0.0"), _row(1.5, 1.4, 1.6), True, "regression", "; forced across torch 0.0.0 → 2.13.0"),
    ],
    ids=["regression", "improved", "ok", "no-ratio", "no-interval", "other-torch", "forced"],
)
def test_the_latency_judge_on_fixed_rows(old: Any, new: Any, force: bool, status: str, note: str) -> None:
    """The judge on fixed rows, no timing: a regression only when the interval's low end clears ratio × 1.1."""
    from attnbench.cost.baseline import compare

    (finding,) = [f for f in compare([old], [new], ["latency"], 0.1, force).findings if f.metric == "latency"]
    assert finding.status == status and note in finding.note


@pytest.mark.slow  # a real re-measurement; the judge itself: test_the_latency_judge_on_fixed_rows
def test_quartered_latency_ratio_is_a_regression(base: Path, orig: dict) -> None:
    # A factor of 4, not 2: on a loaded 2-core runner a ca/none interval can reach 0.6, never 0.3.
    half = float(orig["ca"]["latency_ratio"]) / 4
    # The se row is dropped so that only the edited ratio is judged (no noise from a second module); ca is line 3.
    edit(base, "ca", drop=("se",), latency_ratio=str(half))
    code, out, err = run_cli("check", base, *FAST, "--latency-tolerance", "10%")
    assert code == 1, out + err
    row = table_rows(out)[(CA, "latency")]
    assert (row["line"], row["old"], row["status"]) == ("3", f"{half:.3f}", "regression")
    assert float(row["new"]) > half * 1.1
    assert summary(out) == f"check {base}: 1 failing (6 ok, 1 regression)"

    code, out, _ = run_cli("check", base, *FAST, "--latency-tolerance", "10%", "--format", "json")
    assert code == 1
    f = findings(out)[(CA, "latency")]
    assert (f["status"], f["line"], f["old"]) == ("regression", 3, half)
    assert f["note"].startswith("95% interval ") and f"–{half * 1.1:.3f}" in f["note"]
    assert "over 10 paired samples" in f["note"]


@pytest.mark.slow  # a real re-measurement; the judge itself: test_the_latency_judge_on_fixed_rows
def test_quadrupled_latency_ratio_is_an_improvement_and_passes(base: Path, orig: dict) -> None:
    double = float(orig["ca"]["latency_ratio"]) * 4
    edit(base, "ca", drop=("se",), latency_ratio=str(double))
    code, out, err = run_cli("check", base, *FAST, "--latency-tolerance", "10%")
    assert code == 0, out + err
    row = table_rows(out)[(CA, "latency")]
    assert (row["old"], row["status"]) == (f"{double:.3f}", "improved")
    assert row["change"].startswith("-")
    assert summary(out) == f"check {base}: all checks hold (1 improved, 6 ok)"


@pytest.mark.slow  # a real re-measurement; the judge itself: test_the_latency_judge_on_fixed_rows
def test_other_torch_version_skips_latency_unless_forced(base: Path, orig: dict) -> None:
    halved = float(orig["ca"]["latency_ratio"]) / 2
    edit(base, "ca", drop=("se",), torch_version="0.0.0", latency_ratio=str(halved))
    now = orig["ca"]["torch_version"]
    code, out, err = run_cli("check", base, *FAST, "--format", "json")
    assert code == 0, out + err  # the halved ratio is not judged across torch versions
    data = json.loads(out)
    assert (data["ok"], data["summary"]) == (True, {"ok": 6, "skipped": 1})
    f = findings(out)[(CA, "latency")]
    assert f["status"] == "skipped"
    assert f["note"] == f"not compared: torch 0.0.0 → {now} (pass --force to compare anyway)"
    assert "--force" in f["note"]

    code, out, err = run_cli("check", base, *FAST, "--format", "json", "--force")
    assert code == 1, out + err
    f = findings(out)[(CA, "latency")]
    assert f["status"] == "regression"
    assert f["note"].endswith(f"; forced across torch 0.0.0 → {now}")


@pytest.mark.slow  # a real re-measurement; the judge itself: test_the_latency_judge_on_fixed_rows
def test_latency_without_baseline_ratio_is_skipped(base: Path) -> None:
    edit(base, "ca", drop=("se",), latency_ratio="", latency_ratio_q1="", latency_ratio_q3="", latency_n="")
    code, out, _ = run_cli("check", base, *FAST, "--format", "json")
    assert code == 0
    f = findings(out)[(CA, "latency")]
    assert (f["status"], f["old"], f["note"]) == ("skipped", None, "the baseline has no latency ratio")


# ------------------------------------------------------------------------------------------------- bad input


def _expect_bad(*args: Any) -> str:
    code, out, err = run_cli(*args)
    assert code == 2, out + err
    assert out == ""
    return error_line(err)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    line = _expect_bad("check", path, *COUNTS)
    assert line == f"Error: baseline '{path}' does not exist; write one with 'attnbench baseline write {path}'."


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    line = _expect_bad("check", path, *COUNTS)
    assert line == f"Error: baseline '{path}' is empty; write one with 'attnbench baseline write {path}'."


def test_header_only_file(base: Path) -> None:
    header, _ = read_rows(base)
    write_rows(base, header, [])
    assert f"baseline '{base}' has no rows" in _expect_bad("check", base, *COUNTS)


@pytest.mark.parametrize(
    "blob",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01" * 8, b"\x00\x01\x02garbage\x00\nmore,\x00,bytes\n"],
    ids=["invalid-utf8", "nul-bytes"],
)
def test_binary_garbage(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(blob)
    line = _expect_bad("check", path, *COUNTS)
    assert line.startswith(f"Error: baseline '{path}' ")
    assert "rewrite it" in line


def test_unknown_column(base: Path) -> None:
    header, rows = read_rows(base)
    for r in rows:
        r["colour"] = "red"
    write_rows(base, [*header, "colour"], rows)
    line = _expect_bad("check", base, *COUNTS)
    assert line == f"Error: baseline '{base}' has unknown columns colour; rewrite it with 'attnbench baseline write'."


def test_missing_params_column(base: Path) -> None:
    header, rows = read_rows(base)
    for r in rows:
        del r["params"]
    write_rows(base, [c for c in header if c != "params"], rows)
    line = _expect_bad("check", base, *COUNTS)
    assert line == f"Error: baseline '{base}' lacks columns params; rewrite it with 'attnbench baseline write'."


@pytest.mark.parametrize(
    ("module", "column", "value", "line_no"),
    [("se", "module", "cx", 3), ("ca", "backbone", "mbv9", 4)],
    ids=["unknown-module", "unknown-backbone"],
)
def test_row_naming_unknown_name(base: Path, module: str, column: str, value: str, line_no: int) -> None:
    edit(base, module, **{column: value})
    line = _expect_bad("check", base, *COUNTS)
    assert line.startswith(f"Error: {base}:{line_no}: ")
    assert f"'{value}'" in line


@pytest.mark.parametrize("value", ["lots", "nan", ""], ids=["word", "nan", "blank"])
def test_non_numeric_params(base: Path, value: str) -> None:
    edit(base, "ca", params=value)
    line = _expect_bad("check", base, *COUNTS)
    assert line.startswith(f"Error: {base}:4: ")
    assert "params" in line


def test_truncated_row(base: Path) -> None:
    lines = base.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 5)[0]  # line 3 (se) loses its last five fields
    base.write_text("\n".join(lines) + "\n")
    line = _expect_bad("check", base, *COUNTS)
    from attnbench.cost.baseline import COLUMNS

    n = len(COLUMNS)
    assert line == f"Error: {base}:3: {n - 5} fields, the header has {n}; fix or rewrite."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--only", "bogus"),
            "--only 'bogus' names no known metric; choose from: params, macs, elementwise_ops, latency.",
        ),
        (("--latency-tolerance", "abc"), "--latency-tolerance 'abc' is not a tolerance; use a percentage such as 10%."),
        (
            ("--format", "xml"),
            "Invalid value for '--format': Value error, 'xml' is not one of 'table', 'csv', 'json'. "
            "(see 'attnbench check --help')",
        ),
    ],
    ids=["only-bogus", "tolerance-abc", "format-xml"],
)
def test_bad_option(base: Path, args: tuple[str, ...], message: str) -> None:
    before = base.read_bytes()
    code, out, err = run_cli("check", base, *args)
    assert (code, out) == (2, "")
    assert error_line(err, hint=args[0] != "--format") == f"Error: {message}"  # Typer's own choice check: no hint
    assert base.read_bytes() == before


def test_unknown_option_is_a_parse_error(base: Path) -> None:
    code, out, err = run_cli("check", base, "--tolerance", "5%")
    assert code == 2
    assert "No such option" in error_line(err, hint=False)


# ----------------------------------------------------------------------------------------- json and --github


def test_json_reports_the_regression(base: Path, orig: dict) -> None:
    true = int(orig["ca"]["params"])
    edit(base, "ca", params=str(true - 1))
    code, out, err = run_cli("check", base, *COUNTS, "--format", "json")
    assert code == 1
    assert err == ""
    data = json.loads(out)
    assert (data["ok"], data["accepted"], data["summary"]) == (False, False, {"ok": 8, "regression": 1})
    failing = [f for f in data["findings"] if f["status"] != "ok"]
    assert len(failing) == 1
    f = failing[0]
    assert {k: f[k] for k in ("row", "line", "metric", "old", "new", "status", "module", "backbone")} == {
        "row": CA,
        "line": 4,
        "metric": "params",
        "old": true - 1,
        "new": true,
        "status": "regression",
        "module": "ca",
        "backbone": "mbv2",
    }


def test_github_annotation_names_file_and_line(base: Path, orig: dict) -> None:
    true = int(orig["ca"]["params"])
    edit(base, "ca", params=str(true - 1))
    code, out, _ = run_cli("check", base, *COUNTS, "--github")
    assert code == 1
    annotations = [line for line in out.splitlines() if line.startswith("::")]
    assert annotations == [
        f"::error file={base},line=4,title=attnbench check::{CA} params: {true - 1:,} → {true:,} (regression)"
    ]
    assert summary(out) == f"check {base}: 1 failing (8 ok, 1 regression)"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_github_annotations_go_to_stderr_when_stdout_is_json_or_csv(base: Path, orig: dict, fmt: str) -> None:
    true = int(orig["ca"]["params"])
    edit(base, "ca", params=str(true - 1))
    code, out, err = run_cli("check", base, *COUNTS, "--github", "--format", fmt)
    assert code == 1
    assert not [line for line in out.splitlines() if line.startswith("::")]
    if fmt == "json":
        assert json.loads(out)["summary"] == {"ok": 8, "regression": 1}
    else:
        assert len(list(csv.DictReader(io.StringIO(out)))) == 9
    assert [line for line in err.splitlines() if line.startswith("::")] == [
        f"::error file={base},line=4,title=attnbench check::{CA} params: {true - 1:,} → {true:,} (regression)"
    ]


def test_github_without_findings_prints_no_annotation(base: Path) -> None:
    code, out, _ = run_cli("check", base, *COUNTS, "--github")
    assert code == 0
    assert not [line for line in out.splitlines() if line.startswith("::")]


# ------------------------------------------------------------------------------------------------------ --accept


def test_accept_rewrites_atomically_then_check_passes(base: Path, orig: dict) -> None:
    true = int(orig["ca"]["params"])
    edit(base, "ca", params=str(true + 1), macs="1")
    base.chmod(0o640)
    code, out, err = run_cli("check", base, *COUNTS, "--accept", "--repeats", "5", "--warmup", "1", "--max-time", "0")
    assert code == 0, out + err
    assert summary(out).startswith(f"check {base}: baseline rewritten (")
    assert sorted(p.name for p in base.parent.iterdir()) == ["cost.csv"]  # no temporary file left behind
    mask = os.umask(0)
    os.umask(mask)
    # csvfile.atomic_write: a rewrite gets the mode a new file gets under the umask, as every file attnbench writes
    assert base.stat().st_mode & 0o777 == 0o666 & ~mask
    header, rows = read_rows(base)
    assert [r["module"] for r in rows] == ["none", "se", "ca"]
    assert (rows[2]["params"], rows[2]["macs"]) == (orig["ca"]["params"], orig["ca"]["macs"])
    assert rows[2]["latency_n"] == "5"  # --accept measures latency even when --only leaves it out

    code, out, err = run_cli("check", base, *COUNTS)
    assert code == 0, out + err
    assert summary(out) == f"check {base}: all checks hold (9 ok)"


def test_failed_check_leaves_baseline_untouched(base: Path, orig: dict) -> None:
    edit(base, "ca", params=str(int(orig["ca"]["params"]) + 1))
    before = base.read_bytes()
    code, _, _ = run_cli("check", base, *COUNTS)
    assert code == 1
    assert base.read_bytes() == before
    assert sorted(p.name for p in base.parent.iterdir()) == ["cost.csv"]


# ------------------------------------------------------------------------------------------------------- --from


@pytest.fixture(scope="module")
def profile_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profile") / "X.csv"
    code, out, err = run_cli(
        "profile",
        "--module",
        "ca",
        "--backbone",
        "mbv2",
        "--input",
        "32",
        "--repeats",
        "5",
        "--warmup",
        "1",
        "--max-time",
        "0",
        "--csv",
        path,
        "--format",
        "csv",
        "-q",
    )
    assert code == 0, err
    return path


def test_baseline_from_profile_csv_checks_clean(profile_csv: Path, tmp_path: Path, orig: dict) -> None:
    path = tmp_path / "B.csv"
    code, _, err = run_cli("baseline", "write", path, "--from", profile_csv)
    assert code == 0, err
    assert err.strip() == f"2 rows written to {path}"
    _, rows = read_rows(path)
    assert [r["module"] for r in rows] == ["none", "ca"]
    assert rows[0]["latency_ratio"] == "1.0"
    assert float(rows[1]["latency_ratio"]) > 1
    assert rows[1]["latency_ratio_q1"] == rows[1]["latency_ratio"] == rows[1]["latency_ratio_q3"]
    for k in ("params", "macs", "elementwise_ops"):
        assert rows[1][k] == orig["ca"][k]

    code, out, err = run_cli("check", path, *COUNTS)
    assert code == 0, out + err
    assert summary(out) == f"check {path}: all checks hold (6 ok)"


@pytest.mark.parametrize("source", ["missing", "baseline"])
def test_from_a_non_profile_csv_is_refused(written: Path, tmp_path: Path, source: str) -> None:
    src = tmp_path / "missing.csv" if source == "missing" else written
    out_path = tmp_path / "B.csv"
    line = _expect_bad("baseline", "write", out_path, "--from", src)
    assert line.startswith(f"Error: --from '{src}' ")
    assert not out_path.exists()


@pytest.mark.parametrize(
    ("module", "value"), [("ca", "inf"), ("ca", "nan"), ("none", "0"), ("ca", "-1"), ("none", "-inf")]
)
def test_from_a_csv_with_a_non_finite_latency_is_refused(
    profile_csv: Path, tmp_path: Path, module: str, value: str
) -> None:
    header, rows = read_rows(profile_csv)
    for r in rows:
        if r["module"] == module:
            r["latency_ms_median"] = value
    src = write_rows(tmp_path / "bad.csv", header, rows)
    out_path = tmp_path / "B.csv"
    line = _expect_bad("baseline", "write", out_path, "--from", src)
    where = 2 if module == "none" else 3
    assert line.startswith(f"Error: {src}:{where}: column 'latency_ms_median' holds '{value}'"), line
    assert not out_path.exists()


def test_from_a_csv_with_a_failed_row_writes_the_good_rows_and_exits_1(profile_csv: Path, tmp_path: Path) -> None:
    header, rows = read_rows(profile_csv)
    for r in rows:
        if r["module"] == "ca":
            r.update(status="failed", error="RuntimeError: boom", params="", macs="", elementwise_ops="")
    src = write_rows(tmp_path / "failed.csv", header, rows)
    out_path = tmp_path / "B.csv"
    code, out, err = run_cli("baseline", "write", out_path, "--from", src)
    assert code == 1 and out == ""
    written, failure, hint = err.splitlines()
    assert written == f"1 rows written to {out_path}"
    assert failure == "Error: 1 of 2 rows failed: mbv2/ca w1 @32 after_dw r32: RuntimeError: boom"
    assert [r["module"] for r in read_rows(out_path)[1]] == ["none"]


# --------------------------------------------------------------------------------------------------- known bugs


@pytest.mark.parametrize("value", ["inf", "1e999"])
def test_infinite_params_is_bad_input(base: Path, value: str) -> None:
    edit(base, "ca", params=value)
    line = _expect_bad("check", base, *COUNTS)
    assert line.startswith(f"Error: {base}:4: ")


def test_fractional_params_is_bad_input(base: Path, orig: dict) -> None:
    edit(base, "ca", params=f"{orig['ca']['params']}.7")
    line = _expect_bad("check", base, *COUNTS)
    assert line.startswith(f"Error: {base}:4: ")


def test_zero_latency_ratio_is_bad_input(base: Path) -> None:
    edit(base, "ca", drop=("se",), latency_ratio="0")
    line = _expect_bad("check", base, "--repeats", "5", "--warmup", "0")
    assert line.startswith(f"Error: {base}:3: ")


def test_negative_latency_ratio_is_bad_input(base: Path) -> None:
    edit(base, "ca", drop=("se",), latency_ratio="-1")
    line = _expect_bad("check", base, "--repeats", "5", "--warmup", "0")
    assert line.startswith(f"Error: {base}:3: ")


def test_from_a_csv_with_two_runs_gives_one_row_per_configuration(profile_csv: Path, tmp_path: Path) -> None:
    header, rows = read_rows(profile_csv)
    again = [{**r, "timestamp_utc": "2000-01-01T00:00:00Z"} for r in rows]  # a second, earlier run
    src = write_rows(tmp_path / "two-runs.csv", header, rows + again)
    path = tmp_path / "B.csv"
    code, _, err = run_cli("baseline", "write", path, "--from", src)
    if code == 0:
        _, out_rows = read_rows(path)
        assert [r["module"] for r in out_rows] == ["none", "ca"]
    else:
        assert code == 2
        error_line(err)


# ------------------------------------------------------------------------------------ baseline paths, decided up front


def _write_to(path: Path) -> tuple[int, str, float]:
    import time

    t0 = time.perf_counter()
    # latency on at 224 px for three modules: measuring would take far longer than the limit below
    code, out, err = run_cli("baseline", "write", path, "--modules", "se,ca", "-q")
    assert out == ""
    return code, error_line(err), time.perf_counter() - t0


def test_baseline_write_to_a_folder_fails_before_measuring(tmp_path: Path) -> None:
    code, line, elapsed = _write_to(tmp_path)
    assert code == 2 and f"'{tmp_path}' is a folder" in line
    assert elapsed < 10, f"took {elapsed:.1f}s: the path was checked after measuring"
    assert list(tmp_path.iterdir()) == []


def test_baseline_write_into_a_missing_folder_fails_before_measuring(tmp_path: Path) -> None:
    code, line, elapsed = _write_to(tmp_path / "missing" / "b.csv")
    assert code == 2 and "does not exist" in line
    assert elapsed < 10, f"took {elapsed:.1f}s: the path was checked after measuring"


def test_baseline_write_to_a_symlink_fails_before_measuring(tmp_path: Path) -> None:
    target = tmp_path / "real.csv"
    target.write_text("kept\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    code, line, elapsed = _write_to(link)
    assert code == 2 and "is a symbolic link" in line
    assert elapsed < 10 and target.read_text() == "kept\n" and link.is_symlink()


def test_check_accept_on_a_symlinked_baseline_fails_before_measuring(base: Path) -> None:
    link = base.with_name("link.csv")
    link.symlink_to(base)
    before = base.read_bytes()
    code, out, err = run_cli("check", link, "--accept", *FAST, "-q")
    assert code == 2 and out == ""
    assert "is a symbolic link" in error_line(err)
    assert base.read_bytes() == before and link.is_symlink()
