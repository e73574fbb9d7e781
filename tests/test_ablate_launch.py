"""``ablate --launcher slurm`` through submitit's local executor (the same pickling and job path as Slurm): every
run a job, rows appended by the driver as jobs finish, ``--resume`` across launchers, a failing job a failed row;
and ``--launcher torchrun`` outside torchrun refused. Tiny runs (16 px, 48 images, one epoch)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_ablate import TINY, run_main  # submitit is in the dev extra: these tests run, never skip

from attnbench.ablation import run as ablate_run
from attnbench.ablation.records import read_records
from attnbench.ablation.run import run_ablation
from attnbench.ablation.spec import build_ablation_spec

TINY_SLURM = {**TINY, "test_samples": 24, "threads": 1, "curve_samples": 8}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_submitit_local_jobs_append_rows_and_resume_across_launchers(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    # First launch, here: only the baseline.
    local = run_ablation(build_ablation_spec(**{**TINY_SLURM, "modules": ()} | {"modules": ("se",)}, csv=out))
    assert [r.module for r in local.records] == ["none", "se"]
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:2]) + "\n")  # keep the header and the 'none' row: 'se' is left to do
    spec = build_ablation_spec(
        **TINY_SLURM, csv=out, resume=True, launcher="slurm", submitit_cluster="local", job_folder=tmp_path / "jobs"
    )
    events = []
    result = run_ablation(spec, progress=events.append)
    assert result.skipped == 1
    rows = _rows(out)
    assert [(r["module"], r["launcher"], r["status"]) for r in rows] == [("none", "local", "ok"), ("se", "slurm", "ok")]
    assert rows[1]["predictions"] and (tmp_path / rows[1]["predictions"]).is_file()
    assert any((tmp_path / "jobs").rglob("*.pkl"))  # the job went through submitit's pickles
    assert [e.kind for e in events if e.kind != "step"] == ["skip", "start", "done"]
    # The job's numbers are the local run's: same seed, threads and data → the same weights.
    assert float(rows[1]["top1"]) == pytest.approx(local.records[1].top1)
    again = run_ablation(spec)
    assert again.skipped == 2 and len(_rows(out)) == 2


@pytest.mark.slow
def test_a_failing_job_is_a_failed_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "runs.csv"
    spec = build_ablation_spec(
        **TINY_SLURM, csv=out, launcher="slurm", submitit_cluster="local", job_folder=tmp_path / "jobs"
    )
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job process cannot import this test module
    monkeypatch.setattr(ablate_run, "_job", _boom)
    result = run_ablation(spec)
    assert [r.status for r in result.records] == ["failed", "failed"]
    errors = [r.error for r in read_records(out)]
    assert all("boom in the job" in e for e in errors), errors


def _boom(*args: object) -> None:
    raise RuntimeError("boom in the job")


def test_torchrun_launcher_outside_torchrun_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = run_main("ablate", "--modules", "se", "--launcher", "torchrun", "--epochs", "1")
    assert code == 2 and stderr.startswith("Error: --launcher torchrun: start it with torchrun")
    code, _, stderr = run_main("ablate", "--modules", "se", "--launcher", "slurm")
    assert code == 2 and "--launcher slurm needs --csv" in stderr
