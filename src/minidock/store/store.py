"""The store's two classes: `Store`, the layout on disk with its images, blobs,
tags, extracted layers and garbage collection; and `Image`, a read-only view of
one image in it. They live together because each needs the other."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.errors import (
    ConflictError,
    DigestError,
    ImageNotFound,
    MinidockError,
    NotFoundError,
    StoreError,
    UsageError,
)
from minidock.fsutil import remove_tree, write_atomic
from minidock.oci.model import (
    Descriptor,
    ImageFormatError,
    Index,
    Manifest,
    canonical_json,
    chain_ids,
    diff_ids,
    host_platform,
    parse_config,
    sniff_media_type,
)
from minidock.reference import Reference, looks_like_id, parse
from minidock.settings import Settings
from minidock.store.blobs import BlobStore, BlobWriter, HashingReader
from minidock.store.cache import BuildCache
from minidock.store.lock import file_lock
from minidock.store.refs import RefIndex

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
CACHE_MOUNTS_DIR = "buildcache-mounts"  # RUN --mount=type=cache directories
# Who may read what (docs/store.md, "Permissions"): the root is 0710 as Docker keeps
# /var/lib/docker; the OCI layout (blobs/ and the files at the top) keeps ordinary
# modes, readable by the owner's group; the other directories hold trees extracted
# as root (setuid binaries, device nodes) or runtime state and are the owner's alone.
ROOT_MODE = 0o710
PRIVATE_MODE = 0o700
PRIVATE_DIRS = ("layers", "containers", "volumes", "cache", "tmp", CACHE_MOUNTS_DIR)
MAX_MANIFEST_SIZE = 4 << 20  # what registries accept for a manifest


@dataclass
class Image:
    """A read-only view of one image in the store (manifest + config)."""

    store: Store = field(repr=False)
    manifest_descriptor: Descriptor
    manifest: Manifest
    names: list[Reference] = field(default_factory=list)

    @property
    def digest(self) -> Digest:
        """The manifest digest (what a registry calls the image digest)."""
        return self.manifest_descriptor.digest

    @property
    def id(self) -> Digest:
        """Docker's IMAGE ID: the config digest."""
        return self.manifest.config.digest

    @property
    def short_id(self) -> str:
        return self.id.short

    @cached_property
    def config(self) -> dict[str, Any]:
        return parse_config(self.store.blobs.read(self.manifest.config.digest,
                                                  self.manifest.config.size))

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    @property
    def diff_ids(self) -> list[Digest]:
        return diff_ids(self.config)

    @cached_property
    def layer_sizes(self) -> list[int]:
        """Each layer's size as Docker counts it: the bytes of its files."""
        from minidock.store.layersize import layer_content_size

        return [layer_content_size(self.store.root, self.store.blobs, layer)
                for layer in self.layers]

    @property
    def size(self) -> int:
        """Docker's SIZE of the image: the bytes of the files in its layers."""
        return sum(self.layer_sizes)

    @property
    def repo_tags(self) -> list[str]:
        return [n.familiar for n in self.names]


def _keep_mode(fd: int, mode: int) -> None:
    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
        try:
            os.fchmod(fd, mode)
        except OSError:
            pass  # another user's store, or a read-only one: not ours to repair


