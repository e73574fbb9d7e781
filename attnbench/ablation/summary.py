"""What an ablation shows: per-task, per-module summaries, contrasts between modules, crossovers and differences in
differences across tasks, and the warnings that say when a number cannot carry the claim.

Units: the summaries keep fractions (as the CSV); contrasts and differences in differences are in percentage points
(``*_pp``), ready for the table and for ``--format json``. Every formula is in ``attnbench.stats`` and tested there
against scipy on fixed numbers.

- A **contrast** ``a − b`` on a task: the difference of mean top-1 over seeds with two analyses side by side.
  *Paired*: the within-seed differences ``a_s − b_s`` over the seeds both ran, with the paired t interval (df n − 1)
  and the observed correlation ``rho`` of the two modules across seeds. *Welch*: the two means as independent
  samples. The paired analysis is the one used (``analysis``) when the design pairs the runs: every run shares its
  seed's backbone initialisation and data order (``init`` ``shared``); older runs drew the whole model from one
  stream, so for them Welch is used. The MDE (minimum detectable effect at 80 % power) is given for both, and
  ``mde_pp`` is that of the analysis used. Contrasts given as **primary** (pre-registered, ``--primary``) are listed
  first and Holm-adjusted over themselves alone; the rest are **exploratory**, Holm-adjusted as a second family.
  With ≥ 10 seeds a side, also a percentile bootstrap interval. When both sides saved per-example predictions, the
  per-example tests: the per-example correctness difference averaged over the seeds both ran, tested against 0 (a
  one-sample t over examples), and McNemar's exact test on the discordant counts pooled over those seeds; they
  measure test-set noise for these trained models, not seed-to-seed variation.
- A **crossover** ``(a − b | shape-row) − (a − b | shape-col)`` for synthetic family tasks that ran both label maps:
  both tasks are positional and equally hard to optimise, so a module's generic speed or capacity cancels and what
  remains is the direction it pools along (the mechanism test for ``ca_x − ca_y``). Per seed (paired) when the runs
  share their initialisation, else over four independent groups (Welch).
- A **difference in differences** ``(a − b | task) − (a − b | control)`` against the same generator labelled by
  shape only; computed only when every control run of ``a`` and ``b`` converged, since a control that some modules
  fail to learn measures learning speed, not position.
- **Convergence**: every run carries its own verdict (``convergence.RULE``); runs that did not converge are kept in
  every mean, contrast and difference, and the warnings name them per module and seed.
- **Warnings**, one line each: a run near chance (top-1 under twice the chance rate), runs that did not converge,
  a contrast whose MDE exceeds its observed |Δ|, a difference in differences left out because its control did not
  converge.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError
from ..stats import (
    bootstrap_ci,
    difference_in_differences,
    holm,
    mcnemar_exact,
    mean_difference,
    paired_difference,
    paired_ttest,
    welch_ttest,
)
from .convergence import RULE as CONVERGENCE_RULE
from .data import DataRef, parse_data
from .records import AblationRecord, score_of
from .spec import BASELINE

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
    converged: int = 0
    """Successful runs whose convergence verdict is true."""


def _oks(rs: Iterable[AblationRecord]) -> list[AblationRecord]:
    return sorted((r for r in rs if r.status == "ok" and score_of(r) is not None), key=lambda r: r.seed)


def _score(r: AblationRecord) -> float:
    value = score_of(r)
    assert value is not None  # _oks keeps scored runs only
    return float(value)


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
        base = [_score(r) for r in _oks(groups.get((task, baseline), []))]
        good = _oks(rs)
        top1 = tuple(_score(r) for r in good)
        top5 = [r.top5 for r in good if r.top5 is not None]
        mean = statistics.fmean(top1) if top1 else None
        test = welch_ttest(top1, base) if name != baseline else None
        out.append(
            ModuleSummary(
                module=name,
                params=rs[0].params,
                macs=rs[0].macs,
                runs=len(rs),
                ok=len(good),
                top1=top1,
                seeds=tuple(r.seed for r in good),
                top1_mean=mean,
                top1_std=statistics.stdev(top1) if len(top1) > 1 else None,
                top5_mean=statistics.fmean(top5) if top5 else None,
                d_top1=mean - statistics.fmean(base) if mean is not None and base and name != baseline else None,
                p_value=test[2] if test else None,
                task=task,
                converged=sum(r.converged is True for r in good),
            )
        )
    return out


@dataclass(frozen=True)
class Contrast:
    """``a − b`` on one task, in percentage points of top-1 (see the module docstring).

    ``ci_low_pp``/``ci_high_pp``/``p``/``mde_pp`` are those of the analysis used (``analysis``); the Welch and the
    paired figures are both kept beside them. ``p_holm`` is adjusted within the contrast's family (``primary`` or
    exploratory).
    """

    task: str
    a: str
    b: str
    primary: bool
    analysis: str
    """``paired`` (within-seed differences; the runs share their initialisation and data order) or ``welch``."""
    n_a: int
    n_b: int
    delta_pp: float
    ci_low_pp: float | None
    ci_high_pp: float | None
    p: float | None
    p_holm: float | None
    mde_pp: float | None
    welch_ci_low_pp: float | None
    welch_ci_high_pp: float | None
    welch_p: float | None
    welch_df: float | None
    welch_mde_pp: float | None
    n_pairs: int
    """Seeds both sides ran (successfully)."""
    paired_delta_pp: float | None
    """Mean within-seed difference over those seeds."""
    paired_ci_low_pp: float | None
    paired_ci_high_pp: float | None
    paired_p: float | None
    paired_mde_pp: float | None
    rho: float | None
    """Pearson correlation of the two modules' top-1 over the paired seeds."""
    not_converged_a: int = 0
    not_converged_b: int = 0
    boot_low_pp: float | None = None
    boot_high_pp: float | None = None
    examples: int | None = None
    """Test examples of the per-example test (``None``: predictions missing)."""
    example_seeds: int | None = None
    """Seeds both sides ran, pooled in the per-example tests."""
    p_examples: float | None = None
    """One-sample t over examples of the seed-averaged per-example correctness difference."""
    mcnemar_b: int | None = None
    """Discordant (example, seed) pairs where only ``a`` is right."""
    mcnemar_c: int | None = None
    """... where only ``b`` is right."""
    p_mcnemar: float | None = None


