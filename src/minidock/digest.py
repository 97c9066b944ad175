"""Validated digests and readers that refuse content which does not match."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO

from minidock.errors import DigestError

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True, order=True)
class Digest:
    """A `sha256:<64 hex>` content digest."""

    value: str

    def __post_init__(self) -> None:
        if not _DIGEST_RE.match(self.value):
            raise DigestError(f"invalid digest: {self.value!r}")

    @property
    def algorithm(self) -> str:
        return "sha256"

    @property
    def hex(self) -> str:
        return self.value[7:]

    @property
    def short(self) -> str:
        """The 12 hex digits Docker shows as an ID."""
        return self.hex[:12]

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        return cls("sha256:" + hashlib.sha256(data).hexdigest())

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Accept `sha256:<hex>` or a bare 64-hex string."""
        if len(text) == 64 and re.fullmatch(r"[a-f0-9]{64}", text):
            text = "sha256:" + text
        return cls(text)


def is_digest(text: str) -> bool:
    return bool(_DIGEST_RE.match(text))


class VerifyingReader:
    """Wraps a stream; raises DigestError at EOF if digest or size differ.

    Reading past the expected size is also an error, so a blob that is too long
    is caught even if the caller stops reading at the declared size.
    """

    def __init__(self, stream: BinaryIO, digest: Digest, size: int | None, name: str = ""):
        self._stream = stream
        self._digest = digest
        self._size = size
        self._hash = hashlib.sha256()
        self._read = 0
        self._done = False
        self._name = name or str(digest)

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._hash.update(data)
            self._read += len(data)
            if self._size is not None and self._read > self._size:
                raise DigestError(f"blob {self._name}: size mismatch: more than {self._size} bytes")
        if not data or n is None or n < 0:
            self._finish()
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._size is not None and self._read != self._size:
            raise DigestError(
                f"blob {self._name}: size mismatch: expected {self._size} bytes, got {self._read}"
            )
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self._digest.value:
            raise DigestError(f"blob {self._name}: digest mismatch: content hashes to {actual}")

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
