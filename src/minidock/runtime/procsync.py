"""The one parent/child protocol of the runtime: small typed messages on a pipe.

The sandbox's helper and PID 1, an exec'd process, a root-access child and
the detached supervisor all tell the process that forked them how start-up
went the same way: a kind byte, a 2-byte length and the payload, each message
in one write (below PIPE_BUF, so two writers never interleave inside one).
End of file on the pipe means every writer is done (PID 1 holds it,
close-on-exec, until its command was exec'd). A failure travels as MSG_ERROR
`code:message` and becomes the same MinidockError on the parent's side.

Also here: what every forked child of the runtime does first (its stdio, no
inherited fds) and how its exit status becomes an exit code.
"""

from __future__ import annotations

import gc
import os
import signal

from minidock.errors import CommandNotFound, CommandNotInvokable, RuntimeError_

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import NoReturn

MSG_PID = b"P"  # the container's PID 1 (a host PID), from the helper
MSG_MAP_IDS = b"U"  # the child made a user namespace: map its ids, then send MSG_GO
MSG_ERROR = b"E"  # "code:message": why the container (or exec) could not start
MSG_GO = b"G"  # parent -> child, on the lifeline pipe
MSG_STARTED = b"S"  # the detached supervisor runs the container; payload: its record (JSON)
MAX_PAYLOAD = 4000
LARGE_PAYLOAD = 1 << 24  # for MSG_STARTED: split over several writes, one writer only


def send_message(fd: int, kind: bytes, payload: bytes = b"") -> None:
    """One message, written whole (see MSG_*); payloads are cut at MAX_PAYLOAD."""
    payload = payload[:MAX_PAYLOAD]
    os.write(fd, kind + len(payload).to_bytes(2, "little") + payload)


def send_large(fd: int, kind: bytes, payload: bytes) -> None:
    """A message too long for one atomic write (a 4-byte length, kind | 0x80):
    only for a pipe that has a single writer."""
    view = memoryview(bytes([kind[0] | 0x80]) + len(payload).to_bytes(4, "little") + payload)
    while view:
        view = view[os.write(fd, view):]


def read_messages(fd: int) -> Iterator[tuple[bytes, bytes]]:
    """Yield (kind, payload) until every writer has closed the pipe."""
    buf = b""
    while True:
        data = os.read(fd, 65536)
        buf += data
        while buf:
            large = buf[0] & 0x80
            head = 5 if large else 3
            if len(buf) < head:
                break
            size = int.from_bytes(buf[1:head], "little")
            if len(buf) < head + size:
                break
            yield bytes([buf[0] & 0x7F]), buf[head:head + size]
            buf = buf[head + size:]
        if not data:
            return


def report_error(fd: int, exc: BaseException) -> None:
    """Send `exc` as MSG_ERROR (its exit code and one-line message)."""
    code = getattr(exc, "exit_code", 125)
    if isinstance(exc, OSError) and not getattr(exc, "exit_code", None):
        message = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    else:
        message = str(exc) or type(exc).__name__
    try:
        send_message(fd, MSG_ERROR, f"{code}:{message}".encode(errors="replace"))
    except OSError:
        pass


def error_from(text: str, action: str = "failed to start container") -> Exception:
    """The error a MSG_ERROR payload describes (`action` prefixes 126/127 messages)."""
    code_text, _, message = text.partition(":")
    code = int(code_text) if code_text.isdigit() else 125
    if code == 127:
        return CommandNotFound(f"{action}: {message}")
    if code == 126:
        return CommandNotInvokable(f"{action}: {message}")
    return RuntimeError_(message, exit_code=code)


def child_main(report_w: int, body: Callable[[], int | None], *, ok: int = 125,
               failed: int = 125) -> NoReturn:
    """What a forked child runs: `body()`, whose int result (else `ok`) is the exit
    status; an exception is reported on `report_w` and exits with its exit_code
    (else `failed`). Never returns."""
    code = ok
    try:
        result = body()
        if result is not None:
            code = result
    except BaseException as exc:  # noqa: B036 - report whatever stopped us
        report_error(report_w, exc)
        code = getattr(exc, "exit_code", None) or failed
    os._exit(code)


def exit_code(status: int) -> int:
    """A wait status as an exit code (128+n for signal n)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


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
