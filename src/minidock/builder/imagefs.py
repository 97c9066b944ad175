"""A read-only view of an image's file tree, straight from its extracted layer dirs.

COPY, ADD and WORKDIR need a few facts about the parent image (does the
destination exist, is it a directory, where do its symlinks lead, what do
/etc/passwd and /etc/group say) without mounting anything, so that a
Dockerfile without RUN builds unprivileged. This class answers them by looking
through the layer directories top-down, honouring overlay-style whiteouts
(a 0/0 character device, or a leftover `.wh.NAME` file) and opaque
directories (`trusted.`/`user.overlay.opaque`, or a `.wh..wh..opq` file).
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Sequence
from pathlib import Path

from minidock.errors import BuildError
from minidock.layer.entry import OPAQUE_MARKER, WHITEOUT_PREFIX
from minidock.layer.hostfs import OwnerMap
from minidock.runtime.rootfs import is_opaque, is_whiteout

MAX_SYMLINK_HOPS = 40


class ImageFS:
    """Lookups in the merged tree of `layers` (host dirs, lowest first).

    `rootless`: the layers were extracted by an unprivileged user, so their
    files belong to that user, who is root in a rootless container; `owner_of`
    reports the other owners the extraction recorded (OWNER_XATTR).
    """

    def __init__(self, layers: Sequence[Path], *, rootless: bool = False):
        self._top_first = [Path(p) for p in reversed(list(layers))]
        self._owners: OwnerMap | None = None
        if rootless:
            own = (os.geteuid(), os.getegid())
            self._owners = OwnerMap(lambda uid, gid: (0 if uid == own[0] else uid,
                                                      0 if gid == own[1] else gid), own)

    def owner_of(self, host: str, st: os.stat_result) -> tuple[int, int]:
        """The (uid, gid) the image gives the file at `host` (an lstat'ed host path of
        one of the layers)."""
        if self._owners is None:
            return st.st_uid, st.st_gid
        return self._owners.owner(host, st)

    def _has_wh_file(self, layer: Path, rel: str) -> bool:
        parent, name = posixpath.split(rel)
        return os.path.lexists(layer / parent / (WHITEOUT_PREFIX + name))

    def lstat(self, path: str) -> tuple[Path, os.stat_result] | None:
        """The top-most visible (host path, lstat) of an image path; no symlink following."""
        return self._visible(path)[0]

    def _visible(self, path: str) -> tuple[tuple[Path, os.stat_result] | None, list[Path]]:
        """(top-most hit, layers whose copy of this directory shows through)."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        if not parts:
            if not self._top_first:
                return None, []
            top = self._top_first[0]
            contributing = []
            for layer in self._top_first:
                contributing.append(layer)
                if is_opaque(str(layer)):
                    break
            return (top, os.lstat(top)), contributing
        candidates = list(self._top_first)
        found: tuple[Path, os.stat_result] | None = None
        for depth in range(len(parts)):
            rel = "/".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            visible: list[Path] = []
            found = None
            for layer in candidates:
                try:
                    st = os.lstat(layer / rel)
                except (FileNotFoundError, NotADirectoryError):
                    if self._has_wh_file(layer, rel):
                        break
                    continue
                if is_whiteout(st):
                    break
                if found is None:
                    found = (layer / rel, st)
                if not stat.S_ISDIR(st.st_mode):
                    if not visible:
                        visible.append(layer)
                    break
                visible.append(layer)
                if is_opaque(str(layer / rel)):
                    break
            if found is None:
                return None, []
            if not last and not stat.S_ISDIR(found[1].st_mode):
                return None, []
            candidates = visible
        return found, candidates

    def listdir(self, path: str) -> list[str]:
        """Names visible in an image directory (no symlink following), sorted byte-wise."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        rel = "/".join(parts)
        found, layers = self._visible("/" + rel)
        if found is None:
            raise FileNotFoundError(path)
        if not stat.S_ISDIR(found[1].st_mode):
            raise NotADirectoryError(path)
        names: set[str] = set()
        hidden: set[str] = set()
        for layer in layers:
            host = layer / rel if rel else layer
            for entry in os.scandir(host):
                name = entry.name
                if name == OPAQUE_MARKER:
                    continue
                if name.startswith(WHITEOUT_PREFIX):
                    hidden.add(name[len(WHITEOUT_PREFIX):])
                    continue
                if name in names or name in hidden:
                    continue
                if not entry.is_dir(follow_symlinks=False) and not entry.is_file(
                        follow_symlinks=False) and not entry.is_symlink():
                    st = entry.stat(follow_symlinks=False)
                    if is_whiteout(st):
                        hidden.add(name)
                        continue
                names.add(name)
        return sorted(names, key=os.fsencode)

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """Resolve symlinks in an image path as if the image root were `/` (chroot-like).

        `..` never climbs above the root and absolute link targets start at the
        image root. Returns a normalised absolute path; the result may not exist.
        """
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            if name == ".":
                continue
            candidate = "/" + "/".join([*resolved, name])
            if not parts and not follow_last:
                resolved.append(name)
                break
            hit = self.lstat(candidate)
            if hit is None or not stat.S_ISLNK(hit[1].st_mode):
                resolved.append(name)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise BuildError(f"too many levels of symbolic links: {path}")
            target = os.readlink(hit[0])
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
        return "/" + "/".join(resolved)

    def is_dir(self, path: str) -> bool:
        hit = self.lstat(self.resolve(path))
        return hit is not None and stat.S_ISDIR(hit[1].st_mode)

    def exists(self, path: str) -> bool:
        return self.lstat(self.resolve(path)) is not None

    def read_file(self, path: str, limit: int = 16 << 20) -> bytes | None:
        """Content of a regular file (symlinks followed in the image), or None."""
        hit = self.lstat(self.resolve(path))
        if hit is None or not stat.S_ISREG(hit[1].st_mode):
            return None
        with open(hit[0], "rb") as f:
            return f.read(limit)
