"""A minimal tar writer for save archives: stable bytes, streamed content.

Every member gets mtime 0, owner 0:0 and no user names, so saving the same
image twice gives the same archive. Content is copied in chunks, never held in
memory. A layer whose uncompressed size is only known after decompressing it
is written with a placeholder header that is patched afterwards, which is why
the output must be seekable (the CLI writes to a temp file it renames).
GNU headers keep every header one block long whatever the size, so patching
never has to move data.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from typing import BinaryIO

from minidock.errors import ArchiveError
from minidock.layer.streams import Readable

BLOCK = 512
_CHUNK = 1 << 20


def _header(name: str, size: int, *, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mtime = 0
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.uname = info.gname = ""
    data = info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")
    if len(data) != BLOCK:  # only a name over 100 bytes would do this; ours are short
        raise ArchiveError(f"archive member name too long: {name}")
    return data


def _pad(size: int) -> bytes:
    return bytes(-size % BLOCK)


class ArchiveWriter:
    """Appends members to `out`; call `close` to write the end-of-archive blocks."""

    def __init__(self, out: BinaryIO, on_bytes: Callable[[int], None] | None = None):
        self._out = out
        self._names: set[str] = set()
        self._buf = bytearray(_CHUNK)
        self._on_bytes = on_bytes

    def has(self, name: str) -> bool:
        return name in self._names

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ArchiveError(f"archive member {name} written twice")
        self._names.add(name)

    def add_dir(self, name: str) -> None:
        self._claim(name)
        self._out.write(_header(name.rstrip("/") + "/", 0, directory=True))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._claim(name)
        self._out.write(_header(name, len(data)))
        self._out.write(data)
        self._out.write(_pad(len(data)))

    def _copy(self, stream: Readable, limit: int | None) -> int:
        """Copy until EOF (or `limit` bytes); returns the count copied."""
        view = memoryview(self._buf)
        total = 0
        readinto = getattr(stream, "readinto", None)
        while limit is None or total < limit:
            want = _CHUNK if limit is None else min(_CHUNK, limit - total)
            if readinto is not None:
                n = readinto(view[:want])
                chunk = view[:n]
            else:
                data = stream.read(want)
                n = len(data)
                chunk = memoryview(data)
            if not n:
                break
            self._out.write(chunk)
            total += n
            if self._on_bytes is not None:
                self._on_bytes(n)
        return total

    def add_stream(self, name: str, stream: Readable, size: int) -> None:
        """Copy exactly `size` bytes of `stream`; the stream must then be at EOF.

        Reading on to EOF lets a verifying reader check the digest before the
        member is counted as written.
        """
        self._claim(name)
        self._out.write(_header(name, size))
        copied = self._copy(stream, size)
        if copied != size or stream.read(1):
            raise ArchiveError(f"archive member {name}: expected {size} bytes, "
                               f"got {'more' if copied == size else copied}")
        self._out.write(_pad(size))

    def add_unsized(self, name: str, stream: Readable) -> int:
        """Copy `stream` to EOF, then patch the header with the size; returns it."""
        self._claim(name)
        start = self._out.tell()
        self._out.write(_header(name, 0))
        size = self._copy(stream, None)
        end = self._out.tell()
        self._out.seek(start)
        self._out.write(_header(name, size))
        self._out.seek(end)
        self._out.write(_pad(size))
        return size

    def close(self) -> None:
        self._out.write(bytes(2 * BLOCK))
        self._out.flush()
