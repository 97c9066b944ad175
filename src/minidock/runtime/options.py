"""The `run` flags (RunOptions) and the parsing of their values: -p, -v, -e,
--env-file, --network, --stop-signal.

Pure functions that raise UsageError (exit 125) with Docker's kind of wording, so
bad input fails before anything is created.
"""

from __future__ import annotations

import os
import signal

from minidock.errors import UsageError
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

_VOLUME_NAME_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


class PortBinding(Record):
    """One published port: host address (""= all), host port (0 = any free), container port."""

    __slots__ = ("host_ip", "host_port", "container_port", "proto")

    def __init__(self, host_ip: str, host_port: int, container_port: int, proto: str = "tcp"):
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_port = container_port
        self.proto = proto

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


class MountSpec(Record):
    """A `-v` value: kind is "bind", "volume" (named) or "anonymous"."""

    __slots__ = ("kind", "source", "target", "readonly")

    def __init__(self, kind: str, source: str, target: str, readonly: bool = False):
        self.kind = kind
        self.source = source  # host path for binds, volume name for volumes, "" for anonymous
        self.target = target
        self.readonly = readonly


def _port_number(text: str, spec: str, allow_zero: bool) -> int:
    if not text.isdigit():
        raise UsageError(f"invalid port specification: {spec!r}")
    value = int(text)
    if value > 65535 or (value == 0 and not allow_zero):
        raise UsageError(f"invalid port specification: {spec!r}: port out of range")
    return value


def _port_range(text: str, spec: str, allow_zero: bool) -> list[int]:
    if "-" in text:
        lo_text, _, hi_text = text.partition("-")
        lo = _port_number(lo_text, spec, False)
        hi = _port_number(hi_text, spec, False)
        if hi < lo:
            raise UsageError(f"invalid port range: {spec!r}")
        return list(range(lo, hi + 1))
    return [_port_number(text, spec, allow_zero)]


def parse_publish(spec: str) -> list[PortBinding]:
    """`[ip:][hostPort:]containerPort[/proto]`, ranges allowed (`8000-8001:80-81`)."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto != "tcp":
        if proto in ("udp", "sctp"):
            raise UsageError(f"publishing {proto} ports is not supported: {spec!r}")
        raise UsageError(f"invalid proto {proto!r} in port specification {spec!r}")
    host_ip = ""
    if body.startswith("["):  # [v6addr]:host:container
        close = body.find("]")
        if close < 0 or body[close + 1:close + 2] != ":":
            raise UsageError(f"invalid port specification: {spec!r}")
        host_ip, body = body[1:close], body[close + 2:]
        parts = body.split(":")
        if len(parts) == 1:
            parts = ["", parts[0]]
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
        elif len(parts) > 3:
            raise UsageError(f"invalid port specification: {spec!r}")
    if len(parts) == 1:
        host_text, ctr_text = "", parts[0]
    else:
        host_text, ctr_text = parts
    if host_ip:
        _check_ip(host_ip, spec)
    ctr_ports = _port_range(ctr_text, spec, False)
    host_ports = _port_range(host_text, spec, True) if host_text else [0] * len(ctr_ports)
    if len(host_ports) != len(ctr_ports):
        if len(host_ports) > 1:
            raise UsageError(f"invalid ranges specified for container and host ports: {spec!r}")
        host_ports = host_ports * len(ctr_ports)
    return [PortBinding(host_ip, h, c, proto) for h, c in zip(host_ports, ctr_ports, strict=True)]


def _check_ip(text: str, spec: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"invalid IP address {text!r} in port specification {spec!r}") from None


def parse_volume(spec: str) -> MountSpec:
    """`name:/path[:ro|rw]`, `/host:/path[:ro|rw]` or `/path` (an anonymous volume)."""
    parts = spec.split(":")
    mode = ""
    if len(parts) == 3:
        mode = parts.pop()
    elif len(parts) > 3 or not all(parts):
        raise UsageError(f"invalid volume specification: {spec!r}")
    readonly = False
    for opt in mode.split(",") if mode else []:
        if opt == "ro":
            readonly = True
        elif opt not in ("rw", "z", "Z"):
            raise UsageError(f"invalid mode: {opt!r} in volume specification {spec!r}")
    if len(parts) == 1:
        target = parts[0]
        _check_target(target, spec)
        return MountSpec("anonymous", "", _normal(target), readonly)
    source, target = parts
    _check_target(target, spec)
    if source.startswith("/"):
        return MountSpec("bind", os.path.normpath(source), _normal(target), readonly)
    if source[0] not in _VOLUME_NAME_OK[:62] or any(c not in _VOLUME_NAME_OK for c in source):
        raise UsageError(
            f"{source!r} includes invalid characters for a local volume name, only "
            f"\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you intended to pass a host "
            "directory, use an absolute path")
    return MountSpec("volume", source, _normal(target), readonly)


def _check_target(target: str, spec: str) -> None:
    if not target.startswith("/"):
        raise UsageError(f"invalid volume specification: {spec!r}: mount path {target!r} "
                         "must be absolute")
    if _normal(target) == "/":
        raise UsageError(f"invalid volume specification: {spec!r}: destination can't be '/'")


def _normal(path: str) -> str:
    return os.path.normpath(path).replace("//", "/")


def parse_env(items: list[str], host_env: Mapping[str, str]) -> list[str]:
    """`-e K=V` or `-e K` (taken from the host environment, dropped when unset)."""
    out: list[str] = []
    for item in items:
        name, eq, value = item.partition("=")
        if not name:
            raise UsageError(f"invalid environment variable: {item!r}")
        if eq:
            out.append(f"{name}={value}")
        elif name in host_env:
            out.append(f"{name}={host_env[name]}")
    return out


def read_env_file(path: str, host_env: Mapping[str, str]) -> list[str]:
    """Docker's --env-file: `K=V` lines, `K` from the host, `#` comments; no quote removal."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise UsageError(f"open {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"env file {path} is not valid UTF-8") from None
    items: list[str] = []
    for line in lines:
        text = line.lstrip()
        if not text or text.startswith("#"):
            continue
        name = text.partition("=")[0]
        if not name or any(c.isspace() for c in name):
            raise UsageError(f"invalid environment variable in {path}: variable {name!r} "
                             "contains whitespaces" if name else
                             f"invalid environment variable in {path}: {line!r}")
        items.append(text)
    return parse_env(items, host_env)


