"""The issue's nginx scenarios with the fixture image (`fixtures/build_images.py nginx`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runtime_helpers import (
    REPO,
    Minidock,
    free_port,
    http_get,
    mounts_under,
    processes_using,
    wait_for,
)

ARCHIVE = REPO / "fixtures" / "cache" / "images" / "nginx-stable.oci.tar"


@pytest.fixture(scope="module")
def nginx_loaded(image_store: Path) -> Path:
    if not ARCHIVE.exists():  # builds from the Debian packages (cached after the first time)
        subprocess.run([sys.executable, str(REPO / "fixtures" / "build_images.py"), "nginx"],
                       check=True, capture_output=True)
    Minidock(image_store, "overlay").ok("load", "-i", str(ARCHIVE))
    return image_store


@pytest.fixture
def ngx(nginx_loaded: Path, md: Minidock) -> Minidock:
    return md


def test_detached_nginx_serves_logs_execs_stops(ngx: Minidock) -> None:
    port = free_port()
    ngx.ok("run", "-d", "--name", "web", "-p", f"{port}:80", "nginx:stable")
    page = wait_for(lambda: http_get(port))
    assert b"Welcome to nginx!" in page
    wait_for(lambda: '"GET / HTTP/1.0" 200' in ngx.ok("logs", "web"))
    row = ngx.ok("ps").splitlines()[1]
    assert f"0.0.0.0:{port}->80/tcp" in row and row.endswith("web")
    assert '"nginx -g \'daemon of…"' in row
    version = ngx("exec", "web", "nginx", "-v")
    assert version.code == 0 and "nginx version: nginx/" in version.err
    start = time.monotonic()
    assert ngx.ok("stop", "web") == "web\n"
    assert time.monotonic() - start < 10  # SIGQUIT (the image's STOPSIGNAL) ends it at once
    assert any("Exited (0)" in line for line in ngx.ok("ps", "-a").splitlines()
               if line.endswith("web"))
    assert ngx.ok("rm", "web") == "web\n"
    assert http_get(port) is None


def test_foreground_nginx_and_ctrl_c(ngx: Minidock) -> None:
    port = free_port()
    proc = ngx.popen("run", "--rm", "-p", f"{port}:80", "nginx:stable",
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert b"Welcome to nginx!" in wait_for(lambda: http_get(port))
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2
    assert b'"GET / HTTP/1.0" 200' in out  # the access log reached the terminal
    assert ngx.ok("ps", "-aq") == ""
    assert mounts_under(ngx.root) == []
    assert processes_using(ngx.root / "containers") == []
    assert http_get(port) is None
