"""Tar headers written and read by hand, so layers are byte-stable and parsing is strict.

Writing: a POSIX ustar header per entry, preceded by a PAX extended header only
when something does not fit (long or non-ASCII names, big sizes or ids, xattrs).
Owner names stay empty and no atime/ctime is recorded, so the same tree always
gives the same bytes.

Reading: ustar, PAX (local and global), GNU long names and old v7 headers. Every
malformed or truncated archive raises `LayerError` instead of ending quietly.
"""

from __future__ import annotations

import base64
import binascii
import math
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal

from minidock.errors import LayerError
from minidock.layer.entry import Entry, EntryKind
from minidock.layer.streams import ReadsInto

BLOCK_SIZE = 512
END_OF_ARCHIVE = bytes(2 * BLOCK_SIZE)
_PAX_NAME = b"././@PaxHeader"
# a PAX, GNU long-name or global header larger than this is an attack, not metadata
_MAX_META_SIZE = 16 << 20
_XATTR_PREFIX = "SCHILY.xattr."
_LIBARCHIVE_XATTR_PREFIX = "LIBARCHIVE.xattr."


def padding(size: int) -> int:
    """Zero bytes that follow `size` bytes of member data."""
    return -size % BLOCK_SIZE


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _octal(value: int, width: int) -> bytes:
    """A NUL-terminated octal field, or GNU base-256 when the value does not fit."""
    digits = width - 1
    if 0 <= value < 8**digits:
        return b"%0*o\0" % (digits, value)
    if 0 <= value < 256 ** (width - 1):
        return b"\x80" + value.to_bytes(width - 1, "big")
    raise LayerError(f"tar header value {value} does not fit in {width} bytes")


def pax_record(key: str, value: bytes) -> bytes:
    """One `LEN key=value\\n` record; LEN counts its own digits."""
    body = _encode(key) + b"=" + value + b"\n"
    length = len(body) + 2
    while True:
        actual = len(str(length)) + 1 + len(body)
        if actual == length:
            return b"%d " % length + body
        length = actual


