"""Entry point of the `minidock` command.

Errors map to one-line messages and exit codes through cli.exitcodes; `--debug`
(or MINIDOCK_DEBUG=1) shows the traceback instead. `run` and `create` skip
click entirely: importing it costs more than starting a container does, and
when they are the process's command they end it without the interpreter's
teardown (see minidock.cli.run.exit_now).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click


def unknown_flag(exc: click.NoSuchOption) -> str:
    """docker's two lines for a flag the command does not have (cobra's wording)."""
    flag = exc.option_name
    path = exc.ctx.command_path if exc.ctx is not None else "minidock"
    what = (f"unknown flag: {flag}" if flag.startswith("--")
            else f"unknown shorthand flag: '{flag[1:2]}' in {flag}")
    return f"{what}\nSee '{path} --help'.\n"


def main(argv: list[str] | None = None) -> None:
    """Run one command; exit with its code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in ("run", "create"):  # same as commands.FAST_COMMANDS
        from minidock.cli.run import exit_now, fast_main

        code = fast_main(args[0], args[1:])
        if argv is None:  # the process's own command line: end the process now
            exit_now(code)
        sys.exit(code)

    import click

    from minidock.cli.exitcodes import COMMAND_ERRORS, exit_status
    from minidock.cli.group import cli

    debug = "--debug" in args or bool(os.environ.get("MINIDOCK_DEBUG"))
    try:
        rv = cli.main(args=args, prog_name="minidock", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    except click.NoSuchOption as exc:
        if debug:
            raise
        click.echo(unknown_flag(exc), err=True, nl=False)
        sys.exit(125)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        sys.exit(125 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except COMMAND_ERRORS as exc:
        status = exit_status(exc, debug=debug)
        if status is None:
            raise
        sys.exit(status)
    sys.exit(rv if isinstance(rv, int) else 0)
