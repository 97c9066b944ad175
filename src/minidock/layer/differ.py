"""Turning a container's changes into a layer, and listing them Docker `diff`-style.

Two sources of changes:

- an overlayfs upper directory (`diff_overlay_upper`): everything in it is new
  or changed; a 0/0 character device is a deletion (`.wh.NAME`) and a directory
  with `overlay.opaque=y` hides the lower directory (`DIR/.wh..wh..opq`).
  overlayfs' own xattrs never reach the tar. The runtime mounts with
  redirect_dir and metacopy off; an upper entry that uses them is refused.

- a base tree and a modified full copy of it (`diff_trees`, for the copy
  driver). Entries are compared by type, mode, owner, size, mtime (ns),
  symlink target, device number and xattrs (content too with
  `compare_content`), so the copy must preserve metadata. Deleted entries get
  whiteouts. Replaced directories: a directory deleted and recreated cannot be
  told from the original by content, so when the driver passes the identities
  (st_dev, st_ino) its copy's directories had right after copying
  (`snapshot_dir_identities`), a directory whose identity changed is treated
  as replaced: it is emitted with an opaque marker and its whole content.
  Without identities no directory counts as replaced; per-entry whiteouts then
  express the same final tree.

Either way the tar is ordered like every minidock layer (parents first,
byte-wise by name; an opaque marker right after its directory) and a changed
path's parent directories are included with their current metadata, so an
overlay lower made from the layer keeps them intact.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from minidock.errors import LayerError
from minidock.fsutil import sorted_children, walk_sorted
from minidock.layer.entry import (
    OVERLAY_XATTR_PREFIXES,
    WHITEOUT_PREFIX,
    Entry,
    EntryKind,
    opaque_path,
    sort_key,
    whiteout_path,
)
from minidock.layer.hostfs import (
    OwnerMap,
    XattrFilter,
    entry_from_stat,
    keep_xattr,
    read_xattrs,
)
from minidock.layer.writer import LayerInfo, LayerWriter, Progress

_OPAQUE = "overlay.opaque"
# overlay features the runtime turns off; an upper that uses them cannot be diffed
_UNSUPPORTED = ("overlay.redirect", "overlay.metacopy")


@dataclass(frozen=True)
class Change:
    """One line of `docker diff`: kind "A" (added), "C" (changed) or "D" (deleted)."""

    kind: str
    path: str  # absolute in-image path

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _is_whiteout_device(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _overlay_attrs(host_path: str) -> dict[str, bytes]:
    """overlayfs' own xattrs on `host_path`, keyed without the trusted./user. prefix."""
    try:
        names = os.listxattr(host_path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    found: dict[str, bytes] = {}
    for name in names:
        if name.startswith(OVERLAY_XATTR_PREFIXES):
            short = name.split(".", 1)[1]
            try:
                found[short] = os.getxattr(host_path, name, follow_symlinks=False)
            except OSError:
                continue
    return found


def _hardlink(entry: Entry, st: os.stat_result, seen: dict[tuple[int, int], str]) -> Entry:
    """Later names of an inode already in the layer become tar hardlinks."""
    if entry.kind is EntryKind.DIR or st.st_nlink < 2:
        return entry
    first = seen.setdefault((st.st_dev, st.st_ino), entry.path)
    if first == entry.path:
        return entry
    return Entry(entry.path, EntryKind.HARDLINK, mode=entry.mode, uid=entry.uid, gid=entry.gid,
                 mtime=entry.mtime, linkname=first)


def _marker(path: str) -> Entry:
    return Entry(path, EntryKind.FILE, mode=0o644, source=b"")


# ---------------------------------------------------------------- overlay upper


def _upper_items(upper: str, prefix: str) -> list[tuple[bytes, str, str, os.stat_result]]:
    """A directory's items sorted by the name they get in the tar."""
    items = []
    for child in sorted_children(os.path.join(upper, prefix) if prefix else upper):
        st = child.stat(follow_symlinks=False)
        name = WHITEOUT_PREFIX + child.name if _is_whiteout_device(st) else child.name
        items.append((name.encode("utf-8", "surrogateescape"), name, child.path, st))
    items.sort(key=lambda item: item[0])
    return items


def _overlay_upper_entries(upper: str, xattrs: XattrFilter | None,
                           owners: OwnerMap | None) -> Iterator[Entry]:
    seen: dict[tuple[int, int], str] = {}
    stack = [("", iter(_upper_items(upper, "")))]
    while stack:
        prefix, items = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        _, name, host_path, st = item
        rel = prefix + name
        if _is_whiteout_device(st):
            yield _marker(rel)
            continue
        overlay = _overlay_attrs(host_path)
        for feature in _UNSUPPORTED:
            if feature in overlay:
                raise LayerError(f"cannot diff {rel}: the upper directory uses {feature}",
                                 hint="mount overlay with redirect_dir=off,metacopy=off")
        entry = entry_from_stat(rel, host_path, st, xattrs=xattrs, owners=owners)
        if entry is None:
            continue
        yield _hardlink(entry, st, seen)
        if entry.kind is EntryKind.DIR:
            if overlay.get(_OPAQUE) == b"y":
                yield _marker(opaque_path(rel))
            stack.append((rel + "/", iter(_upper_items(upper, rel))))


def diff_overlay_upper(upper_dir: str | os.PathLike[str], sink: BinaryIO,
                       compression: str = "zstd", *, source_date_epoch: int | None = None,
                       xattrs: XattrFilter | None = keep_xattr, media_type: str | None = None,
                       progress: Progress | None = None,
                       owners: OwnerMap | None = None) -> LayerInfo:
    """Write an overlayfs upper directory as an OCI layer with whiteouts (owners as
    `owners` maps them, for a tree a user namespace wrote)."""
    upper = os.fspath(upper_dir)
    with LayerWriter(sink, compression, media_type=media_type,
                     source_date_epoch=source_date_epoch, progress=progress) as writer:
        for entry in _overlay_upper_entries(upper, xattrs, owners):
            writer.add(entry)
    return writer.close()


def _present_in_lowers(rel: str, lower_dirs: Sequence[str]) -> bool:
    """Whether `rel` is visible in the merged view of `lower_dirs` (topmost first)."""
    parts = rel.split("/")
    for lower in lower_dirs:
        current = lower
        below_opaque = False
        for index, part in enumerate(parts):
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                break
            if _is_whiteout_device(st):
                return False
            if index == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                return False  # a non-directory here hides everything below it
            if _overlay_attrs(current).get(_OPAQUE) == b"y":
                below_opaque = True
        if below_opaque:
            return False  # an opaque directory on the way hides the layers further down
    return False


def overlay_changes(upper_dir: str | os.PathLike[str],
                    lower_dirs: Sequence[str | os.PathLike[str]]) -> list[Change]:
    """`docker diff` of an overlay container: upper entries as A or C, whiteouts as D."""
    upper = os.fspath(upper_dir)
    lowers = [os.fspath(lower) for lower in lower_dirs]
    result: list[Change] = []
    for rel, _host, st in walk_sorted(upper):
        if _is_whiteout_device(st):
            result.append(Change("D", "/" + rel))
        else:
            result.append(Change("C" if _present_in_lowers(rel, lowers) else "A", "/" + rel))
    return sorted(result, key=lambda change: sort_key(change.path[1:]))


# ---------------------------------------------------------------- tree compare


DirIdentities = Mapping[str, Sequence[int]]


def snapshot_dir_identities(root: str | os.PathLike[str]) -> dict[str, tuple[int, int]]:
    """(st_dev, st_ino) of every directory below `root`, keyed by relative path.

    The copy driver records this right after copying a base tree; `diff_trees`
    then tells a directory deleted and recreated from one merely modified.
    """
    top = os.fspath(root)
    identities: dict[str, tuple[int, int]] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(top, rel) if rel else top) as children:
            for child in children:
                if child.is_dir(follow_symlinks=False):
                    path = rel + "/" + child.name if rel else child.name
                    st = child.stat(follow_symlinks=False)
                    identities[path] = (st.st_dev, st.st_ino)
                    stack.append(path)
    return identities


