"""Starting a container: attached (this process supervises it) or detached (a
supervisor process of its own), and restarting one.

`start` binds published ports in the calling process (so "port already
allocated" is the caller's error, exit 125), then either supervises the
container itself or hands it to a detached supervisor and returns once the
container's command has been exec'd.
"""

from __future__ import annotations

import os
import sys

from minidock.errors import ConflictError, MinidockError, RuntimeError_
from minidock.runtime.containers import Container, load_record
from minidock.runtime.control import reload_record, remove_container, stop_container
from minidock.runtime.options import PortBinding
from minidock.runtime.procsync import (
    MSG_ERROR,
    MSG_STARTED,
    close_fds_except,
    error_from,
    install_stdio,
    read_messages,
    send_large,
    send_message,
)
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from minidock.runtime.spec import SandboxSpec


def _bindings(container: Container) -> list[PortBinding]:
    out: list[PortBinding] = []
    if container.spec.network != "private":
        return out
    for key, entries in (container.data["HostConfig"].get("PortBindings") or {}).items():
        port, _, proto = key.partition("/")
        for e in entries:
            out.append(PortBinding(e.get("HostIp", ""), int(e.get("HostPort") or 0), int(port),
                                   proto or "tcp"))
    return out


def _listen(container: Container) -> list[Any]:
    """The host side of the container's published ports (none: ports.py stays unloaded)."""
    bindings = _bindings(container)
    if not bindings:
        return []
    from minidock.runtime.ports import bind_ports

    return bind_ports(bindings)


def _ports_record(listeners: list[Any]) -> list[dict[str, Any]]:
    return [{"IP": item.host_ip, "PrivatePort": item.container_port,
             "PublicPort": item.host_port, "Type": "tcp"} for item in listeners]


class Attach(Record):
    """How an attached container meets the caller's terminal: `stdin` (-i) makes the
    container read our stdin; `winsize` is the terminal's (rows, cols) for -t."""

    __slots__ = ("stdin", "winsize")

    def __init__(self, stdin: bool = False, winsize: tuple[int, int] | None = None):
        self.stdin = stdin
        self.winsize = winsize


def start_attached(container: Container, attach: Attach) -> int:
    """Run the container in the foreground (this process supervises); its exit code."""
    from minidock.runtime import sandbox
    from minidock.runtime.logs import LogWriter

    spec = container.spec
    with container.lock():
        container.refresh()
        if container.running:
            raise ConflictError(f"container {container.name} is already running")
        try:
            listeners = _listen(container)
        except MinidockError as exc:
            _start_failed(container, exc)
            raise
        log = LogWriter(container.log_path)
        try:
            out_r, err_r, stdio = _stdio(spec.process.tty, 0 if attach.stdin else None,
                                         attach.winsize)
            try:
                sb = sandbox.start(spec, stdio, sockets=bool(listeners))
            except BaseException:
                _close_fds(out_r, err_r)
                raise
            finally:
                _close_fds(stdio.stdout, stdio.stderr)
        except MinidockError as exc:
            log.close()
            for item in listeners:
                item.sock.close()
            _start_failed(container, exc)
            raise
        except BaseException:
            log.close()
            raise
        container.mark_running(sb.pid, os.getpid(), _ports_record(listeners))
    from minidock.runtime.supervisor import RawTerminal, Supervisor

    sup = Supervisor(sb, out_r=out_r, err_r=err_r, log=log, listeners=listeners, attach=True,
                     relay_stdin=attach.stdin and spec.process.tty)
    with RawTerminal(spec.process.tty and attach.stdin):
        code = sup.run()
    sb.close()
    log.close()
    finish(container, code)
    return code


def _stdio(tty: bool, stdin: int | None, winsize: tuple[int, int] | None
           ) -> tuple[int | None, int | None, Any]:
    """The container's stdio: pipes for stdout and stderr (their read ends are
    returned for the supervisor), or with `tty` a terminal of its own."""
    from minidock.runtime.spec import Stdio

    if tty:
        return None, None, Stdio(stdin, -1, -1, tty=True, winsize=winsize)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    return out_r, err_r, Stdio(stdin, out_w, err_w)


