"""Helpers for the registry tests: small images, a progress recorder, the CLI."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from minidock import mediatypes as mt
from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.settings import Settings
from minidock.store.store import Image, Store

REPO_ROOT = Path(__file__).resolve().parents[2]
USER = "alice"
PASSWORD = "wonderland-42"


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def add_layer(store: Store, files: dict[str, bytes], *, compress: bool = True
              ) -> tuple[Descriptor, str]:
    """Put one layer blob in the store; returns (descriptor, diff_id)."""
    raw = layer_tar(files)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    data = gzip.compress(raw, mtime=0) if compress else raw
    media = mt.OCI_LAYER_GZIP if compress else mt.OCI_LAYER
    return Descriptor(media, store.put_blob(data), len(data)), diff_id


def image_config(diff_ids: list[str], *, os_name: str = "linux",
                 arch: str = "amd64") -> dict:
    return {"architecture": arch, "os": os_name,
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(diff_ids))]}


def build_image(store: Store, tag: str, layers: list[dict[str, bytes]], *,
                compress: bool = True, arch: str = "amd64") -> Image:
    """An image made of small tars, tagged `tag` in `store`."""
    descs, ids = [], []
    for files in layers:
        desc, diff_id = add_layer(store, files, compress=compress)
        descs.append(desc)
        ids.append(diff_id)
    return store.add_image(image_config(ids, arch=arch), descs, tags=[parse(tag)])


class Recorder:
    """A progress callback that keeps every event."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def statuses(self) -> set[str]:
        return {e.status for e in self.events}


def run_cli(args: list[str], settings: Settings, *, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `minidock ARGS` as a user would, in a child process with its own settings."""
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("MINIDOCK_")}
    full_env.update({"MINIDOCK_ROOT": str(settings.root),
                     "MINIDOCK_CONFIG": str(settings.config_dir)})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "minidock", *args], env=full_env,
                          capture_output=True, text=True, input=input, timeout=120,
                          cwd=REPO_ROOT)


def blob_files(store: Store) -> set[str]:
    return set(os.listdir(store.blobs.dir)) if store.blobs.dir.is_dir() else set()
