"""Where COPY/ADD sources come from: the build context or another image's tree.

Both are `SourceTree`s: something that resolves a path as written in the
Dockerfile, stats it, lists directories and hashes files. The context refuses
paths that leave it; an image tree resolves like a chroot. Globs are matched
one path component at a time with `filepath.Match` rules (see pathmatch).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from minidock.builder import pathmatch
from minidock.builder.context import CHUNK, BuildContext, SourceNotFound
from minidock.builder.imagefs import ImageFS
from minidock.errors import BuildError


@dataclass(frozen=True)
class SourceMatch:
    """One path a COPY source names: `name` as matched, `rel` after symlinks."""

    name: str
    rel: str
    st: os.stat_result


class SourceTree(Protocol):
    """Read-only access to the files a COPY may take."""

    description: str

    def resolve(self, written: str, instruction: str, *, follow_last: bool = True) -> str: ...

    def lstat(self, rel: str) -> os.stat_result | None: ...

    def host_path(self, rel: str) -> Path: ...

    def listdir(self, rel: str) -> list[str]: ...

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]: ...

    def file_sha256(self, rel: str, st: os.stat_result) -> str: ...

    def owner_of(self, host: str, st: os.stat_result) -> tuple[int, int]: ...


class ContextTree:
    """The build context as a source tree (its owners are never copied: 0:0 or --chown)."""

    description = "build context"

    def __init__(self, context: BuildContext):
        self.context = context

    def resolve(self, written: str, instruction: str, *, follow_last: bool = True) -> str:
        return self.context.resolve(written, instruction=instruction, follow_last=follow_last)

    def lstat(self, rel: str) -> os.stat_result | None:
        return self.context.lstat(rel)

    def host_path(self, rel: str) -> Path:
        return self.context.host_path(rel)

    def listdir(self, rel: str) -> list[str]:
        return [n for n in self.context.listdir(rel)
                if not self.context.is_excluded(f"{rel}/{n}" if rel else n)]

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        return self.context.walk(rel)

    def file_sha256(self, rel: str, st: os.stat_result) -> str:
        return self.context.file_sha256(rel, st)

    def owner_of(self, host: str, st: os.stat_result) -> tuple[int, int]:
        return 0, 0  # COPY from the context gives root (or --chown) whoever owns the file


class ImageTree:
    """An image's merged file tree (COPY --from, RUN --mount=type=bind,from=...)."""

    def __init__(self, fs: ImageFS, description: str):
        self.fs = fs
        self.description = description
        self._hashes: dict[tuple[int, int, int, int], str] = {}
        self._hosts: dict[str, Path] = {}

    def resolve(self, written: str, instruction: str, *, follow_last: bool = True) -> str:
        return self.fs.resolve(written, follow_last=follow_last).lstrip("/")

    def lstat(self, rel: str) -> os.stat_result | None:
        hit = self.fs.lstat("/" + rel)
        if hit is None:
            return None
        self._hosts[rel] = hit[0]
        return hit[1]

    def host_path(self, rel: str) -> Path:
        host = self._hosts.get(rel)
        if host is None:
            hit = self.fs.lstat("/" + rel)
            if hit is None:
                raise BuildError(f"file vanished from {self.description}: /{rel}")
            host = hit[0]
        return host

    def listdir(self, rel: str) -> list[str]:
        return self.fs.listdir("/" + rel)

    def owner_of(self, host: str, st: os.stat_result) -> tuple[int, int]:
        return self.fs.owner_of(host, st)

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        stack = [rel]
        while stack:
            current = stack.pop()
            subdirs = []
            for name in self.listdir(current):
                child = f"{current}/{name}" if current else name
                st = self.lstat(child)
                if st is None:
                    continue
                yield child, st
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(child)
            stack.extend(reversed(subdirs))

    def file_sha256(self, rel: str, st: os.stat_result) -> str:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._hashes.get(key)
        if cached is None:
            h = hashlib.sha256()
            with open(self.host_path(rel), "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            cached = self._hashes[key] = h.hexdigest()
        return cached


def _not_found(tree: SourceTree, written: str, instruction: str) -> BuildError:
    if isinstance(tree, ContextTree):
        return SourceNotFound(f"{instruction} failed: file not found in build context: {written}")
    return SourceNotFound(f"{instruction} failed: file not found in {tree.description}: "
                          f"{written}")


def match_sources(tree: SourceTree, written: str, instruction: str) -> list[SourceMatch]:
    """The paths a COPY source names: one for a literal path, any number for a glob.

    A literal path must exist; a glob that matches nothing is an error too, as
    in Docker. The top-level path is followed if it is a symlink (inside the tree).
    """
    cleaned = written.replace("\\", "/") if not pathmatch.has_magic(written) else written
    if not pathmatch.has_magic(cleaned):
        rel = tree.resolve(cleaned, instruction)
        st = tree.lstat(rel)
        if st is None:
            raise _not_found(tree, written, instruction)
        name = posixpath.basename(posixpath.normpath("/" + cleaned)) or ""
        return [SourceMatch(name, rel, st)]
    # validate the pattern (and the lack of ../) before touching the tree
    tree.resolve(_literal_prefix(cleaned), instruction)
    pattern = [p for p in posixpath.normpath("/" + cleaned).split("/") if p and p != "."]
    found: list[str] = [""]
    for i, piece in enumerate(pattern):
        last = i == len(pattern) - 1
        nxt: list[str] = []
        for base in found:
            if pathmatch.has_magic(piece):
                try:
                    names = tree.listdir(base)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for name in names:
                    if pathmatch.match(piece, name):
                        nxt.append(f"{base}/{name}" if base else name)
            else:
                nxt.append(f"{base}/{piece}" if base else piece)
        if not last:
            nxt = [p for p in nxt if (st := tree.lstat(p)) is not None
                   and stat.S_ISDIR(st.st_mode)]
        found = nxt
    matches = []
    for path in found:
        rel = tree.resolve(path, instruction)
        st = tree.lstat(rel)
        if st is not None:
            matches.append(SourceMatch(posixpath.basename(path), rel, st))
    if not matches:
        raise SourceNotFound(f"{instruction} failed: no source files were specified"
                             if isinstance(tree, ContextTree) else
                             f"{instruction} failed: no source files matched {written} in "
                             f"{tree.description}")
    return matches


def _literal_prefix(pattern: str) -> str:
    """The directories before the first glob character, to check for `../`."""
    out = []
    for piece in pattern.split("/"):
        if pathmatch.has_magic(piece):
            break
        out.append(piece)
    return "/".join(out)