def _close_fds(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None and fd >= 0:
            os.close(fd)


def _start_failed(container: Container, exc: MinidockError) -> None:
    if container.data["HostConfig"].get("AutoRemove"):
        remove_container(container, force=True, volumes=True)
    else:
        container.mark_exited(exc.exit_code, exc.message)


def finish(container: Container, code: int) -> None:
    """Record the end of a container, or remove it (`--rm`)."""
    if container.data["HostConfig"].get("AutoRemove"):
        remove_container(container, force=True, volumes=True, stopped=True)
        return
    try:
        current = load_record(container.root, container.id)
    except MinidockError:
        return  # removed meanwhile (rm -f)
    current.mark_exited(code)
    container.data = current.data


def start_detached(container: Container, *, interactive: bool = False) -> None:
    """Start the container under a detached supervisor; returns once it runs.

    The supervisor is a double-forked child in a session of its own, so it
    survives this process; it keeps none of this process's file descriptors
    (but the published ports' listeners), so a caller reading our output to
    its end is not held up by it. It reports "started" (or the start error)
    through a pipe before this function returns; `container` then holds the
    record as it was when the command started (running, PID, ports).
    """
    # imported here, before the fork: a long-lived caller (the Python API) then
    # pays for them once, not in every supervisor (and helper) it starts
    from minidock.runtime import inside, logs, sandbox, supervisor  # noqa: F401

    spec = container.spec
    with container.lock():
        container.refresh()
        if container.running:
            return
        try:
            listeners = _listen(container)
        except MinidockError as exc:
            _start_failed(container, exc)
            raise
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _become_supervisor(status_w, listeners)
                if os.fork() != 0:
                    os._exit(0)
                _detached_supervisor(container, spec, listeners, status_w, interactive)
            finally:
                os._exit(0)
        os.close(status_w)
        for item in listeners:
            item.sock.close()
        os.waitpid(pid, 0)
        started, error = _read_start_report(status_r)
        os.close(status_r)
    if error:
        raise error_from(error)
    if started is None:
        raise RuntimeError_("the container's supervisor failed to start")
    import json

    container.data = json.loads(started)


def _read_start_report(fd: int) -> tuple[bytes | None, str]:
    """(the record the detached supervisor sent once the container ran, the first
    start-up error), read to the end of the status pipe."""
    started = None
    error = ""
    for kind, payload in read_messages(fd):
        if kind == MSG_STARTED:
            started = payload
        elif kind == MSG_ERROR and not error:
            error = payload.decode(errors="replace")
    return started, error


def _become_supervisor(status_w: int, listeners: list[Any]) -> None:
    """First steps of the detached supervisor's fork: a session of its own, stdio on
    /dev/null, and no fd of the caller but the status pipe and the listeners."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    install_stdio(null, null, null)
    close_fds_except({status_w, *(item.sock.fileno() for item in listeners)})


def _detached_supervisor(container: Container, spec: SandboxSpec, listeners: list[Any],
                         status_w: int, interactive: bool) -> None:
    """Body of the detached supervisor process (never returns)."""
    from minidock.runtime import sandbox
    from minidock.runtime.logs import LogWriter
    from minidock.runtime.supervisor import Supervisor

    stdin_r = stdin_w = None
    if interactive:  # -di: stdin stays open, with nothing written to it
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    try:
        log = LogWriter(container.log_path)
        out_r, err_r, stdio = _stdio(spec.process.tty, stdin_r, None)
        try:
            sb = sandbox.start(spec, stdio, sockets=bool(listeners))
        finally:
            _close_fds(stdio.stdout, stdio.stderr, stdin_r)
        container.mark_running(sb.pid, os.getpid(), _ports_record(listeners))
    except MinidockError as exc:
        for item in listeners:
            item.sock.close()
        try:
            _start_failed(container, exc)
        finally:
            send_message(status_w, MSG_ERROR, f"{exc.exit_code}:{exc.message}".encode())
        os._exit(0)
    except BaseException as exc:  # noqa: B036 - the caller must hear about it
        send_message(status_w, MSG_ERROR, f"125:{exc}".encode())
        os._exit(0)
    import json

    send_large(status_w, MSG_STARTED, json.dumps(container.data).encode())
    os.close(status_w)
    code = 137
    try:
        code = Supervisor(sb, out_r=out_r, err_r=err_r, log=log, listeners=listeners,
                          attach=False).run()
    finally:
        log.close()
        finish(container, code)
        if stdin_w is not None:
            os.close(stdin_w)
    os._exit(0)


def restart_container(container: Container, timeout: int | None = None) -> None:
    stop_container(container, timeout)
    reload_record(container)
    start_detached(container)
