"""The only package that imports rich or writes to the terminal, one file per command's output.

Results go to stdout (a rich table, or plain CSV/JSON with ``--format``); warnings, errors and progress go to
stderr (``console``). Units and rounding exist only here (``cells``): the frames and CSVs hold raw numbers. The
commands call the names below; each file imports what it shares from ``console`` and ``cells``.
"""

from .ablate import ablation_progress, show_ablation, write_ablation_json
from .cells import millions
from .check import show_check
from .compare import COMPARE_LEGEND, compare_cells, show_compare
from .console import error, info, interrupted, on_interrupt, progress_bar, status, version, warn, write_text
from .profile import PROFILE_LEGEND, rows_text, show_list, show_profile, show_rows, show_runtimes, summary_lines
from .tables import printed, show_table, show_table_list, table_cells

__all__ = [
    "COMPARE_LEGEND",
    "PROFILE_LEGEND",
    "ablation_progress",
    "compare_cells",
    "error",
    "info",
    "interrupted",
    "millions",
    "on_interrupt",
    "printed",
    "progress_bar",
    "rows_text",
    "show_ablation",
    "show_check",
    "show_compare",
    "show_list",
    "show_profile",
    "show_rows",
    "show_runtimes",
    "show_table",
    "show_table_list",
    "status",
    "summary_lines",
    "table_cells",
    "version",
    "warn",
    "write_ablation_json",
    "write_text",
]
