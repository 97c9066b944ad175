"""Python values of `run`'s arguments -> the runtime's flag strings.

The API takes what a Python caller naturally has (`ports={80: None}`,
`env={"K": "v"}`, `volumes={Path("site"): "/usr/share/nginx/html"}`) and turns
it into the same `-p`/`-e`/`-v` strings the CLI passes to the runtime, so both
share one validation path. Wrong types raise TypeError and impossible values
ValueError, each naming the argument, before anything is created.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_NETWORKS = ("default", "bridge", "host", "none")


def _kind(value: object) -> str:
    return type(value).__name__


def _is_sequence(value: object) -> TypeGuard[Sequence[object]]:
    """A list or tuple of items, not a string (which is a sequence of characters)."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def optional_str(value: object, argument: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{argument} must be a str or None, not {_kind(value)}")


def argv(value: object, argument: str) -> list[str] | None:
    """A command: None (the image's), a list of arguments, or a string split like a shell."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{argument} {value!r} cannot be split into words: {exc}") from None
        if not words:
            raise ValueError(f"{argument} must not be empty")
        return words
    if _is_sequence(value):
        words = []
        for item in value:
            if not isinstance(item, str | os.PathLike):
                raise TypeError(f"{argument} items must be str, not {_kind(item)}")
            words.append(os.fspath(item))
        if not words:
            raise ValueError(f"{argument} must not be empty")
        return words
    raise TypeError(f"{argument} must be a str or a list of str, not {_kind(value)}")


def _port_number(value: object, argument: str, *, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{argument} must be an int, not {_kind(value)}")
    if isinstance(value, str):
        if not value.isdigit():
            raise ValueError(f"{argument} {value!r} is not a port number")
        value = int(value)
    if not (0 if allow_zero else 1) <= value <= 65535:
        raise ValueError(f"{argument} {value} is out of range (1-65535)")
    return value


def container_port(value: object) -> int:
    """`80`, `"80"` or `"80/tcp"` -> 80; other protocols are refused."""
    if isinstance(value, str):
        number, _, proto = value.partition("/")
        if proto and proto != "tcp":
            raise ValueError(f"port {value!r}: only tcp ports can be published")
        value = number
    return _port_number(value, "container port", allow_zero=False)


def _host_side(value: object, port: int) -> tuple[str, int]:
    """One host binding: None (any free port), a port, or (address, port or None)."""
    if value is None:
        return "", 0
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"host binding for port {port} must be (address, port), got "
                             f"{value!r}")
        address, host_port = value
        if not isinstance(address, str):
            raise TypeError(f"host address for port {port} must be a str, not {_kind(address)}")
        number = 0 if host_port is None else _port_number(
            host_port, f"host port for port {port}", allow_zero=True)
        return address, number
    return "", _port_number(value, f"host port for port {port}", allow_zero=True)


def _publish_spec(address: str, host_port: int, port: int) -> str:
    if not address:
        return f"{host_port}:{port}"
    if ":" in address:
        return f"[{address}]:{host_port}:{port}"
    return f"{address}:{host_port}:{port}"


def publish(value: object) -> list[str]:
    """`ports` -> `-p` specs.

    A mapping of container port -> None (a free host port on every address),
    a host port, `(address, host_port_or_None)`, or a list of those; or a list
    of container ports, each published on a free host port.
    """
    if value is None:
        return []
    specs: list[str] = []
    if isinstance(value, Mapping):
        for key, target in value.items():
            port = container_port(key)
            targets = list(target) if isinstance(target, list) else [target]
            if not targets:
                raise ValueError(f"port {port}: the list of host bindings is empty")
            for item in targets:
                address, host_port = _host_side(item, port)
                specs.append(_publish_spec(address, host_port, port))
        return specs
    if _is_sequence(value):
        return [f"0:{container_port(item)}" for item in value]
    raise TypeError(f"ports must be a dict of container port -> host port, or a list of "
                    f"container ports, not {_kind(value)}")


def environment(value: object) -> list[str]:
    """`env` -> `-e K=V` items: a mapping, or a list of `K=V` strings."""
    if value is None:
        return []
    items: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"env names must be str, not {_kind(key)}")
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise TypeError(f"env value of {key} must be a str or a number, not "
                                f"{_kind(item)}")
            items.append(f"{key}={item}")
    elif _is_sequence(value):
        for item in value:
            if not isinstance(item, str):
                raise TypeError(f"env items must be 'NAME=value' strings, not {_kind(item)}")
            if "=" not in item:
                raise ValueError(f"env item {item!r} must have the form NAME=value")
            items.append(item)
    else:
        raise TypeError(f"env must be a dict or a list of 'NAME=value' strings, not "
                        f"{_kind(value)}")
    for item in items:
        name = item.partition("=")[0]
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"env name {name!r} is not valid")
    return items


def _volume_source(key: object) -> str:
    if isinstance(key, os.PathLike):
        return os.path.abspath(os.fspath(key))
    if not isinstance(key, str):
        raise TypeError(f"volume sources must be a str or a path, not {_kind(key)}")
    if key.startswith("/") or _VOLUME_NAME.match(key):
        return key
    raise ValueError(f"volume source {key!r} is neither an absolute host path nor a volume "
                     "name (pass a pathlib.Path for a path relative to the current directory)")


def _volume_target(value: object, source: str) -> tuple[str, str]:
    """(container path, mode) from `"/path"`, `"/path:ro"` or `{"bind": "/path", "mode": "ro"}`."""
    mode = ""
    if isinstance(value, Mapping):
        target = value.get("bind")
        mode = value.get("mode", "") or ""
        unknown = set(value) - {"bind", "mode"}
        if unknown:
            raise ValueError(f"volume {source}: unknown keys {sorted(unknown)} (use bind, mode)")
    else:
        target = value
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if not isinstance(target, str):
        raise TypeError(f"volume {source}: the container path must be a str, not "
                        f"{_kind(target)}")
    if not mode and target.count(":") == 1:
        target, mode = target.split(":")
    if not target.startswith("/"):
        raise ValueError(f"volume {source}: the container path {target!r} must be absolute")
    if mode not in ("", "ro", "rw"):
        raise ValueError(f"volume {source}: mode must be 'ro' or 'rw', not {mode!r}")
    return target, mode


def mounts(value: object) -> list[str]:
    """`volumes` -> `-v` specs: a mapping of host path or volume name -> container path
    (or `{"bind": path, "mode": "ro"}`), or a list of `source:target[:mode]` strings."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        specs = []
        for key, item in value.items():
            source = _volume_source(key)
            target, mode = _volume_target(item, source)
            specs.append(f"{source}:{target}" + (f":{mode}" if mode else ""))
        return specs
    if _is_sequence(value):
        specs = []
        for item in value:
            if not isinstance(item, str):
                raise TypeError(f"volumes items must be 'source:target[:mode]' strings, not "
                                f"{_kind(item)}")
            specs.append(item)
        return specs
    raise TypeError(f"volumes must be a dict of source -> container path, or a list of "
                    f"strings, not {_kind(value)}")


def labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"labels must be a dict of str -> str, not {_kind(value)}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"labels must map str to str, got {_kind(key)} -> {_kind(item)}")
        if not key:
            raise ValueError("label names must not be empty")
        out[key] = item
    return out


def user(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"user must be a str (name or uid[:gid]) or an int, not {_kind(value)}")


def network(value: object) -> str:
    if value is None:
        return "default"
    if not isinstance(value, str):
        raise TypeError(f"network must be a str, not {_kind(value)}")
    if value not in _NETWORKS:
        raise ValueError(f"network must be one of default, host, none, not {value!r}")
    return value


def flag(value: object, argument: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be True or False, not {_kind(value)}")
    return value


def timeout(value: object, argument: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{argument} must be a number of seconds, not {_kind(value)}")
    if value < 0:
        raise ValueError(f"{argument} must not be negative, got {value}")
    return float(value)


def run_flags(**values: Any) -> dict[str, Any]:
    """Keyword arguments of `RunOptions` from the API's `run` arguments."""
    entrypoint = values["entrypoint"]
    command = argv(values["command"], "command")
    if entrypoint is not None:
        if isinstance(entrypoint, str):
            entry = entrypoint  # one executable, as `--entrypoint`; "" resets it
        else:
            words = argv(entrypoint, "entrypoint") or []
            entry, command = words[0], [*words[1:], *(command or [])]
    else:
        entry = None
    name = optional_str(values["name"], "name")
    if name is not None and not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name):
        raise ValueError(f"name {name!r} is not valid: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return {
        "command": command,
        "name": name,
        "env": environment(values["env"]),
        "publish": publish(values["ports"]),
        "volumes": mounts(values["volumes"]),
        "labels": labels(values["labels"]),
        "entrypoint": entry,
        "user": user(values["user"]),
        "workdir": optional_str(values["workdir"], "workdir"),
        "network": network(values["network"]),
        "hostname": optional_str(values["hostname"], "hostname"),
    }
