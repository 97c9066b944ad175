"""The nginx tutorial, verbatim with `minidock` for `docker`, in a fresh store that holds
only the fixture images (acceptance 1 and 2 of the builder issue)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tutorial_project import write_first_project

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
NGINX_ARCHIVE = REPO / "fixtures" / "cache" / "images" / "nginx-stable.oci.tar"

if os.geteuid() != 0:
    pytest.skip("containers with published ports need root here", allow_module_level=True)


@pytest.fixture(scope="module")
def nginx_archive() -> Path:
    """The fixture archive; built from the Debian packages when it is missing."""
    if not NGINX_ARCHIVE.exists():
        subprocess.run([sys.executable, str(REPO / "fixtures" / "build_images.py"), "nginx"],
                       check=True)
    assert NGINX_ARCHIVE.exists()
    return NGINX_ARCHIVE


class Shell:
    def __init__(self, root: Path, cwd: Path):
        self.env = {**os.environ, "MINIDOCK_ROOT": str(root)}
        self.env.pop("SOURCE_DATE_EPOCH", None)
        self.cwd = cwd

    def __call__(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "minidock", *args], env=self.env,
                                cwd=self.cwd, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "minidock", *args], env=self.env,
                                cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def cells(line: str) -> list[str]:
    """A table row's cells (columns are padded with at least three spaces)."""
    return re.split(r"\s{3,}", line.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, proc: subprocess.Popen[bytes], deadline: float) -> str:
    """GET `url` once the container serves it; fail with its output if it ended."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"the container ended ({proc.returncode}): {output}"
                                     ) from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def interrupt(proc: subprocess.Popen[bytes]) -> bytes:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    return out


def test_tutorial(tmp_path: Path, nginx_archive: Path) -> None:
    root = tmp_path / "store"
    project = tmp_path / "docker-nginx-test"
    project.mkdir()
    sh = Shell(root, project)
    sh("load", "-i", str(nginx_archive))
    base_id = re.search(r"\b([0-9a-f]{12})\b", sh("images", "-q")).group(1)  # type: ignore[union-attr]

    (project / "Dockerfile").write_text("FROM nginx:stable\n")
    for context in (str(project), "."):
        out = sh("build", context).splitlines()
        assert out[1:] == ["Step 1/1 : FROM nginx:stable", f" ---> {base_id}",
                           f"Successfully built {base_id}"]
    base_history = sh("image", "history", base_id).splitlines()

    with (project / "Dockerfile").open("a") as f:
        f.write("EXPOSE 443\n")
    out = sh("build", ".").splitlines()
    assert "Step 2/2 : EXPOSE 443" in out
    new_id = out[-1].split()[-1]
    assert new_id != base_id
    history = [cells(line) for line in sh("image", "history", new_id).splitlines()]
    base_rows = [cells(line) for line in base_history]
    assert history[0] == base_rows[0]  # the header
    assert history[1][0] == new_id and history[1][2] == "/bin/sh -c #(nop)  EXPOSE 443"
    # the base's rows follow: its ID on its own last step (docker shows the local
    # parent there), <missing> below
    assert [row[1:] for row in history[2:]] == [row[1:] for row in base_rows[1:]]
    assert history[2][0] == base_id
    assert all(row[0] == "<missing>" for row in history[3:])
    for listing in (sh("images"), sh("image", "ls")):
        rows = [line.split()[:3] for line in listing.splitlines()[1:]]
        assert rows == [["<none>", "<none>", new_id], ["nginx", "stable", base_id]]

    # run it, stop it with Ctrl-C
    proc = sh.popen("run", "--rm", new_id)
    time.sleep(1.0)
    assert proc.poll() is None, proc.communicate()[0]
    interrupt(proc)
    # publish the port: the welcome page, and the access-log line on the terminal
    port = free_port()
    proc = sh.popen("run", "--rm", "-p", f"{port}:80", new_id)
    page = fetch(f"http://localhost:{port}/", proc, time.monotonic() + 20)
    assert "Welcome to nginx!" in page
    time.sleep(0.5)
    log = interrupt(proc).decode()
    assert re.search(r'"GET / HTTP/1\.[01]" 200', log), log
    assert sh("ps", "-a").splitlines()[1:] == []

    assert sh("rmi", new_id).splitlines()[0].startswith("Deleted: sha256:")
    out = sh("rmi", "nginx:stable").splitlines()
    assert out[0] == "Untagged: nginx:stable"
    assert out[1].startswith("Deleted: sha256:")
    assert sh("images").splitlines()[1:] == []


def test_tutorial_first_dockerfile_with_volumes(tmp_path: Path, nginx_archive: Path) -> None:
    root = tmp_path / "store"
    project = tmp_path / "docker-nginx-test"
    write_first_project(project)
    sh = Shell(root, project)
    sh("load", "-i", str(nginx_archive))
    out = sh("build", "-t", "nginx-test", ".").splitlines()
    assert out[-1] == "Successfully tagged nginx-test:latest"
    history = sh("history", "nginx-test").splitlines()
    assert re.search(r"/bin/sh -c #\(nop\) COPY file:[0-9a-f]+", history[3])
    # the volumes are there, seeded from the image, with the copied file in them
    listing = sh("run", "--rm", "nginx-test", "sh", "-c",
                 "ls /etc/nginx/conf.d; grep -c conf.d /proc/mounts")
    assert "upstream.conf" in listing and "default.conf" in listing
    assert listing.split()[-1] == "1"
    port = free_port()
    proc = sh.popen("run", "--rm", "-p", f"{port}:80", "nginx-test")
    assert "Welcome to nginx!" in fetch(f"http://localhost:{port}/", proc,
                                        time.monotonic() + 20)
    interrupt(proc)
