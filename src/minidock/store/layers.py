"""What each layer of an image holds, read from its verified blob: the layer table,
the merged tree as of a layer, one layer's changes, and dive's efficiency analysis.

A layer is read once per `ImageLayers`, streamed from the blob through the
verifying reader (blob digest and size) and a hashing reader (its diff_id), so
what is shown is what the image really holds; gzip, zstd and uncompressed
layers are told apart by their magic bytes, as extraction does.

Whiteouts apply to the layers below only: a layer's `.wh.` entries and opaque
markers are applied to the tree beneath it before its own entries are added.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minidock.digest import Digest
from minidock.errors import DigestError, UsageError
from minidock.layer.entry import OPAQUE_MARKER, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX, EntryKind
from minidock.store.blobs import HashingReader

if TYPE_CHECKING:
    from minidock.store.store import Image

_KIND_NAMES = {
    EntryKind.FILE: "file", EntryKind.HARDLINK: "hardlink", EntryKind.SYMLINK: "symlink",
    EntryKind.CHAR: "char", EntryKind.BLOCK: "block", EntryKind.DIR: "dir",
    EntryKind.FIFO: "fifo",
}


@dataclass(frozen=True)
class FileInfo:
    """One path of a layer or of a merged tree, `/`-rooted, with its tar metadata."""

    path: str
    kind: str
    """file, dir, symlink, hardlink, char, block or fifo."""
    mode: int
    uid: int
    gid: int
    size: int
    link_target: str = ""


@dataclass(frozen=True)
class Change:
    """What one layer did to one path: `A`dded, `C`hanged or `D`eleted.

    `marker` says how a layer deletes: `whiteout` (a `.wh.NAME` entry; `info` is
    what it deleted) or `opaque` (a `.wh..wh..opq` marker; `info` is the directory
    whose lower contents it hides, `hidden` how many lower paths that were).
    `freed` is the bytes of regular files the deletion hid.
    """

    action: str
    info: FileInfo
    marker: str = ""
    hidden: int = 0
    freed: int = 0


@dataclass(frozen=True)
class HistoryRow:
    """One row of the image config's history; `layer` is the index of the layer
    it made, None for an `empty_layer` row (ENV, CMD, ...) or one past the layers."""

    created_by: str
    created: str
    comment: str
    empty_layer: bool
    layer: int | None


@dataclass(frozen=True)
class LayerInfo:
    """One row of `image layers`."""

    index: int
    diff_id: Digest
    digest: Digest
    media_type: str
    compressed_size: int
    uncompressed_size: int
    """Bytes of the layer's tar."""
    content_size: int
    """Bytes of the regular files in it (what dive calls a layer's size)."""
    added: int
    changed: int
    removed: int
    created_by: str
    """The history entry that made the layer ("" when the history has none)."""
    comment: str


@dataclass(frozen=True)
class Offender:
    """A path dive counts as wasted: present in more than one layer, or deleted."""

    path: str
    count: int
    """Layers that hold or delete it."""
    total_size: int


@dataclass(frozen=True)
class Analysis:
    """dive's image efficiency figures."""

    efficiency: float
    wasted_bytes: int
    user_wasted_percent: float
    """Wasted bytes over the bytes of every layer but the first (a ratio, 0.1 is 10%)."""
    size_bytes: int
    user_size_bytes: int
    offenders: tuple[Offender, ...]
    """Biggest first."""


@dataclass(frozen=True)
class CIRules:
    """dive's `--ci` thresholds; None disables one. The defaults are dive's."""

    lowest_efficiency: float | None = 0.9
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = 0.1


def ci_failures(analysis: Analysis, rules: CIRules) -> list[str]:
    """One line per threshold the analysis breaks, naming the biggest offender."""
    failures = []
    if rules.lowest_efficiency is not None and analysis.efficiency < rules.lowest_efficiency:
        failures.append(f"efficiency {analysis.efficiency:.4f} is below "
                        f"{rules.lowest_efficiency}")
    if rules.highest_wasted_bytes is not None and (
            analysis.wasted_bytes > rules.highest_wasted_bytes):
        failures.append(f"wasted bytes {analysis.wasted_bytes} is above "
                        f"{rules.highest_wasted_bytes}")
    if rules.highest_user_wasted_percent is not None and (
            analysis.user_wasted_percent > rules.highest_user_wasted_percent):
        failures.append(f"user wasted percent {analysis.user_wasted_percent:.4f} is above "
                        f"{rules.highest_user_wasted_percent}")
    if failures and analysis.offenders:
        top = analysis.offenders[0]
        failures = [f"{line} (biggest offender: {top.path}, {top.total_size} bytes in "
                    f"{top.count} layers)" for line in failures]
    return failures


