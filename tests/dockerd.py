"""A private Docker daemon for tests that compare minidock with the real Docker.

The daemon keeps everything under one temporary directory (data-root, exec-root,
socket, pid file) and runs in a network namespace of its own: its default bridge
and the userland port proxy exist only there, `--iptables=false` leaves every
firewall alone, and a published port is reached by running the client (curl) in
that namespace. It never pulls: the fixture images are loaded from their archives,
converted to the docker-archive format Docker 20.10 loads.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "fixtures" / "cache" / "images"
DOCKER = "/usr/bin/docker"  # the docker.io client; another `docker` may come first on PATH
DOCKERD = "/usr/sbin/dockerd"
FIXTURE_IMAGES = {"busybox-latest": "busybox:latest", "nginx-stable": "nginx:stable"}
START_DEADLINE = 60.0
STOP_GRACE = 20.0


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, where the README's test command installs docker.io."""
    if os.environ.get("CI"):
        pytest.fail(f"the Docker reference is required under CI: {reason}")
    pytest.skip(reason)


class Dockerd:
    """One private dockerd; `cli` runs the docker client against it."""

    def __init__(self, base: Path):
        self.base = base
        self.socket = base / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for tool in (DOCKERD, DOCKER, "/usr/bin/unshare", "/usr/bin/nsenter"):
            if not os.access(tool, os.X_OK):
                unavailable(f"{tool} is not installed")
        if os.geteuid() != 0:
            unavailable("a private dockerd needs root")
        command = [DOCKERD, "--data-root", str(self.base / "data"),
                   "--exec-root", str(self.base / "exec"), "-H", f"unix://{self.socket}",
                   "--pidfile", str(self.base / "docker.pid"), "--iptables=false",
                   "--ip6tables=false", "--ip-masq=false"]
        log = (self.base / "dockerd.log").open("wb")
        # its own network namespace, loopback up; exec keeps the pid dockerd's own
        self.proc = subprocess.Popen(
            ["/usr/bin/unshare", "--net", "--", "sh", "-c",
             'ip link set lo up && exec "$@"', "sh", *command],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_DEADLINE
        while self.cli("version", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = (self.base / "dockerd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"dockerd did not start:\n{text}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, a grace period, then SIGKILL; only the daemon this started."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def cli(self, *args: str, check: bool = True, input: bytes | None = None,
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([DOCKER, "-H", f"unix://{self.socket}", *args], input=input,
                                capture_output=True, check=False,
                                env={**os.environ, "DOCKER_CONFIG": str(self.base / "config")})
        out = subprocess.CompletedProcess(result.args, result.returncode,
                                          result.stdout.decode(errors="replace"),
                                          result.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {out.returncode}\n{out.stderr}")
        return out

    def in_netns(self, *command: str) -> list[str]:
        """`command` run in the daemon's network namespace (where its ports are)."""
        assert self.proc is not None
        return ["/usr/bin/nsenter", f"--net=/proc/{self.proc.pid}/ns/net", *command]

    def load_fixture_images(self) -> None:
        skopeo = shutil.which("skopeo")
        if skopeo is None:
            unavailable("skopeo is not installed")
        for stem, name in FIXTURE_IMAGES.items():
            archive = IMAGES / f"{stem}.oci.tar"
            if not archive.exists():
                unavailable(f"{archive} is missing (fixtures/build_images.py builds it)")
            converted = self.base / f"{stem}.docker.tar"
            subprocess.run([skopeo, "copy", "-q", f"oci-archive:{archive}",
                            f"docker-archive:{converted}:{name}"], check=True)
            self.cli("load", "-i", str(converted))
            converted.unlink()
