"""Which containers `ps --filter` shows, with Docker's keys and rules, so the CLI
only formats what it gets and the Python API can reuse it.

Values given for one key are alternatives; every key given must pass. A
`status` filter looks at every container (no `-a` needed), as Docker's does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from minidock.errors import MinidockError, UsageError
from minidock.runtime.containers import Container, find_container
from minidock.store.filters import parse_filters
from minidock.store.store import Store

CONTAINER_FILTER_KEYS = ("id", "name", "label", "status", "exited", "ancestor", "before",
                         "since", "network", "health", "volume", "publish", "expose",
                         "is-task")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?\Z")


def parse_container_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """The filters by key; UsageError (Docker's wording) for a bad key or value."""
    parsed = parse_filters(items, CONTAINER_FILTER_KEYS)
    for value in parsed.get("status", []):
        if value not in STATUSES:
            raise UsageError(f"invalid filter 'status={value}'",
                             hint=f"use one of {', '.join(STATUSES)}")
    for value in parsed.get("health", []):
        if value not in HEALTH_STATES:
            raise UsageError(f"invalid filter 'health={value}'",
                             hint=f"use one of {', '.join(HEALTH_STATES)}")
    for value in parsed.get("exited", []):
        if not value.lstrip("-").isdigit():
            raise UsageError(f"invalid filter 'exited={value}': not an exit code")
    for key in ("publish", "expose"):
        for value in parsed.get(key, []):
            if not _PORT.match(value):
                raise UsageError(f"invalid filter '{key}={value}': not a port or port range")
    for value in parsed.get("is-task", []):
        if value not in ("true", "false"):
            raise UsageError(f"invalid filter 'is-task={value}'")
    return parsed


def health_status(container: Container) -> str:
    """`none` without a health check, else State.Health.Status."""
    health = container.state.get("Health") or {}
    return str(health.get("Status") or "none")


def _labels(container: Container) -> dict[str, str]:
    return dict(container.data["Config"].get("Labels") or {})


def _label_passes(container: Container, value: str) -> bool:
    key, sep, want = value.partition("=")
    labels = _labels(container)
    return key in labels and (not sep or labels[key] == want)


def _ports_pass(ports: Iterable[str], value: str) -> bool:
    """`80`, `80/udp` or `8000-8080/tcp` against `port/proto` keys."""
    match = _PORT.match(value)
    assert match is not None  # checked when parsed
    first = int(match.group(1))
    last = int(match.group(2) or first)
    proto = match.group(3) or "tcp"
    for port in ports:
        number, _, port_proto = port.partition("/")
        if (port_proto or "tcp") == proto and first <= int(number) <= last:
            return True
    return False


def _published(container: Container) -> list[str]:
    return [f"{p['PublicPort']}/{p['Type']}" for p in container.data.get("Ports") or []]


def _exposed(container: Container) -> list[str]:
    exposed = list(container.data["Config"].get("ExposedPorts") or {})
    return exposed + [f"{p['PrivatePort']}/{p['Type']}"
                      for p in container.data.get("Ports") or []]


def _volumes(container: Container) -> list[str]:
    out = []
    for mount in container.data.get("Mounts") or []:
        out += [mount.get("Name") or mount.get("Source") or "", mount.get("Destination") or ""]
    return out


def network_names(container: Container) -> list[str]:
    """The networks a container is attached to, as `ps` and its filter name them."""
    networks = (container.data.get("NetworkSettings") or {}).get("Networks")
    if networks:
        return sorted(networks)
    return [container.data.get("HostConfig", {}).get("NetworkMode") or "default"]


class _Ancestry:
    """`ancestor=IMAGE`: created from the image or from one built on it (its layers
    continue the ancestor's), looked up once per value."""

    def __init__(self, store: Store | None):
        self._store = store
        self._diff_ids: dict[str, tuple[str, ...] | None] = {}

    def _layers(self, ref: str) -> tuple[str, ...] | None:
        if ref not in self._diff_ids:
            self._diff_ids[ref] = None
            if self._store is not None:
                try:
                    image = self._store.image(ref)
                except MinidockError:
                    pass
                else:
                    self._diff_ids[ref] = tuple(str(d) for d in image.diff_ids)
        return self._diff_ids[ref]

    def descends(self, container: Container, ancestor: str) -> bool:
        if ancestor in (container.image_name, container.image_id):
            return True
        mine = self._layers(container.image_id)
        theirs = self._layers(ancestor)
        if not mine or not theirs:
            return False
        return mine[:len(theirs)] == theirs


def select_containers(root: str, containers: list[Container], filters: dict[str, list[str]],
                      *, show_all: bool, store: Store | None = None) -> list[Container]:
    """The containers `ps` lists for these parsed filters; without `show_all` (and
    without a status filter) only running ones."""
    if not show_all and "status" not in filters:
        containers = [c for c in containers if c.running]
    ancestry = _Ancestry(store)
    created = {}
    for key in ("before", "since"):
        for ref in filters.get(key, []):
            created[ref] = find_container(root, ref, refresh=False).data["Created"]

    checks: dict[str, Callable[[Container, str], bool]] = {
        "id": lambda c, v: c.id.startswith(v),
        "name": lambda c, v: re.search(v, c.name) is not None,
        "label": _label_passes,
        "status": lambda c, v: c.status == v,
        "exited": lambda c, v: c.status == "exited" and
        int(c.state.get("ExitCode", 0)) == int(v),
        "ancestor": ancestry.descends,
        "before": lambda c, v: c.data["Created"] < created[v],
        "since": lambda c, v: c.data["Created"] > created[v],
        "network": lambda c, v: v in network_names(c),
        "health": lambda c, v: health_status(c) == v,
        "volume": lambda c, v: v in _volumes(c),
        "publish": lambda c, v: _ports_pass(_published(c), v),
        "expose": lambda c, v: _ports_pass(_exposed(c), v),
        "is-task": lambda c, v: v == "false",  # no swarm: no container is a task
    }
    out = []
    for container in containers:
        # labels, where AND is Docker's rule for several label filters
        if not all(_label_passes(container, v) for v in filters.get("label", [])):
            continue
        if all(any(checks[key](container, v) for v in values)
               for key, values in filters.items() if key != "label"):
            out.append(container)
    return out
