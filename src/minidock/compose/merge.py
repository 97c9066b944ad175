"""Merging compose files (and `extends`) by the Compose Specification's merge rules.

Mappings merge key by key; scalars are replaced; `command`, `entrypoint` and
`healthcheck.test` are replaced whole; sequences are appended, and those with
an identity (ports, volumes, secrets, expose, ...) keep one entry per identity,
the later one winning in the earlier one's place. Both sides are in the long
form (see canonical.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidock.compose.tree import Path, matches, matches_any

_REPLACE = ("services.*.command", "services.*.entrypoint", "services.*.healthcheck.test",
            "services.*.ulimits.*")
_KEY_VALUE = ("services.*.environment", "services.*.labels", "services.*.annotations",
              "services.*.sysctls", "services.*.build.args", "services.*.build.labels",
              "services.*.build.additional_contexts", "services.*.deploy.labels",
              "networks.*.labels", "volumes.*.labels")


def _port_key(port: Any) -> Any:
    if not isinstance(port, dict):
        return port
    return (port.get("host_ip", "0.0.0.0"), port.get("published"), port.get("target"),
            port.get("protocol", "tcp"))


def _mount_key(prefix: str) -> Callable[[Any], Any]:
    def key(mount: Any) -> Any:
        return mount.get("target") or f"{prefix}/{mount.get('source')}"
    return key


def _plain_key(value: Any) -> Any:
    return str(value).partition("=")[0]


_IDENTITY: dict[str, Callable[[Any], Any]] = {
    "services.*.ports": _port_key,
    "services.*.volumes": lambda v: v.get("target"),
    "services.*.secrets": _mount_key("/run/secrets"),
    "services.*.configs": _mount_key(""),
    "services.*.env_file": lambda v: v.get("path"),
    "services.*.devices": lambda v: v.get("target") if isinstance(v, dict) else
    (str(v).split(":")[1:2] or [str(v)])[0],
    "services.*.extra_hosts": lambda v: v,
}
for _name in ("expose", "dns", "dns_opt", "dns_search", "cap_add", "cap_drop", "profiles",
              "tmpfs", "links", "networks.*.aliases", "networks.*.link_local_ips",
              "build.tags", "build.platforms"):
    _IDENTITY[f"services.*.{_name}"] = _plain_key


def unique(items: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    """One entry per identity: the last one, at the first one's position."""
    out: list[Any] = []
    where: dict[Any, int] = {}
    for item in items:
        k = key(item)
        k = repr(k) if isinstance(k, (dict, list)) else k
        if k in where:
            out[where[k]] = item
        else:
            where[k] = len(out)
            out.append(item)
    return out


def merge(base: Any, override: Any, path: Path = ()) -> Any:
    """`override` laid over `base`; neither is modified."""
    if matches_any(path, _REPLACE):
        return override
    if matches_any(path, _KEY_VALUE) and isinstance(base, dict) and isinstance(override, dict):
        return {**base, **override}
    if override is None:
        return base
    if (matches(path, "services.*.logging") and isinstance(base, dict)
            and isinstance(override, dict) and None not in (base.get("driver"),
                                                            override.get("driver"))
            and base["driver"] != override["driver"]):
        return override  # another driver: its options do not apply
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value, path + (key,)) if key in base else value
        return out
    if isinstance(base, list) and isinstance(override, list):
        return dedupe(base + override, path)
    return override


def dedupe(items: list[Any], path: Path) -> list[Any]:
    for pattern, key in _IDENTITY.items():
        if matches(path, pattern):
            return unique(items, key)
    return items


def dedupe_model(model: dict[str, Any]) -> dict[str, Any]:
    """Apply the one-entry-per-identity rule inside a single file too."""
    for name, service in (model.get("services") or {}).items():
        if not isinstance(service, dict):
            continue
        for key, value in list(service.items()):
            if isinstance(value, list):
                service[key] = dedupe(value, ("services", name, key))
    return model
