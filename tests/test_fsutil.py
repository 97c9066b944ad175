"""The filesystem primitives: tree removal, atomic writes, fd copies, sorted walks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from minidock import fsutil

NOBODY = 65534


# --- remove_tree -------------------------------------------------------------------------


def test_remove_tree_does_not_follow_a_symlink_to_a_directory_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("precious")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "link").symlink_to(outside)
    (tree / "top-link").symlink_to(outside, target_is_directory=True)

    assert fsutil.remove_tree(tree) is True

    assert not tree.exists()
    assert (outside / "keep").read_text() == "precious"


def test_remove_tree_of_a_symlink_removes_only_the_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    link = tmp_path / "link"
    link.symlink_to(outside)

    assert fsutil.remove_tree(link) is True

    assert not link.is_symlink()
    assert (outside / "keep").exists()


def test_remove_tree_removes_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"data")
    assert fsutil.remove_tree(path) is True
    assert not path.exists()


def test_remove_tree_of_a_missing_path_is_false(tmp_path: Path) -> None:
    assert fsutil.remove_tree(tmp_path / "missing") is False
    assert fsutil.remove_tree(tmp_path / "no" / "parent") is False


def test_remove_tree_removes_mode_000_directories(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    locked = tree / "work" / "work"
    locked.mkdir(parents=True)
    (locked / "file").write_text("x")
    locked.chmod(0)
    (tree / "work").chmod(0)

    assert fsutil.remove_tree(tree) is True
    assert not tree.exists()


def _build_unprivileged_tree(tree: Path) -> None:
    """A tree owned by nobody with a mode-000 dir and read-only dirs (files and subdirs)."""
    (tree / "locked").mkdir(parents=True)
    (tree / "locked" / "file").write_text("x")
    (tree / "readonly" / "only-dirs" / "leaf").mkdir(parents=True)
    (tree / "readonly" / "file").write_text("x")
    for path in [tree, *tree.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    (tree / "locked").chmod(0)
    (tree / "readonly" / "only-dirs").chmod(0o555)
    (tree / "readonly").chmod(0o555)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a tree owned by another user")
def test_remove_tree_at_as_an_unprivileged_owner_removes_read_only_dirs(tmp_path: Path) -> None:
    """Without CAP_DAC_OVERRIDE the owner must chmod mode-000 and read-only dirs first."""
    parent = tmp_path / "parent"
    parent.mkdir()
    os.chown(parent, NOBODY, NOBODY)
    _build_unprivileged_tree(parent / "tree")
    parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = 1
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                fsutil.remove_tree_at(parent_fd, "tree")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(parent_fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not (parent / "tree").exists()


def test_remove_tree_removes_a_5000_level_deep_tree(tmp_path: Path) -> None:
    tree = tmp_path / "deep"
    tree.mkdir()
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(5000):  # paths this long exceed PATH_MAX: build with dir fds
            os.mkdir("d", dir_fd=fd)
            deeper = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        os.close(os.open("file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)

    assert fsutil.remove_tree(tree) is True
    assert not tree.exists()


# --- write_atomic ------------------------------------------------------------------------


def test_write_atomic_replaces_the_content_and_sets_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"old")
    fsutil.write_atomic(path, b"new content", mode=0o600)
    assert path.read_bytes() == b"new content"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fsutil.write_atomic(path, b"again", mode=0o640, durable=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["file"]


def test_write_atomic_failing_mid_write_keeps_the_old_content_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"old")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", fail)
    with pytest.raises(OSError, match="No space left"):
        fsutil.write_atomic(path, b"new" * 1000)
    monkeypatch.undo()

    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file"]


def test_write_atomic_uses_the_given_temp_dir(tmp_path: Path) -> None:
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    fsutil.write_atomic(tmp_path / "file", b"data", tmp_dir=tmp_dir)
    assert (tmp_path / "file").read_bytes() == b"data"
    assert os.listdir(tmp_dir) == []


# --- copy_fd -----------------------------------------------------------------------------

DATA = bytes(range(256)) * 5000  # larger than one read chunk


def _copy(tmp_path: Path, data: bytes, *, offset: int = 0, size: int | None = None
          ) -> tuple[int, bytes]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    with open(src, "rb") as s, open(dst, "wb") as d:
        s.seek(offset)
        copied = fsutil.copy_fd(s.fileno(), d.fileno(), size)
        assert s.tell() == offset + copied
    return copied, dst.read_bytes()


def _without_copy_file_range(monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(*args: object) -> int:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)


@pytest.mark.parametrize("kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_copy_fd_copies_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       kernel: bool) -> None:
    if not kernel:
        _without_copy_file_range(monkeypatch)
    assert _copy(tmp_path, DATA) == (len(DATA), DATA)
    assert _copy(tmp_path, b"") == (0, b"")


@pytest.mark.parametrize("kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_copy_fd_copies_size_bytes_from_the_current_offset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: bool) -> None:
    if not kernel:
        _without_copy_file_range(monkeypatch)
    size = (1 << 20) + 17
    assert _copy(tmp_path, DATA, offset=100, size=size) == (size, DATA[100:100 + size])
    assert _copy(tmp_path, DATA, offset=len(DATA) - 10, size=100) == (10, DATA[-10:])


def test_copy_fd_falls_back_where_the_kernel_copy_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel copy that fails part way is finished by reads from where it stopped."""
    real = os.copy_file_range
    calls = []

    def once(src: int, dst: int, count: int) -> int:
        calls.append(count)
        if len(calls) > 1:
            raise OSError(22, "Invalid argument")
        return real(src, dst, 1000)

    monkeypatch.setattr(os, "copy_file_range", once)
    assert _copy(tmp_path, DATA) == (len(DATA), DATA)
    assert len(calls) == 2


