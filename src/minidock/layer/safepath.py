"""Resolving in-layer paths under a root directory as if it were `/`.

Every component is examined with `lstat`. Symlinks met on the way are followed
*inside* the root, like a chroot: an absolute target restarts at the root and
`..` never climbs above it. What comes back is a path made only of real
directories below the root, so the host path built from it cannot leave it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from minidock.errors import LayerError

MAX_SYMLINKS = 40  # as the kernel's ELOOP limit


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


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _unlink_files(dir_fd: int) -> list[str]:
    """Unlink every non-directory in a directory; return its subdirectories."""
    subdirs = []
    with os.scandir(dir_fd) as children:
        for child in children:
            if child.is_dir(follow_symlinks=False):
                subdirs.append(child.name)
            else:
                os.unlink(child.name, dir_fd=dir_fd)
    return subdirs


def remove_tree_at(parent_fd: int, name: str) -> None:
    """Delete the directory `name` under `parent_fd` with everything in it.

    Never follows a symlink, holds one directory descriptor at a time and does
    not recurse, so a hostile tree of any depth is removed without error.
    """
    current = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    levels: list[tuple[str, list[str]]] = []  # (directory entered, its parent's pending subdirs)
    try:
        pending = _unlink_files(current)
        while True:
            if pending:
                sub = pending.pop()
                deeper = os.open(sub, _DIR_FLAGS, dir_fd=current)
                os.close(current)
                current = deeper
                levels.append((sub, pending))
                pending = _unlink_files(current)
                continue
            if not levels:
                break
            sub, pending = levels.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = up
            os.rmdir(sub, dir_fd=current)
    finally:
        os.close(current)
    os.rmdir(name, dir_fd=parent_fd)
