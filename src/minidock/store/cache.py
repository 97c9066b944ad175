"""The build cache index: cache key -> image manifest digest.

One small file per key under `cache/keys/`, written atomically, so concurrent
builds never corrupt each other. Every entry is a garbage-collection root, and
the image it leads to is an image like any other (the classic builder's
intermediate images): `images -a` lists it, `inspect` finds it, `rmi` deletes it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from minidock.digest import Digest
from minidock.errors import DigestError
from minidock.fsutil import remove_tree, write_atomic


class BuildCache:
    def __init__(self, root: Path):
        self.dir = root / "cache" / "keys"
        self.tmp_dir = root / "tmp"

    def _path(self, key: str) -> Path:
        # a Dockerfile's non-UTF-8 bytes reach the key as surrogate escapes
        return self.dir / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, key: str) -> Digest | None:
        try:
            return Digest(self._path(key).read_text().strip())
        except (FileNotFoundError, DigestError):
            return None

    def put(self, key: str, manifest: Digest) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(key), str(manifest).encode(), tmp_dir=self.tmp_dir)

    def roots(self) -> set[Digest]:
        out: set[Digest] = set()
        if not self.dir.is_dir():
            return out
        for name in os.listdir(self.dir):
            try:
                out.add(Digest((self.dir / name).read_text().strip()))
            except (OSError, DigestError):
                continue
        return out

    def forget(self, manifests: set[Digest]) -> None:
        """Drop every entry that leads to one of `manifests` (images being deleted)."""
        if not self.dir.is_dir():
            return
        for name in os.listdir(self.dir):
            path = self.dir / name
            try:
                if Digest(path.read_text().strip()) in manifests:
                    path.unlink()
            except (OSError, DigestError):
                continue

    def prune(self) -> int:
        """Forget every entry; returns how many there were."""
        n = len(os.listdir(self.dir)) if self.dir.is_dir() else 0
        remove_tree(self.dir)
        return n
