"""The sandbox from the inside: what the helper and the container's PID 1 do.

The supervisor's side (forking the helper, the start-up messages, the handle
on a running container) is `minidock.runtime.sandbox`; this module runs in
the forked processes, which find it loaded: `sandbox.start` imports it
before it forks, so a process that starts many containers loads it once.

The helper and PID 1 share a mount namespace: once PID 1 has called
pivot_root, the helper's root is the container's too. So nothing here may
import anything after that point: whatever PID 1 (after pivot_root), the
helper (while it serves) or an exec (after setns) uses must already be loaded.
"""

from __future__ import annotations

import os
import select
import signal
import stat

from minidock.runtime import libc
from minidock.runtime.procsync import (
    MSG_PID,
    child_main,
    close_fds_except,
    exit_code,
    install_stdio,
    send_message,
)
from minidock.runtime.rootfs import get_driver
from minidock.runtime.rootpath import fd_path, make_dirs, make_mountpoint, open_in_root
from minidock.runtime.users import resolve_user

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    from minidock.runtime.idmap import IdMap
    from minidock.runtime.spec import SandboxSpec, Stdio

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

_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_MNT_KEEP = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC | libc.MS_NOATIME | 2048


class _StartFailure(Exception):
    def __init__(self, message: str, exit_code: int = 125):
        super().__init__(message)
        self.exit_code = exit_code


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


# ---- the helper (host PID namespace, container's other namespaces) ---------

def _reset_signals() -> None:
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def helper(spec: SandboxSpec, stdio: Stdio, report_w: int, life_r: int,
           ctrl: socket.socket | None, parent: int, idmap: IdMap | None) -> None:
    """The helper (see minidock.runtime.sandbox): the namespaces, then PID 1; then
    it serves until the container ends. Never returns."""
    os.setsid()  # out of the terminal's process group: Ctrl-C is forwarded, not delivered
    libc.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:
        raise _StartFailure("the supervisor exited during start-up")
    _reset_signals()
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    install_stdio(stdio.stdin if stdio.stdin is not None else null,
                  stdio.stdout if stdio.stdout >= 0 else null,  # with a tty: replaced later
                  stdio.stderr if stdio.stderr >= 0 else null)
    keep = {report_w, life_r}
    if ctrl is not None:
        keep.add(ctrl.fileno())
    close_fds_except(keep)
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
    if idmap is not None:  # rootless: sandbox.start loaded idmap before the fork
        from minidock.runtime.idmap import map_own_ids

        map_own_ids(idmap, report_w, life_r)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    if spec.network != "host":
        libc.loopback_up()
    pid = os.fork()
    if pid == 0:
        os.close(life_r)
        child_main(report_w, lambda: _container(spec, stdio, ctrl, report_w, idmap))
    send_message(report_w, MSG_PID, pid.to_bytes(4, "little"))
    os.close(report_w)
    for fd in (0, 1, 2):
        os.close(fd)
    _serve(life_r, ctrl, pid)


def _serve(life_r: int, ctrl: socket.socket | None, pid: int) -> None:
    """Wait for the container; meanwhile hand out sockets of its netns (when asked
    through `ctrl`). The end of the lifeline (the supervisor is gone, or let go
    of the container) kills the container.

    Imports nothing: this process shares the container's mount namespace, so
    PID 1's pivot_root moves its root into the container too.
    """
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(life_r, select.POLLIN)
    if ctrl is not None:
        poller.register(ctrl, select.POLLIN)
    while True:
        for fd, _ev in poller.poll():
            if fd == pidfd:
                _, status = os.waitpid(pid, 0)
                os._exit(exit_code(status))
            if fd == life_r:
                poller.unregister(life_r)
                os.kill(pid, signal.SIGKILL)
                continue
            assert ctrl is not None
            try:
                requests = ctrl.recv(64)
            except OSError:
                requests = b""
            if not requests:  # the supervisor is gone
                poller.unregister(ctrl)
                os.kill(pid, signal.SIGKILL)
                continue
            _send_sockets(ctrl, requests.count(b"S"))


def _send_sockets(ctrl: socket.socket, count: int) -> None:
    import socket  # already loaded: `ctrl` is one

    for _ in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            socket.send_fds(ctrl, [b"S"], [s.fileno()])


# ---- PID 1 of the container ------------------------------------------------

def _container(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket | None, report_w: int,
               idmap: IdMap | None) -> None:
    libc.set_pdeathsig(signal.SIGKILL)
    rootless = idmap is not None
    last_cap = last_capability()
    if stdio.tty:
        load_tty_support()
    driver = get_driver(spec.driver)
    try:
        root = driver.mount(spec.bundle, libc.mount, rootless=rootless, volatile=spec.volatile)
    except OSError as exc:
        raise _StartFailure(f"cannot mount the container's rootfs ({spec.driver} driver): "
                            f"{exc.strerror}") from None
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _seed_volumes(spec, root_fd)
    _mount_proc(root_fd)
    _mount_dev(root_fd, rootless)
    _mount_sys(root_fd, spec.network == "host" and rootless)
    for name in ("hosts", "hostname", "resolv.conf"):
        bind(root_fd, os.path.join(spec.bundle, name), f"/etc/{name}", False)
    for m in spec.mounts:
        try:
            bind(root_fd, m.source, m.target, m.readonly)
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
        _run_init(spec, stdio, ctrl, report_w, idmap, last_cap)
    else:
        become_command(spec, stdio, ctrl, idmap, last_cap)


def bind(root_fd: int, source: str, target: str, readonly: bool) -> None:
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


def load_tty_support() -> None:
    """Import what setting up a tty takes while the host's files can still be read:
    after pivot_root (or setns into the container's mount namespace) they cannot."""
    import fcntl  # noqa: F401
    import socket  # noqa: F401
    import struct  # noqa: F401
    import termios  # noqa: F401


def _setup_stdio(stdio: Stdio, ctrl: socket.socket | None) -> None:
    """New session; with a tty, a pty of the container's devpts as controlling tty."""
    if not stdio.tty:
        os.setsid()
        return
    import fcntl
    import socket
    import struct
    import termios

    assert ctrl is not None
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


def become_command(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket | None,
                    idmap: IdMap | None, last_cap: int) -> None:
    """Set up session, user, env and cwd of this process, then exec the command.

    Runs after pivot_root: everything it uses must already be imported.
    """
    _setup_stdio(stdio, ctrl)
    if ctrl is not None:
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
        raise _StartFailure(f'exec: "{name}": {(exc.strerror or str(exc)).lower()}', 126) from None


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
            raise _StartFailure(f'exec: "{name}": stat {name}: '
                                f'{(exc.strerror or str(exc)).lower()}',
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


def _run_init(spec: SandboxSpec, stdio: Stdio, ctrl: socket.socket | None, report_w: int,
              idmap: IdMap | None, last_cap: int) -> None:
    """--init: stay as PID 1, run the command as a child, forward signals, reap.

    This process is already loaded in memory, so it needs nothing from the
    container's filesystem.
    """
    child = os.fork()
    if child == 0:
        def command() -> None:
            libc.set_pdeathsig(signal.SIGKILL)
            become_command(spec, stdio, ctrl, idmap, last_cap)

        child_main(report_w, command)
    if ctrl is not None:
        ctrl.close()
    os.close(report_w)

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
