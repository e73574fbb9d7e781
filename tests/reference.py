"""Plain reference formulations of the attention modules: the correctness oracle of ``test_equivalence.py``.

These references are written from the papers' equations (and, where the paper leaves a detail open, from the
authors' official code: houqb/CoordAttention ``coordatt.py`` and ``mbv2_ca.py``, Jongchan/attention-module
``MODELS/cbam.py`` and ``MODELS/bam.py``, hujie-frank/SENet, BangguWu/ECANet, ZjjConan/SimAM, xvjiarui/GCNet,
landskape-ai/triplet-attention), NOT from the library's ``modules/*.py``. They are
deliberately slow and literal: adaptive pooling, ``torch.cat``, ``permute``, one MLP pass per pooled vector, batch
normalisation spelled out as its formula, activations spelled out as theirs, and no in-place arithmetic on anything
autograd records. Only the *weights* come from the library module (by state-dict key); every hyper-parameter
(reduction ratio, minimum width, kernel size, dilation, activation, BN momentum and eps, combination rule) is fixed
here from the papers, and the weight shapes are checked against it, so a library that silently changes a default
fails the oracle too.

Every reference takes ``(params, x)``:

- ``params``: the library module (its ``state_dict(keep_vars=True)`` is used, so gradients reach the module's own
  parameters and train-mode BN updates its own running buffers, exactly as the module itself would), or a plain
  state dict, in which case ``training=`` must be given;
- ``x``: the N×C×H×W input (any memory format).

Batch normalisation (Ioffe & Szegedy; used inside CBAM's spatial gate, BAM's two branches, CA's shared
transform and triplet attention's three gates) normalises each channel over the batch and every spatial position of
that channel. In training mode it uses the biased batch variance and updates ``running_mean``/``running_var`` (the
latter with the unbiased variance) with the layer's momentum, and counts ``num_batches_tracked``; in eval mode it
uses the running statistics.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = Mapping[str, Tensor]
Act = Callable[[Tensor], Tensor]

# PyTorch's (and every reference repository's) nn.BatchNorm defaults.
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


# ----------------------------------------------------------------------------------------------- activations
def relu(x: Tensor) -> Tensor:
    return torch.clamp(x, min=0.0)


def relu6(x: Tensor) -> Tensor:
    return torch.clamp(x, min=0.0, max=6.0)


def h_swish(x: Tensor) -> Tensor:
    """h_swish of coordatt.py: ``x * ReLU6(x + 3) / 6``."""
    return x * relu6(x + 3.0) / 6.0


def silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


# ----------------------------------------------------------------------------------------------- plumbing
def _state(params: nn.Module | State, training: bool | None) -> tuple[State, bool]:
    if isinstance(params, nn.Module):
        return params.state_dict(keep_vars=True), params.training if training is None else training
    if training is None:
        raise TypeError("a reference called with a state dict needs training=True/False")
    return params, training


def _expect(state: State, key: str, shape: tuple[int, ...], what: str) -> Tensor:
    """The weight ``key``; its shape must be the one the paper's hyper-parameters imply."""
    if key not in state:
        raise KeyError(f"reference needs weight '{key}' ({what}); the module's keys are {sorted(state)}")
    t = state[key]
    if t.numel() != math.prod(shape) or (t.dim() > 0 and t.shape[0] != shape[0]):
        raise AssertionError(f"'{key}' ({what}) has shape {tuple(t.shape)}; the paper's configuration implies {shape}")
    return t


def _fc(state: State, prefix: str, v: Tensor, cin: int, cout: int) -> Tensor:
    """A fully connected layer (or 1×1 conv, the same thing) with bias applied at every position of ``v``."""
    w = _expect(state, prefix + ".weight", (cout, cin), "fully connected / 1x1 conv weight")
    b = _expect(state, prefix + ".bias", (cout,), "fully connected / 1x1 conv bias")
    return F.conv2d(v, w.reshape(cout, cin, 1, 1), b)


