"""Rendering: the profile table and summary, into a fixed-width console without colour."""

from __future__ import annotations

import io

from rich.console import Console

from attnbench.api import build_spec
from attnbench.cli import render as report
from attnbench.cost.records import to_frame
from attnbench.cost.runner import profile


def render(fn, *args) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    fn(*args, console=Console(file=buf, width=200, color_system=None, highlight=False))
    return buf.getvalue()


def test_profile_table_and_summary() -> None:
    spec = build_spec(["ca"], backbone="mbv2", input_size=64, latency=True, repeats=6, warmup=1, max_time=0)
    frame = to_frame(profile(spec).records)
    text = render(report.show_profile, frame)
    lines = text.splitlines()
    none_row = next(line for line in lines if line.startswith("│ none"))
    ca_row = next(line for line in lines if line.startswith("│ ca "))
    assert "3.505" in none_row and "│  – │" in none_row  # baseline: no reduction shown
    assert "3.951 (+0.446)" in ca_row and "after_dw" in ca_row and "│ 32 │ 16 │" in ca_row
    assert any(line.startswith("ca: +0.446M params, +") and "latency" in line for line in lines)


def test_summary_names_non_eager_builds() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "build": "compile",
                "module": "none",
                "backbone": "mbv2",
                "status": "ok",
                "d_params": 0,
                "d_macs": 0,
                "d_elementwise_ops": 0,
                "d_latency_pct": None,
                "latency_ms_median": 2.0,
            },
            {
                "build": "compile",
                "module": "se",
                "backbone": "mbv2",
                "status": "ok",
                "d_params": 1000,
                "d_macs": 2000,
                "d_elementwise_ops": 3000,
                "d_latency_pct": 10.0,
                "latency_ms_median": 2.2,
            },
        ]
    )
    (line,) = report.summary_lines(frame)
    assert (
        line
        == "se (compile): +0.001M params, +0.00M MACs, +0.00M element-wise ops over mbv2, latency +10.0% (2.200 vs 2.000 ms)"
    )


def test_missing_values_render_as_dash() -> None:
    import pandas as pd

    assert report.millions(pd.NA) == "–" and report.millions(float("nan")) == "–" and report.millions(None) == "–"
    assert report.millions(3_504_872) == "3.505"
