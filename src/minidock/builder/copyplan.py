"""COPY/ADD planning: which entries the new layer holds, and a digest of them.

The plan is computed before any layer is written, because its digest (paths,
types, modes, owners as copied, sizes, content hashes, link targets) is part of
the cache key: a hit skips writing altogether. Destinations follow Docker's
rules: a trailing `/`, an existing directory or several sources make the
destination a directory; a directory source copies its contents; created
parent directories are 0755 and owned like the copied files; directories that
already exist keep their metadata (the layer repeats it so overlay shows it).

`--exclude` patterns apply to paths relative to the copied directory, as in
BuildKit, and a `!` exception re-includes a path even inside an excluded
directory (whose parents are then copied too).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from minidock.builder import pathmatch
from minidock.builder.context import SourceNotFound
from minidock.builder.imagefs import ImageFS
from minidock.builder.sources import SourceMatch, SourceTree, match_sources
from minidock.errors import BuildError
from minidock.layer.entry import Entry, EntryKind, sort_key
from minidock.layer.hostfs import entry_from_stat


@dataclass(frozen=True)
class InlineFile:
    """A file whose content is given, not read from a tree (heredoc, downloaded URL)."""

    name: str
    data: bytes | Path
    mode: int = 0o644
    mtime: int | None = None
    kind: str = "file"  # the history prefix: "file" for heredocs and URLs


@dataclass(frozen=True)
class CopyOptions:
    owner: tuple[int, int] | None = None  # --chown, resolved
    chmod: Callable[[int, bool], int] | None = None  # --chmod: (mode, is_dir) -> mode
    exclude: Callable[[str], bool] | None = None  # --exclude, on source-relative paths
    now: int = 0  # mtime for directories the copy creates
    clamp: int | None = None  # SOURCE_DATE_EPOCH: no mtime later than this


@dataclass
class CopyPlan:
    entries: list[Entry] = field(default_factory=list)
    digest: str = ""
    kind: str = "file"  # "file", "dir" or "multi", for Docker-style history text

    @property
    def history_source(self) -> str:
        return f"{self.kind}:{self.digest}"


# An expander turns one matched local file into entries below a directory (ADD archives);
# it returns None when the file is not something it expands.
Expander = Callable[[SourceTree, SourceMatch, str, "CopyOptions"], list[Entry] | None]


class _Planner:
    def __init__(self, image: ImageFS, opts: CopyOptions, instruction: str):
        self.image = image
        self.opts = opts
        self.instruction = instruction
        self.entries: dict[str, Entry] = {}
        self.hashes: dict[str, str] = {}
        self._inodes: dict[tuple[int, int], Entry] = {}  # source inode -> its first entry
        self._linked: dict[str, tuple[Entry, Entry]] = {}  # link path -> (alone, first)

    def _mtime(self, value: int) -> int:
        if self.opts.clamp is not None and value > self.opts.clamp:
            return self.opts.clamp
        return value

    def ensure_dir(self, path: str) -> None:
        """Entries for `path` and its parents: existing ones as they are, new ones 0755."""
        parts = [p for p in path.split("/") if p]
        for i in range(len(parts)):
            rel = "/".join(parts[: i + 1])
            if rel in self.entries:
                continue
            hit = self.image.lstat("/" + rel)
            if hit is not None and stat.S_ISDIR(hit[1].st_mode):
                st = hit[1]
                uid, gid = self.image.owner_of(str(hit[0]), st)
                self.entries[rel] = Entry(rel, EntryKind.DIR, stat.S_IMODE(st.st_mode),
                                          uid, gid, self._mtime(int(st.st_mtime)))
            elif hit is not None:
                raise BuildError(f"{self.instruction} failed: cannot copy to /{rel}: "
                                 "it exists and is not a directory")
            else:
                uid, gid = self.opts.owner or (0, 0)
                self.entries[rel] = Entry(rel, EntryKind.DIR, 0o755, uid, gid,
                                          self._mtime(self.opts.now))

    def add_tree_entry(self, tree: SourceTree, rel: str, st: os.stat_result, dest: str) -> None:
        host = tree.host_path(rel)
        entry = entry_from_stat(dest, str(host), st)
        if entry is None:
            return  # sockets are not copied
        if self.opts.owner is not None:
            entry.uid, entry.gid = self.opts.owner
        else:
            entry.uid, entry.gid = tree.owner_of(str(host), st)
        if self.opts.chmod is not None and entry.kind is not EntryKind.SYMLINK:
            entry.mode = self.opts.chmod(entry.mode, entry.kind is EntryKind.DIR) & 0o7777
        entry.mtime = self._mtime(entry.mtime)
        if entry.kind is EntryKind.FILE:
            self.hashes[dest] = tree.file_sha256(rel, st)
        if entry.kind is not EntryKind.DIR and st.st_nlink > 1:
            # names of one inode stay hard links of each other, as BuildKit copies them
            first = self._inodes.setdefault((st.st_dev, st.st_ino), entry)
            if first.path != dest:
                self._put(entry)
                self._linked[dest] = (entry, first)
                self.entries[dest] = Entry(dest, EntryKind.HARDLINK, linkname=first.path)
                return
        self._put(entry)

    def _settle_links(self) -> None:
        """A hard link whose first name was replaced by a later source is a copy again."""
        for path, (alone, first) in self._linked.items():
            link = self.entries.get(path)
            if link is not None and link.kind is EntryKind.HARDLINK and \
                    self.entries.get(first.path) is not first:
                self.entries[path] = alone

    def add_inline(self, item: InlineFile, dest: str) -> None:
        uid, gid = self.opts.owner or (0, 0)
        mode = item.mode if self.opts.chmod is None else self.opts.chmod(item.mode, False)
        mtime = self._mtime(item.mtime if item.mtime is not None else self.opts.now)
        entry = Entry(dest, EntryKind.FILE, mode, uid, gid, mtime)
        if isinstance(item.data, bytes):
            entry.size = len(item.data)
            entry.source = item.data
            self.hashes[dest] = hashlib.sha256(item.data).hexdigest()
        else:
            h = hashlib.sha256()
            with open(item.data, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            entry.size = item.data.stat().st_size
            entry.source = str(item.data)
            self.hashes[dest] = h.hexdigest()
        self._put(entry)

    def _put(self, entry: Entry) -> None:
        previous = self.entries.get(entry.path)
        if previous is not None and previous.kind is EntryKind.DIR and entry.kind is EntryKind.DIR:
            self.entries[entry.path] = entry
            return
        if previous is not None and entry.kind is not EntryKind.DIR:
            # a later source replaces an earlier one; drop what was below it
            prefix = entry.path + "/"
            for key in [k for k in self.entries if k.startswith(prefix)]:
                del self.entries[key]
                self.hashes.pop(key, None)
        self.entries[entry.path] = entry

    def copy_dir_contents(self, tree: SourceTree, match: SourceMatch, root: str) -> None:
        self.copy_below(tree, match.rel, root, tree.walk(match.rel), {})

    def copy_below(self, tree: SourceTree, base: str, root: str,
                   candidates: Iterable[tuple[str, os.stat_result]],
                   dirs: dict[str, os.stat_result]) -> None:
        """Copy `candidates` (tree paths below directory `base`) to the same relative
        paths below `root`, minus `--exclude`.

        A copied path brings the directories above it (up to `base`) with it: their
        metadata comes from `dirs` (relative path -> stat), which is filled in as
        directories are walked. That is how a `!` exception inside an excluded
        directory gets its parents.
        """
        copied: set[str] = set()
        for rel, st in candidates:
            inner = rel[len(base) + 1:] if base else rel
            if stat.S_ISDIR(st.st_mode):
                dirs[inner] = st
            if self.opts.exclude is not None and self.opts.exclude(inner):
                continue
            parent = inner.rpartition("/")[0]
            if parent and parent not in copied:  # walked, but not copied itself
                for above in _ancestors(inner):
                    if above not in copied and above in dirs:
                        self.add_tree_entry(tree, _join(base, above), dirs[above],
                                            _join(root, above))
                        copied.add(above)
            self.add_tree_entry(tree, rel, st, _join(root, inner))
            copied.add(inner)

    def digest(self) -> str:
        self._settle_links()
        h = hashlib.sha256()
        for path in sorted(self.entries, key=sort_key):
            e = self.entries[path]
            detail = self.hashes.get(path, "") if e.kind is EntryKind.FILE else e.linkname
            xattrs = ",".join(f"{k}={v.hex()}" for k, v in sorted(e.xattrs.items()))
            h.update(f"{path}\0{e.kind.value}\0{e.mode:o}\0{e.uid}:{e.gid}\0{e.size}\0"
                     f"{e.devmajor},{e.devminor}\0{xattrs}\0{detail}\n"
                     .encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def sorted_entries(self) -> list[Entry]:
        self._settle_links()
        return [self.entries[p] for p in sorted(self.entries, key=sort_key)]


def destination(dest: str, workdir: str) -> tuple[str, bool]:
    """(absolute destination, written as a directory?) for a COPY/ADD destination."""
    as_dir = dest.endswith("/") or dest in (".", "") or dest.endswith("/.")
    absolute = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    return posixpath.normpath(absolute) if absolute != "/" else "/", as_dir


def plan_copy(tree: SourceTree | None, sources: Sequence[str | InlineFile], dest: str, *,
              workdir: str, image: ImageFS, opts: CopyOptions, instruction: str = "COPY",
              expand: Expander | None = None) -> CopyPlan:
    """Resolve sources and destination into the entries of one layer."""
    planner = _Planner(image, opts, instruction)
    dest_abs, as_dir = destination(dest, workdir)
    matched: list[SourceMatch | InlineFile] = []
    unmatched: SourceNotFound | None = None
    for src in sources:
        if isinstance(src, InlineFile):
            matched.append(src)
        else:
            if tree is None:
                raise BuildError(f"{instruction} failed: no source tree for {src}")
            try:
                matched.extend(match_sources(tree, src, instruction))
            except SourceNotFound as exc:
                # BuildKit allows a wildcard that matches nothing beside other sources
                if not pathmatch.has_magic(src):
                    raise
                unmatched = unmatched or exc
    if unmatched is not None and not matched:
        raise unmatched
    if not as_dir and image.is_dir(dest_abs):
        as_dir = True
    if len(matched) > 1 and not as_dir:
        raise BuildError(f"When using {instruction} with more than one source file, the "
                         "destination must be a directory and end with a /")
    if as_dir:
        root = image.resolve(dest_abs).lstrip("/")
        target = None
    else:
        parent = image.resolve(posixpath.dirname(dest_abs)).lstrip("/")
        target = posixpath.join(parent, posixpath.basename(dest_abs)) if parent else \
            posixpath.basename(dest_abs)
        root = parent
    kinds: set[str] = set()
    for item in matched:
        if isinstance(item, InlineFile):
            kinds.add(item.kind)
            planner.ensure_dir(root)
            out = target if target is not None else _join(root, item.name)
            planner.add_inline(item, out)
            continue
        assert tree is not None
        if stat.S_ISDIR(item.st.st_mode):
            kinds.add("dir")
            into = root if target is None else target
            planner.ensure_dir(into)
            planner.copy_dir_contents(tree, item, into)
            continue
        kinds.add("file")
        if expand is not None:
            expanded = expand(tree, item, root if target is None else target, opts)
            if expanded is not None:
                planner.ensure_dir(root if target is None else target)
                for entry in expanded:
                    entry.mtime = planner._mtime(entry.mtime)
                    planner.ensure_dir(posixpath.dirname(entry.path))
                    planner._put(entry)
                    if entry.kind is EntryKind.FILE and isinstance(entry.source, str):
                        planner.hashes[entry.path] = _hash_file(entry.source)
                continue
        if opts.exclude is not None and opts.exclude(item.name):
            continue
        planner.ensure_dir(root)
        out = target if target is not None else _join(root, item.name)
        planner.add_tree_entry(tree, item.rel, item.st, out)
    plan = CopyPlan(planner.sorted_entries(), planner.digest())
    plan.kind = "multi" if len(matched) > 1 else (kinds.pop() if len(kinds) == 1 else "multi")
    return plan


def plan_mkdir(path: str, *, image: ImageFS, opts: CopyOptions) -> list[Entry]:
    """Entries that create directory `path` and missing parents (WORKDIR)."""
    planner = _Planner(image, opts, "WORKDIR")
    planner.ensure_dir(image.resolve(path).lstrip("/"))
    return planner.sorted_entries()


def _join(root: str, name: str) -> str:
    return f"{root}/{name}" if root else name


def _ancestors(path: str) -> list[str]:
    """`a/b/c` -> [`a`, `a/b`]: the directories above a relative path, outermost first."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def host_tmp_file(directory: Path, name: str) -> Path:
    """A fresh private file path in `directory` (for downloads and archive members)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    return directory / name
