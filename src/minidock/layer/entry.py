"""The in-layer entry model shared by the writer, the differ and the extractor.

A layer is a sorted sequence of entries. Paths are kept as `str` decoded with
`surrogateescape`, so any byte string a Linux filesystem allows survives a round
trip through `os.fsencode`.
"""

from __future__ import annotations

import enum
import posixpath
from dataclasses import dataclass, field

from minidock.errors import LayerError

WHITEOUT_PREFIX = ".wh."
# AUFS-era metadata names; only the opaque marker carries meaning in OCI layers.
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"

# overlayfs keeps its own state in these namespaces; they never travel in a layer.
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


class EntryKind(enum.Enum):
    """Entry types a layer may hold; values are the tar typeflags."""

    FILE = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR = "3"
    BLOCK = "4"
    DIR = "5"
    FIFO = "6"


@dataclass(slots=True)
class Entry:
    """One tar member: an in-layer path with its metadata and where its bytes come from.

    `source` is a host path to stream a regular file's content from, or the content
    itself as bytes; `None` for entries without content.
    """

    path: str
    kind: EntryKind
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    source: str | bytes | None = None


def clean_path(path: str) -> str:
    """Normalise an in-layer path lexically, as if the layer root were `/`.

    `..` can never climb above the root (`/../etc` is `/etc`), so the result is
    always relative and inside. Returns "" for the root itself.
    """
    cleaned = posixpath.normpath("/" + path)
    # normpath keeps a leading "//" (POSIX allows it to be special); a layer has no such thing
    return cleaned.lstrip("/")


def layer_path(path: str) -> str:
    """Clean an in-layer path that must name something below the root."""
    cleaned = clean_path(path)
    if not cleaned:
        raise LayerError(f"layer path {path!r} names the root directory")
    return cleaned


def sort_key(path: str) -> tuple[bytes, ...]:
    """Order that puts a directory right before its children, byte-wise within a directory."""
    return tuple(part.encode("utf-8", "surrogateescape") for part in path.split("/"))


def whiteout_path(path: str) -> str:
    """The `.wh.` entry that deletes `path` from lower layers."""
    parent, name = posixpath.split(path)
    return posixpath.join(parent, WHITEOUT_PREFIX + name)


def opaque_path(directory: str) -> str:
    """The marker entry that hides everything lower layers hold below `directory`."""
    return posixpath.join(directory, OPAQUE_MARKER)


def is_overlay_xattr(name: str) -> bool:
    return name.startswith(OVERLAY_XATTR_PREFIXES)
