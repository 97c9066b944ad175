import io
import tarfile

import pytest
from layer_helpers import TarBuilder

from minidock.errors import LayerError
from minidock.layer.entry import Entry, EntryKind, clean_path, sort_key
from minidock.layer.tarstream import END_OF_ARCHIVE, TarReader, encode_header, pax_record


def _archive(*entries: Entry) -> bytes:
    out = bytearray()
    for entry in entries:
        out += encode_header(entry)
        if entry.kind is EntryKind.FILE and entry.size:
            out += entry.source  # type: ignore[operator]
            out += bytes(-entry.size % 512)
    return bytes(out + END_OF_ARCHIVE)


def _read_all(data: bytes) -> list[tuple[Entry, bytes]]:
    reader = TarReader(io.BytesIO(data))
    out = []
    for entry in reader:
        buf = bytearray(1 << 16)
        content = bytearray()
        while n := reader.readinto(buf):
            content += buf[:n]
        out.append((entry, bytes(content)))
    return out


def test_pax_record_length_counts_itself():
    for size in (1, 5, 90, 95, 996, 5000):
        record = pax_record("path", b"x" * size)
        length = int(record.split(b" ", 1)[0])
        assert length == len(record)


def test_clean_path_never_climbs_above_root():
    assert clean_path("../../etc/passwd") == "etc/passwd"
    assert clean_path("/abs/./x/../y/") == "abs/y"
    assert clean_path("./") == ""
    assert clean_path("//double") == "double"


def test_sort_key_puts_parents_before_children():
    paths = ["a-b", "a/b", "a", "a/b/c", "a.b", "B"]
    assert sorted(paths, key=sort_key) == ["B", "a", "a/b", "a/b/c", "a-b", "a.b"]


def test_round_trip_of_every_kind_and_long_fields():
    long_name = "d/" + "n" * 300
    entries = [
        Entry("d", EntryKind.DIR, 0o755, 1, 2, 100),
        Entry("d/f", EntryKind.FILE, 0o4755, 3, 4, 200, size=5, source=b"hello",
              xattrs={"security.capability": b"\x01\x00\x00\x02\x80\xff\x00",
                      "user.note": "é".encode()}),
        Entry(long_name, EntryKind.FILE, 0o600, 0, 0, 300, size=3, source=b"abc"),
        Entry("d/link", EntryKind.SYMLINK, 0o777, 0, 0, 400, linkname="/" + "t" * 200),
        Entry("d/hard", EntryKind.HARDLINK, 0o644, linkname="d/f"),
        Entry("d/tty", EntryKind.CHAR, 0o620, devmajor=4, devminor=1),
        Entry("d/sda", EntryKind.BLOCK, 0o660, devmajor=8, devminor=0),
        Entry("d/pipe", EntryKind.FIFO, 0o644),
        Entry("d/big-ids", EntryKind.DIR, 0o700, 100_000_000, 3_000_000_000, 2**40),
        Entry("d/caf\udcc3", EntryKind.FILE, 0o644, size=0, source=b""),
        Entry("d/old", EntryKind.FILE, 0o644, mtime=-86400, size=0, source=b""),
    ]
    read = _read_all(_archive(*entries))
    assert len(read) == len(entries)
    for original, (entry, content) in zip(entries, read, strict=True):
        expected_path = original.path + ("/" if original.kind is EntryKind.DIR else "")
        assert entry.path == expected_path
        for field in ("kind", "mode", "uid", "gid", "mtime", "linkname", "devmajor",
                      "devminor", "xattrs"):
            assert getattr(entry, field) == getattr(original, field), field
        assert content == (original.source or b"")


