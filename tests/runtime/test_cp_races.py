"""`cp` into a container that swaps what it copies into for a link to a host file.

The class of CVE-2018-15664: a metadata change or a create done by name after
the container replaced the name with a symlink lands on the link's target,
which `cp` resolves on the host. Each test makes a host file, lets the
container race to put a link to it where `cp` works, and checks on the host
that the file's mode and bytes did not change.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from runtime_helpers import Minidock

ROUNDS = 4
FILES = 400  # a directory big enough that the swapper wins the race without fail


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    target = tmp_path / "host-secret"
    target.write_bytes(b"host bytes\n")
    os.chmod(target, 0o600)
    os.chmod(tmp_path, 0o755)
    return target


def _source_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    (tree / "d").mkdir(parents=True)
    for i in range(FILES):
        (tree / "d" / f"f{i:04d}").write_bytes(b"copied\n")
    (tree / "d" / "f0000").chmod(0o777)
    os.chmod(tree / "d", 0o777)
    return tree / "d"


def _swapper(host_file: Path, dest: str) -> str:
    """Shell that waits for `dest` to appear and puts a link to the host file in its place."""
    return (f"while :; do if [ -e {dest} ] && [ ! -L {dest} ]; then "
            f"mv {dest} {dest}.old$$; ln -s {host_file} {dest}; break; fi; done")


def _assert_untouched(host_file: Path) -> None:
    st = os.lstat(host_file)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert host_file.read_bytes() == b"host bytes\n"


def test_cp_of_a_directory_into_a_racing_container_leaves_the_host_file(
        md: Minidock, host_file: Path, tmp_path: Path) -> None:
    source = _source_tree(tmp_path)
    md.ok("run", "-d", "--name", "cp-race", "busybox", "sleep", "1000")
    try:
        # a link already at the destination is never followed to the host
        md.ok("exec", "cp-race", "ln", "-s", str(host_file), "/pre-placed")
        result = md("cp", str(source), "cp-race:/pre-placed")
        assert result.code != 0 and "Traceback" not in result.err
        md.ok("cp", str(source / "f0000"), "cp-race:/pre-placed")
        _assert_untouched(host_file)
        for n in range(ROUNDS):
            dest = f"/round{n}"
            swapper = md.popen("exec", "cp-race", "sh", "-c", _swapper(host_file, dest))
            result = md("cp", str(source), f"cp-race:{dest}")
            assert "Traceback" not in result.err
            swapper.wait(timeout=60)
            _assert_untouched(host_file)
            if result.code == 0:  # the copy went on in the directory the container moved
                listing = md.ok("exec", "cp-race", "sh", "-c", f"ls {dest}.old*/ | wc -l")
                assert int(listing) == FILES
            else:  # or stopped: the name no longer was what cp had made
                assert result.err.startswith("Error: ") and result.err.count("\n") == 1
    finally:
        md.ok("rm", "-f", "cp-race")


def test_tar_into_a_container_that_swaps_a_file_mid_stream_leaves_the_host_file(
        md: Minidock, host_file: Path) -> None:
    """Deterministic: the stream stops halfway through a member's data, the container
    replaces the half-written file with a link to the host file, the stream goes on."""
    size = 1 << 20
    info = tarfile.TarInfo("f")
    info.size, info.mode = size, 0o777
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(b"c" * size))
    stream = buf.getvalue()
    md.ok("run", "-d", "--name", "cp-tar-race", "busybox", "sleep", "1000")
    try:
        md.ok("exec", "cp-tar-race", "mkdir", "/dest")
        cp = md.popen("cp", "-", "cp-tar-race:/dest", stdin=subprocess.PIPE,
                      stderr=subprocess.PIPE)
        assert cp.stdin is not None
        cp.stdin.write(stream[:size // 2])
        cp.stdin.flush()
        md.ok("exec", "cp-tar-race", "sh", "-c", _swapper(host_file, "/dest/f"))
        cp.stdin.write(stream[size // 2:])
        cp.stdin.close()
        assert cp.wait(timeout=60) in (0, 1)
        _assert_untouched(host_file)
        # the bytes went to the file cp created, which the container moved
        assert md.ok("exec", "cp-tar-race", "sh", "-c", "cat /dest/f.old* | wc -c").strip() == \
            str(size)
    finally:
        md.ok("rm", "-f", "cp-tar-race")
