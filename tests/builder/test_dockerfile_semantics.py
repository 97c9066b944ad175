"""Dockerfile semantics where a real-world corpus found minidock apart from BuildKit."""

from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import pytest
from build_helpers import add_image, build, busybox_files, files_of

from minidock.builder import events as ev
from minidock.builder import parse_secret, parse_ssh
from minidock.builder.context import SourceNotFound
from minidock.errors import UsageError
from minidock.layer.compression import decompressing_reader
from minidock.layer.entry import EntryKind
from minidock.layer.tarstream import TarReader
from minidock.store.store import Image, Store


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "a.txt").write_text("A\n")
    (root / "b.txt").write_text("B\n")
    return root


def layer_members(store: Store, image: Image, index: int = -1) -> dict[str, tuple[str, str]]:
    """path -> (tar type, link name) of one of the image's layers, as stored."""
    desc = image.layers[index]
    with store.open_blob(desc) as blob:
        return {m.path.rstrip("/"): (m.kind.value, m.linkname)
                for m in TarReader(decompressing_reader(blob, desc.media_type))}


def test_an_unmatched_wildcard_beside_other_sources_is_allowed(store: Store, ctx: Path) -> None:
    image, _ = build(store, ctx, "FROM scratch\nCOPY a.txt nomatch* /d/\n")
    tree = files_of(store, image)
    assert tree["/d/a.txt"][4] == b"A\n"
    assert [p for p in tree if p.startswith("/d/")] == ["/d/a.txt"]
    with pytest.raises(SourceNotFound, match="no source files were specified"):
        build(store, ctx, "FROM scratch\nCOPY nomatch* none?.txt /d/\n")
    with pytest.raises(SourceNotFound, match="file not found in build context: missing"):
        build(store, ctx, "FROM scratch\nCOPY a.txt missing nomatch* /d/\n")


