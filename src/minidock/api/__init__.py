"""minidock's public Python API: build, load, pull and run images, with no daemon.

The functions here act on the store the CLI uses (MINIDOCK_ROOT, else the XDG
data directory) unless given `root=`; `Client(root)` binds them to one store.
They are re-exported by the `minidock` package (`minidock.run(...)`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from minidock.api.client import Client
from minidock.api.containers import Container, ExecResult, RunResult
from minidock.api.images import Image, Layer
from minidock.errors import WaitTimeout

if TYPE_CHECKING:
    from minidock.store.layers import Analysis

StrPath = str | os.PathLike[str]


def build(path: StrPath, *, tag: str | Sequence[str] | None = None,
          dockerfile: StrPath | None = None, build_args: Mapping[str, str | None] | None = None,
          target: str | None = None, labels: Mapping[str, str] | None = None,
          no_cache: bool = False, pull: bool = False,
          progress: Callable[[Any], None] | None = None, root: StrPath | None = None) -> Image:
    """Build an image from the context directory `path`; see `Client.build`."""
    return Client(root).build(path, tag=tag, dockerfile=dockerfile, build_args=build_args,
                              target=target, labels=labels, no_cache=no_cache, pull=pull,
                              progress=progress)


def images(*, root: StrPath | None = None) -> list[Image]:
    """Every image in the store."""
    return Client(root).images()


def image(ref: str, *, root: StrPath | None = None) -> Image:
    """The image `ref` names; ImageNotFound if the store has none."""
    return Client(root).image(ref)


def analyze(ref: str, *, root: StrPath | None = None) -> Analysis:
    """dive's efficiency analysis of the image `ref`; see `Image.analyze`."""
    return Client(root).image(ref).analyze()


def pull(ref: str, *, platform: str | None = None,
         progress: Callable[[Any], None] | None = None, root: StrPath | None = None) -> Image:
    """Fetch `ref` from its registry into the store."""
    return Client(root).pull(ref, platform=platform, progress=progress)


def load(archive: StrPath | IO[bytes], *, root: StrPath | None = None) -> list[Image]:
    """Load the images of a docker-archive or OCI archive into the store."""
    return Client(root).load(archive)


def run(image: str | Image, command: str | Sequence[str] | None = None, *,
        detach: bool = False, ports: Mapping[Any, Any] | Sequence[Any] | None = None,
        env: Mapping[str, Any] | Sequence[str] | None = None,
        volumes: Mapping[Any, Any] | Sequence[str] | None = None, name: str | None = None,
        remove: bool = False, labels: Mapping[str, str] | None = None,
        entrypoint: str | Sequence[str] | None = None, user: str | int | None = None,
        workdir: str | None = None, network: str | None = None, hostname: str | None = None,
        root: StrPath | None = None) -> Container | RunResult:
    """Create and start a container; see `Client.run`."""
    return Client(root).run(image, command, detach=detach, ports=ports, env=env,
                            volumes=volumes, name=name, remove=remove, labels=labels,
                            entrypoint=entrypoint, user=user, workdir=workdir, network=network,
                            hostname=hostname)


def container(ref: str, *, root: StrPath | None = None) -> Container:
    """The container `ref` names (ID, unique ID prefix or name)."""
    return Client(root).container(ref)


def containers(*, all: bool = False, labels: Mapping[str, str] | None = None,
               root: StrPath | None = None) -> list[Container]:
    """Running containers (`all`: every one), optionally only those with `labels`."""
    return Client(root).containers(all=all, labels=labels)


__all__ = [
    "Client",
    "Container",
    "ExecResult",
    "Image",
    "Layer",
    "RunResult",
    "WaitTimeout",
    "analyze",
    "build",
    "container",
    "containers",
    "image",
    "images",
    "load",
    "pull",
    "run",
]
