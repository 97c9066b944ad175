"""Filesystem primitives every layer uses: the one tree remover, the one atomic
writer, the one file-descriptor copy and the one sorted tree walk.

Only modules `run` loads anyway (os, errno, fcntl, stat), so its start-up can
use it. Nothing here follows a symlink it is not asked to follow: trees are removed
through directory descriptors opened with O_NOFOLLOW, so a link swapped in
while we work cannot redirect a removal outside the tree.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

StrPath = str | os.PathLike[str]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
COPY_CHUNK = 1 << 20


# --- removal -----------------------------------------------------------------------------


def _open_subdir(name: str, dir_fd: int) -> int:
    """Open a subdirectory without following links; a mode-000 one (overlay's
    `work/work`, an image's read-only dirs seen by an unprivileged owner) is
    made searchable first, through an O_PATH descriptor (Linux cannot chmod
    without following a link)."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        pass
    path_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=dir_fd)
    try:
        os.chmod(f"/proc/self/fd/{path_fd}", 0o700)
        return os.open(".", DIR_FLAGS, dir_fd=path_fd)
    finally:
        os.close(path_fd)


def _remove_entry(remove: Callable[..., None], name: str, dir_fd: int) -> None:
    """`remove` (os.unlink or os.rmdir) `name` in `dir_fd`; a read-only directory
    (an image's `dr-xr-xr-x` dirs, seen by an unprivileged owner) is made writable
    first, as its owner may."""
    try:
        remove(name, dir_fd=dir_fd)
    except PermissionError:
        os.fchmod(dir_fd, 0o700)
        remove(name, dir_fd=dir_fd)


def _unlink_files(dir_fd: int) -> list[str]:
    """Unlink every non-directory in a directory; return its subdirectories."""
    subdirs = []
    try:
        children = os.scandir(dir_fd)
    except PermissionError:  # readable by nobody: only its owner's chmod helps
        os.fchmod(dir_fd, 0o700)
        children = os.scandir(dir_fd)
    with children:
        for child in children:
            if child.is_dir(follow_symlinks=False):
                subdirs.append(child.name)
            else:
                _remove_entry(os.unlink, child.name, dir_fd)
    return subdirs


def remove_tree_at(parent_fd: int, name: str) -> None:
    """Delete `name` under the directory `parent_fd`, with everything in it.

    Never follows a symlink, holds one directory descriptor at a time and does
    not recurse, so a hostile tree of any depth is removed without error. A
    non-directory is simply unlinked.
    """
    try:
        current = _open_subdir(name, parent_fd)
    except NotADirectoryError:
        os.unlink(name, dir_fd=parent_fd)
        return
    except OSError as exc:  # ELOOP: `name` is a symlink
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(name, dir_fd=parent_fd)
        return
    levels: list[tuple[str, list[str]]] = []  # (directory entered, its parent's pending subdirs)
    try:
        pending = _unlink_files(current)
        while True:
            if pending:
                sub = pending.pop()
                deeper = _open_subdir(sub, current)
                os.close(current)
                current = deeper
                levels.append((sub, pending))
                pending = _unlink_files(current)
                continue
            if not levels:
                break
            sub, pending = levels.pop()
            up = os.open("..", DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = up
            _remove_entry(os.rmdir, sub, current)
    finally:
        os.close(current)
    _remove_entry(os.rmdir, name, parent_fd)


def remove_tree(path: StrPath) -> bool:
    """Delete a file or a tree of any depth without following symlinks; False if
    it was missing."""
    path = os.fspath(path)
    parent, name = os.path.split(os.path.abspath(path))
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        remove_tree_at(fd, name)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)


# --- atomic writes -----------------------------------------------------------------------


