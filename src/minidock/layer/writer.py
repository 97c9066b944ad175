"""Streaming layer writer: entries → tar → compressor → sink, hashed on both sides.

One pass computes the diff_id (sha256 of the tar) and the blob digest and size
(of the compressed bytes), through a fixed-size buffer, so a layer of any size
is written with constant memory. File content is read straight into that buffer
(`os.readv`), which is then hashed and handed to the compressor in large slices.

Tars are deterministic: entries sorted by path with parents first, numeric
owners only, no atime/ctime, mtimes clamped to `source_date_epoch` when given.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import BinaryIO

from minidock.digest import Digest
from minidock.errors import LayerError
from minidock.fsutil import walk_sorted
from minidock.layer.compression import compressor
from minidock.layer.entry import (
    OPAQUE_MARKER,
    Entry,
    EntryKind,
    clean_path,
    layer_path,
    opaque_path,
    sort_key,
    whiteout_path,
)
from minidock.layer.hostfs import XattrFilter, entry_from_stat, keep_xattr
from minidock.layer.tarstream import END_OF_ARCHIVE, encode_header, padding
from minidock.mediatypes import media_type_for

_BUFFER_SIZE = 1 << 20
_ZEROS = bytes(512)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class LayerInfo:
    """What the store and the image config need to know about a written layer."""

    diff_id: Digest
    digest: Digest
    size: int
    media_type: str


class _HashingSink:
    """Counts and hashes the compressed bytes on their way to the real sink."""

    def __init__(self, sink: BinaryIO):
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hash.update(data)
        self.size += len(data)
        self._sink.write(data)
        return len(data)


class LayerWriter:
    """Writes entries, in the order given, as one compressed layer tar.

    Callers that cannot guarantee order use `LayerBuilder`; `write_tree` and the
    differ walk trees in order and stream through this directly.
    """

    def __init__(self, sink: BinaryIO, compression: str = "zstd", *,
                 media_type: str | None = None, source_date_epoch: int | None = None,
                 progress: Progress | None = None, buffer_size: int = _BUFFER_SIZE):
        self._media_type = media_type or media_type_for(compression)
        self._blob = _HashingSink(sink)
        self._compressor = compressor(compression, self._blob)
        self._plain = compression == "none"
        self._diff = hashlib.sha256()
        self._buffer = bytearray(buffer_size)
        self._view = memoryview(self._buffer)
        self._fill = 0
        self._source_date_epoch = source_date_epoch
        self._progress = progress
        self._total = 0
        self._info: LayerInfo | None = None

    # -- buffering -----------------------------------------------------------

    def _flush(self) -> None:
        if not self._fill:
            return
        chunk = self._view[: self._fill]
        self._diff.update(chunk)
        # the plain "compressor" hands the bytes to the sink: give it its own copy
        self._compressor.write(bytes(chunk) if self._plain else chunk)
        self._total += self._fill
        self._fill = 0
        if self._progress is not None:
            self._progress(self._total)

    def _put(self, data: bytes | memoryview) -> None:
        size = len(data)
        pos = 0
        while pos < size:
            if self._fill == len(self._buffer):
                self._flush()
            step = min(size - pos, len(self._buffer) - self._fill)
            self._view[self._fill:self._fill + step] = data[pos:pos + step]
            self._fill += step
            pos += step

    def _copy_file(self, path: str, size: int) -> None:
        """Stream exactly `size` bytes of a host file into the tar."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise LayerError(f"cannot read {path}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LayerError(f"{path} changed while the layer was written")
            if size > len(self._buffer):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            remaining = size
            while remaining:
                if self._fill == len(self._buffer):
                    self._flush()
                step = min(remaining, len(self._buffer) - self._fill)
                n = os.readv(fd, [self._view[self._fill:self._fill + step]])
                if n == 0:
                    raise LayerError(f"{path} shrank while the layer was written")
                self._fill += n
                remaining -= n
        except OSError as exc:
            raise LayerError(f"cannot read {path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    # -- public --------------------------------------------------------------

    def add(self, entry: Entry) -> None:
        """Append one entry; a regular file's content comes from `entry.source`."""
        if self._info is not None:
            raise LayerError("layer writer is already closed")
        epoch = self._source_date_epoch
        if epoch is not None and entry.mtime > epoch:
            entry = replace(entry, mtime=epoch)
        self._put(encode_header(entry))
        if entry.kind is not EntryKind.FILE or not entry.size:
            return
        source = entry.source
        if isinstance(source, bytes):
            if len(source) != entry.size:
                raise LayerError(f"content of {entry.path} is {len(source)} bytes, "
                                 f"header says {entry.size}")
            self._put(source)
        elif isinstance(source, str):
            self._copy_file(source, entry.size)
        else:
            raise LayerError(f"no content source for file {entry.path}")
        self._put(_ZEROS[: padding(entry.size)])

    def close(self) -> LayerInfo:
        """Finish the tar and the compressed stream; the sink stays open."""
        if self._info is None:
            self._put(END_OF_ARCHIVE)
            self._flush()
            self._compressor.close()
            diff_id = Digest("sha256:" + self._diff.hexdigest())
            digest = diff_id if self._plain else Digest("sha256:" + self._blob.hash.hexdigest())
            self._info = LayerInfo(diff_id=diff_id, digest=digest, size=self._blob.size,
                                   media_type=self._media_type)
        return self._info

    def __enter__(self) -> LayerWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()


def _apply_owner_mode(entry: Entry, chown: tuple[int, int] | None, chmod: int | None) -> None:
    if chown is not None:
        entry.uid, entry.gid = chown
    if chmod is not None and entry.kind is not EntryKind.SYMLINK:
        entry.mode = chmod & 0o7777


def _hardlink_identity(entry: Entry, st: os.stat_result) -> tuple[object, ...] | None:
    """Host objects sharing an inode become tar hardlinks when their metadata agrees."""
    if entry.kind is EntryKind.DIR or st.st_nlink < 2:
        return None
    return (st.st_dev, st.st_ino, entry.kind, entry.mode, entry.uid, entry.gid, entry.mtime)


def _parent_dirs(path: str, mode: int, uid: int, gid: int, mtime: int) -> list[Entry]:
    parts = path.split("/")[:-1]
    return [Entry("/".join(parts[: i + 1]), EntryKind.DIR, mode=mode, uid=uid, gid=gid,
                  mtime=mtime) for i in range(len(parts))]


def _tree_entries(src_dir: str, dest: str, *, chown: tuple[int, int] | None,
                  chmod: int | None, xattrs: XattrFilter | None,
                  include: Callable[[str], bool] | None,
                  prune: Callable[[str], bool] | None,
                  ) -> Iterable[tuple[Entry, tuple[object, ...] | None]]:
    """Entries for the tree at `src_dir` placed at in-layer `dest`, in layer order.

    The top directory itself becomes `dest` (unless `dest` is the root). `include`
    and `prune` see paths relative to `src_dir`.
    """
    try:
        top = os.stat(src_dir)
    except OSError as exc:
        raise LayerError(f"cannot read {src_dir}: {exc.strerror}") from None
    if not stat.S_ISDIR(top.st_mode):
        raise LayerError(f"{src_dir} is not a directory")
    if dest:
        root_entry = entry_from_stat(dest, src_dir, top, xattrs=xattrs)
        assert root_entry is not None
        _apply_owner_mode(root_entry, chown, chmod)
        yield root_entry, None
    base = dest + "/" if dest else ""
    for rel, host_path, st in walk_sorted(src_dir, prune):
        if include is not None and not include(rel):
            continue
        entry = entry_from_stat(base + rel, host_path, st, xattrs=xattrs)
        if entry is None:
            continue  # sockets have no tar representation
        _apply_owner_mode(entry, chown, chmod)
        yield entry, _hardlink_identity(entry, st)


def write_tree(src_dir: str | os.PathLike[str], sink: BinaryIO, compression: str = "zstd", *,
               prefix: str = "/", source_date_epoch: int | None = None,
               chown: tuple[int, int] | None = None, chmod: int | None = None,
               xattrs: XattrFilter | None = keep_xattr,
               include: Callable[[str], bool] | None = None,
               prune: Callable[[str], bool] | None = None,
               media_type: str | None = None, progress: Progress | None = None) -> LayerInfo:
    """Write the tree at `src_dir` as a layer placing it at `prefix` in the image.

    With a prefix other than "/", the prefix directory takes `src_dir`'s metadata
    and any directories above it are emitted as root-owned 0755 (mtime 0, or the
    epoch). `chown` (uid, gid) and `chmod` (permission bits) override every entry;
    `xattrs=None` records no extended attributes.
    """
    dest = clean_path(prefix)
    epoch_mtime = source_date_epoch or 0
    seen: dict[tuple[object, ...], str] = {}
    with LayerWriter(sink, compression, media_type=media_type,
                     source_date_epoch=source_date_epoch, progress=progress) as writer:
        if dest:
            for parent in _parent_dirs(dest, 0o755, 0, 0, epoch_mtime):
                writer.add(parent)
        for entry, identity in _tree_entries(os.fspath(src_dir), dest, chown=chown, chmod=chmod,
                                             xattrs=xattrs, include=include, prune=prune):
            if identity is not None:
                first = seen.setdefault(identity, entry.path)
                if first != entry.path:
                    entry = _as_hardlink(entry, first)
            writer.add(entry)
    return writer.close()


def _as_hardlink(entry: Entry, target: str) -> Entry:
    return Entry(entry.path, EntryKind.HARDLINK, mode=entry.mode, uid=entry.uid, gid=entry.gid,
                 mtime=entry.mtime, linkname=target)


def _builder_sort_key(path: str) -> tuple[bytes, ...]:
    key = sort_key(path)
    if key[-1] == OPAQUE_MARKER.encode():
        # right after its directory, before anything this layer puts inside it
        return key[:-1] + (b"",)
    return key


class LayerBuilder:
    """Collects entries in any order and writes them as one deterministic layer.

    Used for COPY straight from a build context: each source goes to an arbitrary
    in-image path with its own owner and mode, without staging copies. Only the
    metadata is held in memory; content streams from the host files at `write`.
    Adding a path again replaces the earlier entry (and, for a directory
    replaced by something else, everything that was below it).
    """

    def __init__(self, *, source_date_epoch: int | None = None,
                 xattrs: XattrFilter | None = keep_xattr, parent_mode: int = 0o755,
                 parent_owner: tuple[int, int] = (0, 0)):
        self._source_date_epoch = source_date_epoch
        self._xattrs = xattrs
        self._parent_mode = parent_mode
        self._parent_owner = parent_owner
        self._entries: dict[str, Entry] = {}
        self._identity: dict[str, tuple[object, ...]] = {}
        self._links: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: str) -> bool:
        return clean_path(path) in self._entries

    def _store(self, entry: Entry, identity: tuple[object, ...] | None = None) -> None:
        path = entry.path
        old = self._entries.get(path)
        if old is not None and old.kind is EntryKind.DIR and entry.kind is not EntryKind.DIR:
            below = path + "/"
            for other in [p for p in self._entries if p.startswith(below)]:
                self._forget(other)
        self._forget(path)
        self._entries[path] = entry
        if identity is not None:
            self._identity[path] = identity

    def _forget(self, path: str) -> None:
        self._entries.pop(path, None)
        self._identity.pop(path, None)
        self._links.pop(path, None)

    def add(self, entry: Entry) -> None:
        """Add a prepared entry (its path is cleaned; a FILE needs a `source`)."""
        entry = replace(entry, path=layer_path(entry.path))
        if entry.kind is EntryKind.HARDLINK:
            self.add_hardlink(entry.path, entry.linkname)
            return
        if entry.kind is EntryKind.FILE and entry.source is None and entry.size:
            raise LayerError(f"no content source for file {entry.path}")
        self._store(entry)

    def add_path(self, path: str, host_path: str | os.PathLike[str], *, uid: int | None = None,
                 gid: int | None = None, mode: int | None = None, mtime: int | None = None,
                 follow_symlinks: bool = False) -> bool:
        """Add one host object (file, dir entry only, symlink, device, fifo) at `path`.

        Metadata comes from the host unless overridden. Returns False for a
        socket, which a layer cannot hold.
        """
        host = os.fspath(host_path)
        try:
            st = os.stat(host, follow_symlinks=follow_symlinks)
        except OSError as exc:
            raise LayerError(f"cannot read {host}: {exc.strerror}") from None
        entry = entry_from_stat(layer_path(path), host, st, xattrs=self._xattrs)
        if entry is None:
            return False
        entry.uid = entry.uid if uid is None else uid
        entry.gid = entry.gid if gid is None else gid
        if mode is not None and entry.kind is not EntryKind.SYMLINK:
            entry.mode = mode & 0o7777
        entry.mtime = entry.mtime if mtime is None else mtime
        self._store(entry, _hardlink_identity(entry, st))
        return True

    def add_bytes(self, path: str, data: bytes, *, mode: int = 0o644, uid: int = 0,
                  gid: int = 0, mtime: int = 0, xattrs: dict[str, bytes] | None = None) -> None:
        """Add a regular file whose content is given."""
        self._store(Entry(layer_path(path), EntryKind.FILE, mode=mode & 0o7777, uid=uid,
                          gid=gid, mtime=mtime, size=len(data), source=bytes(data),
                          xattrs=dict(xattrs or {})))

    def add_dir(self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0,
                mtime: int = 0, xattrs: dict[str, bytes] | None = None) -> None:
        self._store(Entry(layer_path(path), EntryKind.DIR, mode=mode & 0o7777, uid=uid,
                          gid=gid, mtime=mtime, xattrs=dict(xattrs or {})))

    def add_symlink(self, path: str, target: str, *, uid: int = 0, gid: int = 0,
                    mtime: int = 0) -> None:
        self._store(Entry(layer_path(path), EntryKind.SYMLINK, mode=0o777, uid=uid, gid=gid,
                          mtime=mtime, linkname=target))

    def add_hardlink(self, path: str, target: str) -> None:
        """Make `path` another name of `target`, which must be a non-directory of this layer."""
        path = layer_path(path)
        target = layer_path(target)
        if path == target:
            raise LayerError(f"hardlink {path} points to itself")
        self._store(Entry(path, EntryKind.HARDLINK, linkname=target))
        self._links[path] = target

    def add_device(self, path: str, kind: EntryKind, major: int, minor: int, *,
                   mode: int = 0o600, uid: int = 0, gid: int = 0, mtime: int = 0) -> None:
        if kind not in (EntryKind.CHAR, EntryKind.BLOCK):
            raise LayerError(f"not a device kind: {kind}")
        self._store(Entry(layer_path(path), kind, mode=mode & 0o7777, uid=uid, gid=gid,
                          mtime=mtime, devmajor=major, devminor=minor))

    def add_fifo(self, path: str, *, mode: int = 0o644, uid: int = 0, gid: int = 0,
                 mtime: int = 0) -> None:
        self._store(Entry(layer_path(path), EntryKind.FIFO, mode=mode & 0o7777, uid=uid,
                          gid=gid, mtime=mtime))

    def add_whiteout(self, path: str) -> None:
        """Delete `path` (as found in lower layers) from the image."""
        self._store(Entry(whiteout_path(layer_path(path)), EntryKind.FILE, mode=0o644,
                          source=b""))

    def add_opaque(self, directory: str) -> None:
        """Hide everything lower layers hold below `directory`."""
        self._store(Entry(opaque_path(layer_path(directory)), EntryKind.FILE, mode=0o644,
                          source=b""))

    def add_tree(self, src_dir: str | os.PathLike[str], dest: str = "/", *,
                 chown: tuple[int, int] | None = None, chmod: int | None = None,
                 include: Callable[[str], bool] | None = None,
                 prune: Callable[[str], bool] | None = None) -> None:
        """Add the tree at `src_dir` placed at `dest` (see `write_tree`)."""
        for entry, identity in _tree_entries(os.fspath(src_dir), clean_path(dest), chown=chown,
                                             chmod=chmod, xattrs=self._xattrs, include=include,
                                             prune=prune):
            self._store(entry, identity)

    # -- writing -------------------------------------------------------------

    def _implicit_parents(self) -> list[Entry]:
        mtime = self._source_date_epoch or 0
        uid, gid = self._parent_owner
        missing: dict[str, Entry] = {}
        for path in self._entries:
            parent = posixpath.dirname(path)
            while parent and parent not in self._entries and parent not in missing:
                missing[parent] = Entry(parent, EntryKind.DIR, mode=self._parent_mode, uid=uid,
                                        gid=gid, mtime=mtime)
                parent = posixpath.dirname(parent)
        return list(missing.values())

    def _link_root(self, path: str) -> str:
        seen = {path}
        while path in self._links:
            path = self._links[path]
            if path in seen:
                raise LayerError(f"hardlink loop at {path}")
            seen.add(path)
        entry = self._entries.get(path)
        if entry is None or entry.kind is EntryKind.DIR:
            raise LayerError(f"hardlink target {path} is not a non-directory of this layer")
        return path

    def _groups(self) -> dict[str, tuple[object, ...]]:
        """Paths that share content, keyed by a common identity."""
        groups = dict(self._identity)
        for path in self._links:
            root = self._link_root(path)
            groups[path] = groups.setdefault(root, ("path", root))
        return groups

    def write(self, sink: BinaryIO, compression: str = "zstd", *, media_type: str | None = None,
              progress: Progress | None = None) -> LayerInfo:
        """Stream every entry, sorted, into `sink`; returns the layer's digests."""
        groups = self._groups()
        entries = sorted([*self._entries.values(), *self._implicit_parents()],
                         key=lambda e: _builder_sort_key(e.path))
        first_path: dict[tuple[object, ...], str] = {}
        with LayerWriter(sink, compression, media_type=media_type,
                         source_date_epoch=self._source_date_epoch,
                         progress=progress) as writer:
            for entry in entries:
                identity = groups.get(entry.path)
                if identity is not None:
                    first = first_path.setdefault(identity, entry.path)
                    if first != entry.path:
                        entry = _as_hardlink(replace(self._content_entry(entry.path),
                                                     path=entry.path), first)
                    elif entry.kind is EntryKind.HARDLINK:
                        entry = replace(self._content_entry(entry.path), path=entry.path)
                writer.add(entry)
        return writer.close()

    def _content_entry(self, path: str) -> Entry:
        return self._entries[self._link_root(path) if path in self._links else path]
