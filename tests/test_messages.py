"""Messages name only what the command has: its own options (``sweep --widths``, not ``--width``; a
``--small-input`` hint only where the command has it), or, for a baseline file, its file and line and column; every
``--format`` value a command's ``--help`` advertises is accepted; Ctrl-C suggests ``--resume`` only where it exists.
"""

from __future__ import annotations

import csv
import io
import re
import typing
from pathlib import Path

import pytest
from clihelp import error_line, run_cli

from attnbench.cli import app as cli
from attnbench.cli import check, profile, sweep, table
from attnbench.env import available_cpus

GRID = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency", "--quiet")


@pytest.mark.parametrize(
    ("args", "says", "never"),
    [
        (
            ("table", "ca-table2", "--input", "1"),
            "--input 1 does not fit backbone 'mbv2': use 32 to 4096 (or add --small-input",
            "--inputs",
        ),
        (("sweep", *GRID, "--widths", "3"), "--widths 3.0 is outside 0.25-2.0 for backbone 'r18'.", "--width "),
        (
            ("sweep", *GRID, "--backbones", "mbv2", "--inputs", "16"),
            "--inputs 16 does not fit backbone 'mbv2': use 32 to 4096 (or add --small-input",
            "--input ",
        ),
        (("sweep", *GRID, "--modules", "none"), "also pass a module, e.g. --modules ca", "--module "),
        (("baseline", "write", "{tmp}/b.csv", *GRID, "--widths", "3"), "--widths 3.0 is outside", "--width "),
        (
            ("baseline", "write", "{tmp}/b.csv", *GRID, "--backbones", "mbv2", "--inputs", "8"),
            "--inputs 8 does not fit backbone 'mbv2': use 32 to 4096 (or add --small-input",
            "--input ",
        ),
    ],
    ids=["table-input", "sweep-widths", "sweep-inputs", "sweep-none", "baseline-widths", "baseline-inputs"],
)
def test_messages_name_the_commands_own_options(tmp_path: Path, args: tuple[str, ...], says: str, never: str) -> None:
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and out == ""
    line = error_line(err)
    assert says in line and never not in line, line


# ------------------------------------------------------------------------------------------ baseline file errors


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("b") / "base.csv"
    code, _, err = run_cli("baseline", "write", path, *GRID)
    assert code == 0, err
    return path


