"""What ADD does beyond COPY: expand local tar archives and fetch http(s) URLs.

A local source that is a tar archive (plain, gzip, bzip2, xz or zstd, told by
its content, not its name) is unpacked into the destination directory with the
archive's own owners and modes. Member paths are cleaned so none can climb out
of the destination, and their directories are resolved through the symlinks
the archive made earlier or the image has there, with the destination as the
root (Docker unpacks chrooted into it): `up -> ..` then `up/etc/f` writes
`etc/f`, and no layer entry's path crosses a symlink. Content is staged in
private temp files because layer entries stream from files. Anything that is
not a tar is copied as it is.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import posixpath
import stat
from pathlib import Path

import zstandard

from minidock.builder.copyplan import CopyOptions, InlineFile
from minidock.builder.imagefs import MAX_SYMLINK_HOPS, ImageFS
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


class _Unpacked:
    """Paths below an ADD destination, resolved with the destination as the root.

    What the archive put at a path so far wins over the image's file there.
    """

    def __init__(self, image: ImageFS | None, root: str, instruction: str):
        self.image = image
        self.root = root
        self.instruction = instruction
        self.kinds: dict[str, EntryKind] = {}
        self.links: dict[str, str] = {}

    def _link_target(self, rel: str) -> str | None:
        if rel in self.kinds:
            return self.links.get(rel)
        if self.image is None:
            return None
        hit = self.image.lstat(f"/{self.root}/{rel}" if self.root else f"/{rel}")
        if hit is None or not stat.S_ISLNK(hit[1].st_mode):
            return None
        return os.readlink(hit[0])

    def resolve(self, inner: str) -> str:
        """`inner` with its directories' symlinks followed (the last name is not)."""
        parts = inner.split("/")
        resolved: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            if not parts:
                resolved.append(name)
                break
            target = self._link_target("/".join([*resolved, name]))
            if target is None:
                resolved.append(name)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise BuildError(f"{self.instruction} failed: too many levels of symbolic "
                                 f"links: {inner}")
            if target.startswith("/"):
                resolved = []
            parts = target.split("/") + parts
        return "/".join(resolved)

    def record(self, rel: str, entry: Entry) -> None:
        if entry.kind is not EntryKind.DIR:
            below = rel + "/"
            for name in [n for n in self.kinds if n.startswith(below)]:
                del self.kinds[name]
                self.links.pop(name, None)
        self.kinds[rel] = entry.kind
        if entry.kind is EntryKind.SYMLINK:
            self.links[rel] = entry.linkname
        else:
            self.links.pop(rel, None)


class ArchiveExpander:
    """The copyplan Expander for ADD: unpacks archives, declines other files.

    `image` is the destination image, whose symlinks below the destination
    the archive's paths resolve through.
    """

    def __init__(self, scratch: Path, instruction: str = "ADD", *,
                 image: ImageFS | None = None):
        self.scratch = scratch
        self.instruction = instruction
        self.image = image
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
        unpacked = _Unpacked(self.image, root, self.instruction)
        reader = TarReader(stream)
        for member in reader:
            inner = clean_path(member.path)
            if not inner:
                continue
            base = posixpath.basename(inner)
            if base.startswith(".wh."):
                continue  # whiteouts mean nothing outside a layer
            inner = unpacked.resolve(inner)
            if not inner:
                continue  # the destination itself
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
                target = unpacked.resolve(clean_path(member.linkname))
                if not target:
                    raise BuildError(f"{self.instruction} failed: bad hardlink in {name}: "
                                     f"{member.path}")
                entry.linkname = f"{root}/{target}" if root else target
            elif member.kind is EntryKind.SYMLINK:
                entry.linkname = member.linkname
                entry.mode = 0o777
            elif member.kind in (EntryKind.CHAR, EntryKind.BLOCK):
                entry.devmajor, entry.devminor = member.devmajor, member.devminor
            unpacked.record(inner, entry)
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
