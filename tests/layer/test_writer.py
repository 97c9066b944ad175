import hashlib
import io
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from layer_helpers import CAPABILITY, layer_names, make_rich_tree, read_layer, snapshot

from minidock.errors import LayerError
from minidock.layer.compression import decompressing_reader
from minidock.layer.entry import Entry, EntryKind, sort_key
from minidock.layer.extract import extract
from minidock.layer.writer import LayerBuilder, LayerWriter, write_tree
from minidock.mediatypes import OCI_LAYER_GZIP

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def rich_tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    make_rich_tree(src)
    return src


def _write(src: Path, compression: str = "zstd", **kwargs) -> tuple[object, bytes]:
    sink = io.BytesIO()
    info = write_tree(src, sink, compression, **kwargs)
    return info, sink.getvalue()


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_round_trip_reproduces_the_tree(rich_tree, tmp_path, compression):
    info, blob = _write(rich_tree, compression)
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(io.BytesIO(blob), dest)
    assert snapshot(dest) == snapshot(rich_tree)
    assert info.media_type.endswith({"zstd": "+zstd", "gzip": "+gzip", "none": ".tar"}[compression])


def test_layer_info_digests_match_the_bytes(rich_tree):
    info, blob = _write(rich_tree, "zstd")
    assert info.digest.value == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert info.size == len(blob)
    tar = decompressing_reader(io.BytesIO(blob)).read()
    assert info.diff_id.value == "sha256:" + hashlib.sha256(tar).hexdigest()
    plain, plain_blob = _write(rich_tree, "none")
    assert plain.diff_id == plain.digest == info.diff_id
    assert plain_blob == tar


def test_same_tree_gives_same_digests(rich_tree):
    first, _ = _write(rich_tree)
    second, _ = _write(rich_tree)
    assert first == second


def test_source_date_epoch_clamps_mtimes(rich_tree, tmp_path):
    twin = tmp_path / "twin"  # same content, owners and links; newer mtimes
    twin.mkdir()
    make_rich_tree(twin)
    for dirpath, dirnames, filenames in os.walk(twin):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (1_900_000_000,) * 2, follow_symlinks=False)
    assert _write(rich_tree)[0] != _write(twin)[0]
    clamped, blob = _write(rich_tree, source_date_epoch=1_000_000)
    assert clamped == _write(twin, source_date_epoch=1_000_000)[0]
    assert {entry.mtime for entry, _ in read_layer(blob)} == {1_000_000}
    # an epoch later than every mtime changes nothing
    assert _write(rich_tree, source_date_epoch=2_000_000_000)[0] == _write(rich_tree)[0]


def test_entries_are_sorted_parents_first(rich_tree):
    _, blob = _write(rich_tree)
    names = [name.rstrip("/") for name in layer_names(blob)]
    assert names == sorted(names, key=sort_key)
    seen: set[str] = set()
    for name in names:
        parent = os.path.dirname(name)
        assert not parent or parent in seen
        seen.add(name)


def test_tar_has_numeric_owners_hardlinks_symlinks_and_no_overlay_xattrs(rich_tree):
    os.setxattr(rich_tree / "empty", "user.overlay.opaque", b"y")
    _, blob = _write(rich_tree, "none")
    entries = {e.path.rstrip("/"): e for e, _ in read_layer(blob)}
    assert entries["a/b/hl"].kind is EntryKind.FILE
    assert entries["a/f"].kind is EntryKind.HARDLINK
    assert entries["a/f"].linkname == "a/b/hl"
    assert entries["abs-link"].linkname == "/etc/passwd"
    assert entries["a/b/hl"].xattrs == {"user.origin": b"\x00binary\xff"}
    assert entries["empty"].xattrs == {}
    assert entries["fifo"].kind is EntryKind.FIFO
    assert entries["a/b/setuid"].mode == 0o4755
    # uname/gname fields are empty in every header
    for offset in range(0, len(blob) - 1024, 512):
        block = blob[offset:offset + 512]
        if block[257:263] == b"ustar\0":
            assert block[265:329] == bytes(64)


