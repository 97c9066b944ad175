"""Session ownership: owners named by PID and start time, sweeping dead sessions safely."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import pytest

from minidock.api import Client
from minidock.api.sessions import (
    OWNER_LABEL,
    Session,
    owner_alive,
    process_owner,
    sessions_base,
    sweep_dead_sessions,
)
from minidock.errors import StoreError
from minidock.runtime.containers import all_ids


def _dead_owner() -> str:
    """The owner name of a process that has ended (its PID may be reused: the start
    time still tells them apart)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        owner = process_owner(child.pid)
    finally:
        child.kill()
        child.wait()
    return owner


def test_owners_are_alive_while_their_process_is():
    me = process_owner()
    assert me.startswith(f"{os.getpid()}-") and owner_alive(me)
    assert not owner_alive(_dead_owner())
    pid, _, start = me.partition("-")
    assert not owner_alive(f"{pid}-{int(start) + 1}")  # same PID, another process
    assert not owner_alive("not-an-owner")
    with pytest.raises(StoreError, match="does not exist"):
        process_owner(2**22 + 1)


def test_the_base_directory_is_private(tmp_path):
    base = sessions_base(str(tmp_path))
    assert base == tmp_path / f"minidock-pytest-{os.getuid()}"
    assert base.stat().st_mode & 0o777 == 0o700
    assert sessions_base(str(tmp_path)) == base  # found again
    base.chmod(0o777)
    with pytest.raises(StoreError, match="not a private directory"):
        sessions_base(str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    other = tmp_path / "other"
    other.mkdir()
    (other / f"minidock-pytest-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(StoreError, match="not a private directory"):
        sessions_base(str(other))


def _session_with_container(base, owner, store_root, *, isolated=True, labels=None):
    session = Session(base, owner)
    root = session.store_for("main") if isolated else base.parent / "shared-store"
    session.register("main", root, isolated=isolated)
    client = Client(root)
    client.copy_image("busybox:latest", source=Client(store_root))
    box = client.run("busybox:latest", ["sleep", "60"], detach=True, labels=labels)
    return session, client, box


def test_a_dead_sessions_isolated_store_is_swept(tmp_path, store_root):
    base = sessions_base(str(tmp_path))
    dead = _dead_owner()
    session, client, box = _session_with_container(base, dead, store_root)
    live = Session(base, process_owner())
    live.register("main", live.store_for("main"), isolated=True)
    pid = box.pid
    assert sweep_dead_sessions(base) == [dead]
    assert box.status == "removed" and not os.path.exists(f"/proc/{pid}")
    assert not session.path.exists()
    assert live.path.exists()  # a live owner's session is left alone
    live.sweep()
    assert os.listdir(base) == []


def test_a_shared_store_loses_only_the_owners_containers(tmp_path, store_root):
    base = sessions_base(str(tmp_path))
    dead = _dead_owner()
    session, client, owned = _session_with_container(
        base, dead, store_root, isolated=False, labels={OWNER_LABEL: dead})
    other = client.run("busybox:latest", ["sleep", "60"], detach=True)
    try:
        assert session.sweep()
        assert owned.status == "removed"
        assert other.running
        assert client.has_image("busybox:latest")  # a shared store keeps its images
    finally:
        other.remove(force=True)
    assert all_ids(client.root) == []


def test_a_record_never_makes_a_sweep_delete_outside_the_session(tmp_path):
    base = sessions_base(str(tmp_path))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine\n")
    session = Session(base, _dead_owner())
    session.register("main", precious, isolated=True)  # a tampered record
    assert session.sweep()
    assert (precious / "keep.txt").read_text() == "mine\n"
    assert not session.path.exists()


def test_a_session_being_swept_elsewhere_is_skipped(tmp_path, store_root):
    base = sessions_base(str(tmp_path))
    session, client, box = _session_with_container(base, _dead_owner(), store_root)
    fd = os.open(session.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert sweep_dead_sessions(base) == []
        assert box.running
    finally:
        os.close(fd)
    assert sweep_dead_sessions(base) == [session.owner]
    assert box.status == "removed"


def test_release_ends_one_workers_part(tmp_path, store_root):
    base = sessions_base(str(tmp_path))
    owner = process_owner()
    session = Session(base, owner)
    roots = {}
    for worker in ("gw0", "gw1"):
        roots[worker] = session.store_for(worker)
        session.register(worker, roots[worker], isolated=True)
        Client(roots[worker]).copy_image("busybox:latest", source=Client(store_root))
    box = Client(roots["gw1"]).run("busybox:latest", ["sleep", "60"], detach=True)
    session.release("gw0")
    assert not roots["gw0"].exists()
    assert [use.worker for use in session.uses()] == ["gw1"]
    assert box.running
    session.sweep()
    assert box.status == "removed" and not session.path.exists()
