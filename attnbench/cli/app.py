"""The Typer app and ``main``: every command is registered here, explicitly, in the order ``--help`` lists them.

A command lives in its own file under ``cli/`` and only parses options (aliases from ``options``), builds a spec,
calls one function of the harness and hands the result to ``render``, the only terminal writer.

Every user error ends as one ``Error:`` line on stderr with exit code 2 (bad input) or 1 (a failure the user
can act on); ``ATTNBENCH_DEBUG=1`` shows the traceback. Unknown exceptions keep their traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
import typer.core

from .. import __version__
from ..errors import AttnbenchError
from . import ablate, check, plot, profile, render, sweep, table


class _BareFlags:
    """Flags take no value, so their help shows no value placeholder (this Typer prints ``<bool>``, even for
    ``--help``): every flag of the command, the built-in ones included, gets an empty metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""
        return params


class Command(_BareFlags, typer.core.TyperCommand):
    pass


class Group(_BareFlags, typer.core.TyperGroup):
    pass


app = typer.Typer(
    name="attnbench",
    cls=Group,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    help="Honest cost numbers for attention modules (SE, CBAM, BAM, CA) inside mobile backbones.",
)


def _show_version(value: bool) -> None:
    if value:
        render.version("attnbench", __version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


app.command("list", cls=Command)(profile.list_cmd)
app.command("profile", cls=Command)(profile.profile_cmd)
app.command("table", cls=Command)(table.table_cmd)
app.command("sweep", cls=Command)(sweep.sweep_cmd)
app.command("plot", cls=Command)(plot.plot_cmd)
app.command("check", cls=Command)(check.check_cmd)
baseline_app = typer.Typer(cls=Group, no_args_is_help=True, help="Write cost baselines for `attnbench check`.")
baseline_app.command("write", cls=Command)(check.baseline_write_cmd)
app.add_typer(baseline_app, name="baseline")
app.command("ablate", cls=Command)(ablate.ablate_cmd)


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
