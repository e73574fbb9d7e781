"""Whether a training run converged: the rule every ablation row is judged by, and the numbers it uses.

A run that stopped short of fitting its training set says little about the module it trained: on the synthetic
family, final training loss and test top-1 correlate at r ≈ −0.97 across runs, and a gated network that learned
more slowly loses a contrast it would have won or tied with a longer or gentler recipe. So every run is checked, not
only the baseline, on two numbers recorded in its row:

- ``final_loss_ratio``: the mean training loss of the last epoch divided by the chance loss ``ln(classes)`` (the
  loss of a uniform guess; for the dense task, whose pixels are mostly background, the entropy of its labels: the
  loss of the best constant guess). A run that fits its task ends far below it; a run stuck at chance ends near 1. The
  limit, ``MAX_LOSS_RATIO``, was read off the committed runs: every baseline run on the positional tasks ended at
  0.011–0.039, every run that looked under-trained (top-1 5–25 pp below its baseline) at 0.065 or more.
- ``curve_slope_pp_per_epoch``: the least-squares slope of the test top-1 curve over its last ``SLOPE_EPOCHS``
  epochs, in percentage points per epoch. A run still gaining more than ``MAX_SLOPE_PP`` per epoch when the
  schedule ended was stopped while learning.

``converged`` is true when both hold; unknown (``None``) when the loss is missing or not finite (a failed run). The
rule is per run and uses nothing from other runs, so a run's verdict does not change when more seeds are added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_LOSS_RATIO = 0.05
"""A converged run's final training loss is at most this fraction of the chance loss ``ln(classes)``."""

MAX_SLOPE_PP = 1.0
"""A converged run's test top-1 gained at most this many percentage points per epoch over its last epochs."""

SLOPE_EPOCHS = 3
"""The test curve's last this many epochs give its final slope."""

RULE = (
    f"converged: final training loss ≤ {MAX_LOSS_RATIO:g} × the chance loss (ln(classes); for a dense task the "
    f"entropy of its pixel labels) and test top-1 (mIoU) rising ≤ {MAX_SLOPE_PP:g} "
    f"pp/epoch over the last {SLOPE_EPOCHS} epochs"
)
"""The rule in words, for the summary."""


@dataclass(frozen=True)
class Convergence:
    converged: bool | None
    final_loss_ratio: float | None
    curve_slope_pp_per_epoch: float | None
    """``None`` when the curve has fewer than 2 points (then only the loss decides)."""


def curve_slope_pp(curve: Sequence[float], epochs: int = SLOPE_EPOCHS) -> float | None:
    """Least-squares slope of the last ``epochs`` points of a top-1 curve (fractions), in pp per epoch."""
    tail = list(curve[-epochs:])
    n = len(tail)
    if n < 2:
        return None
    xm = (n - 1) / 2
    ym = sum(tail) / n
    num = sum((i - xm) * (y - ym) for i, y in enumerate(tail))
    den = sum((i - xm) ** 2 for i in range(n))
    return 100.0 * num / den


def judge(
    final_loss: float | None, curve: Sequence[float], num_classes: int, chance_loss: float | None = None
) -> Convergence:
    """The verdict for one run from its last-epoch training loss, its test curve and its class count.

    ``chance_loss``: the loss of the best constant guess when the labels are far from balanced (the dense task's
    label entropy, ``dense.label_entropy``); ``None``: ``ln(num_classes)``.
    """
    slope = curve_slope_pp(curve)
    if final_loss is None or not math.isfinite(final_loss) or num_classes < 2:
        return Convergence(None, None, slope)
    ratio = final_loss / (chance_loss if chance_loss else math.log(num_classes))
    # The curve's points are fractions of a finite image count, so a slope can sit exactly on the limit; compare at
    # 1e-9 pp so that float rounding (1.0 read as 1.0000000000000009) does not decide the verdict.
    ok = ratio <= MAX_LOSS_RATIO and (slope is None or slope <= MAX_SLOPE_PP + 1e-9)
    return Convergence(ok, ratio, slope)
