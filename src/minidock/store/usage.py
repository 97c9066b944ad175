"""Disk usage of the store's images and build cache (`system df`): what is on
disk, shared blobs counted once, extracted layer trees included."""

from __future__ import annotations

import os
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


def image_usage(store: Store, in_use: set[Digest]) -> Usage:
    """The images: blobs and extracted layers; what no container uses (`in_use`,
    image IDs) is reclaimable."""
    images = store.images()
    all_blobs: set[Digest] = set()
    active_blobs: set[Digest] = set()
    layer_ids: set[Digest] = set()
    active_layer_ids: set[Digest] = set()
    for img in images:
        blobs = _image_blobs(img)
        all_blobs |= blobs
        ids = set(img.diff_ids)
        layer_ids |= ids
        if img.id in in_use:
            active_blobs |= blobs
            active_layer_ids |= ids
    extracted = {d: tree_size(store.layer_dir(d)) for d in layer_ids}
    size = _blobs_size(store, all_blobs) + sum(extracted.values())
    active_size = _blobs_size(store, active_blobs) + sum(extracted[d] for d in active_layer_ids)
    active = sum(1 for img in images if img.id in in_use)
    return Usage(len(images), active, size, size - active_size)


def build_cache_usage(store: Store) -> Usage:
    """The build cache: its entries and the blobs only they hold (all reclaimable)."""
    if not store.cache.dir.is_dir():
        return Usage(0, 0, 0, 0)
    tagged: set[Digest] = set()
    for img in store.images():
        tagged |= _image_blobs(img)
    cache_only: set[Digest] = set()
    entries = len(os.listdir(store.cache.dir))
    for digest in store.cache.roots():
        try:
            img = store.image_from_digest(digest)
        except MinidockError:
            continue
        cache_only |= _image_blobs(img) - tagged
    size = _blobs_size(store, cache_only)
    return Usage(entries, 0, size, size)
