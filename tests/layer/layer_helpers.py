"""Shared helpers for the layer tests: tree snapshots and in-memory tars."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import tarfile
from pathlib import Path

from minidock.layer.compression import decompressing_reader
from minidock.layer.entry import Entry
from minidock.layer.tarstream import TarReader


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)
            if not n.startswith(("trusted.overlay.", "user.overlay.", "security.selinux"))}


def snapshot(root: str | Path, *, mtimes: bool = True, dir_mtimes: bool = True,
             owners: bool = True) -> dict[str, tuple]:
    """Everything observable about a tree: type, mode, owner, content, target, mtime, xattrs.

    Hardlinked names share a group label (the first path of the inode).
    """
    root = str(root)
    result: dict[str, tuple] = {}
    first_of_inode: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            fmt = stat.S_IFMT(st.st_mode)
            detail: object = None
            link_group = None
            if stat.S_ISREG(st.st_mode):
                detail = hashlib.sha256(Path(full).read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                detail = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                detail = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                link_group = first_of_inode.setdefault((st.st_dev, st.st_ino), rel)
            keep_mtime = mtimes and (dir_mtimes or not stat.S_ISDIR(st.st_mode))
            result[rel] = (
                fmt,
                stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) else None,
                (st.st_uid, st.st_gid) if owners else None,
                detail,
                link_group,
                st.st_mtime_ns // 10**9 if keep_mtime else None,
                _xattrs(full),
            )
    return result


def read_layer(blob: bytes) -> list[tuple[Entry, bytes]]:
    """Every entry of a (possibly compressed) layer with its content."""
    reader = TarReader(decompressing_reader(io.BytesIO(blob)))
    out = []
    for entry in reader:
        data = bytearray()
        buf = bytearray(65536)
        while n := reader.readinto(buf):
            data += buf[:n]
        out.append((entry, bytes(data)))
    return out


def layer_names(blob: bytes) -> list[str]:
    return [entry.path for entry, _ in read_layer(blob)]


class TarBuilder:
    """Builds arbitrary (including hostile) tars in memory with the standard library."""

    def __init__(self, fmt: int = tarfile.PAX_FORMAT):
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=fmt)

    def _info(self, name: str, kind: bytes, **fields: object) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = int(fields.pop("mode", 0o644))  # type: ignore[call-overload]
        info.mtime = int(fields.pop("mtime", 1_600_000_000))  # type: ignore[call-overload]
        for key, value in fields.items():
            setattr(info, key, value)
        return info

    def file(self, name: str, data: bytes = b"", **fields: object) -> TarBuilder:
        info = self._info(name, tarfile.REGTYPE, **fields)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))
        return self

    def dir(self, name: str, **fields: object) -> TarBuilder:
        fields.setdefault("mode", 0o755)
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, **fields))
        return self

    def symlink(self, name: str, target: str, **fields: object) -> TarBuilder:
        fields.setdefault("mode", 0o777)
        self._tar.addfile(self._info(name, tarfile.SYMTYPE, linkname=target, **fields))
        return self

    def hardlink(self, name: str, target: str, **fields: object) -> TarBuilder:
        self._tar.addfile(self._info(name, tarfile.LNKTYPE, linkname=target, **fields))
        return self

    def device(self, name: str, major: int, minor: int, block: bool = False,
               **fields: object) -> TarBuilder:
        kind = tarfile.BLKTYPE if block else tarfile.CHRTYPE
        self._tar.addfile(self._info(name, kind, devmajor=major, devminor=minor, **fields))
        return self

    def fifo(self, name: str, **fields: object) -> TarBuilder:
        self._tar.addfile(self._info(name, tarfile.FIFOTYPE, **fields))
        return self

    def bytes(self) -> bytes:
        self._tar.close()
        return self._buf.getvalue()

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.bytes())


IS_ROOT = os.geteuid() == 0
CAPABILITY = b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"


def make_rich_tree(root: Path) -> None:
    """A tree with every kind of entry minidock layers carry (privileged parts as root)."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "ro").mkdir()
    (root / "a" / "f").write_bytes(b"shared content\n")
    os.chmod(root / "a" / "f", 0o640)
    os.link(root / "a" / "f", root / "a" / "b" / "hl")
    (root / "a" / "b" / "setuid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "a" / "b" / "setuid", 0o4755)
    (root / "big.bin").write_bytes(random.Random(7).randbytes(3 << 20))
    (root / "zero").write_bytes(b"")
    (root / ("n" * 200)).write_bytes(b"long name")
    (root / "unicodé ✓").write_bytes(b"u")
    (root / os.fsdecode(b"latin1-\xe9")).write_bytes(b"not utf-8")
    (root / "ro" / "inside").write_bytes(b"in a read-only dir")
    os.symlink("/etc/passwd", root / "abs-link")
    os.symlink("../a/f", root / "a" / "rel-link")
    os.symlink("nowhere", root / "dangling")
    os.mkfifo(root / "fifo", 0o600)
    os.setxattr(root / "a" / "f", "user.origin", b"\x00binary\xff")
    os.setxattr(root / "a", "user.dir", b"d")
    if IS_ROOT:
        os.setxattr(root / "a" / "b" / "setuid", "security.capability", CAPABILITY)
        os.setxattr(root / "zero", "trusted.note", b"t")
        os.chown(root / "a" / "b", 1000, 1001)
        os.chown(root / "big.bin", 12345, 54321)
        os.chown(root / "abs-link", 7, 8, follow_symlinks=False)
        os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(root / "loop", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    os.chmod(root / "ro", 0o555)
    os.chmod(root / "a" / "b", 0o750)
    # distinct mtimes everywhere, directories last so children do not bump them
    for i, (dirpath, dirnames, filenames) in enumerate(sorted(os.walk(root), reverse=True)):
        for j, name in enumerate(filenames + dirnames):
            path = os.path.join(dirpath, name)
            if not os.path.isdir(path) or os.path.islink(path):
                os.utime(path, (1_500_000_000 + i * 100 + j,) * 2, follow_symlinks=False)
        os.utime(dirpath, (1_400_000_000 + i,) * 2)
