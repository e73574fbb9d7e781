"""The library names fields (``errors.opt``); the CLI shows each as the option of the command that ran."""

from __future__ import annotations

import pytest
import typer.main
from clihelp import error_line, run_cli

from attnbench.cli import flags
from attnbench.cli.app import app
from attnbench.errors import UsageError, name_fields, opt


def _options(*path: str) -> dict[str, str]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return flags.options_of(command)


def test_a_field_reads_as_its_name_in_the_library() -> None:
    message = f"{opt('width')} 5.0 is outside 0.35-1.4"
    assert message == "`width` 5.0 is outside 0.35-1.4"
    assert str(UsageError(message)) == message  # the Python API shows it as it is
    assert name_fields(message, lambda f: None) == "width 5.0 is outside 0.35-1.4"


@pytest.mark.parametrize(
    ("command", "field", "shown"),
    [
        (("profile",), "width", "--width"),
        (("sweep",), "width", "--widths"),  # an alias: the grid command's own option
        (("profile",), "input_size", "--input"),
        (("sweep",), "input_size", "--inputs"),
        (("profile",), "modules", "--module"),
        (("baseline", "write"), "modules", "--modules"),  # the parameter modules_ is --modules
        (("profile",), "builds", "--runtime"),
        (("profile",), "no_latency", "--no-latency"),  # the off side of --latency/--no-latency
        (("ablate",), "weight_decay", "--wd"),
        (("table",), "reduction", None),  # a field the command has no option for keeps its name
    ],
)
def test_each_command_shows_a_field_as_its_own_option(command: tuple[str, ...], field: str, shown: str | None) -> None:
    options = _options(*command)
    assert flags.flag(field, options) == shown
    assert flags.show(f"add {opt(field)}.", options) == f"add {shown or field}."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("profile", "--module", "ca", "--width", "5"), "Error: --width 5.0 is outside 0.35-1.4 for backbone 'mbv2'."),
        (("sweep", "--modules", "ca", "--widths", "5"), "Error: --widths 5.0 is outside 0.35-1.4 for backbone 'mbv2'."),
        (("profile", "--module", "ca", "--output-stride", "8"), "Error: --output-stride applies to a dense head;"),
    ],
)
def test_an_error_from_the_library_names_the_options_of_the_command(args: tuple[str, ...], message: str) -> None:
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert error_line(err).startswith(message)
