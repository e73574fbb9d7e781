"""``ablate`` on the dense task: a segmentation head trained per pixel, scored by mean IoU, with the same paired
seeds, convergence check and statistics as classification (``--data dense:...``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_ablate import run_main

from attnbench.ablation.convergence import MAX_LOSS_RATIO, judge
from attnbench.ablation.data import BatchTransform, ImageData, load_data, parse_data
from attnbench.ablation.dense import DenseOptions, evaluate_miou, label_entropy, make_dense
from attnbench.ablation.records import read_records, run_key
from attnbench.ablation.run import _checkpoint_path, build_model
from attnbench.ablation.spec import build_ablation_spec
from attnbench.ablation.train import evaluate
from attnbench.errors import UsageError

TINY = (
    "--modules",
    "ca_x,ca",
    "--width",
    "0.35",
    "--epochs",
    "2",
    "--seeds",
    "2",
    "--train-samples",
    "48",
    "--test-samples",
    "12",
    "--batch",
    "16",
    "--threads",
    "1",
)


def _spec(**kw: object):
    given = {"modules": ("ca",), "width": 0.35, "data": "dense:cue=row,grid=3", "input_size": 48, **kw}
    return build_ablation_spec(None, **given)  # type: ignore[arg-type]


def test_the_data_value_is_canonical_and_takes_lraspp_at_stride_16() -> None:
    assert str(parse_data("dense:grid=3,cue=col")) == "dense:cue=col,grid=3"
    assert str(parse_data("dense")) == "dense:cue=row"
    spec = _spec()
    assert (spec.head, spec.stride, spec.small_input) == ("lraspp", 16, False)
    assert _spec(head="deeplabv3", output_stride=8).stride == 8


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"data": ("dense:cue=row,grid=3", "synthetic")}, "mixes dense and classification"),
        ({"val_fraction": 0.2}, "`val_fraction` splits classes"),
        ({"head": "ssdlite"}, "segmentation head: `head` deeplabv3 or lraspp"),
        ({"output_stride": 4}, "takes `output_stride` 16 or 8, not 4"),
        ({"small_input_mode": True}, "drop `small_input`"),
        ({"augment": "flip"}, "use `augment` none"),
        ({"data": "synthetic", "head": "deeplabv3"}, "trains on the dense tasks only"),
        ({"data": "dense:cue=diagonal"}, "dense cue 'diagonal' is not one of"),
    ],
)
def test_dense_options_are_checked(given: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _spec(**given)


def test_a_seed_gives_every_module_the_same_backbone_and_head() -> None:
    spec = _spec(modules=("ca_x", "ca_y", "ca"))
    base = build_model(spec, "none", 4, 0).state_dict()
    assert any(k.startswith("high_classifier") for k in base), "the head's tensors are shared too"
    for name in ("ca_x", "ca_y", "ca"):
        own = build_model(spec, name, 4, 0).state_dict()
        assert all(torch.equal(own[k], v) for k, v in base.items()), name
    other = build_model(spec, "none", 4, 1).state_dict()
    assert not all(torch.equal(other[k], v) for k, v in base.items() if v.is_floating_point())


def test_evaluate_scores_label_maps_by_mean_iou() -> None:
    opts = DenseOptions(size=48, grid=3, train_samples=8, test_samples=10)
    _, test = make_dense(opts)
    norm = BatchTransform("none", 48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    torch.manual_seed(0)
    from attnbench import modules

    model = modules.create_model("mbv2", "ca", width=0.35, head="lraspp", num_classes=4).eval()
    got = evaluate(model, test, norm, 4, batch=3, device="cpu")
    want = evaluate_miou(model, test, norm, 4, batch=4)
    assert got.miou == pytest.approx(want.miou) and got.top1 == pytest.approx(want.pixel_accuracy)
    assert got.score == got.miou


@pytest.mark.slow
def test_the_chance_loss_of_a_dense_task_is_its_label_entropy() -> None:
    labels = torch.tensor([[0, 0, 0, 1]])
    assert label_entropy(labels, 4) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    data = load_data(parse_data("dense:cue=row,grid=3"), 48, None)
    assert isinstance(data, ImageData) and data.train.labels.ndim == 3 and data.num_classes == 4  # per pixel
    assert data.chance_loss == pytest.approx(label_entropy(data.train.labels, 4)) and data.chance_loss < math.log(4)
    # The same loss is judged against the labels' entropy, not ln(classes): all-background is no longer "fitted".
    loss = 0.04 * math.log(4)
    assert judge(loss, [0.3, 0.3, 0.3], 4).converged is True
    assert judge(loss, [0.3, 0.3, 0.3], 4, chance_loss=data.chance_loss).final_loss_ratio > MAX_LOSS_RATIO


def test_a_classifier_checkpoint_keeps_its_name_and_key(tmp_path: Path) -> None:
    """Checkpoints saved before the head columns existed still resume: a classifier's key leaves them out."""
    spec = build_ablation_spec(None, modules=("ca",), width=0.35, input_size=32, checkpoint_dir=tmp_path)
    from attnbench.ablation.data import describe_data
    from attnbench.ablation.records import RUN_KEY
    from attnbench.ablation.run import _template
    from attnbench.ablation.train import DistContext
    from attnbench.env import collect_env

    info = describe_data(parse_data("synthetic"), 32, spec.synthetic, 0.0)
    record = _template(spec, info, "ca", 0, collect_env("cpu"), DistContext())
    path, text = _checkpoint_path(spec, run_key(record))
    legacy = tuple(getattr(record, c) for c in RUN_KEY if c not in ("head", "output_stride"))
    assert text == repr(legacy) and path is not None and "-scpu-" in path.name


