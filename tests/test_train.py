"""The training recipe: schedule, bit-identical reruns on CPU, non-finite losses, checkpoints and evaluation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from attnbench import modules
from attnbench.ablation.data import DataRef, SyntheticOptions, load_data
from attnbench.ablation.train import CheckpointError, TrainConfig, TrainProgress, evaluate, lr_at, train_and_evaluate

DATA = load_data(DataRef("synthetic"), 16, SyntheticOptions(train_samples=96, test_samples=48))
CFG = TrainConfig(
    epochs=2, batch=32, lr=0.1, weight_decay=5e-4, warmup_epochs=0.5, label_smoothing=0.1, seed=3, check_every=2
)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return modules.create_model("mbv2", "ca", width=0.35, num_classes=DATA.num_classes, small_input=True)


def test_lr_schedule_warms_up_then_follows_a_cosine_to_zero() -> None:
    assert [lr_at(s, 10, 2, 1.0) for s in (0, 1)] == [0.5, 1.0]
    assert lr_at(2, 10, 2, 1.0) == 1.0
    assert lr_at(6, 10, 2, 1.0) == pytest.approx(0.5)
    assert lr_at(9, 10, 0, 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.9)))


@pytest.mark.slow
def test_same_seed_gives_bit_identical_runs() -> None:
    a_model, b_model = tiny_model(), tiny_model()
    a = train_and_evaluate(a_model, DATA, CFG)
    b = train_and_evaluate(b_model, DATA, CFG)
    assert a.status == b.status == "ok"
    assert (a.top1, a.top5, a.final_loss, a.test_loss) == (b.top1, b.top5, b.final_loss, b.test_loss)
    for (name, p), q in zip(a_model.state_dict().items(), b_model.state_dict().values()):
        assert torch.equal(p, q), name
    assert 0.0 <= a.top1 <= 1.0 and a.top5 is not None and a.top1 <= a.top5  # type: ignore[operator]
    assert a.epochs_done == 2 and a.train_seconds > 0 and a.throughput_ips > 0
    c = train_and_evaluate(tiny_model(), DATA, TrainConfig(**{**CFG.__dict__, "seed": 4}))
    assert c.final_loss != a.final_loss


def test_progress_reports_every_check_and_epoch_end() -> None:
    seen: list[TrainProgress] = []
    train_and_evaluate(tiny_model(), DATA, TrainConfig(**{**CFG.__dict__, "epochs": 1}), progress=seen.append)
    assert [(p.epoch, p.step, p.steps) for p in seen] == [(1, 2, 3), (1, 3, 3)]
    assert all(0.0 <= p.accuracy <= 1.0 and p.loss > 0 for p in seen)


class _NaNAfter(nn.Module):
    """A classifier whose output turns NaN from its ``after``-th training forward on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.fc = nn.Linear(3, DATA.num_classes)
        self.calls, self.after = 0, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        out = self.fc(x.mean((2, 3)))
        return out * float("nan") if self.calls >= self.after else out


def test_non_finite_loss_fails_the_run_with_the_reason() -> None:
    r = train_and_evaluate(_NaNAfter(after=2), DATA, CFG)
    assert r.status == "failed" and r.top1 is None and r.epochs_done == 0
    assert r.error.startswith("training loss became nan in epoch 1, steps 1-2") and "learning rate" in r.error


def test_interrupted_run_resumes_from_its_checkpoint_exactly(tmp_path: Path) -> None:
    ck = tmp_path / "run.pt"
    full = train_and_evaluate(tiny_model(), DATA, CFG)

    def stop_in_epoch_two(p: TrainProgress) -> None:
        if p.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(tiny_model(), DATA, CFG, progress=stop_in_epoch_two, checkpoint=ck, checkpoint_key="k")
    assert ck.exists()
    loads: list[bool] = []
    real_load = torch.load

    def spy(*args: object, **kw: object) -> object:
        loads.append(bool(kw.get("weights_only")))
        return real_load(*args, **kw)  # type: ignore[arg-type]

    torch.load = spy  # type: ignore[assignment]
    try:
        resumed = train_and_evaluate(tiny_model(), DATA, CFG, checkpoint=ck, checkpoint_key="k")
    finally:
        torch.load = real_load
    assert loads == [True]
    assert (resumed.top1, resumed.final_loss, resumed.test_loss) == (full.top1, full.final_loss, full.test_loss)
    with pytest.raises(CheckpointError, match="another configuration"):
        train_and_evaluate(tiny_model(), DATA, CFG, checkpoint=ck, checkpoint_key="other")
    ck.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot be read"):
        train_and_evaluate(tiny_model(), DATA, CFG, checkpoint=ck, checkpoint_key="k")


