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
    ref = ss.bootstrap(
        (a, b),
        lambda x, y: np.mean(x) - np.mean(y),
        method="percentile",
        n_resamples=10_000,
        random_state=0,
        vectorized=False,
    )
    assert lo == pytest.approx(ref.confidence_interval.low, abs=2e-3)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=2e-3)


# --- the analysis on fixed records -----------------------------------------------------------------------------------

TASK = "synthetic:labels=shape-row-col,grid=4,size=48"
CONTROL = "synthetic:labels=shape,grid=4,size=48"


def _record(task: str, module: str, seed: int, top1: float, **kw: Any) -> AblationRecord:
    blank: dict[str, Any] = {c: None for c in COLUMNS}
    blank.update(
        data=task,
        module=module,
        seed=seed,
        top1=top1,
        status="ok",
        num_classes=64,
        curve_top1="",
        predictions="",
        init="global",
        converged=True,
    )
    blank.update(kw)
    return AblationRecord(**blank)


def test_control_task_is_the_same_generator_labelled_by_shape() -> None:
    assert control_of(TASK) == CONTROL and control_of(CONTROL) is None
    assert control_of("synthetic") == "synthetic-shape" and control_of("cifar10:/x") is None


def test_analysis_contrasts_did_holm_and_warnings() -> None:
    """Rows drawn before common random numbers (``init`` global): Welch is the analysis used."""
    values = {
        (TASK, "ca"): [0.60, 0.63, 0.61],
        (TASK, "se"): [0.55, 0.54, 0.57],
        (TASK, "none"): [0.50, 0.52, 0.51],
        (CONTROL, "ca"): [0.90, 0.91, 0.905],
        (CONTROL, "se"): [0.895, 0.90, 0.91],
        (CONTROL, "none"): [0.9, 0.9, 0.91],
    }
    recs = [_record(t, m, s, v) for (t, m), vs in values.items() for s, v in enumerate(vs)]
    recs.append(_record(TASK, "ca_x", 0, 0.02))  # near chance (1/64 = 1.6 %)
    an = analyse(recs, [("ca", "se"), ("ca", "none"), ("se", "none")])
    by = {(c.task, c.a, c.b): c for c in an.contrasts}
    c = by[(TASK, "ca", "se")]
    ref = ss.ttest_ind(values[(TASK, "ca")], values[(TASK, "se")], equal_var=False)
    assert c.analysis == "welch" and not c.primary
    assert c.delta_pp == pytest.approx(100 * (np.mean([0.60, 0.63, 0.61]) - np.mean([0.55, 0.54, 0.57])))
    assert c.p == c.welch_p == pytest.approx(ref.pvalue, rel=1e-9) and (c.n_a, c.n_b) == (3, 3)
    assert c.ci_low_pp == c.welch_ci_low_pp == pytest.approx(100 * ref.confidence_interval().low, rel=1e-9)
    ps = [x.p for x in an.contrasts]
    assert [x.p_holm for x in an.contrasts] == pytest.approx(holm(ps))  # one (exploratory) family
    assert len(an.contrasts) == 6 and all(x.examples is None for x in an.contrasts)  # no predictions given
    did = {(d.a, d.b): d for d in an.did}
    ref_did = difference_in_differences(
        values[(TASK, "ca")], values[(TASK, "se")], values[(CONTROL, "ca")], values[(CONTROL, "se")]
    )
    assert did[("ca", "se")].did_pp == pytest.approx(100 * ref_did.delta)
    assert did[("ca", "se")].p == pytest.approx(ref_did.p) and did[("ca", "se")].task == TASK
    assert did[("ca", "se")].kind == "control" and did[("ca", "se")].analysis == "welch"
    text = "\n".join(an.warnings)
    assert "ca_x on " + TASK + ": 1 of 1 runs near chance" in text
    small = by[(CONTROL, "ca", "se")]
    assert small.mde_pp is not None and small.mde_pp > abs(small.delta_pp)
    assert f"ca − se on {CONTROL}: |Δ| {abs(small.delta_pp):.2f} pp is below the MDE {small.mde_pp:.2f} pp" in text
    assert all("\n" not in w for w in an.warnings)


PAIRED = {
    "ca": [0.912, 0.934, 0.921, 0.905, 0.941, 0.917, 0.928, 0.931],
    "se": [0.901, 0.925, 0.917, 0.893, 0.930, 0.915, 0.911, 0.926],
    "ca_x": [0.905, 0.929, 0.910, 0.899, 0.938, 0.903, 0.925, 0.921],
}


