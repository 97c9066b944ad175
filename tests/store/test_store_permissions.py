"""Who may reach what in a store: extracted layers keep setuid bits and device
nodes, so they must be out of reach of every other host user, in a new store and
in one made before the modes were kept (repaired when a command opens it)."""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_testkit import reachable_dir, run_cli

from minidock.layer.entry import Entry, EntryKind
from minidock.layer.writer import LayerBuilder
from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.settings import Settings
from minidock.store.store import Image, Store

if os.geteuid() != 0:
    pytest.skip("needs root: makes a user, extracts setuid files and device nodes",
                allow_module_level=True)

USER = "minidock-other"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture(scope="module")
def other_user() -> Iterator[pwd.struct_passwd]:
    """An ordinary host user that is neither the store's owner nor in its group."""
    created = False
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/bin/false",
                        USER], check=True, capture_output=True)
        created = True
        user = pwd.getpwnam(USER)
    yield user
    if created:
        subprocess.run(["userdel", USER], check=True, capture_output=True)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    with reachable_dir("minidock-perms-") as path:
        yield path


def _hostile_image(store: Store) -> Image:
    """One layer with a setuid-root binary and a world-writable device node."""
    builder = LayerBuilder(source_date_epoch=1_700_000_000)
    builder.add_dir("bin", mode=0o755, mtime=1_700_000_000)
    builder.add_dir("dev", mode=0o755, mtime=1_700_000_000)
    binary = Path(BUSYBOX).read_bytes()
    builder.add(Entry("bin/suid-sh", EntryKind.FILE, 0o4755, size=len(binary), source=binary,
                      mtime=1_700_000_000))
    builder.add(Entry("dev/null-like", EntryKind.CHAR, 0o666, devmajor=1, devminor=3,
                      mtime=1_700_000_000))
    with store.writing(), store.blob_writer() as sink:
        info = builder.write(sink, "gzip")
        sink.commit()
    cfg = {"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": [str(info.diff_id)]}}
    return store.add_image(cfg, [Descriptor(info.media_type, info.digest, info.size)],
                           tags=[parse("hostile:1")])


def _what_user_reaches(user: pwd.struct_passwd, paths: list[Path]) -> dict[str, str]:
    """For each path, "ok" if `user` can open it, else the errno name (EACCES, ...)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            out = {}
            for path in paths:
                try:
                    os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                    out[str(path)] = "ok"
                except OSError as exc:
                    out[str(path)] = errno.errorcode[exc.errno]
            os.write(write_fd, json.dumps(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)


def _extracted(store: Store, image: Image) -> list[Path]:
    layer = store.extracted_layer(image, 0)
    suid, device = layer / "bin" / "suid-sh", layer / "dev" / "null-like"
    assert os.stat(suid).st_mode & 0o4000 and os.stat(suid).st_uid == 0  # kept as in the image
    return [suid, device, store.root / "index.json", store.root / "containers"]


def test_a_new_stores_layers_are_out_of_other_users_reach(other_user: pwd.struct_passwd,
                                                          shared_dir: Path) -> None:
    store = Store(Settings.from_env({}, root=shared_dir / "store")).ensure()
    paths = _extracted(store, _hostile_image(store))
    assert set(_what_user_reaches(other_user, paths).values()) == {"EACCES"}
    assert os.stat(store.root).st_mode & 0o777 == 0o710
    for name in ("layers", "tmp", "containers", "volumes", "cache"):
        assert os.stat(store.root / name).st_mode & 0o777 == 0o700, name


def test_opening_an_old_store_repairs_its_modes(other_user: pwd.struct_passwd,
                                                shared_dir: Path) -> None:
    root = shared_dir / "store"
    store = Store(Settings.from_env({}, root=root)).ensure()
    paths = _extracted(store, _hostile_image(store))
    for path in (root, root / "layers", root / "tmp", root / "containers"):
        os.chmod(path, 0o755)  # as stores were made before
    before = _what_user_reaches(other_user, paths)
    assert before[str(paths[0])] == before[str(paths[1])] == "ok"  # the old exposure
    assert run_cli(root, "images", "-q").exit_code == 0  # any command opens the store
    assert set(_what_user_reaches(other_user, paths).values()) == {"EACCES"}
    assert store.image("hostile:1").id == Store(root).image("hostile:1").id  # still usable


def test_a_directory_that_is_no_store_keeps_its_modes(shared_dir: Path) -> None:
    """MINIDOCK_ROOT pointed at the wrong place must not close off someone's files."""
    (shared_dir / "cache").mkdir(mode=0o755)
    (shared_dir / "tmp").mkdir(mode=0o1777)
    os.chmod(shared_dir / "tmp", 0o1777)
    assert run_cli(shared_dir, "images", "-q").exit_code == 0
    assert os.stat(shared_dir).st_mode & 0o7777 == 0o755
    assert os.stat(shared_dir / "cache").st_mode & 0o7777 == 0o755
    assert os.stat(shared_dir / "tmp").st_mode & 0o7777 == 0o1777
