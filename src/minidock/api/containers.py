"""The public handle on a container: state, ports, logs, exec, stop, remove, waits.

There is no daemon to ask, so every property that describes the container's
state reads its record again: `status` is always the current one. A
Container used as a context manager is removed on exit, whatever happened in
the block, which is what a test needs to leave nothing running.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from minidock.api import arguments
from minidock.errors import ContainerNotFound, NotFoundError

if TYPE_CHECKING:
    from minidock.runtime.containers import Container as RuntimeContainer

REMOVED = "removed"


class RunResult(NamedTuple):
    """What `run(..., detach=False)` returns: the exit code and the output."""

    exit_code: int
    output: str
    """stdout and stderr as the container wrote them, interleaved."""


class ExecResult(NamedTuple):
    """What `Container.exec` returns: the exit code and the output."""

    exit_code: int
    output: str
    """stdout and stderr interleaved, decoded as UTF-8 (undecodable bytes replaced)."""


class LogReader:
    """Reads the lines a container logged since the last call (for log waits)."""

    def __init__(self, path: str):
        self._path = path
        self._offset = 0
        self._pending = b""

    def new_lines(self) -> list[str]:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            chunks = []
            while data := os.pread(fd, 1 << 20, self._offset):
                self._offset += len(data)
                chunks.append(data)
        finally:
            os.close(fd)
        *entries, self._pending = (self._pending + b"".join(chunks)).split(b"\n")
        lines = []
        for entry in entries:
            text = _entry_text(entry)
            if text is not None:
                lines.append(text.rstrip("\n"))
        return lines


def _entry_text(line: bytes) -> str | None:
    """The text of one json-file log entry (None for a damaged line)."""
    try:
        value = json.loads(line).get("log")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _connect_host(ip: str) -> str:
    """Where to connect for a binding on `ip`: loopback for the wildcard addresses."""
    if ip in ("", "0.0.0.0"):
        return "127.0.0.1"
    if ip == "::":
        return "::1"
    return ip


class Container:
    """A container in a store. Made by `run`, `Client.container` or `Client.containers`."""

    def __init__(self, record: RuntimeContainer):
        self._record = record
        self._removed = False

    # ---- identity ----------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._record.id

    @property
    def short_id(self) -> str:
        return self._record.short_id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def image(self) -> str:
        """The image as it was named to `run` (a reference or an ID)."""
        return self._record.image_name

    @property
    def image_id(self) -> str:
        return self._record.image_id

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._record.data["Config"].get("Labels") or {})

    @property
    def root(self) -> str:
        """The store the container belongs to."""
        return self._record.root

    def __repr__(self) -> str:
        return f"<Container {self.name} ({self.short_id})>"

    # ---- state ---------------------------------------------------------------------
    def reload(self) -> Container:
        """Read the container's record again (the state properties do it themselves)."""
        if self._removed:
            return self
        from minidock.runtime.containers import load_record

        try:
            self._record = load_record(self._record.root, self.id).refresh()
        except ContainerNotFound:
            self._removed = True
        return self

    @property
    def status(self) -> str:
        """created, running, exited, or removed once it no longer exists."""
        self.reload()
        return REMOVED if self._removed else self._record.status

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def exit_code(self) -> int | None:
        """The exit code once it has ended (None while running or once removed)."""
        status = self.status
        if status in ("running", REMOVED):
            return None
        return int(self._record.state.get("ExitCode") or 0)

    @property
    def pid(self) -> int:
        """The host PID of the container's first process (0 unless running)."""
        return self._record.pid if self.running else 0

    def attrs(self) -> dict[str, Any]:
        """Docker's `inspect` document of the container."""
        from minidock.runtime.inspection import container_document

        self._require()
        return container_document(self._record)

    def _require(self) -> RuntimeContainer:
        self.reload()
        if self._removed:
            raise ContainerNotFound(self.name)
        return self._record

    # ---- ports ---------------------------------------------------------------------
    @property
    def ports(self) -> dict[int, list[tuple[str, int]]]:
        """Published TCP ports while running: container port -> [(host address, host port)]."""
        record = self._require()
        out: dict[int, list[tuple[str, int]]] = {}
        for item in record.data.get("Ports") or []:
            out.setdefault(int(item["PrivatePort"]), []).append(
                (str(item["IP"]), int(item["PublicPort"])))
        return out

    def _host_network(self) -> bool:
        return self._record.data["HostConfig"].get("NetworkMode") == "host"

    def endpoint(self, port: int | str | None = None) -> tuple[str, int]:
        """(host, port) to connect to for the container's TCP `port`.

        `port` may be left out when exactly one port is published. With
        `network="host"` the container's port is the host's.
        """
        published = self.ports
        if port is None:
            if len(published) != 1:
                choices = ", ".join(str(p) for p in sorted(published)) or "none"
                raise ValueError(f"container {self.name} publishes {len(published)} ports "
                                 f"({choices}): say which one")
            port = next(iter(published))
        number = arguments.container_port(port)
        if self._host_network():
            return "127.0.0.1", number
        bindings = published.get(number)
        if not bindings:
            hint = None if self.running else f"the container is {self.status}"
            raise NotFoundError(f"No public port '{number}/tcp' published for {self.name}",
                                hint=hint)
        address, host_port = bindings[0]
        return _connect_host(address), host_port

    def host_port(self, port: int | str | None = None) -> int:
        """The host port published for the container's TCP `port` (e.g. 80)."""
        return self.endpoint(port)[1]

    # ---- logs and exec ---------------------------------------------------------------
    def logs(self, *, tail: int | None = None, stdout: bool = True,
             stderr: bool = True) -> str:
        """The container's output so far (the last `tail` lines when given)."""
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int)):
            raise TypeError(f"tail must be an int or None, not {type(tail).__name__}")
        if tail is not None and tail < 0:
            raise ValueError(f"tail must not be negative, got {tail}")
        from minidock.runtime.logs import read_logs

        streams = {name for name, wanted in (("stdout", stdout), ("stderr", stderr)) if wanted}
        entries = read_logs(self._record.log_path, tail=tail)
        return "".join(entry.text for entry in entries if entry.stream in streams)

    def log_reader(self) -> LogReader:
        """An incremental reader of the output, from the start."""
        return LogReader(self._record.log_path)

    def exec(self, cmd: str | list[str], *, env: dict[str, str] | list[str] | None = None,
             user: str | int | None = None, workdir: str | None = None) -> ExecResult:
        """Run `cmd` in the running container; its exit code and output."""
        from minidock.api.capture import exec_captured

        args = arguments.argv(cmd, "cmd")
        assert args is not None
        record = self._require()
        code, output = exec_captured(record, args, env=arguments.environment(env),
                                     user=arguments.user(user),
                                     workdir=arguments.optional_str(workdir, "workdir"))
        return ExecResult(code, output.decode("utf-8", "replace"))

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> Container:
        """Start the container again after it ended (or after `create`)."""
        from minidock.runtime.start import start_detached

        start_detached(self._require())
        return self.reload()

    def stop(self, timeout: float | None = None) -> None:
        """Docker's stop: the stop signal, then SIGKILL after `timeout` seconds
        (the container's stop timeout, else 10). Nothing to do once it has ended."""
        from minidock.runtime.control import stop_container

        seconds = arguments.timeout(timeout)
        self.reload()
        if self._removed:
            return
        stop_container(self._record, None if seconds is None else math.ceil(seconds))
        self.reload()

    def kill(self, signal: int | str = "SIGKILL") -> None:
        """Send `signal` (a number or a name such as "SIGTERM") to the container."""
        from minidock.runtime.control import kill_container
        from minidock.runtime.options import parse_signal

        if isinstance(signal, bool) or not isinstance(signal, int | str):
            raise TypeError(f"signal must be an int or a name, not {type(signal).__name__}")
        kill_container(self._require(), parse_signal(signal))
        self.reload()

    def wait(self, timeout: float | None = None) -> int:
        """Block until the container ends; its exit code. WaitTimeout after `timeout` s."""
        from minidock.runtime.control import wait_for_exit

        seconds = arguments.timeout(timeout)
        record = self._require()
        if record.running and not wait_for_exit(record, seconds):
            from minidock.waits import failure

            raise failure(self, "the container to exit",
                          f"timed out after {seconds:g} s")
        code = self.exit_code
        if code is None:
            raise ContainerNotFound(self.name)  # removed when it ended (remove=True)
        return code

    def remove(self, *, force: bool = False, volumes: bool = True) -> None:
        """Delete the container (`force` kills it first if it runs) and, with `volumes`,
        its anonymous volumes. Removing a container that is already gone is not an error."""
        from minidock.runtime.control import remove_container

        arguments.flag(force, "force")
        arguments.flag(volumes, "volumes")
        self.reload()
        if self._removed:
            return
        try:
            remove_container(self._record, force=force, volumes=volumes)
        except ContainerNotFound:
            pass
        self._removed = True

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove(force=True)

    # ---- readiness -------------------------------------------------------------------
    def wait_for_log(self, pattern: str | re.Pattern[str], *,
                     timeout: float | None = None) -> re.Match[str]:
        """Wait for an output line matching `pattern`; see `minidock.waits`."""
        from minidock import waits

        return waits.wait_for_log(self, pattern, timeout=_default(timeout))

    def wait_for_port(self, port: int, *, timeout: float | None = None) -> None:
        """Wait until the container listens on TCP `port`; see `minidock.waits`."""
        from minidock import waits

        waits.wait_for_port(self, port, timeout=_default(timeout))

    def wait_for_http(self, path: str = "/", *, port: int | None = None,
                      status: int | Iterable[int] = 200,
                      timeout: float | None = None) -> int:
        """Wait until `GET path` answers `status`; returns the status. See `minidock.waits`."""
        from minidock import waits

        return waits.wait_for_http(self, path, port=port, status=status,
                                   timeout=_default(timeout))


def _default(timeout: float | None) -> float:
    from minidock.waits import DEFAULT_TIMEOUT

    return DEFAULT_TIMEOUT if timeout is None else timeout

