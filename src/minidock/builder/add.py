"""What ADD does beyond COPY: expand local tar archives and fetch http(s) URLs.

A local source that is a tar archive (plain, gzip, bzip2, xz or zstd, told by
its content, not its name) is unpacked into the destination directory with the
archive's own owners and modes. Member paths are cleaned so none can climb out
of the destination; content is staged in private temp files because layer
entries stream from files. Anything that is not a tar is copied as it is.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import posixpath
from pathlib import Path

import zstandard

from minidock.builder.copyplan import CopyOptions, InlineFile
from minidock.builder.sources import SourceMatch, SourceTree
from minidock.digest import Digest
from minidock.errors import BuildError, DigestError, LayerError
from minidock.layer.entry import Entry, EntryKind, clean_path
from minidock.layer.streams import ReadsInto
from minidock.layer.tarstream import BLOCK_SIZE, TarReader

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
DOWNLOAD_TIMEOUT = 60.0


def is_url(source: str) -> bool:
    """Whether an ADD source is fetched over http(s) rather than read from the context."""
    return source.startswith(("http://", "https://"))


def _open_decompressed(f: io.BufferedReader) -> io.BufferedIOBase:
    head = f.read(8)
    f.seek(0)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            if kind == "gzip":
                return gzip.GzipFile(fileobj=f)
            if kind == "bzip2":
                return bz2.BZ2File(f)
            if kind == "xz":
                return lzma.LZMAFile(f)
            # a raw stream (readinto, read): buffered for the tar reader's small reads
            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(
                f, read_across_frames=True))
    return f


def _looks_like_tar(header: bytes) -> bool:
    """A 512-byte block whose checksum field matches (how tar readers recognise tars)."""
    if len(header) < BLOCK_SIZE or not any(header):
        return False
    field = header[148:156].split(b"\0", 1)[0].strip()
    try:
        stored = int(field or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(header[:148]) + 256 + sum(header[156:512])
    signed = unsigned - 2 * sum(b for b in header[:148] + header[156:512] if b > 127)
    return stored in (unsigned, signed)


def is_archive(path: Path) -> bool:
    """Whether ADD should unpack this file (a tar, maybe compressed)."""
    try:
        with open(path, "rb") as f, _open_decompressed(f) as stream:
            head = stream.read(BLOCK_SIZE)
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError):
        return False
    return _looks_like_tar(head)


class ArchiveExpander:
    """The copyplan Expander for ADD: unpacks archives, declines other files."""

    def __init__(self, scratch: Path, instruction: str = "ADD"):
        self.scratch = scratch
        self.instruction = instruction
        self._count = 0

    def __call__(self, tree: SourceTree, match: SourceMatch, root: str,
                 opts: CopyOptions) -> list[Entry] | None:
        host = tree.host_path(match.rel)
        if not is_archive(host):
            return None
        try:
            with open(host, "rb") as f, _open_decompressed(f) as stream:
                return self._unpack(stream, root, opts, match.name)
        except (LayerError, OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as exc:
            raise BuildError(f"{self.instruction} failed: cannot unpack {match.name}: "
                             f"{exc}") from None

    def _unpack(self, stream: ReadsInto, root: str, opts: CopyOptions,
                name: str) -> list[Entry]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        out: list[Entry] = []
        reader = TarReader(stream)
        for member in reader:
            inner = clean_path(member.path)
            if not inner:
                continue
            base = posixpath.basename(inner)
            if base.startswith(".wh."):
                continue  # whiteouts mean nothing outside a layer
            path = f"{root}/{inner}" if root else inner
            entry = Entry(path, member.kind, member.mode & 0o7777, member.uid, member.gid,
                          member.mtime, xattrs=dict(member.xattrs))
            if opts.owner is not None:
                entry.uid, entry.gid = opts.owner
            if member.kind is EntryKind.FILE:
                self._count += 1
                staged = self.scratch / f"member-{self._count}"
                size = 0
                buf = bytearray(1 << 20)
                with open(staged, "wb") as dst:
                    while n := reader.readinto(buf):
                        dst.write(memoryview(buf)[:n])
                        size += n
                entry.size = size
                entry.source = str(staged)
            elif member.kind is EntryKind.HARDLINK:
                target = clean_path(member.linkname)
                if not target:
                    raise BuildError(f"{self.instruction} failed: bad hardlink in {name}: "
                                     f"{member.path}")
                entry.linkname = f"{root}/{target}" if root else target
            elif member.kind is EntryKind.SYMLINK:
                entry.linkname = member.linkname
                entry.mode = 0o777
            elif member.kind in (EntryKind.CHAR, EntryKind.BLOCK):
                entry.devmajor, entry.devminor = member.devmajor, member.devminor
            out.append(entry)
        return out


def fetch_url(url: str, scratch: Path, *, checksum: str | None = None,
              instruction: str = "ADD") -> InlineFile:
    """Download `url` into a private file; the entry is named after the URL path.

    Downloaded files get mode 0600 and the Last-Modified time, as in Docker.
    `checksum` (`sha256:<hex>`, ADD --checksum) must match the content.
    """
    import email.utils  # only ADD of a URL pays for the HTTP client
    import urllib.error
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlparse(url)
    name = posixpath.basename(urllib.parse.unquote(parsed.path))
    if not name:
        raise BuildError(f"{instruction} failed: cannot determine a filename from url: {url}")
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"download-{hashlib.sha256(url.encode()).hexdigest()[:16]}"
    h = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "minidock"})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as resp, \
                open(target, "wb") as out:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        raise BuildError(f"{instruction} failed: failed to GET {url} with status "
                         f"{exc.code}: {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BuildError(f"{instruction} failed: failed to GET {url}: {reason}") from None
    if checksum is not None:
        try:
            want = Digest.parse(checksum)
        except DigestError:
            raise BuildError(f"{instruction} failed: invalid --checksum {checksum!r}") from None
        if want.hex != h.hexdigest():
            raise BuildError(f"{instruction} failed: digest mismatch for {url}: expected "
                             f"{want}, got sha256:{h.hexdigest()}")
    mtime = None
    if modified:
        try:
            mtime = int(email.utils.parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            mtime = None
    return InlineFile(name, target, 0o600, mtime)