@pytest.mark.root
def test_devices_and_capabilities_are_kept(rich_tree):
    _, blob = _write(rich_tree, "none")
    entries = {e.path: e for e, _ in read_layer(blob)}
    assert (entries["null"].kind, entries["null"].devmajor, entries["null"].devminor) == (
        EntryKind.CHAR, 1, 3)
    assert entries["loop"].kind is EntryKind.BLOCK
    assert entries["a/b/setuid"].xattrs["security.capability"] == CAPABILITY
    assert (entries["big.bin"].uid, entries["big.bin"].gid) == (12345, 54321)


def test_prefix_chown_and_chmod(rich_tree):
    _, blob = _write(rich_tree, "none", prefix="/opt/app/", chown=(1000, 1000), chmod=0o700,
                     source_date_epoch=5)
    entries = {e.path.rstrip("/"): e for e, _ in read_layer(blob)}
    assert list(entries)[:3] == ["opt", "opt/app", "opt/app/a"]
    assert (entries["opt"].uid, entries["opt"].mode, entries["opt"].mtime) == (0, 0o755, 5)
    assert entries["opt/app"].kind is EntryKind.DIR
    for path, entry in entries.items():
        if path.startswith("opt/app"):
            assert (entry.uid, entry.gid) == (1000, 1000)
            if entry.kind is not EntryKind.SYMLINK:
                assert entry.mode == 0o700, path


def test_include_and_prune(rich_tree):
    _, blob = _write(rich_tree, "none", include=lambda rel: not rel.endswith(".bin"),
                     prune=lambda rel: rel == "a")
    names = {n.rstrip("/") for n in layer_names(blob)}
    assert "big.bin" not in names
    assert "a" in names and "a/f" not in names
    assert "zero" in names


