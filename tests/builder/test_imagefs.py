"""Looking through extracted layer dirs: whiteouts, opaque dirs, symlinks in scope."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from minidock.builder.imagefs import ImageFS
from minidock.builder.owners import resolve_chown
from minidock.builder.pathmatch import match
from minidock.errors import BuildError


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    low, mid, top = (tmp_path / n for n in ("low", "mid", "top"))
    for d in (low, mid, top):
        d.mkdir()
    (low / "etc").mkdir()
    (low / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                        "bob:x:1000:1001::/home/bob:/bin/sh\n")
    (low / "etc" / "group").write_text("root:x:0:\nstaff:x:50:bob\n")
    (low / "gone").write_text("old")
    (low / "opq").mkdir()
    (low / "opq" / "hidden").write_text("h")
    (low / "var").mkdir()
    (low / "run").mkdir()
    os.symlink("../run", low / "var" / "run")
    os.symlink("/etc", low / "abs")
    (mid / "opq").mkdir()
    (mid / "opq" / "kept").write_text("k")
    (mid / ".wh.gone").write_text("")  # a leftover AUFS-style whiteout
    (top / "opq").mkdir()
    os.setxattr(top / "opq", "trusted.overlay.opaque", b"y")
    (top / "opq" / "new").write_text("n")
    whiteout(top / "abs")
    return [low, mid, top]


def test_whiteouts_hide_lower_files(layers: list[Path]) -> None:
    fs = ImageFS(layers)
    assert fs.lstat("/gone") is None
    assert fs.lstat("/abs") is None
    assert fs.exists("/etc/passwd")


def test_opaque_dir_hides_everything_below(layers: list[Path]) -> None:
    fs = ImageFS(layers)
    assert fs.listdir("/opq") == ["new"]
    assert fs.lstat("/opq/hidden") is None
    assert fs.lstat("/opq/kept") is None
    assert sorted(fs.listdir("/")) == ["etc", "opq", "run", "var"]


def test_symlinks_resolve_inside_the_image(layers: list[Path]) -> None:
    fs = ImageFS(layers)
    assert fs.resolve("/var/run/x") == "/run/x"
    assert fs.resolve("/var/run", follow_last=False) == "/var/run"
    assert fs.resolve("/../../etc") == "/etc"
    assert fs.is_dir("/var/run")


def test_chown_names_come_from_the_image(layers: list[Path]) -> None:
    fs = ImageFS(layers)
    assert resolve_chown("bob", fs) == (1000, 1000)
    assert resolve_chown("bob:staff", fs) == (1000, 50)
    assert resolve_chown("7:8", fs) == (7, 8)
    assert resolve_chown("12", fs) == (12, 12)
    with pytest.raises(BuildError, match="no such user: alice"):
        resolve_chown("alice", fs)
    with pytest.raises(BuildError, match="no such group: wheel"):
        resolve_chown("bob:wheel", fs)


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("*.txt", "a.txt", True),
    ("*", "a/b", False),
    ("**", "a", True),
    ("[^a]x", "bx", True),
    ("[^a]x", "ax", False),
    ("[a-c]?", "bz", True),
    ("a\\*", "a*", True),
    ("a\\*", "ab", False),
    ("?", "/", False),
])
def test_filepath_match(pattern: str, name: str, expected: bool) -> None:
    assert match(pattern, name) is expected


def test_bad_pattern_is_an_error() -> None:
    with pytest.raises(BuildError, match="syntax error in pattern"):
        match("[]", "x")
