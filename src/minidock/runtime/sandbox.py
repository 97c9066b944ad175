"""The namespace sandbox: how one container process is started.

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

Start-up failures (mount errors, unknown user, exec errors) travel back over a
close-on-exec pipe as `code:message`; end of file on that pipe means the
container's command was exec'd. Mounts exist only in the container's mount
namespace, so they vanish with it.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import stat
import struct
import termios

from minidock.errors import CommandNotFound, CommandNotInvokable, RuntimeError_
from minidock.runtime import libc
from minidock.runtime.record import Record
from minidock.runtime.rootfs import get_driver
from minidock.runtime.rootpath import fd_path, make_dirs, make_mountpoint, open_in_root
from minidock.runtime.spec import SandboxSpec
from minidock.runtime.users import resolve_user

# Docker's default capability set, by number
DEFAULT_CAPS = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31})
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))
FORWARDED_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM)

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP_RUNNING = 0x1 | 0x40
_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_MNT_KEEP = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC | libc.MS_NOATIME | 2048


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
    """The supervisor's handle on a started container."""

    def __init__(self, helper_pid: int, pid: int, ctrl: socket.socket,
                 pty_master: int | None):
        self.helper_pid = helper_pid
        self.pid = pid
        self.ctrl = ctrl
        self.pty_master = pty_master

    def tcp_socket(self) -> socket.socket:
        """A new, unconnected TCP socket that lives in the container's netns.

        Connecting it from here reaches the container's loopback: no setns needed.
        """
        self.ctrl.send(b"S")
        msg, fds, _flags, _addr = socket.recv_fds(self.ctrl, 16, 1)
        if msg != b"S" or not fds:
            raise RuntimeError_("the container's network helper is gone")
        return socket.socket(fileno=fds[0])

    def request_socket(self) -> None:
        """Ask for a socket without waiting (read it later with `receive_socket`)."""
        self.ctrl.send(b"S")

    def receive_socket(self) -> socket.socket | None:
        msg, fds, _flags, _addr = socket.recv_fds(self.ctrl, 16, 1)
        if msg != b"S" or not fds:
            return None
        return socket.socket(fileno=fds[0])

    def wait(self) -> int:
        """Wait for the container to end; its exit code (128+n for signal n)."""
        _, status = os.waitpid(self.helper_pid, 0)
        return exit_code(status)

    def close(self) -> None:
        self.ctrl.close()
        if self.pty_master is not None:
            os.close(self.pty_master)
            self.pty_master = None


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def start(spec: SandboxSpec, stdio: Stdio) -> Sandbox:
    """Start the container of `spec`; returns once its command was exec'd.

    Raises CommandNotFound (127), CommandNotInvokable (126) or RuntimeError_
    (125) with the reason when the container could not start; nothing is
    left running then.
    """
    rootless = os.geteuid() != 0
    idmap = plan_idmap() if rootless else None
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the helper
        code = 125
        try:
            ours.close()
            os.close(err_r)
            _helper(spec, stdio, theirs, err_w, parent, idmap)
        except BaseException as exc:  # noqa: B036 - report whatever stopped us
            _report(err_w, exc)
            code = getattr(exc, "exit_code", 125)
        os._exit(code)
    theirs.close()
    os.close(err_w)
    try:
        if idmap is not None and idmap.external:
            if ours.recv(16) != b"U":
                raise RuntimeError_(_read_error(err_r) or "the sandbox helper failed")
            idmap.apply(pid)
            ours.send(b"G")
        error = _read_error(err_r)
        if error:
            raise _error_from(error)
        ctr_pid = 0
        pty_master = None
        while not ctr_pid or (stdio.tty and pty_master is None):
            msg, fds, _flags, _addr = socket.recv_fds(ours, 16, 1)
            if not msg:
                raise RuntimeError_("the sandbox helper exited early")
            if msg[:1] == b"P":
                ctr_pid = struct.unpack("i", msg[1:5])[0]
            elif msg == b"T" and fds:
                pty_master = fds[0]
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
    return Sandbox(pid, ctr_pid, ours, pty_master)