def test_sockets_are_skipped(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    try:
        _, blob = _write(src)
    finally:
        sock.close()
    assert layer_names(blob) == ["file"]


def test_file_shrinking_while_written_is_an_error(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"short")
    with pytest.raises(LayerError, match="shrank"):
        with LayerWriter(io.BytesIO(), "none") as writer:
            writer.add(Entry("f", EntryKind.FILE, size=100, source=str(path)))


def test_progress_reports_tar_bytes(rich_tree):
    seen: list[int] = []
    info, blob = _write(rich_tree, "none", progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == len(blob)


def test_big_file_streams_with_bounded_memory(tmp_path):
    big = tmp_path / "tree" / "huge.img"
    big.parent.mkdir()
    with open(big, "wb") as f:  # 1 GiB, mostly holes, some data so it is not all zeros
        for offset in range(0, 1 << 30, 64 << 20):
            f.seek(offset)
            f.write(os.urandom(1 << 20))
        f.truncate(1 << 30)
    script = textwrap.dedent(f"""
        import os
        from minidock.layer.writer import write_tree
        with open(os.devnull, "wb") as sink:
            info = write_tree({str(big.parent)!r}, sink, "zstd")
        # VmHWM is this process image's own peak; ru_maxrss would carry over the
        # parent's peak across fork + exec (a large pytest process)
        hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
        print(info.size, hwm[0].split()[1])
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, env=env).stdout.split()
    compressed_size, peak_kib = int(out[0]), int(out[1])
    assert compressed_size > 16 << 20  # the random parts went through
    assert peak_kib < 150 * 1024


# ---------------------------------------------------------------- LayerBuilder


def _build(builder: LayerBuilder, compression: str = "none") -> bytes:
    sink = io.BytesIO()
    builder.write(sink, compression)
    return sink.getvalue()


def test_builder_sorts_and_adds_implicit_parents(tmp_path):
    host = tmp_path / "host.txt"
    host.write_bytes(b"from the context")
    builder = LayerBuilder(source_date_epoch=50)
    builder.add_bytes("/usr/local/bin/tool", b"#!", mode=0o755, mtime=100)
    builder.add_path("/app/data.txt", host, uid=1000, gid=1000, mode=0o600)
    builder.add_symlink("/app/current", "data.txt")
    builder.add_dir("/app", mode=0o750, uid=1000, gid=1000)
    entries = read_layer(_build(builder))
    assert [e.path.rstrip("/") for e, _ in entries] == [
        "app", "app/current", "app/data.txt", "usr", "usr/local", "usr/local/bin",
        "usr/local/bin/tool"]
    by_path = {e.path.rstrip("/"): (e, data) for e, data in entries}
    data_entry, data = by_path["app/data.txt"]
    assert (data_entry.uid, data_entry.gid, data_entry.mode, data) == (
        1000, 1000, 0o600, b"from the context")
    assert by_path["app"][0].mode == 0o750
    assert (by_path["usr/local"][0].mode, by_path["usr/local"][0].uid) == (0o755, 0)
    assert max(e.mtime for e, _ in entries) == 50  # clamped to the epoch
    assert by_path["usr"][0].mtime == 50  # implicit parents get the epoch


def test_builder_later_add_replaces_and_drops_children():
    builder = LayerBuilder()
    builder.add_dir("x")
    builder.add_bytes("x/child", b"1")
    builder.add_bytes("x", b"now a file")
    assert [e.path for e, _ in read_layer(_build(builder))] == ["x"]
    assert len(builder) == 1


def test_builder_explicit_hardlinks_follow_sort_order():
    builder = LayerBuilder()
    builder.add_bytes("z/target", b"payload", mode=0o640)
    builder.add_hardlink("a/link", "z/target")
    entries = {e.path: (e, data) for e, data in read_layer(_build(builder))}
    first, data = entries["a/link"]
    assert (first.kind, first.mode, data) == (EntryKind.FILE, 0o640, b"payload")
    assert entries["z/target"][0].kind is EntryKind.HARDLINK
    assert entries["z/target"][0].linkname == "a/link"


def test_builder_hardlink_to_missing_target_is_an_error():
    builder = LayerBuilder()
    builder.add_hardlink("a", "elsewhere")
    with pytest.raises(LayerError, match="not a non-directory"):
        _build(builder)


def test_builder_keeps_host_hardlinks(tmp_path):
    (tmp_path / "one").write_bytes(b"same inode")
    os.link(tmp_path / "one", tmp_path / "two")
    builder = LayerBuilder()
    builder.add_path("b", tmp_path / "two")
    builder.add_path("a", tmp_path / "one")
    builder.add_path("c", tmp_path / "one", mode=0o600)  # different metadata: its own copy
    entries = {e.path: e for e, _ in read_layer(_build(builder))}
    assert entries["a"].kind is EntryKind.FILE
    assert (entries["b"].kind, entries["b"].linkname) == (EntryKind.HARDLINK, "a")
    assert entries["c"].kind is EntryKind.FILE


def test_builder_whiteouts_and_opaque_marker_order():
    builder = LayerBuilder()
    builder.add_bytes("etc/-early", b"")
    builder.add_opaque("etc")
    builder.add_dir("etc")
    builder.add_whiteout("/var/cache")
    assert [e.path for e, _ in read_layer(_build(builder))] == [
        "etc/", "etc/.wh..wh..opq", "etc/-early", "var/", "var/.wh.cache"]


def test_builder_add_tree_and_devices(rich_tree):
    builder = LayerBuilder()
    builder.add_tree(rich_tree, "/srv", chown=(0, 0))
    builder.add_device("dev/console", EntryKind.CHAR, 5, 1)
    builder.add_fifo("run/pipe")
    names = [e.path.rstrip("/") for e, _ in read_layer(_build(builder, "gzip"))]
    assert "srv/a/b/hl" in names and "dev/console" in names and "run/pipe" in names
    assert names == sorted(names, key=sort_key)


def test_builder_media_type_and_add_entry(tmp_path):
    builder = LayerBuilder()
    builder.add(Entry("/x/../y", EntryKind.FILE, 0o644, size=2, source=b"ok"))
    sink = io.BytesIO()
    info = builder.write(sink, "gzip", media_type=OCI_LAYER_GZIP)
    assert info.media_type == OCI_LAYER_GZIP
    assert [e.path for e, _ in read_layer(sink.getvalue())] == ["y"]
    with pytest.raises(LayerError):
        builder.add_bytes("/", b"root is not a file")
