"""The safe layer extractor.

Nothing lands outside the destination: entry names are cleaned as if the
destination were `/`, parent directories are resolved component by component
with symlinks followed only inside it (`RootResolver`) and opened through no
symlink at all (`open_beneath`), the final component is created relative to
that directory descriptor, and every later change of owner, mode, times or
attributes goes through a descriptor of the entry itself, never by a name a
symlink could stand in for. A symlink entry may point anywhere (absolute links are normal in a
rootfs); it is stored, never followed out.

Two modes:
- "overlay": the directory becomes an overlayfs lower layer. `.wh.NAME` turns
  into a 0/0 character device, `.wh..wh..opq` into the `overlay.opaque` xattr.
- "apply": the layer is applied onto an existing merged tree. `.wh.NAME`
  deletes NAME; `.wh..wh..opq` empties the directory of everything the layer
  itself did not put there, wherever the marker appears in the tar.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from minidock.errors import LayerError
from minidock.fsutil import remove_tree_at
from minidock.layer.compression import decompressing_reader
from minidock.layer.entry import (
    OPAQUE_MARKER,
    WHITEOUT_META_PREFIX,
    WHITEOUT_PREFIX,
    Entry,
    EntryKind,
    clean_path,
    is_overlay_xattr,
)
from minidock.layer.hostfs import OWNER_XATTR
from minidock.layer.safepath import PinnedEntry, RootResolver, open_beneath
from minidock.layer.streams import Readable
from minidock.layer.tarstream import TarReader

Mode = Literal["overlay", "apply"]
Warn = Callable[[str], None]

_COPY_BUFFER = 1 << 20
_XATTR_SOFT_ERRORS = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class ExtractResult:
    """What an extraction did: entries applied, content bytes written, entries skipped."""

    entries: int
    bytes: int
    skipped: tuple[str, ...]


def _ignore(_: str) -> None:
    pass


class _Extractor:
    def __init__(self, dest: str | os.PathLike[str], mode: Mode, *, rootless: bool,
                 same_owner: bool | None, on_warning: Warn | None):
        if mode not in ("overlay", "apply"):
            raise LayerError(f"unknown extraction mode {mode!r}")
        self.mode = mode
        self.opaque_xattr = ("user" if rootless else "trusted") + ".overlay.opaque"
        self.privileged = os.geteuid() == 0
        self.same_owner = self.privileged if same_owner is None else same_owner
        self.warn = on_warning or _ignore
        self.resolver = RootResolver(dest, mkdir=self._mkdir_parent)
        self.root_fd = os.open(self.resolver.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.written: set[str] = set()  # real relative paths this layer created
        self.holds_written: set[str] = set()  # their ancestors
        self.whiteouts: set[str] = set()  # overlay mode: devices standing for deletions
        self.deferred: dict[str, tuple[int, int]] = {}  # dir → (mode, mtime) set at the end
        self.restore: dict[str, tuple[int, int]] = {}  # dirs opened up to write into
        self.entries = 0
        self.bytes = 0
        self.skipped: list[str] = []
        self.buffer = bytearray(_COPY_BUFFER)

    # -- bookkeeping ---------------------------------------------------------

    def _mark_written(self, real: str) -> None:
        self.written.add(real)
        parent = posixpath.dirname(real)
        while parent and parent not in self.holds_written:
            self.holds_written.add(parent)
            parent = posixpath.dirname(parent)

    def _mkdir_parent(self, real: str) -> None:
        """A directory the tar implies but does not list: 0755, owned by the extractor."""
        parent, name = posixpath.split(real)
        parent_fd = self._open_dir(parent)
        try:
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            except PermissionError:
                self._open_up(parent)
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            with PinnedEntry(parent_fd, name) as made:
                made.chmod(0o755)  # not narrowed by the umask
        finally:
            os.close(parent_fd)
        self._mark_written(real)

    def _open_up(self, real: str) -> None:
        """Unprivileged: make a read-only directory writable until the end."""
        if self.privileged:
            raise PermissionError(errno.EACCES, "permission denied", self.resolver.host(real))
        with PinnedEntry(self.root_fd, real or ".") as directory:
            st = os.fstat(directory.fd)
            if real not in self.deferred:
                self.restore.setdefault(real, (stat.S_IMODE(st.st_mode), st.st_mtime_ns))
            directory.chmod(stat.S_IMODE(st.st_mode) | 0o700)

    def _open_dir(self, real: str) -> int:
        """An O_RDONLY descriptor of the real directory `real`, reached through no symlink."""
        return open_beneath(self.root_fd, real, _DIR_FLAGS)

    def _parent(self, path: str) -> tuple[str, int]:
        """The real parent of clean `path` and a descriptor for it."""
        real = self.resolver.resolve_dir(posixpath.dirname(path))
        assert real is not None
        return real, self._open_dir(real)

    def _remove(self, parent_fd: int, name: str, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            remove_tree_at(parent_fd, name)
            self.resolver.invalidate()
        else:
            os.unlink(name, dir_fd=parent_fd)
            if stat.S_ISLNK(st.st_mode):
                self.resolver.invalidate()

    # -- entries -------------------------------------------------------------

    def apply(self, entry: Entry, reader: TarReader) -> None:
        path = clean_path(entry.path)
        if not path:
            if entry.kind is not EntryKind.DIR:
                raise LayerError(f"layer entry {entry.path!r} replaces the root directory")
            self._root_dir(entry)
            return
        name = posixpath.basename(path)
        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(path, name)
            return
        real_parent, parent_fd = self._parent(path)
        try:
            try:
                self._create(entry, reader, real_parent, parent_fd, name)
            except PermissionError:
                if self.privileged:
                    raise
                self._open_up(real_parent)
                self._create(entry, reader, real_parent, parent_fd, name)
        finally:
            os.close(parent_fd)

    def _create(self, entry: Entry, reader: TarReader, real_parent: str, parent_fd: int,
                name: str) -> None:
        real = posixpath.join(real_parent, name)
        try:
            existing: os.stat_result | None = os.lstat(name, dir_fd=parent_fd)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (entry.kind is EntryKind.DIR
                                         and stat.S_ISDIR(existing.st_mode)):
            self._remove(parent_fd, name, existing)
            self.whiteouts.discard(real)
            existing = None
        kind = entry.kind
        if kind is EntryKind.FILE:
            self._file(entry, reader, parent_fd, name)
        elif kind is EntryKind.DIR:
            self._dir(entry, real, parent_fd, name, existing is not None)
        elif kind is EntryKind.SYMLINK:
            os.symlink(entry.linkname, name, dir_fd=parent_fd)
            with PinnedEntry(parent_fd, name) as link:
                self._owner(entry, link)
                self._xattrs(entry, link)
                self._mtime(entry, link)
        elif kind is EntryKind.HARDLINK:
            self._hardlink(entry, real, parent_fd, name)
        elif kind in (EntryKind.CHAR, EntryKind.BLOCK, EntryKind.FIFO):
            if not self._special(entry, parent_fd, name):
                return
        self._mark_written(real)

    def _file(self, entry: Entry, reader: TarReader, parent_fd: int, name: str) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent_fd)
        try:
            view = memoryview(self.buffer)
            while n := reader.readinto(view):
                done = 0
                while done < n:
                    done += os.write(fd, view[done:n])
                self.bytes += n
            if self.same_owner:
                self._chown(entry, lambda: os.fchown(fd, entry.uid, entry.gid))
            else:
                self._record_owner(entry, fd)
            os.fchmod(fd, entry.mode)
            self._xattrs(entry, fd)
            os.utime(fd, ns=(entry.mtime * 10**9, entry.mtime * 10**9))
        finally:
            os.close(fd)

    def _dir(self, entry: Entry, real: str, parent_fd: int, name: str, exists: bool) -> None:
        if not exists:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            if self.same_owner:
                self._chown(entry, lambda: os.fchown(fd, entry.uid, entry.gid))
            else:
                self._record_owner(entry, fd)
            if exists:
                self._drop_stale_xattrs(entry, fd)
            self._xattrs(entry, fd)
        finally:
            os.close(fd)
        self.deferred[real] = (entry.mode, entry.mtime)
        self.restore.pop(real, None)

    def _root_dir(self, entry: Entry) -> None:
        with PinnedEntry(self.root_fd, ".") as root:
            self._owner(entry, root)
            if not self.same_owner:
                self._record_owner(entry, root)
            self._xattrs(entry, root)
        self.deferred[""] = (entry.mode, entry.mtime)
        self.restore.pop("", None)

    def _hardlink(self, entry: Entry, real: str, parent_fd: int, name: str) -> None:
        target = clean_path(entry.linkname)
        if not target:
            raise LayerError(f"hardlink {entry.path!r} points to the root directory")
        target_parent = self.resolver.resolve_dir(posixpath.dirname(target), create=False)
        if target_parent is None:
            raise LayerError(f"hardlink {entry.path!r}: target {entry.linkname!r} not found "
                             "in the layer's root")
        target_name = posixpath.basename(target)
        target_real = posixpath.join(target_parent, target_name)
        target_fd = self._open_dir(target_parent)
        try:
            try:
                st = os.lstat(target_name, dir_fd=target_fd)
            except FileNotFoundError:
                raise LayerError(f"hardlink {entry.path!r}: target {entry.linkname!r} not "
                                 "found in the layer's root") from None
            if stat.S_ISDIR(st.st_mode):
                raise LayerError(f"hardlink {entry.path!r} points to directory "
                                 f"{entry.linkname!r}")
            if target_real in self.whiteouts:
                raise LayerError(f"hardlink {entry.path!r} points to a whiteout")
            if target_real == real:
                raise LayerError(f"hardlink {entry.path!r} points to itself")
            os.link(target_name, name, src_dir_fd=target_fd, dst_dir_fd=parent_fd,
                    follow_symlinks=False)
        finally:
            os.close(target_fd)

    def _special(self, entry: Entry, parent_fd: int, name: str) -> bool:
        """Device nodes and fifos; devices are skipped (with a warning) when not allowed."""
        if entry.kind is EntryKind.FIFO:
            os.mkfifo(name, 0o600, dir_fd=parent_fd)
        else:
            kind = stat.S_IFCHR if entry.kind is EntryKind.CHAR else stat.S_IFBLK
            try:
                os.mknod(name, kind | 0o600, os.makedev(entry.devmajor, entry.devminor),
                         dir_fd=parent_fd)
            except PermissionError:
                self.skipped.append(entry.path)
                self.warn(f"skipped device node {entry.path}: not permitted here")
                return False
        with PinnedEntry(parent_fd, name) as node:
            self._owner(entry, node)
            node.chmod(entry.mode)
            self._mtime(entry, node)
        return True

    def _whiteout(self, path: str, name: str) -> None:
        parent = posixpath.dirname(path)
        if name == OPAQUE_MARKER:
            real_dir = self.resolver.resolve_dir(parent)
            assert real_dir is not None
            if self.mode == "overlay":
                with PinnedEntry(self.root_fd, real_dir or ".") as directory:
                    directory.setxattr(self.opaque_xattr, b"y")
            else:
                self._clear_lower(real_dir)
            return
        if name.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS bookkeeping with no meaning for OCI layers
        hidden = name[len(WHITEOUT_PREFIX):]
        if hidden in ("", ".", ".."):
            raise LayerError(f"invalid whiteout entry {path!r}")
        real_parent = self.resolver.resolve_dir(parent, create=self.mode == "overlay")
        if real_parent is None:
            return  # nothing to delete below a directory that does not exist
        real = posixpath.join(real_parent, hidden)
        if real in self.written:
            return  # a whiteout never hides what its own layer adds
        fd = self._open_dir(real_parent)
        try:
            try:
                existing = os.lstat(hidden, dir_fd=fd)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                self._remove(fd, hidden, existing)
            if self.mode == "overlay":
                try:
                    os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0), dir_fd=fd)
                except PermissionError:
                    raise LayerError(
                        f"cannot create the whiteout device for {path!r}: mknod not permitted",
                        hint="overlay layers need root or a user namespace on Linux >= 5.8",
                    ) from None
                self.whiteouts.add(real)
        finally:
            os.close(fd)

    def _clear_lower(self, real_dir: str) -> None:
        """Remove everything under `real_dir` that this layer did not write."""
        pending = [real_dir]
        while pending:
            current = pending.pop()
            fd = self._open_dir(current)
            try:
                with os.scandir(fd) as children:
                    names = [(c.name, c.is_dir(follow_symlinks=False)) for c in children]
                for child_name, is_dir in names:
                    real = posixpath.join(current, child_name) if current else child_name
                    if real in self.written or real in self.holds_written:
                        if is_dir:
                            pending.append(real)
                        continue
                    self._remove(fd, child_name, os.lstat(child_name, dir_fd=fd))
            finally:
                os.close(fd)
        self.resolver.invalidate()

    # -- metadata ------------------------------------------------------------

    def _chown(self, entry: Entry, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise LayerError(f"cannot give {entry.path!r} owner {entry.uid}:{entry.gid}: "
                                 "id not mapped in this user namespace") from None
            raise

    def _owner(self, entry: Entry, target: PinnedEntry) -> None:
        if self.same_owner:
            self._chown(entry, lambda: target.chown(entry.uid, entry.gid))

    def _record_owner(self, entry: Entry, target: int | PinnedEntry) -> None:
        """Not allowed to chown: keep a non-root owner of a file or directory where
        the layer written from this tree's changes finds it (OWNER_XATTR)."""
        if (entry.uid, entry.gid) != (0, 0):
            _set_xattr(target, OWNER_XATTR, f"{entry.uid}:{entry.gid}".encode())

    def _mtime(self, entry: Entry, target: PinnedEntry) -> None:
        ns = entry.mtime * 10**9
        target.utime(ns, ns)

    def _xattrs(self, entry: Entry, target: int | PinnedEntry) -> None:
        for key, value in entry.xattrs.items():
            if is_overlay_xattr(key):
                # overlayfs would obey these (opaque, redirect, metacopy): never from a tar
                self.warn(f"ignored overlay attribute {key} on {entry.path}")
                continue
            refused = _set_xattr(target, key, value)
            if refused:
                self.warn(f"could not set {key} on {entry.path}: {refused}")

    def _drop_stale_xattrs(self, entry: Entry, fd: int) -> None:
        """A directory entry over an existing one replaces its attributes, as overlayfs shows."""
        try:
            names = os.listxattr(fd)
        except OSError:
            return
        for key in names:
            if key in entry.xattrs or is_overlay_xattr(key) or key == "security.selinux":
                continue
            try:
                os.removexattr(fd, key)
            except OSError as exc:
                if exc.errno not in _XATTR_SOFT_ERRORS:
                    raise
                self.warn(f"could not remove {key} from {entry.path}: {exc.strerror}")

    def finish(self) -> None:
        """Directory modes and mtimes last, deepest first, so children could be created."""
        for real, (mode, mtime_ns) in self.restore.items():
            if real not in self.deferred:
                self._set_dir(real, mode, mtime_ns)
        ordered = sorted(self.deferred.items(), key=lambda item: item[0].count("/") + bool(item[0]),
                         reverse=True)
        for real, (mode, mtime) in ordered:
            self._set_dir(real, mode, mtime * 10**9)

    def _set_dir(self, real: str, mode: int, mtime_ns: int) -> None:
        try:
            fd = self._open_dir(real)
        except (FileNotFoundError, NotADirectoryError):
            return  # replaced by a later entry
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return  # now a symlink: replaced by a later entry
            raise
        try:
            os.fchmod(fd, mode)
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)


