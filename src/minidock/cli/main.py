"""The `minidock` click group.

Commands are registered by name with the module that implements them and are
imported only when invoked, so `minidock run` does not pay for the builder or the
registry client. Errors map to one-line messages and exit codes here, in one
place; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

# command name -> "module:attribute" (a click.Command), imported on demand
COMMANDS: dict[str, str] = {
    # images (issue 1/7)
    "images": "minidock.cli.images:images",
    "image": "minidock.cli.images:image_group",
    "history": "minidock.cli.images:history",
    "inspect": "minidock.cli.inspect:inspect",
    "tag": "minidock.cli.images:tag",
    "rmi": "minidock.cli.images:rmi",
    "import": "minidock.cli.archive:import_",
    "save": "minidock.cli.archive:save",
    "load": "minidock.cli.archive:load",
    "system": "minidock.cli.system:system_group",
    "version": "minidock.cli.system:version",
    "info": "minidock.cli.system:info",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="MINIDOCK_DEBUG", help="Show tracebacks.")
@click.option("--root", envvar="MINIDOCK_ROOT", metavar="DIR",
              help="Store directory (default: $XDG_DATA_HOME/minidock).")
@click.version_option(package_name="minidock", prog_name="minidock")
@click.pass_context
def cli(ctx: click.Context, debug: bool, root: str | None) -> None:
    """Build and run OCI containers, with no daemon."""
    from minidock.settings import Settings

    ctx.obj = Settings.from_env(root=root)
    ctx.meta["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group, map errors to messages and exit codes."""
    from minidock.errors import MinidockError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("MINIDOCK_DEBUG"))
    try:
        rv = cli.main(args=argv, prog_name="minidock", standalone_mode=False)
    except MinidockError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"Hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        sys.exit(125 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc.strerror or exc}"
                   + (f": {exc.filename}" if getattr(exc, "filename", None) else ""), err=True)
        sys.exit(125)
    sys.exit(rv if isinstance(rv, int) else 0)