def batch_norm(
    state: State, prefix: str, v: Tensor, training: bool, *, eps: float = BN_EPS, momentum: float = BN_MOMENTUM
) -> Tensor:
    """Batch normalisation of ``v`` (N×C×...) per channel, written out (see the module docstring).

    Library rule mirrored on purpose: in training mode, when a channel holds a single value in the batch
    (N × spatial positions == 1, e.g. a pooled vector at batch 1) batch statistics are undefined (PyTorch raises);
    the library then normalises with the running statistics and leaves them (and num_batches_tracked) unchanged,
    as in eval mode (modules/_helpers.py ``batch_norm``). This reference does the same, explicitly.
    """
    c = v.shape[1]
    w = _expect(state, prefix + ".weight", (c,), "BN affine weight")
    b = _expect(state, prefix + ".bias", (c,), "BN affine bias")
    rm = _expect(state, prefix + ".running_mean", (c,), "BN running mean")
    rv = _expect(state, prefix + ".running_var", (c,), "BN running var")
    dims = [0, *range(2, v.dim())]
    count = v.numel() // c
    if training and count > 1:
        mean = v.mean(dim=dims)
        var = ((v - mean.reshape(1, c, *[1] * (v.dim() - 2))) ** 2).mean(dim=dims)  # biased, as in the BN paper
        with torch.no_grad():
            rm.mul_(1.0 - momentum).add_(momentum * mean.detach())
            rv.mul_(1.0 - momentum).add_(momentum * var.detach() * count / (count - 1))  # unbiased for inference
            nbt = state.get(prefix + ".num_batches_tracked")
            if nbt is not None:
                nbt.add_(1)
    else:
        # eval mode, or the single-value-per-channel training case described above
        mean, var = rm, rv
    shape = (1, c, *[1] * (v.dim() - 2))
    return (v - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


# ----------------------------------------------------------------------------------------------- SE
def ref_se(
    params: nn.Module | State,
    x: Tensor,
    *,
    training: bool | None = None,
    reduction: int = 16,
    min_channels: int = 1,
    act: Act = relu,
) -> Tensor:
    """Squeeze-and-Excitation (Hu et al., arXiv 1709.01507, Eq. 2-4; CA paper Fig. 2a).

    z_c = 1/(H·W) Σ_ij x_c(i, j)                    squeeze: global average pooling
    s   = σ(W2 δ(W1 z + b1) + b2)                    excitation: FC C→C/r, δ = ReLU, FC C/r→C, sigmoid
    y_c = s_c · x_c                                  scale
    r = 16 (every model of the paper); hidden width max(min_channels, C // r). Weights: fc1, fc2 (with bias).
    """
    s, _ = _state(params, training)
    c = x.shape[1]
    hidden = max(min_channels, c // reduction)
    z = nn.AdaptiveAvgPool2d(1)(x)  # N,C,1,1
    e = torch.sigmoid(_fc(s, "fc2", act(_fc(s, "fc1", z, c, hidden)), hidden, c))
    return x * e


# ----------------------------------------------------------------------------------------------- CBAM
def _cbam_channel(s: State, x: Tensor, reduction: int, min_channels: int) -> Tensor:
    c = x.shape[1]
    hidden = max(min_channels, c // reduction)

    def mlp(v: Tensor) -> Tensor:  # the shared MLP: W1(ReLU(W0 v + b0)) + b1
        return _fc(s, "fc2", relu(_fc(s, "fc1", v, c, hidden)), hidden, c)

    avg = nn.AdaptiveAvgPool2d(1)(x)
    mx = nn.AdaptiveMaxPool2d(1)(x)
    mc = torch.sigmoid(mlp(avg) + mlp(mx))  # Mc(F) = σ(MLP(AvgPool(F)) + MLP(MaxPool(F)))
    return x * mc  # F' = Mc(F) ⊗ F


def _cbam_spatial(s: State, x: Tensor, training: bool, kernel_size: int) -> Tensor:
    # Channel pooling in the official code's order [max over C, mean over C] (the paper's Eq. 3 writes
    # [AvgPool; MaxPool]; the order only relabels the two input channels of the 7×7 conv, but it decides how
    # official checkpoints load, so the code's order is the reference).
    mx = torch.max(x, dim=1, keepdim=True)[0]
    avg = torch.mean(x, dim=1, keepdim=True)
    pooled = torch.cat([mx, avg], dim=1)  # N,2,H,W
    w = _expect(s, "conv.weight", (1, 2, kernel_size, kernel_size), "spatial gate 7x7 conv (no bias)")
    if "conv.bias" in s:
        raise AssertionError("CBAM's spatial-gate conv has no bias (official code: bias=False)")
    logits = F.conv2d(pooled, w, None, padding=kernel_size // 2)
    # BN after the 7×7 conv as in the official code and the CA paper's Fig. 2b; momentum 0.01 as the code.
    ms = torch.sigmoid(batch_norm(s, "bn", logits, training, eps=1e-5, momentum=0.01))
    return x * ms  # F'' = Ms(F') ⊗ F'


def ref_cbam(
    params: nn.Module | State,
    x: Tensor,
    *,
    training: bool | None = None,
    reduction: int = 16,
    min_channels: int = 1,
    kernel_size: int = 7,
    channel_gate: bool = True,
    spatial_gate: bool = True,
) -> Tensor:
    """CBAM (Woo et al., arXiv 1807.06521, Eq. 1-3; code: Jongchan/attention-module): channel gate, then spatial.

    Channel: Mc = σ(MLP(AvgPool(F)) + MLP(MaxPool(F))), shared MLP C→C/r (bias) → ReLU → C/r→C (bias), r = 16.
    Spatial: Ms = σ(BN(f7×7([max_c F'; mean_c F']))), conv 2→1 without bias, padding 3.
    ``channel_gate`` / ``spatial_gate`` select one half (the paper's ablation rows). Weights: fc1, fc2, conv, bn.
    """
    s, training = _state(params, training)
    if channel_gate:
        x = _cbam_channel(s, x, reduction, min_channels)
    if spatial_gate:
        x = _cbam_spatial(s, x, training, kernel_size)
    return x


# ----------------------------------------------------------------------------------------------- BAM
def ref_bam(
    params: nn.Module | State,
    x: Tensor,
    *,
    training: bool | None = None,
    combine: str = "sum",
    reduction: int = 16,
    min_channels: int = 1,
    dilation: int = 4,
) -> Tensor:
    """BAM (Park et al., arXiv 1807.06514; official code Jongchan/attention-module MODELS/bam.py).

    Channel branch  Mc(F) = fc2(ReLU(BN(fc1(AvgPool(F)))))                              N×C×1×1
    Spatial branch  Ms(F) = proj(ReLU(BN(dil2(ReLU(BN(dil1(ReLU(BN(reduce(F))))))))))    N×1×H×W
        reduce: 1×1 C→C/r; dil1, dil2: 3×3 C/r→C/r, dilation 4, padding 4 (size kept); proj: 1×1 C/r→1; all biased.
    combine="sum" (the paper):  F' = F + F ⊗ σ(Mc(F) + Ms(F))
    combine="mul" (the official code, its issues #1/#39/#52):  F' = F ⊗ (1 + σ(Mc(F) ⊗ Ms(F)))
    Both branches are broadcast (``expand``) to C×H×W before combining. r = 16, d = 4.

    BN placement is the official code's (inside each branch, after every hidden layer; no BN on the branch
    outputs). The paper's Eq. 2/3 write a BN around each branch's output instead (reference repo issue #49);
    the library's weights (fc_bn, reduce_bn, dil1_bn, dil2_bn) follow the code, so the code placement is the
    oracle here.
    """
    s, training = _state(params, training)
    n, c, h, w = x.shape
    hid = max(min_channels, c // reduction)

    # channel branch (BN over the batch of pooled vectors, like the code's BatchNorm1d)
    v = nn.AdaptiveAvgPool2d(1)(x)
    v = relu(batch_norm(s, "fc_bn", _fc(s, "fc1", v, c, hid), training))
    mc = _fc(s, "fc2", v, hid, c)  # N,C,1,1

    # spatial branch
    t = relu(batch_norm(s, "reduce_bn", _fc(s, "reduce", x, c, hid), training))
    for name in ("dil1", "dil2"):
        k = _expect(s, name + ".weight", (hid, hid, 3, 3), "3x3 dilated conv")
        b = _expect(s, name + ".bias", (hid,), "3x3 dilated conv bias")
        t = F.conv2d(t, k, b, padding=dilation, dilation=dilation)
        t = relu(batch_norm(s, name + "_bn", t, training))
    ms = _fc(s, "project", t, hid, 1)  # N,1,H,W

    mc_full = mc.expand(n, c, h, w)
    ms_full = ms.expand(n, c, h, w)
    if combine == "sum":
        m = torch.sigmoid(mc_full + ms_full)
        return x + x * m
    if combine == "mul":
        return x * (1.0 + torch.sigmoid(mc_full * ms_full))
    raise ValueError(f"unknown BAM combination '{combine}'")


# ----------------------------------------------------------------------------------------------- CA
def ref_ca(
    params: nn.Module | State,
    x: Tensor,
    *,
    training: bool | None = None,
    reduction: int = 32,
    min_channels: int = 8,
    act: Act = h_swish,
    directions: str = "hw",
) -> Tensor:
    """Coordinate Attention (Hou et al., arXiv 2103.02907, Eq. 4-9; houqb/CoordAttention coordatt.py).

    z^h_c(h) = 1/W Σ_i x_c(h, i)      ("X Avg Pool", C×H×1)        pool_h = AdaptiveAvgPool2d((None, 1))
    z^w_c(w) = 1/H Σ_j x_c(j, w)      ("Y Avg Pool", C×1×W)        pool_w = AdaptiveAvgPool2d((1, None))
    f   = δ(BN(F1([z^h, z^w])))       concat along the spatial axis (C×(H+W)×1), shared 1×1 conv C→mip (bias),
                                      BN over the H+W positions together, δ = h_swish; mip = max(8, C // 32)
    f^h, f^w = split(f)               (f^w permuted back to mip×1×W)
    g^h = σ(F_h(f^h)),  g^w = σ(F_w(f^w))     1×1 convs mip→C (bias)
    y_c(i, j) = x_c(i, j) · g^h_c(i) · g^w_c(j)     (coordatt.py: ``out = identity * a_w * a_h``)

    ``directions="h"`` is the paper's Table 1 "X attention" (only the C×H×1 strip and its gate g^h),
    ``directions="w"`` its "Y attention" (only the C×1×W strip and g^w); ``act`` swaps the non-linearity
    (README tip: ReLU6 / SiLU variants). Weights: conv1, bn1, conv_h, conv_w.
    """
    s, training = _state(params, training)
    _, c, h, w = x.shape
    mip = max(min_channels, c // reduction)
    identity = x

    def embed(y: Tensor) -> Tensor:
        return act(batch_norm(s, "bn1", _fc(s, "conv1", y, c, mip), training))

    if directions == "h":
        x_h = nn.AdaptiveAvgPool2d((None, 1))(x)  # N,C,H,1
        a_h = torch.sigmoid(_fc(s, "conv_h", embed(x_h), mip, c))
        return identity * a_h
    if directions == "w":
        x_w = nn.AdaptiveAvgPool2d((1, None))(x)  # N,C,1,W
        a_w = torch.sigmoid(_fc(s, "conv_w", embed(x_w), mip, c))
        return identity * a_w
    if directions != "hw":
        raise ValueError(f"unknown CA directions '{directions}'")

    x_h = nn.AdaptiveAvgPool2d((None, 1))(x)  # N,C,H,1
    x_w = nn.AdaptiveAvgPool2d((1, None))(x).permute(0, 1, 3, 2)  # N,C,W,1
    y = torch.cat([x_h, x_w], dim=2)  # N,C,H+W,1
    y = embed(y)  # N,mip,H+W,1
    y_h, y_w = torch.split(y, [h, w], dim=2)
    y_w = y_w.permute(0, 1, 3, 2)  # N,mip,1,W
    a_h = torch.sigmoid(_fc(s, "conv_h", y_h, mip, c))  # N,C,H,1
    a_w = torch.sigmoid(_fc(s, "conv_w", y_w, mip, c))  # N,C,1,W
    return identity * a_w * a_h


# ----------------------------------------------------------------------------------------------- ECA
def ref_eca(
    params: nn.Module | State, x: Tensor, *, training: bool | None = None, gamma: float = 2, b: float = 1
) -> Tensor:
    """ECA (Wang et al., arXiv 1910.03151, Eq. 12 and Fig. 3; code: BangguWu/ECANet eca_module.py).

    y_c  = 1/(H·W) Σ_ij x_c(i, j)                         global average pooling
    ω_c  = σ(Σ_{j=1..k} w_j · y_{c + j - (k+1)/2})        1-D conv across channels, shared weights, no bias,
                                                         zeros beyond both ends (padding (k - 1)/2)
    out_c = ω_c · x_c
    k = ψ(C) = |log2(C)/γ + b/γ|_odd, γ = 2, b = 1, as the paper's Fig. 3 computes it: t = int(|(log2 C + b)/γ|),
    k = t if t is odd else t + 1. Weights: conv (1×1×k).
    """
    s, _ = _state(params, training)
    n, c = x.shape[:2]
    t = int(abs((math.log(c, 2) + b) / gamma))
    k = t if t % 2 else t + 1
    w = _expect(s, "conv.weight", (1, 1, k), "ECA's 1-D conv over channels (k from the adaptive rule)").flatten()
    if "conv.bias" in s:
        raise AssertionError("ECA's 1-D conv has no bias (official code: bias=False)")
    y = nn.AdaptiveAvgPool2d(1)(x).reshape(n, c)
    pad = torch.zeros(n, (k - 1) // 2, dtype=x.dtype)
    yp = torch.cat([pad, y, pad], dim=1)  # N, C + k - 1
    logits = sum(w[j] * yp[:, j : j + c] for j in range(k))
    return x * torch.sigmoid(logits).reshape(n, c, 1, 1)


# ----------------------------------------------------------------------------------------------- SimAM
def ref_simam(params: nn.Module | State, x: Tensor, *, training: bool | None = None, e_lambda: float = 1e-4) -> Tensor:
    """SimAM (Yang et al., ICML 2021, Eq. 5 and the refinement after it; code: ZjjConan/SimAM simam_module.py).

    per channel, over its M = H·W neurons:
    μ   = 1/M Σ x_i
    σ²  = 1/(M - 1) Σ (x_i - μ)²                             (the official code's divisor, ``n = w·h - 1``)
    e*_t = 4(σ² + λ) / ((t - μ)² + 2σ² + 2λ)                  minimal energy of neuron t, λ = 1e-4
    out = x ⊙ sigmoid(1 / E)                                  E groups every e*_t; no parameters

    Library rule mirrored on purpose: a 1×1 map (M - 1 = 0, where the official code returns 0/0 = NaN) uses the
    divisor 1, so σ² = 0, t - μ = 0 and 1/e* = 1/2, as on any constant map (modules/simam.py).
    """
    s, _ = _state(params, training)
    if len(s):
        raise AssertionError(f"SimAM is parameter-free; the module has state {sorted(s)}")
    m = x.shape[2] * x.shape[3]
    mu = x.sum(dim=(2, 3), keepdim=True) / m
    var = ((x - mu) ** 2).sum(dim=(2, 3), keepdim=True) / max(m - 1, 1)
    energy = 4.0 * (var + e_lambda) / ((x - mu) ** 2 + 2.0 * var + 2.0 * e_lambda)
    return x * torch.sigmoid(1.0 / energy)


# ----------------------------------------------------------------------------------------------- GC
def layer_norm(state: State, prefix: str, v: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Layer normalisation (Ba et al.) of each sample of ``v`` (N×D×1×1) over its D values: biased variance, then
    the element-wise affine (``nn.LayerNorm([D, 1, 1])``, PyTorch's eps)."""
    d = v.shape[1]
    w = _expect(state, prefix + ".weight", (d, 1, 1), "LayerNorm affine weight")
    b = _expect(state, prefix + ".bias", (d, 1, 1), "LayerNorm affine bias")
    mean = v.mean(dim=(1, 2, 3), keepdim=True)
    var = ((v - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
    return (v - mean) / torch.sqrt(var + eps) * w.reshape(1, d, 1, 1) + b.reshape(1, d, 1, 1)


def ref_gc(
    params: nn.Module | State,
    x: Tensor,
    *,
    training: bool | None = None,
    reduction: int = 16,
    min_channels: int = 1,
    act: Act = relu,
) -> Tensor:
    """Global context block (Cao et al., arXiv 1904.11492, Eq. 3 and Fig. 4d; code: xvjiarui/GCNet context_block.py).

    α_j  = exp(W_k x_j) / Σ_m exp(W_k x_m)            context modelling: one logit per position j (1×1 conv C→1
                                                     with bias), softmax over all H·W positions
    c    = Σ_j α_j x_j                                attention pooling, N×C
    δ    = W_v2 ReLU(LN(W_v1 c))                      transform: 1×1 C→C/r (bias), LayerNorm over the C/r values of
                                                     each sample (affine), ReLU, 1×1 C/r→C (bias); r = 16
    z_i  = x_i + δ                                    fusion by broadcast addition, at every position i
    Weights: conv_mask, channel_add_conv.0 / .1 (LayerNorm) / .3.
    """
    s, _ = _state(params, training)
    n, c, h, w = x.shape
    planes = max(min_channels, c // reduction)
    wk = _expect(s, "conv_mask.weight", (1, c), "context logit 1x1 conv C->1")
    bk = _expect(s, "conv_mask.bias", (1,), "context logit bias")
    logits = (x * wk.reshape(1, c, 1, 1)).sum(dim=1) + bk  # N,H,W
    logits = logits - logits.amax(dim=(1, 2), keepdim=True)  # the same softmax, without overflow
    alpha = torch.exp(logits) / torch.exp(logits).sum(dim=(1, 2), keepdim=True)
    context = (x * alpha.unsqueeze(1)).sum(dim=(2, 3)).reshape(n, c, 1, 1)
    t = layer_norm(s, "channel_add_conv.1", _fc(s, "channel_add_conv.0", context, c, planes))
    delta = _fc(s, "channel_add_conv.3", act(t), planes, c)
    return x + delta


# ----------------------------------------------------------------------------------------------- Triplet
def ref_triplet(params: nn.Module | State, x: Tensor, *, training: bool | None = None, kernel_size: int = 7) -> Tensor:
    """Triplet attention (Misra et al., arXiv 2010.03045; code: landskape-ai/triplet-attention triplet_attention.py).

    Each branch rotates the input so that the axis it pools along comes first (after N), then
    Z-pool(χ) = [max_0 χ; mean_0 χ]                 (in that order, as the code), N×2×A×B
    g = σ(BN(f7×7(Z-pool(χ))))                       conv 2→1 without bias, padding 3; BN momentum 0.01 (the code)
    y = rotate_back(χ ⊙ g)
    branches: cw rotates (N, H, C, W) (pools along H), hc rotates (N, W, H, C) (pools along W), hw keeps (N, C, H, W)
    (pools along C).  out = 1/3 (y_hw + y_cw + y_hc).  Weights: {cw,hc,hw}.conv, {cw,hc,hw}.bn.
    """
    s, training = _state(params, training)
    k = kernel_size
    ys = []
    for branch, perm in (("cw", (0, 2, 1, 3)), ("hc", (0, 3, 2, 1)), ("hw", (0, 1, 2, 3))):
        chi = x.permute(*perm)  # each of these permutations is its own inverse
        z = torch.cat([torch.max(chi, dim=1, keepdim=True)[0], torch.mean(chi, dim=1, keepdim=True)], dim=1)
        wt = _expect(s, f"{branch}.conv.weight", (1, 2, k, k), "triplet branch 7x7 conv (no bias)")
        if f"{branch}.conv.bias" in s:
            raise AssertionError("triplet attention's convs have no bias (official code: bias=False)")
        logits = F.conv2d(z, wt, None, padding=k // 2)
        g = torch.sigmoid(batch_norm(s, f"{branch}.bn", logits, training, eps=1e-5, momentum=0.01))
        ys.append((chi * g).permute(*perm))
    return (ys[2] + ys[0] + ys[1]) / 3.0


# Registry key -> reference formulation with the paper's configuration for that key. The configuration lives HERE
# (not read from the library module) so a registration that silently changes a variant's meaning fails.
REFERENCES: dict[str, Callable[..., Tensor]] = {
    "se": ref_se,
    "cbam": ref_cbam,
    "cbam_c": functools.partial(ref_cbam, spatial_gate=False),
    "cbam_s": functools.partial(ref_cbam, channel_gate=False),
    "bam": functools.partial(ref_bam, combine="sum"),
    "bam_mul": functools.partial(ref_bam, combine="mul"),
    "ca": ref_ca,
    "ca_x": functools.partial(ref_ca, directions="h"),
    "ca_y": functools.partial(ref_ca, directions="w"),
    "ca_relu6": functools.partial(ref_ca, act=relu6),
    "ca_silu": functools.partial(ref_ca, act=silu),
    "eca": ref_eca,
    "simam": ref_simam,
    "gc": ref_gc,
    "triplet": ref_triplet,
}


def reference_forward(name: str, module: nn.Module, x: Tensor) -> Tensor:
    """The reference output for registry key ``name``, with ``module``'s weights."""
    return REFERENCES[name](module, x)


__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "REFERENCES",
    "batch_norm",
    "h_swish",
    "layer_norm",
    "ref_bam",
    "ref_ca",
    "ref_cbam",
    "ref_eca",
    "ref_gc",
    "ref_se",
    "ref_simam",
    "ref_triplet",
    "reference_forward",
    "relu",
    "relu6",
    "silu",
]
