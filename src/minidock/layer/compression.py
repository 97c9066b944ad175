"""The (de)compression wrappers around layer tars (the media types are in
`minidock.mediatypes`).

Compression output is deterministic so the same tree always yields the same
blob digest: zstd runs with a fixed level in multi-threaded mode (whose output
does not depend on the thread count) and gzip writes a header with mtime 0 and
no file name. Reading sniffs magic bytes, so a mislabelled layer still reads.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import zstandard

from minidock.errors import LayerError
from minidock.layer.streams import Readable, Writable
from minidock.mediatypes import check_compression, compression_of

ZSTD_LEVEL = 3
GZIP_LEVEL = 6

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_SIZE = 1 << 20


class Compressor(Protocol):
    """Accepts uncompressed bytes; `close` finishes the stream but leaves `out` open."""

    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def close(self) -> None: ...


class _PlainCompressor:
    def __init__(self, out: Writable):
        self._out = out

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._out.write(data)
        return len(data)

    def close(self) -> None:
        pass


class _GzipCompressor:
    def __init__(self, out: Writable, level: int):
        self._out = out
        # wbits 31: a gzip wrapper whose header has mtime 0 and no name
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, 31)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = self._zlib.compress(data)
        if chunk:
            self._out.write(chunk)
        return len(data)

    def close(self) -> None:
        self._out.write(self._zlib.flush())


class _ZstdCompressor:
    def __init__(self, out: Writable, level: int):
        # one thread: as fast as the multi-threaded mode for layer-sized inputs here, with
        # bounded memory (worker job buffers grew to ~290 MB under load) and stable bytes
        params = zstandard.ZstdCompressor(level=level, threads=0, write_checksum=True)
        # zstandard writes to anything with write(); its stubs ask for a file
        self._writer = params.stream_writer(out, closefd=False,  # type: ignore[arg-type]
                                            write_return_read=True)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._writer.write(data)

    def close(self) -> None:
        self._writer.close()


def compressor(kind: str, out: Writable, *, level: int | None = None) -> Compressor:
    """A writer that compresses into `out` with `kind` ("zstd", "gzip" or "none")."""
    check_compression(kind)
    if kind == "zstd":
        return _ZstdCompressor(out, ZSTD_LEVEL if level is None else level)
    if kind == "gzip":
        return _GzipCompressor(out, GZIP_LEVEL if level is None else level)
    return _PlainCompressor(out)


# ---------------------------------------------------------------- reading


class _Reader:
    """Base for the readers below: `read` built on `readinto`."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(_READ_SIZE):
                chunks.append(chunk)
            return b"".join(chunks)
        buf = bytearray(size)
        n = self.readinto(buf)
        del buf[n:]
        return bytes(buf)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PeekedReader(_Reader):
    """Serves a few already-read bytes, then the rest of the stream."""

    def __init__(self, head: bytes, stream: Readable):
        self._head = memoryview(head)
        self._stream = stream

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer)
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            return readinto(view) or 0
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _GzipReader(_Reader):
    """Streams gzip members (several may be concatenated) with bounded output per call."""

    def __init__(self, source: _Reader):
        self._source = source
        self._zlib = zlib.decompressobj(31)
        self._input = b""
        self._eof = False

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer)
        if not len(view):
            return 0
        try:
            while not self._eof:
                if not self._input:
                    self._input = self._source.read(_READ_SIZE)
                    if not self._input and not self._zlib.eof:
                        raise LayerError("truncated gzip layer: stream ends inside a member")
                if self._zlib.eof:
                    if not self._next_member():
                        break
                    continue
                data = self._zlib.decompress(self._input, len(view))
                # at a member's end, everything after it is in unused_data
                self._input = (self._zlib.unused_data if self._zlib.eof
                               else self._zlib.unconsumed_tail)
                if data:
                    view[: len(data)] = data
                    return len(data)
        except zlib.error as exc:
            raise LayerError(f"corrupt gzip layer: {exc}") from None
        return 0

    def _next_member(self) -> bool:
        """After a member ends: start the next one, or report the end of the stream."""
        while len(self._input) < 2:
            more = self._source.read(_READ_SIZE)
            if not more:
                break
            self._input += more
        if self._input.startswith(GZIP_MAGIC):
            self._zlib = zlib.decompressobj(31)
            return True
        # zero padding after the last member is tolerated (some tools add it)
        while self._input:
            if any(self._input):
                raise LayerError("corrupt gzip layer: trailing data after the last member")
            self._input = self._source.read(_READ_SIZE)
        self._eof = True
        return False

    def close(self) -> None:
        self._source.close()


