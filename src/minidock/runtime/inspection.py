"""The Docker-shaped `inspect` document of a container, built from its record."""

from __future__ import annotations

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