def test_ablate_trains_scores_resumes_and_reports_the_dense_task(tmp_path: Path) -> None:
    csv = tmp_path / "dense.csv"
    args = ("ablate", "--data", "dense:cue=row,grid=3", "--input", "48", *TINY, "--csv", str(csv))
    code, out, err = run_main(*args)
    assert code == 0, err
    assert "mIoU % (mean ± std)" in out and "pixel accuracy" in err
    rows = read_records(csv)
    assert len(rows) == 6 and {r.head for r in rows} == {"lraspp"} and {r.output_stride for r in rows} == {16}
    for r in rows:
        assert r.status == "ok" and r.miou is not None and 0 <= r.miou <= 1 and r.predictions == ""
        assert len(r.curve_top1.split()) == 2 and r.converged is not None and r.final_loss_ratio is not None
    code, _, err = run_main(*args, "--resume")
    assert code == 0 and "nothing to train: all 6 runs" in err, err
    code, out, err = run_main(*args, "--report-only", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["metric"], doc["head"], doc["output_stride"]) == ("miou", "lraspp", 16)
    means = {m["module"]: m["top1_mean"] for m in doc["modules"]}
    assert means["ca"] == pytest.approx(sum(r.miou for r in rows if r.module == "ca") / 2)
    assert {(c["a"], c["b"]) for c in doc["contrasts"]} >= {("ca", "none"), ("ca_x", "none")}


def test_the_curves_of_a_dense_sweep_are_labelled_mean_iou(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes

    from attnbench.io.plot import plot_curves

    csv = tmp_path / "dense.csv"
    code, _, err = run_main(
        "ablate",
        "--data",
        "dense:cue=row,grid=3",
        "--input",
        "48",
        *TINY[:6],
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--train-samples",
        "16",
        "--test-samples",
        "4",
        "--csv",
        str(csv),
        "-q",
    )
    assert code == 0, err
    labels: list[str] = []
    real = Axes.set_ylabel
    monkeypatch.setattr(Axes, "set_ylabel", lambda ax, text, *a, **k: labels.append(text) or real(ax, text, *a, **k))
    assert plot_curves(csv).is_file() and labels == ["test mIoU (%)"]