class _ZstdFrameTracker:
    """Follows zstd frame boundaries in the compressed bytes, block headers only.

    The decompressor itself reports a stream that stops inside a frame as a
    clean end, so this tells a complete stream from a truncated one.
    """

    _FCS_SIZES = (0, 2, 4, 8)
    _DICT_ID_SIZES = (0, 1, 2, 4)

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._field = bytearray()
        self._skip = 0
        self._checksum = False
        self._last_block = False

    @property
    def complete(self) -> bool:
        return self._state == "magic" and not self._field and not self._skip

    def feed(self, data: bytes) -> None:
        pos, size = 0, len(data)
        while pos < size:
            if self._skip:
                step = min(self._skip, size - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._need - len(self._field), size - pos)
            self._field += data[pos:pos + take]
            pos += take
            if len(self._field) == self._need:
                field = bytes(self._field)
                self._field.clear()
                self._advance(field)

    def _advance(self, field: bytes) -> None:
        state = self._state
        if state == "magic":
            if field == ZSTD_MAGIC:
                self._state, self._need = "descriptor", 1
            elif field[1:] == b"\x2a\x4d\x18" and field[0] & 0xF0 == 0x50:
                self._state, self._need = "skippable", 4
            else:
                raise LayerError("corrupt zstd layer: bad frame magic")
        elif state == "skippable":
            self._skip = int.from_bytes(field, "little")
            self._state, self._need = "magic", 4
        elif state == "descriptor":
            descriptor = field[0]
            single_segment = descriptor >> 5 & 1
            self._checksum = bool(descriptor >> 2 & 1)
            fcs = self._FCS_SIZES[descriptor >> 6] or single_segment
            rest = (1 - single_segment) + self._DICT_ID_SIZES[descriptor & 3] + fcs
            if rest:
                self._state, self._need = "header", rest
            else:
                self._state, self._need = "block", 3
        elif state == "header":
            self._state, self._need = "block", 3
        elif state == "block":
            header = int.from_bytes(field, "little")
            block_type = header >> 1 & 3
            if block_type == 3:
                raise LayerError("corrupt zstd layer: reserved block type")
            self._skip = 1 if block_type == 1 else header >> 3
            if header & 1:  # last block of the frame
                if self._checksum:
                    self._state, self._need = "checksum", 4
                else:
                    self._state, self._need = "magic", 4
        else:  # checksum
            self._state, self._need = "magic", 4


class _TrackedSource:
    """The compressed side of a zstd layer, checked for truncation at EOF."""

    def __init__(self, source: _Reader):
        self._source = source
        self._tracker = _ZstdFrameTracker()

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._tracker.feed(data)
        elif not self._tracker.complete:
            raise LayerError("truncated zstd layer: stream ends inside a frame")
        return data


class _ZstdReader(_Reader):
    """Streams zstd frames with output bounded by each read."""

    def __init__(self, source: _Reader):
        self._source = source
        self._zstd = zstandard.ZstdDecompressor().stream_reader(
            _TrackedSource(source),  # type: ignore[arg-type]  # anything with read() will do
            read_size=128 * 1024, read_across_frames=True,
            closefd=False)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        try:
            return self._zstd.readinto(buffer)
        except zstandard.ZstdError as exc:
            raise LayerError(f"corrupt zstd layer: {exc}") from None

    def close(self) -> None:
        self._source.close()


def sniff_compression(head: bytes) -> str:
    """The compression a stream starting with `head` uses, by its magic bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC) or (head[1:4] == b"\x2a\x4d\x18" and head[:1] >= b"\x50"
                                       and head[:1] <= b"\x5f"):
        return "zstd"  # a zstd frame, or a skippable frame before one
    return "none"


def decompressing_reader(stream: Readable, media_type: str | None = None) -> _Reader:
    """A reader of the uncompressed tar inside a layer blob.

    The magic bytes decide, not the label: `media_type` is only checked to be a
    layer type at all. Closing the reader closes `stream`.
    """
    if media_type is not None:
        compression_of(media_type)
    head = b""
    while len(head) < 4:
        more = stream.read(4 - len(head))
        if not more:
            break
        head += more
    source = PeekedReader(head, stream)
    kind = sniff_compression(head)
    if kind == "gzip":
        return _GzipReader(source)
    if kind == "zstd":
        return _ZstdReader(source)
    return source
