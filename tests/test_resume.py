"""``sweep --resume`` counts a row as done by its configuration and its timing settings, whatever ended its rounds.

A row timed under the same ``--repeats``, ``--precision`` and ``--max-time`` stands for the configuration whether
the precision target or the time budget ended the rounds (``latency_stop`` says which); ``--max-time`` cutting
the rounds short (``latency_n`` below ``--repeats``) no longer makes every resume measure it again.
"""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from pathlib import Path

import pytest
from clihelp import run_cli

from attnbench.api import build_spec
from attnbench.cost import sweep
from attnbench.cost.timing import sample_until_precise


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _per_configuration(path: Path) -> Counter[tuple[str, ...]]:
    return Counter(sweep.row_key(r) for r in _rows(path) if r["status"] == "ok")


# The README's sweep example, shrunk to run in seconds: two modules, two backbones, one width, one small input.
# --max-time is what cuts the rounds: a budget of 0.3 s ends them long before --repeats 30, and a precision target of
# 0.01 pp is never met first (at the default 2 pp a fast, idle machine can meet it inside the budget).
README_SWEEP = (
    "sweep --modules se,ca --backbones mbv2,r18 --widths 0.5 --inputs 32 --repeats 30 --max-time 0.3 --precision 0.01% "
    "--warmup 1 --quiet"
).split()


def test_the_readme_sweep_resumed_twice_holds_every_configuration_once(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    code, _, err = run_cli(*README_SWEEP, "--csv", out)
    assert code == 0, err
    first = _rows(out)
    assert len(first) == 6  # (none, se, ca) x (mbv2, r18)
    # the time budget, not the precision target, ended these rounds, before --repeats: the case that used to re-run
    assert all(r["latency_stop"] == "max_time" and int(r["latency_n"]) < 30 for r in first), first
    assert {(r["latency_repeats"], r["latency_precision_pp"], r["latency_max_time_s"]) for r in first} == {
        ("30", "0.01", "0.3")
    }
    for _ in range(2):
        code, stdout, err = run_cli(*README_SWEEP, "--csv", out, "--resume")
        assert code == 0, err
        assert stdout == "" and err.splitlines() == [f"nothing to measure: all 6 rows are already in {out}"]
    counts = _per_configuration(out)
    assert len(counts) == 6 and set(counts.values()) == {1}


@pytest.mark.slow
def test_the_issue_loop_leaves_each_configuration_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``for i in 1 2 3; do attnbench sweep ... --max-time 1 --csv x.csv --resume --quiet; done``, as written."""
    monkeypatch.chdir(tmp_path)
    args = (
        "sweep --modules se --backbones r18 --widths 1.0 --inputs 224 --max-time 1 --csv x.csv --resume --quiet".split()
    )
    for _ in range(3):
        code, _, err = run_cli(*args)
        assert code == 0, err
    counts = _per_configuration(tmp_path / "x.csv")
    assert len(counts) == 2 and set(counts.values()) == {1}, counts


SPEC = dict(repeats=30, precision=0.02, max_time=60.0)


@pytest.mark.parametrize(
    ("timing", "asked", "done"),
    [
        # what the row recorded (n, repeats, precision pp, max time s, warm calls), what the run asks, whether done
        ((6, 30, 2.0, 1.0, 1), dict(SPEC, max_time=1.0), True),  # cut short by the budget: same settings, done
        ((45, 30, 2.0, 60.0, 1), SPEC, True),  # rounds beyond --repeats until precise
        ((30, 30, 2.0, 60.0, 1), dict(SPEC, max_time=120.0), False),  # another budget: measured again
        ((30, 30, 2.0, 60.0, 1), dict(SPEC, precision=0.01), False),  # another precision target
        ((30, 30, 2.0, 60.0, 1), dict(SPEC, repeats=31), False),  # another --repeats
        ((30, 30, 2.0, 60.0, 0), SPEC, False),  # cold samples do not stand for warm ones
        ((30, 30, 2.0, 60.0, 0), dict(SPEC, warm_calls=0), True),
        ((30, None, None, None, 0), dict(SPEC, warm_calls=0), True),  # written before the settings: ≥ --repeats
        ((12, None, None, None, 0), dict(SPEC, warm_calls=0), False),
        ((30, None, None, None, 0), SPEC, False),  # ... and timed cold
    ],
)
def test_a_timed_row_stands_for_a_run_with_its_settings(
    timing: tuple[int, int | None, float | None, float | None, int], asked: dict[str, float], done: bool
) -> None:
    spec = build_spec(["se"], backbone="r18", width=0.35, input_size=32, warmup=1, **asked)
    assert sweep.Timing(*timing).stands_for(spec) is done


class _Source:
    """Every model samples the same fixed sequence: the ratios are 1 and the intervals shrink as rounds are added."""

    def __init__(self) -> None:
        self.values = itertools.cycle([10.0, 10.2, 9.9, 10.1, 9.8, 10.3])

    def start(self, key: str) -> int:
        return 1

    def sample(self, key: str) -> float:
        return next(self.values)

    def warm(self, key: str, calls: int) -> None:
        pass


class _Clock:
    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@pytest.mark.parametrize(
    ("precision", "max_time", "step", "stop"),
    [(0.5, 60.0, 0.001, "precision"), (1e-9, 0.05, 0.001, "max_time"), (0.5, 0.0, 0.001, "repeats")],
)
def test_the_rounds_say_what_ended_them(precision: float, max_time: float, step: float, stop: str) -> None:
    out = sample_until_precise(
        _Source(),
        ["none", "se"],
        {"se": "none"},
        min_samples=8,
        precision=precision,
        max_time=max_time,
        clock=_Clock(step),
    )
    assert out.stop == stop
    if stop == "repeats":
        assert out.rounds == 8  # --max-time 0: exactly --repeats rounds
