"""Reading host filesystem objects as layer entries, in layer order.

Nothing here follows a symlink: every object is examined with `lstat`, so a tree
being archived can point anywhere without its targets leaking into the layer.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from minidock.errors import LayerError
from minidock.layer.entry import Entry, EntryKind, is_overlay_xattr

# Host-specific labels that must not travel into an image.
_HOST_ONLY_XATTRS = frozenset({"security.selinux"})
_NO_XATTRS = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA, errno.EPERM, errno.EACCES}

XattrFilter = Callable[[str], bool]


def keep_xattr(name: str) -> bool:
    """Default policy: everything but overlayfs state and host security labels."""
    return not is_overlay_xattr(name) and name not in _HOST_ONLY_XATTRS


def read_xattrs(path: str, keep: XattrFilter = keep_xattr) -> dict[str, bytes]:
    """Extended attributes of `path` itself (never of a symlink's target)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _NO_XATTRS:
            return {}
        raise LayerError(f"cannot list extended attributes of {path}: {exc.strerror}") from None
    values: dict[str, bytes] = {}
    for name in names:
        if not keep(name):
            continue
        try:
            values[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in _NO_XATTRS:
                continue
            raise LayerError(f"cannot read extended attribute {name} of {path}: "
                             f"{exc.strerror}") from None
    return values


_KIND_OF_FORMAT = {
    stat.S_IFREG: EntryKind.FILE, stat.S_IFDIR: EntryKind.DIR, stat.S_IFLNK: EntryKind.SYMLINK,
    stat.S_IFCHR: EntryKind.CHAR, stat.S_IFBLK: EntryKind.BLOCK, stat.S_IFIFO: EntryKind.FIFO,
}


def kind_of(mode: int) -> EntryKind | None:
    """The entry kind for a stat mode; None for sockets, which tar cannot hold."""
    return _KIND_OF_FORMAT.get(stat.S_IFMT(mode))


def entry_from_stat(layer_path: str, host_path: str, st: os.stat_result, *,
                    xattrs: XattrFilter | None = keep_xattr) -> Entry | None:
    """An entry describing the host object `host_path` (already lstat'ed) at `layer_path`."""
    kind = kind_of(st.st_mode)
    if kind is None:
        return None
    entry = Entry(
        path=layer_path,
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime=st.st_mtime_ns // 1_000_000_000,
    )
    if kind is EntryKind.FILE:
        entry.size = st.st_size
        entry.source = host_path
    elif kind is EntryKind.SYMLINK:
        entry.linkname = os.readlink(host_path)
    elif kind in (EntryKind.CHAR, EntryKind.BLOCK):
        entry.devmajor = os.major(st.st_rdev)
        entry.devminor = os.minor(st.st_rdev)
    if xattrs is not None:
        entry.xattrs = read_xattrs(host_path, xattrs)
    return entry
