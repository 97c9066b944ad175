"""`exec`: run another process in a running container.

A child joins the namespaces of the container's PID 1 with setns (user first
when the container has its own, then ipc, uts, net, pid, mnt — joining the
mount namespace also moves its root to the container's root). A PID namespace
applies only to children, so it forks once more; that grandchild sets up user,
env and cwd exactly like the container's own command (sandbox._become_command)
and execs. The first child stays to pass the exit status back.
"""

from __future__ import annotations

import os
import signal
import socket
import struct

from minidock.errors import ConflictError, RuntimeError_
from minidock.runtime import libc
from minidock.runtime.containers import Container
from minidock.runtime.options import merge_env
from minidock.runtime.sandbox import (
    IdMap,
    Sandbox,
    Stdio,
    _become_command,
    _error_from,
    _read_error,
    _report,
    exit_code,
)
from minidock.runtime.spec import ProcessSpec

NAMESPACES = (("ipc", libc.CLONE_NEWIPC), ("uts", libc.CLONE_NEWUTS),
              ("net", libc.CLONE_NEWNET), ("pid", libc.CLONE_NEWPID),
              ("mnt", libc.CLONE_NEWNS))


def _same_ns(pid: int, kind: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino


def start_exec(container: Container, args: list[str], *, env: list[str], user: str | None,
               workdir: str | None, stdin: int | None, tty: bool,
               winsize: tuple[int, int] | None = None) -> Sandbox:
    """Start `args` inside the running `container`; returns once it was exec'd.

    The result is a Sandbox handle whose `helper_pid` is our child (wait on
    it for the exit code) and whose `pid` is the exec'd process.
    """
    container.refresh()
    if not container.running or not container.container_alive():
        raise ConflictError(f"container {container.short_id} is not running")
    spec = container.spec
    target = container.pid
    if workdir is not None and not workdir.startswith("/"):
        raise RuntimeError_(f"the working directory {workdir!r} is invalid, it needs to be an "
                            "absolute path")
    process = ProcessSpec(args=list(args), env=merge_env(spec.process.env, env),
                          cwd=workdir or spec.process.cwd,
                          user=spec.process.user if user is None else user, tty=tty)
    exec_spec = spec.replace(process=process, init=False)
    fds: list[int] = []
    try:
        own_user = not _same_ns(target, "user")
        if own_user:
            fds.append(os.open(f"/proc/{target}/ns/user", os.O_RDONLY | os.O_CLOEXEC))
        for kind, _flag in NAMESPACES:
            fds.append(os.open(f"/proc/{target}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
        with open(f"/proc/{target}/setgroups") as f:
            setgroups_denied = f.read().strip() == "deny"
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        raise ConflictError(f"container {container.short_id} is not running: "
                            f"{exc.strerror}") from None
    idmap = IdMap(os.geteuid(), os.getegid(), external=not setgroups_denied,
                  uid_ranges=[], gid_ranges=[]) if own_user else None
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last_cap = int(f.read())
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stdio = Stdio(stdin, 1, 2, tty=tty, winsize=winsize)
    pid = os.fork()
    if pid == 0:
        code = 125
        try:
            ours.close()
            os.close(err_r)
            os.setsid()
            libc.set_pdeathsig(signal.SIGKILL)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(stdin if stdin is not None else null, 0)
            os.close(null)
            for fd in fds:
                libc.setns(fd, 0)
                os.close(fd)
            child = os.fork()
            if child == 0:
                code = 125
                try:
                    libc.set_pdeathsig(signal.SIGKILL)
                    _become_command(exec_spec, stdio, theirs, idmap, last_cap)
                except BaseException as exc:  # noqa: B036 - report whatever stopped us
                    _report(err_w, exc)
                    code = getattr(exc, "exit_code", 125)
                os._exit(code)
            theirs.send(b"P" + struct.pack("i", child))
            os.close(err_w)
            _, status = os.waitpid(child, 0)
            code = exit_code(status)
        except BaseException as exc:  # noqa: B036 - report whatever stopped us
            _report(err_w, exc)
            code = getattr(exc, "exit_code", 125)
        os._exit(code)
    for fd in fds:
        os.close(fd)
    theirs.close()
    os.close(err_w)
    try:
        error = _read_error(err_r)
        if error:
            raise _error_from(error, "exec failed")
        child_pid = 0
        pty_master = None
        while not child_pid or (tty and pty_master is None):
            msg, got, _flags, _addr = socket.recv_fds(ours, 16, 1)
            if not msg:
                raise RuntimeError_("exec failed: the helper exited early")
            if msg[:1] == b"P":
                child_pid = struct.unpack("i", msg[1:5])[0]
            elif msg == b"T" and got:
                pty_master = got[0]
    except BaseException:
        ours.close()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(err_r)
    return Sandbox(pid, child_pid, ours, pty_master)


def run_exec(container: Container, args: list[str], *, env: list[str], user: str | None,
             workdir: str | None, interactive: bool, tty: bool,
             winsize: tuple[int, int] | None = None) -> int:
    """`exec` in the foreground: the terminal is relayed for -t; returns the exit code."""
    from minidock.runtime.lifecycle import _raw_terminal
    from minidock.runtime.supervisor import Supervisor

    box = start_exec(container, args, env=env, user=user, workdir=workdir,
                     stdin=0 if interactive else None, tty=tty, winsize=winsize)
    sup = Supervisor(box, out_r=None, err_r=None, log=None, listeners=[], attach=True,
                     relay_stdin=interactive and tty)
    with _raw_terminal(tty and interactive):
        code = sup.run()
    box.close()
    return code