def merge_env(base: list[str], overrides: list[str]) -> list[str]:
    """Image env overridden by user env, keeping the image's order (as Docker does)."""
    order: list[str] = []
    values: dict[str, str] = {}
    for item in [*base, *overrides]:
        name, _, value = item.partition("=")
        if name not in values:
            order.append(name)
        values[name] = value
    return [f"{name}={values[name]}" for name in order]


class RunOptions(Record):
    """The `run`/`create` flags, as given (validated by `create_container`)."""

    __slots__ = ("image", "command", "name", "env", "env_files", "workdir", "user",
                 "entrypoint", "publish", "publish_all", "volumes", "network", "hostname",
                 "init", "read_only", "interactive", "tty", "rm", "detach", "stop_signal",
                 "stop_timeout", "labels")

    def __init__(self, image: str, command: list[str] | None = None, *,
                 name: str | None = None, env: list[str] | None = None,
                 env_files: list[str] | None = None, workdir: str | None = None,
                 user: str | None = None, entrypoint: str | None = None,
                 publish: list[str] | None = None, publish_all: bool = False,
                 volumes: list[str] | None = None, network: str = "default",
                 hostname: str | None = None, init: bool = False, read_only: bool = False,
                 interactive: bool = False, tty: bool = False, rm: bool = False,
                 detach: bool = False, stop_signal: str | None = None,
                 stop_timeout: int | None = None, labels: dict[str, str] | None = None):
        self.image = image
        self.command = list(command or [])
        self.name = name
        self.env = list(env or [])
        self.env_files = list(env_files or [])
        self.workdir = workdir
        self.user = user
        self.entrypoint = entrypoint
        self.publish = list(publish or [])
        self.publish_all = publish_all
        self.volumes = list(volumes or [])
        self.network = network
        self.hostname = hostname
        self.init = init
        self.read_only = read_only
        self.interactive = interactive
        self.tty = tty
        self.rm = rm
        self.detach = detach
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.labels = dict(labels or {})


def network_mode(value: str) -> str:
    if value in ("default", "bridge", "private", ""):
        return "private"
    if value in ("host", "none"):
        return value
    raise UsageError(f"network {value} not found", hint="use default, host or none")


def parse_signal(value: str | int | None, default: int = signal.SIGTERM) -> int:
    """`SIGQUIT`, `QUIT`, `quit` or `3` -> 3."""
    if value is None or value == "":
        return default
    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if isinstance(sig, signal.Signals):
            return int(sig)
    raise UsageError(f"invalid signal: {value}")
