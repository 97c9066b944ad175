"""Open an input archive that may be compressed, without knowing which way.

`docker load` and `docker import` accept a plain tar or one compressed with
gzip, zstd, bzip2 or xz, from a file or a pipe. We sniff the magic bytes and
stack the matching decompressor, so callers always read a plain tar stream and
nothing is buffered beyond the few bytes sniffed.
"""

from __future__ import annotations

import bz2
import lzma

from minidock.errors import ArchiveError, LayerError
from minidock.layer.compression import PeekedReader, decompressing_reader, sniff_compression
from minidock.layer.streams import Readable, Source

BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
_HEAD = 6


class _StdlibDecompressing:
    """bzip2/xz through the standard library, with errors made one-line."""

    def __init__(self, raw: Readable, kind: str):
        self._kind = kind
        # both read from anything with read(); their stubs ask for a file
        self._file: bz2.BZ2File | lzma.LZMAFile
        if kind == "bzip2":
            self._file = bz2.BZ2File(raw)  # type: ignore[call-overload]
        else:
            self._file = lzma.LZMAFile(raw)  # type: ignore[arg-type]

    def readinto(self, buffer: bytearray | memoryview) -> int:
        try:
            return self._file.readinto(buffer)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise ArchiveError(f"corrupt {self._kind} archive: {exc}") from None

    def read(self, size: int = -1) -> bytes:
        try:
            return self._file.read(size)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise ArchiveError(f"corrupt {self._kind} archive: {exc}") from None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()


class _OneLineErrors:
    """Turns the layer decompressors' LayerError into an ArchiveError."""

    def __init__(self, inner: Source, kind: str):
        self._inner = inner
        self._kind = kind

    def readinto(self, buffer: bytearray | memoryview) -> int:
        try:
            return self._inner.readinto(buffer)
        except LayerError as exc:
            raise ArchiveError(f"{self._kind} archive: {exc}") from None

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except LayerError as exc:
            raise ArchiveError(f"{self._kind} archive: {exc}") from None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()


def sniff(head: bytes) -> str:
    """"gzip", "zstd", "bzip2", "xz" or "none" for a stream starting with `head`."""
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return sniff_compression(head)


def open_tar_stream(stream: Readable) -> tuple[Source, str]:
    """The plain tar inside `stream` and the compression it came in.

    The returned reader has `read` and `readinto`; closing it closes `stream`.
    """
    head = b""
    while len(head) < _HEAD:
        more = stream.read(_HEAD - len(head))
        if not more:
            break
        head += more
    kind = sniff(head)
    prefixed = PeekedReader(head, stream)
    if kind in ("gzip", "zstd"):
        return _OneLineErrors(decompressing_reader(prefixed), kind), kind
    if kind in ("bzip2", "xz"):
        return _StdlibDecompressing(prefixed, kind), kind
    return prefixed, kind
