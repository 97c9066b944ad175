"""umoci unpacks minidock's layers to the same tree `unpack_image` builds."""

import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from layer_helpers import make_rich_tree, snapshot

from minidock.layer.extract import unpack_image
from minidock.layer.writer import LayerBuilder, write_tree

pytestmark = [
    pytest.mark.interop,
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci is not installed"),
]


def _layout(root: Path, blobs: list[tuple[object, bytes]]) -> Path:
    """A minimal OCI image layout holding the given layers, tagged `latest`."""
    layout = root / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def put(data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return "sha256:" + digest, len(data)

    for _, data in blobs:
        put(data)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [str(info.diff_id) for info, _ in blobs]},
    }).encode()
    config_digest, config_size = put(config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": info.media_type, "digest": str(info.digest), "size": info.size}
                   for info, _ in blobs],
    }).encode()
    manifest_digest, manifest_size = put(manifest)
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    }))
    return layout


def test_umoci_and_unpack_image_agree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_rich_tree(src)
    blobs = []
    sink = io.BytesIO()
    blobs.append((write_tree(src, sink, "gzip"), sink.getvalue()))
    builder = LayerBuilder()
    builder.add_whiteout("zero")
    builder.add_opaque("a/b")
    builder.add_dir("a", mode=0o711, mtime=4)
    builder.add_dir("a/b", mode=0o700, mtime=6)
    builder.add_bytes("a/b/new", b"n", mtime=5)
    builder.add_bytes("a/f", b"changed", mtime=7)
    builder.add_symlink("ro", "a")
    sink = io.BytesIO()
    blobs.append((builder.write(sink, "gzip"), sink.getvalue()))
    layout = _layout(tmp_path, blobs)

    by_umoci = tmp_path / "umoci"
    subprocess.run(["umoci", "raw", "unpack", "--image", f"{layout}:latest", str(by_umoci)],
                   check=True, capture_output=True)
    ours = tmp_path / "ours"
    ours.mkdir()
    unpack_image([io.BytesIO(data) for _, data in blobs], ours)
    assert snapshot(ours) == snapshot(by_umoci)
    assert sorted(p.name for p in (ours / "a" / "b").iterdir()) == ["new"]
