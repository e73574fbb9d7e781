"""The Typer app and ``main``: every command is registered here, explicitly, in the order ``--help`` lists them.

A command lives in its own file under ``cli/`` and only parses options (aliases from ``options``), builds a spec,
calls one function of the harness and hands the result to ``render``, the only terminal writer.

Every user error ends as one ``Error:`` line on stderr with exit code 2 (bad input) or 1 (a failure the user
can act on); ``ATTNBENCH_DEBUG=1`` shows the traceback. Unknown exceptions keep their traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import AttnbenchError
from . import ablate, check, plot, profile, render, sweep, table

app = typer.Typer(
    name="attnbench",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Honest cost numbers for attention modules (SE, CBAM, BAM, CA) inside mobile backbones.",
)
app.command("list")(profile.list_cmd)
app.command("profile")(profile.profile_cmd)
app.command("table")(table.table_cmd)
app.command("sweep")(sweep.sweep_cmd)
app.command("plot")(plot.plot_cmd)
app.command("check")(check.check_cmd)
baseline_app = typer.Typer(no_args_is_help=True, help="Write cost baselines for `attnbench check`.")
baseline_app.command("write")(check.baseline_write_cmd)
app.add_typer(baseline_app, name="baseline")
app.command("ablate")(ablate.ablate_cmd)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every user error to one line and an exit code."""
    debug = os.environ.get("ATTNBENCH_DEBUG") == "1"
    try:
        code = app(args=argv, prog_name="attnbench", standalone_mode=False)
    except AttnbenchError as exc:
        if debug:
            raise
        render.error(str(exc), hint="Set ATTNBENCH_DEBUG=1 for the traceback.")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        render.interrupted()
        sys.exit(130)
    except Exception as exc:
        # Typer's parse errors (unknown option, bad number) carry format_message and exit_code.
        if debug or not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        cmd = ctx.command_path if ctx is not None else "attnbench"
        render.error(f"{exc.format_message()} (see '{cmd} --help')")
        sys.exit(int(exc.exit_code))
    if code == 130:
        render.interrupted()
    sys.exit(code or 0)