def test_paired_analysis_matches_scipy_and_primary_contrasts_form_their_own_family() -> None:
    recs = [_record(TASK, m, s, v, init="shared") for m, vs in PAIRED.items() for s, v in enumerate(vs)]
    an = analyse(recs, [("ca", "se"), ("ca", "ca_x"), ("se", "ca_x")], primary=[("ca", "se"), ("ca", "ca_x")])
    assert [(c.a, c.b, c.primary) for c in an.contrasts] == [
        ("ca", "se", True),
        ("ca", "ca_x", True),
        ("se", "ca_x", False),
    ]
    c = an.contrasts[0]
    a, b = np.array(PAIRED["ca"]), np.array(PAIRED["se"])
    ref = ss.ttest_rel(a, b)
    assert c.analysis == "paired" and c.n_pairs == 8
    assert c.paired_p == c.p == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval()
    assert (c.paired_ci_low_pp, c.paired_ci_high_pp) == (pytest.approx(100 * ci.low), pytest.approx(100 * ci.high))
    assert (c.ci_low_pp, c.ci_high_pp) == (c.paired_ci_low_pp, c.paired_ci_high_pp)
    assert c.welch_p == pytest.approx(ss.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert c.rho == pytest.approx(np.corrcoef(a, b)[0, 1])
    # The MDE of the paired test: the effect a two-sided t test (df n − 1) at 5 % finds with 80 % power.
    sd = np.std(a - b, ddof=1)
    assert (
        c.mde_pp == c.paired_mde_pp == pytest.approx(100 * (ss.t.ppf(0.975, 7) + ss.t.ppf(0.8, 7)) * sd / math.sqrt(8))
    )
    prim = [x.p for x in an.contrasts if x.primary]
    assert [x.p_holm for x in an.contrasts if x.primary] == pytest.approx(holm(prim))
    assert an.contrasts[2].p_holm == pytest.approx(an.contrasts[2].p)  # alone in its family
    # One run drawn the old way makes the design unpaired: Welch is used, both kept.
    mixed = [dataclasses.replace(r, init="global") if (r.module, r.seed) == ("se", 0) else r for r in recs]
    m = analyse(mixed, [("ca", "se")]).contrasts[0]
    assert m.analysis == "welch" and m.p == m.welch_p and m.paired_p == c.paired_p


ROW = "synthetic:labels=shape-row,grid=4,size=48"
COL = "synthetic:labels=shape-col,grid=4,size=48"


def test_crossover_is_the_per_seed_difference_of_the_row_and_column_contrasts() -> None:
    x_row, y_row = [0.93, 0.95, 0.94, 0.96], [0.90, 0.93, 0.90, 0.94]
    x_col, y_col = [0.91, 0.92, 0.90, 0.93], [0.92, 0.94, 0.93, 0.95]
    data = {(ROW, "ca_x"): x_row, (ROW, "ca_y"): y_row, (COL, "ca_x"): x_col, (COL, "ca_y"): y_col}
    recs = [_record(t, m, s, v, init="shared") for (t, m), vs in data.items() for s, v in enumerate(vs)]
    (d,) = analyse(recs, [("ca_x", "ca_y")]).did
    per_seed = (np.array(x_row) - y_row) - (np.array(x_col) - y_col)
    ref = ss.ttest_1samp(per_seed, 0.0)
    assert (d.kind, d.task, d.control, d.analysis, d.n) == ("crossover", ROW, COL, "paired", 4)
    assert d.did_pp == pytest.approx(100 * per_seed.mean())
    assert d.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert d.ci_low_pp == pytest.approx(100 * ref.confidence_interval().low)


def test_no_control_difference_when_the_control_did_not_converge_and_runs_are_named() -> None:
    recs = [_record(TASK, m, s, 0.9 + 0.01 * s, init="shared", converged=True) for m in ("ca", "se") for s in range(3)]
    recs += [_record(CONTROL, m, s, 0.5, init="shared", converged=m == "se") for m in ("ca", "se") for s in range(3)]
    recs.append(
        _record(TASK, "ca", 3, 0.7, init="shared", converged=False, final_loss_ratio=0.2, curve_slope_pp_per_epoch=2.5)
    )
    an = analyse(recs, [("ca", "se")])
    assert not [d for d in an.did if d.kind == "control"]
    text = "\n".join(an.warnings)
    assert (
        f"ca − se: no difference in differences against {CONTROL}: 3 of 6 of its control runs did not converge" in text
    )
    assert f"ca on {TASK}: 1 of 4 runs did not converge (seeds 3; worst final loss 0.200 × chance loss" in text
    assert "included in every mean and contrast" in text
    c = next(x for x in an.contrasts if x.task == TASK)
    assert (c.n_a, c.not_converged_a) == (4, 1)  # kept, not dropped


def test_per_example_tests_read_the_saved_predictions(tmp_path: Path) -> None:
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
    assert (c.examples, c.example_seeds, c.mcnemar_b, c.mcnemar_c) == (400, 2, b, cc)
    assert c.p_mcnemar == pytest.approx(ss.binomtest(min(b, cc), b + cc, 0.5).pvalue, rel=1e-9)
    d = (ca.astype(float) - se.astype(float)).mean(0)
    assert c.p_examples == pytest.approx(ss.ttest_1samp(d, 0.0).pvalue, rel=1e-9)
    assert np.load(tmp_path / "p/ca-0.npz")["pred"].dtype == np.int16
    # Without saved predictions (an empty cell) the per-example tests are left out, not the contrast.
    bare = [dataclasses.replace(r, predictions="") if r.module == "se" else r for r in recs]
    (c2,) = analyse(bare, [("ca", "se")], tmp_path).contrasts
    assert c2.examples is None and c2.p == c.p


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "mismatched"])
def test_a_named_predictions_file_that_cannot_be_read_is_an_error(tmp_path: Path, damage: str) -> None:
    import torch

    from attnbench.errors import ResultsFileError

    target = torch.arange(20) % 4
    recs = []
    for module in ("ca", "se"):
        save_predictions(tmp_path / f"{module}.npz", target, target)
        recs.append(_record(TASK, module, 0, 1.0, predictions=f"{module}.npz"))
    bad = tmp_path / "se.npz"
    if damage == "missing":
        bad.unlink()
    elif damage == "garbage":
        bad.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:40])
    else:
        np.savez(bad, pred=np.zeros(3, np.int16), target=np.zeros(4, np.int16))
    with pytest.raises(ResultsFileError, match=r"predictions file '.*se.npz' \(module se, seed 0\) cannot be read"):
        analyse(recs, [("ca", "se")], tmp_path)
