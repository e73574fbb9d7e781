"""The ablation's statistics against scipy on fixed numbers: t quantiles, Welch intervals, MDE (by noncentral-t
power), difference in differences, Holm, McNemar, the paired t over examples and the bootstrap gate; then the
analysis (contrasts, Holm family, DiD, warnings, paired tests from saved predictions) on fixed records."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats as ss

from attnbench.ablation.records import COLUMNS, AblationRecord
from attnbench.ablation.run import save_predictions
from attnbench.ablation.summary import analyse, control_of
from attnbench.stats import (
    BOOTSTRAP_MIN_SEEDS,
    binomial_cdf_half,
    bootstrap_ci,
    difference_in_differences,
    holm,
    mcnemar_exact,
    mean_difference,
    paired_ttest,
    student_t_ppf,
)

A = [0.712, 0.741, 0.733, 0.725]
B = [0.701, 0.69, 0.715, 0.683, 0.707]


@pytest.mark.parametrize(("q", "df"), [(0.975, 3.3), (0.8, 2.0), (0.975, 100.0), (0.2, 5.0), (0.999, 1.0)])
def test_t_quantile_matches_scipy(q: float, df: float) -> None:
    assert student_t_ppf(q, df) == pytest.approx(ss.t.ppf(q, df), rel=1e-10)


def test_welch_interval_and_p_match_scipy() -> None:
    md = mean_difference(A, B)
    ref = ss.ttest_ind(A, B, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert md.delta == pytest.approx(np.mean(A) - np.mean(B), abs=1e-15)
    assert md.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert (md.low, md.high) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
    assert md.df == pytest.approx(ref.df, rel=1e-12)
    assert (md.n_a, md.n_b) == (4, 5)
    one = mean_difference([0.7], B)
    assert one.low is None and one.p is None and one.mde is None and one.delta == pytest.approx(0.7 - np.mean(B))


def test_mde_has_80_percent_power_by_the_noncentral_t() -> None:
    md = mean_difference(A, B)
    assert md.mde is not None and md.se is not None and md.df is not None
    crit = ss.t.ppf(0.975, md.df)
    nc = md.mde / md.se
    power = ss.nct.sf(crit, md.df, nc) + ss.nct.cdf(-crit, md.df, nc)
    # The normal-approximation form with t quantiles lands within 2 points of the exact noncentral-t power.
    assert 0.78 <= power <= 0.82
    assert md.mde == pytest.approx((ss.t.ppf(0.975, md.df) + ss.t.ppf(0.8, md.df)) * md.se, rel=1e-9)


def test_difference_in_differences_on_fixed_numbers() -> None:
    a1, b1, a0, b0 = [0.60, 0.63, 0.61], [0.55, 0.54, 0.57], [0.90, 0.91, 0.905], [0.895, 0.90, 0.91]
    d = difference_in_differences(a1, b1, a0, b0)
    v = [np.var(g, ddof=1) / len(g) for g in (a1, b1, a0, b0)]
    se = math.sqrt(sum(v))
    df = sum(v) ** 2 / sum(x * x / (len(g) - 1) for x, g in zip(v, (a1, b1, a0, b0)))
    delta = (np.mean(a1) - np.mean(b1)) - (np.mean(a0) - np.mean(b0))
    assert d.delta == pytest.approx(delta, abs=1e-15) and d.se == pytest.approx(se) and d.df == pytest.approx(df)
    assert d.p == pytest.approx(2 * ss.t.sf(abs(delta / se), df), rel=1e-9)
    assert d.low == pytest.approx(delta - ss.t.ppf(0.975, df) * se, rel=1e-9)
    # With two groups of zero spread removed the formula reduces to Welch's.
    w = difference_in_differences(A, B, [0.5, 0.5], [0.5, 0.5])
    assert w.p == pytest.approx(ss.ttest_ind(A, B, equal_var=False).pvalue, rel=1e-9)


def test_holm_on_fixed_numbers() -> None:
    # Holm (1979) step-down: sorted p (0.01, 0.02, 0.03, 0.04) x (4, 3, 2, 1), running max, capped at 1.
    assert holm([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, None, 0.001]) == [pytest.approx(0.5), None, pytest.approx(0.002)]
    assert holm([0.9, 0.8]) == [1.0, 1.0]
    assert holm([]) == []


@pytest.mark.parametrize(("b", "c"), [(30, 18), (0, 7), (5, 5), (120, 151), (1234, 1302)])
def test_mcnemar_exact_matches_the_binomial_test(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(ss.binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)
    assert binomial_cdf_half(min(b, c), b + c) == pytest.approx(ss.binom.cdf(min(b, c), b + c, 0.5), rel=1e-9)
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_t_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    d = (rng.integers(0, 2, 500) - rng.integers(0, 2, 500)).astype(float) * 0.5
    ref = ss.ttest_1samp(d, 0.0)
    t, df, p = paired_ttest(d.tolist()) or (0.0, 0.0, 0.0)
    assert (t, df, p) == (pytest.approx(ref.statistic), 499.0, pytest.approx(ref.pvalue, rel=1e-9))
    assert paired_ttest([0.0, 0.0, 0.0]) is None


def test_bootstrap_only_with_ten_seeds_and_it_is_seeded() -> None:
    assert bootstrap_ci(A, B) is None
    rng = np.random.default_rng(1)
    a, b = (rng.normal(0.7, 0.01, BOOTSTRAP_MIN_SEEDS).tolist(), rng.normal(0.69, 0.01, 12).tolist())
    lo, hi = bootstrap_ci(a, b) or (0.0, 0.0)
    assert lo < np.mean(a) - np.mean(b) < hi and bootstrap_ci(a, b) == (lo, hi)
    ref = ss.bootstrap((a, b), lambda x, y: np.mean(x) - np.mean(y), method="percentile", n_resamples=10_000,
                       random_state=0, vectorized=False)  # fmt: skip
    assert lo == pytest.approx(ref.confidence_interval.low, abs=2e-3)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=2e-3)


# --- the analysis on fixed records -----------------------------------------------------------------------------------

TASK = "synthetic:labels=shape-row-col,grid=4,size=48"
CONTROL = "synthetic:labels=shape,grid=4,size=48"


def _record(task: str, module: str, seed: int, top1: float, **kw: Any) -> AblationRecord:
    blank: dict[str, Any] = {c: None for c in COLUMNS}
    blank.update(data=task, module=module, seed=seed, top1=top1, status="ok", num_classes=64, curve_top1="",
                 predictions="")  # fmt: skip
    blank.update(kw)
    return AblationRecord(**blank)


def test_control_task_is_the_same_generator_labelled_by_shape() -> None:
    assert control_of(TASK) == CONTROL and control_of(CONTROL) is None
    assert control_of("synthetic") == "synthetic-shape" and control_of("cifar10:/x") is None


def test_analysis_contrasts_did_holm_and_warnings() -> None:
    values = {
        (TASK, "ca"): [0.60, 0.63, 0.61], (TASK, "se"): [0.55, 0.54, 0.57], (TASK, "none"): [0.50, 0.52, 0.51],
        (CONTROL, "ca"): [0.90, 0.91, 0.905], (CONTROL, "se"): [0.895, 0.90, 0.91], (CONTROL, "none"): [0.9, 0.9, 0.91],
    }  # fmt: skip
    curve = {0: "0.4 0.45 0.5", 1: "0.42 0.5 0.52", 2: "0.41 0.48 0.51"}  # +10 pp over the last 2 epochs
    recs = [_record(t, m, s, v, curve_top1=curve[s] if m == "none" and t == TASK else "")
            for (t, m), vs in values.items() for s, v in enumerate(vs)]  # fmt: skip
    recs.append(_record(TASK, "ca_x", 0, 0.02))  # near chance (1/64 = 1.6 %)
    an = analyse(recs, [("ca", "se"), ("ca", "none"), ("se", "none")])
    by = {(c.task, c.a, c.b): c for c in an.contrasts}
    c = by[(TASK, "ca", "se")]
    ref = ss.ttest_ind(values[(TASK, "ca")], values[(TASK, "se")], equal_var=False)
    assert c.delta_pp == pytest.approx(100 * (np.mean([0.60, 0.63, 0.61]) - np.mean([0.55, 0.54, 0.57])))
    assert c.p == pytest.approx(ref.pvalue, rel=1e-9) and (c.n_a, c.n_b) == (3, 3)
    assert c.ci_low_pp == pytest.approx(100 * ref.confidence_interval().low, rel=1e-9)
    ps = [x.p for x in an.contrasts]
    assert [x.p_holm for x in an.contrasts] == pytest.approx(holm(ps))
    assert len(an.contrasts) == 6 and all(x.examples is None for x in an.contrasts)  # no predictions given
    did = {(d.a, d.b): d for d in an.did}
    ref_did = difference_in_differences(values[(TASK, "ca")], values[(TASK, "se")], values[(CONTROL, "ca")],
                                        values[(CONTROL, "se")])  # fmt: skip
    assert did[("ca", "se")].did_pp == pytest.approx(100 * ref_did.delta)
    assert did[("ca", "se")].p == pytest.approx(ref_did.p) and did[("ca", "se")].task == TASK
    text = "\n".join(an.warnings)
    assert "ca_x on " + TASK + ": 1 of 1 runs near chance" in text
    assert "baseline none on " + TASK + " was still rising: +10.0 pp" in text
    small = by[(CONTROL, "ca", "se")]
    assert small.mde_pp is not None and small.mde_pp > abs(small.delta_pp)
    assert f"ca − se on {CONTROL}: |Δ| {abs(small.delta_pp):.2f} pp is below the MDE {small.mde_pp:.2f} pp" in text
    assert all("\n" not in w for w in an.warnings)


def test_paired_tests_read_the_saved_predictions(tmp_path: Path) -> None:
    import torch

    rng = np.random.default_rng(3)
    target = torch.as_tensor(rng.integers(0, 64, 400))
    recs = []
    right = {"ca": 0.7, "se": 0.6}
    for module, rate in right.items():
        for seed in range(2):
            hit = rng.random(400) < rate
            pred = torch.where(torch.as_tensor(hit), target, (target + 1) % 64)
            name = f"p/{module}-{seed}.npz"
            save_predictions(tmp_path / name, pred, target)
            recs.append(_record(TASK, module, seed, float(hit.mean()), predictions=name))
    an = analyse(recs, [("ca", "se")], tmp_path)
    (c,) = an.contrasts
    ca = np.stack([np.load(tmp_path / f"p/ca-{s}.npz")["pred"] == target.numpy() for s in range(2)])
    se = np.stack([np.load(tmp_path / f"p/se-{s}.npz")["pred"] == target.numpy() for s in range(2)])
    b, cc = int((ca & ~se).sum()), int((~ca & se).sum())
    assert (c.examples, c.paired_seeds, c.mcnemar_b, c.mcnemar_c) == (400, 2, b, cc)
    assert c.p_mcnemar == pytest.approx(ss.binomtest(min(b, cc), b + cc, 0.5).pvalue, rel=1e-9)
    d = (ca.astype(float) - se.astype(float)).mean(0)
    assert c.p_paired == pytest.approx(ss.ttest_1samp(d, 0.0).pvalue, rel=1e-9)
    assert np.load(tmp_path / "p/ca-0.npz")["pred"].dtype == np.int16
    # A missing file leaves the paired tests out, not the contrast.
    gone = [dataclasses.replace(r, predictions="p/missing.npz") if r.module == "se" else r for r in recs]
    (c2,) = analyse(gone, [("ca", "se")], tmp_path).contrasts
    assert c2.examples is None and c2.p == c.p
