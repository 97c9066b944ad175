"""`exec`: run another process in a running container.

A child joins the namespaces of the container's PID 1 with setns (user first
when the container has its own, then ipc, uts, net, pid, mnt — joining the
mount namespace also moves its root to the container's root). A PID namespace
applies only to children, so it forks once more; that grandchild sets up user,
env and cwd exactly like the container's own command (inside.become_command)
and execs. The first child stays to pass the exit status back.
"""

from __future__ import annotations

import os
import select
import signal

from minidock.errors import ConflictError, RuntimeError_
from minidock.runtime import libc, procsync
from minidock.runtime.containers import Container
from minidock.runtime.idmap import IdMap
from minidock.runtime.inside import become_command, last_capability, load_tty_support
from minidock.runtime.options import merge_env
from minidock.runtime.sandbox import Sandbox, await_start
from minidock.runtime.spec import ProcessSpec, Stdio

NAMESPACES = (("ipc", libc.CLONE_NEWIPC), ("uts", libc.CLONE_NEWUTS),
              ("net", libc.CLONE_NEWNET), ("pid", libc.CLONE_NEWPID),
              ("mnt", libc.CLONE_NEWNS))


def _same_ns(pid: int, kind: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino


def start_exec(container: Container, args: list[str], *, env: list[str], user: str | None,
               workdir: str | None, stdin: int | None, tty: bool,
               winsize: tuple[int, int] | None = None, stdout: int = 1,
               stderr: int = 2, detach: bool = False) -> Sandbox:
    """Start `args` inside the running `container`; returns once it was exec'd.

    Without a tty the process writes to `stdout` and `stderr` (this process's
    own by default; pass a pipe to capture the output: the process then holds
    the pipe's only other copy, so end of file means it and its children are
    done) and reads `stdin` (None: /dev/null). The result is a Sandbox handle
    whose `helper_pid` is our child (wait on it for the exit code) and whose
    `pid` is the exec'd process. With `detach` (`exec -d`) the process is left
    to the container (its init reaps it) and outlives this one; the helper
    then exits at once, with 0.
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
    last_cap = last_capability()
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    life_r, life_w = os.pipe2(os.O_CLOEXEC)
    ours = theirs = None
    if tty:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stdio = Stdio(stdin, 1, 2, tty=tty, winsize=winsize)

    def exec_helper() -> int:
        """Join the container's namespaces, fork the command, pass its exit code on."""
        os.setsid()
        libc.set_pdeathsig(signal.SIGKILL)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        procsync.install_stdio(null if stdin is None else stdin, stdout, stderr)
        keep = {report_w, life_r, *fds}
        if theirs is not None:
            keep.add(theirs.fileno())
            load_tty_support()  # the container's mount namespace has not our files
        procsync.close_fds_except(keep)
        for fd in fds:
            libc.setns(fd, 0)
            os.close(fd)
        child = os.fork()
        if child == 0:
            def command() -> None:
                if not detach:
                    libc.set_pdeathsig(signal.SIGKILL)
                os.close(life_r)
                become_command(exec_spec, stdio, theirs, idmap, last_cap)

            procsync.child_main(report_w, command)
        procsync.send_message(report_w, procsync.MSG_PID, child.to_bytes(4, "little"))
        os.close(report_w)
        for fd in (0, 1, 2):
            os.close(fd)
        return 0 if detach else _wait_exec(child, life_r)

    pid = os.fork()
    if pid == 0:
        procsync.child_main(report_w, exec_helper)
    for fd in fds:
        os.close(fd)
    os.close(report_w)
    os.close(life_r)
    if theirs is not None:
        theirs.close()
    return await_start(pid, report_r, life_w, ours, None, tty, "exec failed")


def _wait_exec(child: int, life_r: int) -> int:
    """The exec'd process's exit code; it is killed if the caller lets go first.
    (This runs in the container's mount namespace: it must import nothing.)"""
    pidfd = os.pidfd_open(child)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(life_r, select.POLLIN)
    while True:
        for fd, _ev in poller.poll():
            if fd == life_r:
                poller.unregister(life_r)
                os.kill(child, signal.SIGKILL)
                continue
            _, status = os.waitpid(child, 0)
            return procsync.exit_code(status)


def run_exec(container: Container, args: list[str], *, env: list[str], user: str | None,
             workdir: str | None, interactive: bool, tty: bool,
             winsize: tuple[int, int] | None = None) -> int:
    """`exec` in the foreground: the terminal is relayed for -t; returns the exit code."""
    from minidock.runtime.supervisor import RawTerminal, Supervisor

    box = start_exec(container, args, env=env, user=user, workdir=workdir,
                     stdin=0 if interactive else None, tty=tty, winsize=winsize)
    sup = Supervisor(box, out_r=None, err_r=None, log=None, listeners=[], attach=True,
                     relay_stdin=interactive and tty)
    with RawTerminal(tty and interactive):
        code = sup.run()
    box.close()
    return code
