"""`images`, `history`, `tag`, `rmi`, `image prune` and the `image` group.

Thin: each command asks the store, then formats with `cli.output` the way the
docker CLI prints the same command.
"""

from __future__ import annotations

from typing import Any

import click

from minidock.cli.common import (
    confirm,
    fail_each,
    filter_option,
    force_option,
    format_option,
    format_rows,
    open_store,
)
from minidock.cli.output import (
    ellipsis,
    go_time_string,
    human_size,
    human_size4,
    rfc3339_local,
    since,
)
from minidock.digest import Digest
from minidock.errors import DigestError
from minidock.oci.timestamps import parse_time
from minidock.settings import Settings
from minidock.store.filters import NamedImage, select_images
from minidock.store.prune import prune_images
from minidock.store.store import Image, Store

NONE = "<none>"
MISSING = "<missing>"
CREATED_BY_WIDTH = 45


def in_use_image_ids(settings: Settings) -> set[Digest]:
    """Image IDs that containers use, from the runtime when it is installed."""
    try:
        from minidock.runtime.containers import referenced_images
    except ImportError:
        return set()
    out = set()
    for value in referenced_images(settings.root):
        try:
            out.add(Digest.parse(str(value)))
        except DigestError:
            continue
    return out


# ---------------------------------------------------------------- images


def image_context(entry: NamedImage, *, no_trunc: bool) -> dict[str, str]:
    """The fields `--format` templates see for one line of `images`, named as docker
    names them."""
    img, ref = entry.image, entry.ref
    return {
        "Containers": "N/A",
        "CreatedAt": go_time_string(entry.created),
        "CreatedSince": since(entry.created),
        "Digest": str(img.digest) if ref is not None else NONE,
        "ID": str(img.id) if no_trunc else img.short_id,
        "Repository": ref.familiar_name if ref is not None else NONE,
        "SharedSize": "N/A",
        "Size": human_size(img.size),
        "Tag": (ref.tag or NONE) if ref is not None else NONE,
        "UniqueSize": "N/A",
        "VirtualSize": human_size4(img.size),
    }


IMAGE_HEADERS = {
    "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
    "Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY",
    "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG", "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "VIRTUAL SIZE",
}


@click.command("images")
@click.argument("reference", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all images (default hides intermediate images)")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("-f", "--filter", "filters", multiple=True, metavar="FILTER",
              help="Filter output (dangling=, reference=, label=, before=, since=)")
@click.option("--format", "fmt", metavar="STRING",
              help="Format output: 'table', 'json', or a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.pass_context
def images(ctx: click.Context, reference: str | None, show_all: bool, digests: bool,
           filters: tuple[str, ...], fmt: str | None, no_trunc: bool, quiet: bool) -> None:
    """List images."""
    store = open_store(ctx)
    entries = select_images(store, show_all=show_all, reference=reference, filters=filters)
    contexts = [image_context(e, no_trunc=no_trunc) for e in entries]
    if quiet:
        click.echo("".join(c["ID"] + "\n" for c in contexts), nl=False)
        return
    columns = ["Repository", "Tag"] + (["Digest"] if digests else []) + [
        "ID", "CreatedSince", "Size"]
    click.echo(format_rows(fmt, contexts, IMAGE_HEADERS, columns), nl=False)


# ---------------------------------------------------------------- history


HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}


def history_entries(image: Image) -> list[dict[str, Any]]:
    """(entry, layer size) newest first; empty_layer entries have size 0."""
    config = image.config
    history = config.get("history")
    layers = image.layer_sizes
    out: list[dict[str, Any]] = []
    if not isinstance(history, list) or not history:
        history = [{"created": config.get("created")} for _ in layers] or [
            {"created": config.get("created")}]
    index = 0
    for entry in history:
        if not isinstance(entry, dict):
            continue
        size = 0
        if not entry.get("empty_layer"):
            if index < len(layers):
                size = layers[index]
            index += 1
        out.append({"entry": entry, "size": size})
    out.reverse()
    return out