@dataclass(frozen=True)
class _Layer:
    """A layer as read: its files, and the paths it whites out and makes opaque."""

    files: dict[str, FileInfo]
    whiteouts: tuple[str, ...]
    opaques: tuple[str, ...]
    tar_size: int


class _CountingHasher(HashingReader):
    """A hashing reader that also counts the bytes it passes."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.count = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = super().readinto(buffer)
        self.count += n
        return n

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.count += len(data)
        return data


def _read_layer(image: Image, index: int) -> _Layer:
    from minidock.layer.compression import decompressing_reader
    from minidock.layer.tarstream import TarReader

    desc = image.layers[index]
    diff_id = image.diff_ids[index]
    files: dict[str, FileInfo] = {}
    whiteouts: list[str] = []
    opaques: list[str] = []
    with image.store.open_blob(desc) as blob:
        hashing = _CountingHasher(decompressing_reader(blob, desc.media_type))
        for entry in TarReader(hashing):
            path = "/" + posixpath.normpath("/" + entry.path).lstrip("/")
            if path == "/":
                continue
            parent, name = posixpath.split(path)
            if name == OPAQUE_MARKER:
                opaques.append(parent)
            elif name.startswith(WHITEOUT_META_PREFIX):
                continue  # AUFS bookkeeping without meaning in an OCI layer
            elif name.startswith(WHITEOUT_PREFIX):
                whiteouts.append(posixpath.join(parent, name[len(WHITEOUT_PREFIX):]))
            else:
                files[path] = FileInfo(path, _KIND_NAMES[entry.kind], entry.mode, entry.uid,
                                       entry.gid, entry.size, entry.linkname)
        hashing.drain()
        blob.read()  # reach EOF so the blob's own digest and size are checked
    if hashing.digest != diff_id:
        raise DigestError(f"layer {desc.digest}: uncompressed content hashes to "
                          f"{hashing.digest}, config says {diff_id}")
    return _Layer(files, tuple(whiteouts), tuple(opaques), hashing.count)


class _SortedPaths:
    """The paths of a tree, sorted on first use, so what is below a directory is one
    bisected range (every path starting `/d/` sorts between `/d/` and `/d0`).

    Taken before a layer's deletions: it names the lower paths those remove.
    """

    def __init__(self, tree: dict[str, FileInfo]):
        self._tree = tree
        self._keys: list[str] | None = None

    def below(self, directory: str) -> list[str]:
        if self._keys is None:
            self._keys = sorted(self._tree)
        prefix = directory.rstrip("/") + "/"
        start = bisect.bisect_left(self._keys, prefix)
        return self._keys[start:bisect.bisect_left(self._keys, prefix[:-1] + "0", start)]


def history_rows(image: Image) -> list[HistoryRow]:
    """The config's history with each non-empty row mapped to the layer it made."""
    history = image.config.get("history")
    rows: list[HistoryRow] = []
    layer = 0
    for item in history if isinstance(history, list) else []:
        if not isinstance(item, dict):
            continue
        empty = bool(item.get("empty_layer"))
        index = None
        if not empty and layer < len(image.layers):
            index = layer
            layer += 1
        rows.append(HistoryRow(str(item.get("created_by") or ""), str(item.get("created") or ""),
                               str(item.get("comment") or ""), empty, index))
    return rows


