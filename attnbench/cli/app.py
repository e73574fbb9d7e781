"""The Typer app and ``main``: every command is registered here, explicitly, in the order ``--help`` lists them.

A command lives in its own file under ``cli/`` and only parses options (aliases from ``options``), builds a spec,
calls one function of the harness and hands the result to ``render``, the only terminal writer.

Every user error ends as one ``Error:`` line on stderr with exit code 2 (bad input) or 1 (a failure the user
can act on); ``ATTNBENCH_DEBUG=1`` shows the traceback. Unknown exceptions keep their traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import warnings
from typing import Annotated, Any

import typer
import typer.core

from .. import __version__
from ..errors import AttnbenchError, CsvWriteError, ExportWriteError, Notice
from ..io.reading import path_problem
from . import ablate, check, compare, flags, plot, profile, render, streams, sweep, table


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
    def invoke(self, ctx: Any) -> Any:
        with flags.running(self):
            return super().invoke(ctx)


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
app.command("compare", cls=Command)(compare.compare_cmd)
app.command("check", cls=Command)(check.check_cmd)
baseline_app = typer.Typer(cls=Group, no_args_is_help=True, help="Write cost baselines for `attnbench check`.")
baseline_app.command("write", cls=Command)(check.baseline_write_cmd)
app.add_typer(baseline_app, name="baseline")
app.command("ablate", cls=Command)(ablate.ablate_cmd)


def _show_notices(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """Library notices (repaired files, skipped rows) become one stderr line; other warnings keep Python's display."""
    if issubclass(category, Notice):
        render.warn(str(message))
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


class Terminated(KeyboardInterrupt):
    """SIGTERM received: handled like Ctrl-C (finished rows stay, one line), but exit 143."""


_terminated: list[int] = []


def _terminate(signum: int, frame: object) -> None:
    _terminated.append(signum)
    raise Terminated()


DEBUG_HINT = "Set ATTNBENCH_DEBUG=1 for the traceback."

RESUMABLE = ("sweep", "ablate")
"""Commands with ``--resume``: only their interruption line suggests it."""
APPENDING = ("profile",)
"""Commands that append rows (``--csv``) but cannot resume."""


def _command(argv: list[str] | None) -> str:
    """The command named on the command line (``""`` when there is none): its first word not starting with '-'."""
    args = sys.argv[1:] if argv is None else argv
    return next((str(a) for a in args if not str(a).startswith("-")), "")


def _keeps_rows(argv: list[str] | None) -> bool:
    """Whether the command line gave a file that finished rows are appended to (``--csv``)."""
    args = sys.argv[1:] if argv is None else argv
    return any(a == "--csv" or str(a).startswith("--csv=") for a in args)


def _interrupted(command: str = "", argv: list[str] | None = None) -> int:
    """One line for Ctrl-C or SIGTERM, and the exit code the shell convention gives it (128 + signal)."""
    what = "Terminated (SIGTERM)" if _terminated else "Interrupted"
    if command in RESUMABLE and not _keeps_rows(argv):
        render.interrupted(what, "nothing was written (no --csv); pass --csv PATH to keep each finished run.")
    elif command in RESUMABLE:
        render.interrupted(what)
    else:
        render.interrupted(what, "rows already written are kept." if command in APPENDING else None)
    return 143 if _terminated else 130


def _unsaved(exc: CsvWriteError) -> None:
    """Save the rows a failed append could not write: ``<file>.unsaved``, or stdout as the last resort."""
    from ..io.csvfile import save_unsaved

    kept = save_unsaved(exc)
    if kept.text:
        sys.stdout.write(kept.text)
        sys.stdout.flush()
    render.error(f"{flags.error_text(exc)} {kept.note}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every user error to one line and an exit code.

    The command runs with stdout and stderr guarded (``streams.guarded``): output that a full device or a closed
    pipe cannot take is dropped, the command finishes what it writes to files, and it ends with one line and exit 1.
    """
    with streams.guarded() as guards:
        try:
            _run(argv)
            code: int = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except OSError as exc:
            if os.environ.get("ATTNBENCH_DEBUG") == "1" or not streams.is_lost_output(exc):
                raise
            guards[0].lost = guards[0].lost or exc  # written past the guard (click's own stream wrapper)
            code = 0
    line = streams.lost_line(guards)
    if line is not None:
        try:
            render.error(line)
            sys.stderr.flush()
        except OSError:  # stderr cannot take it either; the line must not fail again at the interpreter's exit
            streams.silence(sys.stderr)
        code = code or 1
    sys.exit(code)


def _run(argv: list[str] | None) -> None:
    """Run the app; every way out is ``sys.exit`` with the command's exit code."""
    debug = os.environ.get("ATTNBENCH_DEBUG") == "1"
    _terminated.clear()
    warnings.showwarning = _show_notices
    previous = (
        signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        code = app(args=argv, prog_name="attnbench", standalone_mode=False)
    except CsvWriteError as exc:
        if debug:
            raise
        _unsaved(exc)
        sys.exit(exc.exit_code)
    except ExportWriteError as exc:
        if debug:
            raise
        if exc.text:  # the last resort: an export neither its file nor <file>.unsaved could take
            render.write_text(exc.text)
        render.error(flags.error_text(exc))
        sys.exit(exc.exit_code)
    except AttnbenchError as exc:
        if debug:
            raise
        render.error(flags.error_text(exc), hint=DEBUG_HINT)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(_interrupted(_command(argv), argv))
    except Exception as exc:
        if not debug and isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG and exc.filename:
            # a path given on the command line that no reader named first: still one line, bad input
            why = path_problem(exc, exc.filename)
            render.error(f"'{exc.filename}' cannot be used ({why}); choose a shorter path.", hint=DEBUG_HINT)
            sys.exit(2)
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
    finally:
        warnings.showwarning = _python_showwarning
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if code == 130:  # click turned the KeyboardInterrupt (or our SIGTERM) into its exit code
        sys.exit(_interrupted(_command(argv), argv))
    sys.exit(code or 0)
