"""The supervisor: what stays with a running container.

In the foreground, the `minidock run` process itself; for `-d`, a small
per-container process (double fork, new session) that outlives the command.
From one epoll loop it: copies the container's stdout/stderr into the
json-file log (and to the terminal when attached), relays the terminal for
`-t`, forwards published ports, forwards SIGINT/SIGTERM/SIGQUIT/SIGHUP to the
container, and notices the container's end through a pidfd of the helper.
"""

from __future__ import annotations

import errno
import os
import signal

from minidock.runtime.procsync import exit_code
from minidock.runtime.reactor import IN, Reactor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from minidock.runtime.logs import LogWriter
    from minidock.runtime.ports import Listener
    from minidock.runtime.sandbox import Sandbox

PROXIED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)
DRAIN_TIMEOUT = 2.0


def terminal_size(fd: int) -> tuple[int, int] | None:
    import fcntl
    import struct
    import termios

    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


class RawTerminal:
    """Puts the local terminal in raw mode for `-it`, restoring it afterwards."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and os.isatty(0)
        self.saved: Any = None

    def __enter__(self) -> None:
        if self.enabled:
            import termios
            import tty

            self.saved = termios.tcgetattr(0)
            tty.setraw(0, termios.TCSANOW)  # keep what was typed ahead

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)


class Supervisor:
    """Runs the loop for one started container until it ends; returns its exit code.

    `out_r`/`err_r` are the read ends of the container's stdout/stderr pipes (no
    tty) — with a tty, the sandbox's pty master carries both. When `attach`,
    output also goes to this process's fds 1 and 2, and with a tty the local
    terminal's input goes to the container (`relay_stdin`).
    """

    def __init__(self, sandbox: Sandbox, *, out_r: int | None, err_r: int | None,
                 log: LogWriter | None, listeners: list[Listener], attach: bool,
                 relay_stdin: bool = False,
                 on_signal: Callable[[int], None] | None = None):
        self.sandbox = sandbox
        self.log = log
        self.attach = attach
        self.reactor = Reactor()
        self._streams: set[int] = set()
        self._code: int | None = None
        self._stdout_ok = True
        self._stderr_ok = True
        self._on_signal = on_signal
        self._pidfd = os.pidfd_open(sandbox.helper_pid)
        self.reactor.add(self._pidfd, IN, self._on_exit)
        if sandbox.pty_master is not None:
            self._watch(sandbox.pty_master, "stdout", 1)
            if relay_stdin:
                self.reactor.add(0, IN, self._on_stdin)
        else:
            if out_r is not None:
                self._watch(out_r, "stdout", 1)
            if err_r is not None:
                self._watch(err_r, "stderr", 2)
        self.forwarder = None
        if listeners:
            from minidock.runtime.ports import Forwarder

            assert sandbox.ctrl is not None  # started with sockets=True: there are listeners
            self.forwarder = Forwarder(self.reactor, listeners, sandbox.tcp_socket,
                                       sandbox.request_socket, sandbox.ctrl.fileno(),
                                       sandbox.receive_socket)

    # -- output ------------------------------------------------------------------
    def _watch(self, fd: int, stream: str, local_fd: int) -> None:
        self._streams.add(fd)

        def readable(_ev: int) -> None:
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: the pty's last slave closed
                    raise
                data = b""
            if not data:
                self._close_stream(fd)
                return
            if self.log is not None:
                self.log.write(stream, data)
            if self.attach:
                self._to_local(local_fd, data)
        self.reactor.add(fd, IN, readable)

    def _close_stream(self, fd: int) -> None:
        self.reactor.remove(fd)
        self._streams.discard(fd)
        os.close(fd)
        if fd == self.sandbox.pty_master:
            self.sandbox.pty_master = None
            if 0 in self.reactor:
                self.reactor.remove(0)

    def _to_local(self, fd: int, data: bytes) -> None:
        if (fd == 1 and not self._stdout_ok) or (fd == 2 and not self._stderr_ok):
            return
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    import select

                    select.select([], [fd], [])
        except OSError:  # the reader went away: keep logging, stop echoing
            if fd == 1:
                self._stdout_ok = False
            else:
                self._stderr_ok = False

    def _on_stdin(self, _ev: int) -> None:
        try:
            data = os.read(0, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or self.sandbox.pty_master is None:
            self.reactor.remove(0)
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.sandbox.pty_master, view):]
            except BlockingIOError:
                import select

                select.select([], [self.sandbox.pty_master], [])
            except OSError:
                self.reactor.remove(0)
                return

    # -- signals and the end ---------------------------------------------------------
    def forward_signal(self, signum: int, _frame: object = None) -> None:
        if self._code is not None:
            return
        if self._on_signal is not None:
            self._on_signal(signum)
        try:
            os.kill(self.sandbox.pid, signum)
        except ProcessLookupError:
            pass

    def resize(self, _signum: int = 0, _frame: object = None) -> None:
        """Give the container's pty the local terminal's size (on SIGWINCH)."""
        size = terminal_size(0) or terminal_size(1)
        if size and self.sandbox.pty_master is not None:
            import fcntl
            import struct
            import termios

            try:
                fcntl.ioctl(self.sandbox.pty_master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", size[0], size[1], 0, 0))
            except OSError:
                pass

    def _on_exit(self, _ev: int) -> None:
        try:
            _, status = os.waitpid(self.sandbox.helper_pid, 0)
        except ChildProcessError:
            status = 137 << 8
        self._code = exit_code(status)
        self.reactor.remove(self._pidfd)
        os.close(self._pidfd)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self.forward_signal) for sig in PROXIED_SIGNALS}
        if self.sandbox.pty_master is not None and self.attach:
            previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, self.resize)
        try:
            while self._code is None:
                self.reactor.run_once()
            # the PID namespace is gone, so writers are gone: read what is left
            import time

            deadline = time.monotonic() + DRAIN_TIMEOUT
            while self._streams:
                left = deadline - time.monotonic()
                if left <= 0 or not self.reactor.run_once(left):
                    break
        finally:
            for fd in list(self._streams):
                self._close_stream(fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.forwarder is not None:
                self.forwarder.close()
            if self.log is not None:
                self.log.flush()
            self.reactor.close()
        return self._code
