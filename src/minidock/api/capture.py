"""`exec` with its output captured instead of written to this process's stdout.

The runtime's exec writes to the file descriptors it is given: here both
stdout and stderr go to one pipe, which this process reads while the command
runs, so the output keeps the order the command wrote it in. Nothing of this
process's own fds 1 and 2 is touched (other threads may be printing). Killing
the exec's helper (Ctrl-C, a timeout) ends the exec'd process too: it dies
with its parent.
"""

from __future__ import annotations

import os
import select
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minidock.runtime.containers import Container as RuntimeContainer

_CHUNK = 65536


def exec_captured(container: RuntimeContainer, args: list[str], *, env: list[str],
                  user: str | None, workdir: str | None) -> tuple[int, bytes]:
    """Run `args` in the running `container`; (exit code, stdout and stderr interleaved)."""
    from minidock.runtime.execution import start_exec

    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        box = start_exec(container, args, env=env, user=user, workdir=workdir, stdin=None,
                         tty=False, stdout=out_w, stderr=out_w)
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
    try:
        output = _read_until_exit(out_r, box.helper_pid)
        code = box.wait()
    except BaseException:
        _kill(box.helper_pid)
        raise
    finally:
        os.close(out_r)
        box.close()
    return code, output


def _read_until_exit(fd: int, pid: int) -> bytes:
    """Output until the child has exited, then what the pipe still holds.

    A background process the command left behind may keep the pipe open for
    good, so the end of the child, not EOF, ends the read.
    """
    chunks: list[bytes] = []
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        reading = True
        while reading:
            for ready, _event in poller.poll():
                if ready == fd:
                    data = os.read(fd, _CHUNK)
                    if not data:
                        reading = False
                        break
                    chunks.append(data)
                elif ready == pidfd:
                    reading = False
        os.set_blocking(fd, False)
        while True:
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(pidfd)
    return b"".join(chunks)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
