"""`inspect` (images, then containers) and `image inspect`: docker's JSON shape.

The image document has the fields of `docker image inspect`, filled from the
manifest and config; `--format` runs a Go template on it, with Go's printing
of nil slices and maps, so `{{.Config.Entrypoint}}` prints `[]` as it does with
docker.
"""

from __future__ import annotations

from typing import Any

import click

from minidock.cli.common import format_option_short, open_store, print_documents
from minidock.cli.gotemplate import NIL_MAP, NIL_SLICE, GoNil
from minidock.errors import (
    ContainerNotFound,
    ImageNotFound,
    MinidockError,
    NotFoundError,
    ReferenceError_,
)
from minidock.settings import Settings
from minidock.store.store import Image, Store

ZERO_TIME = "0001-01-01T00:00:00Z"

# fields that are slices or maps in docker's Go structs: how they print when null
NIL_HINTS: dict[str, GoNil] = {
    **{name: NIL_SLICE for name in ("Cmd", "Entrypoint", "Env", "OnBuild", "Shell",
                                    "RepoTags", "RepoDigests", "Layers", "Args", "Mounts")},
    **{name: NIL_MAP for name in ("Labels", "Volumes", "ExposedPorts", "Ports")},
}


def _container_config(config: dict[str, Any]) -> dict[str, Any]:
    """The `Config` object docker shows for an image (its container-config shape)."""
    c = config.get("config") or {}
    out: dict[str, Any] = {
        "Hostname": "", "Domainname": "", "User": c.get("User") or "",
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
    }
    if c.get("ExposedPorts"):
        out["ExposedPorts"] = c["ExposedPorts"]
    out.update({"Tty": False, "OpenStdin": False, "StdinOnce": False,
                "Env": c.get("Env"), "Cmd": c.get("Cmd")})
    if c.get("Healthcheck"):
        out["Healthcheck"] = c["Healthcheck"]
    if c.get("ArgsEscaped"):
        out["ArgsEscaped"] = True
    out.update({"Image": "", "Volumes": c.get("Volumes"), "WorkingDir": c.get("WorkingDir") or "",
                "Entrypoint": c.get("Entrypoint"), "OnBuild": c.get("OnBuild"),
                "Labels": c.get("Labels")})
    if c.get("StopSignal"):
        out["StopSignal"] = c["StopSignal"]
    if c.get("Shell"):
        out["Shell"] = c["Shell"]
    return out


def image_document(image: Image) -> dict[str, Any]:
    """What `docker image inspect` prints for one image."""
    config = image.config
    repo_digests = []
    for name in image.names:
        text = f"{name.familiar_name}@{image.digest}"
        if text not in repo_digests:
            repo_digests.append(text)
    doc: dict[str, Any] = {
        "Id": str(image.id),
        "RepoTags": [n.familiar for n in image.names],
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config.get("comment") or "",
        "Created": config.get("created") or ZERO_TIME,
        "Container": config.get("container") or "",
        # the config of the build step's container, as docker's classic builder records it
        "ContainerConfig": _container_config({"config": config.get("container_config")}),
        "DockerVersion": config.get("docker_version") or "",
        "Author": config.get("author") or "",
        "Config": _container_config(config),
        "Architecture": config.get("architecture") or "",
    }
    if config.get("variant"):
        doc["Variant"] = config["variant"]
    doc.update({
        "Os": config.get("os") or "",
        "Size": image.size,
        "VirtualSize": image.size,  # docker 20.10 still shows it; the same number
        "RootFS": {"Type": (config.get("rootfs") or {}).get("type") or "layers",
                   "Layers": [str(d) for d in image.diff_ids]},
        "Metadata": {"LastTagTime": ZERO_TIME},
        "Descriptor": {"mediaType": image.manifest_descriptor.media_type,
                       "digest": str(image.digest), "size": image.manifest_descriptor.size},
    })
    return doc


def _container_document(settings: Settings, name: str) -> dict[str, Any] | None:
    """The runtime's container document, or None when there is no such container."""
    try:
        from minidock.runtime.inspection import inspect_container
    except (ImportError, AttributeError):
        return None
    try:
        return inspect_container(settings, name)
    except (ContainerNotFound, NotFoundError):
        return None


def _collect(names: tuple[str, ...], find: Any) -> tuple[list[dict[str, Any]], list[str]]:
    documents, errors = [], []
    for name in names:
        try:
            doc = find(name)
        except MinidockError as exc:
            errors.append(exc.message)
            continue
        documents.append(doc)
    return documents, errors


def _finish(ctx: click.Context, documents: list[dict[str, Any]], errors: list[str],
            fmt: str | None) -> None:
    if documents or not fmt:
        print_documents(documents, fmt, NIL_HINTS)
    for message in errors:
        click.echo(f"Error: {message}", err=True)
    if errors:
        ctx.exit(1)


@click.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="NAME|ID...")
@format_option_short
@click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is "
              "container")
@click.option("--type", "kind", type=click.Choice(["image", "container"]),
              help="Only inspect objects of this type")
@click.option("--storage", is_flag=True,
              help="Show where a container's filesystem is on disk: its overlay stack "
                   "(or copied layers) and its volumes' data")
@click.pass_context
def inspect(ctx: click.Context, names: tuple[str, ...], fmt: str | None, size: bool,
            kind: str | None, storage: bool) -> None:
    """Return low-level information on images or containers."""
    store = open_store(ctx)
    settings: Settings = ctx.obj
    if storage:
        from minidock.runtime.containers import find_container
        from minidock.runtime.inspection import storage_document

        documents, errors = _collect(names, lambda name: storage_document(
            store, find_container(settings.root, name)))
        _finish(ctx, documents, errors, fmt)
        return

    def find(name: str) -> dict[str, Any]:
        if kind != "container":
            image = _find_image(store, name, quiet=kind is None)
            if image is not None:
                return image_document(image)
            if kind == "image":
                raise ImageNotFound(name)
        doc = _container_document(settings, name)
        if doc is not None:
            return doc
        if kind == "container":
            raise ContainerNotFound(name)
        raise NotFoundError(f"No such object: {name}")

    documents, errors = _collect(names, find)
    _finish(ctx, documents, errors, fmt)


def _find_image(store: Store, name: str, *, quiet: bool) -> Image | None:
    """The image `name` refers to; a name that is no valid reference may be a container."""
    try:
        return store.find_image(name)
    except ReferenceError_:
        if quiet:
            return None
        raise


@click.command("inspect")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@format_option_short
@click.pass_context
def image_inspect(ctx: click.Context, images: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more images."""
    store = open_store(ctx)
    documents, errors = _collect(images, lambda name: image_document(store.image(name)))
    _finish(ctx, documents, errors, fmt)
