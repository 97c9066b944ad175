import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from layer_helpers import make_rich_tree, read_layer, snapshot

from minidock.errors import LayerError
from minidock.layer.differ import (
    changes,
    diff_overlay_upper,
    diff_trees,
    overlay_changes,
    snapshot_dir_identities,
)
from minidock.layer.entry import EntryKind
from minidock.layer.extract import extract
from minidock.layer.writer import write_tree


def _copy_tree(src: Path, dest: Path) -> None:
    """An exact, metadata-preserving copy (hardlinks, devices, xattrs, mtimes)."""
    dest.mkdir()
    sink = io.BytesIO()
    write_tree(src, sink, "none")
    sink.seek(0)
    extract(sink, dest)


def _blob(fn, *args, **kwargs) -> bytes:
    sink = io.BytesIO()
    fn(*args, sink, "zstd", **kwargs)
    return sink.getvalue()


def _names(blob: bytes) -> list[str]:
    return [entry.path for entry, _ in read_layer(blob)]


def _modify_copy(upper: Path) -> None:
    (upper / "added.txt").write_bytes(b"new")
    (upper / "a" / "b" / "setuid").write_bytes(b"#!/bin/sh\necho changed\n")
    os.unlink(upper / "zero")
    shutil.rmtree(upper / "empty")
    # replaced: deleted and made again with different content. The new directory is
    # made before the old one goes, so it cannot reuse the old inode (which would make
    # it the same directory with its old entry deleted, a different but also true diff)
    (upper / "ro.new").mkdir()
    (upper / "ro.new" / "fresh").write_bytes(b"fresh")
    os.chmod(upper / "ro", 0o755)
    shutil.rmtree(upper / "ro")
    os.rename(upper / "ro.new", upper / "ro")
    os.unlink(upper / "abs-link")
    os.symlink("/etc/hostname", upper / "abs-link")
    os.mkdir(upper / "newdir")
    (upper / "newdir" / "inner").write_bytes(b"i")
    os.link(upper / "added.txt", upper / "newdir" / "added-link")


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path, dict]:
    lower = tmp_path / "lower"
    lower.mkdir()
    make_rich_tree(lower)
    upper = tmp_path / "upper"
    _copy_tree(lower, upper)
    identities = snapshot_dir_identities(upper)
    _modify_copy(upper)
    return lower, upper, identities


def test_unmodified_copy_has_no_changes(tmp_path):
    lower = tmp_path / "lower"
    lower.mkdir()
    make_rich_tree(lower)
    upper = tmp_path / "upper"
    _copy_tree(lower, upper)
    assert changes(lower, upper) == []
    assert _names(_blob(diff_trees, lower, upper)) == []


def test_changes_lists_docker_diff_lines(trees):
    lower, upper, identities = trees
    lines = [str(change) for change in changes(lower, upper, dir_identities=identities)]
    assert lines == [
        "C /a",
        "C /a/b",
        "C /a/b/setuid",
        "C /abs-link",
        "A /added.txt",
        "D /empty",
        "A /newdir",
        "A /newdir/added-link",
        "A /newdir/inner",
        "C /ro",
        "A /ro/fresh",
        "D /zero",
    ]


@pytest.mark.parametrize("use_identities", [True, False])
def test_diff_trees_applies_back_to_the_modified_tree(trees, tmp_path, use_identities):
    lower, upper, identities = trees
    blob = _blob(diff_trees, lower, upper,
                 dir_identities=identities if use_identities else None)
    names = _names(blob)
    assert ".wh.zero" in names and ".wh.empty" in names
    if use_identities:
        # the replaced directory hides the old one instead of deleting its entries one by one
        assert names[names.index("ro/") + 1] == "ro/.wh..wh..opq"
        assert "ro/.wh.inside" not in names
    else:
        assert "ro/.wh.inside" in names
        assert "ro/.wh..wh..opq" not in names
    assert "a/f" not in names  # unchanged entries stay out
    entries = {entry.path: entry for entry, _ in read_layer(blob)}
    assert entries["newdir/inner"].kind is EntryKind.FILE
    assert entries["added.txt"].kind is EntryKind.FILE
    assert entries["newdir/added-link"].kind is EntryKind.HARDLINK
    assert entries["newdir/added-link"].linkname == "added.txt"
    applied = tmp_path / "applied"
    _copy_tree(lower, applied)
    extract(io.BytesIO(blob), applied)
    assert snapshot(applied) == snapshot(upper)


def test_diff_trees_is_deterministic_and_clamps(trees):
    lower, upper, identities = trees
    first = _blob(diff_trees, lower, upper, dir_identities=identities, source_date_epoch=10)
    second = _blob(diff_trees, lower, upper, dir_identities=identities, source_date_epoch=10)
    assert first == second
    assert {entry.mtime for entry, _ in read_layer(first)} <= {0, 10}


