"""`image prune`: drop dangling images (every unused one with `all_images`, the
build cache's intermediate images included), then collect what no longer has a
root."""

from __future__ import annotations

from minidock.digest import Digest
from minidock.errors import MinidockError
from minidock.oci.timestamps import parse_time
from minidock.store.filters import prune_passes
from minidock.store.store import Image, Store


def blob_sizes(store: Store) -> dict[Digest, int]:
    """The size of every blob now in the store: a collection reports what it freed."""
    sizes = {}
    for digest in store.blobs.all():
        try:
            sizes[digest] = store.blobs.size(digest)
        except MinidockError:
            continue
    return sizes


def prune_images(store: Store, *, all_images: bool, in_use: set[Digest],
                 filters: dict[str, list[str]] | None = None
                 ) -> tuple[list[tuple[str, str]], int]:
    """Remove dangling images (every image no container uses, with `all_images`)
    that pass the parsed prune `filters` (until, label, label!).

    Returns Docker's report lines (("untagged" | "deleted", value)) and the
    bytes of the blobs the collection freed.
    """
    sizes = blob_sizes(store)
    events: list[tuple[str, str]] = []
    layers_of_removed: set[Digest] = set()
    with store.lock():
        images = store.images()
        if all_images:  # the build cache's intermediate images are unused images too
            images += store.intermediate_images({img.digest for img in images})
        for img in images:
            if img.id in in_use or (img.names and not all_images):
                continue
            if filters and not prune_passes(filters, _labels(img), _created(img)):
                continue
            events.extend(("untagged", name.familiar) for name in img.names)
            store.forget_image(img)
            events.append(("deleted", str(img.id)))
            layers_of_removed.update(layer.digest for layer in img.layers)
    removed = store.gc()
    events.extend(("deleted", str(d)) for d in removed if d in layers_of_removed)
    return events, sum(sizes.get(d, 0) for d in removed)


def _labels(img: Image) -> dict[str, str]:
    return dict((img.config.get("config") or {}).get("Labels") or {})


def _created(img: Image) -> float | None:
    moment = parse_time(img.config.get("created"))
    return moment.timestamp() if moment else None
