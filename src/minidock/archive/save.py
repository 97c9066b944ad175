"""`save`: images from the store to a docker-archive or an OCI archive.

docker-archive is what `docker save` writes since Docker 25 minus its OCI
index: `manifest.json` naming each image's config and layers, `repositories`,
and the blobs under `blobs/sha256/`, layers as plain uncompressed tars named
by their diff_id. `docker load`, `podman load` and `skopeo` read it; leaving out
the OCI index keeps podman on its docker-archive path, which names images by
`RepoTags` as the user expects.

OCI archive is an OCI image layout in a tar: blobs copied as stored (still
compressed), `index.json` with one entry per tag annotated as the store does.

Every blob is read through a verifying reader, and every layer's uncompressed
content is checked against the config's diff_id, so a corrupted store never
produces an archive that looks good.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from minidock import mediatypes as mt
from minidock.archive.tarwriter import ArchiveWriter
from minidock.digest import Digest
from minidock.errors import ArchiveError, DigestError, LayerError, MinidockError, UsageError
from minidock.layer.compression import decompressing_reader
from minidock.oci.model import Descriptor, diff_ids, parse_config
from minidock.reference import Reference, parse
from minidock.store.blobs import HashingReader
from minidock.store.refs import RefIndex
from minidock.store.store import OCI_LAYOUT, Image, Store

FORMATS = ("docker", "oci")

# (what, bytes): called once per blob written, for progress display
Progress = Callable[[str, int], None]


@dataclass
class SaveItem:
    """One image to save and the tags to record for it in the archive."""

    image: Image
    tags: list[Reference] = field(default_factory=list)


def resolve(store: Store, names: list[str]) -> list[SaveItem]:
    """The images `names` refer to, in order, each once.

    A name given as `repo[:tag]` puts that tag in the archive; an image given
    by ID or digest is saved without tags, as Docker does.
    """
    if not names:
        raise UsageError("save requires at least one image")
    items: dict[Digest, SaveItem] = {}
    for text in names:
        img = store.image(text)
        item = items.setdefault(img.digest, SaveItem(img))
        try:
            ref: Reference | None = parse(text)
        except MinidockError:
            ref = None
        if ref is not None and not ref.digest and any(n.full == ref.full for n in img.names):
            if all(t.full != ref.full for t in item.tags):
                item.tags.append(ref)
    return list(items.values())


def save(store: Store, names: list[str], out: BinaryIO, *, fmt: str = "docker",
         progress: Progress | None = None) -> list[SaveItem]:
    """Write the images `names` refer to into `out` (seekable) as `fmt`."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown archive format {fmt!r}: choose docker or oci")
    # holding the writer lock keeps garbage collection from sweeping blobs mid-copy
    with store.writing():
        items = resolve(store, names)
        writer = ArchiveWriter(out)
        if fmt == "oci":
            _write_oci(store, items, writer, progress)
        else:
            _write_docker(store, items, writer, progress)
        writer.close()
    return items


def _blob_name(digest: Digest) -> str:
    return f"blobs/sha256/{digest.hex}"


def _write_docker(store: Store, items: list[SaveItem], writer: ArchiveWriter,
                  progress: Progress | None) -> None:
    writer.add_dir("blobs")
    writer.add_dir("blobs/sha256")
    manifest: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    for item in items:
        img = item.image
        cfg_desc = img.manifest.config
        cfg_bytes = store.blobs.read(cfg_desc.digest, cfg_desc.size)
        ids = diff_ids(parse_config(cfg_bytes))
        if len(ids) != len(img.layers):
            raise ArchiveError(f"image {img.short_id}: config lists {len(ids)} diff_ids for "
                               f"{len(img.layers)} layers")
        cfg_name = _blob_name(cfg_desc.digest)
        if not writer.has(cfg_name):
            writer.add_bytes(cfg_name, cfg_bytes)
        layer_names = []
        for desc, diff_id in zip(img.layers, ids, strict=True):
            name = _blob_name(diff_id)
            if not writer.has(name):
                size = _write_uncompressed_layer(store, writer, name, desc, diff_id)
                if progress is not None:
                    progress(f"layer {diff_id.short}", size)
            layer_names.append(name)
        manifest.append({"Config": cfg_name,
                         "RepoTags": [t.familiar for t in item.tags] or None,
                         "Layers": layer_names})
        top = ids[-1].hex if ids else cfg_desc.digest.hex
        for tag in item.tags:
            repositories.setdefault(tag.familiar_name, {})[tag.tag or "latest"] = top
    writer.add_bytes("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()
                     + b"\n")
    if repositories:
        writer.add_bytes("repositories",
                         json.dumps(repositories, separators=(",", ":")).encode() + b"\n")


def _write_uncompressed_layer(store: Store, writer: ArchiveWriter, name: str,
                              desc: Descriptor, diff_id: Digest) -> int:
    """Write a layer as a plain tar, verifying blob digest and diff_id; returns its size."""
    try:
        kind = mt.compression_of(desc.media_type)
    except LayerError as exc:
        raise ArchiveError(f"layer blob {desc.digest}: {exc}") from None
    with store.open_blob(desc) as blob:
        if kind == "none":
            if desc.digest != diff_id:
                raise DigestError(f"layer {desc.digest}: uncompressed layer does not match "
                                  f"its diff_id {diff_id}")
            # the verifying reader proves content == digest == diff_id at EOF
            writer.add_stream(name, blob, desc.size)
            return desc.size
        hashing = HashingReader(decompressing_reader(blob, desc.media_type))
        try:
            size = writer.add_unsized(name, hashing)
            blob.read()  # the compressed stream's end: the blob digest is checked here
        except LayerError as exc:
            # a flipped byte often shows as corrupt compression: name the real cause
            store.blobs.verify(desc.digest, desc.size)
            raise ArchiveError(f"layer blob {desc.digest}: {exc}") from None
    if hashing.digest != diff_id:
        raise DigestError(f"layer {desc.digest}: uncompressed content hashes to "
                          f"{hashing.digest}, config says {diff_id}")
    return size


def _copy_blob(store: Store, writer: ArchiveWriter, desc: Descriptor,
               progress: Progress | None) -> None:
    name = _blob_name(desc.digest)
    if writer.has(name):
        return
    with store.open_blob(desc) as blob:
        writer.add_stream(name, blob, desc.size)
    if progress is not None and desc.media_type in mt.LAYERS:
        progress(f"layer {desc.digest.short}", desc.size)


def _write_oci(store: Store, items: list[SaveItem], writer: ArchiveWriter,
               progress: Progress | None) -> None:
    writer.add_bytes("oci-layout", OCI_LAYOUT)
    writer.add_dir("blobs")
    writer.add_dir("blobs/sha256")
    entries: list[dict[str, object]] = []
    for item in items:
        img = item.image
        for desc in (img.manifest_descriptor, img.manifest.config, *img.layers):
            _copy_blob(store, writer, desc, progress)
        plain = Descriptor(img.manifest_descriptor.media_type, img.digest,
                           img.manifest_descriptor.size)
        names: list[Reference | None] = list(item.tags) or [None]
        for tag in names:
            entries.append(RefIndex.entry_for(plain, tag).to_json())
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    writer.add_bytes("index.json", json.dumps(index, separators=(",", ":")).encode() + b"\n")
