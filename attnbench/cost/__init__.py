"""Cost measurement: spec → build → count, memory, timing → records; sweeps and CI baselines on top."""

BASELINE = "none"
"""The registered no-attention entry: the row every Δ is taken against (an ordinary registry entry otherwise)."""
