"""The store after what users do to it: a build killed mid-RUN, a full disk, a
corrupted blob behind the `run` cache. Each test has a store of its own, since
they prune or break it."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import Minidock, Result, add_busybox_image, wait_for

from minidock.settings import Settings
from minidock.store.store import Store

if os.geteuid() != 0:
    pytest.skip("kills builds and mounts filesystems: needs root", allow_module_level=True)


@pytest.fixture
def own_md(tmp_path: Path, driver: str) -> Minidock:
    """`minidock` on a store of this test's own with a busybox image."""
    root = tmp_path / "store"
    add_busybox_image(Store(Settings.from_env({}, root=root)).ensure(), "busybox:latest")
    return Minidock(root, driver)


def _build_entries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "tmp").rglob("build*"))


def test_prune_removes_what_a_build_killed_during_run_left(own_md: Minidock,
                                                           tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    # the marker is printed by the RUN, not echoed in its "Step" line
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN X=started; echo step-$X; sleep 600\n")
    build = own_md.popen("build", str(ctx), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert build.stdout is not None
    seen = b""
    while b"step-started" not in seen:
        line = build.stdout.readline()
        assert line, f"the build ended before its RUN started:\n{seen.decode()}"
        seen += line
    assert _build_entries(own_md.root)  # the RUN's bundle is in the store's tmp
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    build.stdout.close()
    # the step's container dies with its build (PDEATHSIG); wait until it is gone
    wait_for(lambda: not any(b"sleep\x00600" in _cmdline(pid) for pid in _pids()))
    own_md.ok("system", "prune", "-f")
    assert _build_entries(own_md.root) == []


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _error_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.err
    return lines[0]


@pytest.mark.parametrize("blob", ["config", "manifest"])
@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_run_refuses_an_image_whose_blob_changed_after_it_ran(own_md: Minidock, blob: str,
                                                              damage: str) -> None:
    assert own_md.ok("run", "--rm", "busybox", "echo", "first") == "first\n"  # now cached
    image = Store(own_md.settings()).image("busybox")
    digest = image.id if blob == "config" else image.digest
    path = own_md.root / "blobs" / "sha256" / digest.hex
    if damage == "corrupt":
        data = bytearray(path.read_bytes())
        data[-2] ^= 0x01  # same size, other bytes
        path.write_bytes(bytes(data))
    else:
        path.unlink()
    listing = own_md("images")
    assert listing.code != 0
    expected = _error_line(listing)
    inspect = own_md("inspect", "busybox")
    assert inspect.code != 0 and _error_line(inspect) == expected
    for args in (("run", "--rm", "busybox", "echo", "second"), ("create", "busybox")):
        result = own_md(*args)
        assert (result.code, _error_line(result)) == (125, expected), args
        assert "second" not in result.out
    tag = own_md("tag", "busybox", "other:1")
    assert tag.code != 0 and _error_line(tag) == expected
    assert own_md.ok("ps", "-a", "-q") == ""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs of this test's own, to fill to the last byte."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs",
                    str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def _fill(disk: Path) -> None:
    """Append to a ballast file outside the store until not one more byte fits."""
    fd = os.open(disk / "ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0


def test_a_full_disk_can_be_listed_and_freed(small_disk: Path, driver: str) -> None:
    root = small_disk / "store"
    add_busybox_image(Store(Settings.from_env({}, root=root)).ensure(), "busybox:latest")
    md = Minidock(root, driver)
    for name in ("spare1", "spare2"):
        md.ok("create", "--name", name, "busybox", "true")
    # the container fills the disk; recording its end then fails too
    filled = md("run", "--name", "filler", "busybox", "sh", "-c", "cat /dev/zero > /fill")
    assert filled.code != 0
    _fill(small_disk)

    listing = md.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}").splitlines()
    assert sorted(line.split()[0] for line in listing) == ["filler", "spare1", "spare2"]
    assert not any(" Up " in f" {line} " for line in listing)  # its supervisor is gone
    assert md.ok("system", "df").startswith("TYPE ")
    assert os.statvfs(small_disk).f_bavail == 0  # looking wrote nothing

    md.ok("rm", "-f", "spare1")
    _fill(small_disk)
    pruned = md.ok("system", "prune", "-f")
    assert "Deleted Containers:" in pruned
    _fill(small_disk)
    assert md.ok("container", "prune", "-f").endswith("Total reclaimed space: 0B\n")
    assert md.ok("ps", "-a", "-q") == ""


def test_a_container_keeps_the_intermediate_image_it_was_made_from(own_md: Minidock,
                                                                   tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("from the COPY step\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY f /f\nENV A=1\n")
    own_md.ok("build", "-q", "-t", "built", str(ctx))
    named = set(own_md.ok("images", "-q", "--no-trunc").split())
    (step,) = set(own_md.ok("images", "-a", "-q", "--no-trunc").split()) - named
    own_md.ok("create", "--name", "from-step", step, "cat", "/f")
    own_md.ok("rmi", "built")
    own_md.ok("builder", "prune", "-f")  # the build cache goes; the container's image stays
    assert step in own_md.ok("images", "-a", "-q", "--no-trunc").split()
    assert own_md.ok("start", "-a", "from-step") == "from the COPY step\n"
    own_md.ok("rm", "from-step")
