"""The build context: path resolution, refusals, .dockerignore walks, stdin tars."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from minidock.builder.context import BuildContext, ForbiddenPath, IgnoreRules
from minidock.errors import UsageError


def make_tree(root: Path) -> None:
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "dir" / "b.txt").write_text("b")
    (root / "dir" / "sub" / "c.txt").write_text("c")
    os.symlink("dir/b.txt", root / "inside")
    os.symlink("/etc/passwd", root / "abs-out")
    os.symlink("../../etc", root / "dir" / "rel-out")
    os.symlink(str(root / "a.txt"), root / "abs-in")


def test_resolve_plain_and_symlinks_inside(tmp_path: Path) -> None:
    make_tree(tmp_path)
    ctx = BuildContext.from_directory(tmp_path)
    assert ctx.resolve("a.txt") == "a.txt"
    assert ctx.resolve("./dir/../a.txt") == "a.txt"
    assert ctx.resolve("inside") == "dir/b.txt"
    assert ctx.resolve("inside", follow_last=False) == "inside"
    assert ctx.resolve("abs-in") == "a.txt"
    assert ctx.resolve("/dir/sub") == "dir/sub"
    assert ctx.resolve(".") == ""


@pytest.mark.parametrize("written", ["../x", "dir/../../x", "../"])
def test_resolve_refuses_climbing_out(tmp_path: Path, written: str) -> None:
    make_tree(tmp_path)
    ctx = BuildContext.from_directory(tmp_path)
    with pytest.raises(ForbiddenPath) as info:
        ctx.resolve(written)
    assert str(info.value) == f"COPY failed: forbidden path outside the build context: {written}"


@pytest.mark.parametrize("written", ["abs-out", "dir/rel-out/passwd"])
def test_resolve_refuses_symlinks_leaving_the_context(tmp_path: Path, written: str) -> None:
    make_tree(tmp_path)
    ctx = BuildContext.from_directory(tmp_path)
    with pytest.raises(ForbiddenPath, match="forbidden path outside the build context"):
        ctx.resolve(written, instruction="ADD")


def test_walk_honours_ignore_rules_and_exceptions(tmp_path: Path) -> None:
    make_tree(tmp_path)
    rules = IgnoreRules.from_text(b"# comment\ndir\n!dir/sub/c.txt\n")
    ctx = BuildContext.from_directory(tmp_path, rules)
    seen = [rel for rel, _ in ctx.walk("")]
    assert "dir/b.txt" not in seen
    assert "dir/sub/c.txt" in seen
    assert "a.txt" in seen
    assert ctx.lstat("dir/b.txt") is None


def test_walk_skips_excluded_dirs_without_exceptions(tmp_path: Path) -> None:
    make_tree(tmp_path)
    ctx = BuildContext.from_directory(tmp_path, IgnoreRules.from_text(b"dir\n"))
    assert sorted(rel for rel, _ in ctx.walk("")) == ["a.txt", "abs-in", "abs-out", "inside"]


def test_file_hash_is_cached_by_inode(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"hello")
    ctx = BuildContext.from_directory(tmp_path)
    st = os.lstat(tmp_path / "f")
    first = ctx.file_sha256("f", st)
    assert first == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert ctx.file_sha256("f", st) == first


def test_missing_context_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        BuildContext.from_directory(tmp_path / "nope")


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def test_context_from_stdin_tar(tmp_path: Path) -> None:
    d = tarfile.TarInfo("app")
    d.type, d.mode = tarfile.DIRTYPE, 0o700
    f = tarfile.TarInfo("app/main.py")
    f.size, f.mode = 5, 0o755
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "app/main.py"
    with BuildContext.from_tar(_tar([(d, None), (f, b"print"), (link, None)]), tmp_path) as ctx:
        root = ctx.root
        assert (root / "app" / "main.py").read_bytes() == b"print"
        assert os.stat(root / "app").st_mode & 0o777 == 0o700
        assert os.stat(root / "app" / "main.py").st_mode & 0o777 == 0o755
        assert ctx.resolve("link") == "app/main.py"
    assert not root.exists()


def test_stdin_tar_that_escapes_is_refused(tmp_path: Path) -> None:
    evil = tarfile.TarInfo("../evil")
    evil.size = 1
    with pytest.raises(UsageError, match="escapes"):
        BuildContext.from_tar(_tar([(evil, b"x")]), tmp_path / "ctx")
    assert not (tmp_path / "evil").exists()
    assert list((tmp_path / "ctx").iterdir()) == []


def test_stdin_tar_through_symlink_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("l")
    link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path)
    through = tarfile.TarInfo("l/planted")
    through.size = 1
    with pytest.raises(UsageError, match="non-directory"):
        BuildContext.from_tar(_tar([(link, None), (through, b"x")]), tmp_path / "ctx")
    assert not (tmp_path / "planted").exists()