def create_locked_temp(directory: StrPath, prefix: str, mode: int = 0o644) -> tuple[int, str]:
    """Create and flock a new temp file in `directory`; returns (fd, path).

    A cleaner removes temp files whose flock it can take (their writer died). It
    may win the race between our create and our flock and unlink the file; we
    detect that by the link count dropping to zero and start again.
    """
    directory = os.fspath(directory)
    while True:
        path = os.path.join(directory, f"{prefix}-{os.getpid()}-{os.urandom(8).hex()}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, path
        os.close(fd)


def fsync_dir(path: StrPath) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class atomic_file:  # noqa: N801 - used as a function: `with atomic_file(path) as f`
    """A binary file whose content replaces `path` when the block ends without an
    error, so readers see the old or the new file, never a part; on an error the
    temp file goes. The temp file (in `tmp_dir`, default beside `path`, same
    filesystem) is flocked while written, so a concurrent cleaner leaves it alone.
    `durable` adds the fsyncs that make the new file survive a power loss.

    A class rather than a contextlib generator: contextlib is not otherwise on
    `run`'s start-up path and costs it about 6 ms to import."""

    def __init__(self, path: StrPath, *, tmp_dir: StrPath | None = None, mode: int = 0o644,
                 durable: bool = True) -> None:
        self._path = os.fspath(path)
        self._directory = os.path.dirname(self._path) or "."
        self._tmp_dir = tmp_dir if tmp_dir is not None else self._directory
        self._mode = mode
        self._durable = durable
        self._fd = -1
        self._tmp = ""
        self._file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        self._fd, self._tmp = create_locked_temp(
            self._tmp_dir, f".{os.path.basename(self._path)}", self._mode)
        self._file = os.fdopen(self._fd, "wb", closefd=False)
        return self._file

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        assert self._file is not None
        try:
            if exc_type is None:
                self._file.flush()
                if self._durable:
                    os.fsync(self._fd)
                self._file.close()
                os.rename(self._tmp, self._path)
        except BaseException:
            self._discard()
            raise
        else:
            if exc_type is not None:
                self._discard()
        finally:
            os.close(self._fd)
        if exc_type is None and self._durable:
            fsync_dir(self._directory)

    def _discard(self) -> None:
        assert self._file is not None
        try:
            self._file.close()
        except OSError:
            pass
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


def write_atomic(path: StrPath, data: bytes, *, tmp_dir: StrPath | None = None,
                 mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` with `data` atomically (see `atomic_file`)."""
    with atomic_file(path, tmp_dir=tmp_dir, mode=mode, durable=durable) as f:
        f.write(data)


# --- copying -----------------------------------------------------------------------------


def copy_fd(src_fd: int, dst_fd: int, size: int | None = None) -> int:
    """Copy from the current offset of `src_fd` to that of `dst_fd` (both advance);
    returns the bytes copied. `size` None copies to the end of the source.

    copy_file_range lets the kernel copy (or reflink) without a trip through
    user space; across filesystems or where it is unsupported, plain reads.
    """
    copied = 0
    try:
        while size is None or copied < size:
            sent = os.copy_file_range(src_fd, dst_fd,
                                      COPY_CHUNK << 6 if size is None else size - copied)
            if sent == 0:
                return copied
            copied += sent
        return copied
    except OSError:  # EXDEV, EINVAL, ENOSYS: copy by hand from where the kernel stopped
        pass
    while size is None or copied < size:
        chunk = os.read(src_fd, COPY_CHUNK if size is None else min(COPY_CHUNK, size - copied))
        if not chunk:
            break
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view):]
        copied += len(chunk)
    return copied


# --- walking -----------------------------------------------------------------------------


def _name_key(entry: os.DirEntry[str]) -> bytes:
    return entry.name.encode("utf-8", "surrogateescape")


def sorted_children(directory: str) -> list[os.DirEntry[str]]:
    """The entries of `directory`, byte-wise sorted by name (the order of a layer tar)."""
    with os.scandir(directory) as it:
        return sorted(it, key=_name_key)


def walk_sorted(root: str, prune: Callable[[str], bool] | None = None
                ) -> Iterator[tuple[str, str, os.stat_result]]:
    """Pre-order walk below `root` in layer order: (relative path, host path, lstat).

    Directories come right before their contents; symlinks are reported, never
    followed. `prune(rel)` returning True skips a directory's contents.
    """
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", iter(sorted_children(root)))]
    while stack:
        prefix, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        rel = prefix + child.name
        st = child.stat(follow_symlinks=False)
        yield rel, child.path, st
        if stat.S_ISDIR(st.st_mode) and not (prune is not None and prune(rel)):
            stack.append((rel + "/", iter(sorted_children(child.path))))


def _inodes(path: StrPath) -> Iterator[os.stat_result]:
    """The lstat of every inode below `path` once, never leaving its filesystem."""
    seen: set[tuple[int, int]] = set()
    try:
        device = os.lstat(path).st_dev
    except OSError:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if st.st_dev != device:
                continue
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                yield st
        dirnames[:] = [d for d in dirnames
                       if _same_device(os.path.join(dirpath, d), device)]


def tree_size(path: StrPath) -> int:
    """Bytes allocated below `path`, each inode once, never leaving its filesystem."""
    return sum(st.st_blocks * 512 for st in _inodes(path))


def content_size(path: StrPath) -> int:
    """Bytes of the files below `path` as Docker counts a container layer: apparent
    sizes of everything but directories, each inode once."""
    return sum(st.st_size for st in _inodes(path) if not stat.S_ISDIR(st.st_mode))


def _same_device(path: str, device: int) -> bool:
    try:
        return os.lstat(path).st_dev == device
    except OSError:
        return False
