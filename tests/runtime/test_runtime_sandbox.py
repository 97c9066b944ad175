"""The namespace sandbox on a busybox rootfs made from the host's busybox, both drivers.

These call `minidock.runtime.sandbox` directly (no store, no CLI), so they
also run unchanged as an unprivileged user (see test_runtime_rootless.py).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import time
from pathlib import Path

import pytest
from runtime_helpers import busybox_layer_dir, mounts_under, processes_using

from minidock.errors import CommandNotFound, CommandNotInvokable, RuntimeError_
from minidock.runtime import inside, sandbox
from minidock.runtime.containers import process_start_time
from minidock.runtime.rootfs import get_driver
from minidock.runtime.spec import BindMount, ProcessSpec, SandboxSpec, Stdio

ROOTLESS = os.geteuid() != 0


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("layer")
    os.chmod(base, 0o755)
    return busybox_layer_dir(base / "rootfs")


class Box:
    """Makes bundles from the busybox layer and runs commands in them."""

    def __init__(self, layer: Path, base: Path, driver: str):
        self.layer = layer
        self.base = base
        self.driver = driver
        self.count = 0

    def bundle(self) -> Path:
        self.count += 1
        path = self.base / f"c{self.count}"
        path.mkdir()
        get_driver(self.driver).create(str(path), [str(self.layer)])
        (path / "hosts").write_text("127.0.0.1\tlocalhost\n")
        (path / "hostname").write_text("box\n")
        (path / "resolv.conf").write_text("nameserver 192.0.2.1\n")
        return path

    def spec(self, args: list[str], bundle: Path | None = None, **kw: object) -> SandboxSpec:
        process = ProcessSpec(args=args, env=["PATH=/bin", "HOSTNAME=cafe00000001"],
                              cwd=str(kw.pop("cwd", "/")), user=str(kw.pop("user", "")),
                              tty=bool(kw.pop("tty", False)))
        return SandboxSpec(id="c", bundle=str(bundle or self.bundle()), driver=self.driver,
                           hostname="cafe00000001", process=process, **kw)  # type: ignore[arg-type]

    def run(self, args: list[str], bundle: Path | None = None, stdin: int | None = None,
            **kw: object) -> tuple[int, str, str]:
        spec = self.spec(args, bundle, **kw)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            box = sandbox.start(spec, Stdio(stdin, out_w, err_w))
        finally:
            os.close(out_w)
            os.close(err_w)
        out, err = _drain(out_r, err_r)
        code = box.wait()
        box.close()
        return code, out, err


def _drain(*fds: int) -> tuple[str, ...]:
    data = {fd: b"" for fd in fds}
    open_fds = set(fds)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 10)
        assert ready, "container output did not end"
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                data[fd] += chunk
            else:
                open_fds.discard(fd)
                os.close(fd)
    return tuple(data[fd].decode() for fd in fds)


@pytest.fixture(params=["overlay", "copy"])
def box(request: pytest.FixtureRequest, layer: Path, tmp_path: Path) -> Box:
    os.chmod(tmp_path, 0o755)
    return Box(layer, tmp_path, request.param)


def test_output_exit_code_and_pid1(box: Box) -> None:
    code, out, err = box.run(["sh", "-c", "echo hello; echo oops >&2; echo $$; exit 3"])
    assert (code, out, err) == (3, "hello\n1\n", "oops\n")


def test_only_the_image_tree_is_visible(box: Box) -> None:
    code, out, _ = box.run(["sh", "-c", "ls /; hostname; cat /etc/hostname /etc/resolv.conf"])
    assert code == 0
    lines = out.split()
    assert lines[:8] == ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp"]
    assert "work" not in lines and "usr" not in lines  # nothing of the host
    assert "cafe00000001" in out and "box" in out and "192.0.2.1" in out


def test_processes_of_the_host_are_invisible(box: Box) -> None:
    code, out, _ = box.run(["sh", "-c", "echo /proc/[0-9]*"])
    assert (code, out) == (0, "/proc/1\n")  # the shell is alone in its PID namespace


def test_dev_has_the_minimal_nodes(box: Box) -> None:
    code, out, _ = box.run(["sh", "-c", "ls /dev; head -c 4 /dev/zero | wc -c; "
                            "echo x > /dev/null && echo null-ok; ls /dev/pts"])
    assert code == 0
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx",
                 "stdin", "stdout", "stderr", "fd"):
        assert name in out.split()
    assert "null-ok" in out and "\n4\n" in out


def test_kernel_interfaces_are_read_only_or_masked(box: Box) -> None:
    code, out, err = box.run(["sh", "-c", "echo 1 > /proc/sys/kernel/domainname; "
                              "touch /sys/x; cat /proc/keys | wc -c; "
                              "mount -t tmpfs none /mnt 2>&1; echo done"])
    assert "Read-only file system" in err
    assert out.splitlines()[0] == "0"  # /proc/keys shows /dev/null
    assert out.strip().endswith("done")


def test_capabilities_are_dockers_default_set(box: Box) -> None:
    code, out, _ = box.run(["sh", "-c", "grep CapBnd /proc/self/status"])
    bound = int(out.split()[1], 16)
    assert bound == sum(1 << c for c in inside.DEFAULT_CAPS)


def test_command_not_found_and_not_executable(box: Box) -> None:
    with pytest.raises(CommandNotFound) as info:
        box.run(["nosuchcmd"])
    assert info.value.exit_code == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in info.value.message
    with pytest.raises(CommandNotInvokable) as info2:
        box.run(["/etc/passwd"])
    assert info2.value.exit_code == 126
    with pytest.raises(CommandNotFound, match="no such file or directory"):
        box.run(["/bin/nope"])


def test_user_groups_env_and_workdir(box: Box) -> None:
    code, out, _ = box.run(["sh", "-c", "id; echo $HOME; pwd"], user="app", cwd="/tmp")
    assert code == 0
    assert out.splitlines() == ["uid=1000(app) gid=1000(app) groups=29(audio),50(staff),1000(app)",
                                "/home/app", "/tmp"]


def test_missing_workdir_is_created_and_unknown_user_fails(box: Box) -> None:
    code, out, _ = box.run(["pwd"], cwd="/new/dir")
    assert (code, out) == (0, "/new/dir\n")
    with pytest.raises(RuntimeError_, match="unable to find user nosuch") as info:
        box.run(["true"], user="nosuch")
    assert info.value.exit_code == 125


def test_read_only_rootfs(box: Box) -> None:
    code, _, err = box.run(["touch", "/x"], readonly=True)
    assert code == 1 and "Read-only file system" in err
    code, _, _ = box.run(["touch", "/tmp/../dev/shm/x"], readonly=True)
    assert code == 0


def test_binds_read_write_and_read_only(box: Box, tmp_path: Path) -> None:
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    for d in (rw, ro):
        d.mkdir()
        os.chmod(d, 0o777)
    (ro / "f").write_text("ro content\n")
    mounts = [BindMount(str(rw), "/mnt/rw"), BindMount(str(ro), "/mnt/ro", readonly=True)]
    code, out, err = box.run(["sh", "-c", "echo hi > /mnt/rw/new; cat /mnt/ro/f; "
                              "touch /mnt/ro/x"], mounts=mounts)
    assert code == 1 and out == "ro content\n" and "Read-only file system" in err
    assert (rw / "new").read_text() == "hi\n"
    assert not (ro / "x").exists()


def test_volume_is_seeded_from_the_image_once(box: Box, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    mounts = [BindMount(str(vol), "/var/www", seed=True)]
    code, out, _ = box.run(["sh", "-c", "cat /var/www/index.html; echo more > /var/www/x"],
                           mounts=mounts)
    assert code == 0 and "hello from busybox" in out
    assert sorted(os.listdir(vol)) == ["index.html", "x"]
    (vol / "index.html").write_text("changed\n")
    code, out, _ = box.run(["cat", "/var/www/index.html"], mounts=mounts)
    assert out == "changed\n"  # not seeded again: the volume is not empty


def test_hostile_mount_target_stays_inside_the_root(box: Box, tmp_path: Path) -> None:
    """A symlink in the image pointing at a host path is resolved inside the rootfs."""
    bundle = box.bundle()
    top = bundle / ("upper" if box.driver == "overlay" else "rootfs")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), top / "escape")
    src = tmp_path / "src"
    src.mkdir()
    (src / "payload").write_text("x")
    code, out, _ = box.run(["cat", f"{outside}/inner/payload"], bundle=bundle,
                           mounts=[BindMount(str(src), "/escape/inner")])
    assert (code, out) == (0, "x")  # made and mounted where the link points, in the rootfs
    assert list(outside.iterdir()) == []  # nothing was created or mounted on the host path


def test_init_reaps_and_forwards_signals(box: Box) -> None:
    spec = box.spec(["sh", "-c", "sleep 1000 & sleep 1000 & echo started; wait"], init=True)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    box_ = sandbox.start(spec, Stdio(None, out_w, out_w))
    os.close(out_w)
    assert os.read(out_r, 100) == b"started\n"
    start = time.monotonic()
    os.kill(box_.pid, signal.SIGTERM)  # PID 1 is the init: it passes SIGTERM on
    assert box_.wait() == 128 + signal.SIGTERM
    assert time.monotonic() - start < 5
    os.close(out_r)
    box_.close()


def test_pid1_without_handler_ignores_sigterm_but_not_sigkill(box: Box) -> None:
    spec = box.spec(["sleep", "1000"])
    started = sandbox.start(spec, Stdio(None, 1, 2))
    os.kill(started.pid, signal.SIGTERM)
    pidfd = os.pidfd_open(started.helper_pid)
    assert select.select([pidfd], [], [], 0.3)[0] == []  # still running, as in Docker
    os.kill(started.pid, signal.SIGKILL)
    assert started.wait() == 137
    os.close(pidfd)
    started.close()


def test_tty_gets_a_pty_of_its_own(box: Box) -> None:
    spec = box.spec(["sh", "-c", "tty; stty size; echo $TERM"], tty=True)
    started = sandbox.start(spec, Stdio(None, -1, -1, tty=True, winsize=(33, 101)))
    assert started.pty_master is not None
    data = b""
    while True:
        try:
            chunk = os.read(started.pty_master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    assert started.wait() == 0
    lines = data.decode().split()
    assert lines[0] == "/dev/pts/0" and lines[1:3] == ["33", "101"]
    started.close()


def test_loopback_is_up_and_sockets_come_from_the_container_netns(box: Box) -> None:
    spec = box.spec(["sh", "-c", "echo ready; nc -l -p 7000 -e echo inside"])
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    started = sandbox.start(spec, Stdio(None, out_w, out_w), sockets=True)
    os.close(out_w)
    assert os.read(out_r, 100) == b"ready\n"
    sock = started.tcp_socket()
    for _ in range(200):
        if sock.connect_ex(("127.0.0.1", 7000)) == 0:
            break
        sock.close()
        time.sleep(0.01)
        sock = started.tcp_socket()
    assert sock.recv(100) == b"inside\n"
    sock.close()
    with socket.socket() as host_side:  # the host's loopback is another one
        assert host_side.connect_ex(("127.0.0.1", 7000)) != 0
    started.wait()
    started.close()
    os.close(out_r)


def test_no_mount_or_process_outlives_the_container(box: Box) -> None:
    for _ in range(3):
        code, _, _ = box.run(["sh", "-c", "sleep 1000 & exit 0"])
        assert code == 0
    assert mounts_under(box.base) == []
    assert processes_using(box.base) == []


def test_helper_death_kills_the_container(box: Box) -> None:
    spec = box.spec(["sleep", "1000"])
    started = sandbox.start(spec, Stdio(None, 1, 2))
    os.kill(started.helper_pid, signal.SIGKILL)
    os.waitpid(started.helper_pid, 0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process_start_time(started.pid) is not None:
        time.sleep(0.01)
    assert process_start_time(started.pid) is None  # gone (or a zombie waiting for init)
    started.close()


def test_winsize_struct_is_what_the_kernel_uses() -> None:
    assert struct.calcsize("HHHH") == 8
