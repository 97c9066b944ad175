"""The shapes of the streams layer code reads and writes, as protocols.

A layer blob reaches the tar reader through a file, a verifying or hashing
reader, a decompressor or a tee; each is typed by what it is asked to do, not
by being a file.
"""

from __future__ import annotations

from typing import Protocol


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class ReadsInto(Protocol):
    def readinto(self, buffer: bytearray | memoryview, /) -> int: ...


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


class Source(Protocol):
    """A plain tar stream as readers hand it on: read, readinto and close."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: bytearray | memoryview, /) -> int: ...

    def close(self) -> None: ...