def test_metadata_only_changes_are_found(tmp_path):
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "f").write_bytes(b"same")
    upper = tmp_path / "upper"
    _copy_tree(lower, upper)
    os.setxattr(upper / "f", "user.tag", b"1")
    assert [str(c) for c in changes(lower, upper)] == ["C /f"]
    os.removexattr(upper / "f", "user.tag")
    st = os.stat(lower / "f")
    (upper / "f").write_bytes(b"SAME")  # same size, then the old mtime put back
    os.utime(upper / "f", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert changes(lower, upper) == []
    assert [str(c) for c in changes(lower, upper, compare_content=True)] == ["C /f"]


# ---------------------------------------------------------------- overlayfs


def _mount_overlay(lower: Path, upper: Path, work: Path, merged: Path) -> None:
    for path in (upper, work, merged):
        path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work},"
                    "redirect_dir=off,metacopy=off", str(merged)], check=True)


@pytest.mark.root
def test_overlay_upper_diff_round_trip(tmp_path):
    lower = tmp_path / "lower"
    lower.mkdir()
    make_rich_tree(lower)
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    _mount_overlay(lower, upper, work, merged)
    try:
        _modify_copy(merged)
        os.chmod(merged / "big.bin", 0o600)  # a metadata-only copy-up
        expected = snapshot(merged)
        expected_changes = [str(c) for c in overlay_changes(upper, [lower])]
    finally:
        subprocess.run(["umount", str(merged)], check=True)

    assert os.getxattr(upper / "ro", "trusted.overlay.opaque") == b"y"
    blob = _blob(diff_overlay_upper, upper)
    names = _names(blob)
    assert names[names.index("ro/") + 1] == "ro/.wh..wh..opq"
    assert {".wh.zero", ".wh.empty", "a/", "big.bin", "newdir/inner"} <= set(names)
    assert "a/f" not in names
    for entry, _ in read_layer(blob):
        assert not any(key.startswith(("trusted.overlay.", "user.overlay."))
                       for key in entry.xattrs), entry.path
    assert expected_changes == [
        "C /a", "C /a/b", "C /a/b/setuid", "C /abs-link", "A /added.txt", "C /big.bin",
        "D /empty", "A /newdir", "A /newdir/added-link", "A /newdir/inner",
        "C /ro", "A /ro/fresh", "D /zero",
    ]

    # applied onto a copy of the base, the layer reproduces the container's view
    applied = tmp_path / "applied"
    _copy_tree(lower, applied)
    extract(io.BytesIO(blob), applied)
    assert snapshot(applied) == expected

    # and as an overlay lower above the base, it does too
    layer_dir = tmp_path / "layer"
    layer_dir.mkdir()
    extract(io.BytesIO(blob), layer_dir, mode="overlay")
    view = tmp_path / "view"
    view.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={layer_dir}:{lower}", str(view)], check=True)
    try:
        assert snapshot(view) == expected
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_upper_using_metacopy_or_redirect_is_refused(tmp_path):
    upper = tmp_path / "upper"
    (upper / "d").mkdir(parents=True)
    (upper / "d" / "f").write_bytes(b"")
    os.setxattr(upper / "d" / "f", "user.overlay.metacopy", b"")
    with pytest.raises(LayerError, match="metacopy"):
        _blob(diff_overlay_upper, upper)
    os.removexattr(upper / "d" / "f", "user.overlay.metacopy")
    os.setxattr(upper / "d", "user.overlay.redirect", b"/elsewhere")
    with pytest.raises(LayerError, match="redirect"):
        _blob(diff_overlay_upper, upper)


def test_rootless_style_upper_uses_user_xattrs(tmp_path):
    upper = tmp_path / "upper"
    (upper / "opaque").mkdir(parents=True)
    (upper / "opaque" / "kept").write_bytes(b"k")
    os.setxattr(upper / "opaque", "user.overlay.opaque", b"y")
    (upper / "not-opaque").mkdir()
    os.setxattr(upper / "not-opaque", "user.overlay.opaque", b"x")  # "has xwhiteouts" only
    assert _names(_blob(diff_overlay_upper, upper)) == [
        "not-opaque/", "opaque/", "opaque/.wh..wh..opq", "opaque/kept"]


@pytest.mark.root
def test_overlay_changes_against_several_lowers(tmp_path):
    bottom, top, upper = tmp_path / "bottom", tmp_path / "top", tmp_path / "upper"
    for path in (bottom / "etc", top / "etc", upper / "etc", top / "var"):
        path.mkdir(parents=True)
    (bottom / "etc" / "passwd").write_text("root")
    (bottom / "etc" / "gone").write_text("g")
    os.mknod(top / "etc" / "gone", 0o600 | 0o020000, 0)  # deleted by the top layer
    (bottom / "var" / "old").mkdir(parents=True)
    os.setxattr(top / "var", "trusted.overlay.opaque", b"y")
    (upper / "etc" / "passwd").write_text("root2")
    (upper / "etc" / "gone").write_text("back")
    (upper / "var" / "old").mkdir(parents=True)
    assert [str(c) for c in overlay_changes(upper, [top, bottom])] == [
        "C /etc", "A /etc/gone", "C /etc/passwd", "C /var", "A /var/old"]