def _edited(written: Path, tmp_path: Path, **changes: str) -> Path:
    with written.open(newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    for r in rows:
        r.update(changes)
    path = tmp_path / "base.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"width": "9"}, "width 9.0 is outside 0.25-2.0 for backbone 'r18'"),
        ({"input_size": "8"}, "input_size 8 does not fit backbone 'r18'"),
        ({"position": "nowhere"}, "position 'nowhere' is not a slot of 'r18'"),
        ({"dtype": "float64"}, "dtype 'float64' is not supported"),
        ({"batch": "0"}, "column 'batch' holds '0', not a whole number ≥ 1"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"reduction": "0"}, "column 'reduction' holds '0', not a whole number ≥ 1"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_semantic_errors_in_a_baseline_are_file_errors(
    written: Path, tmp_path: Path, changes: dict[str, str], says: str
) -> None:
    path = _edited(written, tmp_path, **changes)
    code, out, err = run_cli("check", path, "--only", "params,macs,elementwise_ops", "-q")
    assert code == 2 and out == ""
    line = error_line(err)
    assert line.startswith(f"Error: {path}:2: {says}"), line
    assert " --" not in line, line  # names the column, never an option check does not have


def test_a_cuda_baseline_without_cuda_is_a_failure_naming_the_line(written: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    path = _edited(written, tmp_path, device="cuda")
    code, out, err = run_cli("check", path, "--only", "params,macs,elementwise_ops", "-q")
    assert code == 1 and out == ""
    line = error_line(err)
    assert line.startswith(f"Error: {path}:2: device 'cuda' requested but CUDA is not available"), line
    assert "--device" not in line


def test_a_baseline_from_a_bigger_machine_checks_its_counts_but_not_its_latency(written: Path, tmp_path: Path) -> None:
    n = available_cpus()
    path = _edited(written, tmp_path, threads=str(n + 1))
    code, out, err = run_cli("check", path, "--only", "params,macs,elementwise_ops", "-q")
    assert code == 0, out + err
    code, out, err = run_cli("check", path, "--repeats", "5", "-q")
    assert code == 2 and out == ""
    line = error_line(err)
    assert line.startswith(f"Error: {path}:2: threads {n + 1} is more than the {n} CPU core(s)"), line


def test_check_options_keep_their_names(written: Path) -> None:
    code, _, err = run_cli("check", written, "--repeats", "2", "-q")
    assert code == 2
    assert error_line(err) == "Error: --repeats must be at least 5 for a median and IQR, got 2."


# --------------------------------------------------------------------------------------------------- --format


def _advertised(command: typing.Any) -> list[str]:
    hints = typing.get_type_hints(command, include_extras=True)
    info = next(m for m in hints["format"].__metadata__)
    return re.findall(r"\b(table|csv|json|md|latex)\b", info.help)


FORMAT_RUNS = {
    "profile": (profile.profile_cmd, ("profile", "--module", "nope")),
    "sweep": (sweep.sweep_cmd, ("sweep", "--modules", "nope")),
    "table": (table.table_cmd, ("table", "nope")),
    "check": (check.check_cmd, ("check", "{tmp}/missing.csv")),
}


@pytest.mark.parametrize("command", list(FORMAT_RUNS))
def test_every_advertised_format_is_accepted(tmp_path: Path, command: str) -> None:
    fn, args = FORMAT_RUNS[command]
    values = _advertised(fn)
    assert "table" in values and len(values) >= 3, values
    for value in values:  # each run stops at a bad name or file, after --format was checked
        code, _, err = run_cli(*(a.format(tmp=tmp_path) for a in args), "--format", value)
        assert code == 2 and "--format" not in error_line(err), (value, err)


def test_check_format_csv_lists_the_findings(written: Path) -> None:
    code, out, err = run_cli("check", written, "--only", "params,macs,elementwise_ops", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["line"], r["module"], r["metric"], r["status"]) for r in rows] == [
        (str(line), module, metric, "ok")
        for line, module in ((2, "none"), (3, "se"))
        for metric in ("params", "macs", "elementwise_ops")
    ]
    assert all(r["old"] == r["new"] and r["row"].startswith("r18/") for r in rows)
    assert err.splitlines() == [f"check {written}: all checks hold (6 ok)"]


# ------------------------------------------------------------------------------------------------------ Ctrl-C


@pytest.mark.parametrize(
    ("args", "target", "line"),
    [
        (
            ("sweep", *GRID),
            "attnbench.cost.sweep.run",
            "Interrupted: no configuration had finished; nothing was written (no --csv).",
        ),
        (
            ("sweep", *GRID, "--csv", "{tmp}/r.csv"),
            "attnbench.cost.sweep.run",
            "Interrupted: no configuration had finished, nothing was appended to {tmp}/r.csv; rerun with --resume to "
            "finish.",
        ),
        (
            ("ablate", "--modules", "se", "--csv", "{tmp}/a.csv"),
            "attnbench.ablation.run.run_ablation",
            "Interrupted: rows already written are kept; rerun with --resume to finish a sweep.",
        ),
        (
            ("ablate", "--modules", "se"),
            "attnbench.ablation.run.run_ablation",
            "Interrupted: nothing was written (no --csv); pass --csv PATH to keep each finished run.",
        ),
        (
            ("profile", "--module", "se", "--input", "32"),
            "attnbench.api.run_profile",
            "Interrupted: nothing had been measured yet; nothing was written (no --csv).",
        ),
        (("check", "{tmp}/b.csv"), "attnbench.cost.baseline.read_baseline", "Interrupted."),
    ],
    ids=["sweep", "sweep-csv", "ablate-csv", "ablate", "profile", "check"],
)
def test_interrupted_names_resume_only_where_the_command_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], target: str, line: str
) -> None:
    def interrupt(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupt)
    code, _, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 130
    assert err.splitlines() == [line.format(tmp=tmp_path)]
    assert cli.app is not None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("check", "{tmp}"), "baseline '{tmp}' is a folder"),
        (("baseline", "write", "{tmp}/b.csv", "--from", "{tmp}"), "--from '{tmp}' is a folder"),
        (
            ("sweep", *GRID, "--inputs", "32,abc"),
            "--inputs 'abc' is not an input size; give one side (224) or HEIGHTxWIDTH (1024x2048).",
        ),
    ],
    ids=["check-folder", "from-folder", "inputs-example"],
)
def test_a_folder_is_called_a_folder_and_examples_fit(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 2 and out == ""
    assert says.format(tmp=tmp_path) in error_line(err)


def test_a_bad_csv_is_refused_before_the_progress_bar(tmp_path: Path) -> None:
    code, out, err = run_cli("sweep", *GRID[:-1], "--csv", tmp_path, "--resume")  # without --quiet
    assert code == 2 and out == ""
    assert f"--csv '{tmp_path}' is a folder" in error_line(err)  # the only lines on stderr
