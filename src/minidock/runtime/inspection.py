"""The Docker-shaped `inspect` document of a container, built from its record."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from minidock.runtime.containers import LOG_FILE, Container, find_container
from minidock.runtime.rootfs import OVERLAY, unique_layers

if TYPE_CHECKING:
    from minidock.settings import Settings
    from minidock.store.store import Store


def _ports(container: Container) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed port, with its host bindings when running."""
    out: dict[str, Any] = {}
    for key in container.data["Config"].get("ExposedPorts") or {}:
        out[key] = None
    for p in container.data.get("Ports") or []:
        key = f"{p['PrivatePort']}/{p['Type']}"
        if out.get(key) is None:
            out[key] = []
        out[key].append({"HostIp": p["IP"], "HostPort": str(p["PublicPort"])})
    return out


def _graph_driver(container: Container) -> dict[str, Any]:
    d = container.dir
    if container.data.get("Driver") == OVERLAY:
        lowers = [str(d / "init"), *reversed(unique_layers(container.data.get("Layers", [])))]
        return {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(lowers), "MergedDir": str(d / "merged"),
            "UpperDir": str(d / "upper"), "WorkDir": str(d / "work")}}
    return {"Name": "vfs", "Data": {"RootDir": str(d / "rootfs")}}


def container_document(container: Container) -> dict[str, Any]:
    data = container.data
    state = data["State"]
    cfg = data["Config"]
    host = data["HostConfig"]
    spec = data["Spec"]
    network = host.get("NetworkMode") or "default"
    status = state["Status"]
    return {
        "Id": container.id,
        "Created": data["Created"],
        "Path": data["Path"],
        "Args": data["Args"],
        "State": {
            "Status": status, "Running": status == "running", "Paused": False,
            "Restarting": False, "OOMKilled": False, "Dead": False,
            "Pid": state.get("Pid") or 0, "ExitCode": state.get("ExitCode") or 0,
            "Error": state.get("Error") or "", "StartedAt": state.get("StartedAt"),
            "FinishedAt": state.get("FinishedAt"),
        },
        "Image": data["Image"],
        "ResolvConfPath": str(container.dir / "resolv.conf"),
        "HostnamePath": str(container.dir / "hostname"),
        "HostsPath": str(container.dir / "hosts"),
        "LogPath": str(container.dir / LOG_FILE),
        "Name": "/" + container.name,
        "RestartCount": 0,
        "Driver": "overlay2" if data.get("Driver") == OVERLAY else "vfs",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": {
            "Binds": host.get("Binds") or None,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": network,
            "PortBindings": host.get("PortBindings") or {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": bool(host.get("AutoRemove")),
            "PublishAllPorts": bool(host.get("PublishAllPorts")),
            "ReadonlyRootfs": bool(host.get("ReadonlyRootfs")),
            "Init": bool(host.get("Init")),
            "Privileged": False,
        },
        "GraphDriver": _graph_driver(container),
        "Mounts": [{k: v for k, v in m.items() if k != "Anonymous"}
                   for m in data.get("Mounts", [])],
        "Config": {
            "Hostname": cfg.get("Hostname") or spec.get("hostname", ""),
            "Domainname": "",
            "User": cfg.get("User") or "",
            "AttachStdin": bool(cfg.get("AttachStdin")),
            "AttachStdout": bool(cfg.get("AttachStdout")),
            "AttachStderr": bool(cfg.get("AttachStderr")),
            "ExposedPorts": cfg.get("ExposedPorts"),
            "Tty": bool(cfg.get("Tty")),
            "OpenStdin": bool(cfg.get("OpenStdin")),
            "StdinOnce": bool(cfg.get("StdinOnce")),
            "Env": cfg.get("Env"),
            "Cmd": cfg.get("Cmd"),
            "Image": cfg.get("Image") or data.get("ImageName"),
            "Volumes": cfg.get("Volumes"),
            "WorkingDir": cfg.get("WorkingDir") or "",
            "Entrypoint": cfg.get("Entrypoint"),
            "OnBuild": None,
            "Labels": cfg.get("Labels") or {},
            **({"StopSignal": cfg["StopSignal"]} if cfg.get("StopSignal") else {}),
            **({"StopTimeout": cfg["StopTimeout"]} if cfg.get("StopTimeout") is not None
               else {}),
        },
        "NetworkSettings": {
            "Ports": _ports(container),
            "SandboxKey": f"/proc/{state.get('Pid')}/ns/net" if status == "running" else "",
            "IPAddress": "",
            "Networks": {network: {}} if network != "none" else {"none": {}},
        },
    }


