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

# Where an unprivileged extraction keeps the owner the tar gave an entry ("uid:gid"),
# since it cannot chown: read back when the tree's changes become a layer.
OWNER_XATTR = "user.minidock.owner"
# Host-specific labels and bookkeeping that must not travel into an image.
_HOST_ONLY_XATTRS = frozenset({"security.selinux", OWNER_XATTR})
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


def recorded_owner(path: str) -> tuple[int, int] | None:
    """The owner an unprivileged extraction recorded for `path` (OWNER_XATTR), if any."""
    try:
        uid, _, gid = os.getxattr(path, OWNER_XATTR, follow_symlinks=False).partition(b":")
        return int(uid), int(gid)
    except (OSError, ValueError):
        return None


class OwnerMap:
    """Host owners of a tree a user namespace wrote, as the ids it has inside.

    `to_inside` maps a host (uid, gid) through the namespace's id map. An entry
    still owned by the unprivileged user (root inside) that the extraction
    recorded an owner for is an image file nobody chowned: its recorded owner.
    """

    def __init__(self, to_inside: Callable[[int, int], tuple[int, int]], own: tuple[int, int]):
        self.to_inside = to_inside
        self.own = own

    def owner(self, host_path: str, st: os.stat_result) -> tuple[int, int]:
        if (st.st_uid, st.st_gid) == self.own and not stat.S_ISLNK(st.st_mode):
            recorded = recorded_owner(host_path)
            if recorded is not None:
                return recorded
        return self.to_inside(st.st_uid, st.st_gid)


_KIND_OF_FORMAT = {
    stat.S_IFREG: EntryKind.FILE, stat.S_IFDIR: EntryKind.DIR, stat.S_IFLNK: EntryKind.SYMLINK,
    stat.S_IFCHR: EntryKind.CHAR, stat.S_IFBLK: EntryKind.BLOCK, stat.S_IFIFO: EntryKind.FIFO,
}


def kind_of(mode: int) -> EntryKind | None:
    """The entry kind for a stat mode; None for sockets, which tar cannot hold."""
    return _KIND_OF_FORMAT.get(stat.S_IFMT(mode))


def entry_from_stat(layer_path: str, host_path: str, st: os.stat_result, *,
                    xattrs: XattrFilter | None = keep_xattr,
                    owners: OwnerMap | None = None) -> Entry | None:
    """An entry describing the host object `host_path` (already lstat'ed) at `layer_path`;
    its owner is the host's, or as `owners` maps it."""
    kind = kind_of(st.st_mode)
    if kind is None:
        return None
    uid, gid = (st.st_uid, st.st_gid) if owners is None else owners.owner(host_path, st)
    entry = Entry(
        path=layer_path,
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=uid,
        gid=gid,
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
