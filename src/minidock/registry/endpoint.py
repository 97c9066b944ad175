"""Where a reference lives on the network: host, repository path, and schemes to try.

Docker Hub names (`docker.io/library/nginx`) talk to `registry-1.docker.io`, or to
the configured mirror when pulling, where the same repository path is asked for.
Loopback registries and those the user lists as insecure may speak plain HTTP;
everything else is HTTPS with certificate checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from minidock.reference import DEFAULT_REGISTRY, Reference
from minidock.registry.config import RegistryConfig, normalize_host

DOCKER_HUB_API_HOST = "registry-1.docker.io"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class Scheme:
    """One way to reach a host: `https` (with or without certificate checks) or `http`."""

    name: str
    verify_tls: bool = True


@dataclass(frozen=True)
class Endpoint:
    """A registry host as minidock talks to it."""

    host: str                      # netloc for URLs: `127.0.0.1:5000`, `registry-1.docker.io`
    schemes: tuple[Scheme, ...]    # tried in order until one answers
    registry: str                  # the name users write and credentials are stored under
    is_mirror: bool = False

    @property
    def is_docker_hub(self) -> bool:
        return self.registry == DEFAULT_REGISTRY and not self.is_mirror


def host_without_port(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def schemes_for(netloc: str, config: RegistryConfig) -> tuple[Scheme, ...]:
    """Plain HTTP for loopback; HTTPS then HTTP (no cert checks) if insecure; else HTTPS."""
    if host_without_port(netloc).lower() in LOOPBACK_HOSTS:
        return (Scheme("http", False),)
    if config.is_insecure(netloc) or config.is_insecure(host_without_port(netloc)):
        return (Scheme("https", False), Scheme("http", False))
    return (Scheme("https", True),)


def registry_endpoint(registry: str, config: RegistryConfig) -> Endpoint:
    """The endpoint of a registry host as named in a reference or on `login`."""
    name = normalize_host(registry)
    if name == DEFAULT_REGISTRY:
        return Endpoint(DOCKER_HUB_API_HOST, (Scheme("https", True),), DEFAULT_REGISTRY)
    return Endpoint(name, schemes_for(name, config), name)


def mirror_endpoint(mirror: str, config: RegistryConfig) -> Endpoint:
    """The mirror setting: `host:port`, or a URL whose scheme is then the only one tried."""
    text = mirror.strip().rstrip("/")
    if "://" in text:
        scheme, rest = text.split("://", 1)
        netloc = rest.split("/", 1)[0]
        verify = scheme == "https" and not config.is_insecure(netloc)
        return Endpoint(netloc, (Scheme(scheme.lower(), verify),), normalize_host(netloc),
                        is_mirror=True)
    netloc = text.split("/", 1)[0]
    return Endpoint(netloc, schemes_for(netloc, config), normalize_host(netloc), is_mirror=True)


def pull_endpoint(ref: Reference, config: RegistryConfig) -> Endpoint:
    """Where to pull `ref` from: the mirror for Docker Hub names when one is set."""
    if ref.registry == DEFAULT_REGISTRY and config.mirror:
        return mirror_endpoint(config.mirror, config)
    return registry_endpoint(ref.registry, config)


def push_endpoint(ref: Reference, config: RegistryConfig) -> Endpoint:
    """Pushes always go to the named registry: a mirror is read-only."""
    return registry_endpoint(ref.registry, config)
