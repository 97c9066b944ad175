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

Start-up travels back over one close-on-exec pipe as small messages: the
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

import gc
import os
import signal

from minidock.errors import CommandNotFound, CommandNotInvokable, RuntimeError_
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    from minidock.runtime.spec import SandboxSpec

# Start-up messages from the helper and PID 1 to the supervisor, on one pipe:
# a kind byte, a 2-byte length, the payload, each in one write (below PIPE_BUF,
# so two writers never interleave inside a message).
MSG_PID = b"P"  # the container's PID 1 (a host PID), from the helper
MSG_MAP_IDS = b"U"  # the helper made a user namespace: map its ids, then send MSG_GO
MSG_ERROR = b"E"  # "code:message": why the container (or exec) could not start
MSG_GO = b"G"  # supervisor -> helper, on the lifeline pipe
_MAX_PAYLOAD = 4000


class Stdio(Record):
    """What the container's fds 0-2 are; `stdin=None` means /dev/null.

    With `tty`, the container gets a new pseudo-terminal of its own devpts
    and the master end is handed back (Sandbox.pty_master); `winsize` is
    (rows, cols) to start with.
    """

    __slots__ = ("stdin", "stdout", "stderr", "tty", "winsize")

    def __init__(self, stdin: int | None, stdout: int, stderr: int, tty: bool = False,
                 winsize: tuple[int, int] | None = None):
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.winsize = winsize


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


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


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

    idmap = plan_idmap() if os.geteuid() != 0 else None
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    life_r, life_w = os.pipe2(os.O_CLOEXEC)
    ours = theirs = None
    if sockets or stdio.tty:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the helper
        code = 125
        try:
            os.close(report_r)
            os.close(life_w)
            if ours is not None:
                ours.close()
            inside.helper(spec, stdio, report_w, life_r, theirs, parent, idmap)
        except BaseException as exc:  # noqa: B036 - report whatever stopped us
            _report(report_w, exc)
            code = getattr(exc, "exit_code", 125)
        os._exit(code)
    os.close(report_w)
    os.close(life_r)
    if theirs is not None:
        theirs.close()
    try:
        ctr_pid = wait_started(report_r, pid, idmap, life_w)
        pty_master = receive_pty(ours) if stdio.tty else None
    except BaseException:
        os.close(life_w)
        if ours is not None:
            ours.close()
        _kill_and_reap(pid)
        raise
    finally:
        os.close(report_r)
    return Sandbox(pid, ctr_pid, ours, pty_master, life_w)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def send_message(fd: int, kind: bytes, payload: bytes = b"") -> None:
    """One start-up message (see MSG_*), written whole."""
    payload = payload[:_MAX_PAYLOAD]
    os.write(fd, kind + len(payload).to_bytes(2, "little") + payload)


def read_messages(fd: int):  # type: ignore[no-untyped-def]
    """Yield (kind, payload) start-up messages until every writer has closed the pipe:
    PID 1 holds it (close-on-exec) until its command was exec'd."""
    buf = b""
    while True:
        data = os.read(fd, 4096)
        buf += data
        while len(buf) >= 3:
            size = int.from_bytes(buf[1:3], "little")
            if len(buf) < 3 + size:
                break
            yield buf[:1], buf[3:3 + size]
            buf = buf[3 + size:]
        if not data:
            return


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
        raise _error_from(error, action)
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


def _read_error(fd: int) -> str:
    """The first error message on `fd` (read to its end), or ""."""
    error = ""
    for kind, payload in read_messages(fd):
        if kind == MSG_ERROR and not error:
            error = payload.decode(errors="replace")
    return error


def _error_from(text: str, action: str = "failed to start container") -> Exception:
    code_text, _, message = text.partition(":")
    code = int(code_text) if code_text.isdigit() else 125
    if code == 127:
        return CommandNotFound(f"{action}: {message}")
    if code == 126:
        return CommandNotInvokable(f"{action}: {message}")
    return RuntimeError_(message, exit_code=code)


def _report(fd: int, exc: BaseException) -> None:
    code = getattr(exc, "exit_code", 125)
    if isinstance(exc, OSError) and not getattr(exc, "exit_code", None):
        message = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    else:
        message = str(exc) or type(exc).__name__
    try:
        send_message(fd, MSG_ERROR, f"{code}:{message}".encode(errors="replace"))
    except OSError:
        pass


def close_fds_except(keep: set[int] | frozenset[int]) -> None:
    """Close every fd above 2 but `keep`.

    A forked process that never execs keeps every fd of its parent, close-on-exec
    or not: a caller's pipes, sockets and listeners would stay open for as long as
    it lives (a caller reading our output to its end would hang). The objects
    that owned those fds are left to Python, which must then never collect them
    (their finalizers would close fds reused since): `gc.freeze` makes sure.
    """
    gc.freeze()
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def install_stdio(stdin: int, stdout: int, stderr: int) -> None:
    """Make fds 0, 1 and 2 copies of the given fds (any of which may be 0-2 itself)."""
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (stdin, stdout, stderr)]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)


# ---- rootless id mapping ---------------------------------------------------

class IdMap(Record):
    """How the caller maps to root in a new user namespace.

    `external` uses the setuid helpers newuidmap/newgidmap with the caller's
    /etc/subuid and /etc/subgid ranges (so more than one id exists inside);
    otherwise the helper maps only itself, which needs no privileges.
    """

    __slots__ = ("uid", "gid", "external", "uid_ranges", "gid_ranges")

    def __init__(self, uid: int, gid: int, external: bool, uid_ranges: list[tuple[int, int]],
                 gid_ranges: list[tuple[int, int]]):
        self.uid = uid
        self.gid = gid
        self.external = external
        self.uid_ranges = uid_ranges
        self.gid_ranges = gid_ranges

    def apply(self, pid: int) -> None:
        import subprocess

        for tool, own, ranges in (("newuidmap", self.uid, self.uid_ranges),
                                  ("newgidmap", self.gid, self.gid_ranges)):
            args = [tool, str(pid), "0", str(own), "1"]
            inside = 1
            for start, count in ranges:
                args += [str(inside), str(start), str(count)]
                inside += count
            done = subprocess.run(args, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError_(f"{tool} failed: {done.stderr.strip()}")

    def write_own(self) -> None:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {self.uid} 1"),
                           ("gid_map", f"0 {self.gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)


def _subid_ranges(path: str, name: str, ident: int) -> list[tuple[int, int]]:
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (name, str(ident)) and \
                        parts[1].isdigit() and parts[2].isdigit():
                    ranges.append((int(parts[1]), int(parts[2])))
    except OSError:
        return []
    return ranges


def plan_idmap() -> IdMap:
    import pwd
    import shutil

    uid, gid = os.geteuid(), os.getegid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    uids = _subid_ranges("/etc/subuid", name, uid)
    gids = _subid_ranges("/etc/subgid", name, uid)
    external = bool(uids and gids and shutil.which("newuidmap") and shutil.which("newgidmap"))
    return IdMap(uid, gid, external, uids, gids)


