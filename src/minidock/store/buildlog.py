"""What each build looked up in the build cache, kept so `build --explain` and
`build-cache explain IMAGE` can say why a step was or was not a hit.

`cache/builds/images/<image id hex>.json` holds, for the build that produced
that image, each step's instruction, cache key and hit, with the steps of the
build of the same Dockerfile before it; `cache/builds/last/<hash>` is the
latest such record per Dockerfile (context directory, file name and target).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minidock.fsutil import write_atomic


@dataclass(frozen=True)
class StepLookup:
    """One cache lookup of a build: the instruction as written, its key, and the answer."""

    instruction: str
    key: str
    hit: bool

    def as_json(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "key": self.key, "hit": self.hit}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> StepLookup:
        return cls(str(doc["instruction"]), str(doc["key"]), bool(doc["hit"]))


@dataclass(frozen=True)
class BuildRecord:
    dockerfile: str
    steps: tuple[StepLookup, ...]
    previous: tuple[StepLookup, ...] | None
    """The steps of the build of the same Dockerfile before this one, if any."""


class BuildLog:
    def __init__(self, root: Path):
        self.dir = root / "cache" / "builds"
        self.tmp_dir = root / "tmp"

    def _last_path(self, dockerfile: str) -> Path:
        return self.dir / "last" / hashlib.sha256(
            dockerfile.encode("utf-8", "surrogateescape")).hexdigest()

    def _image_path(self, image_id: str) -> Path:
        return self.dir / "images" / (image_id.partition(":")[2] + ".json")

    def _read(self, path: Path) -> BuildRecord | None:
        try:
            doc = json.loads(path.read_text())
            previous = doc.get("previous")
            return BuildRecord(str(doc["dockerfile"]),
                               tuple(StepLookup.from_json(s) for s in doc["steps"]),
                               None if previous is None else
                               tuple(StepLookup.from_json(s) for s in previous))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def record(self, dockerfile: str, image_id: str, steps: list[StepLookup]) -> BuildRecord:
        """Save this build's lookups; returns them with the previous build's."""
        last = self._read(self._last_path(dockerfile))
        record = BuildRecord(dockerfile, tuple(steps), last.steps if last else None)
        doc = {"dockerfile": dockerfile, "steps": [s.as_json() for s in record.steps],
               "previous": None if record.previous is None else
               [s.as_json() for s in record.previous]}
        data = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogateescape")
        for path in (self._image_path(image_id), self._last_path(dockerfile)):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, tmp_dir=self.tmp_dir)
        return record

    def of_image(self, image_id: str) -> BuildRecord | None:
        """The record of the build that produced `image_id`, None if none was kept."""
        return self._read(self._image_path(image_id))