def _read_error(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def _error_from(text: str, action: str = "failed to start container") -> Exception:
    code_text, _, message = text.partition(":")
    code = int(code_text) if code_text.isdigit() else 125
    if code == 127:
        return CommandNotFound(f"{action}: {message}")
    if code == 126:
        return CommandNotInvokable(f"{action}: {message}")
    return RuntimeError_(message, exit_code=code)


def _report(err_w: int, exc: BaseException) -> None:
    code = getattr(exc, "exit_code", 125)
    if isinstance(exc, OSError) and not getattr(exc, "exit_code", None):
        message = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    else:
        message = str(exc) or type(exc).__name__
    try:
        os.write(err_w, f"{code}:{message}".encode(errors="replace"))
    except OSError:
        pass


class _StartFailure(Exception):
    def __init__(self, message: str, exit_code: int = 125):
        super().__init__(message)
        self.exit_code = exit_code


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


# ---- the helper (host PID namespace, container's other namespaces) ---------

def _reset_signals() -> None:
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _helper(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket, err_w: int, parent: int,
            idmap: IdMap | None) -> None:
    os.setsid()  # out of the terminal's process group: Ctrl-C is forwarded, not delivered
    libc.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:
        raise _StartFailure("the supervisor exited during start-up")
    _reset_signals()
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(stdio.stdin if stdio.stdin is not None else null, 0)
    os.dup2(stdio.stdout if stdio.stdout >= 0 else null, 1)  # with a tty: replaced later
    os.dup2(stdio.stderr if stdio.stderr >= 0 else null, 2)
    os.close(null)
    _close_fds_except({ctrl.fileno(), err_w})
    flags = libc.CLONE_NEWNS | libc.CLONE_NEWUTS | libc.CLONE_NEWIPC | libc.CLONE_NEWPID
    if spec.network != "host":
        flags |= libc.CLONE_NEWNET
    if idmap is not None:
        flags |= libc.CLONE_NEWUSER
    try:
        libc.unshare(flags)
    except OSError as exc:
        raise _StartFailure(f"cannot create the container's namespaces: {exc.strerror}"
                            ) from None
    if idmap is not None:
        if idmap.external:
            ctrl.send(b"U")
            if ctrl.recv(16) != b"G":
                raise _StartFailure("user namespace mapping failed")
        else:
            idmap.write_own()
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    if spec.network != "host":
        loopback_up()
    pid = os.fork()
    if pid == 0:
        code = 125
        try:
            _container(spec, stdio, ctrl, err_w, idmap)
        except BaseException as exc:  # noqa: B036 - report whatever stopped us
            _report(err_w, exc)
            code = getattr(exc, "exit_code", 125)
        os._exit(code)
    ctrl.send(b"P" + struct.pack("i", pid))
    os.close(err_w)
    for fd in (0, 1, 2):
        os.close(fd)
    _serve(ctrl, pid)


def _close_fds_except(keep: set[int]) -> None:
    """Drop every inherited fd above 2 but `keep`: the helper never execs, so
    close-on-exec does not protect the supervisor's pipes and listeners."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def loopback_up() -> None:
    """Bring `lo` up in the current network namespace (ioctl, no `ip` process)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP_RUNNING))


