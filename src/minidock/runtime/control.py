"""Controlling containers after they started: wait, stop, kill, remove, prune,
and removing the volumes they no longer use.
"""

from __future__ import annotations

import os
import signal

from minidock.errors import ConflictError, MinidockError
from minidock.fsutil import remove_tree
from minidock.runtime.containers import (
    Container,
    containers_dir,
    find_container,
    load_record,
    release_name,
    reserve_name,
)
from minidock.runtime.options import parse_signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from minidock.runtime.containers import StrPath
    from minidock.settings import Settings

DEFAULT_STOP_TIMEOUT = 10

KILL_WAIT = 30.0


def wait_for_exit(container: Container, timeout: float | None) -> bool:
    """Wait until the container's supervisor is gone (its end is then recorded)."""
    import select

    pid = container.supervisor_pid
    if not container.supervisor_alive():
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not container.supervisor_alive():  # the PID may have been reused meanwhile
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else int(timeout * 1000)))
    finally:
        os.close(fd)


def _signal_container(container: Container, sig: int) -> None:
    if not container.container_alive():
        return
    try:
        os.kill(container.pid, sig)
    except ProcessLookupError:
        pass


def stop_container(container: Container, timeout: int | None = None,
                   signum: int | None = None) -> None:
    """Docker's stop: the stop signal (the image's STOPSIGNAL unless `signum`),
    then SIGKILL after `timeout` seconds (StopTimeout, else 10; -1 waits forever)."""
    container.refresh()
    if not container.running:
        return
    cfg = container.data["Config"]
    if timeout is None:
        timeout = cfg.get("StopTimeout")
        timeout = DEFAULT_STOP_TIMEOUT if timeout is None else int(timeout)
    _signal_container(container, signum or parse_signal(cfg.get("StopSignal")))
    if timeout < 0:
        wait_for_exit(container, None)
        return
    if not wait_for_exit(container, timeout):
        _signal_container(container, signal.SIGKILL)
        wait_for_exit(container, KILL_WAIT)
    reload_record(container)


def kill_container(container: Container, sig: int = signal.SIGKILL) -> None:
    container.refresh()
    if not container.running:
        raise ConflictError(f"Cannot kill container: {container.name}: container "
                            f"{container.short_id} is not running")
    _signal_container(container, sig)
    if sig == signal.SIGKILL:
        wait_for_exit(container, KILL_WAIT)
    reload_record(container)


def reload_record(container: Container) -> None:
    """Re-read the record (a removed container keeps what it had)."""
    try:
        container.data = load_record(container.root, container.id).refresh().data
    except MinidockError:
        pass


def wait_container(container: Container) -> int:
    """Block until the container stops; its exit code."""
    container.refresh()
    if container.running:
        wait_for_exit(container, None)
        reload_record(container)
    return int(container.state.get("ExitCode") or 0)


def rename_container(container: Container, new_name: str) -> None:
    """`docker rename`: the new name is reserved first (so a concurrent create cannot
    take it), then the record changes under the container's lock, then the old name
    goes. A supervisor reloads the record before it writes the exit, so it keeps the
    new name."""
    new_name = new_name[1:] if new_name.startswith("/") else new_name
    if new_name == container.name:
        raise ConflictError("Renaming a container with the same name as its current name")
    reserve_name(container.root, new_name, container.id)
    try:
        with container.lock():
            current = load_record(container.root, container.id)
            old_name = current.name
            current.data["Name"] = new_name
            current.save()
    except BaseException:
        release_name(container.root, new_name, container.id)
        raise
    release_name(container.root, old_name, container.id)
    container.data = current.data


def remove_container(container: Container, *, force: bool = False, volumes: bool = False,
                     stopped: bool = False) -> None:
    """Docker's rm: refuses a running container unless forced (then kills it).

    `volumes` also removes its anonymous volumes. `stopped` is for the
    container's own supervisor, which knows the container has ended.
    """
    root = container.root
    if not stopped:
        container.refresh()
        if container.running:
            if not force:
                raise ConflictError(
                    f"You cannot remove a running container {container.id}. Stop the "
                    "container before attempting removal or force remove")
            _signal_container(container, signal.SIGKILL)
            if container.supervisor_pid != os.getpid():
                wait_for_exit(container, KILL_WAIT)
    release_name(root, container.name, container.id)
    trash = os.path.join(containers_dir(root), f".rm-{container.id}")
    try:
        os.rename(container.path, trash)
    except FileNotFoundError:
        return  # someone else removed it
    remove_tree(trash)
    anonymous = [m["Name"] for m in container.data.get("Mounts", [])
                 if m.get("Type") == "volume" and m.get("Anonymous")]
    if volumes and anonymous:
        from minidock.runtime.containers import volumes_in_use
        from minidock.runtime.volumes import volumes_dir

        used = volumes_in_use(root)
        for name in anonymous:
            if name not in used:
                remove_tree(volumes_dir(root) / name)


def prune_containers(root: StrPath, filters: dict[str, list[str]] | None = None
                     ) -> list[str]:
    """Remove every stopped container that passes the parsed prune `filters`
    (until, label, label!); returns their IDs."""
    from minidock.runtime.clock import parse_iso
    from minidock.runtime.containers import list_containers
    from minidock.store.filters import prune_passes

    removed = []
    for c in list_containers(root):
        labels = c.data["Config"].get("Labels") or {}
        if not c.running and (not filters or prune_passes(
                filters, labels, parse_iso(c.data["Created"]))):
            remove_container(c, volumes=False)
            removed.append(c.id)
    return removed


def get_container(settings: Settings, ref: str) -> Container:
    return find_container(settings.root, ref)


def remove_volume(root: StrPath, name: str, *, force: bool = False) -> None:
    """Docker's `volume rm`: refuses a volume a container uses unless forced."""
    from minidock.runtime.containers import volumes_in_use
    from minidock.runtime.volumes import get_volume

    vol = get_volume(root, name)
    users = volumes_in_use(root).get(name)
    if users and not force:
        raise ConflictError(f"remove {name}: volume is in use - [{', '.join(users)}]")
    remove_tree(vol.path)


def prune_volumes(root: StrPath, *, all_volumes: bool = False,
                  filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
    """Remove unused anonymous volumes (all unused ones with `all_volumes`) that
    pass the parsed prune `filters` (label, label!); returns (names, bytes reclaimed)."""
    from minidock.fsutil import tree_size
    from minidock.runtime.containers import volumes_in_use
    from minidock.runtime.volumes import list_volumes
    from minidock.store.filters import prune_passes

    used = volumes_in_use(root)
    removed: list[str] = []
    reclaimed = 0
    for vol in list_volumes(root):
        if vol.name in used or not (vol.anonymous or all_volumes):
            continue
        if filters and not prune_passes(filters, vol.labels, None):
            continue
        reclaimed += tree_size(vol.mountpoint)
        remove_tree(vol.path)
        removed.append(vol.name)
    return removed, reclaimed
