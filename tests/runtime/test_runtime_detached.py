"""Detached containers as their callers see them: the supervisor keeps none of the
caller's file descriptors, the caller's Container shows the started state, what
the supervisor runs is loaded before it forks; exec writes where it is told and
`exec -d` outlives the command that started it; a `--rm` container's layer."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from runtime_helpers import REPO, Minidock, wait_for

from minidock.runtime import control, create, options, start
from minidock.runtime.containers import find_container
from minidock.runtime.execution import start_exec


def _at_end_of_file(read_fd: int) -> bool:
    """True when every write end of the pipe is closed (a read returns b"" at once);
    False when some process still holds one (the read would block)."""
    os.set_blocking(read_fd, False)
    try:
        while data := os.read(read_fd, 4096):
            del data
        return True
    except BlockingIOError:
        return False


def test_run_detached_keeps_no_fd_of_the_caller(md: Minidock) -> None:
    """A pipe the caller hands down reaches its end as soon as `run -d` returns,
    as with Docker: nothing of the container holds it."""
    read_fd, write_fd = os.pipe()
    try:
        done = subprocess.run(md.argv("run", "-d", "--name", "fds", "busybox", "sleep", "1000"),
                              env=md.env, capture_output=True, pass_fds=(write_fd,), timeout=60)
        os.close(write_fd)
        write_fd = -1
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(rb"[0-9a-f]{64}\n", done.stdout)
        assert _at_end_of_file(read_fd)
        assert md.ok("ps", "--format", "{{.Names}} {{.Status}}").startswith("fds Up ")
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        md("rm", "-f", "fds")


def test_start_detached_in_a_library_caller(md: Minidock) -> None:
    """The Python API's way in: the caller's own fds (a pipe here, pytest's captured
    output too) stay the caller's, and its Container shows the started container."""
    opts = options.RunOptions(image="busybox", command=["sleep", "1000"], name="libstart",
                                publish=["127.0.0.1::8000"])
    container = create.create_container(md.settings(), opts)
    assert container.status == "created" and container.data["Ports"] == []
    read_fd, write_fd = os.pipe()  # close-on-exec, as Python makes every fd
    try:
        start.start_detached(container)
        os.close(write_fd)
        write_fd = -1
        assert _at_end_of_file(read_fd)
        assert container.status == "running"
        assert container.pid > 0 and container.container_alive()
        [port] = container.data["Ports"]
        assert port["IP"] == "127.0.0.1" and port["PrivatePort"] == 8000
        assert port["PublicPort"] > 0
        assert container.data == find_container(md.root, "libstart").data
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        control.remove_container(container, force=True)


def test_the_supervisor_code_is_loaded_before_the_fork(md: Minidock) -> None:
    """A long-lived caller imports what the supervisor and the sandbox run once, in
    its own process, rather than in every supervisor it forks."""
    script = (
        "import sys\n"
        "from minidock.runtime import create, options, start\n"
        "from minidock.settings import Settings\n"
        f"settings = Settings.from_env({{}}, root={str(md.root)!r})\n"
        "opts = options.RunOptions(image='busybox', command=['true'], rm=True)\n"
        "start.start_detached(create.create_container(settings, opts))\n"
        "wanted = ('minidock.runtime.supervisor', 'minidock.runtime.sandbox',\n"
        "          'minidock.runtime.inside')\n"
        "print(' '.join(name for name in wanted if name not in sys.modules) or 'all loaded')\n"
    )
    env = {**md.env, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "all loaded\n"), done.stderr
    wait_for(lambda: not md.ok("ps", "-aq"))  # --rm: gone once `true` ended


def test_exec_writes_to_the_fds_it_is_given(md: Minidock, capfd) -> None:  # type: ignore[no-untyped-def]
    md.ok("run", "-d", "--name", "execfds", "busybox", "sleep", "1000")
    container = find_container(md.root, "execfds")
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        box = start_exec(container, ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"],
                         env=[], user=None, workdir=None, stdin=None, tty=False,
                         stdout=out_w, stderr=err_w)
    finally:
        os.close(out_w)
        os.close(err_w)
    assert box.wait() == 3
    box.close()
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        assert (out.read(), err.read()) == (b"to-out\n", b"to-err\n")
    assert capfd.readouterr() == ("", "")  # nothing went to our own stdout or stderr
    md.ok("rm", "-f", "execfds")


def test_exec_detached_outlives_the_command(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "execd", "busybox", "sleep", "999")
    assert md.ok("exec", "-d", "execd", "sh", "-c", "echo ready > /ready; exec sleep 998") == ""
    wait_for(lambda: md("exec", "execd", "cat", "/ready").out == "ready\n")
    commands = md.ok("exec", "execd", "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
    assert "sleep 998" in commands  # still running, now that `exec -d` has returned
    md.ok("rm", "-f", "execd")


def test_a_rm_container_is_volatile_and_can_start_again_after_a_crash(md: Minidock) -> None:
    """The layer of a `--rm` container is thrown away, so it is never synced to disk
    (overlay's `volatile`); if its supervisor dies, it can still be started again."""
    md.ok("create", "--rm", "--name", "vol", "busybox", "sleep", "1000")
    md.ok("start", "vol")
    if md.driver == "overlay":
        root_mount = md.ok("exec", "vol", "cat", "/proc/mounts").splitlines()[0]
        assert root_mount.startswith("overlay / overlay ") and "volatile" in root_mount
    os.kill(find_container(md.root, "vol").supervisor_pid, signal.SIGKILL)
    wait_for(lambda: "Exited (137)" in md.ok("ps", "-a"))
    assert md.ok("start", "vol") == "vol\n"
    assert md.ok("exec", "vol", "echo", "again") == "again\n"
    md.ok("rm", "-f", "vol")