def local_ancestors(store: Store, image: Image) -> dict[int, Image]:
    """The local images `image` was built on, by the number of its history rows (oldest
    first) that each one's history and layers make up: docker shows such an image's ID
    on the row of its last step, and `<missing>` only for steps no local image ends at.

    docker knows the parent from its build records; minidock keeps none, so an image
    counts as an ancestor when its history and diff_ids begin this image's own.
    """
    history = image.config.get("history")
    if not isinstance(history, list):
        return {}
    layers = image.diff_ids
    candidates = store.images()
    candidates += store.intermediate_images({img.digest for img in candidates})
    out: dict[int, Image] = {}
    for other in sorted(candidates, key=lambda img: str(img.id), reverse=True):
        theirs = other.config.get("history")
        if (other.id == image.id or not isinstance(theirs, list) or not theirs
                or len(theirs) > len(history)):
            continue
        if history[:len(theirs)] == theirs and layers[:len(other.diff_ids)] == other.diff_ids:
            out[len(theirs)] = other
    return out


def history_contexts(store: Store, image: Image, *, human: bool, no_trunc: bool
                     ) -> list[dict[str, str]]:
    contexts = []
    rows = history_entries(image)
    ancestors = local_ancestors(store, image)
    for i, item in enumerate(rows):
        entry, size = item["entry"], item["size"]
        created = parse_time(entry.get("created"))
        created_by = str(entry.get("created_by") or "").replace("\t", " ")
        shown = image if i == 0 else ancestors.get(len(rows) - i)
        if shown is not None:
            ident = str(shown.id) if no_trunc else shown.short_id
        else:
            ident = MISSING
        contexts.append({
            "ID": ident,
            "CreatedSince": since(created) if human else rfc3339_local(created),
            "CreatedAt": rfc3339_local(created),
            "CreatedBy": created_by if no_trunc else ellipsis(created_by, CREATED_BY_WIDTH),
            "Size": human_size(size) if human else str(size),
            "Comment": str(entry.get("comment") or ""),
        })
    return contexts


_TRUE_WORDS = frozenset({"1", "t", "true", "y", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "f", "false", "n", "no", "off"})


class PflagBoolCommand(click.Command):
    """Accepts docker's `--flag=false` / `-H=false` spelling for boolean flags.

    docker's flags parser takes a boolean's value only after `=`, so `-H IMAGE`
    never swallows the image name; click's flags take no value at all. Each
    `--name=value` of a flag declared `--name/--no-name` becomes one of the two.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten = []
        for arg in args:
            name, sep, value = arg.partition("=")
            option = self._bool_flag(name) if sep else None
            if option is not None and value.lower() in _TRUE_WORDS | _FALSE_WORDS:
                on, off = option
                rewritten.append(on if value.lower() in _TRUE_WORDS else off)
            else:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)

    def _bool_flag(self, name: str) -> tuple[str, str] | None:
        for param in self.params:
            if isinstance(param, click.Option) and param.is_bool_flag and param.secondary_opts:
                if name in param.opts:
                    return param.opts[-1], param.secondary_opts[0]
        return None


@click.command("history", cls=PflagBoolCommand)
@click.argument("image")
@format_option
@click.option("-H", "--human/--no-human", default=True, show_default=True,
              help="Print sizes and dates in human readable format (--human=false to turn off)")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.pass_context
def history(ctx: click.Context, image: str, fmt: str | None, human: bool, no_trunc: bool,
            quiet: bool) -> None:
    """Show the history of an image."""
    store = open_store(ctx)
    img = store.image(image)
    contexts = history_contexts(store, img, human=human, no_trunc=no_trunc)
    if quiet:
        click.echo("".join(c["ID"] + "\n" for c in contexts), nl=False)
        return
    columns = ["ID", "CreatedSince" if human else "CreatedAt", "CreatedBy", "Size", "Comment"]
    click.echo(format_rows(fmt, contexts, HISTORY_HEADERS, columns), nl=False)


# ---------------------------------------------------------------- tag, rmi, prune


@click.command("tag")
@click.argument("source", metavar="SOURCE_IMAGE[:TAG]")
@click.argument("target", metavar="TARGET_IMAGE[:TAG]")
@click.pass_context
def tag(ctx: click.Context, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    open_store(ctx).ensure().tag(source, target)


@click.command("rmi")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True,
              help="Accepted for compatibility: minidock images have no parent images")
@click.pass_context
def rmi(ctx: click.Context, images: tuple[str, ...], force: bool, no_prune: bool) -> None:
    """Remove one or more images."""
    store = open_store(ctx)
    in_use = in_use_image_ids(ctx.obj)

    def remove(text: str) -> None:
        for kind, value in store.remove_image(text, force=force, in_use=in_use):
            click.echo(f"{kind}: {value}")

    if fail_each(images, remove, missing_ok=force):
        ctx.exit(1)


def print_prune_report(events: list[tuple[str, str]], reclaimed: int) -> None:
    if events:
        lines = ["Deleted Images:"] + [f"{kind}: {value}" for kind, value in events]
        click.echo("\n".join(lines) + "\n")
    click.echo(f"Total reclaimed space: {human_size4(reclaimed)}")


@click.command("prune")
@click.option("-a", "--all", "all_images", is_flag=True,
              help="Remove all unused images, not just dangling ones")
@filter_option
@force_option
@click.pass_context
def prune(ctx: click.Context, all_images: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused images."""
    from minidock.store.filters import parse_prune_filters

    parsed = parse_prune_filters(filters)
    warning = ("WARNING! This will remove all images without at least one container "
               "associated to them." if all_images else
               "WARNING! This will remove all dangling images.")
    if not force and not confirm(warning):
        return
    store = open_store(ctx)
    events, reclaimed = prune_images(store, all_images=all_images,
                                     in_use=in_use_image_ids(ctx.obj), filters=parsed)
    print_prune_report(events, reclaimed)


