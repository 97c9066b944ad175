"""`load`: docker-archives, OCI archives and tars of an OCI layout into the store.

The archive is read once, as a stream (it may come from a pipe), so its
members arrive in whatever order the writer chose and the manifest may come
last. Small metadata files (`manifest.json`, `index.json`, legacy configs) are
kept in memory; everything else is streamed into the blob store as it passes,
hashed while it is written and checked against the digest its path names.
Only when the archive has ended are the manifests resolved against what
arrived: every blob they name must be there (or already in the store) with the
right digest and size, and a docker-archive's layers must match the config's
diff_ids. Only then is any image recorded, so a truncated or incomplete
archive leaves nothing referenced; the blobs it did bring are garbage that the
next collection removes. All of it runs under the store's writer lock, so a
concurrent collection never sweeps blobs between their arrival and the record.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from minidock import mediatypes as mt
from minidock.archive.source import open_tar_stream
from minidock.digest import Digest
from minidock.errors import ArchiveError, DigestError, LayerError, MinidockError
from minidock.layer.compression import (
    decompressing_reader,
    sniff_compression,
)
from minidock.layer.entry import EntryKind
from minidock.layer.streams import Source
from minidock.layer.tarstream import TarReader
from minidock.oci.model import (
    Descriptor,
    Index,
    Manifest,
    diff_ids,
    parse_config,
    sniff_media_type,
)
from minidock.reference import Reference, parse
from minidock.store.refs import RefIndex
from minidock.store.store import MAX_MANIFEST_SIZE, Image, Store

# (member path, bytes): called once per blob taken into the store
Progress = Callable[[str, int], None]

_METADATA_NAMES = frozenset({"manifest.json", "index.json", "repositories", "oci-layout"})
_MAX_METADATA = 16 << 20
_BLOB_PATH = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")
_LEGACY_CONFIG_PATH = re.compile(r"^([a-f0-9]{64})\.json$")
_MAX_LINK_HOPS = 16
_CHUNK = 1 << 20


@dataclass
class LoadedImage:
    """An image the archive brought, its tags, and tags it took from other images."""

    image: Image
    tags: list[Reference]
    replaced: list[tuple[Reference, Digest]] = field(default_factory=list)


@dataclass
class _Blob:
    digest: Digest
    size: int


@dataclass
class _Plan:
    desc: Descriptor
    tags: list[Reference] = field(default_factory=list)


def _clean(path: str) -> str:
    """An archive member path without `./`, leading `/` or `..` games."""
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    return "" if cleaned == "." else cleaned


def _digest_named_by(path: str) -> Digest | None:
    match = _BLOB_PATH.match(path) or _LEGACY_CONFIG_PATH.match(path)
    return Digest("sha256:" + match.group(1)) if match else None


def _is_metadata(path: str) -> bool:
    if path in _METADATA_NAMES:
        return True
    if "/" not in path and path.endswith(".json"):
        return True  # legacy docker-archive config `<hex>.json`
    return posixpath.basename(path) in ("json", "VERSION")  # legacy per-layer metadata


class _MemberReader:
    """The current member of a TarReader as a `read`-able stream."""

    def __init__(self, reader: TarReader):
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _CHUNK
        buf = bytearray(size)
        n = self._reader.readinto(buf)
        del buf[n:]
        return bytes(buf)


class _Contents:
    """What the archive held: metadata in memory, blobs in the store, links between paths."""

    def __init__(self, store: Store):
        self.store = store
        self.data: dict[str, bytes] = {}
        self.blobs: dict[str, _Blob] = {}
        self.links: dict[str, str] = {}

    def _resolve(self, path: str) -> str:
        path = _clean(path)
        for _ in range(_MAX_LINK_HOPS):
            target = self.links.get(path)
            if target is None:
                return path
            path = target
        raise ArchiveError(f"invalid archive: too many levels of links at {path}")

    def has(self, path: str) -> bool:
        path = self._resolve(path)
        return path in self.data or path in self.blobs

    def blob(self, path: str) -> _Blob:
        """The blob stored for member `path`; an error naming it when absent."""
        resolved = self._resolve(path)
        blob = self.blobs.get(resolved)
        if blob is not None:
            return blob
        data = self.data.get(resolved)
        if data is not None:
            digest = self.store.put_blob(data)
            blob = self.blobs[resolved] = _Blob(digest, len(data))
            return blob
        raise ArchiveError(f"invalid archive: it names {path} but does not contain it")

    def blob_by_digest(self, desc: Descriptor) -> _Blob:
        """A blob an OCI manifest names: from the archive, else already in the store."""
        path = f"blobs/sha256/{desc.digest.hex}"
        if self.has(path):
            blob = self.blob(path)
        elif self.store.blobs.exists(desc.digest):
            blob = _Blob(desc.digest, self.store.blobs.size(desc.digest))
        else:
            raise ArchiveError(f"invalid archive: blob {desc.digest} is named by a manifest "
                               "but missing from the archive")
        if blob.digest != desc.digest:
            raise DigestError(f"blob {desc.digest}: digest mismatch: content hashes to "
                              f"{blob.digest}")
        if blob.size != desc.size:
            raise ArchiveError(f"invalid archive: blob {desc.digest} has {blob.size} bytes, "
                               f"its descriptor says {desc.size}")
        return blob

    def small(self, path: str, what: str) -> bytes:
        """A small document (manifest, index, config) by member path."""
        resolved = self._resolve(path)
        data = self.data.get(resolved)
        if data is not None:
            return data
        blob = self.blobs.get(resolved)
        if blob is None:
            raise ArchiveError(f"invalid archive: {what} {path} is missing")
        if blob.size > _MAX_METADATA:
            raise ArchiveError(f"invalid archive: {what} {path} is too large")
        return self.store.blobs.read(blob.digest, blob.size)


def _read_members(store: Store, stream: Source, progress: Progress | None) -> _Contents:
    contents = _Contents(store)
    reader = TarReader(stream)
    seen_any = False
    try:
        for entry in reader:
            seen_any = True
            path = _clean(entry.path)
            if not path or entry.kind is EntryKind.DIR:
                continue
            if entry.kind is EntryKind.SYMLINK:
                base = posixpath.dirname(path)
                contents.links[path] = _clean(posixpath.join(base, entry.linkname))
            elif entry.kind is EntryKind.HARDLINK:
                contents.links[path] = _clean(entry.linkname)
            elif entry.kind is EntryKind.FILE:
                _take_file(store, reader, contents, path, entry.size, progress)
    except LayerError as exc:
        if not seen_any:
            raise ArchiveError("invalid archive: not a tar archive") from None
        raise ArchiveError("invalid archive: " + str(exc).replace("layer tar", "tar")) from None
    if not seen_any:
        raise ArchiveError("invalid archive: it is empty")
    return contents


def _take_file(store: Store, reader: TarReader, contents: _Contents, path: str, size: int,
               progress: Progress | None) -> None:
    if _is_metadata(path):
        if size > _MAX_METADATA:
            raise ArchiveError(f"invalid archive: {path} is too large ({size} bytes)")
        stream = _MemberReader(reader)
        chunks = []
        while chunk := stream.read(_CHUNK):
            chunks.append(chunk)
        contents.data[path] = b"".join(chunks)
        return
    expected = _digest_named_by(path)
    if expected is not None and store.blobs.exists(expected) and (
            store.blobs.size(expected) == size):
        # already stored under that name: skip the bytes rather than copy them again
        contents.blobs[path] = _Blob(expected, size)
        return
    digest, written = store.blobs.copy_in(_MemberReader(reader), expected, size)  # type: ignore[arg-type]
    contents.blobs[path] = _Blob(digest, written)
    if progress is not None:
        progress(path, written)


# ---------------------------------------------------------------- docker-archive


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"invalid archive: {what} is not valid JSON: {exc}") from None


def _parse_tags(names: Any, what: str) -> list[Reference]:
    if names is None:
        return []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArchiveError(f"invalid archive: {what} is not a list of names")
    tags: list[Reference] = []
    for name in names:
        try:
            ref = parse(name)
        except MinidockError as exc:
            raise ArchiveError(f"invalid archive: {what}: {exc}") from None
        if ref.digest:
            continue  # a digest is not a tag; the image is still loaded
        if all(t.full != ref.full for t in tags):
            tags.append(ref)
    return tags


def _uncompressed_digest(store: Store, blob: _Blob) -> tuple[str, Digest]:
    """(compression, diff_id) of a stored layer blob that is not a plain tar."""
    with store.blobs.open(blob.digest, blob.size) as raw:
        head = raw.read(4)
    kind = sniff_compression(head)
    if kind == "none":
        return kind, blob.digest
    digest = hashlib.sha256()
    with store.blobs.open(blob.digest, blob.size) as raw:
        try:
            reader = decompressing_reader(raw)
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
            raw.read()
        except LayerError as exc:
            raise ArchiveError(f"invalid archive: layer {blob.digest}: {exc}") from None
    return kind, Digest("sha256:" + digest.hexdigest())


def _docker_plans(store: Store, contents: _Contents) -> list[_Plan]:
    doc = _json(contents.small("manifest.json", "manifest"), "manifest.json")
    if not isinstance(doc, list) or not all(isinstance(x, dict) for x in doc):
        raise ArchiveError("invalid archive: manifest.json is not a list of images")
    if not doc:
        raise ArchiveError("invalid archive: manifest.json lists no images")
    plans = []
    for entry in doc:
        cfg_path = entry.get("Config")
        layer_paths = entry.get("Layers")
        if not isinstance(cfg_path, str) or not isinstance(layer_paths, list) or not all(
                isinstance(p, str) for p in layer_paths):
            raise ArchiveError("invalid archive: manifest.json entry without Config or Layers")
        cfg = contents.small(cfg_path, "config")
        cfg_digest = Digest.of_bytes(cfg)
        named = _digest_named_by(_clean(cfg_path))
        if named is not None and named != cfg_digest:
            raise DigestError(f"blob {named}: digest mismatch: content hashes to {cfg_digest}")
        ids = diff_ids(parse_config(cfg))
        if len(ids) != len(layer_paths):
            raise ArchiveError(f"invalid archive: config {cfg_digest.short} lists {len(ids)} "
                               f"diff_ids for {len(layer_paths)} layers")
        layers = []
        for path, diff_id in zip(layer_paths, ids, strict=True):
            blob = contents.blob(path)
            kind = "none"
            if blob.digest != diff_id:
                kind, actual = _uncompressed_digest(store, blob)
                if actual != diff_id:
                    raise DigestError(f"layer {path}: content hashes to {actual}, "
                                      f"config says {diff_id}")
            layers.append(Descriptor(mt.media_type_for(kind), blob.digest, blob.size))
        store.put_blob(cfg)  # the exact bytes: the image ID is their digest
        manifest = Manifest(mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, cfg_digest, len(cfg)),
                            tuple(layers))
        data = manifest.to_bytes()
        desc = Descriptor(mt.OCI_MANIFEST, store.put_blob(data), len(data))
        plans.append(_Plan(desc, _parse_tags(entry.get("RepoTags"), "RepoTags")))
    return plans


# ---------------------------------------------------------------- OCI layout


def _oci_plans(store: Store, contents: _Contents) -> list[_Plan]:
    try:
        index = Index.parse(contents.small("index.json", "index"))
    except MinidockError as exc:
        raise ArchiveError(f"invalid archive: index.json: {exc}") from None
    if not index.manifests:
        raise ArchiveError("invalid archive: index.json lists no images")
    plans: dict[Digest, _Plan] = {}
    for entry in index.manifests:
        desc = _image_manifest(store, contents, entry)
        plan = plans.setdefault(desc.digest, _Plan(desc))
        name = RefIndex.name_of(entry)
        if name is not None and not name.digest and all(t.full != name.full
                                                          for t in plan.tags):
            plan.tags.append(name)
    return list(plans.values())


def _image_manifest(store: Store, contents: _Contents, entry: Descriptor) -> Descriptor:
    """Check the image an index entry names (choosing the host's platform in an index)."""
    if entry.size > MAX_MANIFEST_SIZE:
        raise ArchiveError(f"invalid archive: manifest {entry.digest} is too large")
    blob = contents.blob_by_digest(entry)
    data = store.blobs.read(blob.digest, blob.size)
    try:
        media = sniff_media_type(data)
        if media in mt.INDEXES:
            chosen = store.platform_manifest(data)
            return _image_manifest(store, contents, chosen)
        manifest = Manifest.parse(data)
        desc = Descriptor(media, entry.digest, entry.size)
        contents.blob_by_digest(manifest.config)
        cfg = parse_config(store.blobs.read(manifest.config.digest, manifest.config.size))
    except (DigestError, ArchiveError):
        raise
    except MinidockError as exc:
        raise ArchiveError(f"invalid archive: manifest {entry.digest}: {exc}") from None
    ids = diff_ids(cfg)
    if len(ids) != len(manifest.layers):
        raise ArchiveError(f"invalid archive: config {manifest.config.digest.short} lists "
                           f"{len(ids)} diff_ids for {len(manifest.layers)} layers")
    for layer, diff_id in zip(manifest.layers, ids, strict=True):
        contents.blob_by_digest(layer)
        if layer.media_type in (mt.OCI_LAYER, mt.DOCKER_LAYER) and layer.digest != diff_id:
            raise DigestError(f"layer {layer.digest}: uncompressed layer does not match its "
                              f"diff_id {diff_id}")
    return desc


# ---------------------------------------------------------------- entry point


def load(store: Store, stream: BinaryIO, *, progress: Progress | None = None
         ) -> list[LoadedImage]:
    """Load every image of the archive in `stream`; returns them as recorded."""
    tar, _compression = open_tar_stream(stream)
    with store.writing():
        contents = _read_members(store, tar, progress)
        if contents.has("manifest.json"):
            plans = _docker_plans(store, contents)
        elif contents.has("index.json"):
            plans = _oci_plans(store, contents)
        else:
            raise ArchiveError("invalid archive: no manifest.json or index.json (not a "
                               "docker-archive or OCI archive)")
        loaded = []
        for plan in plans:
            replaced = _tags_taken(store, plan)
            image = store.record_image(plan.desc, plan.tags)
            loaded.append(LoadedImage(image, plan.tags, replaced))
    return loaded


def _tags_taken(store: Store, plan: _Plan) -> list[tuple[Reference, Digest]]:
    """Tags of `plan` that now name a different image, with that image's ID."""
    new_id = store.read_manifest(plan.desc).config.digest
    taken = []
    for tag in plan.tags:
        old = store.find_image(tag.full)
        if old is not None and old.id != new_id:
            taken.append((tag, old.id))
    return taken
