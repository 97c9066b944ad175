"""Acceptance items 5-7 of issue 1/7: corruption, concurrency, and a killed load.

5. A flipped byte in a blob: every command that reads it fails with a one-line
   digest-mismatch error naming the blob, and `system check` reports it.
6. Eight concurrent processes doing load, tag and rmi leave a consistent store.
7. `kill -9` of a load of a large image leaves nothing referenced; the next
   command works and the next writer cleans the dead load's temp files.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import random
import signal
import subprocess
import tarfile
import time
from pathlib import Path

from store_testkit import cli_process, make_image, run_cli, store_at

from minidock.store.store import Store


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _one_line_mismatch(result, digest: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert digest in result.stderr, result.stderr
    assert "mismatch" in result.stderr
    assert "Traceback" not in result.stderr


def test_flipped_byte_in_a_layer_blob(store: Store, root: Path, tmp_path: Path) -> None:
    img = make_image(store, "app:1", [{"bin/app": os.urandom(64_000)}], compression="zstd")
    archive = tmp_path / "before.tar"
    assert run_cli(root, "save", "-o", str(archive), "app:1").exit_code == 0
    layer = str(img.layers[0].digest)
    _flip(store.blobs.path(img.layers[0].digest), 30_000)

    _one_line_mismatch(run_cli(root, "save", "-o", str(tmp_path / "a.tar"), "app:1"), layer)
    _one_line_mismatch(run_cli(root, "save", "--format", "oci", "-o",
                               str(tmp_path / "b.tar"), "app:1"), layer)
    assert not (tmp_path / "a.tar").exists() and not (tmp_path / "b.tar").exists()

    # the archive saved before holds the layer as a plain tar named by its diff_id
    diff_id = str(img.diff_ids[0])
    data = bytearray(archive.read_bytes())
    member = data.index(f"blobs/sha256/{diff_id[7:]}".encode())
    data[member + 512 + 20_000] ^= 0x01
    archive.write_bytes(bytes(data))
    fresh = tmp_path / "fresh"
    _one_line_mismatch(run_cli(fresh, "load", "-i", str(archive)), diff_id)
    assert run_cli(fresh, "images", "-q").stdout == ""

    check = run_cli(root, "system", "check")
    assert check.exit_code == 1
    assert check.stdout.startswith(f"blob {layer}: digest mismatch")


def test_flipped_byte_in_a_config_blob(store: Store, root: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    config = str(img.manifest.config.digest)
    _flip(store.blobs.path(img.manifest.config.digest), 5)
    for args in (["inspect", "app:1"], ["image", "inspect", "app:1"], ["history", "app:1"],
                 ["images"], ["save", "app:1"]):
        _one_line_mismatch(run_cli(root, *args), config)
    check = run_cli(root, "system", "check")
    assert check.exit_code == 1
    assert config in check.stdout


# ---------------------------------------------------------------- 6: concurrency


def _worker(root: str, worker: int, shared: str, own: str, results: multiprocessing.Queue
            ) -> None:
    import sys

    from minidock.cli.main import main

    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the process' life
    codes: list[tuple[str, int]] = []

    def run(*args: str) -> None:
        try:
            main(["--root", root, *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: B036 - report any crash to the parent
            code = -1
            codes.append((f"crash {type(exc).__name__}: {exc}", code))
        codes.append((" ".join(args), code))

    for round_ in range(3):
        run("load", "-i", shared)
        run("tag", "shared:1", f"w{worker}:r{round_}")
        run("load", "-i", own)
        run("rmi", f"w{worker}:r{round_}")
        if worker % 2:
            run("rmi", "shared:1")
        run("tag", f"own{worker}:1", f"own{worker}:r{round_}")
        if round_ < 2:
            run("rmi", f"own{worker}:r{round_}")
    results.put((worker, codes))
    results.close()
    results.join_thread()  # the queue's feeder thread must flush before _exit
    os._exit(0)


def _archive_of(source: Store, root: Path, name: str, out: Path) -> str:
    assert run_cli(root, "save", "-o", str(out), name).exit_code == 0
    return str(out)


def test_eight_processes_loading_tagging_and_removing(tmp_path: Path) -> None:
    source_root = tmp_path / "source"
    source = store_at(source_root)
    make_image(source, "shared:1", [{"base": b"b" * 20_000}, {"shared": b"s"}])
    shared = _archive_of(source, source_root, "shared:1", tmp_path / "shared.tar")
    owns = []
    for w in range(8):
        make_image(source, f"own{w}:1", [{"base": b"b" * 20_000}, {f"own{w}": os.urandom(5000)}])
        owns.append(_archive_of(source, source_root, f"own{w}:1", tmp_path / f"own{w}.tar"))

    root = tmp_path / "store"
    store_at(root)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(root), w, shared, owns[w], results))
             for w in range(8)]
    for p in procs:
        p.start()
    reports = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    for worker, codes in reports.items():
        for what, code in codes:
            assert code in (0, 1), (worker, what, code)  # 1: image removed by another
            if what.startswith(("load", f"tag own{worker}")):
                assert code == 0, (worker, what)

    check = run_cli(root, "system", "check")
    assert check.exit_code == 0, check.stdout + check.stderr
    store = store_at(root)
    for w in range(8):
        img = store.image(f"own{w}:r2")
        assert store.image(f"own{w}:1").id == img.id
        for layer in img.layers:
            store.blobs.verify(layer.digest, layer.size)
        assert run_cli(root, "save", "-o", str(tmp_path / f"check{w}.tar"),
                       f"own{w}:r2").exit_code == 0


# ---------------------------------------------------------------- 7: kill -9


BIG = 200 * 1000 * 1000


def _big_chunks(seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    left = BIG
    while left:
        n = min(left, 4 << 20)
        left -= n
        yield rng.randbytes(n)


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _pad(size: int) -> bytes:
    return bytes(-size % 512)


def _big_layer_parts(seed: int):  # type: ignore[no-untyped-def]
    """The layer tar (one 200 MB file), piece by piece, never whole in memory."""
    yield _header("big.bin", BIG)
    yield from _big_chunks(seed)
    yield _pad(BIG) + bytes(1024)


def test_kill_9_during_a_large_load(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store_at(root)
    layer_size = 0
    digest = hashlib.sha256()
    for part in _big_layer_parts(7):
        digest.update(part)
        layer_size += len(part)
    diff_id = "sha256:" + digest.hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    assert config  # with manifest.json it would follow the layer; the load is cut first

    proc = cli_process(root, "load", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert proc.stdin is not None
    sent = 0
    try:
        proc.stdin.write(_header(f"blobs/sha256/{diff_id[7:]}", layer_size))
        for part in _big_layer_parts(7):
            proc.stdin.write(part)
            sent += len(part)
            if sent > BIG // 2:
                break  # hold the rest back: the load is now mid-layer
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partial = [p for p in (root / "tmp").iterdir() if p.name.startswith("blob-")
                       and p.stat().st_size > 20_000_000]
            if partial:
                break
            time.sleep(0.01)
        assert partial, "the load never started writing the layer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    stale = [p.name for p in (root / "tmp").iterdir()]
    assert stale, "the killed load left its temp file (the cleaning below must remove it)"

    # nothing referenced, and every command still works
    assert run_cli(root, "images", "-q").stdout == ""
    assert json.loads((root / "index.json").read_text())["manifests"] == []
    assert run_cli(root, "system", "check").exit_code == 0

    # the next writer removes what the dead one left, and works
    empty_config = json.dumps({"architecture": "amd64", "os": "linux",
                               "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    empty_hex = hashlib.sha256(empty_config).hexdigest()
    small = io.BytesIO()
    with tarfile.open(fileobj=small, mode="w") as tar:
        for name, data in ((f"blobs/sha256/{empty_hex}", empty_config),
                           ("manifest.json", json.dumps([{"Config": f"blobs/sha256/{empty_hex}",
                                                          "RepoTags": ["empty:1"],
                                                          "Layers": []}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    loaded = run_cli(root, "load", input=small.getvalue())
    assert loaded.stdout == "Loaded image: empty:1\n", loaded.stderr
    assert os.listdir(root / "tmp") == []
    assert run_cli(root, "system", "check").exit_code == 0