def _tar(members: list[tuple[str, str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, link, data in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_add_tar_resolves_member_paths_through_its_links_inside_the_destination(
        store: Store, ctx: Path) -> None:
    (ctx / "t.tar").write_bytes(_tar([("up", "..", b""), ("up/etc/f", "", b"f\n"),
                                      ("abs", "/sub2", b""), ("abs/g", "", b"g\n")]))
    image, _ = build(store, ctx, "FROM scratch\nADD t.tar /sub\n")
    tree = files_of(store, image)
    # `..` from the destination stays in it; an absolute target starts at it
    assert tree["/sub/etc/f"][4] == b"f\n"
    assert tree["/sub/sub2/g"][4] == b"g\n"
    assert tree["/sub/up"] == ("l", None, 0, 0, "..")
    assert tree["/sub/abs"] == ("l", None, 0, 0, "/sub2")
    members = layer_members(store, image)
    assert "sub/up/etc/f" not in members and "sub/abs/g" not in members
    assert members["sub/etc/f"][0] == EntryKind.FILE.value


def test_add_tar_follows_the_images_symlinks_below_the_destination(store: Store,
                                                                  ctx: Path) -> None:
    add_image(store, {"opt/lib": "real", "opt/real/keep": b"k\n"}, tag="linked:1",
              dirs=("opt", "opt/real"))
    (ctx / "t.tar").write_bytes(_tar([("lib/new", "", b"n\n")]))
    image, _ = build(store, ctx, "FROM linked:1\nADD t.tar /opt/\n")
    tree = files_of(store, image)
    assert tree["/opt/lib"] == ("l", None, 0, 0, "real")
    assert tree["/opt/real/new"][4] == b"n\n" and tree["/opt/real/keep"][4] == b"k\n"
    assert set(layer_members(store, image)) == {"opt", "opt/real", "opt/real/new"}


def test_copy_from_keeps_hard_links(store: Store, ctx: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("t/a")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
        link = tarfile.TarInfo("t/b")
        link.type, link.linkname = tarfile.LNKTYPE, "t/a"
        tar.addfile(link)
    (ctx / "t.tar").write_bytes(buf.getvalue())
    image, _ = build(store, ctx, "FROM scratch AS build\nADD t.tar /\nFROM scratch\n"
                                 "COPY --from=build /t /t\nCOPY --from=build /t/b /c\n")
    assert layer_members(store, image, -2)["t/b"] == (EntryKind.HARDLINK.value, "t/a")
    assert layer_members(store, image, -2)["t/a"] == (EntryKind.FILE.value, "")
    assert layer_members(store, image)["c"] == (EntryKind.FILE.value, "")  # alone: a file
    tree = files_of(store, image)
    assert tree["/t/b"][4] == tree["/c"][4] == b"x\n"


def test_workdir_is_created_for_the_user(store: Store, ctx: Path) -> None:
    add_image(store, busybox_files(), tag="busybox:latest", dirs=("bin", "etc", "tmp"))
    image, _ = build(store, ctx, "FROM busybox\nUSER app\nWORKDIR /created/dir\n"
                                 "USER 7:50\nWORKDIR /n/m\nUSER app:staff\nWORKDIR /g\n"
                                 "USER app\nWORKDIR /tmp/app/x\nUSER 0\nWORKDIR /tmp/\n")
    tree = files_of(store, image)
    # BuildKit's mkdir -p as USER at WORKDIR itself: every directory it creates, no existing one
    assert tree["/created"][:4] == tree["/created/dir"][:4] == ("d", "0o755", 1000, 1000)
    assert tree["/n"][:4] == tree["/n/m"][:4] == ("d", "0o755", 7, 50)
    assert tree["/g"][:4] == ("d", "0o755", 1000, 50)
    assert tree["/tmp/app"][:4] == tree["/tmp/app/x"][:4] == ("d", "0o755", 1000, 1000)
    assert tree["/tmp"][2:4] == (0, 0)
    assert image.config["config"]["WorkingDir"] == "/tmp/"
    assert image.config["history"][-1]["created_by"] == "/bin/sh -c #(nop) WORKDIR /tmp/"


def test_duplicate_stage_names_warn_through_progress(store: Store, ctx: Path) -> None:
    add_image(store, busybox_files(), tag="busybox:latest", dirs=("bin", "etc", "tmp"))
    image, rec = build(store, ctx, "FROM busybox AS final\nCOPY a.txt /one\n"
                                   "FROM busybox AS final\nCOPY b.txt /two\n")
    tree = files_of(store, image)
    assert "/two" in tree and "/one" not in tree
    assert rec.of(ev.BuildWarning) == [ev.BuildWarning(
        '[Warning] Dockerfile:3: duplicate stage name "final": stage names should be unique '
        '(the later stage is used)')]
    first, _ = build(store, ctx, "FROM busybox AS x\nCOPY a.txt /one\nFROM busybox AS x\n"
                                 "COPY b.txt /two\nFROM scratch\nCOPY --from=x /two /\n",
                     target="x")
    assert "/two" in files_of(store, first) and "/one" not in files_of(store, first)


def test_secret_and_ssh_values(tmp_path: Path) -> None:
    agent = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(agent)
    server.close()  # a socket file is all parse_ssh looks at
    (tmp_path / "f").write_bytes(b"from file")
    env = {"TOK": "from env", "SSH_AUTH_SOCK": agent}
    assert parse_secret(f"id=a,src={tmp_path / 'f'}", env) == ("a", b"from file")
    assert parse_secret("id=a,env=TOK", env) == ("a", b"from env")
    assert parse_secret("id=TOK", env) == ("TOK", b"from env")
    assert parse_secret("id=a,type=env,src=TOK", env) == ("a", b"from env")
    assert parse_ssh("default", env) == ("default", agent)
    assert parse_ssh(f"gh={agent}", env) == ("gh", agent)
    for bad, message in [("src=x", "an id is required"), ("id=a,env=NOPE", "NOPE is not set"),
                         ("id=a,bogus=1", "unexpected key 'bogus'")]:
        with pytest.raises(UsageError, match=message):
            parse_secret(bad, env)
    with pytest.raises(UsageError, match="SSH_AUTH_SOCK is not set"):
        parse_ssh("default", {})
    with pytest.raises(UsageError, match="is not an ssh agent socket"):
        parse_ssh(f"k={tmp_path / 'f'}", env)
