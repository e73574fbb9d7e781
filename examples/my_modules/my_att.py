"""An example plugin: a minimal channel gate registered exactly as the built-in modules are.

Paper: none (an illustration for ``attnbench profile --plugins examples/my_modules/``).
Reference implementation: this file.
"""

from torch import nn

from attnbench.modules import ATTENTION


@ATTENTION.register("my_att", paper="Example channel gate (attnbench README)", arxiv="", hook="block")
class MyAtt(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * self.fc(x.mean((2, 3), keepdim=True)).sigmoid()