def _set_xattr(target: int | PinnedEntry, key: str, value: bytes) -> str | None:
    """Set one attribute; the reason when the filesystem or our privileges refuse it."""
    try:
        if isinstance(target, int):
            os.setxattr(target, key, value)
        else:
            target.setxattr(key, value)
    except OSError as exc:
        if exc.errno not in _XATTR_SOFT_ERRORS:
            raise
        return exc.strerror or str(exc)
    return None


def extract(stream: Readable, dest: str | os.PathLike[str], *, mode: Mode = "apply",
            media_type: str | None = None, rootless: bool = False,
            same_owner: bool | None = None, on_warning: Warn | None = None) -> ExtractResult:
    """Extract one layer blob (tar, gzip or zstd: sniffed) into `dest`.

    `mode` is "overlay" (dest becomes an overlayfs lower layer) or "apply"
    (applied onto the tree already in dest). `rootless` marks opaque
    directories with `user.overlay.opaque` for rootless overlay mounts.
    `same_owner` (default: when running as root) applies the tar's owners.
    The stream is read to its end so a verifying reader checks its digest; it
    is not closed.
    """
    extractor = _Extractor(dest, mode, rootless=rootless, same_owner=same_owner,
                           on_warning=on_warning)
    try:
        source = decompressing_reader(stream, media_type)
        reader = TarReader(source)
        for entry in reader:
            extractor.entries += 1
            try:
                extractor.apply(entry, reader)
            except LayerError:
                raise
            except (OSError, ValueError) as exc:
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise LayerError(f"cannot extract {entry.path!r}: {detail}") from None
        while source.read(_COPY_BUFFER):
            pass  # trailing padding; reaching EOF lets verifying readers check the digest
        try:
            extractor.finish()
        except OSError as exc:
            raise LayerError(f"cannot set directory metadata: {exc.strerror}") from None
    finally:
        os.close(extractor.root_fd)
    return ExtractResult(entries=extractor.entries, bytes=extractor.bytes,
                         skipped=tuple(extractor.skipped))


LayerSource = Readable | tuple[Readable, str | None]


def unpack_image(layers: Iterable[LayerSource], dest: str | os.PathLike[str], *,
                 same_owner: bool | None = None,
                 on_warning: Warn | None = None) -> list[ExtractResult]:
    """Apply layer blobs in order (base first) to build a flat rootfs in `dest`.

    Each item is a stream or a (stream, media_type) pair.
    """
    results = []
    for layer in layers:
        stream, media_type = layer if isinstance(layer, tuple) else (layer, None)
        results.append(extract(stream, dest, mode="apply", media_type=media_type,
                               same_owner=same_owner, on_warning=on_warning))
    return results
