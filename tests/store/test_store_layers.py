"""What each layer of an image holds, read from its blobs: the layer table, a layer's
changes (whiteouts and opaque directories as what they are), the merged tree, and
dive's efficiency figures, for gzip, zstd and uncompressed layers alike."""

from __future__ import annotations

import pytest
from store_testkit import make_image

from minidock.errors import DigestError, UsageError
from minidock.store.layers import CIRules, ImageLayers, ci_failures
from minidock.store.store import Store

BASE = {"bin": None, "bin/ls": b"x" * 100, "etc": None, "etc/a": b"1", "etc/b": b"22"}
BIG = {"big": b"b" * 10_000}
CLEANUP = {".wh.big": b"", "bin/.wh.ls": b"", "etc/.wh..wh..opq": b"", "etc/c": b"3"}
HISTORY = [{"created_by": "ADD base /"}, {"created_by": "ENV A=1", "empty_layer": True},
           {"created_by": "RUN make big"}, {"created_by": "CMD sh", "empty_layer": True},
           {"created_by": "RUN clean up"}]


@pytest.fixture(params=["gzip", "zstd", "none"])
def stack(request: pytest.FixtureRequest, store: Store) -> ImageLayers:
    image = make_image(store, "layers:test", [BASE, BIG, CLEANUP], compression=request.param,
                       history=HISTORY)
    return ImageLayers(image)


def test_layer_table_maps_history_rows_past_empty_layers(stack: ImageLayers) -> None:
    rows = stack.infos()
    assert [(r.index, r.created_by, r.added, r.changed, r.removed) for r in rows] == [
        (0, "ADD base /", 5, 0, 0), (1, "RUN make big", 1, 0, 0), (2, "RUN clean up", 1, 1, 2)]
    assert [r.diff_id for r in rows] == stack.image.diff_ids
    assert [r.compressed_size for r in rows] == [d.size for d in stack.image.layers]
    assert rows[1].content_size == 10_000
    assert rows[1].uncompressed_size % 512 == 0 and rows[1].uncompressed_size > 10_000


def test_changes_show_whiteouts_and_opaque_directories(stack: ImageLayers) -> None:
    assert [(c.action, c.info.path) for c in stack.changes(1)] == [("A", "/big")]
    changes = stack.changes(2)
    assert [(c.action, c.info.path, c.marker, c.hidden) for c in changes] == [
        ("D", "/big", "whiteout", 0), ("D", "/bin/ls", "whiteout", 0),
        ("C", "/etc", "opaque", 2), ("A", "/etc/c", "", 0)]
    deleted = changes[0]
    assert (deleted.info.kind, deleted.info.size, deleted.freed) == ("file", 10_000, 10_000)


def test_tree_as_of_each_layer(stack: ImageLayers) -> None:
    assert list(stack.tree(0)) == ["/bin", "/bin/ls", "/etc", "/etc/a", "/etc/b"]
    assert "/big" in stack.tree(1)
    assert list(stack.tree()) == ["/bin", "/etc", "/etc/c"]
    ls = stack.tree(0)["/bin/ls"]
    assert (ls.kind, ls.mode, ls.uid, ls.gid, ls.size) == ("file", 0o644, 0, 0, 100)
    with pytest.raises(UsageError, match="has no layer 3 .it has 3: 0 to 2"):
        stack.tree(3)


def test_analysis_follows_dive(stack: ImageLayers) -> None:
    result = stack.analyze()
    # leaves seen: /bin/ls 100+0, /etc/a 1+0, /etc/b 2+0, /big 10000+0, /etc/c 1
    assert result.efficiency == pytest.approx(1 / 10_104)
    assert [(o.path, o.count, o.total_size) for o in result.offenders] == [
        ("/big", 2, 10_000), ("/bin/ls", 2, 100), ("/etc/b", 2, 2), ("/etc/a", 2, 1)]
    assert result.wasted_bytes == 10_103
    assert result.user_size_bytes == 10_001
    assert result.user_wasted_percent == pytest.approx(10_103 / 10_001)
    failures = ci_failures(result, CIRules(None, 1000, None))
    assert failures == ["wasted bytes 10103 is above 1000 (biggest offender: /big, "
                        "10000 bytes in 2 layers)"]
    assert ci_failures(result, CIRules(0.0, None, None)) == []


def test_a_tampered_layer_blob_is_refused(store: Store) -> None:
    image = make_image(store, "layers:bad", [BASE], compression="none")
    path = store.blobs.path(image.layers[0].digest)
    data = bytearray(path.read_bytes())
    data[data.index(b"x" * 100)] ^= 1  # in a file's content: the tar still parses
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(DigestError):
        ImageLayers(image).infos()


def test_a_deleted_directory_counts_each_file_it_held(store: Store) -> None:
    image = make_image(store, "layers:dir", [
        {"cache": None, "cache/a": b"a" * 5, "cache/sub": None, "cache/sub/b": b"b" * 7,
         "cachex": b"x"},
        {".wh.cache": b""},
        {"cache": b"now a file"}], compression="none")
    stack = ImageLayers(image)
    [deleted] = stack.changes(1)
    assert (deleted.action, deleted.info.path, deleted.marker, deleted.hidden,
            deleted.freed) == ("D", "/cache", "whiteout", 3, 12)
    assert list(stack.tree(1)) == ["/cachex"]
    assert [(o.path, o.total_size) for o in stack.analyze().offenders] == [
        ("/cache/sub/b", 7), ("/cache/a", 5)]
    assert stack.tree()["/cache"].kind == "file"
