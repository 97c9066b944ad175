"""`exec` with its output captured instead of written to this process's stdout.

The runtime's exec gives the new process this process's fds 1 and 2. A test
suite needs the output as a value, and swapping our own fds 1 and 2 for a
moment would also capture whatever other threads print meanwhile. So a small
forked child points its fds 1 and 2 at a pipe, starts the exec there and
reports its exit status; this process reads the pipe. Killing the child
(Ctrl-C, a timeout) ends the exec'd process too: the runtime's helper dies
with its parent.
"""

from __future__ import annotations

import os
import select
import signal
from typing import TYPE_CHECKING

from minidock import errors

if TYPE_CHECKING:
    from minidock.runtime.containers import Container as RuntimeContainer

# errors an exec can raise whose constructor takes just the message
_REBUILT = ("ConflictError", "RuntimeError_", "CommandNotFound", "CommandNotInvokable",
            "UsageError")
_CHUNK = 65536


def exec_captured(container: RuntimeContainer, args: list[str], *, env: list[str],
                  user: str | None, workdir: str | None) -> tuple[int, bytes]:
    """Run `args` in the running `container`; (exit code, stdout and stderr interleaved)."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child, reports through pipes
        _child(container, args, env, user, workdir, out_r, out_w, err_r, err_w)
    os.close(out_w)
    os.close(err_w)
    try:
        output = _read_until_exit(out_r, pid)
        _, status = os.waitpid(pid, 0)
        report = _read_all(err_r)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(out_r)
        os.close(err_r)
    if report:
        raise _rebuild(report.decode(errors="replace"))
    return os.waitstatus_to_exitcode(status) % 256, output


def _child(container: RuntimeContainer, args: list[str], env: list[str], user: str | None,
           workdir: str | None, out_r: int, out_w: int, err_r: int, err_w: int) -> None:
    code = 125
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.close(out_r)
        os.close(err_r)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.close(out_w)
        from minidock.runtime.execution import start_exec

        box = start_exec(container, args, env=env, user=user, workdir=workdir, stdin=None,
                         tty=False)
        # the exec'd process holds the pipe now; ours must go so EOF means "it ended"
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        code = box.wait()
        box.close()
    except BaseException as exc:  # noqa: B036 - everything must reach the parent
        name = type(exc).__name__ if isinstance(exc, errors.MinidockError) else "RuntimeError_"
        exit_code = getattr(exc, "exit_code", 125)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        try:
            os.write(err_w, f"{name}:{exit_code}:{message}".encode(errors="replace"))
        except OSError:
            pass
    finally:
        os._exit(code)


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


def _read_all(fd: int) -> bytes:
    chunks = []
    while data := os.read(fd, _CHUNK):
        chunks.append(data)
    return b"".join(chunks)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _rebuild(report: str) -> errors.MinidockError:
    name, _, rest = report.partition(":")
    code_text, _, message = rest.partition(":")
    code = int(code_text) if code_text.isdigit() else 125
    if name in _REBUILT:
        error: errors.MinidockError = getattr(errors, name)(message)
        error.exit_code = code
        return error
    return errors.RuntimeError_(message, exit_code=code)
