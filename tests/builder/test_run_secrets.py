"""RUN --mount=type=secret and type=ssh with what the build is given (--secret, --ssh)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from build_helpers import build, files_of

from minidock.builder import events as ev
from minidock.errors import BuildError
from minidock.store.store import Image, Store

pytestmark = pytest.mark.root

if os.geteuid() != 0:
    pytest.skip("RUN steps need root here (namespaces and overlayfs)", allow_module_level=True)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    return root


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """A listening unix socket standing in for an ssh agent."""
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    try:
        yield path
    finally:
        server.close()


def output_of(rec) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(e.data for e in rec.of(ev.StepOutput))


def test_secret_is_mounted_read_only_and_never_kept(store: Store, busybox: Image,
                                                   ctx: Path) -> None:
    dockerfile = ("FROM busybox\n"
                  "RUN --mount=type=secret,id=tok cat /run/secrets/tok && "
                  "stat -c '%a %u' /run/secrets/tok && "
                  "! touch /run/secrets/tok 2>/dev/null && echo read-only\n"
                  "RUN --mount=type=secret,id=tok,target=/root/.netrc,mode=0440,uid=1000 "
                  "--mount=type=secret,id=tok,env=TOKEN "
                  "stat -c '%a %u' /root/.netrc && echo \"env=$TOKEN\" && touch /kept\n")
    image, rec = build(store, ctx, dockerfile, secrets={"tok": b"s3cret\n"})
    assert output_of(rec) == b"s3cret\n400 0\nread-only\n440 1000\nenv=s3cret\n\n"
    tree = files_of(store, image)
    assert "/kept" in tree
    assert not any(p.startswith("/run") or p == "/root/.netrc" for p in tree)
    # the content is not part of the cache key, as in BuildKit
    again, rec = build(store, ctx, dockerfile, secrets={"tok": b"other\n"})
    assert again.id == image.id and len(rec.of(ev.CacheHit)) == 2


def test_missing_secret_or_agent_is_skipped_unless_required(store: Store, busybox: Image,
                                                           ctx: Path) -> None:
    image, rec = build(store, ctx, "FROM busybox\nRUN --mount=type=secret,id=x "
                                   "--mount=type=ssh test ! -e /run/secrets/x && "
                                   "echo \"sock=$SSH_AUTH_SOCK\"\n")
    assert output_of(rec) == b"sock=\n"
    with pytest.raises(BuildError, match="no secret with id 'x' was given to this build"):
        build(store, ctx, "FROM busybox\nRUN --mount=type=secret,id=x,required true\n")
    with pytest.raises(BuildError, match="no ssh agent with id 'default' was given"):
        build(store, ctx, "FROM busybox\nRUN --mount=type=ssh,required true\n")


def test_ssh_agent_socket_is_forwarded(store: Store, busybox: Image, ctx: Path,
                                       agent: str) -> None:
    image, rec = build(store, ctx, "FROM busybox\nRUN --mount=type=ssh "
                                   "test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\"\n",
                       ssh={"default": agent})
    assert output_of(rec) == b"/run/buildkit/ssh_agent.0\n"
    assert not any(p.startswith("/run") for p in files_of(store, image))
