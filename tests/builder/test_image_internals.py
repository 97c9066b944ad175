"""Acceptance of `image layers`, `image files` and `image analyze` on a built image: one
RUN writes a 10 MB file, the next deletes it (issue 17, item 1), and the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_helpers import build
from store_testkit import run_cli

import minidock
from minidock.store.store import Image, Store

DOCKERFILE = """FROM busybox
ENV WHERE=/big
RUN dd if=/dev/zero of=$WHERE bs=1048576 count=10 2>/dev/null
RUN rm $WHERE
"""


@pytest.fixture
def wasteful(store: Store, busybox: Image, tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    build(store, ctx, DOCKERFILE, tags=["wasteful:1"])
    return store.root


def test_layers_show_the_run_steps_with_their_sizes(wasteful: Path) -> None:
    result = run_cli(wasteful, "image", "layers", "wasteful:1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["INDEX", "DIFF", "ID"]
    assert len(lines) == 4
    assert "10.5MB" in lines[2] and "/bin/sh -c dd if=/dev/zero of=$WHERE" in lines[2]
    assert lines[3].split()[0] == "2" and "/bin/sh -c rm $WHERE" in lines[3]
    as_json = run_cli(wasteful, "image", "layers", "wasteful:1", "--format",
                      "{{.Index}} {{.Added}} {{.Removed}}")
    assert as_json.stdout.splitlines()[1:] == ["1 1 0", "2 0 1"]


def test_files_show_the_big_file_added_then_deleted(wasteful: Path) -> None:
    added = run_cli(wasteful, "image", "files", "wasteful:1", "--layer", "1", "--changes")
    assert added.exit_code == 0, added.stderr
    assert added.stdout.split() == ["A", "-rw-r--r--", "0:0", "10485760", "/big"]
    deleted = run_cli(wasteful, "image", "files", "wasteful:1", "--layer", "2", "--changes")
    assert deleted.stdout.splitlines() == [
        "D         -rw-r--r--   0:0       10485760   /big  (whiteout /.wh.big)"]
    merged = run_cli(wasteful, "image", "files", "wasteful:1", "--layer", "1", "/bin")
    assert "/bin/sh -> busybox" in merged.stdout and "/big" not in merged.stdout
    tree = run_cli(wasteful, "image", "files", "wasteful:1", "--tree", "--layer", "1")
    assert "├── big" in tree.stdout.splitlines() and "│   ├── busybox" in tree.stdout
    missing = run_cli(wasteful, "image", "files", "wasteful:1", "--layer", "7")
    assert missing.exit_code == 125 and "has no layer 7" in missing.stderr


def test_analyze_reports_the_wasted_ten_megabytes(wasteful: Path) -> None:
    report = run_cli(wasteful, "image", "analyze", "wasteful:1")
    assert report.exit_code == 0, report.stderr
    assert "wastedBytes: 10485760 bytes (10.5MB)" in report.stdout
    assert "2         10.5MB        /big" in report.stdout
    ci = run_cli(wasteful, "image", "analyze", "wasteful:1", "--ci", "--lowest-efficiency",
                 "0", "--highest-user-wasted-percent", "100", "--highest-wasted-bytes", "1MB")
    assert ci.exit_code == 1
    assert "FAIL: wasted bytes 10485760 is above 1048576 (biggest offender: /big" in ci.stdout
    relaxed = run_cli(wasteful, "image", "analyze", "wasteful:1", "--ci", "--lowest-efficiency",
                      "0", "--highest-user-wasted-percent", "100", "--highest-wasted-bytes",
                      "20MB")
    assert relaxed.exit_code == 0 and relaxed.stdout.endswith("PASS\n")


def test_the_python_api_gives_the_same_data(wasteful: Path) -> None:
    image = minidock.image("wasteful:1", root=wasteful)
    layers = image.layers()
    assert [layer.created_by.split()[-1] for layer in layers[1:]] == [
        "2>/dev/null", "$WHERE"]
    assert [(c.action, c.info.path, c.marker) for c in layers[2].changes()] == [
        ("D", "/big", "whiteout")]
    assert "/big" in layers[1].files() and "/big" not in layers[2].files()
    analysis = minidock.api.analyze("wasteful:1", root=wasteful)
    assert analysis.wasted_bytes == 10 << 20 and analysis.offenders[0].path == "/big"
