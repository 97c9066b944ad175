"""Readiness waits: until a log line appears, a TCP port listens, an HTTP path answers.

A started container is not yet a ready service. Each wait polls its condition
(quickly at first, backing off to 50 ms) until it holds, the container ends,
or the timeout expires; the last two raise WaitTimeout naming the container,
the condition and the container's last 20 log lines, which is what one needs
to see why a service did not come up.

A published port cannot tell readiness: the host side accepts as soon as the
container starts, whether or not anything listens inside. So `wait_for_port`
looks for a listening socket in the container's own network namespace
(`/proc/<pid>/net/tcp`), and `wait_for_http` needs a real HTTP answer.
"""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from minidock.errors import WaitTimeout

DEFAULT_TIMEOUT = 60.0
LOG_LINES = 20
_FIRST_POLL = 0.002
_MAX_POLL = 0.05
_TCP_LISTEN = "0A"


class LineReader(Protocol):
    """Hands out the log lines written since the previous call."""

    def new_lines(self) -> list[str]: ...


class Container(Protocol):
    """What a wait needs of a container; `minidock.api.Container` provides it.

    Declared here so that this module does not depend on the API package above it."""

    @property
    def name(self) -> str: ...
    @property
    def short_id(self) -> str: ...
    @property
    def running(self) -> bool: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def pid(self) -> int: ...

    def logs(self, *, tail: int | None = None) -> str: ...
    def log_reader(self) -> LineReader: ...
    def endpoint(self, port: int | str | None = None) -> tuple[str, int]: ...


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if timeout < 0:
        raise ValueError(f"timeout must not be negative, got {timeout}")
    return float(timeout)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def failure(container: Container, condition: str, reason: str,
            last: str = "") -> WaitTimeout:
    """The error of a failed wait: container, reason, condition (with the `last` thing
    seen) and the container's last log lines."""
    lines = container.logs(tail=LOG_LINES).splitlines()
    shown = "\n".join(f"    {line}" for line in lines) if lines else "    (no output)"
    seen = f" (last: {last})" if last else ""
    message = (f"container {container.name} ({container.short_id}): {reason} waiting for "
               f"{condition}{seen}\nlast {LOG_LINES} log lines:\n{shown}")
    return WaitTimeout(message, container=container.name, condition=condition,
                       log_lines=lines)


def _poll(container: Container, condition: str, timeout: float,
          check: Callable[[], bool], detail: Callable[[], str] | None = None) -> None:
    """Call `check` until it returns True; raise when the container ends or time is up."""
    deadline = time.monotonic() + timeout
    interval = _FIRST_POLL
    while True:
        if check():
            return
        if not container.running:
            if check():  # it may have become true just before the end
                return
            raise failure(container, condition, f"the container {_ended(container)} while",
                          detail() if detail is not None else "")
        left = deadline - time.monotonic()
        if left <= 0:
            raise failure(container, condition, f"timed out after {_seconds(timeout)}",
                          detail() if detail is not None else "")
        time.sleep(min(interval, left))
        interval = min(interval * 1.5, _MAX_POLL)


def _ended(container: Container) -> str:
    code = container.exit_code
    return "was removed" if code is None else f"exited with code {code}"


def wait_for_log(container: Container, pattern: str | re.Pattern[str], *,
                 timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
    """Wait until a line of the container's output matches `pattern` (re.search);
    returns the match."""
    if isinstance(pattern, str):
        regex = re.compile(pattern)
    elif isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, str):
            raise TypeError("pattern must be a str regular expression, not a bytes one")
        regex = pattern
    else:
        raise TypeError(f"pattern must be a str or re.Pattern, not {type(pattern).__name__}")
    timeout = _check_timeout(timeout)
    reader = container.log_reader()
    found: list[re.Match[str]] = []

    def check() -> bool:
        for line in reader.new_lines():
            match = regex.search(line)
            if match:
                found.append(match)
                return True
        return False

    _poll(container, f"a log line matching {regex.pattern!r}", timeout, check)
    return found[0]


def _listening(pid: int, port: int) -> bool:
    """Whether a TCP socket listens on `port` in the network namespace of `pid`."""
    wanted = f":{port:04X}"
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}", encoding="ascii") as f:
                next(f, None)  # the header
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == _TCP_LISTEN and \
                            fields[1].endswith(wanted):
                        return True
        except OSError:
            continue
    return False


def wait_for_port(container: Container, port: int, *,
                  timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until something in the container listens on TCP `port` (the container's
    port, published or not)."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range (1-65535)")
    timeout = _check_timeout(timeout)

    def check() -> bool:
        pid = container.pid
        return bool(pid) and _listening(pid, port)

    _poll(container, f"TCP port {port} to listen", timeout, check)


def _statuses(status: int | Iterable[int]) -> frozenset[int]:
    if isinstance(status, bool):
        raise TypeError("status must be an int or a collection of ints, not bool")
    if isinstance(status, int):
        return frozenset((status,))
    try:
        values = frozenset(status)
    except TypeError:
        raise TypeError(f"status must be an int or a collection of ints, not "
                        f"{type(status).__name__}") from None
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TypeError("status must be an int or a non-empty collection of ints")
    return values


class _Answer:
    """The last answer (or error) seen by an HTTP wait."""

    def __init__(self) -> None:
        self.text = ""
        self.status = 0


def wait_for_http(container: Container, path: str = "/", *, port: int | None = None,
                  status: int | Iterable[int] = 200,
                  timeout: float = DEFAULT_TIMEOUT) -> int:
    """Wait until `GET path` on the container's (published) `port` answers `status`;
    returns the status. `port` may be left out when the container publishes one port."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    wanted = _statuses(status)
    timeout = _check_timeout(timeout)
    host, host_port = container.endpoint(port)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{host_port}{path}"
    expected = " or ".join(str(s) for s in sorted(wanted))
    condition = f"GET {url} to answer HTTP {expected}"
    last = _Answer()
    deadline = time.monotonic() + timeout

    def check() -> bool:
        left = max(deadline - time.monotonic(), 0.05)
        conn = http.client.HTTPConnection(host, host_port, timeout=min(left, 5.0))
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            last.status = response.status
            last.text = f"HTTP {response.status}"
            return response.status in wanted
        except (OSError, http.client.HTTPException) as exc:
            last.text = str(exc) or type(exc).__name__
            return False
        finally:
            conn.close()

    _poll(container, condition, timeout, check, lambda: last.text)
    return last.status
