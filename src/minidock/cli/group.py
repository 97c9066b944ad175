"""The `minidock` click group.

Commands are registered by name with the module that implements them and are
imported only when invoked, so `minidock run` does not pay for the builder or the
registry client.
"""

from __future__ import annotations

import importlib

import click

from minidock.cli.commands import COMMANDS


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
