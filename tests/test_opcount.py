"""The one-pass dispatch counter: its convention on toy nets, and exact agreement with fvcore and measure.

``tests/fvcore_reference.py`` (fvcore's JIT tracer) and ``tests/memory_reference.py`` are the references: every registered
module in every backbone must give the same MACs, element-wise ops, attention shares and peak bytes.
"""

from __future__ import annotations

import copy
import functools
import statistics
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fvcore_reference import count_flops
from memory_reference import peak_memory
from torch import nn

from attnbench import modules as M
from attnbench.cost import opcount
from attnbench.cost.baseline import read_baseline, specs_for
from attnbench.cost.build import build_model, make_input
from attnbench.cost.opcount import ELEMENTWISE, MAC, OpCount, _Pass, count_ops
from attnbench.cost.spec import ProfileSpec

COST_CSV = Path(__file__).resolve().parents[1] / "results" / "baselines" / "cost.csv"


def _counts(c: OpCount) -> tuple[int, int, int, int]:
    return c.macs, c.elementwise_ops, c.attn_macs, c.attn_elementwise_ops


class _Lambda(nn.Module):
    """A function as a module, so that toy ops can be counted."""

    def __init__(self, fn) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


# --- the convention on toy nets, counted by hand ---------------------------------------------------------------


def test_conv_and_linear_macs_bias_free() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=True), nn.Flatten(), nn.Linear(8 * 8 * 8, 5))
    c = count_ops(net.eval(), torch.randn(2, 3, 10, 10))
    assert c.macs == 2 * (8 * 8 * 8 * 3 * 9 + 512 * 5)
    assert c.elementwise_ops == 0 and c.unsupported == {}
    assert c.by_operator == {"conv2d": 2 * 8 * 8 * 8 * 3 * 9, "linear": 2 * 512 * 5}  # linear once, not also addmm


def test_strided_grouped_and_transposed_convs() -> None:
    x = torch.randn(1, 8, 9, 9)
    dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)  # 5x5 output, 9 MACs per output element
    assert count_ops(dw, x).macs == 8 * 5 * 5 * 9
    up = nn.ConvTranspose2d(8, 4, 2, stride=2)  # every input position meets the whole 8x4x2x2 kernel
    assert count_ops(up, x).macs == 9 * 9 * 8 * 4 * 2 * 2


class SEMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc2(self.fc1(x.mean((2, 3), keepdim=True)).relu()).sigmoid()


class SEModules(SEMean):
    def __init__(self) -> None:
        super().__init__()
        self.pool, self.act, self.gate = nn.AdaptiveAvgPool2d(1), nn.ReLU(inplace=True), nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mul(x, self.gate(self.fc2(self.act(self.fc1(self.pool(x))))))


def test_se_gate_same_count_in_any_coding_style() -> None:
    x = torch.randn(2, 16, 5, 7)
    n = x.numel()
    for net in (SEMean(), SEModules()):
        c = count_ops(net.eval(), x)
        assert c.macs == 2 * (16 * 4 + 4 * 16)
        assert c.elementwise_ops == n + 2 * 4 + 2 * 16 + n  # pool (per input), relu, sigmoid, broadcast mul