@dataclass(frozen=True)
class DiffInDiff:
    """``(a − b | task) − (a − b | other)`` in percentage points: against the shape-only control (``kind``
    ``control``), or the crossover of the row and column tasks (``kind`` ``crossover``)."""

    kind: str
    task: str
    control: str
    a: str
    b: str
    analysis: str
    """``paired`` (per seed, the four runs of one seed) or ``welch`` (four independent groups)."""
    n: int
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
    convergence: str = CONVERGENCE_RULE


def control_of(task: str) -> str | None:
    """The control task of a synthetic family task (same generator, ``labels=shape``); ``None`` for others."""
    return _relabel(task, "shape", skip=("shape",))


def _relabel(task: str, labels: str, skip: tuple[str, ...] = ()) -> str | None:
    ref = parse_data(task)
    if not ref.synthetic or ref.labels in skip:
        return None
    if not ref.options:
        return "synthetic-shape" if ref.kind == "synthetic" and labels == "shape" else None
    opts = tuple((k, labels if k == "labels" else v) for k, v in ref.options)
    return str(DataRef(ref.kind, options=opts))


def crossover_of(task: str) -> str | None:
    """The column task of a synthetic ``shape-row`` task (same generator); ``None`` for every other task."""
    ref = parse_data(task)
    return _relabel(task, "shape-col") if ref.synthetic and ref.options and ref.labels == "shape-row" else None


