"""The synthetic task family (one generator, four label maps), its ``--data`` options, ``--augment``,
``--reduction``, ``--preset ca-table1``, ``--contrasts`` and ``--format json`` of ``attnbench ablate``.

Tiny sizes (32 px, ≤ 64 images, one epoch) keep every training test to a few seconds on one core.
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from test_ablate import run_main

from attnbench.ablation.data import (
    LABEL_MAPS,
    DataRef,
    SyntheticOptions,
    expand_data,
    load_data,
    make_synthetic,
    parse_data,
    synthetic_labels,
)
from attnbench.ablation.spec import PRESETS, build_ablation_spec
from attnbench.cli.ablate import parse_contrasts, parse_reductions
from attnbench.errors import UsageError
from attnbench.papers.tables import TABLES

FAMILY = "synthetic:labels=all,grid=2,size=32"
TINY_ARGS = (
    "--width",
    "0.35",
    "--epochs",
    "1",
    "--seeds",
    "2",
    "--batch",
    "32",
    "--train-samples",
    "64",
    "--test-samples",
    "48",
    "--threads",
    "1",
    "--curve-samples",
    "16",
)


def test_parse_family_options_and_canonical_form() -> None:
    ref = parse_data("synthetic: grid=4 , labels=shape-row,size=96")
    assert str(ref) == "synthetic:labels=shape-row,grid=4,size=96" and ref.labels == "shape-row"
    assert (ref.grid, ref.size) == (4, 96)
    assert parse_data("synthetic:size=48").grid == 4 and parse_data("synthetic:size=48").labels == "shape-row-col"
    assert parse_data("synthetic").labels == "shape-row-col" and parse_data("synthetic-shape").labels == "shape"
    assert [r.labels for r in expand_data("synthetic:labels=all,grid=3")] == list(LABEL_MAPS)
    for bad, match in (
        ("synthetic:labels=colour", "labels 'colour'"),
        ("synthetic:grid=x", "whole number"),
        ("synthetic:grid=9", "between 1 and 8"),
        ("synthetic:foo=1", "KEY=VALUE"),
        ("synthetic:grid=2,grid=3", "twice"),
        ("synthetic-shape:grid=2", "no path"),
    ):
        with pytest.raises(UsageError, match=match) as info:
            parse_data(bad)
        assert "\n" not in str(info.value)


def test_label_maps_share_pixels_and_encode_row_and_column() -> None:
    opts = SyntheticOptions(size=32, grid=4, train_samples=200, test_samples=10)
    splits = {lab: make_synthetic(opts, lab)[0] for lab in LABEL_MAPS}
    base = splits["shape"]
    for lab, split in splits.items():
        assert torch.equal(split.images, base.images), lab
    cell = splits["shape-row-col"].labels % 16
    row, col = cell // 4, cell % 4
    assert torch.equal(splits["shape-row"].labels, base.labels * 4 + row)
    assert torch.equal(splits["shape-col"].labels, base.labels * 4 + col)
    assert torch.equal(splits["shape-row-col"].labels // 16, base.labels)
    assert synthetic_labels(torch.tensor([1]), torch.tensor([6]), 4, "shape-col").tolist() == [1 * 4 + 2]


@pytest.mark.slow
def test_large_test_set_is_fast_deterministic_and_cached() -> None:
    opts = SyntheticOptions(size=48, grid=4, train_samples=16, test_samples=20_000, seed=11)
    t0 = time.perf_counter()
    _, test = make_synthetic(opts, "shape")
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, again = make_synthetic(opts, "shape-row")
    assert time.perf_counter() - t0 < 0.5 and again.images is test.images  # the pixels are cached
    assert len(test) == 20_000 and first < 60
    fresh = SyntheticOptions(size=48, grid=4, train_samples=16, test_samples=20_000, seed=11, distractors=3)
    assert fresh == opts  # the cache key is the options' value
    from attnbench.ablation.data import synthetic as data_mod

    small = SyntheticOptions(size=32, grid=4, train_samples=8, test_samples=5000, seed=2)  # two render chunks
    first_images = make_synthetic(small, "shape")[1].images
    data_mod._synthetic_pixels.cache_clear()
    assert torch.equal(make_synthetic(small, "shape")[1].images, first_images)  # regenerated: the same pixels


def test_load_family_task_sizes_classes_and_augment() -> None:
    opts = SyntheticOptions(train_samples=32, test_samples=8)
    data = load_data(parse_data("synthetic:labels=shape-row,grid=4,shapes=3"), 32, opts)
    assert data.num_classes == 12 and data.train_transform.kind == "none"
    flip = load_data(parse_data("synthetic:labels=shape,grid=2"), 32, opts, augment="flip")
    assert flip.train_transform.kind == "flip" and flip.test_transform.kind == "none"
    x = flip.train.images[:4]
    out = flip.train_transform(x, torch.Generator().manual_seed(0))
    plain = flip.test_transform(x)
    for i in range(4):  # each image is itself or its mirror
        assert torch.allclose(out[i], plain[i]) or torch.allclose(out[i], plain[i].flip(-1))
    with pytest.raises(UsageError, match="`augment` flip changes where the shape is"):
        load_data(parse_data("synthetic:labels=shape-col,grid=2"), 32, opts, augment="flip")
    with pytest.raises(UsageError, match="`augment` 'blur' is unknown"):
        load_data(parse_data("synthetic"), 32, opts, augment="blur")


def test_preset_ca_table1_is_parameter_matched_as_the_table() -> None:
    spec = build_ablation_spec("ca-table1")
    assert spec.modules == ("none", "se", "ca_x", "ca_y", "ca")
    table = {row.module: row.reduction for row in TABLES["ca-table1"].rows if row.module != "none"}
    assert dict(spec.reductions) == table
    assert [parse_data(d).labels for d in spec.data] == ["shape-row-col"]  # the primary task; others on request
    assert spec.test_samples >= 20_000 and not spec.small_input and spec.input_size == 48
    assert ("ca", "se") in spec.contrast_pairs() and ("ca_x", "ca_y") in spec.contrast_pairs()
    one = build_ablation_spec("ca-table1", data="synthetic:labels=shape-row-col,size=96")
    assert one.data == ("synthetic:labels=shape-row-col,size=96",) and one.input_size == 96
    fewer = build_ablation_spec("ca-table1", modules=("se", "ca"))
    assert dict(fewer.reductions) == {"se": 24, "ca": 32} and fewer.contrast_pairs() == (
        ("ca", "se"),
        ("se", "none"),
        ("ca", "none"),
    )
    assert PRESETS["ca-table1"]["small_input_mode"] is False


def test_reduction_contrast_and_launcher_options_are_checked() -> None:
    assert parse_reductions("se=24, ca_x=24") == (("se", 24), ("ca_x", 24)) and parse_reductions(None) is None
    assert parse_contrasts("ca-se,ca_x-ca_y") == (("ca", "se"), ("ca_x", "ca_y"))
    for text in ("se", "se=x", "=4"):
        with pytest.raises(UsageError, match="MODULE=R"):
            parse_reductions(text)
    with pytest.raises(UsageError, match="A-B"):
        parse_contrasts("ca")
    with pytest.raises(UsageError, match="'ca' is not among the modules"):
        build_ablation_spec(modules=("se",), reductions=(("ca", 8),))
    with pytest.raises(UsageError, match="`reductions` eca=8: 'eca' has no reduction ratio; drop it"):
        build_ablation_spec(modules=("se", "eca"), reductions=(("eca", 8),))
    with pytest.raises(UsageError, match="`contrasts` ca-se"):
        build_ablation_spec(modules=("se",), contrasts=(("ca", "se"),))
    with pytest.raises(UsageError, match="`launcher` 'pbs' is unknown"):
        build_ablation_spec(modules=("se",), launcher="pbs")
    with pytest.raises(UsageError, match="size=48 but `input_size` is 64"):
        build_ablation_spec(modules=("se",), data="synthetic:size=48", input_size=64)
    assert build_ablation_spec(modules=("se", "ca")).contrast_pairs() == (("se", "none"), ("ca", "none"), ("ca", "se"))


@pytest.mark.slow
def test_ca_table1_command_prints_contrasts_and_json_has_them(tmp_path) -> None:
    out = tmp_path / "runs.csv"
    args = (
        "ablate",
        "--preset",
        "ca-table1",
        "--modules",
        "se,ca",
        "--data",
        "synthetic:labels=shape,grid=2",
        "--data",
        "synthetic:labels=shape-row-col,grid=2",
        "--input",
        "32",
        *TINY_ARGS,
        "--csv",
        str(out),
        "--quiet",
    )
    code, stdout, stderr = run_main(*args)
    assert code == 0, stderr
    primary, exploratory = stdout.index("Primary contrasts (pre-registered)"), stdout.index("Exploratory contrasts")
    assert primary < exploratory and "paired 95 % CI" in stdout and "Welch 95 % CI" in stdout and "p Holm" in stdout
    # One epoch does not teach the control task: no difference against it, and the summary says why.
    assert "Crossover and difference in differences" not in stdout
    assert "no difference in differences against synthetic:labels=shape,grid=2" in stdout
    code, text, stderr = run_main(*args, "--resume", "--format", "json")
    assert code == 0, stderr
    doc = json.loads(text)
    keys = {
        "a",
        "b",
        "delta_pp",
        "ci_low_pp",
        "ci_high_pp",
        "p",
        "p_holm",
        "mde_pp",
        "n_a",
        "n_b",
        "paired_ci_low_pp",
        "paired_ci_high_pp",
        "paired_p",
        "rho",
        "primary",
        "welch_p",
        "analysis",
    }
    assert doc["contrasts"] and all(keys <= set(c) for c in doc["contrasts"])
    pairs = [(c["a"], c["b"], c["primary"]) for c in doc["contrasts"] if c["task"].endswith("shape-row-col,grid=2")]
    assert pairs == [("ca", "se", True), ("se", "none", False), ("ca", "none", False)]
    c = doc["contrasts"][0]
    assert c["n_a"] == c["n_b"] == 2 and c["examples"] == 48 and c["example_seeds"] == 2
    # paired whenever the within-seed differences have a spread (one epoch can leave both at one constant answer)
    used = "paired" if c["paired_p"] is not None else "welch"
    assert c["analysis"] == used and c["n_pairs"] == 2 and c["mde_pp"] == c[f"{used}_mde_pp"]
    assert doc["did"] == [] and doc["eval_split"] == ["test"] and "ln(classes)" in doc["convergence_rule"]
    assert len(doc["tasks"]) == 2 and {m["task"] for m in doc["modules"]} == {t["data"] for t in doc["tasks"]}
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 3  # header + seeds × tasks × modules
    assert all(",none,False," in r or ",none," in r for r in rows[1:])  # augment recorded
    preds = sorted((tmp_path / "runs-predictions").glob("*.npz"))
    assert len(preds) == 12


@pytest.mark.slow
def test_reduction_reaches_the_model_and_the_row(tmp_path) -> None:
    out = tmp_path / "r.csv"
    code, _, stderr = run_main(
        "ablate",
        "--modules",
        "se",
        "--reduction",
        "se=4",
        "--data",
        "synthetic:grid=2",
        "--input",
        "32",
        *TINY_ARGS,
        "--seeds",
        "1",
        "--csv",
        str(out),
        "--quiet",
    )
    assert code == 0, stderr
    code2, _, _ = run_main(
        "ablate",
        "--modules",
        "se",
        "--reduction",
        "se=16",
        "--data",
        "synthetic:grid=2",
        "--input",
        "32",
        *TINY_ARGS,
        "--seeds",
        "1",
        "--csv",
        str(out),
        "--quiet",
    )
    assert code2 == 0
    import csv

    with out.open() as f:
        se = [r for r in csv.DictReader(f) if r["module"] == "se"]
    assert [r["reduction"] for r in se] == ["4", "16"] and int(se[0]["attn_params"]) > int(se[1]["attn_params"])
    assert all(r["augment"] == "none" and r["curve_samples"] == "16" and len(r["curve_top1"].split()) == 1 for r in se)


def test_data_ref_of_disk_sources_has_no_labels() -> None:
    assert DataRef("cifar10").labels == "" and parse_data("cifar10:/x").options == ()


@pytest.mark.slow
def test_plot_curves_draws_the_learning_curves(tmp_path) -> None:
    from attnbench.io.plot import plot_curves

    out = tmp_path / "c.csv"
    code, _, stderr = run_main(
        "ablate",
        "--modules",
        "se",
        "--data",
        "synthetic:grid=2",
        "--input",
        "32",
        *TINY_ARGS,
        "--seeds",
        "1",
        "--epochs",
        "2",
        "--csv",
        str(out),
        "--quiet",
    )
    assert code == 0, stderr
    png = plot_curves(out)
    assert png == tmp_path / "c-curves.png" and png.read_bytes()[:4] == b"\x89PNG"
    code, _, stderr = run_main("plot", str(out), "--curves", "--out", str(tmp_path / "x.png"))
    assert code == 0 and (tmp_path / "x.png").is_file(), stderr


def test_report_only_summarises_what_the_csv_holds_and_trains_nothing(tmp_path) -> None:
    out = tmp_path / "r.csv"
    base = ("ablate", "--data", "synthetic:grid=2", "--input", "32", *TINY_ARGS, "--seeds", "1", "--csv", str(out))
    code, _, stderr = run_main(*base, "--modules", "se", "--quiet")
    assert code == 0, stderr
    before = out.read_text()
    code, stdout, stderr = run_main(*base, "--modules", "se,ca", "--report-only", "--quiet")
    assert code == 0, stderr
    assert out.read_text() == before and "top-1 % (mean ± std)" in stdout
    assert stderr.splitlines() == [f"2 runs read from {out}; 1 runs of this plan are not there (not trained)"]
    code, _, stderr = run_main("ablate", "--modules", "se", "--report-only")
    assert code == 2 and "--report-only needs --csv" in stderr


def test_every_ablate_option_shows_its_default_in_help() -> None:
    import typer

    from attnbench.cli import app as cli

    group = typer.main.get_command(cli.app)
    cmd = group.get_command(None, "ablate")  # type: ignore[attr-defined]
    assert cmd is not None
    missing = []
    for param in cmd.params:
        if param.name == "help" or not getattr(param, "opts", None):
            continue
        shown = getattr(param, "show_default", None)
        if isinstance(shown, str):
            continue  # a text such as "none: rows not kept"
        lone_flag = getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", [])
        if shown is False or param.default is None or (lone_flag and param.default is False):
            missing.append(param.opts[0])  # click prints no "[default: ...]" for these
    assert missing == []
