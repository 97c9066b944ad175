"""One file's short syntaxes rewritten into the long forms the model keeps.

Done per file before merging, so every merge rule sees one shape: ports and
volumes as mappings, environment-like lists as mappings, command strings as
argument lists, depends_on and networks as mappings.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from minidock.compose.syntax import SyntaxProblem, parse_port, parse_volume
from minidock.compose.tree import Path
from minidock.errors import ComposeError

# list-or-mapping fields kept as a mapping; `None` marks a bare `NAME`
_KEY_VALUE = ("environment", "labels", "annotations", "sysctls")
_BUILD_KEY_VALUE = ("args", "labels", "additional_contexts")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def key_values(value: Any, path: Path, *, bare: Any = None) -> dict[str, Any]:
    """`["A=1", "B"]` or `{A: 1, B: null}` -> `{"A": "1", "B": bare}`."""
    if isinstance(value, dict):
        return {str(k): (bare if v is None else _scalar_text(v)) for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            out[key] = val if sep else bare
        return out
    raise ComposeError("must be a mapping or a list", path=path)


def command(value: Any, path: Path) -> list[str] | None:
    """A shell-words string or a list -> argument list, as the Go model stores it."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_scalar_text(v) for v in value]
    try:
        return shlex.split(str(value))
    except ValueError as exc:
        raise ComposeError(f"invalid command line: {exc}", path=path) from None


def _long_port(port: dict[str, Any]) -> dict[str, Any]:
    port = {"mode": "ingress", **port}
    port.setdefault("protocol", "tcp")
    if port.get("published") is not None:
        port["published"] = _scalar_text(port["published"])
    return port


def _long_volume(volume: dict[str, Any]) -> dict[str, Any]:
    volume = dict(volume)
    if isinstance(volume.get("bind"), dict):
        volume["bind"] = {**volume["bind"]}
        volume["bind"].setdefault("create_host_path", True)
    return volume


def _entries(value: list[Any], path: Path, long_form: Callable[[dict[str, Any]], dict[str, Any]],
             parse: Callable[[str], list[dict[str, Any]]]) -> list[Any]:
    """Long-form entries completed, short-form ones parsed (one may give several)."""
    out: list[Any] = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            out.append(long_form(item))
            continue
        try:
            out.extend(parse(_scalar_text(item)))
        except SyntaxProblem as exc:
            if "$" in str(item):  # left uninterpolated (config --no-interpolate): kept as is
                out.append(item)
                continue
            raise ComposeError(str(exc), path=path + (index,)) from None
    return out


def _depends_on(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {str(name): {"condition": "service_started", "required": True} for name in value}
    out = {}
    for name, spec in value.items():
        entry = dict(spec or {})
        entry.setdefault("condition", "service_started")
        entry.setdefault("required", True)
        out[name] = entry
    return out


def _env_files(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        entry = {"path": item} if isinstance(item, str) else dict(item)
        entry.setdefault("required", True)
        out.append(entry)
    return out


def _mounts(value: list[Any]) -> list[dict[str, Any]]:
    return [{"source": item} if isinstance(item, str) else dict(item) for item in value]


def _build(value: Any, path: Path) -> dict[str, Any]:
    build = {"context": value} if isinstance(value, str) else dict(value)
    for key in _BUILD_KEY_VALUE:
        if key in build:
            build[key] = key_values(build[key], path + (key,))
    if "extra_hosts" in build:
        build["extra_hosts"] = _extra_hosts(build["extra_hosts"])
    return build


def _extra_hosts(value: Any) -> list[str]:
    """`host:ip`, `host=ip1,ip2` or `{host: ip}` -> `host=ip` entries."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for name, ips in value.items():
            pairs.extend((str(name), ip) for ip in (ips if isinstance(ips, list) else [ips]))
    else:
        for entry in value:
            text = str(entry)
            sep = "=" if "=" in text else ":"
            name, _, ips = text.partition(sep)
            pairs.extend((name, ip) for ip in ips.split(","))
    return [f"{name}={'' if ip is None else ip}" for name, ip in pairs]


def _service(service: dict[str, Any], path: Path) -> dict[str, Any]:
    out = dict(service)
    for key in _KEY_VALUE:
        if key in out:
            out[key] = key_values(out[key], path + (key,),
                                  bare=None if key == "environment" else "")
    for key in ("command", "entrypoint"):
        if key in out:
            out[key] = command(out[key], path + (key,))
    if "build" in out:
        out["build"] = _build(out["build"], path + ("build",))
    if "ports" in out:
        out["ports"] = _entries(out["ports"], path + ("ports",), _long_port, parse_port)
    if "expose" in out:
        out["expose"] = [_scalar_text(p) for p in out["expose"]]
    if "volumes" in out:
        out["volumes"] = _entries(out["volumes"], path + ("volumes",), _long_volume,
                                  lambda spec: [parse_volume(spec)])
    if "depends_on" in out:
        out["depends_on"] = _depends_on(out["depends_on"])
    if "env_file" in out:
        out["env_file"] = _env_files(out["env_file"])
    if isinstance(out.get("networks"), list):
        out["networks"] = {name: None for name in out["networks"]}
    for key in ("secrets", "configs"):
        if key in out:
            out[key] = _mounts(out[key])
    if isinstance(out.get("extends"), str):
        out["extends"] = {"service": out["extends"]}
    for key in ("dns", "dns_search", "tmpfs", "label_file"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    if "extra_hosts" in out:
        out["extra_hosts"] = _extra_hosts(out["extra_hosts"])
    health = out.get("healthcheck")
    if isinstance(health, dict) and isinstance(health.get("test"), str):
        out["healthcheck"] = {**health, "test": ["CMD-SHELL", health["test"]]}
    return out


def _resource(value: Any) -> dict[str, Any]:
    """A top-level network/volume/secret/config; `external: {name: x}` -> `external: true`."""
    resource = dict(value or {})
    external = resource.get("external")
    if isinstance(external, dict):
        resource["external"] = True
        if "name" in external:
            resource.setdefault("name", external["name"])
    if "labels" in resource:
        resource["labels"] = key_values(resource["labels"], (), bare="")
    return resource


def canonical(model: dict[str, Any]) -> dict[str, Any]:
    """The long form of one file's interpolated content."""
    out = dict(model)
    services = out.get("services")
    if isinstance(services, dict):
        out["services"] = {name: _service(svc or {}, ("services", name))
                           for name, svc in services.items()}
    for kind in ("networks", "volumes", "secrets", "configs"):
        if isinstance(out.get(kind), dict):
            out[kind] = {name: _resource(res) for name, res in out[kind].items()}
    return out
