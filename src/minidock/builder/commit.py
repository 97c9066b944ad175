"""Writing a step's result into the store: its layer blob, config and manifest.

Layers stream straight into a blob writer (never held in memory). A step's
image is written as config + manifest blobs but is not added to the image
list: intermediate images stay reachable through the build cache only, so
`minidock images` shows build results, not every step. The caller holds
`Store.writing()` for the whole build so GC never sweeps these blobs between
their writing and the cache entry that references them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.layer.entry import Entry
from minidock.layer.writer import LayerBuilder, LayerInfo
from minidock.oci.model import Descriptor, Manifest, parse_config
from minidock.store.store import Store


@dataclass(frozen=True)
class StepImage:
    """An image in the store, possibly unlisted: manifest descriptor, manifest, config."""

    descriptor: Descriptor
    manifest: Manifest
    config: dict[str, Any]

    @property
    def id(self) -> Digest:
        return self.manifest.config.digest

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers


def load_step_image(store: Store, manifest_digest: Digest) -> StepImage | None:
    """An image by manifest digest, or None when its blobs are gone (a stale cache entry)."""
    try:
        data = store.blobs.read(manifest_digest)
        manifest = Manifest.parse(data)
        config = parse_config(store.blobs.read(manifest.config.digest, manifest.config.size))
        for layer in manifest.layers:
            if not store.blobs.exists(layer.digest):
                return None
    except Exception:  # noqa: BLE001 - any damage means "not cached"
        return None
    return StepImage(Descriptor(manifest.media_type, manifest_digest, len(data)), manifest,
                     config)


class Committer:
    def __init__(self, store: Store, compression: str, source_date_epoch: int | None):
        self.store = store
        self.compression = compression
        self.source_date_epoch = source_date_epoch

    def write_layer(self, produce: Callable[[BinaryIO], LayerInfo]
                    ) -> tuple[Descriptor, Digest]:
        """Stream a layer through `produce(sink)` into a blob: (descriptor, diff_id)."""
        with self.store.blob_writer() as sink:
            info = produce(sink)  # type: ignore[arg-type]
            sink.commit()
        return Descriptor(info.media_type, info.digest, info.size), info.diff_id

    def layer_from_entries(self, entries: Iterable[Entry]) -> tuple[Descriptor, Digest]:
        builder = LayerBuilder(source_date_epoch=self.source_date_epoch)
        for entry in entries:
            builder.add(entry)
        return self.write_layer(lambda sink: builder.write(sink, self.compression))

    def image(self, config: dict[str, Any], layers: list[Descriptor]) -> StepImage:
        cfg_desc = self.store.put_json(config, mt.OCI_CONFIG)
        manifest = Manifest(mt.OCI_MANIFEST, cfg_desc, tuple(
            Descriptor(layer.media_type, layer.digest, layer.size) for layer in layers))
        data = manifest.to_bytes()
        desc = Descriptor(mt.OCI_MANIFEST, self.store.put_blob(data), len(data))
        return StepImage(desc, manifest, config)
