"""Progress of a pull or push, reported to a callback; the CLI decides how it looks.

Statuses are Docker's words so the CLI can print them as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from minidock.digest import Digest

# pull
PULLING = "Pulling fs layer"
DOWNLOADING = "Downloading"
PULL_COMPLETE = "Pull complete"
ALREADY_EXISTS = "Already exists"
# push
PREPARING = "Preparing"
PUSHING = "Pushing"
PUSHED = "Pushed"
LAYER_EXISTS = "Layer already exists"

# statuses that carry byte counts and repeat while bytes move
TRANSFERRING = frozenset({DOWNLOADING, PUSHING})


@dataclass(frozen=True)
class Progress:
    """One update about one layer: its status and, while moving, bytes done of total."""

    digest: Digest
    status: str
    current: int = 0
    total: int = 0

    @property
    def short_id(self) -> str:
        return self.digest.short


ProgressCallback = Callable[[Progress], None]


def ignore(_: Progress) -> None:
    """The callback used when the caller wants no progress."""
