"""`commit` writes the owners the container gave its files, whoever runs minidock.

Rootless, the container's files carry host ids (the caller's own for root,
subordinate ids for the others); the layer must hold the container's ids.
This module is also run as an unprivileged user by test_runtime_rootless.py.
"""

from __future__ import annotations

from runtime_helpers import Minidock

from minidock.layer.compression import decompressing_reader
from minidock.layer.tarstream import TarReader
from minidock.store.store import Store


def test_commit_layer_holds_the_container_ids(md: Minidock) -> None:
    root_map = md.ok("run", "--rm", "busybox", "cat", "/proc/self/uid_map").split()
    many_ids = len(root_map) > 3  # more than one id mapped: chown to others works
    chown = "chown 1:2 /f && " if many_ids else ""
    md.ok("run", "--name", "owners", "busybox", "sh", "-c", f"touch /f && {chown}mkdir /d")
    tag = f"owners-{md.driver}:1"
    try:
        md.ok("commit", "owners", tag)
        store = Store(md.settings())
        desc = store.image(tag).layers[-1]
        with store.open_blob(desc) as blob:
            owners = {e.path.rstrip("/"): (e.uid, e.gid)
                      for e in TarReader(decompressing_reader(blob, desc.media_type))}
        assert owners["f"] == ((1, 2) if many_ids else (0, 0))
        assert owners["d"] == (0, 0)
    finally:
        md.ok("rm", "owners")
        md("rmi", tag)