def _serve(ctrl: socket.socket, pid: int) -> None:
    """Wait for the container; meanwhile hand out sockets of its netns."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(ctrl, select.POLLIN)
    while True:
        for fd, _ev in poller.poll():
            if fd == pidfd:
                _, status = os.waitpid(pid, 0)
                os._exit(exit_code(status))
            try:
                requests = ctrl.recv(64)
            except OSError:
                requests = b""
            if not requests:  # the supervisor is gone
                poller.unregister(ctrl)
                os.kill(pid, signal.SIGKILL)
                continue
            for _ in range(requests.count(b"S")):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    socket.send_fds(ctrl, [b"S"], [s.fileno()])


# ---- PID 1 of the container ------------------------------------------------

def _container(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket, err_w: int,
               idmap: IdMap | None) -> None:
    libc.set_pdeathsig(signal.SIGKILL)
    rootless = idmap is not None
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last_cap = int(f.read())
    driver = get_driver(spec.driver)
    try:
        root = driver.mount(spec.bundle, libc.mount, rootless=rootless)
    except OSError as exc:
        raise _StartFailure(f"cannot mount the container's rootfs ({spec.driver} driver): "
                            f"{exc.strerror}") from None
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _seed_volumes(spec, root_fd)
    _mount_proc(root_fd)
    _mount_dev(root_fd, rootless)
    _mount_sys(root_fd, spec.network == "host" and rootless)
    for name in ("hosts", "hostname", "resolv.conf"):
        _bind(root_fd, os.path.join(spec.bundle, name), f"/etc/{name}", False)
    for m in spec.mounts:
        try:
            _bind(root_fd, m.source, m.target, m.readonly)
        except OSError as exc:
            raise _StartFailure(f"cannot mount {m.source} on {m.target}: "
                                f"{exc.strerror}") from None
    _mask_paths(root_fd)
    if spec.readonly:
        libc.mount(None, root, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY)
    os.close(root_fd)
    os.chdir(root)
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")
    libc.sethostname(spec.hostname)
    if spec.init:
        _run_init(spec, stdio, ctrl, err_w, idmap, last_cap)
    else:
        _become_command(spec, stdio, ctrl, idmap, last_cap)


def _bind(root_fd: int, source: str, target: str, readonly: bool) -> None:
    is_dir = os.path.isdir(source)
    fd = make_mountpoint(root_fd, target, is_dir)
    try:
        libc.mount(source, fd_path(fd), None, libc.MS_BIND | libc.MS_REC)
    finally:
        os.close(fd)
    if readonly:
        _remount_ro(root_fd, target)


def _remount_ro(root_fd: int, target: str) -> None:
    fd = open_in_root(root_fd, target)
    try:
        path = fd_path(fd)
        keep = os.statvfs(path).f_flag & _MNT_KEEP
        libc.mount(None, path, None, libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | keep)
    finally:
        os.close(fd)


def _seed_volumes(spec: SandboxSpec, root_fd: int) -> None:
    """Copy the image's content at a volume's path into the volume when it is empty."""
    for m in spec.mounts:
        if not m.seed or not os.path.isdir(m.source) or os.listdir(m.source):
            continue
        try:
            fd = open_in_root(root_fd, m.target, os.O_PATH | os.O_DIRECTORY)
        except OSError:
            continue  # nothing (or no directory) there in the image
        try:
            from minidock.runtime.rootfs import TreeCopier

            TreeCopier().copy_tree(fd_path(fd), m.source)
            st = os.stat(fd_path(fd))
            try:
                os.chown(m.source, st.st_uid, st.st_gid)
                os.chmod(m.source, st.st_mode & 0o7777)
            except OSError:
                pass  # rootless without that id mapped: keep the volume's own owner
        finally:
            os.close(fd)


def _mount_proc(root_fd: int) -> None:
    fd = make_mountpoint(root_fd, "/proc", True)
    try:
        libc.mount("proc", fd_path(fd), "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
    finally:
        os.close(fd)


def _mount_dev(root_fd: int, rootless: bool) -> None:
    fd = make_mountpoint(root_fd, "/dev", True)
    try:
        libc.mount("tmpfs", fd_path(fd), "tmpfs", libc.MS_NOSUID | libc.MS_STRICTATIME,
                   "mode=755,size=65536k")
    finally:
        os.close(fd)
    dev = open_in_root(root_fd, "/dev", os.O_PATH | os.O_DIRECTORY)
    try:
        for name in DEVICES:
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666, dir_fd=dev))
            target = open_in_root(root_fd, f"/dev/{name}")
            try:
                libc.mount(f"/dev/{name}", fd_path(target), None, libc.MS_BIND)
            finally:
                os.close(target)
        for sub in ("pts", "shm", "mqueue"):
            os.mkdir(sub, 0o755, dir_fd=dev)
        for link, target_path in DEV_LINKS:
            os.symlink(target_path, link, dir_fd=dev)
    finally:
        os.close(dev)
    pts_opts = "newinstance,ptmxmode=0666,mode=0620" + ("" if rootless else ",gid=5")
    for sub, fstype, flags, data in (
            ("pts", "devpts", libc.MS_NOSUID | libc.MS_NOEXEC, pts_opts),
            ("shm", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC,
             "mode=1777,size=65536k"),
            ("mqueue", "mqueue", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC, None)):
        target = open_in_root(root_fd, f"/dev/{sub}")
        try:
            libc.mount(fstype, fd_path(target), fstype, flags, data)
        except OSError:
            if sub != "mqueue":  # a message-queue fs is a nicety, the others are needed
                raise
        finally:
            os.close(target)


def _mount_sys(root_fd: int, shared_netns_rootless: bool) -> None:
    """sysfs read-only; where a new sysfs is not allowed, the host's, read-only."""
    fd = make_mountpoint(root_fd, "/sys", True)
    try:
        path = fd_path(fd)
        flags = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC
        try:
            if shared_netns_rootless:
                raise PermissionError(1, "sysfs of a netns we do not own")
            libc.mount("sysfs", path, "sysfs", flags)
        except OSError:
            try:
                libc.mount("/sys", path, None, libc.MS_BIND | libc.MS_REC)
                keep = os.statvfs(path).f_flag & _MNT_KEEP
                libc.mount(None, path, None,
                           libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | keep)
            except OSError:
                pass  # /sys stays an empty directory
    finally:
        os.close(fd)


