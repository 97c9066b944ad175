"""`save`, `load` and `import` from the command line: files, pipes, and bad input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from store_testkit import make_image, run_cli, store_at, tar_bytes

from minidock.store.store import Store


def test_save_to_file_and_load_elsewhere(store: Store, root: Path, tmp_path: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}], compression="zstd")
    store.tag("app:1", "app:2")
    archive = tmp_path / "out" / "app.tar"
    archive.parent.mkdir()
    saved = run_cli(root, "save", "-o", str(archive), "app:1", "app:2")
    assert saved.exit_code == 0, saved.stderr
    assert saved.stdout == ""
    assert os.listdir(archive.parent) == ["app.tar"]  # the temp file was renamed
    other = tmp_path / "other"
    loaded = run_cli(other, "load", "-i", str(archive))
    assert loaded.exit_code == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: app:1\nLoaded image: app:2\n"
    assert run_cli(other, "images", "-q", "--no-trunc").stdout.split() == [str(img.id)] * 2


def test_save_to_stdout_and_load_from_stdin(store: Store, root: Path, tmp_path: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    for fmt in ("docker", "oci"):
        saved = run_cli(root, "save", "--format", fmt, "app:1")
        assert saved.exit_code == 0, saved.stderr
        other = tmp_path / f"other-{fmt}"
        loaded = run_cli(other, "load", input=saved.stdout_bytes)
        assert loaded.stdout == "Loaded image: app:1\n", loaded.stderr
        assert store_at(other).image("app:1").id == img.id
    assert os.listdir(root / "tmp") == []


def test_load_quiet_compressed_and_replacing(store: Store, root: Path, tmp_path: Path) -> None:
    source = store_at(tmp_path / "source")
    new = make_image(source, "app:1", [{"v": b"new"}])
    archive = tmp_path / "app.tar.gz"
    archive.write_bytes(gzip.compress(run_cli(tmp_path / "source", "save", "app:1")
                                      .stdout_bytes))
    old = make_image(store, "app:1", [{"v": b"old"}])
    loaded = run_cli(root, "load", "-q", "-i", str(archive))
    assert loaded.stdout == (f"The image app:1 already exists, renaming the old one with ID "
                             f"{old.id} to empty string\nLoaded image: app:1\n")
    assert store_at(root).image("app:1").id == new.id


def test_load_by_id_prints_the_id(store: Store, root: Path, tmp_path: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    data = run_cli(root, "save", img.short_id).stdout_bytes
    loaded = run_cli(tmp_path / "other", "load", input=data)
    assert loaded.stdout == f"Loaded image ID: {img.id}\n"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_bad_archives_give_one_line_and_add_nothing(store: Store, root: Path, tmp_path: Path,
                                                    damage: str) -> None:
    make_image(store, "app:1", [{"big": os.urandom(300_000)}])
    data = run_cli(root, "save", "app:1").stdout_bytes
    bad = {"truncate": data[: len(data) // 2], "garbage": os.urandom(4096),
           "empty": b""}[damage]
    path = tmp_path / "bad.tar"
    path.write_bytes(bad)
    other = tmp_path / "other"
    result = run_cli(other, "load", "-i", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: invalid archive: ")
    assert "Traceback" not in result.stderr
    assert run_cli(other, "images", "-q").stdout == ""
    assert os.listdir(other / "tmp") == []


def test_load_of_a_missing_file(root: Path) -> None:
    result = run_cli(root, "load", "-i", "/nonexistent/archive.tar")
    assert result.exit_code == 1
    assert result.stderr == "Error: open /nonexistent/archive.tar: no such file or directory\n"


def test_failed_save_leaves_no_file(store: Store, root: Path, tmp_path: Path) -> None:
    img = make_image(store, "app:1", [{"big": os.urandom(100_000)}])
    path = store.blobs.path(img.layers[0].digest)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x10
    path.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(root, "save", "-o", str(out / "app.tar"), "app:1")
    assert result.exit_code == 1
    assert str(img.layers[0].digest) in result.stderr
    assert os.listdir(out) == []


def test_save_of_an_unknown_image(root: Path, tmp_path: Path) -> None:
    result = run_cli(root, "save", "-o", str(tmp_path / "x.tar"), "foo:bar")
    assert result.exit_code == 1
    assert result.stderr == "Error: No such image: foo:bar\n"
    assert not (tmp_path / "x.tar").exists()


def test_import_file_and_stdin(root: Path, tmp_path: Path) -> None:
    rootfs = tar_bytes({"bin": None, "bin/hello": b"hi"})
    path = tmp_path / "rootfs.tar"
    path.write_bytes(rootfs)
    result = run_cli(root, "import", "-c", 'CMD ["/bin/hello"]', "-c", "ENV A=1",
                     "-m", "first import", str(path), "hello:1")
    assert result.exit_code == 0, result.stderr
    image_id = result.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    store = store_at(root)
    img = store.image("hello:1")
    assert str(img.id) == image_id
    assert img.config["config"] == {"Cmd": ["/bin/hello"], "Env": ["A=1"]}
    history = run_cli(root, "history", "hello:1").stdout.splitlines()
    assert history[1].endswith("first import")
    piped = run_cli(root, "import", "-", "hello:2", input=gzip.compress(rootfs))
    assert piped.exit_code == 0, piped.stderr
    assert run_cli(root, "history", "hello:2").stdout.splitlines()[1].endswith(
        "Imported from -")


def test_import_refusals(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "rootfs.tar"
    path.write_bytes(tar_bytes({"f": b"1"}))
    bad_change = run_cli(root, "import", "-c", "RUN rm -rf /", str(path))
    assert bad_change.exit_code != 0
    assert "is not a valid change command" in bad_change.stderr
    bad_ref = run_cli(root, "import", str(path), "Bad Name")
    assert bad_ref.exit_code != 0
    assert "invalid reference format" in bad_ref.stderr
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(2048))
    result = run_cli(root, "import", str(garbage), "x:1")
    assert result.exit_code == 1
    assert result.stderr == "Error: invalid input: not a tar archive\n"
    assert run_cli(root, "images", "-q").stdout == ""
    for result in (bad_change, bad_ref):
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 2
