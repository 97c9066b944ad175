"""Content-addressed blobs in `blobs/sha256/<hex>`.

A blob is written to a temp file inside the store (hashed while writing), then
fsynced and renamed into place, so a blob path either does not exist or holds
exactly the content its name promises. Every read is checked against digest and
size. Temp files are flocked by their writer; a temp file whose lock can be
taken belongs to a dead writer and is removed by `clean_temp`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from minidock.digest import Digest, VerifyingReader
from minidock.errors import DigestError, NotFoundError
from minidock.fsutil import create_locked_temp, fsync_dir, remove_tree
from minidock.layer.streams import Readable

CHUNK = 1 << 20


class BlobWriter:
    """Streams bytes into a temp file and commits them under their digest.

    Use as a context manager: leaving it with an exception (or without
    `commit`) removes the temp file. `expected` makes commit refuse content that
    does not hash to it.
    """

    def __init__(self, blobs: BlobStore, expected: Digest | None = None,
                 expected_size: int | None = None):
        self._blobs = blobs
        self._expected = expected
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self.size = 0
        self._fd, path = create_locked_temp(blobs.tmp_dir, "blob")
        self.path = Path(path)
        self._file: BinaryIO = os.fdopen(self._fd, "wb", buffering=CHUNK)
        self.digest: Digest | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self._expected_size is not None and self.size > self._expected_size:
            raise DigestError(
                f"blob {self._expected or ''}: size mismatch: more than "
                f"{self._expected_size} bytes".replace("blob : ", "blob: "))
        return self._file.write(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._file.flush()

    def commit(self) -> Digest:
        """fsync, verify, and rename into place; returns the digest."""
        digest = Digest("sha256:" + self._hash.hexdigest())
        name = str(self._expected or digest)
        if self._expected_size is not None and self.size != self._expected_size:
            raise DigestError(f"blob {name}: size mismatch: expected {self._expected_size} "
                              f"bytes, got {self.size}")
        if self._expected is not None and digest != self._expected:
            raise DigestError(f"blob {name}: digest mismatch: content hashes to {digest}")
        self._file.flush()
        os.fsync(self._fd)
        final = self._blobs.path(digest)
        os.rename(self.path, final)
        fsync_dir(final.parent)
        self._file.close()
        self.digest = digest
        return digest

    def abort(self) -> None:
        if self.digest is None:
            try:
                self._file.close()
            finally:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class HashingReader:
    """Passes a stream through while hashing it: an uncompressed layer's bytes are
    checked against its diff_id this way."""

    def __init__(self, stream: Readable):
        self._stream = stream
        self._hash = hashlib.sha256()

    def readinto(self, buffer: bytearray | memoryview) -> int:
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            n: int = readinto(buffer) or 0
            self._hash.update(memoryview(buffer)[:n])
            return n
        data = self._stream.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        self._hash.update(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        return data

    def drain(self) -> None:
        """Read to the end, so the digest covers the whole stream."""
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())


class BlobStore:
    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "blobs" / "sha256"
        self.tmp_dir = root / "tmp"

    def path(self, digest: Digest) -> Path:
        return self.dir / digest.hex

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).exists()

    def size(self, digest: Digest) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} not found in the store") from None

    def open(self, digest: Digest, size: int | None = None) -> VerifyingReader:
        """A reader that raises DigestError at EOF unless content matches."""
        try:
            f = open(self.path(digest), "rb", buffering=CHUNK)  # noqa: SIM115
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} not found in the store") from None
        return VerifyingReader(f, digest, size)

    def read(self, digest: Digest, size: int | None = None) -> bytes:
        with self.open(digest, size) as r:
            return r.read()

    def verify(self, digest: Digest, size: int | None = None) -> None:
        with self.open(digest, size) as r:
            while r.read(CHUNK):
                pass

    def writer(self, expected: Digest | None = None,
               expected_size: int | None = None) -> BlobWriter:
        return BlobWriter(self, expected, expected_size)

    def put(self, data: bytes, expected: Digest | None = None) -> Digest:
        digest = Digest.of_bytes(data)
        if expected is not None and digest != expected:
            raise DigestError(f"blob {expected}: digest mismatch: content hashes to {digest}")
        if self.exists(digest):
            return digest
        with self.writer() as w:
            w.write(data)
            return w.commit()

    def copy_in(self, stream: BinaryIO, expected: Digest | None = None,
                expected_size: int | None = None) -> tuple[Digest, int]:
        """Stream into the store, verifying against `expected` when given.

        Committing over an existing blob is harmless (same bytes) and repairs
        a copy that was corrupted on disk.
        """
        with self.writer(expected, expected_size) as w:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                w.write(chunk)
            return w.commit(), w.size

    def all(self) -> list[Digest]:
        if not self.dir.is_dir():
            return []
        out = []
        for name in os.listdir(self.dir):
            if len(name) == 64:
                try:
                    out.append(Digest("sha256:" + name))
                except DigestError:
                    continue
        return out

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def temp_dir(self, prefix: str) -> TempDir:
        """A scratch directory in the store that `clean_temp` removes once its owner died."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return TempDir(self.tmp_dir, prefix)

    def clean_temp(self) -> int:
        """Remove temp files and dirs of writers that died (their flock is free)."""
        removed = 0
        if not self.tmp_dir.is_dir():
            return 0
        for entry in os.scandir(self.tmp_dir):
            if entry.name.endswith(TempDir.SUFFIX) and entry.is_dir(follow_symlinks=False):
                lock = entry.path[: -len(TempDir.SUFFIX)]
                # its lock was cleaned (maybe just now, above): nobody owns it
                if not os.path.lexists(lock) and remove_tree(entry.path):
                    removed += 1
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                os.unlink(entry.path)
                removed += 1
                if os.path.isdir(entry.path + TempDir.SUFFIX):
                    remove_tree(entry.path + TempDir.SUFFIX)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)
        return removed


class TempDir:
    """A directory in the store's tmp/ owned by this process through a flocked file.

    The lock file `NAME` sits beside the directory `NAME.d`; a cleaner that can
    take the lock knows the owner died and removes both.
    """

    SUFFIX = ".d"

    def __init__(self, tmp_dir: Path, prefix: str):
        self._fd, lock_path = create_locked_temp(tmp_dir, prefix)
        self.lock_path = Path(lock_path)
        self.path = Path(lock_path + self.SUFFIX)
        self.path.mkdir()

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            remove_tree(self.path)
            os.unlink(self.lock_path)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.close()