class ImageLayers:
    """The layers of one image, each read on first use and kept."""

    def __init__(self, image: Image):
        self.image = image
        self._read: list[_Layer] = []
        self._history = {row.layer: row for row in history_rows(image) if row.layer is not None}

    def __len__(self) -> int:
        return len(self.image.layers)

    def _check(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise UsageError(f"image {self.image.short_id} has no layer {index} "
                             f"(it has {len(self)}: 0 to {len(self) - 1})")
        return index

    def _layer(self, index: int) -> _Layer:
        while len(self._read) <= index:
            self._read.append(_read_layer(self.image, len(self._read)))
        return self._read[index]

    def _stacks(self, upto: int) -> Iterator[tuple[int, dict[str, FileInfo], _Layer]]:
        """(index, tree below the layer, the layer) for layers 0..upto; the tree is
        updated in place once the caller moves on."""
        tree: dict[str, FileInfo] = {}
        for index in range(upto + 1):
            layer = self._layer(index)
            yield index, tree, layer
            _apply(tree, layer)

    def tree(self, index: int | None = None) -> dict[str, FileInfo]:
        """The merged tree as of layer `index` (the last when None), by path."""
        tree: dict[str, FileInfo] = {}
        if not len(self):
            return tree
        last = self._check(len(self) - 1 if index is None else index)
        for i in range(last + 1):
            _apply(tree, self._layer(i))
        return dict(sorted(tree.items()))

    def changes(self, index: int) -> list[Change]:
        """What layer `index` did to the tree below it, sorted by path."""
        for i, below, layer in self._stacks(self._check(index)):
            if i == index:
                return _changes(below, layer)
        raise AssertionError("unreachable")

    def infos(self) -> list[LayerInfo]:
        """The layer table."""
        rows = []
        for index, below, layer in self._stacks(len(self) - 1):
            counts = {"A": 0, "C": 0, "D": 0}
            for change in _changes(below, layer):
                counts[change.action] += 1
            desc = self.image.layers[index]
            history = self._history.get(index)
            rows.append(LayerInfo(
                index, self.image.diff_ids[index], desc.digest, desc.media_type, desc.size,
                layer.tar_size, _content_size(layer.files.values()), counts["A"], counts["C"],
                counts["D"], history.created_by if history else "",
                history.comment if history else ""))
        return rows

    def analyze(self) -> Analysis:
        """dive's efficiency score, wasted bytes and offenders (see docs/internals.md)."""
        cumulative: dict[str, int] = {}
        smallest: dict[str, int] = {}
        count: dict[str, int] = {}
        sizes: list[int] = []

        def visit(path: str, size: int) -> None:
            cumulative[path] = cumulative.get(path, 0) + size
            smallest[path] = min(smallest.get(path, size), size)
            count[path] = count.get(path, 0) + 1

        for _, below, layer in self._stacks(len(self) - 1):
            sizes.append(_content_size(layer.files.values()))
            paths = _SortedPaths(below)
            gone = {*layer.whiteouts}
            for directory in layer.opaques:
                gone.update(paths.below(directory))
            for path in sorted(gone):
                for hidden in _leaves(below, path, paths):
                    visit(hidden, 0)  # a deletion: a copy of size 0 beside the lower one
            for path in _layer_leaves(layer.files):
                visit(path, layer.files[path].size)
        minimum = sum(smallest.values())
        discovered = sum(cumulative.values())
        offenders = sorted((Offender(path, count[path], cumulative[path])
                            for path in cumulative if count[path] > 1 and cumulative[path]),
                           key=lambda o: (-o.total_size, o.path))
        wasted = sum(o.total_size for o in offenders)
        user_size = sum(sizes[1:])
        return Analysis(
            efficiency=minimum / discovered if discovered else 1.0, wasted_bytes=wasted,
            user_wasted_percent=wasted / user_size if user_size else 0.0,
            size_bytes=sum(sizes), user_size_bytes=user_size, offenders=tuple(offenders))


def _content_size(files: Iterable[FileInfo]) -> int:
    return sum(info.size for info in files if info.kind == "file")


def _apply(tree: dict[str, FileInfo], layer: _Layer) -> None:
    """Stack `layer` on `tree`: its deletions first, then its entries."""
    paths = _SortedPaths(tree)
    for path in layer.whiteouts:
        tree.pop(path, None)
        for child in paths.below(path):
            tree.pop(child, None)
    for directory in layer.opaques:
        for child in paths.below(directory):
            tree.pop(child, None)
    for path, info in layer.files.items():
        lower = tree.get(path)
        if lower is not None and lower.kind == "dir" and info.kind != "dir":
            for child in paths.below(path):  # a file over a directory hides what was below
                tree.pop(child, None)
        tree[path] = info


def _changes(below: dict[str, FileInfo], layer: _Layer) -> list[Change]:
    changes = []
    paths = _SortedPaths(below)
    for path in layer.whiteouts:
        lower = below.get(path)
        if lower is None:
            continue  # deletes nothing the layers below hold
        hidden = [below[p] for p in paths.below(path)]
        changes.append(Change("D", lower, "whiteout", len(hidden),
                              _content_size([lower, *hidden])))
    for directory in layer.opaques:
        hidden = [below[p] for p in paths.below(directory)]
        info = layer.files.get(directory) or below.get(directory) or FileInfo(
            directory, "dir", 0o755, 0, 0, 0)
        changes.append(Change("C" if directory in below else "A", info, "opaque", len(hidden),
                              _content_size(hidden)))
    opaque = set(layer.opaques)
    for path, info in layer.files.items():
        if path in opaque:
            continue  # reported as the opaque directory
        changes.append(Change("C" if path in below else "A", info))
    return sorted(changes, key=lambda c: c.info.path)


def _leaves(tree: dict[str, FileInfo], path: str, paths: _SortedPaths) -> list[str]:
    """The paths at or under `path` in `tree` that have nothing below them."""
    found = [p for p in [path, *paths.below(path)] if p in tree]
    return _layer_leaves({p: tree[p] for p in found})


def _layer_leaves(files: dict[str, FileInfo]) -> list[str]:
    """dive visits the leaves of each layer's tree: paths no other path is below."""
    parents = set()
    for path in files:
        parent = posixpath.dirname(path)
        while parent not in parents and parent != "/":
            parents.add(parent)
            parent = posixpath.dirname(parent)
    return [path for path in files if path not in parents]
