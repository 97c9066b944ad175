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
