"""BatchNorm folded into the convolution before an export: same outputs, the measured model untouched, and only
the pairs whose order is certain."""

from __future__ import annotations

import torch
from torch import nn

from attnbench import modules
from attnbench.runtimes.fold import fold_batchnorm


def _with_stats(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with BatchNorm statistics and affine weights away from their defaults."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return model.eval()


def _batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_a_folded_network_gives_the_same_output_and_the_original_keeps_its_batchnorms() -> None:
    model = _with_stats(modules.create_model("mbv2", "ca", width=0.35))
    before = _batchnorms(model)
    folded = fold_batchnorm(model)
    assert folded is not model and _batchnorms(model) == before
    assert 0 < _batchnorms(folded) < before  # CA's own BatchNorm is an attribute, not in a Sequential: it stays
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref, got = model(x), folded(x)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_a_resnet_block_keeps_the_batchnorms_it_calls_by_name() -> None:
    model = _with_stats(modules.create_model("r18", width=0.35))
    folded = fold_batchnorm(model)
    assert _batchnorms(folded) == _batchnorms(model) - 3  # only the three downsampling shortcuts' (Sequentials)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), rtol=1e-4, atol=1e-5)


class _Standardized(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # a convolution whose weight is not used as it is
        w = self.weight
        return self._conv_forward(x, (w - w.mean()) / (w.std() + 1e-5), self.bias)


class _Reordered(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # the BatchNorm first: its order is not the listed one
        return self[0](self[1](x))


def test_only_certain_conv_batchnorm_pairs_in_eval_mode_are_folded() -> None:
    def pair() -> list[nn.Module]:
        return [nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)]

    hooked = nn.Sequential(*pair())
    hooked[1].register_forward_hook(lambda *_: None)
    for model in (
        _Reordered(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)),  # a forward of its own
        nn.Sequential(_Standardized(4, 4, 1), nn.BatchNorm2d(4)),  # a convolution with a forward of its own
        nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4)),  # no convolution before it
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4, track_running_stats=False)),  # batch statistics
        hooked,  # a hook would no longer see its module
    ):
        assert fold_batchnorm(model.eval()) is model
    training = nn.Sequential(*pair()).train()
    assert fold_batchnorm(training) is training
    plain = _with_stats(nn.Sequential(*pair(), nn.ReLU()))
    folded = fold_batchnorm(plain)
    assert isinstance(folded[1], nn.Identity) and folded[0].bias is not None
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.allclose(folded(x), plain(x), rtol=1e-5, atol=1e-6)