def test_our_tars_read_with_the_standard_library():
    data = _archive(
        Entry("dir", EntryKind.DIR, 0o755),
        Entry("dir/" + "x" * 150, EntryKind.FILE, 0o644, 7, 8, 1234, size=2, source=b"hi",
              xattrs={"user.k": b"v"}),
        Entry("dir/l", EntryKind.SYMLINK, 0o777, linkname="x" * 150),
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["dir", "dir/" + "x" * 150, "dir/l"]
        assert members[1].uid == 7 and members[1].mtime == 1234
        assert members[1].uname == "" and members[1].gname == ""
        assert members[1].pax_headers["SCHILY.xattr.user.k"] == "v"
        assert tar.extractfile(members[1]).read() == b"hi"
        assert members[2].linkname == "x" * 150


def test_headers_are_byte_stable():
    entry = Entry("a/b", EntryKind.FILE, 0o644, 1, 1, 5, size=0, source=b"")
    assert encode_header(entry) == encode_header(entry)
    assert len(encode_header(entry)) == 512


def test_huge_size_goes_to_pax():
    entry = Entry("big", EntryKind.FILE, 0o644, size=10 << 30, source="unused")
    reader = TarReader(io.BytesIO(encode_header(entry)))
    first = next(iter(reader))
    assert first.size == 10 << 30


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_reads_standard_library_formats(fmt):
    long_dir = "p" * 120
    name = long_dir + "/file.txt"  # fits ustar's prefix field; GNU uses a long-name member
    link_target = "s" if fmt == tarfile.USTAR_FORMAT else name  # GNU/PAX: a long link
    tar = (TarBuilder(fmt).dir(long_dir).file(name, b"content", uid=5, gid=6)
           .symlink("s", "target").hardlink("h", link_target).fifo("f"))
    if fmt != tarfile.USTAR_FORMAT:
        tar.file("q" * 200, b"long")
    read = _read_all(tar.bytes())
    by_path = {e.path.rstrip("/"): (e, c) for e, c in read}
    assert by_path[name][1] == b"content"
    assert (by_path[name][0].uid, by_path[name][0].gid) == (5, 6)
    assert by_path[long_dir][0].kind is EntryKind.DIR
    assert by_path["s"][0].linkname == "target"
    assert by_path["h"][0].kind is EntryKind.HARDLINK
    assert by_path["h"][0].linkname == link_target
    assert by_path["f"][0].kind is EntryKind.FIFO
    if fmt != tarfile.USTAR_FORMAT:
        assert by_path["q" * 200][1] == b"long"


def test_libarchive_xattrs_and_global_headers():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "global"}) as tar:
        info = tarfile.TarInfo("f")
        info.pax_headers = {"LIBARCHIVE.xattr.user.a%3Db": "aGVsbG8=", "mtime": "12.75"}
        tar.addfile(info, io.BytesIO(b""))
    (entry, _), = _read_all(buf.getvalue())
    assert entry.xattrs == {"user.a=b": b"hello"}
    assert entry.mtime == 12


def test_unread_content_is_skipped():
    data = TarBuilder().file("a", b"x" * 5000).file("b", b"y").bytes()
    assert [e.path for e in TarReader(io.BytesIO(data))] == ["a", "b"]


def test_missing_end_blocks_are_tolerated():
    data = TarBuilder().file("a", b"x").bytes()
    assert [e.path for e in TarReader(io.BytesIO(data[:1024]))] == ["a"]


def test_bad_checksum_is_an_error():
    data = bytearray(TarBuilder().file("a", b"x").bytes())
    data[0] ^= 1
    with pytest.raises(LayerError, match="checksum"):
        list(TarReader(io.BytesIO(bytes(data))))


@pytest.mark.parametrize("cut", [100, 512 + 100, 700])
def test_truncation_is_an_error(cut):
    data = TarBuilder().file("a", b"x" * 1000).bytes()
    reader = TarReader(io.BytesIO(data[:cut]))
    with pytest.raises(LayerError, match="truncated"):
        for _ in reader:
            buf = bytearray(4096)
            while reader.readinto(buf):
                pass


def test_unsupported_types_are_refused():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("weird")
        info.type = b"V"
        tar.addfile(info)
    with pytest.raises(LayerError, match="unsupported"):
        list(TarReader(io.BytesIO(buf.getvalue())))


def test_sparse_members_are_refused():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("sparse")
        info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(LayerError, match="sparse"):
        list(TarReader(io.BytesIO(buf.getvalue())))


def test_oversized_pax_header_is_refused():
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 64 << 20
    data = header.tobuf(tarfile.USTAR_FORMAT) + bytes(1024)
    with pytest.raises(LayerError, match="too large"):
        list(TarReader(io.BytesIO(data)))