def test_evaluate_counts_top1_and_reports_top5_only_from_10_classes() -> None:
    class Oracle(nn.Module):
        def __init__(self, labels: torch.Tensor, classes: int) -> None:
            super().__init__()
            self.labels, self.classes, self.i = labels, classes, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.labels[self.i : self.i + len(x)]
            self.i += len(x)
            one_hot = torch.nn.functional.one_hot
            out = one_hot(y, self.classes).float()
            half = len(x) // 2  # the first half of every batch ranks the true class second
            out[:half] = 0.5 * out[:half] + one_hot((y[:half] + 1) % self.classes, self.classes).float()
            return out

    top1, top5, loss, miou = evaluate(Oracle(DATA.test.labels, 16), DATA.test, DATA.test_transform, 16, 16, "cpu")
    assert top1 == 0.5 and top5 == 1.0 and loss > 0 and miou is None
    control = load_data(DataRef("synthetic-shape"), 16, SyntheticOptions(train_samples=8, test_samples=48))
    _, top5_small, _, _ = evaluate(Oracle(control.test.labels, 4), control.test, control.test_transform, 4, 16, "cpu")
    assert top5_small is None


def test_checkpoint_is_written_atomically_with_the_mode_of_a_new_file(tmp_path: Path) -> None:
    import os

    ck = tmp_path / "run.pt"
    mask = os.umask(0o022)
    try:
        train_and_evaluate(
            tiny_model(), DATA, TrainConfig(**{**CFG.__dict__, "epochs": 1}), checkpoint=ck, checkpoint_key="k"
        )
    finally:
        os.umask(mask)
    assert ck.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left behind


class _Probe(nn.Module):
    """A tiny net that records the dtype its linear layer computed in."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)
        self.seen: set[torch.dtype] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(torch.relu(self.conv(x)).mean((2, 3)))
        self.seen.add(out.dtype)
        return out


def test_bf16_autocast_trains_in_bfloat16_and_keeps_float32_weights() -> None:
    import dataclasses

    model = _Probe(DATA.num_classes)
    result = train_and_evaluate(model, DATA, dataclasses.replace(CFG, amp="bf16", channels_last=False))
    assert result.status == "ok" and math.isfinite(result.final_loss or math.nan)
    assert model.seen == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    plain = _Probe(DATA.num_classes)
    train_and_evaluate(plain, DATA, dataclasses.replace(CFG, channels_last=False))
    assert plain.seen == {torch.float32}


@pytest.mark.slow
def test_compiled_training_matches_eager_within_float_tolerance() -> None:
    import dataclasses

    cfg = dataclasses.replace(CFG, epochs=1, channels_last=False)
    torch.manual_seed(0)
    eager_model = _Probe(DATA.num_classes)
    torch.manual_seed(0)
    compiled_model = _Probe(DATA.num_classes)
    eager = train_and_evaluate(eager_model, DATA, cfg)
    compiled = train_and_evaluate(compiled_model, DATA, dataclasses.replace(cfg, compile=True))
    assert compiled.status == "ok"
    assert compiled.final_loss == pytest.approx(eager.final_loss, rel=1e-4)
    for p, q in zip(eager_model.parameters(), compiled_model.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_fp16_autocast_with_a_gradient_scaler_on_cuda() -> None:
    import dataclasses

    model = _Probe(DATA.num_classes)
    result = train_and_evaluate(model, DATA, dataclasses.replace(CFG, amp="fp16", device="cuda", channels_last=False))
    assert result.status == "ok" and model.seen == {torch.float16}
