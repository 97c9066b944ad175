"""Container start-up and port forwarding (issue 3/7).

"minidock fast entry" runs `python -m minidock.cli.run`: the click-free parser
and entry point that `minidock run` dispatches to before click is imported;
"minidock" is the console script, as users type it.

`run.true`: `minidock run --rm busybox true` against `podman run --rm
[--network=none]` of the same image, with `runc run` of an unpacked bundle,
`bwrap` and `unshare` + `chroot` of the same rootfs as floors (what a
namespace sandbox costs with no image store, no Python, no state at all).

`run.ports.*`: HTTP GETs to nginx through `-p` (minidock's supervisor accepts
on the host and relays into the container's network namespace) against the
same nginx reached directly on the loopback (a `--network host` container, so
both servers are the same program with the same configuration). 2,000
sequential requests by ApacheBench on keep-alive connections, then 2,000 with
a new connection each; the side's value is requests per second.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import sys
import time
import uuid
from pathlib import Path

from harness import Context, Row, Side, command, figure, sh

BUSYBOX = "busybox:latest"
PODMAN_BUSYBOX = "docker.io/library/busybox:latest"
NGINX = "nginx:stable"


def _bundle(ctx: Context) -> Path:
    """An OCI runtime bundle of the busybox fixture (skopeo + umoci), running `true`."""
    bench = ctx.bench
    work = ctx.tmpdir("runc")
    layout = work / "layout"
    sh(["skopeo", "copy", "-q", f"oci-archive:{bench.archives['busybox']}",
        f"oci:{layout}:busybox"], env=bench.env)
    bundle = work / "bundle"
    sh(["umoci", "unpack", "--image", f"{layout}:busybox", bundle], env=bench.env)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = ["true"]
    config["process"]["terminal"] = False
    config["root"]["readonly"] = True
    config_path.write_text(json.dumps(config))
    for sub in ("proc", "dev", "sys"):  # mount points bwrap and chroot need
        (bundle / "rootfs" / sub).mkdir(exist_ok=True)
    return bundle


@figure("run.true", "`run --rm busybox true`, start to exit", runs=21, warmup=3, rows=[
    Row(anchor="podman --network=none", target=0.25, issue="3/7"),
    Row(anchor="podman", target=0.15, issue="3/7"),
    Row(anchor="podman --network=none", subject="minidock fast entry"),
    Row(anchor="runc"),
    Row(anchor="bwrap"),
    Row(anchor="unshare+chroot"),
])
def run_true(ctx: Context) -> dict[str, list[float]]:
    bench = ctx.bench
    _compile_bytecode(ctx)
    sh(bench.md("run", "--rm", BUSYBOX, "true"), env=bench.env)  # extracts the layer once
    bundle = _bundle(ctx)
    rootfs = bundle / "rootfs"
    ctx.note("runc, bwrap and unshare+chroot run the same busybox rootfs, unpacked by umoci; "
             "they have no image store, container record or log to keep")
    return ctx.alternate([
        Side("minidock", command(bench.md("run", "--rm", BUSYBOX, "true"), env=bench.env)),
        Side("minidock fast entry", command(
            [sys.executable, "-m", "minidock.cli.run", "run", "--rm", BUSYBOX, "true"],
            env=bench.env)),
        Side("podman --network=none", command(
            ["podman", "run", "--rm", "--network=none", PODMAN_BUSYBOX, "true"], env=bench.env)),
        Side("podman", command(["podman", "run", "--rm", PODMAN_BUSYBOX, "true"],
                               env=bench.env)),
        Side("runc", lambda: _runc(bundle, bench.env)),
        Side("bwrap", command(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind",
                               rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"],
                              env=bench.env)),
        Side("unshare+chroot", command(["unshare", "--mount", "--uts", "--ipc", "--net",
                                        "--pid", "--fork", "chroot", rootfs, "/bin/true"],
                                       env=bench.env)),
    ])


def _compile_bytecode(ctx: Context) -> None:
    """Compile minidock's modules as `pip install` does. From a checkout, a module
    changed since Python last wrote its bytecode is compiled again at every start
    when that bytecode cannot be written (PYTHONDONTWRITEBYTECODE, a read-only
    tree): several milliseconds that no installed copy pays."""
    import compileall

    import minidock

    compileall.compile_dir(Path(minidock.__file__).parent, quiet=1)
    ctx.note("minidock's bytecode is compiled first, as an installed copy's is")


def _runc(bundle: Path, env: dict[str, str]) -> None:
    sh(["runc", "run", "--bundle", bundle, f"bench-{uuid.uuid4().hex[:12]}"], env=env)


# ---- port forwarding ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nginx on port {port} did not answer in {timeout:.0f} s")


def ab_requests_per_second(port: int, count: int, keepalive: bool) -> float:
    """`count` sequential GETs by ApacheBench (`-c 1`); its requests per second.

    A client in C: a slow client (Python's http.client costs more per request
    than nginx and the relay together) would hide the relay's cost from the ratio.
    """
    out = sh(["ab", "-q", "-n", str(count), "-c", "1", *(["-k"] if keepalive else []),
              f"http://127.0.0.1:{port}/"]).stdout.decode()
    rate = re.search(r"Requests per second:\s+([\d.]+)", out)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non_ok = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if rate is None:
        raise RuntimeError(f"ab printed no rate:\n{out[-800:]}")
    if (failed and int(failed.group(1))) or non_ok:
        raise RuntimeError(f"ab saw failed or non-2xx requests on port {port}:\n{out[-800:]}")
    return float(rate.group(1))


def _servers(ctx: Context) -> tuple[int, int]:
    """(published port, direct port): nginx behind `-p`, and nginx on the host's loopback."""
    bench = ctx.bench
    published, direct = _free_port(), _free_port()
    conf = ctx.tmpdir("nginx-conf") / "default.conf"
    conf.write_text(f"server {{\n    listen 127.0.0.1:{direct};\n"
                    "    location / {\n        root /usr/share/nginx/html;\n"
                    "        index index.html;\n    }\n}\n")
    names = (f"bench-fwd-{uuid.uuid4().hex[:8]}", f"bench-direct-{uuid.uuid4().hex[:8]}")
    for name in names:
        ctx.cleanup.callback(sh, bench.md("rm", "-f", name), env=bench.env, check=False)
    sh(bench.md("run", "-d", "--name", names[0], "-p", f"127.0.0.1:{published}:80", NGINX),
       env=bench.env)
    sh(bench.md("run", "-d", "--name", names[1], "--network", "host", "-v",
                f"{conf}:/etc/nginx/conf.d/default.conf:ro", NGINX), env=bench.env)
    _wait_http(published)
    _wait_http(direct)
    return published, direct