@dataclass(frozen=True)
class _Delta:
    path: str  # relative
    kind: str  # "A", "C" or "D"
    replaced: bool = False  # a directory recreated: emitted with an opaque marker


def _listing(directory: str) -> dict[str, tuple[str, os.stat_result]]:
    try:
        children = sorted_children(directory)
    except FileNotFoundError:
        return {}
    return {c.name: (c.path, c.stat(follow_symlinks=False)) for c in children}


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk_a = fa.read(1 << 20)
            if chunk_a != fb.read(1 << 20):
                return False
            if not chunk_a:
                return True


def _differs(lower: str, lst: os.stat_result, upper: str, ust: os.stat_result,
             xattrs: XattrFilter | None, compare_content: bool) -> bool:
    if (lst.st_mode != ust.st_mode or lst.st_uid != ust.st_uid or lst.st_gid != ust.st_gid
            or lst.st_mtime_ns != ust.st_mtime_ns):
        return True
    if stat.S_ISREG(ust.st_mode) and lst.st_size != ust.st_size:
        return True
    if (stat.S_ISCHR(ust.st_mode) or stat.S_ISBLK(ust.st_mode)) and lst.st_rdev != ust.st_rdev:
        return True
    if stat.S_ISLNK(ust.st_mode) and os.readlink(lower) != os.readlink(upper):
        return True
    if xattrs is not None and read_xattrs(lower, xattrs) != read_xattrs(upper, xattrs):
        return True
    return compare_content and stat.S_ISREG(ust.st_mode) and not _same_content(lower, upper)


