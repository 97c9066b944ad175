"""The extractor against a tree that someone swaps for symlinks while it works.

The layer stream stops halfway through a file's data; meanwhile a directory
the layer made is replaced by a symlink to a host directory; then the stream
goes on. The directory modes and times set at the end, and every entry created
after the swap, must not land in the host directory.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import threading
from pathlib import Path

from minidock.layer.extract import extract

SIZE = 1 << 20


def _layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("a", "a/b"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(info)
        info = tarfile.TarInfo("a/b/big")
        info.size, info.mode = SIZE, 0o644
        tar.addfile(info, io.BytesIO(b"x" * SIZE))
        info = tarfile.TarInfo("a/b/fifo")
        info.type, info.mode = tarfile.FIFOTYPE, 0o777
        tar.addfile(info)
    return buf.getvalue()


def test_a_directory_swapped_for_a_link_mid_layer_never_changes_the_host(
        tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "b").mkdir(parents=True)
    os.chmod(host / "b", 0o700)
    os.chmod(host, 0o700)
    dest = tmp_path / "dest"
    dest.mkdir()
    data = _layer()
    half = data.index(b"x" * 4096) + SIZE // 2
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(read_fd, "rb", buffering=0) as stream:
                extract(stream, dest)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    with os.fdopen(write_fd, "wb", buffering=0) as feed:
        feed.write(data[:half])
        while not (dest / "a" / "b" / "big").exists():
            os.sched_yield()
        os.rename(dest / "a", dest / "a.moved")
        os.symlink(host, dest / "a")
        feed.write(data[half:])
    worker.join()
    assert stat.S_IMODE(os.lstat(host).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(host / "b").st_mode) == 0o700
    assert os.listdir(host / "b") == []
    assert os.readlink(dest / "a") == str(host)
    # what was made before the swap is where the extractor made it
    assert (dest / "a.moved" / "b" / "big").stat().st_size == SIZE
    assert all("Traceback" not in str(e) for e in errors)
