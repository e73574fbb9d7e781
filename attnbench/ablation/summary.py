"""What an ablation shows: per-task, per-module summaries, contrasts between modules, their difference in
differences across tasks, and the warnings that say when a number cannot carry the claim.

Units: the summaries keep fractions (as the CSV); contrasts and differences in differences are in percentage points
(``*_pp``), ready for the table and for ``--format json``. Every formula is in ``attnbench.stats`` and tested there
against scipy on fixed numbers.

- A **contrast** ``a − b`` on a task: the difference of mean top-1 over seeds, Welch's 95 % interval and two-sided
  p, the Holm-adjusted p over every contrast of the analysis (one family), and the minimum detectable effect (MDE)
  at 80 % power implied by the observed seed spread and the seed counts. With ≥ 10 seeds a side, also a percentile
  bootstrap interval. When both sides saved per-example predictions, the paired test over test examples: the
  per-example correctness difference averaged over the seeds both ran, tested against 0 (a one-sample t over
  examples), and McNemar's exact test on the discordant counts pooled over those seeds. The paired tests measure
  test-set noise for these trained models, not the seed-to-seed variation the Welch interval covers.
- A **difference in differences** ``(a − b | task) − (a − b | control)``: for synthetic family tasks, the control is
  the same generator labelled by shape only; position-specific gains show up here, generic ones cancel.
- **Warnings**, one line each: a run near chance (top-1 under twice the chance rate), a baseline whose test top-1
  was still rising over its last two epochs (more than 1 pp, mean over seeds), a contrast whose MDE exceeds its
  observed |Δ|.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..stats import (
    bootstrap_ci,
    difference_in_differences,
    holm,
    mcnemar_exact,
    mean_difference,
    paired_ttest,
    welch_ttest,
)
from .data import DataRef, parse_data
from .records import AblationRecord, curve_of
from .spec import BASELINE

RISING_PP = 1.0
"""A baseline whose test top-1 gained more than this over its last two epochs (mean over seeds) was still rising."""

CHANCE_FACTOR = 2.0
"""A run whose top-1 is under this many times the chance rate (1 / classes) is near chance."""


@dataclass(frozen=True)
class ModuleSummary:
    """One module of a sweep on one task, over its successful seeds. Accuracies are fractions, Δ in the same unit."""

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
    task: str = ""
    """The ``data`` of the runs."""


def _oks(rs: Iterable[AblationRecord]) -> list[AblationRecord]:
    return sorted((r for r in rs if r.status == "ok" and r.top1 is not None), key=lambda r: r.seed)


def _by_task_module(records: Iterable[AblationRecord]) -> dict[tuple[str, str], list[AblationRecord]]:
    out: dict[tuple[str, str], list[AblationRecord]] = {}
    for r in records:
        out.setdefault((r.data, r.module), []).append(r)
    return out


def summarize_ablation(records: Iterable[AblationRecord], baseline: str = BASELINE) -> list[ModuleSummary]:
    """Per task and module, in first-seen order: cost, top-1 mean ± std over seeds, Δ and Welch p against
    ``baseline`` on the same task."""
    groups = _by_task_module(records)
    out = []
    for (task, name), rs in groups.items():
        base = [float(r.top1) for r in _oks(groups.get((task, baseline), [])) if r.top1 is not None]
        good = _oks(rs)
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
            p_value=test[2] if test else None, task=task,
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class Contrast:
    """``a − b`` on one task, in percentage points of top-1 (see the module docstring)."""

    task: str
    a: str
    b: str
    n_a: int
    n_b: int
    delta_pp: float
    ci_low_pp: float | None
    ci_high_pp: float | None
    p: float | None
    p_holm: float | None
    mde_pp: float | None
    df: float | None
    boot_low_pp: float | None = None
    boot_high_pp: float | None = None
    examples: int | None = None
    """Test examples of the paired per-example test (``None``: predictions missing)."""
    paired_seeds: int | None = None
    """Seeds both sides ran, pooled in the paired tests."""
    p_paired: float | None = None
    """One-sample t over examples of the seed-averaged per-example correctness difference."""
    mcnemar_b: int | None = None
    """Discordant (example, seed) pairs where only ``a`` is right."""
    mcnemar_c: int | None = None
    """... where only ``b`` is right."""
    p_mcnemar: float | None = None


@dataclass(frozen=True)
class DiffInDiff:
    """``(a − b | task) − (a − b | control)`` in percentage points."""

    task: str
    control: str
    a: str
    b: str
    did_pp: float
    ci_low_pp: float | None
    ci_high_pp: float | None
    p: float | None
    p_holm: float | None
    mde_pp: float | None
    df: float | None


@dataclass(frozen=True)
class Analysis:
    contrasts: tuple[Contrast, ...]
    did: tuple[DiffInDiff, ...]
    warnings: tuple[str, ...]


def control_of(task: str) -> str | None:
    """The control task of a synthetic family task (same generator, ``labels=shape``); ``None`` for others."""
    ref = parse_data(task)
    if not ref.synthetic or ref.labels == "shape":
        return None
    if not ref.options:
        return "synthetic-shape" if ref.kind == "synthetic" else None
    opts = tuple((k, "shape" if k == "labels" else v) for k, v in ref.options)
    return str(DataRef(ref.kind, options=opts))


def _pp(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def _load_correct(root: Path, record: AblationRecord, cache: dict[str, Any]) -> Any:
    """Per-example correctness (bool array) of a run from its predictions file, or ``None`` when absent."""
    import numpy as np

    if not record.predictions:
        return None
    if record.predictions not in cache:
        path = root / record.predictions
        try:
            with np.load(path) as z:
                cache[record.predictions] = (z["pred"] == z["target"], z["target"])
        except (OSError, KeyError, ValueError):
            cache[record.predictions] = None
    return cache[record.predictions]


def _paired(
    ra: Sequence[AblationRecord], rb: Sequence[AblationRecord], root: Path | None, cache: dict[str, Any]
) -> dict[str, Any]:
    import numpy as np

    if root is None:
        return {}
    by_seed_b = {r.seed: r for r in rb}
    pairs = []
    for r in ra:
        if r.seed in by_seed_b:
            ca, cb = _load_correct(root, r, cache), _load_correct(root, by_seed_b[r.seed], cache)
            if ca is None or cb is None or ca[0].shape != cb[0].shape or not np.array_equal(ca[1], cb[1]):
                return {}
            pairs.append((ca[0], cb[0]))
    if not pairs:
        return {}
    a = np.stack([p[0] for p in pairs]).astype(np.float64)
    b = np.stack([p[1] for p in pairs]).astype(np.float64)
    d = (a - b).mean(0)
    test = paired_ttest(d.tolist())
    only_a = int(((a == 1) & (b == 0)).sum())
    only_b = int(((a == 0) & (b == 1)).sum())
    return {
        "examples": int(d.shape[0]), "paired_seeds": len(pairs), "p_paired": test[2] if test else None,
        "mcnemar_b": only_a, "mcnemar_c": only_b, "p_mcnemar": mcnemar_exact(only_a, only_b),
    }  # fmt: skip


def analyse(
    records: Iterable[AblationRecord],
    contrasts: Sequence[tuple[str, str]],
    predictions_root: Path | None = None,
    predictions: dict[str, Any] | None = None,
) -> Analysis:
    """Contrasts on every task, differences in differences against each task's control, and the warnings.

    Args:
        records: the runs (any mix of tasks); only ``status=ok`` ones count.
        contrasts: ``(a, b)`` module pairs, each tested as ``a − b`` on every task that ran both.
        predictions_root: the folder the records' ``predictions`` paths are relative to (the CSV's); ``None``
            skips the paired per-example tests.
        predictions: a cache of loaded prediction files, shared between calls.
    """
    records = list(records)
    cache = predictions if predictions is not None else {}
    groups = _by_task_module(records)
    tasks = list(dict.fromkeys(r.data for r in records))
    top1 = {k: [float(r.top1) for r in _oks(v) if r.top1 is not None] for k, v in groups.items()}
    warnings: list[str] = []

    for (task, name), rs in groups.items():
        low = [r for r in _oks(rs) if r.num_classes and r.top1 is not None and r.top1 < CHANCE_FACTOR / r.num_classes]
        if low:
            seeds = ", ".join(str(r.seed) for r in low)
            worst = min(float(r.top1) for r in low if r.top1 is not None)
            warnings.append(f"{name} on {task}: {len(low)} of {len(_oks(rs))} runs near chance (seeds {seeds}; "
                            f"lowest top-1 {100 * worst:.1f} %, chance {100 / low[0].num_classes:.1f} %); train "
                            "longer or lower --lr.")  # fmt: skip
    for task in tasks:
        curves = [c for c in (curve_of(r) for r in _oks(groups.get((task, BASELINE), []))) if len(c) >= 3]
        if curves:
            gain = statistics.fmean(c[-1] - c[-3] for c in curves)
            if 100 * gain > RISING_PP:
                warnings.append(f"baseline none on {task} was still rising: +{100 * gain:.1f} pp test top-1 over its "
                                f"last 2 epochs (mean of {len(curves)} seeds); its gains may be unconverged, "
                                "train longer.")  # fmt: skip

    raw: list[tuple[str, str, str, Any, dict[str, Any]]] = []
    for task in tasks:
        for a, b in contrasts:
            va, vb = top1.get((task, a), []), top1.get((task, b), [])
            if not va or not vb:
                continue
            md = mean_difference(va, vb)
            extra = _paired(_oks(groups[(task, a)]), _oks(groups[(task, b)]), predictions_root, cache)
            boot = bootstrap_ci(va, vb)
            if boot:
                extra.update(boot_low_pp=100 * boot[0], boot_high_pp=100 * boot[1])
            raw.append((task, a, b, md, extra))
    adjusted = holm([md.p for *_, md, _ in raw])
    out = []
    for (task, a, b, md, extra), p_holm in zip(raw, adjusted):
        c = Contrast(task=task, a=a, b=b, n_a=md.n_a, n_b=md.n_b, delta_pp=100 * md.delta, ci_low_pp=_pp(md.low),
                     ci_high_pp=_pp(md.high), p=md.p, p_holm=p_holm, mde_pp=_pp(md.mde), df=md.df,
                     **extra)  # fmt: skip
        out.append(c)
        if c.mde_pp is not None and c.mde_pp > abs(c.delta_pp):
            warnings.append(f"{a} − {b} on {task}: |Δ| {abs(c.delta_pp):.2f} pp is below the MDE {c.mde_pp:.2f} pp "
                            f"(80 % power, {c.n_a} and {c.n_b} seeds): a difference this small cannot be told from "
                            "seed noise; add seeds.")  # fmt: skip
        elif c.mde_pp is None:
            warnings.append(f"{a} − {b} on {task}: fewer than 2 seeds on a side (or no spread), no interval; "
                            "run --seeds 3 or more.")  # fmt: skip

    did_raw = []
    for task in tasks:
        control = control_of(task)
        if control is None or control not in tasks:
            continue
        for a, b in contrasts:
            groups4 = [top1.get((t, m), []) for t, m in ((task, a), (task, b), (control, a), (control, b))]
            if all(groups4):
                did_raw.append((task, control, a, b, difference_in_differences(*groups4)))
    did_holm = holm([md.p for *_, md in did_raw])
    did = tuple(
        DiffInDiff(
            task=t,
            control=c,
            a=a,
            b=b,
            did_pp=100 * md.delta,
            ci_low_pp=_pp(md.low),
            ci_high_pp=_pp(md.high),
            p=md.p,
            p_holm=ph,
            mde_pp=_pp(md.mde),
            df=md.df,
        )  # fmt: skip
        for (t, c, a, b, md), ph in zip(did_raw, did_holm)
    )
    return Analysis(tuple(out), did, tuple(warnings))
