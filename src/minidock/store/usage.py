"""Disk usage of the store's images and build cache (`system df`): what is on
disk, shared blobs counted once, extracted layer trees included."""

from __future__ import annotations

from dataclasses import dataclass

from minidock.digest import Digest
from minidock.errors import MinidockError
from minidock.fsutil import tree_size
from minidock.store.store import Image, Store


@dataclass(frozen=True)
class Usage:
    """One row of `system df`: how many, how many in use, bytes, bytes reclaimable."""

    count: int
    active: int
    size: int
    reclaimable: int


def _blobs_size(store: Store, digests: set[Digest]) -> int:
    total = 0
    for digest in digests:
        try:
            total += store.blobs.size(digest)
        except MinidockError:
            continue
    return total


def _image_blobs(image: Image) -> set[Digest]:
    return {image.digest, image.manifest.config.digest, *(d.digest for d in image.layers)}


@dataclass
class _OnDisk:
    """The blobs and extracted layers of some images, each counted once."""

    blobs: set[Digest]
    layer_ids: set[Digest]

    @classmethod
    def of(cls, images: list[Image]) -> _OnDisk:
        found = cls(set(), set())
        for img in images:
            found.blobs |= _image_blobs(img)
            found.layer_ids |= set(img.diff_ids)
        return found

    def minus(self, other: _OnDisk) -> _OnDisk:
        return _OnDisk(self.blobs - other.blobs, self.layer_ids - other.layer_ids)

    def size(self, store: Store) -> int:
        return _blobs_size(store, self.blobs) + sum(tree_size(store.layer_dir(d))
                                                    for d in self.layer_ids)


def image_usage(store: Store, in_use: set[Digest]) -> Usage:
    """The images `images` lists: blobs and extracted layers; what no container uses
    (`in_use`, image IDs) is reclaimable."""
    images = store.images()
    active = [img for img in images if img.id in in_use]
    size = _OnDisk.of(images).size(store)
    return Usage(len(images), len(active), size, size - _OnDisk.of(active).size(store))


def build_cache_usage(store: Store) -> Usage:
    """The build cache: the intermediate images `images -a` adds to `images`, and the
    blobs and extracted layers only they hold (all reclaimable)."""
    images = store.images()
    intermediates = store.intermediate_images({img.digest for img in images})
    size = _OnDisk.of(intermediates).minus(_OnDisk.of(images)).size(store)
    return Usage(len(intermediates), 0, size, size)
