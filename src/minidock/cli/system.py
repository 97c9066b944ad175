"""`system df|check|prune|info`, `version` and `info`.

Disk usage counts what is on disk: blobs (shared ones once), the extracted
layer trees, container directories and volumes. Container and volume facts
come from the runtime package; without it those rows read zero.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from minidock.cli.common import (
    confirm,
    filter_option,
    force_option,
    format_option_short,
    format_rows,
    open_store,
)
from minidock.cli.images import in_use_image_ids, print_prune_report
from minidock.cli.output import bytes_size, human_size4
from minidock.errors import MinidockError, StoreError
from minidock.fsutil import tree_size
from minidock.oci.model import host_platform
from minidock.settings import Settings
from minidock.store.prune import prune_images
from minidock.store.store import Store
from minidock.store.usage import Usage, build_cache_usage, image_usage
from minidock.version import __version__

LABEL_WIDTH = 19  # docker version's label column


def _containers(settings: Settings) -> list[Any]:
    try:
        from minidock.runtime.containers import list_containers
    except ImportError:
        return []
    return list_containers(settings.root)


def _volumes(settings: Settings) -> tuple[list[Any], set[str]]:
    try:
        from minidock.runtime.containers import volumes_in_use
        from minidock.runtime.volumes import list_volumes
    except ImportError:
        return [], set()
    return list_volumes(settings.root), set(volumes_in_use(settings.root))


def _percent(reclaimable: int, total: int) -> str:
    if total > 0:
        return f"{human_size4(reclaimable)} ({reclaimable * 100 // total}%)"
    return human_size4(reclaimable)


def disk_usage(store: Store, settings: Settings) -> list[dict[str, str]]:
    """The four rows of `system df`."""
    images = image_usage(store, in_use_image_ids(settings))
    containers = _containers(settings)
    sizes = {c.id: tree_size(c.dir) for c in containers}
    running = [c for c in containers if c.running]
    ctr_size = sum(sizes.values())
    volumes, used = _volumes(settings)
    vol_sizes = {v.name: tree_size(v.mountpoint) for v in volumes}
    vol_size = sum(vol_sizes.values())
    rows = [
        ("Images", images),
        ("Containers", Usage(len(containers), len(running), ctr_size,
                             ctr_size - sum(sizes[c.id] for c in running))),
        ("Local Volumes", Usage(len(volumes), len([v for v in volumes if v.name in used]),
                                vol_size, sum(size for name, size in vol_sizes.items()
                                              if name not in used))),
    ]
    out = [_df_row(kind, usage, _percent(usage.reclaimable, usage.size))
           for kind, usage in rows]
    cache = build_cache_usage(store)
    out.append(_df_row("Build Cache", cache, human_size4(cache.reclaimable)))
    return out


def _df_row(kind: str, usage: Usage, reclaimable: str) -> dict[str, str]:
    return {"Type": kind, "TotalCount": str(usage.count), "Active": str(usage.active),
            "Size": human_size4(usage.size), "Reclaimable": reclaimable}


DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}


@click.group("system")
def system_group() -> None:
    """Manage minidock's store."""


@system_group.command("df")
@click.option("--format", "fmt", metavar="STRING",
              help="Format output: 'table', 'json', or a Go template")
@click.pass_context
def df(ctx: click.Context, fmt: str | None) -> None:
    """Show disk usage."""
    rows = disk_usage(open_store(ctx), ctx.obj)
    click.echo(format_rows(fmt, rows, DF_HEADERS, list(DF_HEADERS)), nl=False)


@system_group.command("check")
@click.pass_context
def check(ctx: click.Context) -> None:
    """Verify every blob and reference of the store."""
    store = open_store(ctx)
    if not store.refs.path.exists() and not store.blobs.dir.is_dir():
        click.echo(f"The store at {store.root} is empty: nothing to check.")
        return
    problems = store.check()
    for problem in problems:
        click.echo(problem)
    if problems:
        raise StoreError(f"the store at {store.root} has {len(problems)} "
                         f"problem{'s' if len(problems) != 1 else ''}")
    blobs = len(store.blobs.all())
    images = len(store.images())
    click.echo(f"The store at {store.root} is consistent: {images} "
               f"image{'s' if images != 1 else ''}, {blobs} blob{'s' if blobs != 1 else ''} "
               "verified.")


@system_group.command("prune")
@click.option("-a", "--all", "all_images", is_flag=True,
              help="Remove all unused images, not just dangling ones")
@filter_option
@force_option
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes")
@click.pass_context
def prune(ctx: click.Context, all_images: bool, filters: tuple[str, ...], force: bool,
          volumes: bool) -> None:
    """Remove stopped containers, unused images and the build cache."""
    from minidock.store.filters import parse_prune_filters

    settings: Settings = ctx.obj
    parsed = parse_prune_filters(filters)
    lines = ["WARNING! This will remove:", "  - all stopped containers"]
    if volumes:
        lines.append("  - all anonymous volumes not used by at least one container")
    lines.append("  - all images without at least one container associated to them"
                 if all_images else "  - all dangling images")
    lines.append("  - all build cache" if all_images else "  - unused build cache")
    if not force and not confirm("\n".join(lines) + "\n"):
        return
    store = open_store(ctx)
    removed_containers = _prune_containers(settings, parsed)
    reclaimed = 0
    if volumes:
        reclaimed += _prune_volumes(settings, {k: v for k, v in parsed.items() if k != "until"})
    store.cache.prune()
    events, freed = prune_images(store, all_images=all_images, in_use=in_use_image_ids(settings),
                                 filters=parsed)
    reclaimed += freed
    if removed_containers:
        click.echo("Deleted Containers:\n" + "\n".join(removed_containers) + "\n")
    print_prune_report(events, reclaimed)