def _ustar_header(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
                  typeflag: bytes, linkname: bytes = b"", devmajor: int = 0,
                  devminor: int = 0) -> bytes:
    header = bytearray(b"".join((
        name[:100].ljust(100, b"\0"),
        _octal(mode, 8),
        _octal(uid, 8),
        _octal(gid, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b" " * 8,  # checksum placeholder, counted as spaces
        typeflag,
        linkname[:100].ljust(100, b"\0"),
        b"ustar\x0000",
        bytes(64),  # uname, gname: numeric owners only
        _octal(devmajor, 8),
        _octal(devminor, 8),
        bytes(167),  # prefix (unused: long names go to PAX) and padding
    )))
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def encode_header(entry: Entry) -> bytes:
    """The header block(s) for `entry`, including a PAX header when needed."""
    name = _encode(entry.path)
    if entry.kind is EntryKind.DIR and not name.endswith(b"/"):
        name += b"/"
    link = _encode(entry.linkname)
    size = entry.size if entry.kind is EntryKind.FILE else 0
    uid, gid, mtime = entry.uid, entry.gid, entry.mtime

    records: list[bytes] = []
    if len(name) > 100 or not name.isascii():
        records.append(pax_record("path", name))
    if len(link) > 100 or not link.isascii():
        records.append(pax_record("linkpath", link))
    if size >= 8**11:
        records.append(pax_record("size", b"%d" % size))
        size = 0
    if not 0 <= uid < 8**7:
        records.append(pax_record("uid", b"%d" % uid))
        uid = 0
    if not 0 <= gid < 8**7:
        records.append(pax_record("gid", b"%d" % gid))
        gid = 0
    if not 0 <= mtime < 8**11:
        records.append(pax_record("mtime", b"%d" % mtime))
        mtime = 0
    for key in sorted(entry.xattrs):
        records.append(pax_record(_XATTR_PREFIX + key, entry.xattrs[key]))

    main = _ustar_header(name, entry.mode & 0o7777, uid, gid, size, mtime,
                         entry.kind.value.encode(), link, entry.devmajor, entry.devminor)
    if not records:
        return main
    body = b"".join(records)
    pax = _ustar_header(_PAX_NAME, 0o644, 0, 0, len(body), 0, b"x")
    return pax + body + bytes(padding(len(body))) + main


# ---------------------------------------------------------------- reading

_KINDS = {
    b"0": EntryKind.FILE, b"\0": EntryKind.FILE, b"7": EntryKind.FILE,
    b"1": EntryKind.HARDLINK, b"2": EntryKind.SYMLINK, b"3": EntryKind.CHAR,
    b"4": EntryKind.BLOCK, b"5": EntryKind.DIR, b"6": EntryKind.FIFO,
}


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError(f"malformed tar header: bad {what} field {field!r}") from None


def _cstring(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def parse_pax(data: bytes) -> dict[str, bytes]:
    """PAX records as raw byte values (xattr values are binary)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # some writers pad the record block with NULs
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1:end] != b"\n":
            raise LayerError("malformed PAX header record")
        key, sep, value = data[space + 1:end - 1].partition(b"=")
        if not sep:
            raise LayerError("malformed PAX header record")
        records[_decode(key)] = value
        pos = end
    return records


def _pax_int(value: bytes, what: str) -> int:
    try:
        text = value.decode("ascii")
        if "." in text:  # fractional seconds: layers are second-resolution
            return math.floor(Decimal(text))
        return int(text)
    except (UnicodeDecodeError, ValueError, ArithmeticError):
        raise LayerError(f"malformed PAX {what} value {value!r}") from None


class TarReader:
    """Iterates the members of a tar stream without buffering their content.

    Read a member's content with `readinto` before advancing; whatever is left
    unread is skipped when iteration continues.
    """

    def __init__(self, stream: ReadsInto):
        self._stream = stream
        self._remaining = 0  # content bytes of the current member not yet read
        self._pad = 0
        self._global: dict[str, bytes] = {}
        self._scratch = bytearray(64 * 1024)
        self.offset = 0

    def _fill(self, view: memoryview) -> int:
        """Read until `view` is full or the stream ends; returns bytes read."""
        got = 0
        while got < len(view):
            n = self._stream.readinto(view[got:])
            if not n:
                break
            got += n
        self.offset += got
        return got

    def _read_exact(self, size: int, what: str) -> bytes:
        buf = bytearray(size)
        if self._fill(memoryview(buf)) != size:
            raise LayerError(f"truncated layer tar: unexpected end of data in {what}")
        return bytes(buf)

    def _skip(self, size: int) -> None:
        view = memoryview(self._scratch)
        while size:
            n = self._fill(view[: min(size, len(view))])
            if not n:
                raise LayerError("truncated layer tar: unexpected end of data")
            size -= n

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read the current member's content; 0 once it is all read."""
        if not self._remaining:
            return 0
        view = memoryview(buffer)
        want = min(len(view), self._remaining)
        n = self._fill(view[:want])
        if n == 0:
            raise LayerError("truncated layer tar: file content ends early")
        self._remaining -= n
        return n

    def _finish_member(self) -> None:
        self._skip(self._remaining + self._pad)
        self._remaining = self._pad = 0

    def _meta_data(self, size: int, what: str) -> bytes:
        if size > _MAX_META_SIZE:
            raise LayerError(f"{what} of {size} bytes is too large")
        data = self._read_exact(size, what)
        self._skip(padding(size))
        return data

    def __iter__(self) -> Iterator[Entry]:
        while True:
            self._finish_member()
            entry = self._next()
            if entry is None:
                return
            yield entry

    def _next(self) -> Entry | None:
        local: dict[str, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        while True:
            block = bytearray(BLOCK_SIZE)
            got = self._fill(memoryview(block))
            if got == 0:
                if local or long_name is not None or long_link is not None:
                    raise LayerError("truncated layer tar: extended header without its entry")
                return None  # end blocks are optional for a stream that just stops
            if got != BLOCK_SIZE:
                raise LayerError("truncated layer tar: partial header block")
            if not any(block):
                return None
            header = bytes(block)
            stored = _number(header[148:156], "checksum")
            unsigned = sum(header[:148]) + 256 + sum(header[156:])
            signed = unsigned - 2 * sum(b for b in header[:148] + header[156:] if b > 127)
            if stored not in (unsigned, signed):
                raise LayerError(f"malformed layer tar: bad header checksum at offset "
                                 f"{self.offset - BLOCK_SIZE}")
            typeflag = header[156:157]
            size = _number(header[124:136], "size")
            if size < 0:
                raise LayerError("malformed layer tar: negative size")
            if typeflag == b"x":
                local.update(parse_pax(self._meta_data(size, "PAX header")))
                continue
            if typeflag == b"g":
                self._global.update(parse_pax(self._meta_data(size, "PAX global header")))
                continue
            if typeflag == b"L":
                long_name = _cstring(self._meta_data(size, "GNU long name"))
                continue
            if typeflag == b"K":
                long_link = _cstring(self._meta_data(size, "GNU long link"))
                continue
            return self._entry(header, typeflag, size, {**self._global, **local},
                               long_name, long_link)

    def _entry(self, header: bytes, typeflag: bytes, size: int, pax: dict[str, bytes],
               long_name: bytes | None, long_link: bytes | None) -> Entry:
        name = _cstring(header[0:100])
        if header[257:263] == b"ustar\0":
            prefix = _cstring(header[345:500])
            if prefix:
                name = prefix + b"/" + name
        if long_name is not None:
            name = long_name
        link = long_link if long_link is not None else _cstring(header[157:257])
        name = pax.get("path", name)
        link = pax.get("linkpath", link)
        if b"\0" in name or b"\0" in link:
            raise LayerError(f"malformed layer tar: NUL byte in name {_decode(name)!r}")
        if any(key.startswith("GNU.sparse.") for key in pax) or typeflag == b"S":
            raise LayerError(f"sparse tar member {_decode(name)!r} is not supported")
        kind = _KINDS.get(typeflag)
        if kind is None:
            raise LayerError(f"unsupported tar entry type {typeflag!r} for {_decode(name)!r}")
        if kind is EntryKind.FILE and name.endswith(b"/") and typeflag != b"7":
            kind = EntryKind.DIR  # pre-POSIX tars mark directories by the trailing slash
        if "size" in pax:
            size = _pax_int(pax["size"], "size")
        xattrs: dict[str, bytes] = {}
        for key, value in pax.items():
            if key.startswith(_XATTR_PREFIX):
                xattrs[key[len(_XATTR_PREFIX):]] = value
            elif key.startswith(_LIBARCHIVE_XATTR_PREFIX):
                attr = urllib.parse.unquote(key[len(_LIBARCHIVE_XATTR_PREFIX):],
                                            errors="surrogateescape")
                try:
                    xattrs[attr] = base64.b64decode(value)
                except binascii.Error:
                    raise LayerError(f"malformed xattr {attr!r} in layer tar") from None
        entry = Entry(
            path=_decode(name),
            kind=kind,
            mode=_number(header[100:108], "mode") & 0o7777,
            uid=_pax_int(pax["uid"], "uid") if "uid" in pax else _number(header[108:116], "uid"),
            gid=_pax_int(pax["gid"], "gid") if "gid" in pax else _number(header[116:124], "gid"),
            mtime=(_pax_int(pax["mtime"], "mtime") if "mtime" in pax
                   else _number(header[136:148], "mtime")),
            size=size if kind is EntryKind.FILE else 0,
            linkname=_decode(link),
            devmajor=_number(header[329:337], "devmajor"),
            devminor=_number(header[337:345], "devminor"),
            xattrs=xattrs,
        )
        if size < 0:
            raise LayerError("malformed layer tar: negative size")
        self._remaining = entry.size
        self._pad = padding(entry.size)
        return entry