def test_inplace_ops_cost_their_out_of_place_form() -> None:
    class Net(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x * x.sigmoid()  # 2 per element
            y.mul_(x).add_(1).sigmoid_()  # 3 per element
            return F.hardswish(y, inplace=True) + F.relu6(y)  # 3 per element

    x = torch.randn(2, 3, 4, 4)
    c = count_ops(Net(), x)
    assert c.elementwise_ops == 8 * x.numel()
    assert {"mul_", "add_", "sigmoid_", "hardswish_"} <= set(c.by_operator)


def test_pools_batchnorm_and_addcmul() -> None:
    x = torch.randn(1, 2, 6, 6)
    bn = nn.BatchNorm2d(2).eval()
    cases = [
        (lambda t: F.max_pool2d(t, 2), 4 * 2 * 3 * 3),  # kernel area per output element
        (lambda t: F.avg_pool2d(t, 3, stride=1, padding=1), 9 * 2 * 6 * 6),
        (lambda t: F.adaptive_avg_pool2d(t, 1), 72),  # global pool: one per input element
        (lambda t: F.adaptive_avg_pool2d(t, 3), 72),
        (lambda t: t.amax(1), 72),
        (lambda t: t.softmax(-1), 72),
        (lambda t: torch.addcmul(t, t, t), 2 * 72),
        (lambda t: nn.ReLU6(inplace=True)(t.clone()), 72),
        (bn, 72),
    ]
    for fn, expected in cases:
        c = count_ops(_Lambda(fn), x)
        assert (c.macs, c.elementwise_ops, c.unsupported) == (0, expected, {}), c.by_operator


def test_ops_of_eca_simam_gc_and_triplet_by_hand() -> None:
    """The ops the four comparator modules add to the table's use, each counted alone on a 1×2×6×6 input (72)."""
    x = torch.randn(1, 2, 6, 6)
    ln, ln_bare = nn.LayerNorm([2, 6, 6]).eval(), nn.LayerNorm([2, 6, 6], elementwise_affine=False).eval()
    cases = [
        (ln, 0, 4 * 72),  # mean, variance, normalise, affine
        (ln_bare, 0, 3 * 72),
        (lambda t: F.layer_norm(t, (6,), bias=torch.zeros(6)), 0, 4 * 72),  # a bias alone is an affine too
        (lambda t: F.conv1d(t.mean((2, 3)).unsqueeze(1), torch.ones(1, 1, 3), padding=1), 2 * 3, 72),  # ECA: k per C
        (lambda t: torch.max(t, 1)[0], 0, 72),  # max over channels (values and indices): one per input element
        (lambda t: t.softmax(-1).flatten(2).softmax(2), 0, 2 * 72),
        (lambda t: (t - t.mean((2, 3), keepdim=True)).pow(2), 0, 3 * 72),  # SimAM's deviation: mean, sub, square
        (lambda t: torch.matmul(t.flatten(2), torch.ones(1, 36, 1)), 72, 0),  # GC's attention pooling: C·HW MACs
    ]
    for fn, macs, elementwise in cases:
        c = count_ops(fn if isinstance(fn, nn.Module) else _Lambda(fn), x)
        assert (c.macs, c.elementwise_ops, c.unsupported) == (macs, elementwise, {}), c.by_operator


def test_matrix_products_count_once_with_broadcast_batches() -> None:
    a, b, v, bias = torch.randn(2, 3, 4, 5), torch.randn(5, 6), torch.randn(6), torch.zeros(1, 4, 1)
    cases = [
        (lambda: torch.matmul(a, b), 2 * 3 * 4 * 5 * 6),  # decomposed: the mm it runs, counted once
        (lambda: torch.matmul(b.T, a.transpose(-1, -2)), 2 * 3 * 6 * 5 * 4),  # broadcast of the left operand
        (lambda: torch.einsum("nchw,nchv->nwv", a, a), 2 * 5 * 3 * 4 * 5),
        (lambda: torch.bmm(a[0], a[0].transpose(1, 2)), 3 * 4 * 5 * 4),
        (lambda: torch.baddbmm(bias, a[0], a[0].transpose(1, 2)), 3 * 4 * 5 * 4),  # bias free
        (lambda: torch.mv(b, v), 30),
    ]
    for fn, expected in cases:
        c = count_ops(_Lambda(lambda _, fn=fn: fn()), torch.zeros(1))
        assert (c.macs, c.elementwise_ops, c.unsupported) == (expected, 0, {}), c.by_operator


def test_linear_on_a_non_contiguous_input_keeps_its_bias_free() -> None:
    """Decomposed, this linear is matmul + an ``add`` of the bias; under inference mode it is one op."""
    lin = nn.Linear(5, 3)
    x = torch.randn(2, 4, 6, 5).transpose(1, 2)
    c = count_ops(_Lambda(lin), x)
    assert (c.macs, c.elementwise_ops, c.by_operator) == (x.numel() * 3, 0, {"linear": x.numel() * 3})


def test_one_by_one_conv_and_batched_matmul_cost_the_same() -> None:
    """A 1×1 conv written as baddbmm on its weights (as attention code often does) and the conv: the same MACs."""
    conv = nn.Conv2d(16, 8, 1)
    x = torch.randn(2, 16, 7)
    weight = conv.weight.view(1, 8, 16).expand(2, -1, -1)
    as_bmm = count_ops(_Lambda(lambda t: torch.baddbmm(conv.bias.view(1, -1, 1), weight, t)), x)
    as_conv = count_ops(_Lambda(lambda t: conv(t.unsqueeze(-1))), x)
    assert as_bmm.macs == as_conv.macs == 2 * 8 * 16 * 7
    assert as_bmm.elementwise_ops == as_conv.elementwise_ops == 0
    assert set(as_bmm.by_operator) == {"baddbmm"} and set(as_conv.by_operator) == {"conv2d"}


def test_every_table_name_is_an_op_of_this_torch() -> None:
    """A misspelt name would silently never match; only in-place forms torch lacks (rsub_) or newer ops may miss."""
    names = [n for _, _, group in opcount._RULE_SPEC for n in group] + list(opcount._FREE_NAMES)
    missing = [n for n in names if getattr(torch.ops.aten, n, None) is None]
    newer = set(opcount._BATCH_NORM_NAMES)
    assert all(n in newer or (n.endswith("_") and hasattr(torch.ops.aten, n[:-1])) for n in missing), missing


# --- unsupported ops and data movement ---------------------------------------------------------------------------


def test_unknown_element_touching_op_is_reported_not_dropped() -> None:
    c = count_ops(_Lambda(lambda t: torch.erf(t).sigmoid()), torch.randn(3, 3))
    assert c.unsupported == {"aten::erf": 1}
    assert c.elementwise_ops == 9  # the sigmoid; erf has no rule and adds nothing


def test_composite_without_rule_is_decomposed_as_eager_runs_it() -> None:
    """A composite op without a rule runs its C++ kernel with the mode on, as eager runs it.

    logsigmoid's kernel calls log_sigmoid_forward (no rule: reported). torch's Python decomposition for tracing would
    show the exp, log1p and min arithmetic instead, which must not be counted.
    """
    c = count_ops(_Lambda(F.logsigmoid), torch.randn(1, 2, 3, 3))
    assert (c.elementwise_ops, c.unsupported) == (0, {"aten::log_sigmoid_forward": 1})
    c = count_ops(_Lambda(lambda t: F.adaptive_avg_pool1d(t, 1)), torch.randn(2, 3, 5))  # via adaptive_avg_pool2d
    assert (c.elementwise_ops, c.unsupported) == (30, {})


def test_data_movement_is_free_and_not_unsupported() -> None:
    def move(t: torch.Tensor) -> torch.Tensor:
        u = torch.cat((t, t.flip(1)), 1).permute(0, 2, 3, 1).contiguous().clone()
        u = torch.stack(u.split(2, dim=-1), 0)[..., :1].flatten(1)
        u = F.pad(F.dropout(u, 0.5, training=False), (1, 1)).reshape(-1)
        return u[torch.arange(3)].expand(4, 3).contiguous().to(torch.float64)

    c = count_ops(_Lambda(move), torch.randn(2, 2, 3, 3).contiguous(memory_format=torch.channels_last))
    assert (c.macs, c.elementwise_ops, c.by_operator, c.unsupported) == (0, 0, {}, {})


def test_interpolation_by_hand() -> None:
    """2k − 1 per output element for k weighted inputs; nearest-neighbour upsampling is a copy (free)."""
    x = torch.randn(2, 3, 4, 5)  # output 8 x 10: 2 * 3 * 80 = 480 elements
    for mode, per_output in (("bilinear", 7), ("bicubic", 31)):
        for align in (False, True):
            fn = functools.partial(F.interpolate, size=(8, 10), mode=mode, align_corners=align)
            c = count_ops(_Lambda(fn), x)
            assert (c.elementwise_ops, c.unsupported) == (480 * per_output, {}), (mode, align)
    c = count_ops(nn.Upsample(scale_factor=2, mode="bilinear"), x)  # the module and scale_factor form
    assert c.elementwise_ops == 480 * 7
    c = count_ops(_Lambda(lambda t: F.interpolate(t, scale_factor=3, mode="linear")), torch.randn(1, 2, 5))
    assert c.elementwise_ops == 2 * 15 * 3
    c = count_ops(_Lambda(lambda t: F.interpolate(t, scale_factor=2, mode="trilinear")), torch.randn(1, 1, 2, 2, 2))
    assert c.elementwise_ops == 64 * 15
    for mode in ("nearest", "nearest-exact"):
        c = count_ops(_Lambda(functools.partial(F.interpolate, scale_factor=2, mode=mode)), x)
        assert (c.macs, c.elementwise_ops, c.unsupported) == (0, 0, {}), mode


# --- attribution to attention modules ------------------------------------------------------------------------------


def test_attention_share_is_what_runs_inside_the_named_modules() -> None:
    model = M.create_model("mbv2", "ca", width=0.5, num_classes=10).eval()
    attn = [n for n, _ in M.find_attention(model)]
    x = torch.randn(1, 3, 64, 64)
    total = count_ops(model, x, attn)
    assert 0 < total.attn_macs < total.macs and 0 < total.attn_elementwise_ops < total.elementwise_ops
    shares = [count_ops(model, x, [n]) for n in attn]  # single modules add up; nested names count once
    assert sum(s.attn_macs for s in shares) == total.attn_macs
    assert sum(s.attn_elementwise_ops for s in shares) == total.attn_elementwise_ops
    assert _counts(count_ops(model, x, [*attn, f"{attn[0]}.conv1"])) == _counts(total)
    with pytest.raises(ValueError, match="no submodule named 'nope'"):
        count_ops(model, x, ["nope"])


def test_inplace_op_inside_attention_is_attributed() -> None:
    class Attn(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = x * x.sigmoid()
            return out.mul_(x)

    model = nn.Sequential(nn.ReLU(), Attn(), nn.ReLU())
    c = count_ops(model, torch.randn(2, 3, 4), ["1"])
    assert (c.elementwise_ops, c.attn_elementwise_ops) == (5 * 24, 3 * 24)


# --- exact agreement with fvcore and the separate memory pass over the registry ---------------------------------------

BACKBONES = M.BACKBONES.names()
_ALL = [(bb, name, None) for bb in BACKBONES for name in M.ATTENTION.names()] + [
    ("mbv2", "ca", "after_expand"),
    ("mnext", "cbam", "block_end"),
]
# A bare pytest checks every module in mbv2; the test command adds one module of each family in every backbone
# (slow); the variants in the other backbones repeat the same ops (long, on demand).
SLOW = pytest.mark.slow
FAMILIES = {"none", "se", "cbam", "bam", "ca", "eca", "simam", "gc", "triplet"}
CONFIGS = [
    c if c[0] == "mbv2" or c[2] else pytest.param(*c, marks=SLOW if c[1] in FAMILIES else pytest.mark.long)
    for c in _ALL
]
LAYOUTS = ("contiguous", "channels_last")
CHANNELS_LAST_PEAK = [("mbv2", "cbam", None), ("mnext", "ca", None), ("r18", "bam", None), ("r50", "se", None)]


@functools.cache
def _small(backbone: str, name: str, position: str | None) -> tuple[nn.Module, torch.Tensor, tuple[str, ...]]:
    """Built as the runner builds it, small enough that fvcore's trace takes well under a second.

    ResNets keep their stem (7x7 conv, max pool) at 32 px; the mobile nets take the small-input variant at 16 px, at
    width 0.35 (EfficientNet: its narrowest, 0.5).
    """
    resnet = backbone.startswith("r")
    width = 0.5 if resnet else max(0.35, M.BACKBONES.get(backbone).meta["width_range"][0])
    spec = ProfileSpec(
        modules=(name,),
        backbone=backbone,
        width=width,
        input_size=32 if resnet else 16,
        small_input=not resnet,
        num_classes=10,
        position=position,
    )
    model = build_model(spec, name)
    return model, make_input(spec), tuple(n for n, _ in M.find_attention(model))


@functools.cache
def _inputs(backbone: str, name: str, position: str | None, layout: str) -> tuple[nn.Module, torch.Tensor]:
    model, x, _ = _small(backbone, name, position)
    if layout == "contiguous":
        return model, x
    fmt = torch.channels_last
    return copy.deepcopy(model).to(memory_format=fmt), x.contiguous(memory_format=fmt)


@functools.cache
def _ours(backbone: str, name: str, position: str | None, layout: str) -> OpCount:
    """One pass per configuration and layout, shared by the count and the memory test."""
    model, x = _inputs(backbone, name, position, layout)
    return count_ops(model, x, _small(backbone, name, position)[2])


@pytest.mark.parametrize("backbone, name, position", CONFIGS)
def test_counts_equal_fvcore(backbone: str, name: str, position: str | None) -> None:
    """Both layouts are held to one fvcore trace of the contiguous model: the convention counts elements."""
    model, x, attn = _small(backbone, name, position)
    ref = count_flops(model, x, attn)
    assert ref.unsupported == {}
    for layout in LAYOUTS:
        got = _ours(backbone, name, position, layout)
        assert _counts(got) == _counts(ref), layout
        assert got.unsupported == {}, layout


# A covering set, not the product: every head on both backbones that take heads (SSDLite once in its COCO and once in
# its VOC form), each model with one of SE, CBAM, BAM and CA (each at least once). Each module family's own ops are
# held to fvcore in every backbone by test_counts_equal_fvcore.
DENSE = [
    ("mbv2", "ca", "ssdlite"),
    ("mnext", "se", "ssdlite_voc"),
    ("mbv2", "cbam", "deeplabv3"),
    ("mnext", "ca", "deeplabv3"),
    ("mbv2", "bam", "lraspp"),
    ("mnext", "cbam", "lraspp"),
]


@pytest.mark.slow
@pytest.mark.parametrize("backbone, name, head", DENSE)
def test_dense_models_equal_fvcore(backbone: str, name: str, head: str) -> None:
    """Every op the heads use has a rule: no unsupported op, and the same counts as fvcore's trace."""
    model = M.create_model(backbone, name, head=head, width=0.35).eval()
    x = torch.randn(1, 3, 64, 96)
    attn = [n for n, _ in M.find_attention(model)]
    ref, got = count_flops(model, x, attn), count_ops(model, x, attn)
    assert ref.unsupported == got.unsupported == {}
    assert _counts(got) == _counts(ref)
    assert got.peak_mem_bytes == peak_memory(model, x)


@pytest.mark.parametrize(
    "backbone, name, position, layout",
    [
        (*c, "contiguous") if c[0] == "mbv2" or c[1] == "ca" or c[2] else pytest.param(*c, "contiguous", marks=SLOW)
        for c in _ALL
        if c[0] == "mbv2" or c[1] in FAMILIES or c[2]
    ]
    + [(*c, "channels_last") for c in CHANNELS_LAST_PEAK],
)
def test_peak_memory_equals_measure(backbone: str, name: str, position: str | None, layout: str) -> None:
    model, x = _inputs(backbone, name, position, layout)
    assert _ours(backbone, name, position, layout).peak_mem_bytes == peak_memory(model, x)


def test_peak_memory_of_a_toy_by_hand() -> None:
    x = torch.randn(4, 8)  # 128 bytes
    net = nn.Sequential(nn.Linear(8, 8, bias=False), nn.ReLU())  # weight 256 bytes
    # resident (weight + input) + linear's output (128) + relu's output (128), all alive at the end of the forward
    assert count_ops(net, x).peak_mem_bytes == 256 + 128 + 128 + 128 == peak_memory(net, x)


def test_decomposed_level_gives_the_same_counts() -> None:
    """With autograd on, the mode sees convolution, addmm, native_batch_norm, mean, ...: the table covers them too."""
    pairs = (("mbv2", "ca"), ("mnext", "cbam"), ("r18", "bam"), ("r50", "se"))
    pairs += (("mbv2", "gc"), ("mnext", "triplet"), ("r18", "eca"), ("r50", "simam"))
    for backbone, name in pairs:
        model, x, _ = _small(backbone, name, None)
        counter = _Pass(track_memory=False)  # the pass without inference mode, so CompositeImplicit ops decompose
        with torch.no_grad(), counter:
            model(x)
        whole = count_ops(model, x)
        assert (counter.totals[MAC], counter.totals[ELEMENTWISE]) == (whole.macs, whole.elementwise_ops)
        assert counter.unsupported == {}
        assert "convolution" in counter.by_operator and "conv2d" in whole.by_operator


# --- the committed baselines at full size ----------------------------------------------------------------------------


@pytest.mark.long
def test_cost_csv_rows_equal_fvcore_and_measure() -> None:
    """Every row of results/baselines/cost.csv, built as the runner builds it: counts, attention shares, peak."""
    rows = read_baseline(COST_CSV)
    by_key = {(r.config["backbone"], r.config["module"]): r for r in rows}  # unique in the file
    checked, wrong = set(), []
    for spec in specs_for(rows, latency=False, repeats=5, warmup=0):
        x = make_input(spec)
        for name in spec.names:
            key = (spec.backbone, name)  # the baseline recurs in every configuration group
            if key in checked:
                continue
            checked.add(key)
            model = build_model(spec, name)
            attn = [n for n, _ in M.find_attention(model)]
            got, ref = count_ops(model, x, attn), count_flops(model, x, attn)
            row = by_key[key]
            if (
                (got.macs, got.elementwise_ops) != (row.macs, row.elementwise_ops)
                or _counts(got) != _counts(ref)
                or got.unsupported != ref.unsupported
                or got.peak_mem_bytes != peak_memory(model, x)
            ):
                wrong.append(key)
    assert len(checked) == len(rows) == 62
    assert wrong == []


@pytest.mark.long
def test_one_pass_is_faster_than_fvcore_plus_peak_memory(capsys: pytest.CaptureFixture[str]) -> None:
    """mbv2 + CA at 224: one dispatch pass against fvcore's count plus the separate peak-memory forward.

    Interleaved runs and the median of per-run ratios, so drift on a shared machine hits both alike.
    """
    spec = ProfileSpec(modules=("ca",), backbone="mbv2")
    model, x = build_model(spec, "ca"), make_input(spec)
    attn = [n for n, _ in M.find_attention(model)]
    ratios, t_old, t_new = [], [], []
    for _ in range(5):
        t0 = time.perf_counter()
        count_flops(model, x, attn)
        peak_memory(model, x)
        t1 = time.perf_counter()
        count_ops(model, x, attn)
        t2 = time.perf_counter()
        t_old.append(t1 - t0)
        t_new.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    with capsys.disabled():
        print(
            f"\nmbv2+ca@224: fvcore+peak_memory {statistics.median(t_old):.3f} s, one pass "
            f"{statistics.median(t_new):.3f} s, median ratio {statistics.median(ratios):.3f}"
        )
    assert statistics.median(ratios) < 1
