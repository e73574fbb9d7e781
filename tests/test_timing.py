"""Latency: the paired-ratio interval on fixed numbers (and against SciPy when it is installed), the sampling loop
driven by a fake clock and fake sample sources, the forwards a timer makes, and the rows and warnings a profile run
builds from it. No test asserts a timing; the one run on real models is marked slow."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable

import pytest
import torch

from attnbench.api import build_spec
from attnbench.cost import runner
from attnbench.cost.records import COLUMNS
from attnbench.cost.timing import CallTimer, sample_until_precise, time_latency
from attnbench.stats import RatioEstimate, median_ci, median_ci_ranks, min_pairs, paired_ratio

# ------------------------------------------------------------------------------------------ the interval, fixed


def test_median_ci_ranks_match_the_binomial_tables() -> None:
    # 95 %: [x_(k), x_(n-k+1)] with the largest k such that 2·P(Bin(n, 1/2) ≤ k-1) ≤ 0.05 (0-based ranks here)
    assert median_ci_ranks(5) is None  # 2 / 2^5 = 0.0625 > 0.05: no 95 % interval from 5 values
    assert median_ci_ranks(6) == (0, 5)  # min and max: coverage 1 - 2/64 = 96.9 %
    assert median_ci_ranks(10) == (1, 8)  # x_(2), x_(9): coverage 97.9 %
    assert median_ci_ranks(30) == (9, 20)  # x_(10), x_(21)
    assert median_ci_ranks(100) == (39, 60)  # x_(40), x_(61)
    assert median_ci_ranks(10, 0.99) == (0, 9)
    assert (min_pairs(0.95), min_pairs(0.99), min_pairs(0.9)) == (6, 8, 5)
    with pytest.raises(ValueError):
        median_ci_ranks(10, 1.0)


def test_median_ci_and_paired_ratio_on_fixed_numbers() -> None:
    assert median_ci([5.0, 1.0, 4.0, 2.0, 3.0]) is None
    assert median_ci([9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0, 10.0]) == (2.0, 9.0)
    base = [10.0, 20.0, 10.0, 40.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]  # drift in rounds 2 and 4 hits both
    own = [11.0, 22.0, 12.0, 44.0, 13.0, 11.5, 10.5, 12.5, 11.0, 11.0]
    est = paired_ratio(own, base)
    # ratios: 1.1 1.1 1.2 1.1 1.3 1.15 1.05 1.25 1.1 1.1 → sorted 1.05 1.1 1.1 1.1 1.1 1.1 1.15 1.2 1.25 1.3
    assert est.median == pytest.approx(1.1) and est.n == 10
    assert (est.low, est.high) == (pytest.approx(1.1), pytest.approx(1.25))
    assert est.half_width == pytest.approx(0.075)
    assert paired_ratio([2.0] * 5, [1.0] * 5).half_width == math.inf  # too few pairs: no interval
    assert paired_ratio([3.0] * 6, [3.0] * 6) == RatioEstimate(1.0, 1.0, 1.0, 6)
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])


def test_median_ci_matches_scipy() -> None:
    np = pytest.importorskip("numpy")
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for n in [*range(1, 80), 101, 250, 1001]:
        for confidence in (0.9, 0.95, 0.99):
            x = [rng.lognormvariate(0, 0.3) for _ in range(n)]
            ci = stats.quantile_test(np.array(x), q=1.0, p=0.5).confidence_interval(confidence)
            expected = None if math.isnan(ci.low) or math.isnan(ci.high) else (float(ci.low), float(ci.high))
            assert median_ci(x, confidence) == expected, (n, confidence)


# -------------------------------------------------------------------------------------- the loop, on fakes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeSource:
    """Models whose samples come from ``draw[key](round)`` and cost ``cost_s`` each on the fake clock.

    ``fail_at[key] = k`` raises on the model's k-th sample (0-based); ``-1`` raises in ``start``.
    """

    def __init__(
        self,
        clock: FakeClock,
        draw: dict[str, Callable[[int], float]],
        cost_s: float = 0.01,
        fail_at: dict[str, int] | None = None,
    ) -> None:
        self.clock, self.draw, self.cost_s, self.fail_at = clock, draw, cost_s, fail_at or {}
        self.taken: dict[str, int] = dict.fromkeys(draw, 0)
        self.order: list[str] = []
        self.events: list[tuple[str, str]] = []
        """Every call in order: ("warm", key) for an untimed call, ("time", key) for a timed sample."""

    def start(self, key: str) -> int:
        self.clock.now += 10 * self.cost_s
        if self.fail_at.get(key) == -1:
            raise RuntimeError(f"{_name(key)} cannot run")
        return 4

    def sample(self, key: str) -> float:
        if self.fail_at.get(key) == self.taken[key]:
            raise RuntimeError(f"{_name(key)} broke in round {self.taken[key]}")
        self.clock.now += self.cost_s
        value = self.draw[key](self.taken[key])
        self.taken[key] += 1
        self.order.append(key)
        self.events.append(("time", key))
        return value

    def warm(self, key: str, calls: int) -> None:
        for _ in range(calls):
            self.clock.now += self.cost_s
            self.events.append(("warm", key))


def _name(key: object) -> str:
    return key if isinstance(key, str) else str(key[0])  # type: ignore[index]


def noisy(mean: float, spread: float, seed: int) -> Callable[[int], float]:
    rng = random.Random(seed)
    return lambda k: mean * (1 + rng.uniform(-spread, spread))


PAIRS = {"none": "none", "ca": "none", "se": "none"}


def test_loop_stops_as_soon_as_every_interval_is_precise() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.01, 1), "ca": noisy(13, 0.01, 2), "se": noisy(11, 0.01, 3)})
    out = sample_until_precise(
        source, ["none", "ca", "se"], PAIRS, min_samples=10, precision=0.005, max_time=60, clock=clock
    )
    assert out.met and not out.failed
    assert out.estimates["ca"].median == pytest.approx(1.3, rel=0.02)
    assert out.estimates["ca"].half_width <= 0.005 and out.estimates["se"].half_width <= 0.005
    assert out.estimates["none"] == RatioEstimate(1.0, 1.0, 1.0, out.rounds)
    # it stopped at the first check that met the target: one fewer round would not have (or it was the minimum)
    fewer = {k: paired_ratio(out.samples_ms[k][:-1], out.samples_ms["none"][:-1]) for k in ("ca", "se")}
    assert out.rounds == 10 or max(e.half_width for e in fewer.values()) > 0.005
    assert out.elapsed_s < 60
    assert {len(s) for s in out.samples_ms.values()} == {out.rounds}
    assert out.calls_per_sample == {"none": 4, "ca": 4, "se": 4}


def test_paired_rounds_cancel_drift_that_hits_every_model() -> None:
    # a machine whose speed swings by 4x from round to round; every model of a round sees the same swing
    rng = random.Random(8)
    swing = [rng.uniform(0.5, 2.0) for _ in range(1000)]
    clock = FakeClock()
    source = FakeSource(clock, {"none": lambda k: 10 * swing[k], "ca": lambda k: 13 * swing[k]})
    out = sample_until_precise(source, ["none", "ca"], PAIRS, min_samples=8, precision=0.01, max_time=60, clock=clock)
    assert out.met and out.rounds == 8  # unpaired, the spread of each model alone is ±60 %
    assert out.estimates["ca"] == RatioEstimate(pytest.approx(1.3), pytest.approx(1.3), pytest.approx(1.3), 8)
    assert source.order[:4] == ["none", "ca", "ca", "none"]  # rounds alternate their order


def test_loop_gives_up_when_max_time_runs_out() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.3, 1), "ca": noisy(13, 0.3, 2)}, cost_s=0.1)
    out = sample_until_precise(source, ["none", "ca"], PAIRS, min_samples=5, precision=0.001, max_time=30, clock=clock)
    assert not out.met
    assert 30 <= out.elapsed_s <= 30 + 2 * 0.1  # the round under way when time ran out is finished
    assert out.rounds == len(out.samples_ms["ca"]) > 5
    assert out.estimates["ca"].half_width > 0.001


def test_minimum_rounds_are_always_taken() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.3, 1), "ca": noisy(13, 0.3, 2)}, cost_s=5)
    out = sample_until_precise(source, ["none", "ca"], PAIRS, min_samples=12, precision=0.02, max_time=0, clock=clock)
    assert out.rounds == 12 and not out.met and out.elapsed_s > 100


def test_a_time_budget_cuts_the_minimum_rounds_down_to_an_interval() -> None:
    # 10 s a round (batch-32 forwards): 60 s of budget ends 30 minimum rounds at the sixth, not the thirtieth
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.3, 1), "ca": noisy(13, 0.3, 2)}, cost_s=5)
    out = sample_until_precise(source, ["none", "ca"], PAIRS, min_samples=30, precision=0.001, max_time=60, clock=clock)
    assert out.rounds == 6 and not out.met and out.estimates["ca"].low is not None
    # and never below the rounds an interval needs, however short the budget
    out = sample_until_precise(source, ["none", "ca"], PAIRS, min_samples=30, precision=0.001, max_time=1, clock=clock)
    assert out.rounds == min_pairs() == 6


def test_warm_up_stops_after_its_time_once_two_calls_are_done() -> None:
    clock = FakeClock()
    calls = []

    def slow() -> None:
        calls.append(1)
        clock.now += 1.5

    timer = CallTimer(slow, clock)
    assert timer.warm_up(10) == 1 and len(calls) == 2  # 3 s > WARMUP_MAX_S after the second call
    calls.clear()
    assert CallTimer(slow, clock).warm_up(1) == 1 and len(calls) == 1  # one asked, one made


def test_a_failing_model_is_dropped_and_the_others_go_on() -> None:
    clock = FakeClock()
    draw = {"none": noisy(10, 0.01, 1), "ca": noisy(13, 0.01, 2), "se": noisy(11, 0.01, 3), "bam": noisy(12, 0, 4)}
    source = FakeSource(clock, draw, fail_at={"se": 3, "bam": -1})
    pairs = {**PAIRS, "bam": "none"}
    out = sample_until_precise(
        source, list(draw), pairs, min_samples=10, precision=0.01, max_time=60, clock=clock, errors=(RuntimeError,)
    )
    assert set(out.failed) == {"se", "bam"}
    assert str(out.failed["se"]) == "se broke in round 3" and str(out.failed["bam"]) == "bam cannot run"
    assert set(out.samples_ms) == set(out.estimates) == {"none", "ca"}
    assert out.met and len(out.samples_ms["ca"]) == len(out.samples_ms["none"]) == out.rounds
    assert source.taken["se"] == 3 and source.taken["bam"] == 0


def test_a_failing_reference_ends_its_pairs_but_not_the_loop() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.01, 1), "ca": noisy(13, 0.01, 2)}, fail_at={"none": 2})
    out = sample_until_precise(source, ["none", "ca"], PAIRS, min_samples=6, precision=0.01, max_time=60, clock=clock)
    assert set(out.failed) == {"none"} and out.estimates == {} and out.met
    assert out.rounds == 6 and len(out.samples_ms["ca"]) == 6


def test_other_exceptions_propagate() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0, 1)})
    source.sample = lambda key: 1 / 0  # type: ignore[method-assign]
    with pytest.raises(ZeroDivisionError):
        sample_until_precise(source, ["none"], {}, min_samples=5, precision=0.01, max_time=1, clock=clock)


def test_progress_reports_every_round() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.05, 1), "ca": noisy(13, 0.05, 2)})
    seen: list[tuple[int, float | None]] = []
    out = sample_until_precise(
        source,
        ["none", "ca"],
        PAIRS,
        min_samples=6,
        precision=0.01,
        max_time=5,
        clock=clock,
        progress=lambda r, w: seen.append((r, w)),
    )
    assert [r for r, _ in seen] == list(range(1, out.rounds + 1))
    assert all(w is None for _, w in seen[:5]) and seen[5][1] is not None


# ------------------------------------------------------------------------------------- forwards and calibration


def test_timer_calls_the_model_only_as_often_as_its_samples_need() -> None:
    clock = FakeClock()
    calls = []

    def fn() -> None:
        calls.append(1)
        clock.now += 2**-11  # 0.49 ms a call, exact in binary

    timer = CallTimer(fn, clock)
    assert timer.warm_up(3) == 5  # a block of 5 calls lasts the 2 ms a sample needs
    assert len(calls) == 3
    assert [timer.sample() for _ in range(4)] == [2**-11 * 1e3] * 4
    assert len(calls) == 3 + 4 * 5
    slow = CallTimer(lambda: setattr(clock, "now", clock.now + 0.1), clock)
    assert slow.warm_up(0) == 1  # one calibration call even without warm-up; a 100 ms call is one per sample


def test_time_latency_makes_warmup_plus_samples_calls() -> None:
    calls = []
    lat = time_latency(lambda: calls.append(1), threads=1, warmup=2, repeats=5, calls_per_sample=3)
    assert lat.calls_per_sample == 3 and len(lat.samples_ms) == 5 and len(calls) == 2 + 5 * 3
    real = time_latency(lambda: torch.ones(10).sum(), threads=1, warmup=2, repeats=7)
    assert len(real.samples_ms) == 7 and real.summary.n == 7 and real.calls_per_sample >= 1
    assert all(s > 0 for s in real.samples_ms)


# ------------------------------------------------------------------------------- rows and warnings of a profile


def test_interval_columns_follow_the_delta() -> None:
    i = COLUMNS.index("d_latency_pct")
    assert COLUMNS[i : i + 3] == ("d_latency_pct", "d_latency_pct_ci_low", "d_latency_pct_ci_high")


@pytest.fixture
def fake_timing(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeClock]:
    """Replace the real timers of ``runner.profile`` by fakes: ``fake_timing({"none": draw, ...})``."""

    def install(draw: dict[str, Callable[[int], float]], fail_at: dict[str, int] | None = None) -> FakeClock:
        clock = FakeClock()
        keyed = {(k, "eager"): d for k, d in draw.items()}
        fails = {(k, "eager"): v for k, v in (fail_at or {}).items()}
        source = FakeSource(clock, keyed, fail_at=fails)  # type: ignore[arg-type]
        monkeypatch.setattr(runner, "TimerSource", lambda calls, warmup, clock_: source)
        monkeypatch.setattr(runner, "clock_for", lambda device: clock)
        return clock

    return install


def _spec(**kw: object):  # type: ignore[no-untyped-def]
    fields = {"backbone": "mbv2", "width": 0.35, "input_size": 32, "small_input": True, "memory": False, **kw}
    return build_spec(["ca", "se"], **fields)


def test_profile_rows_carry_the_paired_median_and_its_interval(fake_timing: Callable[..., FakeClock]) -> None:
    fake_timing({"none": noisy(10, 0.002, 1), "ca": noisy(13, 0.002, 2), "se": noisy(11, 0.002, 3)})
    result = runner.profile(_spec(repeats=10, precision=0.02, max_time=60))
    assert result.warnings == ()  # every target met: no warning at all
    rows = {r.module: r for r in result.records}
    base = result.samples_ms[("none", "eager")]
    for name in ("ca", "se"):
        r = rows[name]
        ratios = [a / b for a, b in zip(result.samples_ms[(name, "eager")], base)]
        assert r.d_latency_pct == pytest.approx(100 * (statistics.median(ratios) - 1))
        assert r.d_latency_pct_ci_low <= r.d_latency_pct <= r.d_latency_pct_ci_high
        assert r.d_latency_pct_ci_high - r.d_latency_pct_ci_low <= 2 * 2.0  # ±2 pp
        assert r.latency_n == 10 and r.latency_calls_per_sample == 4
    assert rows["ca"].d_latency_pct == pytest.approx(30, abs=1)
    assert (rows["none"].d_latency_pct, rows["none"].d_latency_pct_ci_low, rows["none"].d_latency_pct_ci_high) == (
        0.0,
        0.0,
        0.0,
    )


@pytest.mark.slow
def test_profile_warns_once_per_row_that_missed_the_target(fake_timing: Callable[..., FakeClock]) -> None:
    fake_timing({"none": noisy(10, 0.3, 1), "ca": noisy(13, 0.3, 2), "se": noisy(11, 0.001, 3)})
    result = runner.profile(_spec(repeats=8, precision=0.02, max_time=1, threads=2))
    (line,) = [w for w in result.warnings if w.startswith("ca (eager)")]
    assert len(result.warnings) == 2  # ca and se both pair with the noisy baseline; none gets no line
    assert "Δlatency +" in line and "95% interval" in line and "paired samples" in line and "s of timing" in line
    assert "`precision` target of ±2 pp" in line
    assert line.endswith("raise `max_time`, run with `threads` 1, or measure on a quieter machine.")
    assert "\n" not in line


def test_profile_with_too_few_pairs_says_so(fake_timing: Callable[..., FakeClock]) -> None:
    fake_timing({"none": noisy(10, 0.01, 1), "ca": noisy(13, 0.01, 2), "se": noisy(11, 0.01, 3)})
    result = runner.profile(_spec(repeats=5, max_time=0))
    more = "raise `repeats` (`max_time` 0 takes exactly `repeats` rounds)"  # raising the budget 0 would not help
    assert result.warnings == (
        f"ca (eager): no 95% interval for Δlatency from 5 paired samples (6 needed); {more}.",
        f"se (eager): no 95% interval for Δlatency from 5 paired samples (6 needed); {more}.",
    )
    ca = next(r for r in result.records if r.module == "ca")
    assert ca.d_latency_pct is not None and ca.d_latency_pct_ci_low is None and ca.d_latency_pct_ci_high is None


def test_profile_marks_a_model_whose_timing_fails(fake_timing: Callable[..., FakeClock]) -> None:
    fake_timing({"none": noisy(10, 0.001, 1), "ca": noisy(13, 0.001, 2), "se": noisy(11, 0.001, 3)}, {"se": 4})
    result = runner.profile(_spec(repeats=10))
    rows = {r.module: r for r in result.records}
    assert rows["se"].status == "failed" and rows["se"].error == "timing failed: RuntimeError: se broke in round 4"
    assert rows["se"].latency_ms_median is None and rows["se"].d_latency_pct is None
    assert rows["ca"].status == "ok" and rows["ca"].latency_n == 10 and result.warnings == ()


@pytest.mark.long
def test_real_tiny_models_reach_a_loose_target() -> None:
    spec = _spec(repeats=10, warmup=2, precision=0.25, max_time=30)
    result = runner.profile(spec)
    rows = {r.module: r for r in result.records}
    for name in ("ca", "se"):
        r = rows[name]
        assert r.status == "ok" and r.latency_n >= 10
        assert r.allocator  # what the timing ran under, e.g. "glibc 2.36, heap kept"
        assert r.d_latency_pct_ci_low <= r.d_latency_pct <= r.d_latency_pct_ci_high
        n = len(result.samples_ms[(name, "eager")])
        assert n == r.latency_n == len(result.samples_ms[("none", "eager")])
    # either the target was met (no warning) or the budget ran out (one actionable line per missed row)
    assert all("--precision target" in w for w in result.warnings)


# ----------------------------------------------------------------------------------------- warm samples


def test_each_timed_sample_follows_untimed_calls_of_the_same_model() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.01, 1), "ca": noisy(13, 0.01, 2), "se": noisy(11, 0.01, 3)})
    out = sample_until_precise(
        source, ["none", "ca", "se"], PAIRS, min_samples=6, precision=0.5, max_time=0, clock=clock, warm_calls=2
    )
    assert out.rounds == 6
    forward = [e for k in ("none", "ca", "se") for e in (("warm", k), ("warm", k), ("time", k))]
    backward = [e for k in ("se", "ca", "none") for e in (("warm", k), ("warm", k), ("time", k))]
    assert source.events == (forward + backward) * 3
    assert sum(1 for kind, _ in source.events if kind == "time") == 18  # untimed calls are not samples


def test_warm_calls_0_times_cold_samples_and_warm_calls_count_against_the_budget() -> None:
    clock = FakeClock()
    source = FakeSource(clock, {"none": noisy(10, 0.01, 1), "ca": noisy(13, 0.01, 2)})
    sample_until_precise(
        source, ["none", "ca"], PAIRS, min_samples=6, precision=0.5, max_time=0, clock=clock, warm_calls=0
    )
    assert [kind for kind, _ in source.events] == ["time"] * 12
    rounds = {}
    for calls in (0, 1):
        clk = FakeClock()
        src = FakeSource(clk, {"none": noisy(10, 0.3, 1), "ca": noisy(13, 0.3, 2)}, cost_s=1.0)
        out = sample_until_precise(
            src, ["none", "ca"], PAIRS, min_samples=6, precision=1e-9, max_time=200, clock=clk, warm_calls=calls
        )
        assert out.elapsed_s >= 200
        rounds[calls] = out.rounds
    # 20 s of warm-up, then 2 s a round cold and 4 s warm: the untimed calls spend the same budget.
    assert (rounds[0], rounds[1]) == (90, 45)


class CacheModel:
    """A source whose model pays ``refill_ms`` on a call that follows another model's call (its caches were
    evicted), like a fast model on a CPU: the cold penalty dilutes the slower model's share."""

    def __init__(self, ms: dict[str, float], refill_ms: float) -> None:
        self.ms, self.refill_ms, self.last = ms, refill_ms, ""

    def _call(self, key: str) -> float:
        t = self.ms[key] + (self.refill_ms if self.last != key else 0.0)
        self.last = key
        return t

    def start(self, key: str) -> int:
        self._call(key)
        return 1

    def warm(self, key: str, calls: int) -> None:
        for _ in range(calls):
            self._call(key)

    def sample(self, key: str) -> float:
        return self._call(key)


def test_warm_samples_measure_the_share_a_repeated_call_sees() -> None:
    pairs = {"none": "none", "ca": "none"}
    cold = sample_until_precise(
        CacheModel({"none": 6.0, "ca": 9.0}, 1.0),
        ["none", "ca"],
        pairs,
        min_samples=6,
        precision=0.5,
        max_time=0,
        warm_calls=0,
    )
    warm = sample_until_precise(
        CacheModel({"none": 6.0, "ca": 9.0}, 1.0), ["none", "ca"], pairs, min_samples=6, precision=0.5, max_time=0
    )
    # Cold: a model pays the refill unless it ran last, i.e. at every other round's turn (the order alternates):
    # half the rounds read 10/7, half 9/7, so CA's +50 % reads +35.7 %.
    assert cold.estimates["ca"].median == pytest.approx((10 / 7 + 9 / 7) / 2)
    assert warm.estimates["ca"].median == pytest.approx(1.5)