def _pp(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def _load_correct(root: Path, record: AblationRecord, cache: dict[str, Any]) -> Any:
    """Per-example correctness (bool array) of a run from its predictions file, or ``None`` when absent.

    Raises:
        ResultsFileError: the row names a predictions file that cannot be read or is not a predictions file.
    """
    import zipfile

    import numpy as np

    if not record.predictions:
        return None
    if record.predictions not in cache:
        path = root / record.predictions
        try:
            with np.load(path, allow_pickle=False) as z:
                pred, target = z["pred"], z["target"]
                if pred.shape != target.shape or pred.ndim != 1:
                    raise ValueError("pred and target differ in shape")
                cache[record.predictions] = (pred == target, target)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ResultsFileError(
                f"predictions file '{path}' (module {record.module}, seed {record.seed}) cannot "
                f"be read ({type(exc).__name__}); restore it or clear that row's predictions "
                "cell."
            ) from None
    return cache[record.predictions]


def _per_example(
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
        "examples": int(d.shape[0]),
        "example_seeds": len(pairs),
        "p_examples": test[2] if test else None,
        "mcnemar_b": only_a,
        "mcnemar_c": only_b,
        "p_mcnemar": mcnemar_exact(only_a, only_b),
    }


def _top1_by_seed(rs: Iterable[AblationRecord]) -> dict[int, float]:
    return {r.seed: _score(r) for r in _oks(rs)}


def _is_paired_design(*groups: Sequence[AblationRecord]) -> bool:
    """Whether every run shares its seed's initialisation (common random numbers), so seeds pair the runs."""
    return all(r.init == "shared" for g in groups for r in g)


def _contrast(
    task: str, a: str, b: str, primary: bool, ga: list[AblationRecord], gb: list[AblationRecord], extra: dict[str, Any]
) -> Contrast:
    va, vb = _top1_by_seed(ga), _top1_by_seed(gb)
    welch = mean_difference(list(va.values()), list(vb.values()))
    seeds = sorted(set(va) & set(vb))
    paired = paired_difference([va[s] - vb[s] for s in seeds]) if seeds else None
    rho = None
    if len(seeds) >= 3:
        xs, ys = [va[s] for s in seeds], [vb[s] for s in seeds]
        if statistics.pstdev(xs) > 0 and statistics.pstdev(ys) > 0:
            rho = statistics.correlation(xs, ys)
    use_paired = paired is not None and paired.p is not None and _is_paired_design(ga, gb)
    used = paired if use_paired and paired is not None else welch
    return Contrast(
        task=task,
        a=a,
        b=b,
        primary=primary,
        analysis="paired" if use_paired else "welch",
        n_a=welch.n_a,
        n_b=welch.n_b,
        delta_pp=100 * welch.delta,
        ci_low_pp=_pp(used.low),
        ci_high_pp=_pp(used.high),
        p=used.p,
        p_holm=None,
        mde_pp=_pp(used.mde),
        welch_ci_low_pp=_pp(welch.low),
        welch_ci_high_pp=_pp(welch.high),
        welch_p=welch.p,
        welch_df=welch.df,
        welch_mde_pp=_pp(welch.mde),
        n_pairs=len(seeds),
        paired_delta_pp=_pp(paired.delta) if paired else None,
        paired_ci_low_pp=_pp(paired.low) if paired else None,
        paired_ci_high_pp=_pp(paired.high) if paired else None,
        paired_p=paired.p if paired else None,
        paired_mde_pp=_pp(paired.mde) if paired else None,
        rho=rho,
        not_converged_a=sum(r.converged is False for r in _oks(ga)),
        not_converged_b=sum(r.converged is False for r in _oks(gb)),
        **extra,
    )


def _did(
    kind: str, task: str, other: str, a: str, b: str, groups: dict[tuple[str, str], list[AblationRecord]]
) -> DiffInDiff | None:
    four = [groups.get(k, []) for k in ((task, a), (task, b), (other, a), (other, b))]
    by_seed = [_top1_by_seed(g) for g in four]
    if not all(by_seed):
        return None
    seeds = sorted(set.intersection(*(set(v) for v in by_seed)))
    per_seed = [(by_seed[0][s] - by_seed[1][s]) - (by_seed[2][s] - by_seed[3][s]) for s in seeds]
    if len(seeds) >= 2 and _is_paired_design(*four):
        md, analysis, n = paired_difference(per_seed), "paired", len(seeds)
    else:
        md = difference_in_differences(*(list(v.values()) for v in by_seed))
        analysis, n = "welch", min(len(v) for v in by_seed)
    return DiffInDiff(
        kind=kind,
        task=task,
        control=other,
        a=a,
        b=b,
        analysis=analysis,
        n=n,
        did_pp=100 * md.delta,
        ci_low_pp=_pp(md.low),
        ci_high_pp=_pp(md.high),
        p=md.p,
        p_holm=None,
        mde_pp=_pp(md.mde),
        df=md.df,
    )


def _convergence_warnings(groups: dict[tuple[str, str], list[AblationRecord]]) -> list[str]:
    out = []
    for (task, name), rs in groups.items():
        bad = [r for r in _oks(rs) if r.converged is False]
        if not bad:
            continue
        worst = max(bad, key=lambda r: r.final_loss_ratio or 0.0)
        slope = worst.curve_slope_pp_per_epoch
        out.append(
            f"{name} on {task}: {len(bad)} of {len(_oks(rs))} runs did not converge (seeds "
            f"{', '.join(str(r.seed) for r in bad)}; worst final loss {worst.final_loss_ratio or 0:.3f} × "
            f"chance loss, test curve {slope if slope is not None else 0:+.2f} pp/epoch at the end); they are "
            "included in every mean and contrast: train longer or lower the learning rate."
        )
    return out


def analyse(
    records: Iterable[AblationRecord],
    contrasts: Sequence[tuple[str, str]],
    predictions_root: Path | None = None,
    predictions: dict[str, Any] | None = None,
    primary: Sequence[tuple[str, str]] = (),
) -> Analysis:
    """Contrasts on every task, crossovers and differences in differences against each task's control, and the
    warnings.

    Args:
        records: the runs (any mix of tasks); only ``status=ok`` ones count, converged or not.
        contrasts: ``(a, b)`` module pairs, each tested as ``a − b`` on every task that ran both.
        predictions_root: the folder the records' ``predictions`` paths are relative to (the CSV's); ``None``
            skips the per-example tests.
        predictions: a cache of loaded prediction files, shared between calls.
        primary: the pre-registered contrasts among ``contrasts``: Holm's correction runs over them alone, and over
            the others (exploratory) separately.
    """
    records = list(records)
    cache = predictions if predictions is not None else {}
    groups = _by_task_module(records)
    tasks = list(dict.fromkeys(r.data for r in records))
    warnings: list[str] = []

    for (task, name), rs in groups.items():
        low = [r for r in _oks(rs) if r.num_classes and r.top1 is not None and r.top1 < CHANCE_FACTOR / r.num_classes]
        if low:
            seeds = ", ".join(str(r.seed) for r in low)
            worst = min(float(r.top1) for r in low if r.top1 is not None)
            warnings.append(
                f"{name} on {task}: {len(low)} of {len(_oks(rs))} runs near chance (seeds {seeds}; "
                f"lowest top-1 {100 * worst:.1f} %, chance {100 / low[0].num_classes:.1f} %); train "
                "longer or lower the learning rate."
            )
    warnings += _convergence_warnings(groups)

    out: list[Contrast] = []
    for task in tasks:
        for a, b in contrasts:
            ga, gb = _oks(groups.get((task, a), [])), _oks(groups.get((task, b), []))
            if not ga or not gb:
                continue
            extra = _per_example(ga, gb, predictions_root, cache)
            boot = bootstrap_ci(list(_top1_by_seed(ga).values()), list(_top1_by_seed(gb).values()))
            if boot:
                extra.update(boot_low_pp=100 * boot[0], boot_high_pp=100 * boot[1])
            out.append(_contrast(task, a, b, (a, b) in primary, ga, gb, extra))
    for family in (True, False):
        members = [i for i, c in enumerate(out) if c.primary is family]
        for i, p_holm in zip(members, holm([out[i].p for i in members])):
            out[i] = dataclasses.replace(out[i], p_holm=p_holm)
    out.sort(key=lambda c: not c.primary)
    for c in out:
        if c.mde_pp is not None and c.mde_pp > abs(c.delta_pp):
            warnings.append(
                f"{c.a} − {c.b} on {c.task}: |Δ| {abs(c.delta_pp):.2f} pp is below the MDE "
                f"{c.mde_pp:.2f} pp ({c.analysis}, 80 % power, {c.n_a} and {c.n_b} seeds): a difference "
                "this small cannot be told from seed noise; add seeds."
            )
        elif c.mde_pp is None:
            warnings.append(
                f"{c.a} − {c.b} on {c.task}: fewer than 2 seeds on a side (or no spread), no interval; "
                "run 3 or more seeds."
            )

    did: list[DiffInDiff] = []
    for task in tasks:
        col = crossover_of(task)
        if col is not None and col in tasks:
            did += [d for a, b in contrasts if (d := _did("crossover", task, col, a, b, groups)) is not None]
    for task in tasks:
        control = control_of(task)
        if control is None or control not in tasks:
            continue
        for a, b in contrasts:
            ctl = [r for m in (a, b) for r in _oks(groups.get((control, m), []))]
            stuck = [r for r in ctl if r.converged is not True]
            if stuck:
                warnings.append(
                    f"{a} − {b}: no difference in differences against {control}: {len(stuck)} of "
                    f"{len(ctl)} of its control runs did not converge, so the control measures how "
                    "fast a module learns, not what position adds."
                )
                continue
            if (d := _did("control", task, control, a, b, groups)) is not None:
                did.append(d)
    for kind in ("crossover", "control"):
        members = [i for i, d in enumerate(did) if d.kind == kind]
        for i, p_holm in zip(members, holm([did[i].p for i in members])):
            did[i] = dataclasses.replace(did[i], p_holm=p_holm)
    return Analysis(tuple(out), tuple(did), tuple(dict.fromkeys(warnings)))
