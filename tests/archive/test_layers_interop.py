"""`image files` and `image analyze` on an image that went through podman: saved by
minidock, loaded by podman, saved again as an OCI archive (podman recompresses the
layers) and loaded back into a fresh store."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from store_testkit import make_image, run_cli

from minidock.store.store import Store

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_layers_of_an_image_saved_by_podman(store: Store, root: Path, tmp_path: Path,
                                            compression: str) -> None:
    if shutil.which("podman") is None:
        pytest.fail("interop tool missing: podman (scripts/test.sh installs it)")
    name = f"localhost/minidock-layers-{secrets.token_hex(4)}:latest"
    make_image(store, name, [{"etc": None, "etc/a": b"1"}, {"big": b"b" * 5000},
                             {".wh.big": b""}], compression=compression)
    ours, theirs = tmp_path / "ours.tar", tmp_path / "theirs.tar"
    assert run_cli(root, "save", "-o", str(ours), name).exit_code == 0
    try:
        subprocess.run(["podman", "load", "-i", str(ours)], check=True, capture_output=True)
        subprocess.run(["podman", "save", "--format", "oci-archive", "-o", str(theirs), name],
                       check=True, capture_output=True)
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True)
    fresh = tmp_path / "fresh"
    assert run_cli(fresh, "load", "-i", str(theirs)).exit_code == 0
    changes = run_cli(fresh, "image", "files", name, "--layer", "2", "--changes")
    assert changes.exit_code == 0, changes.stderr
    assert changes.stdout.split() == ["D", "-rw-r--r--", "0:0", "5000", "/big", "(whiteout",
                                      "/.wh.big)"]
    report = run_cli(fresh, "image", "analyze", name)
    assert "wastedBytes: 5000 bytes" in report.stdout