def _prune_containers(settings: Settings, filters: dict[str, list[str]]) -> list[str]:
    try:
        from minidock.runtime.control import prune_containers
    except ImportError:
        return []
    return prune_containers(settings.root, filters)


def _prune_volumes(settings: Settings, filters: dict[str, list[str]]) -> int:
    try:
        from minidock.runtime.control import prune_volumes
    except ImportError:
        return 0
    _names, reclaimed = prune_volumes(settings.root, filters=filters)
    return reclaimed


# ---------------------------------------------------------------- version, info


def version_document(settings: Settings) -> dict[str, Any]:
    plat = host_platform()
    return {
        "Client": {
            "Version": __version__,
            "ApiVersion": "none (minidock has no daemon and no API)",
            "PythonVersion": platform.python_version(),
            "Os": plat["os"],
            "Arch": plat["architecture"],
            "ImageFormat": "OCI image-spec v1.1 (reads Docker image manifest v2.2)",
            "Root": str(settings.root),
        },
        "Server": None,
    }


def _labelled(label: str, value: str) -> str:
    return f" {(label + ':').ljust(LABEL_WIDTH)}{value}"


@click.command("version")
@format_option_short
@click.pass_context
def version(ctx: click.Context, fmt: str | None) -> None:
    """Show the minidock version information."""
    _show(version_document(ctx.obj), fmt, _version_lines)


def _version_lines(doc: dict[str, Any]) -> list[str]:
    client = doc["Client"]
    return [
        "Client: minidock",
        _labelled("Version", client["Version"]),
        _labelled("API version", client["ApiVersion"]),
        _labelled("Python version", client["PythonVersion"]),
        _labelled("OS/Arch", f"{client['Os']}/{client['Arch']}"),
        _labelled("Image format", client["ImageFormat"]),
        _labelled("Store", client["Root"]),
        "",
        "Server: none (every command works on the store directly)",
    ]


def _show(doc: dict[str, Any], fmt: str | None,
          lines: Callable[[dict[str, Any]], list[str]]) -> None:
    """`--format`'s Go template over `doc`, or Docker's plain layout of it."""
    if fmt:
        from minidock.cli.gotemplate import render

        click.echo(render(fmt, doc))
    else:
        click.echo("\n".join(lines(doc)))


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _total_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _driver(settings: Settings) -> str:
    try:
        from minidock.runtime.storage import storage_driver
    except ImportError:
        return settings.storage_driver or "unknown"
    try:
        return storage_driver(settings)
    except (MinidockError, OSError) as exc:
        return f"unknown ({exc})"


def info_document(settings: Settings) -> dict[str, Any]:
    store = Store(settings)
    containers = _containers(settings)
    running = sum(1 for c in containers if c.running)
    return {
        "ClientVersion": __version__,
        "DebugMode": bool(click.get_current_context().meta.get("debug")),
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": sum(1 for c in containers if c.status == "paused"),
        "ContainersStopped": len(containers) - running,
        "Images": len(store.images()),
        "Driver": _driver(settings),
        "DefaultCompression": settings.compression,
        "Rootless": os.geteuid() != 0,
        "RootDir": str(settings.root),
        "DockerRootDir": str(settings.root),  # Docker's name for the same, for templates
        "ServerVersion": __version__,  # no daemon: the library is the engine
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": _total_memory(),
        "Name": platform.node(),
        "PythonVersion": sys.version.split()[0],
    }


@click.command("info")
@format_option_short
@click.pass_context
def info(ctx: click.Context, fmt: str | None) -> None:
    """Display system-wide information."""
    _show(info_document(ctx.obj), fmt, _info_lines)


def _info_lines(doc: dict[str, Any]) -> list[str]:
    return [
        "Client:",
        f" Version:    {doc['ClientVersion']}",
        f" Debug Mode: {'true' if doc['DebugMode'] else 'false'}",
        "",
        "Store:",
        f" Containers: {doc['Containers']}",
        f"  Running: {doc['ContainersRunning']}",
        f"  Paused: {doc['ContainersPaused']}",
        f"  Stopped: {doc['ContainersStopped']}",
        f" Images: {doc['Images']}",
        f" Storage Driver: {doc['Driver']}",
        f" Default Compression: {doc['DefaultCompression']}",
        f" Rootless: {'true' if doc['Rootless'] else 'false'}",
        f" Root Dir: {doc['RootDir']}",
        f" Cgroup Driver: {doc['CgroupDriver']}",
        f" Cgroup Version: {doc['CgroupVersion']}",
        f" Kernel Version: {doc['KernelVersion']}",
        f" Operating System: {doc['OperatingSystem']}",
        f" OSType: {doc['OSType']}",
        f" Architecture: {doc['Architecture']}",
        f" CPUs: {doc['NCPU']}",
        f" Total Memory: {bytes_size(doc['MemTotal'])}",
        f" Name: {doc['Name']}",
        f" Python Version: {doc['PythonVersion']}",
    ]


system_group.add_command(info, "info")
