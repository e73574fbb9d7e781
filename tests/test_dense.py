"""Dense heads and non-square inputs in the harness: specs, rows, keys, older files, and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from clihelp import run_cli

from attnbench.cost import records, sweep
from attnbench.cost.compare import compare, read_results
from attnbench.cost.records import COLUMNS, HEAD_COLUMNS
from attnbench.cost.runner import profile
from attnbench.cost.shape import input_hw, input_label, parse_input_size
from attnbench.cost.spec import ProfileSpec
from attnbench.errors import UnknownNameError, UsageError


def test_input_sizes_parse_square_as_an_int_and_others_as_height_width() -> None:
    assert parse_input_size("224") == parse_input_size(224) == parse_input_size("224x224") == 224
    assert parse_input_size("1024x2048") == parse_input_size(" 1024 X 2048 ") == parse_input_size((1024, 2048))
    assert parse_input_size("1024x2048") == (1024, 2048) and parse_input_size("224.0") == 224
    assert input_hw(512) == (512, 512) and input_hw((64, 96)) == (64, 96)
    assert input_label(224) == 224 and input_label((1024, 2048)) == "1024x2048" and input_label((96, 96)) == 96
    for bad in ("abc", "12x", "x12", "1.5", "224x224x3"):
        with pytest.raises(ValueError, match="input size|whole number"):
            parse_input_size(bad)


def _spec(**kw: object) -> ProfileSpec:
    return ProfileSpec(**{"modules": ("ca",), "latency": False, "memory": False, **kw}).validate()  # type: ignore[arg-type]


@pytest.mark.slow  # counts three dense models
def test_a_dense_row_names_its_head_options_and_slot_rule() -> None:
    records = profile(_spec(head="deeplabv3", output_stride=8, num_classes=19, input_size=(64, 96))).records
    assert [(r.head, r.head_classes, r.output_stride, r.head_slots) for r in records] == [
        ("deeplabv3", 19, 8, "backbone")
    ] * 2
    assert {r.input_size for r in records} == {"64x96"} and all(r.status == "ok" for r in records)
    assert not records[1].flops_unsupported
    det = profile(_spec(head="ssdlite_voc", input_size=96)).records
    assert [(r.head, r.head_classes, r.output_stride, r.head_slots) for r in det] == [
        ("ssdlite_voc", 21, 32, "backbone+extras")
    ] * 2
    assert det[1].attn_count == 16 + 4  # the backbone's blocks and the four extra blocks
    plain = profile(_spec(input_size=64)).records[0]
    assert (plain.head, plain.head_classes, plain.output_stride, plain.head_slots) == ("", None, None, "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"head": "deeplab"}, "unknown head 'deeplab'. Did you mean 'deeplabv3'?"),
        ({"head": "deeplabv3", "backbone": "r18"}, "`head` deeplabv3 takes `backbone` mbv2 or mnext, not 'r18'"),
        ({"head": "deeplabv3", "output_stride": 32}, "`output_stride` 16 or 8, not 32"),
        ({"head": "ssdlite", "output_stride": 16}, "`output_stride` 32, not 16"),
        ({"head": "lraspp", "head_slots": "backbone+extras"}, "`head_slots` backbone, not 'backbone+extras'"),
        ({"output_stride": 8}, "`output_stride` applies to a dense head; add `head`"),
        ({"head": "ssdlite", "small_input": True, "input_size": 32}, "drop `small_input`"),
        ({"input_size": (16, 224)}, "`input_size` 16x224 does not fit"),
    ],
)
def test_bad_head_options_are_one_line(fields: dict[str, object], message: str) -> None:
    with pytest.raises((UsageError, UnknownNameError)) as info:
        _spec(**fields)
    assert message in str(info.value)


def test_keys_hold_the_head_and_the_input_shape(tmp_path: Path) -> None:
    csv_path = tmp_path / "dense.csv"
    specs = [
        _spec(head="deeplabv3", output_stride=16, input_size=(64, 96)),
        _spec(head="deeplabv3", output_stride=8, input_size=(64, 96)),
    ]
    first = [r for rows, _ in sweep.run(specs, csv_path, resume=False) for r in rows]
    assert len(first) == 4
    done = sweep.existing(csv_path)
    assert all(sweep.is_done(done, s, n, "eager") for s in specs for n in s.names)
    for other in (
        _spec(head="deeplabv3", output_stride=16, input_size=(96, 64)),
        _spec(head="deeplabv3", output_stride=16, input_size=(64, 96), num_classes=19),
        _spec(head="lraspp", output_stride=16, input_size=(64, 96)),
        _spec(input_size=(64, 96)),
    ):
        assert not sweep.is_done(done, other, "ca", "eager")
    assert list(sweep.run(specs, csv_path, resume=True)) == []  # nothing left to measure
    results = read_results(csv_path, "A")
    rows = compare(results, results)
    assert {r["input_size"] for r in rows} == {"64x96"} and {r["output_stride"] for r in rows} == {16, 8}


def test_a_file_written_before_the_head_columns_reads_as_classification(tmp_path: Path) -> None:
    older = [c for c in COLUMNS if c not in HEAD_COLUMNS]
    old = tmp_path / "old.csv"
    row = {c: "" for c in older}
    row.update(
        backbone="mbv2",
        module="none",
        width="1.0",
        input_size="224",
        batch="1",
        device="cpu",
        dtype="float32",
        threads="1",
        build="eager",
        runtime="eager",
        quantize="none",
        mode="inference",
        status="ok",
        params="3504872",
        macs="1",
        elementwise_ops="1",
    )
    with old.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=older, lineterminator="\n")
        w.writeheader()
        w.writerow(row)
    assert [r["head"] for r in read_results(old, "A").rows.values()] == [""]  # read as it is, no head
    with pytest.warns(UserWarning, match="had the columns of an older attnbench"):
        assert records.upgrade(old)
    with old.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == list(COLUMNS) and all(got[0][c] == "" for c in HEAD_COLUMNS)
    done = sweep.existing(old)
    assert sweep.is_done(done, ProfileSpec(modules=(), latency=False), "none", "eager")
    assert not sweep.is_done(done, ProfileSpec(modules=(), latency=False, head="deeplabv3"), "none", "eager")


def test_profile_cli_with_a_head_and_a_non_square_input(tmp_path: Path) -> None:
    code, out, err = run_cli(
        "profile",
        "--module",
        "se",
        "--backbone",
        "mbv2",
        "--head",
        "deeplabv3",
        "--output-stride",
        "8",
        "--input",
        "64x128",
        "--no-latency",
        "--format",
        "json",
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["head"], r["output_stride"], r["head_classes"], r["input_size"]) for r in rows] == [
        ("deeplabv3", 8, 21, "64x128")
    ] * 2
    assert all(r["flops_unsupported"] == "" for r in rows)
    code, out, err = run_cli(
        "profile", "--module", "ca", "--head", "ssdlite", "--input", "96", "--no-latency", "--quiet"
    )
    assert code == 0 and "mbv2 + ssdlite (OS 32, 81 classes, attention also in the extras)" in " ".join(out.split())
    code, _, err = run_cli("profile", "--module", "ca", "--input", "64y64", "--no-latency")
    assert code == 2 and "Error: --input '64y64' is not an input size" in err
    code, _, err = run_cli("profile", "--module", "ca", "--head", "lraspp", "--backbone", "r50", "--no-latency")
    assert code == 2 and "--head lraspp takes --backbone mbv2 or mnext" in err


def test_sweep_cli_takes_heads_and_non_square_inputs(tmp_path: Path) -> None:
    out_csv = tmp_path / "s.csv"
    args = (
        "sweep",
        "--modules",
        "ca",
        "--backbones",
        "mbv2",
        "--inputs",
        "64,64x96",
        "--head",
        "lraspp",
        "--no-latency",
        "--csv",
        str(out_csv),
        "--quiet",
    )
    code, _, err = run_cli(*args)
    assert code == 0, err
    with out_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["input_size"], r["head"], r["output_stride"]) for r in rows] == [
        ("64", "lraspp", "16"),
        ("64", "lraspp", "16"),
        ("64x96", "lraspp", "16"),
        ("64x96", "lraspp", "16"),
    ]
    code, _, err = run_cli(*args, "--resume")
    assert code == 0 and "nothing to measure" in err


def test_a_baseline_of_non_square_rows_round_trips(tmp_path: Path) -> None:
    """``baseline write --from`` and ``check`` key a HxW row as the results file holds it ("64x96")."""
    runs, base = tmp_path / "r.csv", tmp_path / "b.csv"
    code, _, err = run_cli(
        "sweep",
        "--modules",
        "se",
        "--backbones",
        "mbv2",
        "--widths",
        "0.35",
        "--inputs",
        "64x96",
        "--no-latency",
        "--csv",
        str(runs),
        "--quiet",
    )
    assert code == 0, err
    code, _, err = run_cli("baseline", "write", str(base), "--from", str(runs))
    assert code == 0, err
    with base.open(newline="") as f:
        assert {r["input_size"] for r in csv.DictReader(f)} == {"64x96"}
    code, out, err = run_cli("check", str(base), "--only", "params,macs,elementwise_ops", "--quiet")
    assert code == 0, err + out