def _added_subtree(upper: str, rel: str, out: list[_Delta]) -> None:
    stack = [rel]
    while stack:
        current = stack.pop()
        for name, (_, st) in _listing(os.path.join(upper, current)).items():
            child = current + "/" + name
            out.append(_Delta(child, "A"))
            if stat.S_ISDIR(st.st_mode):
                stack.append(child)


def _tree_deltas(lower: str, upper: str, identities: DirIdentities | None,
                 xattrs: XattrFilter | None, compare_content: bool) -> list[_Delta]:
    """Every added, changed or deleted path; parents of changes included as changed."""
    out: list[_Delta] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        old = _listing(os.path.join(lower, rel) if rel else lower)
        new = _listing(os.path.join(upper, rel) if rel else upper)
        for name in sorted(old.keys() | new.keys()):
            child = rel + "/" + name if rel else name
            if name not in new:
                out.append(_Delta(child, "D"))
                continue
            upper_path, ust = new[name]
            if name not in old:
                out.append(_Delta(child, "A"))
                if stat.S_ISDIR(ust.st_mode):
                    _added_subtree(upper, child, out)
                continue
            lower_path, lst = old[name]
            if stat.S_IFMT(lst.st_mode) != stat.S_IFMT(ust.st_mode):
                out.append(_Delta(child, "C"))
                if stat.S_ISDIR(ust.st_mode):
                    _added_subtree(upper, child, out)
                continue
            if stat.S_ISDIR(ust.st_mode) and identities is not None:
                recorded = identities.get(child)
                if recorded is None or tuple(recorded) != (ust.st_dev, ust.st_ino):
                    out.append(_Delta(child, "C", replaced=True))
                    _added_subtree(upper, child, out)
                    continue
            if _differs(lower_path, lst, upper_path, ust, xattrs, compare_content):
                out.append(_Delta(child, "C"))
            if stat.S_ISDIR(ust.st_mode):
                stack.append(child)
    listed = {delta.path for delta in out}
    for delta in list(out):
        parent = posixpath.dirname(delta.path)
        while parent and parent not in listed:
            listed.add(parent)
            out.append(_Delta(parent, "C"))
            parent = posixpath.dirname(parent)
    return out


def changes(lower_dir: str | os.PathLike[str], upper_dir: str | os.PathLike[str], *,
            dir_identities: DirIdentities | None = None, xattrs: XattrFilter | None = keep_xattr,
            compare_content: bool = False) -> list[Change]:
    """`docker diff` between a base tree and its modified copy, sorted by path."""
    deltas = _tree_deltas(os.fspath(lower_dir), os.fspath(upper_dir), dir_identities, xattrs,
                          compare_content)
    deltas.sort(key=lambda delta: sort_key(delta.path))
    return [Change(delta.kind, "/" + delta.path) for delta in deltas]


def diff_trees(lower_dir: str | os.PathLike[str], upper_dir: str | os.PathLike[str],
               sink: BinaryIO, compression: str = "zstd", *,
               dir_identities: DirIdentities | None = None,
               source_date_epoch: int | None = None, xattrs: XattrFilter | None = keep_xattr,
               compare_content: bool = False, media_type: str | None = None,
               progress: Progress | None = None, owners: OwnerMap | None = None) -> LayerInfo:
    """Write the difference from `lower_dir` to `upper_dir` as an OCI layer (owners as
    `owners` maps them, for a tree a user namespace wrote)."""
    lower, upper = os.fspath(lower_dir), os.fspath(upper_dir)
    deltas = _tree_deltas(lower, upper, dir_identities, xattrs, compare_content)
    emissions: list[tuple[tuple[bytes, ...], str, str]] = []
    for delta in deltas:
        if delta.kind == "D":
            emissions.append((sort_key(whiteout_path(delta.path)), "whiteout", delta.path))
            continue
        emissions.append((sort_key(delta.path), "entry", delta.path))
        if delta.replaced:
            emissions.append((sort_key(delta.path) + (b"",), "opaque", delta.path))
    emissions.sort(key=lambda item: item[0])
    seen: dict[tuple[int, int], str] = {}
    with LayerWriter(sink, compression, media_type=media_type,
                     source_date_epoch=source_date_epoch, progress=progress) as writer:
        for _, action, path in emissions:
            if action == "whiteout":
                writer.add(_marker(whiteout_path(path)))
            elif action == "opaque":
                writer.add(_marker(opaque_path(path)))
            else:
                host_path = os.path.join(upper, path)
                st = os.lstat(host_path)
                entry = entry_from_stat(path, host_path, st, xattrs=xattrs, owners=owners)
                if entry is not None:
                    writer.add(_hardlink(entry, st, seen))
    return writer.close()