class Store:
    def __init__(self, settings: Settings | Path | str):
        if isinstance(settings, Settings):
            self.settings = settings
        else:
            self.settings = Settings.from_env(root=settings)
        self.root: Path = self.settings.root
        self.blobs = BlobStore(self.root)
        self.refs = RefIndex(self.root)
        self.cache = BuildCache(self.root)
        self.layers_dir = self.root / "layers"
        self.tmp_dir = self.root / "tmp"
        self._manifest_cache: dict[Digest, Manifest] = {}
        self.secure_layout()

    # ---- layout and locks -------------------------------------------------
    def ensure(self) -> Store:
        """Create the layout if missing (idempotent, safe to race)."""
        if (self.root / "oci-layout").exists() and self.tmp_dir.is_dir():
            return self
        self.root.mkdir(mode=ROOT_MODE, parents=True, exist_ok=True)
        for d in (self.tmp_dir, self.layers_dir, self.root / "containers",
                  self.root / "volumes", self.root / "cache"):
            d.mkdir(mode=PRIVATE_MODE, exist_ok=True)
        self.blobs.dir.mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            write_atomic(self.root / "oci-layout", OCI_LAYOUT, tmp_dir=self.tmp_dir)
        self.secure_layout()
        if not self.refs.path.exists():
            with self.lock():
                if not self.refs.path.exists():
                    self.refs.save([])
        return self

    def secure_layout(self) -> None:
        """Give the root and the private directories their modes (ROOT_MODE,
        PRIVATE_MODE), repairing a store made before they were kept. Only the top is
        looked at, never the layers below it, so every open can afford it (45 us).
        A directory that is no store (no `oci-layout`) is never touched, nor a
        sticky root such as /tmp, nor a store that is not ours to change."""
        try:
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return  # no store yet
        try:
            try:
                os.stat("oci-layout", dir_fd=root_fd, follow_symlinks=False)
            except OSError:
                return
            if not os.fstat(root_fd).st_mode & stat.S_ISVTX:
                _keep_mode(root_fd, ROOT_MODE)
            for name in PRIVATE_DIRS:
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, dir_fd=root_fd)
                except OSError:
                    continue  # missing, or swapped for a link: never follow it
                try:
                    _keep_mode(fd, PRIVATE_MODE)
                finally:
                    os.close(fd)
        finally:
            os.close(root_fd)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock for changing index.json and other metadata."""
        self.root.mkdir(mode=ROOT_MODE, parents=True, exist_ok=True)
        with file_lock(self.root / "index.lock"):
            yield

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held (shared) while writing blobs that are not referenced yet."""
        self.ensure()
        with file_lock(self.root / "gc.lock", shared=True):
            # a writer starting is the moment to drop what dead writers left behind
            self.blobs.clean_temp()
            yield

    # ---- blobs -------------------------------------------------------------
    def blob_writer(self, expected: Digest | None = None,
                    expected_size: int | None = None) -> BlobWriter:
        self.ensure()
        return self.blobs.writer(expected, expected_size)

    def put_blob(self, data: bytes) -> Digest:
        self.ensure()
        return self.blobs.put(data)

    def put_json(self, obj: Any, media_type: str) -> Descriptor:
        data = canonical_json(obj)
        return Descriptor(media_type, self.put_blob(data), len(data))

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.blobs.open(desc.digest, desc.size)  # type: ignore[return-value]

    def read_manifest(self, desc: Descriptor | Digest) -> Manifest:
        digest = desc.digest if isinstance(desc, Descriptor) else desc
        size = desc.size if isinstance(desc, Descriptor) else None
        cached = self._manifest_cache.get(digest)
        if cached is None:
            cached = Manifest.parse(self.blobs.read(digest, size))
            self._manifest_cache[digest] = cached
        return cached

    # ---- images --------------------------------------------------------------
    def images(self) -> list[Image]:
        """Every image, each once, with all its names, in index order."""
        by_digest: dict[Digest, Image] = {}
        for entry in self.refs.entries():
            img = by_digest.get(entry.digest)
            if img is None:
                if entry.media_type in mt.INDEXES:
                    continue
                img = Image(self, entry, self.read_manifest(entry))
                by_digest[entry.digest] = img
            name = RefIndex.name_of(entry)
            if name is not None:
                img.names.append(name)
        return list(by_digest.values())

    def intermediate_images(self, known: set[Digest] | None = None) -> list[Image]:
        """Images only the build cache holds (a build's steps, the classic builder's
        intermediate images): `images -a` lists them as `<none>`, `inspect` and
        `history` find them by ID, `system df` counts them as the build cache.
        `known` holds the manifest digests of `images()`, when the caller has them."""
        if known is None:
            known = {img.digest for img in self.images()}
        known = set(known)
        out = []
        for digest in sorted(self.cache.roots()):
            if digest in known:
                continue
            try:
                out.append(self.image_from_digest(digest))
            except MinidockError:
                continue  # a cache entry whose image is gone: no image to show
            known.add(digest)
        return out

    def image_from_digest(self, digest: Digest) -> Image:
        if self.blobs.size(digest) > MAX_MANIFEST_SIZE:
            # a layer blob named by digest: never read megabytes to learn it is no manifest
            raise ImageFormatError(f"blob {digest} is not an image manifest")
        data = self.blobs.read(digest)
        desc = Descriptor(sniff_media_type(data), digest, len(data))
        return Image(self, desc, self.read_manifest(desc))

    def find_image(self, text: str) -> Image | None:
        """Look up by name[:tag], name@digest, full or short ID, or manifest digest."""
        images = self.images()
        ref: Reference | None = None
        try:
            ref = parse(text)
        except MinidockError:
            if not looks_like_id(text):
                raise
        if ref is not None:
            if ref.digest:
                digest = Digest(ref.digest)
                for img in images:
                    if img.digest == digest and (not img.names or any(
                            n.name == ref.name for n in img.names)):
                        return img
                if self.blobs.exists(digest):
                    try:
                        return self.image_from_digest(digest)
                    except ImageFormatError:
                        return None
            else:
                for img in images:
                    if any(n.full == ref.full for n in img.names):
                        return img
        if looks_like_id(text):
            hexpart = text[7:] if text.startswith("sha256:") else text
            candidates = images + self.intermediate_images({img.digest for img in images})
            matches = [img for img in candidates if img.id.hex.startswith(hexpart)
                       or (len(hexpart) == 64 and img.digest.hex == hexpart)]
            unique = {img.id: img for img in matches}
            if len(unique) > 1:
                raise ConflictError(f"image ID {text!r} is ambiguous: matches "
                                    f"{len(unique)} images")
            if unique:
                return next(iter(unique.values()))
        return None

    def image(self, text: str) -> Image:
        img = self.find_image(text)
        if img is None:
            raise ImageNotFound(text)
        return img

    def add_image(self, config: dict[str, Any], layers: list[Descriptor],
                  *, tags: list[Reference] | tuple[Reference, ...] = (),
                  annotations: dict[str, str] | None = None) -> Image:
        """Write config + manifest for layers already in the store; record the image."""
        for layer in layers:
            if not self.blobs.exists(layer.digest):
                raise StoreError(f"layer blob {layer.digest} is missing from the store")
        cfg_desc = self.put_json(config, mt.OCI_CONFIG)
        manifest = Manifest(mt.OCI_MANIFEST, cfg_desc, tuple(
            Descriptor(layer.media_type, layer.digest, layer.size) for layer in layers),
            annotations or {})
        data = manifest.to_bytes()
        desc = Descriptor(mt.OCI_MANIFEST, self.put_blob(data), len(data))
        return self.record_image(desc, tags)

    def record_image(self, desc: Descriptor, tags: list[Reference] | tuple[Reference, ...] = (),
                     ) -> Image:
        """Add a manifest already in the store to the image list, with tags."""
        manifest = self.read_manifest(desc)
        self.blobs.read(manifest.config.digest, manifest.config.size)  # verify it is there
        with self.lock():
            if tags:
                for ref in tags:
                    self.refs.set_tag(ref, desc)
            else:
                self.refs.add_untagged(desc)
        img = Image(self, desc, manifest, list(tags))
        return img

    def keep_listed(self, img: Image) -> bool:
        """Record an image only the build cache holds in index.json, untagged: a
        container is about to use it, and containers keep their images only through
        index.json (a build cache prune must not take its layers). True if added."""
        with self.lock():
            if any(entry.digest == img.digest for entry in self.refs.entries()):
                return False
            if not self.blobs.exists(img.digest):
                raise ImageNotFound(str(img.id))  # collected since it was looked up
            self.refs.add_untagged(img.manifest_descriptor)
            return True

    def tag(self, source: str, target: str) -> Image:
        ref = parse(target)
        if ref.digest:
            raise UsageError(f"refusing to create a tag with a digest reference: {target}")
        with self.lock():
            # look up under the lock: a concurrent rmi + gc must not leave us
            # tagging a manifest whose blobs were just swept
            img = self.image(source)
            img.config  # noqa: B018 - read and verified: never name an image whose config is bad
            self.refs.set_tag(ref, img.manifest_descriptor)
        return img

    def remove_image(self, text: str, *, force: bool = False,
                     in_use: set[Digest] | None = None) -> list[tuple[str, str]]:
        """Docker's rmi: returns [("Untagged", ref) | ("Deleted", id)] events.

        `in_use` holds the image IDs of containers; such an image is kept
        (untagged) with force, refused without.
        """
        in_use = in_use or set()
        events: list[tuple[str, str]] = []
        with self.lock():
            img = self.find_image(text)
            if img is None:
                raise ImageNotFound(text)
            by_name = None
            try:
                r = parse(text)
                if not r.digest and any(n.full == r.full for n in img.names):
                    by_name = r
            except MinidockError:
                pass
            if by_name is None and len(img.names) > 1 and not force:
                raise ConflictError(
                    f"conflict: unable to delete {img.short_id} (must be forced) - image is "
                    "referenced in multiple repositories")
            if img.id in in_use and not force and (by_name is None or len(img.names) <= 1):
                raise ConflictError(
                    f"conflict: unable to remove repository reference \"{text}\" (must force) "
                    f"- container is using its referenced image {img.short_id}")
            names = [by_name] if by_name is not None else list(img.names)
            for name in names:
                self.refs.remove_tag(name, keep_untagged=True)
                events.append(("Untagged", name.familiar))
            remaining = [n for n in img.names if by_name is None or n.full != by_name.full]
            if by_name is not None and remaining:
                return events
            if img.id in in_use:
                return events  # forced: the container keeps its image, untagged
            self.forget_image(img)
            events.append(("Deleted", str(img.id)))
            # docker names the layers no other image uses by their chain IDs, top first
            used = {c for other in self.images() for c in chain_ids(other.diff_ids)}
            events += [("Deleted", str(c)) for c in reversed(chain_ids(img.diff_ids))
                       if c not in used]
        self.gc(blocking=False)
        return events

    def forget_image(self, img: Image) -> None:
        """Drop `img` from the image list and the build cache (under `lock()`), so no
        command lists or finds it any more; gc then frees what only it used."""
        self.refs.remove_digest(img.digest)
        self.cache.forget({img.digest})

    # ---- layers on disk ----------------------------------------------------
    def layer_dir(self, diff_id: Digest) -> Path:
        return self.layers_dir / diff_id.hex

    def extracted_layer(self, image: Image, index: int, *, rootless: bool = False) -> Path:
        """The directory of layer `index` of `image`, extracted on first use.

        Extraction goes to a temp dir renamed into place, so a layer dir exists
        only when complete; concurrent extractions of one layer both succeed.
        """
        diff_id = image.diff_ids[index]
        final = self.layer_dir(diff_id)
        if final.is_dir():
            return final
        from minidock.layer.compression import decompressing_reader
        from minidock.layer.extract import extract

        self.ensure()
        desc = image.layers[index]
        scratch = self.blobs.temp_dir(f"layer-{diff_id.hex[:16]}")
        tmp = scratch.path / "layer"
        tmp.mkdir()
        try:
            with self.open_blob(desc) as blob:
                stream = decompressing_reader(blob, desc.media_type)
                hashing = HashingReader(stream)
                extract(hashing, tmp, mode="overlay", rootless=rootless)
                hashing.drain()
                blob.read()  # hit EOF so the blob digest is checked
            if hashing.digest != diff_id:
                raise DigestError(f"layer {desc.digest}: uncompressed content hashes to "
                                  f"{hashing.digest}, config says {diff_id}")
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():
                    raise
        finally:
            scratch.close()
        return final

    # ---- garbage collection and checks --------------------------------------
    def roots(self) -> set[Digest]:
        return {e.digest for e in self.refs.entries()} | self.cache.roots()

    def reachable(self) -> tuple[set[Digest], set[Digest]]:
        """(blob digests, diff_ids) reachable from the roots."""
        blobs: set[Digest] = set()
        layer_ids: set[Digest] = set()
        todo = list(self.roots())
        while todo:
            digest = todo.pop()
            if digest in blobs:
                continue
            blobs.add(digest)
            try:
                data = self.blobs.read(digest)
                media = sniff_media_type(data)
                if media in mt.INDEXES:
                    todo.extend(d.digest for d in Index.parse(data).manifests)
                    continue
                manifest = Manifest.parse(data)
            except (MinidockError, OSError):
                continue  # missing or corrupt: `system check` reports it
            blobs.add(manifest.config.digest)
            blobs.update(layer.digest for layer in manifest.layers)
            try:
                cfg = parse_config(self.blobs.read(manifest.config.digest))
                layer_ids.update(diff_ids(cfg))
            except (MinidockError, OSError):
                pass
        return blobs, layer_ids

    def gc(self, *, blocking: bool = True) -> list[Digest]:
        """Mark and sweep; returns removed blob digests and layer diff_ids.

        Non-blocking GC gives up (removing nothing) while a writer is active.
        """
        removed: list[Digest] = []
        if not self.root.is_dir():
            return removed
        with file_lock(self.root / "gc.lock", blocking=blocking) as got:
            if not got:
                return removed
            with self.lock():
                keep, keep_layers = self.reachable()
                for digest in self.blobs.all():
                    if digest not in keep:
                        self.blobs.delete(digest)
                        removed.append(digest)
                if self.layers_dir.is_dir():
                    for name in os.listdir(self.layers_dir):
                        try:
                            d = Digest("sha256:" + name)
                        except DigestError:
                            continue
                        if d not in keep_layers:
                            remove_tree(self.layers_dir / name)
                            removed.append(d)
            self.blobs.clean_temp()
        return removed

    def check(self) -> list[str]:
        """Verify every blob and reference; returns one line per problem."""
        problems: list[str] = []
        for digest in self.blobs.all():
            try:
                self.blobs.verify(digest)
            except DigestError as exc:
                problems.append(str(exc))
        try:
            entries = self.refs.entries()
        except StoreError as exc:
            return problems + [str(exc)]
        for entry in entries:
            name = RefIndex.name_of(entry)
            label = name.familiar if name else str(entry.digest)
            try:
                data = self.blobs.read(entry.digest, entry.size)
                if sniff_media_type(data) in mt.INDEXES:
                    continue
                manifest = Manifest.parse(data)
                cfg = parse_config(self.blobs.read(manifest.config.digest,
                                                   manifest.config.size))
            except (NotFoundError, ImageFormatError) as exc:
                problems.append(f"image {label}: {exc}")
                continue
            except DigestError:
                continue  # already reported above
            for layer in manifest.layers:
                if not self.blobs.exists(layer.digest):
                    problems.append(f"image {label}: layer blob {layer.digest} is missing")
                elif self.blobs.size(layer.digest) != layer.size:
                    problems.append(f"image {label}: layer blob {layer.digest} has the "
                                    "wrong size")
            if len(diff_ids(cfg)) != len(manifest.layers):
                problems.append(f"image {label}: config lists {len(diff_ids(cfg))} diff_ids "
                                f"for {len(manifest.layers)} layers")
        return problems

    def platform_manifest(self, index_data: bytes, platform: dict[str, str] | None = None
                          ) -> Descriptor:
        """Choose the manifest of an index that matches the platform (default: host)."""
        want = platform or host_platform()
        idx = Index.parse(index_data)
        for d in idx.manifests:
            p = d.platform or {}
            if p.get("os") == want["os"] and p.get("architecture") == want["architecture"] and (
                    "variant" not in want or p.get("variant") in (None, want["variant"])):
                return d
        if len(idx.manifests) == 1 and not idx.manifests[0].platform:
            return idx.manifests[0]
        raise NotFoundError(
            f"no image for platform {want['os']}/{want['architecture']} in the index")