def inspect_container(settings: Settings, ref: str) -> dict[str, Any]:
    """Docker's `inspect` document for the container `ref` (ContainerNotFound if none)."""
    return container_document(find_container(settings.root, ref))


def container_sizes(store: Store, container: Container) -> tuple[int, int]:
    """Docker's SizeRw and SizeRootFs: the bytes of the container's own layer, then
    with its image's."""
    from minidock.errors import MinidockError
    from minidock.runtime.changes import container_layer_size

    rw = container_layer_size(container)
    try:
        image_size = store.image(container.image_id).size
    except MinidockError:
        image_size = 0
    return rw, rw + image_size


def _layer_origins(store: Store, image_id: str) -> dict[str, tuple[str, str]]:
    """Layer dir name (diff_id hex) -> (diff_id, the history entry that made it)."""
    from minidock.store.layers import history_rows

    image = store.find_image(image_id)
    if image is None:
        return {}  # the image was removed since; the layer dirs stay while in use
    made_by = {row.layer: row.created_by for row in history_rows(image) if row.layer is not None}
    return {diff_id.hex: (str(diff_id), made_by.get(n, ""))
            for n, diff_id in enumerate(image.diff_ids)}


def _mounted_options(pid: int) -> str | None:
    """The super options of the overlay mounted as `/` in process `pid`'s mount namespace."""
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if len(parts) > 4 and parts[4] == "/" and len(rest) > 2 and rest[0] == "overlay":
            return rest[2]
    return None


def storage_document(store: Store, container: Container) -> dict[str, Any]:
    """Where a container's filesystem is on disk: its overlay stack (lower dirs top
    first, each with its layer's diff_id and instruction; upper, work, merged and
    the mount options) or, for the copy driver, the layers it copied; and where
    each volume's data lives."""
    from minidock.runtime.rootfs import overlay_options

    d = container.dir
    layers = unique_layers(container.data.get("Layers", []))
    origins = _layer_origins(store, container.image_id)

    def layer(path: str, target: str) -> dict[str, str]:
        diff_id, created_by = origins.get(os.path.basename(target), ("", ""))
        return {"Path": path, "LayerDir": target, "DiffID": diff_id, "CreatedBy": created_by}

    volumes = [{"Type": m.get("Type", ""), "Name": m.get("Name", ""),
                "Destination": m.get("Destination", ""), "Source": m.get("Source", "")}
               for m in container.data.get("Mounts", [])]
    if container.data.get("Driver") != OVERLAY:
        return {"Driver": "copy", "ContainerDir": str(d), "RootDir": str(d / "rootfs"),
                "CopiedLayers": [layer(p, p) for p in layers], "Volumes": volumes}
    lowers = [{"Path": str(d / "init"), "LayerDir": os.path.realpath(d / "init"),
               "DiffID": "", "CreatedBy": "the init tree: /etc/hosts, /etc/resolv.conf, "
                                          "mount points for /proc, /sys, /dev"}]
    lowers += [layer(str(d / "lower" / str(n)), target)
               for n, target in reversed(list(enumerate(layers)))]
    pid = container.data["State"].get("Pid") if container.status == "running" else None
    mounted = _mounted_options(pid) if pid else None
    options = mounted or overlay_options(
        [os.path.relpath(lower["Path"], d) for lower in lowers], str(d / "upper"),
        str(d / "work"), rootless=os.geteuid() != 0)
    return {"Driver": "overlay", "ContainerDir": str(d), "LowerDirs": lowers,
            "UpperDir": str(d / "upper"), "WorkDir": str(d / "work"),
            "MergedDir": str(d / "merged"), "MountOptions": options,
            "MountOptionsFrom": "the running container's mountinfo" if mounted
            else "computed: the container is not running",
            "Volumes": volumes}
