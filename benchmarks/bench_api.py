"""Start-to-ready of nginx from the Python API vs `podman run -d` (issue 7/7).

What a test suite feels: the time from asking for a container to its first
HTTP 200 on the published port. minidock: `minidock.run("nginx:stable",
detach=True, ports={80: None}, root=STORE)` in process, then the readiness check on the
port it reports. podman: `podman run -d -p 127.0.0.1:PORT:80` with a port
chosen beforehand, then the same check. Stopping and removing the container
happen untimed after each run. Until the API exists the figure says so.
"""

from __future__ import annotations

import http.client
import socket
import time
from typing import Any

from harness import Context, NotAvailable, Row, Side, figure, sh

READY_TIMEOUT = 30.0
IMAGE = "nginx:stable"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http_ok(port: int, timeout: float = READY_TIMEOUT) -> None:
    """The readiness check of both sides: poll GET / until it answers 200."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
            last = f"HTTP {response.status}"
        except OSError as exc:
            last = str(exc) or type(exc).__name__
        finally:
            conn.close()
        time.sleep(0.002)
    raise TimeoutError(f"127.0.0.1:{port} not ready after {timeout:.0f} s ({last})")


def _api() -> Any:
    try:
        import minidock
    except ImportError as exc:
        raise NotAvailable(f"minidock is not importable: {exc}") from exc
    if not callable(getattr(minidock, "run", None)):
        raise NotAvailable("the Python API `minidock.run` (issue 7/7) does not exist yet")
    return minidock


@figure("api.start-to-ready", "nginx from the Python API, start to first HTTP 200, "
        "vs `podman run -d` + the same check",
        rows=[Row(anchor="podman run -d", target=0.25, issue="7/7 api")], runs=10, warmup=1)
def start_to_ready(ctx: Context) -> dict[str, list[float]]:
    minidock = _api()
    bench = ctx.bench
    started: dict[str, Any] = {}

    def api_start() -> None:
        container = minidock.run(IMAGE, detach=True, ports={80: None}, root=bench.store)
        started["minidock"] = container
        wait_http_ok(int(container.host_port(80)))

    def api_stop() -> None:
        container = started.pop("minidock", None)
        if container is not None:
            container.stop()
            container.remove()

    def podman_start() -> None:
        port = free_port()
        done = sh(["podman", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:80",
                   f"docker.io/library/{IMAGE}"], env=bench.env)
        started["podman"] = done.stdout.decode().strip()
        wait_http_ok(port)

    def podman_stop() -> None:
        container = started.pop("podman", None)
        if container:
            sh(["podman", "rm", "-f", "-t", "0", container], env=bench.env)

    ctx.cleanup.callback(podman_stop)
    ctx.cleanup.callback(api_stop)
    ctx.note("readiness: GET / on 127.0.0.1:PORT polled every 2 ms until HTTP 200")
    return ctx.alternate([
        Side("minidock", api_start, finish=api_stop),
        Side("podman run -d", podman_start, finish=podman_stop),
    ])


FIGURES = (start_to_ready,)
