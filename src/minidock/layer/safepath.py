"""Paths under a root directory that no symlink can send out of it.

`RootResolver` resolves in-layer paths as if the root were `/`: every
component is examined with `lstat`, symlinks met on the way are followed
*inside* the root, like a chroot (an absolute target restarts at the root,
`..` never climbs above it). What comes back is a path made only of real
directories below the root, which `open_beneath` opens with the kernel
refusing any symlink on the way, so a tree changed meanwhile cannot redirect it.

`PinnedEntry` changes one directory entry's metadata through an `O_PATH`
descriptor of the entry itself: a name that someone replaces with a symlink
between the create and the `chmod` keeps the change on what was created, never
on the link's target (the class of CVE-2018-15664).
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Callable

from minidock.errors import LayerError

MAX_SYMLINKS = 40  # as the kernel's ELOOP limit

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_OPENAT2 = 437  # same number on x86_64 and arm64

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): an fd for `path` relative to `dir_fd` under the `RESOLVE_*` rules;
    raises OSError."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd),
                       os.fsencode(path), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


def open_beneath(root_fd: int, real: str, flags: int = os.O_PATH) -> int:
    """An fd for the real relative path `real` below `root_fd`, through no symlink."""
    return openat2(root_fd, real or ".", flags,
                   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)


class PinnedEntry:
    """The entry `name` below the directory `dir_fd`, held by an O_PATH fd.

    `name` is one component, or a real path of directories (no symlink is
    crossed, nor followed at its end).

    Everything is changed through `/proc/self/fd/N`, which names the object the
    fd holds. A symlink entry cannot be reached that way (the magic link would
    be followed): its owner and times are changed by name with no follow, so a
    name swapped meanwhile can only send the change to another entry of the same
    directory, never out of it; a symlink has no mode of its own.
    """

    def __init__(self, dir_fd: int, name: str):
        self.dir_fd = dir_fd
        self.name = name
        self.fd = open_beneath(dir_fd, name, os.O_PATH | os.O_NOFOLLOW)
        self.mode = os.fstat(self.fd).st_mode
        self.is_link = stat.S_ISLNK(self.mode)
        self._path = f"/proc/self/fd/{self.fd}"

    def __enter__(self) -> PinnedEntry:
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)

    def chmod(self, mode: int) -> None:
        if not self.is_link:
            os.chmod(self._path, mode)

    def chown(self, uid: int, gid: int) -> None:
        if self.is_link:
            os.chown(self.name, uid, gid, dir_fd=self.dir_fd, follow_symlinks=False)
        else:
            os.chown(self._path, uid, gid)

    def utime(self, atime_ns: int, mtime_ns: int) -> None:
        if self.is_link:
            os.utime(self.name, ns=(atime_ns, mtime_ns), dir_fd=self.dir_fd,
                     follow_symlinks=False)
        else:
            os.utime(self._path, ns=(atime_ns, mtime_ns))

    def setxattr(self, key: str, value: bytes) -> None:
        if self.is_link:
            os.setxattr(f"/proc/self/fd/{self.dir_fd}/{self.name}", key, value,
                        follow_symlinks=False)
        else:
            os.setxattr(self._path, key, value)


class RootResolver:
    """Maps in-layer directory paths to real directories under `root`.

    Results are cached; call `invalidate` after removing a directory or symlink.
    The root must not be modified concurrently by anyone else.
    """

    def __init__(self, root: str | os.PathLike[str],
                 mkdir: Callable[[str], None] | None = None):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise LayerError(f"extraction target {self.root} is not a directory")
        self._mkdir = mkdir
        self._cache: dict[str, str] = {"": ""}

    def host(self, real: str) -> str:
        """The host path of a real relative path returned by this resolver."""
        return os.path.join(self.root, real) if real else self.root

    def invalidate(self) -> None:
        self._cache = {"": ""}

    def resolve_dir(self, path: str, *, create: bool = True) -> str | None:
        """The real relative directory `path` (clean, relative) names.

        Missing directories are created when `create` (through the `mkdir`
        callback, given the real relative path); otherwise None is returned.
        """
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        # start from the deepest cached ancestor
        parts = path.split("/")
        start: list[str] = []
        rest = parts
        for i in range(len(parts) - 1, 0, -1):
            ancestor = self._cache.get("/".join(parts[:i]))
            if ancestor is not None:
                start = ancestor.split("/") if ancestor else []
                rest = parts[i:]
                break
        real = self._walk(start, rest, path, create)
        if real is not None:
            self._cache[path] = real
        return real

    def _walk(self, stack: list[str], components: list[str], path: str,
              create: bool) -> str | None:
        todo = list(reversed(components))
        links = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if stack:
                    stack.pop()
                continue
            real = "/".join((*stack, part))
            host = os.path.join(self.root, real)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                if not create:
                    return None
                if self._mkdir is not None:
                    self._mkdir(real)
                else:
                    os.mkdir(host, 0o755)
                stack.append(part)
                continue
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise LayerError(f"too many levels of symbolic links in {path!r}")
                target = os.readlink(host)
                if not target:
                    raise LayerError(f"empty symbolic link in {path!r}")
                if target.startswith("/"):
                    stack = []
                todo.extend(reversed(target.split("/")))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise LayerError(f"cannot extract below {path!r}: {real} is not a directory")
            stack.append(part)
        return "/".join(stack)
