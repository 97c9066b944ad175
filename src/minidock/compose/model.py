"""The merged model normalised as `docker compose config` shows it.

Implicit defaults are made explicit (the `default` network, build's context and
Dockerfile, resource names `<project>_<key>`), bare environment names are
resolved from the project environment, `env_file`s are read into `environment`,
and only the enabled services (profiles, selection) and the resources they use
are kept.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from minidock.compose.dotenv import parse_env_file
from minidock.compose.units import normalized_bytes, normalized_duration
from minidock.errors import ComposeError

_STARTED = {"condition": "service_started", "required": True}


def _clean_target(target: str) -> str:
    cleaned = posixpath.normpath(target) if target else target
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _implied_dependencies(service: dict[str, Any]) -> dict[str, Any]:
    """depends_on plus what links, `service:` namespaces and volumes_from imply."""
    depends = dict(service.get("depends_on") or {})
    for link in service.get("links") or []:
        depends.setdefault(str(link).split(":")[0], {**_STARTED, "restart": True})
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        value = service.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            depends.setdefault(value[len("service:"):], {**_STARTED, "restart": True})
    for source in service.get("volumes_from") or []:
        if not str(source).startswith("container:"):
            depends.setdefault(str(source).split(":")[0], {**_STARTED, "restart": False})
    return depends


def _environment(service: dict[str, Any], name: str, env: dict[str, str]) -> dict[str, Any]:
    """env_file values under `environment`; bare names resolved from the project env."""
    explicit = {k: (env.get(k) if v is None else v)
                for k, v in (service.get("environment") or {}).items()}

    def lookup(key: str) -> str | None:  # interpolation in env files: project env first
        found = env.get(key)
        return found if found is not None else explicit.get(key)

    merged: dict[str, Any] = {}
    for index, env_file in enumerate(service.get("env_file") or []):
        path = env_file["path"]
        if not os.path.isfile(path):
            if env_file.get("required", True):
                raise ComposeError(f"env file {path} not found",
                                   path=("services", name, "env_file", index))
            continue
        merged.update(parse_env_file(path, lookup))
    # a bare name the environment does not set keeps an env_file's value
    merged.update({k: v for k, v in explicit.items() if v is not None or k not in merged})
    return merged


_DURATIONS = tuple(tuple(p.split(".")) for p in (
    "healthcheck.interval", "healthcheck.timeout", "healthcheck.start_period",
    "healthcheck.start_interval", "stop_grace_period", "deploy.restart_policy.delay",
    "deploy.restart_policy.window", "deploy.update_config.delay", "deploy.update_config.monitor",
    "deploy.rollback_config.delay", "deploy.rollback_config.monitor"))
_BYTES = tuple(tuple(p.split(".")) for p in (
    "mem_limit", "mem_reservation", "memswap_limit", "shm_size", "build.shm_size",
    "deploy.resources.limits.memory", "deploy.resources.reservations.memory"))
_CPUS = (("cpus",), ("deploy", "resources", "limits", "cpus"),
         ("deploy", "resources", "reservations", "cpus"))


def _cpus(value: Any, path: tuple[str | int, ...]) -> Any:
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        raise ComposeError(f'invalid cpus "{value}"', path=path) from None


def _typed_values(service: dict[str, Any], name: str) -> None:
    """Durations, sizes and CPU counts in the form the Go model prints them."""
    for fields, convert in ((_DURATIONS, normalized_duration), (_BYTES, normalized_bytes),
                            (_CPUS, _cpus)):
        for field in fields:
            parent: Any = service
            for key in field[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            value = parent.get(field[-1]) if isinstance(parent, dict) else None
            if value is not None and "$" not in str(value):  # `$`: not interpolated
                parent[field[-1]] = convert(value, ("services", name, *field))
    for index, volume in enumerate(service.get("volumes") or []):
        tmpfs = volume.get("tmpfs")
        if isinstance(tmpfs, dict) and tmpfs.get("size") is not None:
            tmpfs["size"] = normalized_bytes(tmpfs["size"],
                                             ("services", name, "volumes", index, "tmpfs", "size"))


def _labels(service: dict[str, Any], name: str, env: dict[str, str]) -> dict[str, Any]:
    """label_file values under `labels`."""
    labels: dict[str, Any] = {}
    for index, path in enumerate(service.get("label_file") or []):
        if not os.path.isfile(path):
            raise ComposeError(f"label file {path} not found",
                               path=("services", name, "label_file", index))
        labels.update(parse_env_file(path, env.get))
    labels.update(service.get("labels") or {})
    return labels


def normalize_service(service: dict[str, Any], name: str, env: dict[str, str]) -> dict[str, Any]:
    out = dict(service)
    if out.get("pull_policy") == "if_not_present":
        out["pull_policy"] = "missing"
    build = out.get("build")
    if isinstance(build, dict):
        build = dict(build)
        build.setdefault("context", ".")
        if "dockerfile" not in build and "dockerfile_inline" not in build:
            build["dockerfile"] = "Dockerfile"
        if "args" in build:
            build["args"] = {k: (env[k] if v is None else v) for k, v in build["args"].items()
                             if v is not None or k in env}
        out["build"] = build
    if "environment" in out or "env_file" in out:
        out["environment"] = _environment(out, name, env)
        if not out["environment"]:
            del out["environment"]
    if "label_file" in out:
        out["labels"] = _labels(out, name, env)
    if "network_mode" not in out and "provider" not in out and not out.get("networks"):
        out["networks"] = {"default": None}
    depends = _implied_dependencies(out)
    if depends:
        out["depends_on"] = depends
    if "volumes" in out:
        out["volumes"] = [{**v, "target": _clean_target(v.get("target", ""))}
                          for v in out["volumes"]]
    if "secrets" in out:
        out["secrets"] = [{"target": f"/run/secrets/{s.get('source')}", **s}
                          for s in out["secrets"]]
    _typed_values(out, name)
    if "extra_hosts" in out:
        out["extra_hosts"] = sorted(out["extra_hosts"])
    image = out.get("image")
    hooks = out.get("pre_start")
    if isinstance(image, str) and isinstance(hooks, list):
        out["pre_start"] = [{"image": image, **h} if isinstance(h, dict) else h for h in hooks]
    return out


def _resources(model: dict[str, Any], project: str) -> None:
    for kind in ("networks", "volumes", "configs", "secrets"):
        resources = model.get(kind)
        if not resources:
            continue
        for key, value in list(resources.items()):
            resource = dict(value or {})
            if resource.get("name") is None:
                resource["name"] = key if resource.get("external") is True else f"{project}_{key}"
            resources[key] = resource


def _has_profile(service: dict[str, Any], profiles: list[str]) -> bool:
    own = service.get("profiles") or []
    return not own or "*" in profiles or any(p in profiles for p in own)


def enabled_services(services: dict[str, Any], profiles: list[str],
                     selected: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """Services active for `profiles`; a selected service enables its own profiles."""
    active = list(profiles)
    for name in selected:
        if name not in services:
            raise ComposeError(f"no such service: {name}")
        if not _has_profile(services[name], active):
            active += services[name].get("profiles") or []
    return {n: s for n, s in services.items() if _has_profile(s, active)}, active


def with_dependencies(services: dict[str, Any], selected: tuple[str, ...]) -> dict[str, Any]:
    keep: set[str] = set()
    todo = list(selected)
    while todo:
        name = todo.pop()
        if name in keep or name not in services:
            continue
        keep.add(name)
        todo.extend((services[name].get("depends_on") or {}).keys())
    return {n: s for n, s in services.items() if n in keep}


def dependency_order(services: dict[str, Any]) -> list[str]:
    """Service names, each after the services it depends on (ties by name)."""
    out: list[str] = []
    seen: set[str] = set()  # a cycle (left unchecked with --no-interpolate) ends the walk

    def visit(name: str) -> None:
        if name in seen or name not in services:
            return
        seen.add(name)
        for dependency in sorted(services[name].get("depends_on") or {}):
            visit(dependency)
        out.append(name)

    for name in sorted(services):
        visit(name)
    return out


def _used(services: dict[str, Any], kind: str) -> set[str]:
    """Names of top-level `kind` resources the services refer to."""
    used: set[Any] = set()
    for service in services.values():
        if kind == "networks":
            used.update((service.get("networks") or {}).keys())
        elif kind == "volumes":
            used.update(v.get("source") for v in service.get("volumes") or []
                        if v.get("type") == "volume")
        else:
            mounts = list(service.get(kind) or [])
            if kind == "secrets":
                mounts += (service.get("build") or {}).get("secrets") or []
            used.update(m.get("source") for m in mounts if isinstance(m, dict))
    return {u for u in used if u}


def normalize(model: dict[str, Any], project: str, env: dict[str, str],
              services: dict[str, Any]) -> dict[str, Any]:
    """The model as printed: `services` already filtered to the enabled ones."""
    out: dict[str, Any] = {k: v for k, v in model.items()
                           if k not in ("services", "name", "include")}
    out["name"] = project
    out["services"] = {name: normalize_service(svc, name, env)
                       for name, svc in services.items()}
    networks = dict(out.get("networks") or {})
    if any("default" in (s.get("networks") or {}) for s in out["services"].values()):
        networks.setdefault("default", None)
    if networks:
        out["networks"] = networks
    for kind in ("networks", "volumes", "secrets", "configs"):
        if kind in out:
            used = _used(out["services"], kind)
            kept = {k: v for k, v in out[kind].items() if k in used}
            if kept:
                out[kind] = kept
            else:
                del out[kind]
    _resources(out, project)
    return out
