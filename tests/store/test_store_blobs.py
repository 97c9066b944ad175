"""Blobs: atomic writes, verified reads, and the temp-file protocol."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minidock.digest import Digest
from minidock.errors import DigestError, NotFoundError
from minidock.fsutil import create_locked_temp, write_atomic
from minidock.store.store import Store


def test_put_and_read_back(store: Store) -> None:
    digest = store.put_blob(b"hello")
    assert digest == Digest.of_bytes(b"hello")
    assert store.blobs.read(digest, 5) == b"hello"
    assert store.blobs.path(digest).read_bytes() == b"hello"


def test_flipped_byte_is_a_digest_mismatch_naming_the_blob(store: Store) -> None:
    digest = store.put_blob(b"hello world")
    path = store.blobs.path(digest)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DigestError) as info:
        store.blobs.read(digest)
    assert str(digest) in str(info.value)
    assert "digest mismatch" in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_blob_is_a_size_mismatch(store: Store) -> None:
    digest = store.put_blob(b"0123456789")
    store.blobs.path(digest).write_bytes(b"01234")
    with pytest.raises(DigestError, match="size mismatch"):
        store.blobs.read(digest, 10)


def test_missing_blob(store: Store) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        store.blobs.read(Digest.of_bytes(b"nope"))


def test_copy_in_refuses_content_that_does_not_match(store: Store, root: Path) -> None:
    import io

    expected = Digest.of_bytes(b"the real content")
    with pytest.raises(DigestError, match=str(expected)):
        store.blobs.copy_in(io.BytesIO(b"something else!!"), expected, 16)
    assert not store.blobs.exists(expected)
    assert os.listdir(root / "tmp") == []


def test_copy_in_refuses_too_much_data(store: Store) -> None:
    import io

    with pytest.raises(DigestError, match="size mismatch"):
        store.blobs.copy_in(io.BytesIO(b"x" * 100), None, 10)


def test_copy_in_repairs_a_corrupted_copy(store: Store) -> None:
    import io

    digest = store.put_blob(b"precious")
    store.blobs.path(digest).write_bytes(b"garbage!")
    store.blobs.copy_in(io.BytesIO(b"precious"), digest, 8)
    assert store.blobs.read(digest) == b"precious"


def test_locked_temp_file_survives_cleaning_and_is_replaced_if_unlinked(store: Store,
                                                                         root: Path) -> None:
    fd, name = create_locked_temp(root / "tmp", "blob")
    path = Path(name)
    try:
        assert store.blobs.clean_temp() == 0
        assert path.exists()
    finally:
        os.close(fd)
    assert store.blobs.clean_temp() == 1
    assert not path.exists()


def test_atomic_metadata_write_leaves_no_temp_file(store: Store, root: Path) -> None:
    target = root / "cache" / "example"
    write_atomic(target, b"v1", tmp_dir=root / "tmp")
    write_atomic(target, b"v2", tmp_dir=root / "tmp")
    assert target.read_bytes() == b"v2"
    assert os.listdir(root / "tmp") == []


def test_scratch_dir_of_a_killed_process_is_cleaned_and_a_live_one_kept(store: Store,
                                                                          root: Path) -> None:
    import signal

    live = store.blobs.temp_dir("build")
    (live.path / "ro").mkdir()
    (live.path / "ro" / "f").write_bytes(b"x")
    os.chmod(live.path / "ro", 0o500)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child makes a scratch dir deep enough to defeat recursion, then waits
        try:
            os.close(read_end)
            scratch = store.blobs.temp_dir("layer-dead")
            deep = scratch.path
            for _ in range(1200):
                deep = deep / "d"
                deep.mkdir()
            os.write(write_end, str(scratch.path).encode())
            signal.pause()
        finally:
            os._exit(0)
    os.close(write_end)
    dead_path = Path(os.read(read_end, 4096).decode())
    os.close(read_end)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert dead_path.is_dir()
    assert store.blobs.clean_temp() == 1
    assert not dead_path.exists() and not Path(str(dead_path)[:-2]).exists()
    assert (live.path / "ro" / "f").read_bytes() == b"x"
    live.close()
    assert os.listdir(root / "tmp") == []
