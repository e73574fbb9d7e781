"""``--mode train``: a training step (forward in train mode + backward) is timed instead of an inference forward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from clihelp import error_line, run_cli

from attnbench.api import build_spec
from attnbench.cost import runner, sweep

TINY = {"backbone": "r18", "width": 0.35, "input_size": 32, "batch": 2}


def test_train_rows_time_a_step_and_keep_the_forward_counts() -> None:
    timed = runner.profile(build_spec(["ca"], mode="train", repeats=5, warmup=1, max_time=0, **TINY))
    counted = runner.profile(build_spec(["ca"], latency=False, **TINY))
    assert [(r.module, r.mode, r.status) for r in timed.records] == [("none", "train", "ok"), ("ca", "train", "ok")]
    assert all(r.latency_n == 5 and r.latency_ms_median > 0 for r in timed.records)
    assert all(r.peak_mem_bytes is None for r in timed.records)  # memory is that of an inference forward: not shown
    assert [(r.params, r.macs, r.elementwise_ops) for r in timed.records] == [
        (r.params, r.macs, r.elementwise_ops) for r in counted.records
    ]
    assert [r.mode for r in counted.records] == ["inference", "inference"]


def test_a_train_step_computes_gradients_and_changes_no_weight() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(2, 3, 8, 8)
    step = runner.train_step(model, lambda: model(x))
    step()
    first = [p.grad.clone() for p in model.parameters()]
    step()  # gradients are cleared before each step, not accumulated
    assert all(torch.equal(a, p.grad) for a, p in zip(first, model.parameters()))
    assert all(g.abs().sum() > 0 for g in first)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--mode", "bogus"),
            "Error: Invalid value for '--mode': Value error, 'bogus' is not one of 'inference', 'train'. "
            "(see 'attnbench profile --help')",
        ),
        (
            ("--mode", "train", "--no-latency"),
            "Error: --mode train times a training step: drop --no-latency (counts are per forward).",
        ),
        (
            ("--mode", "train", "--batch", "1"),
            "Error: --mode train needs --batch 2 or more: BatchNorm in train mode needs more than one value per channel.",
        ),
    ],
    ids=["unknown", "no-latency", "batch-1"],
)
def test_bad_mode_is_one_line_before_measuring(args: tuple[str, ...], message: str) -> None:
    code, out, err = run_cli("profile", "--module", "ca", "--backbone", "r18", "--width", "0.35", *args)
    assert code == 2 and out == ""
    assert error_line(err, hint="bogus" not in args) == message


def test_resume_keys_rows_on_mode(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    inference = sweep.plan(
        build_spec, ["se"], ["r18"], [0.35], [32], batch=2, repeats=5, warmup=1, max_time=0, memory=False
    )
    list(sweep.run(inference, out, resume=False))
    (train,) = sweep.plan(
        build_spec, ["se"], ["r18"], [0.35], [32], batch=2, repeats=5, warmup=1, max_time=0, memory=False, mode="train"
    )
    done = sweep.existing(out)
    assert [n for n in train.names if sweep.is_done(done, train, n, "eager")] == []
    assert [n for n in inference[0].names if sweep.is_done(done, inference[0], n, "eager")] == ["none", "se"]
