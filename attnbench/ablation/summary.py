"""Per-module summary of an ablation: cost, top-1 mean ± std over seeds, Δ and Welch p against the baseline."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from ..stats import welch_ttest
from .records import AblationRecord
from .spec import BASELINE


@dataclass(frozen=True)
class ModuleSummary:
    """One module of a sweep, over its successful seeds. Accuracies are fractions, Δ in the same unit."""

    module: str
    params: int | None
    macs: int | None
    runs: int
    ok: int
    top1: tuple[float, ...]
    """Top-1 of each successful run, in seed order."""
    seeds: tuple[int, ...]
    top1_mean: float | None
    top1_std: float | None
    """Sample standard deviation over seeds (``None`` for one run)."""
    top5_mean: float | None
    d_top1: float | None
    """Mean top-1 minus the baseline's."""
    p_value: float | None
    """Welch's two-sided t-test against the baseline; ``None`` with fewer than 2 runs on either side."""


def summarize_ablation(records: Iterable[AblationRecord], baseline: str = BASELINE) -> list[ModuleSummary]:
    """Per module, in first-seen order: cost, top-1 mean ± std over seeds, Δ and p-value against ``baseline``."""
    by_module: dict[str, list[AblationRecord]] = {}
    for r in records:
        by_module.setdefault(r.module, []).append(r)

    def oks(rs: list[AblationRecord]) -> list[AblationRecord]:
        return sorted((r for r in rs if r.status == "ok" and r.top1 is not None), key=lambda r: r.seed)

    base = [r.top1 for r in oks(by_module.get(baseline, [])) if r.top1 is not None]
    out = []
    for name, rs in by_module.items():
        good = oks(rs)
        top1 = tuple(float(r.top1) for r in good if r.top1 is not None)
        top5 = [r.top5 for r in good if r.top5 is not None]
        mean = statistics.fmean(top1) if top1 else None
        test = welch_ttest(top1, base) if name != baseline else None
        out.append(ModuleSummary(
            module=name, params=rs[0].params, macs=rs[0].macs, runs=len(rs), ok=len(good), top1=top1,
            seeds=tuple(r.seed for r in good), top1_mean=mean,
            top1_std=statistics.stdev(top1) if len(top1) > 1 else None,
            top5_mean=statistics.fmean(top5) if top5 else None,
            d_top1=mean - statistics.fmean(base) if mean is not None and base and name != baseline else None,
            p_value=test[2] if test else None,
        ))  # fmt: skip
    return out
