"""`save`, `load` and `import`: files and pipes in and out of the store.

`save -o FILE` writes a temp file beside FILE and renames it, so a failed save
never leaves a half-written archive under the user's name; to stdout it goes
through an anonymous temp file in the store (layers whose size is only known
after decompressing need a seekable archive).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import click

from minidock.cli.common import open_store
from minidock.cli.output import human_size
from minidock.errors import ArchiveError, MinidockError, UsageError
from minidock.fsutil import atomic_file
from minidock.reference import parse

_READ_BUFFER = 1 << 20


def _progress_printer(quiet: bool) -> Callable[[str, int], None] | None:
    """Per-blob progress on a terminal's stderr; nothing when piped or quiet."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(what: str, size: int) -> None:
        click.echo(f"{what}: {human_size(size)}", err=True)

    return show


def _open_input(path: str | None, what: str) -> BinaryIO:
    if path is None or path == "-":
        stdin = sys.stdin.buffer
        if sys.stdin.isatty():
            raise UsageError(f"requested {what} from stdin, but stdin is empty",
                             hint="use the -i flag or redirect a file to stdin")
        return stdin
    try:
        return open(path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115
    except OSError as exc:
        raise ArchiveError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None


@click.command("save")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("-o", "--output", metavar="FILE", help="Write to a file, instead of STDOUT")
@click.option("--format", "fmt", type=click.Choice(["docker", "oci"]), default="docker",
              show_default=True, help="Archive format: docker-archive or OCI archive")
@click.pass_context
def save(ctx: click.Context, images: tuple[str, ...], output: str | None, fmt: str) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from minidock.archive import save as save_images

    store = open_store(ctx)
    if output is None or output == "-":
        stdout = sys.stdout.buffer
        if sys.stdout.isatty():
            raise MinidockError("cowardly refusing to save to a terminal. Use the -o flag "
                                "or redirect")
        store.ensure()
        with tempfile.TemporaryFile(dir=store.tmp_dir) as tmp:
            save_images(store, list(images), tmp, fmt=fmt)
            tmp.seek(0)
            shutil.copyfileobj(tmp, stdout, _READ_BUFFER)
            stdout.flush()
        return
    target = Path(output)
    if target.is_dir():
        raise UsageError(f"invalid output path: {output} is a directory")
    parent = target.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"invalid output path: directory {parent} does not exist")
    with atomic_file(target) as tmp:
        save_images(store, list(images), tmp, fmt=fmt)


@click.command("load")
@click.option("-i", "--input", "input_path", metavar="FILE",
              help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@click.pass_context
def load(ctx: click.Context, input_path: str | None, quiet: bool) -> None:
    """Load an image from a tar archive or STDIN (docker-archive or OCI, maybe compressed)."""
    from minidock.archive import load as load_archive

    store = open_store(ctx)
    stream = _open_input(input_path, "load")
    try:
        loaded = load_archive(store, stream, progress=_progress_printer(quiet))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for item in loaded:
        for tag, old_id in item.replaced:
            click.echo(f"The image {tag.familiar} already exists, renaming the old one with "
                       f"ID {old_id} to empty string")
        for tag in item.tags:
            click.echo(f"Loaded image: {tag.familiar}")
        if not item.tags:
            click.echo(f"Loaded image ID: {item.image.id}")


@click.command("import")
@click.argument("source", metavar="file|-")
@click.argument("reference", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option("-c", "--change", "changes", multiple=True, metavar="INSTRUCTION",
              help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Set commit message for imported image")
@click.pass_context
def import_(ctx: click.Context, source: str, reference: str | None, changes: tuple[str, ...],
            message: str | None) -> None:
    """Import the contents from a tarball to create a filesystem image."""
    from minidock.archive import apply_changes, import_rootfs

    if source.startswith(("http://", "https://")):
        raise UsageError("importing from a URL is not supported: download the file and "
                         "import it")
    tags = []
    if reference:
        ref = parse(reference)
        if ref.digest:
            raise UsageError(f"refusing to import as a digest reference: {reference}")
        tags.append(ref)
    apply_changes({}, list(changes))  # a bad --change fails before the input is read
    store = open_store(ctx)
    stream = _open_input(source, "import")
    try:
        # docker's client streams a file like stdin, so its history says "-" for both
        image = import_rootfs(store, stream, tags=tags, changes=list(changes),
                              message=message, source="-")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    click.echo(str(image.id))
