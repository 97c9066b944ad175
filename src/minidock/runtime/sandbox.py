"""The namespace sandbox: how one container process is started (the supervisor's side).

Process tree (host PIDs on the left)::

    supervisor (minidock run, or the detached per-container supervisor)
     └─ helper   setsid; unshare(user?, mnt, uts, ipc, net, pid); lo up;
        │        serves TCP sockets created in the container's netns
        └─ PID 1 of the container: mounts rootfs, /proc, /dev, /sys, /etc files,
                 volumes; pivot_root; hostname; user; exec
                 (with --init it stays as a tiny init and forks the command)

The helper exists because after `unshare(CLONE_NEWPID)` only the *next* child
lands in the new PID namespace. Every process gets `PR_SET_PDEATHSIG(SIGKILL)`,
so if the supervisor dies the helper dies, and when the container's PID 1 dies
the kernel kills the rest of its PID namespace: nothing outlives minidock.
What the helper and PID 1 do is in `minidock.runtime.inside`.

Start-up travels back over one close-on-exec pipe as small messages (procsync): the
container's PID from the helper, or `code:message` when something failed
(mount errors, unknown user, exec errors); end of file on that pipe means the
container's command was exec'd. A second pipe, the lifeline, goes the other
way: the helper kills the container when it closes.
A unix socket to the helper exists only when file descriptors must travel (a
tty's master, sockets for published ports), so a plain start never imports
the socket module. Mounts exist only in the container's mount namespace, so
they vanish with it.
"""

from __future__ import annotations

import os

from minidock.errors import RuntimeError_
from minidock.runtime.procsync import (
    MSG_ERROR,
    MSG_GO,
    MSG_MAP_IDS,
    MSG_PID,
    child_main,
    error_from,
    exit_code,
    kill_and_reap,
    read_messages,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    from minidock.runtime.idmap import IdMap
    from minidock.runtime.spec import SandboxSpec, Stdio

class Sandbox:
    """The supervisor's handle on a started container.

    `lifeline` is the write end of a pipe the helper watches: closing it (or
    this process dying) makes the helper kill the container. `ctrl`, a unix
    socket to the helper, exists only when the container was started with
    `sockets=True` or a tty: it carries file descriptors.
    """

    def __init__(self, helper_pid: int, pid: int, ctrl: socket.socket | None,
                 pty_master: int | None, lifeline: int | None = None):
        self.helper_pid = helper_pid
        self.pid = pid
        self.ctrl = ctrl
        self.pty_master = pty_master
        self.lifeline = lifeline

    def _control(self) -> socket.socket:
        if self.ctrl is None:
            raise RuntimeError_("the container was started without network sockets")
        return self.ctrl

    def tcp_socket(self) -> socket.socket:
        """A new, unconnected TCP socket that lives in the container's netns.

        Connecting it from here reaches the container's loopback: no setns needed.
        """
        self.request_socket()
        sock = self.receive_socket()
        if sock is None:
            raise RuntimeError_("the container's network helper is gone")
        return sock

    def request_socket(self) -> None:
        """Ask for a socket without waiting (read it later with `receive_socket`)."""
        self._control().send(b"S")

    def receive_socket(self) -> socket.socket | None:
        import socket

        msg, fds, _flags, _addr = socket.recv_fds(self._control(), 16, 1)
        if msg != b"S" or not fds:
            return None
        return socket.socket(fileno=fds[0])

    def wait(self) -> int:
        """Wait for the container to end; its exit code (128+n for signal n)."""
        _, status = os.waitpid(self.helper_pid, 0)
        return exit_code(status)

    def close(self) -> None:
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None
        if self.pty_master is not None:
            os.close(self.pty_master)
            self.pty_master = None


def start(spec: SandboxSpec, stdio: Stdio, *, sockets: bool = False) -> Sandbox:
    """Start the container of `spec`; returns once its command was exec'd.

    `sockets` keeps a unix socket to the helper so that `Sandbox.tcp_socket`
    can hand out sockets of the container's network namespace (published
    ports); without it (and without a tty) start-up needs only two pipes.
    Raises CommandNotFound (127), CommandNotInvokable (126) or RuntimeError_
    (125) with the reason when the container could not start; nothing is
    left running then.
    """
    from minidock.runtime import inside  # before the fork: loaded once per process

    idmap = None
    if os.geteuid() != 0:
        from minidock.runtime.idmap import plan_idmap

        idmap = plan_idmap()
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    life_r, life_w = os.pipe2(os.O_CLOEXEC)
    ours = theirs = None
    if sockets or stdio.tty:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the helper
        os.close(report_r)
        os.close(life_w)
        if ours is not None:
            ours.close()
        child_main(report_w, lambda: inside.helper(spec, stdio, report_w, life_r, theirs,
                                                   parent, idmap))
    os.close(report_w)
    os.close(life_r)
    if theirs is not None:
        theirs.close()
    return await_start(pid, report_r, life_w, ours, idmap, stdio.tty)


def await_start(helper_pid: int, report_r: int, life_w: int, ctrl: socket.socket | None,
                idmap: IdMap | None, tty: bool, action: str = "failed to start container"
                ) -> Sandbox:
    """The parent's side once the helper is forked (and the child's pipe ends are
    closed here): follow start-up, take the pty master, return the handle. On a
    failure the helper is killed and reaped, so nothing is left running."""
    try:
        pid = wait_started(report_r, helper_pid, idmap, life_w, action)
        pty_master = receive_pty(ctrl) if tty else None
    except BaseException:
        os.close(life_w)
        if ctrl is not None:
            ctrl.close()
        kill_and_reap(helper_pid)
        raise
    finally:
        os.close(report_r)
    return Sandbox(helper_pid, pid, ctrl, pty_master, life_w)


def wait_started(fd: int, helper_pid: int, idmap: IdMap | None, lifeline: int,
                 action: str = "failed to start container") -> int:
    """Follow start-up through the messages on `fd`; the container's PID once its
    command was exec'd. Maps the ids of the helper's user namespace when asked.
    Raises the start-up error (`action` prefixes the 126/127 messages)."""
    pid = 0
    error = ""
    for kind, payload in read_messages(fd):
        if kind == MSG_PID:
            pid = int.from_bytes(payload, "little")
        elif kind == MSG_MAP_IDS and idmap is not None:
            idmap.apply(helper_pid)
            os.write(lifeline, MSG_GO)
        elif kind == MSG_ERROR and not error:
            error = payload.decode(errors="replace")
    if error:
        raise error_from(error, action)
    if not pid:
        raise RuntimeError_("the sandbox helper exited early")
    return pid


def receive_pty(ctrl: socket.socket | None) -> int:
    """The pty master PID 1 sent (it did so before its command was exec'd)."""
    import socket

    assert ctrl is not None
    msg, fds, _flags, _addr = socket.recv_fds(ctrl, 16, 1)
    if msg != b"T" or not fds:
        raise RuntimeError_("the container did not hand over its terminal")
    return fds[0]
