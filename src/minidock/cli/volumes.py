"""`volume create|ls|inspect|rm|prune`, with Docker's output."""

from __future__ import annotations

from typing import Any

import click

from minidock.cli.common import (
    confirm,
    fail_each,
    filter_option,
    force_option,
    format_option,
    format_option_short,
    format_rows,
    print_documents,
    settings_of,
)
from minidock.cli.output import human_size4, render_table
from minidock.errors import MinidockError


@click.group("volume")
def volume_group() -> None:
    """Manage volumes."""


@volume_group.command("create")
@click.argument("name", required=False)
@click.option("-l", "--label", "labels", multiple=True, help="Set metadata for a volume")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.pass_context
def create(ctx: click.Context, name: str | None, labels: tuple[str, ...], driver: str) -> None:
    """Create a volume."""
    from minidock.runtime.volumes import create_volume

    if driver != "local":
        raise MinidockError(f'create {name or ""}: volume driver "{driver}" is not supported',
                            exit_code=1)
    values = dict(label.partition("=")[::2] for label in labels)
    vol, _ = create_volume(settings_of(ctx).root, name, labels=values)
    click.echo(vol.name)


@volume_group.command("ls")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Provide filter values (e.g. 'dangling=true')")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@format_option
@click.pass_context
def ls(ctx: click.Context, filters: tuple[str, ...], quiet: bool, fmt: str | None) -> None:
    """List volumes."""
    from minidock.runtime.volumes import list_volumes, select_volumes

    root = settings_of(ctx).root
    volumes = select_volumes(root, list_volumes(root), filters)
    if quiet:
        for vol in volumes:
            click.echo(vol.name)
        return
    if fmt:
        contexts = [{"Driver": "local", "Name": v.name, "Mountpoint": str(v.mountpoint),
                     "Scope": "local", "Labels": ",".join(f"{k}={x}" for k, x in
                                                          v.labels.items())} for v in volumes]
        headers = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT",
                   "Scope": "SCOPE", "Labels": "LABELS"}
        click.echo(format_rows(fmt, contexts, headers, ["Driver", "Name"]), nl=False)
        return
    click.echo(render_table([["DRIVER", "VOLUME NAME"]] + [["local", v.name] for v in volumes]),
               nl=False)


volume_group.add_command(ls, "list")


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="VOLUME...")
@format_option_short
@click.pass_context
def inspect(ctx: click.Context, names: tuple[str, ...], fmt: str | None) -> int:
    """Display detailed information on one or more volumes."""
    from minidock.runtime.volumes import get_volume

    docs: list[dict[str, Any]] = []
    failed = fail_each(names, lambda name: docs.append(get_volume(settings_of(ctx).root,
                                                                   name).inspect()))
    if fmt or docs or not failed:
        print_documents(docs, fmt)
    return 1 if failed else 0


@volume_group.command("rm")
@click.argument("names", nargs=-1, required=True, metavar="VOLUME...")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.pass_context
def rm(ctx: click.Context, names: tuple[str, ...], force: bool) -> int:
    """Remove one or more volumes."""
    from minidock.errors import VolumeNotFound
    from minidock.runtime.control import remove_volume

    def remove(name: str) -> None:
        try:
            remove_volume(settings_of(ctx).root, name)
        except VolumeNotFound:
            if not force:
                raise
            return
        click.echo(name)

    return 1 if fail_each(names, remove) else 0


volume_group.add_command(rm, "remove")


@volume_group.command("prune")
@click.option("-a", "--all", "all_volumes", is_flag=True,
              help="Remove all unused volumes, not just anonymous ones")
@filter_option
@force_option
@click.pass_context
def prune(ctx: click.Context, all_volumes: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused local volumes."""
    from minidock.runtime.control import prune_volumes
    from minidock.store.filters import parse_prune_filters

    parsed = parse_prune_filters(filters, ("label", "label!"))

    warning = ("WARNING! This will remove all local volumes not used by at least one "
               "container." if all_volumes else "WARNING! This will remove anonymous local "
               "volumes not used by at least one container.")
    if not force and not confirm(warning):
        return
    removed, reclaimed = prune_volumes(settings_of(ctx).root, all_volumes=all_volumes,
                                       filters=parsed)
    if removed:
        click.echo("Deleted Volumes:\n" + "\n".join(removed) + "\n")
    click.echo(f"Total reclaimed space: {human_size4(reclaimed)}")
