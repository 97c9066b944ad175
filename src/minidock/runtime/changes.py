"""A container's changes against its image: `diff`, `commit` and `export`.

overlay: the upper dir *is* the change set (whiteouts included), so `diff`
lists it and `commit` writes it as a layer. copy: the container's rootfs is
compared with a fresh stacking of the image's layers (made in the container
dir for the occasion and removed after), using the directory identities saved
when the rootfs was made to notice replaced directories. The init tree
(/proc, /sys, /dev mount points, /etc/hosts, ...) is never a change.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from minidock.runtime.clock import now_iso
from minidock.runtime.containers import Container
from minidock.runtime.rootfs import INIT_PATHS, OVERLAY, CopyDriver, unique_layers

DIR_IDS = "dirids.json"


def save_dir_identities(bundle: str) -> None:
    """For the copy driver: remember the rootfs' directories right after creation."""
    from minidock.layer.differ import snapshot_dir_identities

    ids = snapshot_dir_identities(os.path.join(bundle, "rootfs"))
    with open(os.path.join(bundle, DIR_IDS), "w") as f:
        json.dump(ids, f)


def _dir_identities(container: Container) -> dict[str, Any] | None:
    try:
        return json.loads((container.dir / DIR_IDS).read_text())
    except (OSError, ValueError):
        return None


@contextmanager
def _image_tree(container: Container) -> Iterator[Path]:
    """The image's layers stacked in a scratch dir (copy driver), removed afterwards."""
    from minidock.fsutil import remove_tree

    scratch = container.dir / f".base-{os.getpid()}-{os.urandom(4).hex()}"
    scratch.mkdir()
    try:
        CopyDriver().create(str(scratch), container.data.get("Layers", []))
        yield scratch / "rootfs"
    finally:
        remove_tree(scratch)


def _is_init_path(path: str) -> bool:
    return path in INIT_PATHS


def container_changes(container: Container) -> list[Any]:
    """`docker diff`: Change(kind "A"/"C"/"D", path) entries sorted by path."""
    from minidock.layer.differ import changes, overlay_changes

    if container.data.get("Driver") == OVERLAY:
        lowers = [str(container.dir / "init"),
                  *reversed(unique_layers(container.data.get("Layers", [])))]
        found = overlay_changes(container.dir / "upper", lowers)
    else:
        with _image_tree(container) as base:
            found = changes(base, container.dir / "rootfs",
                            dir_identities=_dir_identities(container))
    return [c for c in found if not _is_init_path(c.path)]


def container_layer_size(container: Container) -> int:
    """Docker's SizeRw: bytes of the files the container added or changed (the
    overlay upper dir; for the copy driver, the changed entries of its copy)."""
    import stat as stat_mod

    from minidock.fsutil import content_size

    if container.data.get("Driver") == OVERLAY:
        return content_size(container.dir / "upper")
    rootfs = str(container.dir / "rootfs")
    total = 0
    for change in container_changes(container):
        if change.kind == "D":
            continue
        try:
            st = os.lstat(rootfs + change.path)
        except OSError:
            continue
        if not stat_mod.S_ISDIR(st.st_mode):
            total += st.st_size
    return total


def write_container_layer(container: Container, sink: BinaryIO, compression: str) -> Any:
    """The container's changes as a layer tar; returns the writer's LayerInfo."""
    from minidock.layer.differ import diff_overlay_upper, diff_trees
    from minidock.runtime.idmap import rootless_owners

    owners = rootless_owners()
    if container.data.get("Driver") == OVERLAY:
        return diff_overlay_upper(container.dir / "upper", sink, compression, owners=owners)
    with _image_tree(container) as base:
        return diff_trees(base, container.dir / "rootfs", sink, compression,
                          dir_identities=_dir_identities(container), owners=owners)


def commit_container(settings: Any, container: Container, reference: str | None, *,
                     message: str = "", author: str = "") -> Any:
    """A new image: the container's image plus its changes as one more layer.

    The new image's config takes the container's (command, env, working dir,
    user, ports, volumes), as Docker's commit does.
    """
    from minidock.oci.model import Descriptor
    from minidock.reference import parse
    from minidock.store.store import Store

    tags = [parse(reference)] if reference else []
    store = Store(settings)
    image = store.image(container.image_id)
    with store.writing():
        with store.blob_writer() as writer:
            info = write_container_layer(container, cast("BinaryIO", writer),
                                         settings.compression)
            writer.commit()
        layer = Descriptor(info.media_type, info.digest, info.size)
        config = copy.deepcopy(image.config)
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        config["rootfs"].setdefault("diff_ids", []).append(str(info.diff_id))
        created = now_iso()
        config["created"] = created
        if author:
            config["author"] = author
        cfg = dict(config.get("config") or {})
        ccfg = container.data["Config"]
        for key in ("User", "Env", "Cmd", "Entrypoint", "WorkingDir", "ExposedPorts",
                    "Volumes", "Labels", "StopSignal"):
            value = ccfg.get(key)
            if value in (None, "", {}, []):
                cfg.pop(key, None)
            else:
                cfg[key] = value
        cfg["Hostname"] = ""
        config["config"] = cfg
        history = list(config.get("history") or [])
        entry: dict[str, Any] = {"created": created, "created_by": " ".join(
            [container.data["Path"], *container.data["Args"]])}
        if message:
            entry["comment"] = message
        if author:
            entry["author"] = author
        history.append(entry)
        config["history"] = history
        return store.add_image(config, [*image.layers, layer], tags=tags)


def export_container(container: Container, sink: BinaryIO) -> None:
    """The container's filesystem (without volumes and kernel filesystems) as a tar."""
    from minidock.layer.writer import write_tree
    from minidock.runtime.rootaccess import in_container_mount_ns

    skip = {m.target.lstrip("/") for m in container.spec.mounts} | {"proc", "sys", "dev"}

    def work(root: str) -> None:
        write_tree(root, sink, "none", xattrs=None, prune=lambda rel: rel in skip)
        sink.flush()

    in_container_mount_ns(container, work)