def test_copy_fd_copies_a_procfs_file_whose_size_reads_zero(tmp_path: Path) -> None:
    expected = Path("/proc/self/mounts").read_bytes()
    with open("/proc/self/mounts", "rb") as s, open(tmp_path / "dst", "wb") as d:
        copied = fsutil.copy_fd(s.fileno(), d.fileno())
    assert copied > 0
    assert (tmp_path / "dst").read_bytes()[:100] == expected[:100]


# --- walk_sorted -------------------------------------------------------------------------


def test_walk_sorted_is_a_pre_order_walk_sorted_by_name_bytes(tmp_path: Path) -> None:
    (tmp_path / "b" / "inner").mkdir(parents=True)
    (tmp_path / "b" / "inner" / "z").write_text("")
    (tmp_path / "b" / "a").write_text("")
    (tmp_path / "a").write_text("")
    (tmp_path / "B").write_text("")
    (tmp_path / "b-file").write_text("")
    (tmp_path / "link").symlink_to("b")

    walked = [(rel, host) for rel, host, _ in fsutil.walk_sorted(str(tmp_path))]

    assert [rel for rel, _ in walked] == [
        "B", "a", "b", "b/a", "b/inner", "b/inner/z", "b-file", "link"]
    assert all(host == str(tmp_path / rel) for rel, host in walked)


def test_walk_sorted_reports_symlinks_without_following_them(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("")
    (tmp_path / "link").symlink_to("dir")
    modes = {rel: st.st_mode for rel, _, st in fsutil.walk_sorted(str(tmp_path))}
    assert set(modes) == {"dir", "dir/inside", "link"}
    assert stat.S_ISLNK(modes["link"])


def test_walk_sorted_prune_skips_a_directorys_contents(tmp_path: Path) -> None:
    (tmp_path / "keep" / "deep").mkdir(parents=True)
    (tmp_path / "skip" / "deep").mkdir(parents=True)
    (tmp_path / "skip" / "file").write_text("")
    seen = []

    def prune(rel: str) -> bool:
        seen.append(rel)
        return rel == "skip"

    walked = [rel for rel, _, _ in fsutil.walk_sorted(str(tmp_path), prune)]

    assert walked == ["keep", "keep/deep", "skip"]
    assert seen == ["keep", "keep/deep", "skip"]
