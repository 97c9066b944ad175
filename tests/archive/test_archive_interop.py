"""Archives and the store against the real tools: podman, skopeo.

Acceptance of issue 1/7: a saved image loads and runs in podman; a busybox OCI
archive written by skopeo loads and lists; skopeo reads the store as an OCI
layout. The runnable image is made here from the host's static busybox.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_testkit import REPO_ROOT, busybox_tar, run_cli, store_at

pytestmark = pytest.mark.interop

DROP_IN = Path("/etc/containers/containers.conf.d/50-minidock.conf")


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"interop tools missing: {', '.join(missing)} (scripts/test.sh installs "
                    "them)")


def _hard_limit(resource: str) -> int:
    import resource as res

    _soft, hard = res.getrlimit(getattr(res, resource))
    return hard if hard != res.RLIM_INFINITY else 1048576


@pytest.fixture(scope="session")
def podman_ready() -> list[str]:
    """Configure podman for this host; returns the extra `podman run` flags it needs."""
    _need("podman")
    script = REPO_ROOT / "fixtures" / "setup_podman.sh"
    if script.exists():
        subprocess.run(["sh", str(script)], check=True, capture_output=True)
    else:
        nofile = _hard_limit("RLIMIT_NOFILE")
        DROP_IN.parent.mkdir(parents=True, exist_ok=True)
        DROP_IN.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}"]\n\n'
                           '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                           'runtime = "runc"\n')
    # podman raises RLIMIT_NPROC past what a sandboxed root may set; pin both limits
    nproc = min(_hard_limit("RLIMIT_NPROC"), int(Path("/proc/sys/kernel/pid_max").read_text()))
    nofile = _hard_limit("RLIMIT_NOFILE")
    return ["--ulimit", f"nproc={nproc}:{nproc}", "--ulimit", f"nofile={nofile}:{nofile}"]


@pytest.fixture
def busybox_image(tmp_path: Path, root: Path) -> str:
    """A runnable busybox image in the minidock store; returns its name."""
    name = f"localhost/minidock-test-{secrets.token_hex(4)}:latest"
    result = run_cli(root, "import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar(tmp_path)), name)
    assert result.exit_code == 0, result.stderr
    return name


@pytest.fixture
def podman_cleanup() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True)


def test_saved_archive_loads_and_runs_in_podman(busybox_image: str, root: Path, tmp_path: Path,
                                                 podman_ready: list[str],
                                                 podman_cleanup: list[str]) -> None:
    archive = tmp_path / "bb.tar"
    assert run_cli(root, "save", "-o", str(archive), busybox_image).exit_code == 0
    podman_cleanup.append(busybox_image)
    loaded = subprocess.run(["podman", "load", "-i", str(archive)], capture_output=True,
                            text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert f"Loaded image: {busybox_image}" in loaded.stdout
    ran = subprocess.run(["podman", "run", "--rm", *podman_ready, busybox_image,
                          "echo", "hello from minidock"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello from minidock\n"
    image_id = run_cli(root, "images", "-q", "--no-trunc", busybox_image).stdout.strip()
    podman_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}",
                                busybox_image], capture_output=True, text=True).stdout.strip()
    assert image_id == "sha256:" + podman_id  # same config digest: same IMAGE ID


def test_skopeo_oci_archive_loads_and_lists(busybox_image: str, root: Path,
                                            tmp_path: Path) -> None:
    _need("skopeo")
    docker_archive = tmp_path / "docker.tar"
    oci_archive = tmp_path / "oci.tar"
    assert run_cli(root, "save", "-o", str(docker_archive), busybox_image).exit_code == 0
    copied = subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{docker_archive}",
                             f"oci-archive:{oci_archive}:busybox:skopeo"],
                            capture_output=True, text=True)
    assert copied.returncode == 0, copied.stderr
    fresh = tmp_path / "fresh-store"
    result = run_cli(fresh, "load", "-i", str(oci_archive))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Loaded image: busybox:skopeo\n"
    listing = run_cli(fresh, "images").stdout.splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listing[1].split()[:2] == ["busybox", "skopeo"]
    assert run_cli(fresh, "system", "check").exit_code == 0


def test_skopeo_reads_the_store_as_an_oci_layout(busybox_image: str, root: Path) -> None:
    _need("skopeo")
    image = store_at(root).image(busybox_image)
    # the annotation skopeo looks up is the familiar name, as `docker images` shows it
    inspected = subprocess.run(["skopeo", "inspect", f"oci:{root}:{busybox_image}"],
                               capture_output=True, text=True)
    assert inspected.returncode == 0, inspected.stderr
    doc = json.loads(inspected.stdout)
    assert doc["Digest"] == str(image.digest)
    assert doc["Layers"] == [str(d.digest) for d in image.layers]
    assert doc["Os"] == "linux"
    raw = subprocess.run(["skopeo", "inspect", "--config", "--raw", f"oci:{root}:{busybox_image}"],
                         capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == str(image.id)


def test_umoci_lists_the_store_tags(busybox_image: str, root: Path) -> None:
    _need("umoci")
    listed = subprocess.run(["umoci", "ls", "--layout", str(root)], capture_output=True,
                            text=True)
    assert listed.returncode == 0, listed.stderr
    assert busybox_image in listed.stdout.split()
    assert os.path.isdir(root / "blobs" / "sha256")