def _mask_paths(root_fd: int) -> None:
    for path in MASKED_PATHS:
        try:
            fd = open_in_root(root_fd, path)
        except OSError:
            continue
        try:
            is_dir = os.path.isdir(fd_path(fd))
            if is_dir:
                libc.mount("tmpfs", fd_path(fd), "tmpfs", libc.MS_RDONLY, "size=0")
            else:
                libc.mount("/dev/null", fd_path(fd), None, libc.MS_BIND)
        except OSError:
            pass
        finally:
            os.close(fd)
    for path in READONLY_PATHS:
        try:
            fd = open_in_root(root_fd, path)
        except OSError:
            continue
        try:
            libc.mount(fd_path(fd), fd_path(fd), None, libc.MS_BIND | libc.MS_REC)
        except OSError:
            continue
        finally:
            os.close(fd)
        _remount_ro(root_fd, path)  # opens the path again: the new bind mount is on top


def _setup_stdio(stdio: Stdio, ctrl: socket.socket) -> None:
    """New session; with a tty, a pty of the container's devpts as controlling tty."""
    if not stdio.tty:
        os.setsid()
        return
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("i", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))[0]
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    if stdio.winsize:
        rows, cols = stdio.winsize
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    socket.send_fds(ctrl, [b"T"], [master])
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _become_command(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket,
                    idmap: IdMap | None, last_cap: int) -> None:
    """Set up session, user, env and cwd of this process, then exec the command.

    Runs after pivot_root: everything it uses must already be imported.
    """
    _setup_stdio(stdio, ctrl)
    ctrl.close()
    user = resolve_user(spec.process.user)
    if stdio.tty:
        try:
            os.fchown(0, user.uid, -1)
        except OSError:
            pass
    env = dict(item.partition("=")[::2] for item in spec.process.env)
    env.setdefault("HOME", user.home)
    cwd = spec.process.cwd or "/"
    if not os.path.isdir(cwd):
        try:
            fd = make_dirs(os.open("/", os.O_PATH | os.O_DIRECTORY), cwd)
            os.close(fd)
        except OSError as exc:
            raise _StartFailure(f"cannot create the working directory {cwd}: "
                                f"{exc.strerror}") from None
    libc.limit_capabilities(set(DEFAULT_CAPS), last_cap)
    if idmap is None or idmap.external:
        os.setgroups(list(user.groups))
    try:
        os.setgid(user.gid)
        os.setuid(user.uid)
    except OSError as exc:
        raise _StartFailure(f"cannot switch to user {spec.process.user}: {exc.strerror}"
                            + (" (only root exists in this rootless container)"
                               if idmap is not None and not idmap.external else "")) from None
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise _StartFailure(f"cannot change to the working directory {cwd}: "
                            f"{exc.strerror}") from None
    reset_signals()
    path = find_executable(spec.process.args[0], env.get("PATH", ""))
    try:
        os.execve(path, spec.process.args, env)
    except OSError as exc:
        name = spec.process.args[0]
        if exc.errno == 2:
            raise _StartFailure(f'exec: "{name}": no such file or directory', 127) from None
        raise _StartFailure(f'exec: "{name}": {exc.strerror.lower()}', 126) from None


def reset_signals() -> None:
    """Default dispositions and an empty mask for the exec'd command.

    exec resets handled signals itself but keeps ignored ones (Python ignores
    SIGPIPE and SIGXFSZ), so only what Python changed needs a system call.
    """
    for sig in range(1, signal.NSIG):
        handler = signal.getsignal(sig)
        if handler is None or handler is signal.SIG_DFL:
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def find_executable(name: str, path_env: str) -> str:
    """Look `name` up like Go's exec.LookPath, with Docker's messages."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as exc:
            raise _StartFailure(f'exec: "{name}": stat {name}: {exc.strerror.lower()}',
                                127 if exc.errno == 2 else 126) from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise _StartFailure(f'exec: "{name}": permission denied', 126)
        return name
    for directory in path_env.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    raise _StartFailure(f'exec: "{name}": executable file not found in $PATH', 127)


def _run_init(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket, err_w: int,
              idmap: IdMap | None, last_cap: int) -> None:
    """--init: stay as PID 1, run the command as a child, forward signals, reap.

    This process is already loaded in memory, so it needs nothing from the
    container's filesystem.
    """
    child = os.fork()
    if child == 0:
        code = 125
        try:
            libc.set_pdeathsig(signal.SIGKILL)
            _become_command(spec, stdio, ctrl, idmap, last_cap)
        except BaseException as exc:  # noqa: B036 - report whatever stopped us
            _report(err_w, exc)
            code = getattr(exc, "exit_code", 125)
        os._exit(code)
    ctrl.close()
    os.close(err_w)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if pid == child:
            os._exit(exit_code(status))
