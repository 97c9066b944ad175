"""The rules the schema cannot state: references between services and resources.

A service needs an image or a build; `depends_on` names existing services and
forms no cycle; networks, volumes, secrets and configs a service uses are
declared at the top level; a healthcheck test starts with CMD, CMD-SHELL or NONE.
"""

from __future__ import annotations

from typing import Any

from minidock.errors import ComposeError


def _check_references(name: str, service: dict[str, Any], model: dict[str, Any]) -> None:
    where = ("services", name)
    for network in service.get("networks") or {}:
        if network not in (model.get("networks") or {}):
            raise ComposeError(f'service "{name}" refers to undefined network {network}',
                               path=where + ("networks", network))
    for index, volume in enumerate(service.get("volumes") or []):
        source = volume.get("source")
        if volume.get("type") == "volume" and source and source not in (
                model.get("volumes") or {}):
            raise ComposeError(f'service "{name}" refers to undefined volume {source}',
                               path=where + ("volumes", index))
    for kind, word in (("secrets", "secret"), ("configs", "config")):
        for index, mount in enumerate(service.get(kind) or []):
            if mount.get("source") not in (model.get(kind) or {}):
                raise ComposeError(f'service "{name}" refers to undefined {word} '
                                   f"{mount.get('source')}", path=where + (kind, index))


def check_service(name: str, service: dict[str, Any], model: dict[str, Any],
                  all_services: dict[str, Any]) -> None:
    where = ("services", name)
    if "build" not in service and not service.get("image") and "provider" not in service:
        raise ComposeError(f'service "{name}" has neither an image nor a build context '
                           "specified", path=where)
    if "network_mode" in service and service.get("networks"):
        raise ComposeError(f"service {name} declares mutually exclusive `network_mode` and "
                           "`networks`", path=where)
    build = service.get("build") or {}
    if build.get("dockerfile") and build.get("dockerfile_inline"):
        raise ComposeError(f'service "{name}" declares mutually exclusive dockerfile and '
                           "dockerfile_inline", path=where + ("build",))
    for dependency, spec in (service.get("depends_on") or {}).items():
        if dependency in (model.get("services") or {}) or not (spec or {}).get("required", True):
            continue
        if dependency in all_services:
            profiles = ", ".join(all_services[dependency].get("profiles") or [])
            raise ComposeError(f'service "{dependency}" is required by "{name}" but is '
                               f"disabled; enable it with --profile {profiles}",
                               path=where + ("depends_on", dependency))
        raise ComposeError(f'service "{name}" depends on undefined service "{dependency}"',
                           path=where + ("depends_on", dependency))
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ComposeError('healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"',
                           path=where + ("healthcheck", "test"))
    _check_references(name, service, model)


def check_cycles(services: dict[str, Any]) -> None:
    """`dependency cycle detected: a -> b -> a`, searched in name order."""
    def visit(path: list[str]) -> None:
        for child in sorted((services.get(path[-1]) or {}).get("depends_on") or {}):
            if child in path:
                loop = " -> ".join(path[path.index(child):] + [child])
                raise ComposeError(f"dependency cycle detected: {loop}",
                                   path=("services", path[-1], "depends_on", child))
            if child in services:
                visit(path + [child])

    for name in sorted(services):
        visit([name])


def check_container_names(services: dict[str, Any]) -> None:
    taken: dict[str, str] = {}
    for name in sorted(services):
        container = services[name].get("container_name")
        if container in taken:
            raise ComposeError(f'container name "{container}" is already in use by service '
                               f"{taken[container]}", path=("services", name, "container_name"))
        if container:
            taken[container] = name


def check(model: dict[str, Any], all_services: dict[str, Any]) -> None:
    """Raise the first rule `model` (normalised, enabled services only) breaks."""
    services = model.get("services") or {}
    for name in sorted(services):
        check_service(name, services[name], model, all_services)
    check_cycles(services)
    check_container_names(services)
