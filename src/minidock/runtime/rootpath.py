"""Resolve paths inside a container root with the kernel's help (openat2).

`RESOLVE_IN_ROOT` makes the kernel treat the given directory as `/` for every
symlink and `..` met on the way, so an image or a running container cannot send
a mount or a copy outside its root, even by changing links while we look.
"""

from __future__ import annotations

import os
import stat

from minidock.layer.safepath import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH, mode: int = 0) -> int:
    """An fd for `path` resolved with `root_fd` as the root; raises OSError."""
    return openat2(root_fd, path.lstrip("/") or ".", flags,
                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, mode)


def split_parent(path: str) -> tuple[str, str]:
    """(parent, name) of a normalised absolute in-container path."""
    norm = os.path.normpath("/" + path)
    parent, name = os.path.split(norm)
    return parent, name


def make_dirs(root_fd: int, path: str, mode: int = 0o755, _depth: int = 0) -> int:
    """`mkdir -p` inside the root; returns an O_PATH fd of the final directory.

    A dangling symlink on the way is followed inside the root and the missing
    directories are made where it points, as runc does for mount targets.
    """
    if _depth > 40:
        raise OSError(40, "too many levels of symbolic links", path)
    fd = os.open(".", os.O_PATH | os.O_CLOEXEC, dir_fd=root_fd)
    try:
        current = "/"
        for part in [p for p in os.path.normpath("/" + path).split("/") if p]:
            current = os.path.join(current, part)
            try:
                nxt = open_in_root(root_fd, current, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                nxt = _make_one(root_fd, current, part, mode, _depth)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _make_one(root_fd: int, current: str, part: str, mode: int, depth: int) -> int:
    parent_path = os.path.dirname(current)
    parent = open_in_root(root_fd, parent_path, os.O_PATH | os.O_DIRECTORY)
    try:
        try:
            os.mkdir(part, mode, dir_fd=parent)
        except FileExistsError:
            st = os.stat(part, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):  # dangling: make its target, inside the root
                target = os.readlink(part, dir_fd=parent)
                if not target.startswith("/"):
                    target = os.path.join(parent_path, target)
                os.close(make_dirs(root_fd, target, mode, depth + 1))
    finally:
        os.close(parent)
    return open_in_root(root_fd, current, os.O_PATH | os.O_DIRECTORY)


def make_mountpoint(root_fd: int, path: str, directory: bool) -> int:
    """An O_PATH fd for a mount target inside the root, created (dir or empty file)
    when missing. An existing target of the other type is an error, as in runc."""
    parent, name = split_parent(path)
    if not name:
        raise OSError(22, "cannot mount over the container root", path)
    try:
        fd = open_in_root(root_fd, path)
    except FileNotFoundError:
        pfd = make_dirs(root_fd, parent)
        try:
            if directory:
                try:
                    os.mkdir(name, 0o755, dir_fd=pfd)
                except FileExistsError:
                    pass
            else:
                try:
                    os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW,
                                     0o644, dir_fd=pfd))
                except FileExistsError:
                    pass
        finally:
            os.close(pfd)
        fd = open_in_root(root_fd, path)
    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    if is_dir != directory:
        os.close(fd)
        kind = "a directory" if is_dir else "not a directory"
        raise OSError(20 if directory else 21, f"mount target {path} is {kind}", path)
    return fd


def fd_path(fd: int) -> str:
    """A path naming what `fd` refers to, usable as a mount source or target."""
    return f"/proc/self/fd/{fd}"