def _ports_figure(ctx: Context, keepalive: bool) -> dict[str, list[float]]:
    count = ctx.bench.pick(200, 2000)
    published, direct = _servers(ctx)
    ctx.note(f"{count} sequential GET / of nginx's welcome page per run, "
             f"`ab -c 1{' -k' if keepalive else ''}` for both sides; direct: the same nginx "
             "image and configuration in a `--network host` container on 127.0.0.1")
    return ctx.alternate([
        Side("minidock -p", lambda: ab_requests_per_second(published, count, keepalive),
             reports_value=True),
        Side("direct loopback", lambda: ab_requests_per_second(direct, count, keepalive),
             reports_value=True),
    ])


@figure("run.ports.keepalive", "HTTP through `-p`, one keep-alive connection", unit="req/s",
        runs=5, warmup=1, rows=[Row(anchor="direct loopback", target=0.5, at_least=True,
                                    issue="3/7", subject="minidock -p")])
def ports_keepalive(ctx: Context) -> dict[str, list[float]]:
    return _ports_figure(ctx, keepalive=True)


@figure("run.ports.connections", "HTTP through `-p`, a new connection per request",
        unit="req/s", runs=5, warmup=1,
        rows=[Row(anchor="direct loopback", target=0.25, at_least=True, issue="3/7",
                  subject="minidock -p")])
def ports_connections(ctx: Context) -> dict[str, list[float]]:
    return _ports_figure(ctx, keepalive=False)


FIGURES = (run_true, ports_keepalive, ports_connections)
