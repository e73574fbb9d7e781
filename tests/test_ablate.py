"""``attnbench ablate``: the spec and presets, Welch statistics on fixed numbers, the sweep and its CSV (one row per
run, resume, NaN runs, Ctrl-C), the command's output and exit codes, and a 2-process DistributedDataParallel run.

Sizes are tiny (16 px, ≤ 96 images, one epoch, width 0.35) so the whole file runs in well under a minute on 2 cores.
The command is registered on ``cli.app`` for the duration of a test when ``cli.py`` does not register it already.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from attnbench.ablation import run as ablate
from attnbench.ablation.records import COLUMNS, AblationRecord, read_records
from attnbench.ablation.run import AblationEvent, run_ablation
from attnbench.ablation.spec import build_ablation_spec
from attnbench.ablation.summary import summarize_ablation
from attnbench.cli import app as cli
from attnbench.cli.ablate import ablate_cmd, parse_seeds
from attnbench.errors import ResultsFileError, UnknownNameError, UsageError
from attnbench.stats import student_t_sf, welch_ttest

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TINY: dict[str, Any] = {
    "modules": ("se",),
    "width": 0.35,
    "input_size": 16,
    "epochs": 1,
    "seeds": 1,
    "batch": 32,
    "lr": 0.1,
    "train_samples": 96,
    "test_samples": 48,
}
TINY_ARGS = (
    "--width",
    "0.35",
    "--input",
    "16",
    "--epochs",
    "1",
    "--seeds",
    "1",
    "--batch",
    "32",
    "--train-samples",
    "96",
    "--test-samples",
    "48",
)
ENV_COLUMNS = ("torch_version", "device_name", "cpu_name", "host", "timestamp_utc")


def rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


# --- spec and presets ----------------------------------------------------------------------------------------------------


def test_presets_fill_defaults_and_options_override_them() -> None:
    quick = build_ablation_spec("quick")
    assert quick.modules == ("none", "se", "ca") and quick.seeds == (0,) and quick.data == ("synthetic",)
    assert quick.small_input and quick.preset == "quick"
    mine = build_ablation_spec("quick", modules=("ca", "none", "se", "ca"), epochs=7, seeds=(0, 5), lr=None)
    assert mine.modules == ("none", "ca", "se") and mine.epochs == 7 and mine.seeds == (0, 5) and mine.lr == quick.lr
    paper = build_ablation_spec("paper", data="imagefolder:/data/imagenet")
    assert (paper.epochs, paper.batch, paper.lr, paper.weight_decay, paper.momentum) == (200, 256, 0.05, 4e-5, 0.9)
    assert paper.input_size == 224 and not paper.small_input
    plain = build_ablation_spec(data="imagefolder:/x", seeds=3)
    assert plain.input_size == 224 and plain.seeds == (0, 1, 2) and plain.modules[0] == "none"
    assert parse_seeds("3") == 3 and parse_seeds("0,5") == (0, 5) and parse_seeds("4,") == (4,)


def test_seed_list_takes_a_single_seed_without_a_trailing_comma() -> None:
    assert parse_seeds(None, "5") == (5,) and parse_seeds(None, "0,5,7") == (0, 5, 7) and parse_seeds(None) is None
    assert build_ablation_spec(modules=("se",), seeds=parse_seeds(None, "5")).seeds == (5,)
    with pytest.raises(UsageError, match="not both"):
        parse_seeds("3", "5")
    with pytest.raises(UsageError, match="--seed-list 'x' must be comma-separated seeds"):
        parse_seeds(None, "x")


def test_help_defaults_are_the_spec_and_preset_values() -> None:
    import dataclasses

    from attnbench.ablation.spec import DEFAULTS, PRESETS, AblationSpec
    from attnbench.cli.ablate import DEFAULTS_SHOWN

    base = {f.name: f.default for f in dataclasses.fields(AblationSpec)} | DEFAULTS
    option = {
        "width": "width",
        "epochs": "epochs",
        "batch": "batch",
        "lr": "lr",
        "wd": "weight_decay",
        "warmup_epochs": "warmup_epochs",
        "label_smoothing": "label_smoothing",
        "backbone": "backbone",
        "train_samples": "train_samples",
        "test_samples": "test_samples",
        "val_fraction": "val_fraction",
        "holdout_fraction": "holdout_fraction",
        "workers": "num_workers",
        "modules": "modules",
        "data": "data",
        "curve_samples": "curve_samples",
    }
    for key, field in option.items():

        def show(v: Any) -> str:
            return ",".join(v) if isinstance(v, tuple) else str(v)

        others = [
            f"{name} {show(p[field])}"
            for name, p in PRESETS.items()
            if field in p and show(p[field]) != show(base[field])
        ]
        assert DEFAULTS_SHOWN[key] == "; ".join([show(base[field]), *[", ".join(others)][: bool(others)]]), key
    assert DEFAULTS_SHOWN["seeds"] == f"{len(base['seeds'])}; " + ", ".join(
        f"{n} {len(p['seeds'])}" for n, p in PRESETS.items()
    )
    assert DEFAULTS_SHOWN["input"].startswith(f"{base['input_size']}, imagefolder 224; ")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"modules": ("nope",)}, UnknownNameError, "nope"),
        ({"modules": ("none",)}, UsageError, "`modules`"),
        ({"preset": "paper"}, UsageError, "imagefolder"),
        ({"preset": "fast"}, UsageError, "quick, paper, ca-table1"),
        ({"resume": True}, UsageError, "`resume` needs `csv`"),
        ({"width": 3.0}, UsageError, "`width`"),
        ({"input_size": 4}, UsageError, "`input_size` 4"),
        ({"lr": -1.0}, UsageError, "`lr`"),
        ({"data": "mnist"}, UsageError, "cifar10:PATH"),
        ({"seeds": 0}, UsageError, "`seeds`"),
        ({"device": "tpu"}, UsageError, "device"),
    ],
)
def test_bad_options_raise_one_line_usage_errors(kwargs: dict[str, Any], exc: type, match: str) -> None:
    preset = kwargs.pop("preset", None)
    with pytest.raises(exc, match=match) as info:
        build_ablation_spec(preset, **{"modules": ("se",), **kwargs})
    assert "\n" not in str(info.value)


# --- statistics on fixed numbers -------------------------------------------------------------------------------------


def test_t_tail_matches_closed_forms() -> None:
    for t in (0.0, 0.3, 1.0, 4.0, -2.0):
        assert student_t_sf(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi, abs=1e-13)  # Cauchy
        assert student_t_sf(t, 2) == pytest.approx(0.5 * (1 - t / math.sqrt(t * t + 2)), abs=1e-13)


def test_welch_t_test_on_fixed_numbers() -> None:
    a, b = [0.71, 0.74, 0.73], [0.70, 0.69, 0.715, 0.68]
    # By hand: means 0.726667 and 0.69625; s²/n = 2.33333e-4/3 and 2.229167e-4/4; SE = 0.0115545.
    result = welch_ttest(a, b)
    assert result is not None
    t, df, p = result
    assert t == pytest.approx(0.0304167 / 0.0115545, rel=1e-5)  # 2.63245
    assert df == pytest.approx(1.782410e-8 / (3.024691e-9 + 1.035254e-9), rel=1e-5)  # 4.39024
    # Two-sided tail of Student's t(4.39024) beyond 2.63245, by numerical integration of the density (mpmath, 30 digits).
    assert p == pytest.approx(0.052808478407554972, rel=1e-10)
    assert welch_ttest([1.0], b) is None and welch_ttest([1.0, 1.0], [2.0, 2.0]) is None
    assert welch_ttest(b, a)[2] == pytest.approx(p, rel=1e-12)  # type: ignore[index]


def _record(module: str, seed: int, top1: float | None, status: str = "ok") -> AblationRecord:
    blank: dict[str, Any] = {c: None for c in COLUMNS}
    blank.update(module=module, seed=seed, top1=top1, status=status, params=1000 + len(module), macs=5000)
    return AblationRecord(**blank)


def test_summary_statistics_on_fixed_records() -> None:
    recs = [_record("none", s, v) for s, v in enumerate([0.70, 0.69, 0.715, 0.68])]
    recs += [_record("ca", s, v) for s, v in enumerate([0.71, 0.74, 0.73])]
    recs += [_record("ca", 3, None, "failed"), _record("se", 0, 0.7)]
    summary = {s.module: s for s in summarize_ablation(recs)}
    assert list(summary) == ["none", "ca", "se"]
    base, ca, se = summary["none"], summary["ca"], summary["se"]
    assert base.d_top1 is None and base.p_value is None and base.top1_mean == pytest.approx(0.69625)
    assert (ca.runs, ca.ok, ca.seeds) == (4, 3, (0, 1, 2))
    assert ca.top1_mean == pytest.approx(0.726667, abs=1e-6) and ca.top1_std == pytest.approx(0.0152753, abs=1e-6)
    assert ca.d_top1 == pytest.approx(0.0304167, abs=1e-6) and ca.p_value == pytest.approx(0.0528085, abs=1e-7)
    assert se.top1_std is None and se.p_value is None and se.d_top1 == pytest.approx(0.00375)


# --- the sweep ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_appends_one_complete_row_per_run(tmp_path: Path) -> None:
    out = tmp_path / "ablate.csv"
    events: list[AblationEvent] = []
    result = run_ablation(build_ablation_spec(**TINY, csv=out), progress=events.append)
    header, body = rows(out)
    assert header == list(COLUMNS)
    for col in (
        "backbone",
        "module",
        "width",
        "input_size",
        "data",
        "epochs",
        "seed",
        "top1",
        "top5",
        "params",
        "macs",
        "train_seconds",
        "throughput_ips",
        "status",
        "error",
        "git_sha",
        "timestamp_utc",
    ):
        assert col in header
    assert [(r["module"], r["seed"], r["status"]) for r in body] == [("none", "0", "ok"), ("se", "0", "ok")]
    for r in body:
        assert 0.0 <= float(r["top1"]) <= float(r["top5"]) <= 1.0
        assert int(r["params"]) > 0 and int(r["macs"]) > 0 and float(r["throughput_ips"]) > 0
        assert (r["data"], r["input_size"], r["small_input"], r["num_classes"]) == ("synthetic", "16", "True", "16")
        assert all(r[c] for c in ENV_COLUMNS)
    assert int(body[1]["params"]) > int(body[0]["params"])
    assert read_records(out) == list(result.records)
    assert [e.kind for e in events if e.kind != "step"] == ["start", "done", "start", "done"]
    assert [s.module for s in result.summary] == ["none", "se"]


def test_resume_skips_runs_already_in_the_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ablate.csv"
    spec = build_ablation_spec(**TINY, csv=out)
    first = run_ablation(spec)
    trained: list[str] = []
    real = ablate.train_and_evaluate

    def counting(model: nn.Module, *args: Any, **kw: Any) -> Any:
        trained.append("run")
        return real(model, *args, **kw)

    monkeypatch.setattr(ablate, "train_and_evaluate", counting)
    again = run_ablation(build_ablation_spec(**TINY, csv=out, resume=True))
    assert trained == [] and again.skipped == 2 and again.records == first.records
    # A new seed runs; the finished ones are still skipped, and the summary covers all of them.
    more = run_ablation(build_ablation_spec(**{**TINY, "seeds": (0, 1)}, csv=out, resume=True))
    assert len(trained) == 2 and more.skipped == 2
    assert [(r.module, r.seed) for r in read_records(out)] == [("none", 0), ("se", 0), ("none", 1), ("se", 1)]
    assert {s.module: s.ok for s in more.summary} == {"none": 2, "se": 2}
    # Another configuration (lr) is not the same run.
    run_ablation(build_ablation_spec(**{**TINY, "lr": 0.05}, csv=out, resume=True))
    assert len(trained) == 4


def test_resume_retries_failed_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ablate.build_model
    monkeypatch.setattr(
        ablate, "build_model", lambda spec, name, n, seed: _NaNNet(n) if name == "se" else real(spec, name, n, seed)
    )
    out = tmp_path / "ablate.csv"
    run_ablation(build_ablation_spec(**TINY, csv=out))
    monkeypatch.setattr(ablate, "build_model", real)
    again = run_ablation(build_ablation_spec(**TINY, csv=out, resume=True))
    assert again.skipped == 1 and [(r.module, r.status) for r in again.records] == [("none", "ok"), ("se", "ok")]
    # the failed run stays in the file as history, followed by its retry
    assert [(r.module, r.status) for r in read_records(out)] == [("none", "ok"), ("se", "failed"), ("se", "ok")]


def test_resume_keys_runs_on_device_threads_and_world_size() -> None:
    from attnbench.ablation.records import run_key

    one = _record("se", 0, 0.5)
    for change in ({"threads": 3}, {"device": "cuda"}, {"world_size": 2}, {"lr": 0.2}):
        assert run_key(dataclasses.replace(one, **change)) != run_key(one), change
    assert run_key(dataclasses.replace(one, top1=0.9, timestamp_utc="x")) == run_key(one)


def test_resume_ignores_a_torn_last_line(tmp_path: Path) -> None:
    out = tmp_path / "ablate.csv"
    spec = build_ablation_spec(**TINY, csv=out)
    run_ablation(spec)
    with out.open("a") as f:
        f.write("mbv2,se,0.35,16,True,synth")  # a row cut short by a crash
    again = run_ablation(build_ablation_spec(**TINY, csv=out, resume=True))
    assert again.skipped == 2


def test_csv_with_other_columns_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "other.csv"
    out.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsFileError, match="other columns"):
        run_ablation(build_ablation_spec(**TINY, csv=out))


class _NaNNet(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(3, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3))) * float("inf") * 0


def test_nan_loss_marks_the_run_failed_and_the_sweep_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ablate.build_model

    def build(spec: Any, name: str, num_classes: int, seed: int) -> nn.Module:
        return _NaNNet(num_classes) if name == "se" and seed == 0 else real(spec, name, num_classes, seed)

    monkeypatch.setattr(ablate, "build_model", build)
    out = tmp_path / "ablate.csv"
    result = run_ablation(build_ablation_spec(**{**TINY, "modules": ("se", "ca")}, csv=out))
    _, body = rows(out)
    assert [(r["module"], r["status"]) for r in body] == [("none", "ok"), ("se", "failed"), ("ca", "ok")]
    assert body[1]["top1"] == "" and "loss became nan" in body[1]["error"]
    se = next(s for s in result.summary if s.module == "se")
    assert (se.runs, se.ok, se.top1_mean) == (1, 0, None)


def test_ctrl_c_keeps_the_runs_already_written(tmp_path: Path) -> None:
    out = tmp_path / "ablate.csv"

    def interrupt_second_run(ev: AblationEvent) -> None:
        if ev.kind == "start" and ev.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ablation(build_ablation_spec(**TINY, csv=out), progress=interrupt_second_run)
    assert [r.module for r in read_records(out)] == ["none"]


# --- the command -------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def ablate_registered() -> Iterator[None]:
    """Register ``ablate`` on ``cli.app`` for the duration, unless ``cli.py`` already does."""
    present = any(c.name == "ablate" for c in cli.app.registered_commands)
    if not present:
        cli.app.command("ablate")(ablate_cmd)
    try:
        yield
    finally:
        if not present:
            cli.app.registered_commands[:] = [c for c in cli.app.registered_commands if c.name != "ablate"]


def run_main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        ablate_registered(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as info,
    ):
        cli.main(list(args))
    code = info.value.code
    return (code if isinstance(code, int) else 0), ANSI.sub("", out.getvalue()), ANSI.sub("", err.getvalue())


def test_command_prints_the_summary_and_writes_the_csv(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    code, stdout, stderr = run_main("ablate", "--modules", "se", *TINY_ARGS, "--csv", str(out))
    assert code == 0, stderr
    assert "Traceback" not in stderr and "2 rows appended" in stderr
    assert "top-1 % (mean ± std)" in stdout and "Δ top-1 (pp)" in stdout and "p (Welch)" in stdout
    lines = [ln for ln in stdout.split("└")[0].splitlines() if ln.startswith("│")]  # the first table
    assert [ln.split("│")[1].strip() for ln in lines] == ["none", "se"]
    assert "contrasts a − b" in stdout and "MDE (pp)" in stdout
    assert len(rows(out)[1]) == 2
    code, stdout, stderr = run_main("ablate", "--modules", "se", *TINY_ARGS, "--csv", str(out), "--resume", "--quiet")
    assert code == 0 and "p (Welch)" in stdout  # the summary of the runs already there
    assert stderr.splitlines() == [f"nothing to train: all 2 runs are already in {out}"]


def test_command_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    code, _, stderr = run_main("ablate", "--modules", "nope", *TINY_ARGS)
    assert code == 2 and stderr.startswith("Error: ") and "nope" in stderr and "Traceback" not in stderr
    code, _, stderr = run_main(
        "ablate", "--modules", "se", *TINY_ARGS, "--data", f"cifar10:{tmp_path}", "--input", "16"
    )
    assert code == 2 and "data_batch_1' is missing" in stderr and "Traceback" not in stderr
    code, _, stderr = run_main("ablate", "--resume", *TINY_ARGS)
    assert code == 2 and "--resume needs --csv" in stderr


def test_a_bad_checkpoint_is_refused_before_any_run_trains(tmp_path: Path) -> None:
    ck, out = tmp_path / "ck", tmp_path / "a.csv"
    code, _, stderr = run_main("ablate", "--modules", "se", *TINY_ARGS, "--checkpoint-dir", str(ck), "--quiet")
    assert code == 0, stderr
    se = next(p for p in ck.iterdir() if "-se-" in p.name)
    se.write_bytes(b"junk")  # the second run's checkpoint
    code, _, stderr = run_main(
        "ablate", "--modules", "se", *TINY_ARGS, "--checkpoint-dir", str(ck), "--csv", str(out), "--quiet"
    )
    assert code == 2 and f"checkpoint '{se}' cannot be read" in stderr and "Traceback" not in stderr
    assert not out.exists()  # the first run did not train (or write) either


@pytest.mark.parametrize("where", ["under-a-file", "dangling-link", "file"])
def test_a_checkpoint_dir_that_cannot_be_one_is_refused_up_front(tmp_path: Path, where: str) -> None:
    (tmp_path / "f").write_text("a file")
    ck = {"under-a-file": tmp_path / "f" / "ck", "dangling-link": tmp_path / "ck", "file": tmp_path / "f"}[where]
    if where == "dangling-link":
        ck.symlink_to(tmp_path / "gone")
    with pytest.raises(UsageError) as info:
        build_ablation_spec(**TINY, checkpoint_dir=ck)
    assert info.value.exit_code == 2 and "`checkpoint_dir`" in str(info.value) and "\n" not in str(info.value)


def test_a_checkpoint_dir_that_is_a_link_to_a_folder_is_used(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "ck").symlink_to(real)
    run_ablation(build_ablation_spec(**TINY, checkpoint_dir=tmp_path / "ck"))
    assert sorted(p.suffix for p in real.iterdir()) == [".pt", ".pt"]


# --- distributed -------------------------------------------------------------------------------------------------------

LAUNCHER = textwrap.dedent(
    """
    import sys
    from attnbench.cli import app as cli
    from attnbench.cli.ablate import ablate_cmd

    if not any(c.name == "ablate" for c in cli.app.registered_commands):
        cli.app.command("ablate")(ablate_cmd)
    cli.main(sys.argv[1:])
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_process_ddp_run_on_cpu(tmp_path: Path) -> None:
    launcher = tmp_path / "launch_attnbench.py"
    launcher.write_text(LAUNCHER)
    out = tmp_path / "ddp.csv"
    env = {k: v for k, v in os.environ.items() if k not in ("ATTNBENCH_DEBUG", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(NO_COLOR="1", OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        str(launcher),
        "ablate",
        "--modules",
        "se",
        *TINY_ARGS,
        "--csv",
        str(out),
        "--quiet",
        "--launcher",
        "torchrun",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, body = rows(out)
    assert header == list(COLUMNS)
    assert [(r["module"], r["world_size"], r["status"]) for r in body] == [("none", "2", "ok"), ("se", "2", "ok")]
    for r in body:
        assert 0.0 <= float(r["top1"]) <= 1.0 and float(r["throughput_ips"]) > 0
        assert int(r["train_samples"]) == 96 and int(r["test_samples"]) == 48
    # Only rank 0 prints the table.
    assert proc.stdout.count("p (Welch)") == 1


def test_command_exits_1_naming_the_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ablate.build_model
    monkeypatch.setattr(
        ablate, "build_model", lambda spec, name, n, seed: _NaNNet(n) if name == "se" else real(spec, name, n, seed)
    )
    out = tmp_path / "a.csv"
    code, stdout, stderr = run_main("ablate", "--modules", "se", *TINY_ARGS, "--csv", str(out), "--quiet")
    assert code == 1 and "p (Welch)" in stdout
    assert "Error: 1 of 2 rows failed: se seed 0: training loss became nan" in stderr
    assert [r["status"] for r in rows(out)[1]] == ["ok", "failed"]


def test_live_progress_bars_render_every_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from attnbench.ablation.train import TrainProgress
    from attnbench.cli import render as report

    buf = io.StringIO()
    monkeypatch.setattr(report.ablate, "stderr", Console(file=buf, force_terminal=True, width=120, color_system=None))
    done = _record("none", 0, 0.5)
    with report.ablation_progress(quiet=False) as progress:
        assert progress is not None
        progress(AblationEvent("skip", 0, 3, "none", 0, record=done))
        progress(AblationEvent("start", 1, 3, "se", 0))
        progress(AblationEvent("step", 1, 3, "se", 0, train=TrainProgress(1, 2, 5, 10, 1.25, 0.5)))
        progress(AblationEvent("done", 1, 3, "se", 0, record=dataclasses.replace(done, module="se", train_seconds=2.0)))
    text = ANSI.sub("", buf.getvalue())
    assert "run 2/3 se seed 0: top-1 50.00% (2.0 s training)" in text
    with report.ablation_progress(quiet=True) as progress:
        assert progress is None