# ---------------------------------------------------------------- the `image` group


class _ImageGroup(click.Group):
    """`image` subcommands; archive, inspect and the top-level ones it shares with the
    root group (`build`, `pull`, `push`) are imported when used."""

    _LAZY = {
        "inspect": ("minidock.cli.inspect", "image_inspect"),
        "save": ("minidock.cli.archive", "save"),
        "load": ("minidock.cli.archive", "load"),
        "import": ("minidock.cli.archive", "import_"),
        "build": ("minidock.cli.build", "build"),
        "pull": ("minidock.cli.registry", "pull"),
        "push": ("minidock.cli.registry", "push"),
        "layers": ("minidock.cli.internals", "layers"),
        "files": ("minidock.cli.internals", "files"),
        "analyze": ("minidock.cli.internals", "analyze"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self._LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._LAZY:
            import importlib

            module, attr = self._LAZY[cmd_name]
            return getattr(importlib.import_module(module), attr)
        return self.commands.get(cmd_name)


# `docker image` with no subcommand: its listing, the docker CLI's words, primary names only
IMAGE_USAGE = {
    "build": "Build an image from a Dockerfile",
    "history": "Show the history of an image",
    "import": "Import the contents from a tarball to create a filesystem image",
    "inspect": "Display detailed information on one or more images",
    "load": "Load an image from a tar archive or STDIN",
    "ls": "List images",
    "prune": "Remove unused images",
    "pull": "Pull an image or a repository from a registry",
    "push": "Push an image or a repository to a registry",
    "rm": "Remove one or more images",
    "save": "Save one or more images to a tar archive (streamed to STDOUT by default)",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
}


def image_usage(prog: str) -> str:
    """The usage docker prints for `docker image` alone, with `prog` for `docker`."""
    rows = "".join(f"  {name:<11} {text}\n" for name, text in IMAGE_USAGE.items())  # cobra's
    return (f"\nUsage:  {prog} image COMMAND\n\nManage images\n\nCommands:\n{rows}\n"
            f"Run '{prog} image COMMAND --help' for more information on a command.\n")


@click.group("image", cls=_ImageGroup, invoke_without_command=True)
@click.pass_context
def image_group(ctx: click.Context) -> None:
    """Manage images."""
    if ctx.invoked_subcommand is None:  # docker prints its listing and succeeds
        click.echo(image_usage(ctx.find_root().info_name or "minidock"), nl=False, err=True)


image_group.add_command(images, "ls")
image_group.add_command(images, "list")
image_group.add_command(history, "history")
image_group.add_command(tag, "tag")
image_group.add_command(rmi, "rm")
image_group.add_command(rmi, "remove")
image_group.add_command(prune, "prune")
