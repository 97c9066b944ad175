"""Progress the builder reports while it works; the CLI turns these into text.

The library never prints. Each event is a small frozen record; the CLI renders
them in the classic builder's words (`Step 2/4 : EXPOSE 443`, ` ---> Using
cache`, ...), tests collect them and assert on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ContextLoaded:
    """The context is ready: `size` bytes in `files` files (after .dockerignore)."""

    size: int
    files: int


@dataclass(frozen=True)
class StepStarted:
    number: int
    total: int
    text: str  # the instruction as written, e.g. "EXPOSE 443"


@dataclass(frozen=True)
class TriggersExecuting:
    """A FROM whose image carries ONBUILD triggers is about to run them."""

    count: int


@dataclass(frozen=True)
class CacheHit:
    pass


@dataclass(frozen=True)
class ContainerStarted:
    container_id: str  # 12 hex digits


@dataclass(frozen=True)
class StepOutput:
    """Bytes written by a RUN step's process (stdout and stderr interleaved)."""

    data: bytes


@dataclass(frozen=True)
class ContainerRemoved:
    container_id: str


@dataclass(frozen=True)
class StepDone:
    image_id: str  # 12 hex digits


@dataclass(frozen=True)
class BuildWarning:
    message: str


@dataclass(frozen=True)
class BuildFinished:
    image_id: str  # full sha256:... config digest


@dataclass(frozen=True)
class Tagged:
    reference: str  # familiar form, nginx-test:latest


Event = (ContextLoaded | StepStarted | TriggersExecuting | CacheHit | ContainerStarted
         | StepOutput | ContainerRemoved | StepDone | BuildWarning | BuildFinished | Tagged)
Progress = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """A progress callback that drops everything."""
