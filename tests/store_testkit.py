"""Helpers for the store, archive and image-command tests: small images, the CLI.

Images are made in the test from small in-memory tars (or the host's static
busybox when something must really run), so no test needs the network.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner

from minidock import mediatypes as mt
from minidock.cli.main import main
from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.settings import Settings
from minidock.store.store import Image, Store

REPO_ROOT = Path(__file__).resolve().parents[1]
BUSYBOX = Path("/bin/busybox")


def tar_bytes(files: dict[str, bytes | None], *, mtime: int = 1_700_000_000) -> bytes:
    """A tar of `files` (None marks a directory), in sorted order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def compress(raw: bytes, kind: str) -> tuple[bytes, str]:
    if kind == "gzip":
        return gzip.compress(raw, mtime=0), mt.OCI_LAYER_GZIP
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(raw), mt.OCI_LAYER_ZSTD
    return raw, mt.OCI_LAYER


def add_layer(store: Store, files: dict[str, bytes | None], *, compression: str = "gzip"
              ) -> tuple[Descriptor, str]:
    """Put one layer blob in the store; returns (descriptor, diff_id)."""
    raw = tar_bytes(files)
    data, media = compress(raw, compression)
    return Descriptor(media, store.put_blob(data), len(data)), "sha256:" + hashlib.sha256(
        raw).hexdigest()


def make_image(store: Store, tag: str | None, layers: list[dict[str, bytes | None]], *,
               compression: str = "gzip", created: str = "2024-01-02T03:04:05.123456789Z",
               cmd: list[str] | None = None, history: list[dict[str, Any]] | None = None,
               labels: dict[str, str] | None = None) -> Image:
    """An image made of small tars, tagged `tag` (untagged when None)."""
    with store.writing():
        descs, ids = [], []
        for files in layers:
            desc, diff_id = add_layer(store, files, compression=compression)
            descs.append(desc)
            ids.append(diff_id)
        if history is None:
            history = [{"created": created, "created_by": f"/bin/sh -c #(nop) ADD layer {i}"}
                       for i in range(len(layers))]
        inner: dict[str, Any] = {"Cmd": cmd or ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]}
        if labels:
            inner["Labels"] = labels
        config = {"architecture": "amd64", "os": "linux", "created": created, "config": inner,
                  "rootfs": {"type": "layers", "diff_ids": ids}, "history": history}
        return store.add_image(config, descs, tags=[parse(tag)] if tag else [])


def busybox_rootfs(directory: Path) -> Path:
    """A root filesystem with the host's static busybox as /bin/busybox and /bin/sh."""
    (directory / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, directory / "bin" / "busybox")
    for applet in ("sh", "echo", "cat", "ls"):
        os.symlink("busybox", directory / "bin" / applet)
    (directory / "etc").mkdir()
    (directory / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return directory


def busybox_tar(directory: Path) -> Path:
    """busybox_rootfs as a plain tar file; returns its path."""
    rootfs = busybox_rootfs(directory / "rootfs")
    out = directory / "rootfs.tar"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False)
    return out


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


def run_cli(root: Path, *args: str, input: bytes | str | None = None,
            env: dict[str, str] | None = None) -> Result:
    """Run `minidock ARGS` in-process through the real entry point (error mapping included)."""
    runner = CliRunner()
    full_env = {"MINIDOCK_ROOT": str(root), "MINIDOCK_DEBUG": "", **(env or {})}
    with runner.isolation(input=input, env=full_env) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Result(code, out.decode(errors="replace"), err.decode(errors="replace"), out)


def cli_process(root: Path, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """`python -m minidock ARGS` as a separate process (for kill and concurrency tests)."""
    env = {**os.environ, "MINIDOCK_ROOT": str(root), "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop("MINIDOCK_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "minidock", *args], env=env, **kwargs)


def store_at(root: Path, compression: str = "zstd") -> Store:
    return Store(Settings.from_env({}, root=root, compression=compression)).ensure()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> Store:
    return store_at(root)


@contextmanager
def reachable_dir(prefix: str) -> Iterator[Path]:
    """A temp directory every host user may enter (pytest's own are private to root),
    for tests that switch to another user."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
