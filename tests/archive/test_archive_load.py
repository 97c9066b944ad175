"""load: every archive form in, nothing referenced unless every blob is in and verified."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
from pathlib import Path

import pytest
import zstandard
from store_testkit import make_image, store_at, tar_bytes

from minidock import mediatypes as mt
from minidock.archive import load, save
from minidock.errors import ArchiveError, DigestError, MinidockError
from minidock.oci.model import canonical_json, host_platform
from minidock.store.store import Store


def _save(store: Store, names: list[str], fmt: str = "docker") -> bytes:
    buf = io.BytesIO()
    save(store, names, buf, fmt=fmt)
    return buf.getvalue()


def _archive(members: list[tuple[str, bytes | str]]) -> bytes:
    """A tar of (name, bytes) files and (name, "->target") symlinks, in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content[2:]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _assert_nothing_referenced(store: Store, root: Path) -> None:
    assert store.images() == []
    assert os.listdir(root / "tmp") == []


@pytest.fixture
def source(tmp_path: Path) -> Store:
    return store_at(tmp_path / "source")


def test_docker_archive_round_trip_keeps_the_image_id(source: Store, store: Store) -> None:
    img = make_image(source, "app:1", [{"a": b"1"}, {"b": b"2"}], compression="zstd")
    source.tag("app:1", "localhost:5000/team/app:v2")
    loaded = load(store, io.BytesIO(_save(source, ["app:1", "localhost:5000/team/app:v2"])))
    assert len(loaded) == 1
    assert loaded[0].image.id == img.id
    assert [t.familiar for t in loaded[0].tags] == ["app:1", "localhost:5000/team/app:v2"]
    copy = store.image("localhost:5000/team/app:v2")
    assert copy.id == img.id
    assert copy.diff_ids == img.diff_ids
    assert [d.media_type for d in copy.layers] == [mt.OCI_LAYER, mt.OCI_LAYER]
    assert [d.digest for d in copy.layers] == img.diff_ids
    assert store.check() == []


def test_oci_archive_round_trip_keeps_the_manifest(source: Store, store: Store) -> None:
    img = make_image(source, "app:1", [{"a": b"1"}], compression="gzip")
    loaded = load(store, io.BytesIO(_save(source, ["app:1"], fmt="oci")))
    assert loaded[0].image.digest == img.digest
    copy = store.image("app:1")
    assert copy.layers == img.layers
    assert copy.config == img.config
    assert store.check() == []


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])
def test_compressed_archives(source: Store, store: Store, kind: str) -> None:
    img = make_image(source, "app:1", [{"a": b"1"}])
    raw = _save(source, ["app:1"])
    packed = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress,
              "xz": lzma.compress, "bzip2": bz2.compress}[kind](raw)
    loaded = load(store, io.BytesIO(packed))
    assert loaded[0].image.id == img.id


class _Pipe:
    """A stream with nothing but small reads, like stdin from a pipe."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, 4096) if n and n > 0 else 4096)

    def close(self) -> None:
        pass


def test_load_from_a_pipe(source: Store, store: Store) -> None:
    img = make_image(source, "app:1", [{"a": b"x" * 100_000}])
    loaded = load(store, _Pipe(_save(source, ["app:1"])))  # type: ignore[arg-type]
    assert loaded[0].image.id == img.id


def _legacy_archive() -> tuple[bytes, str, list[str]]:
    """A docker-archive as Docker before 25 wrote it, with a symlinked shared layer."""
    layer_one = tar_bytes({"etc/hostname": b"legacy\n"})
    layer_two = tar_bytes({"bin/app": b"binary"})
    ids = ["sha256:" + _sha(layer_one), "sha256:" + _sha(layer_two)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/app"]},
                         "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    cfg_hex = _sha(config)
    manifest = json.dumps([
        {"Config": f"{cfg_hex}.json", "RepoTags": ["legacy:1"],
         "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]},
        {"Config": f"{cfg_hex}.json", "RepoTags": ["legacy:alias"],
         "Layers": ["cccc/layer.tar", "bbbb/layer.tar"]},
    ]).encode()
    data = _archive([
        ("aaaa/VERSION", b"1.0"), ("aaaa/json", b"{}"), ("aaaa/layer.tar", layer_one),
        ("bbbb/VERSION", b"1.0"), ("bbbb/json", b"{}"), ("bbbb/layer.tar", layer_two),
        ("cccc/layer.tar", "->../aaaa/layer.tar"),
        (f"{cfg_hex}.json", config),
        ("repositories", b'{"legacy":{"1":"bbbb"}}'),
        ("manifest.json", manifest),
    ])
    return data, "sha256:" + cfg_hex, ids


def test_legacy_docker_archive_with_symlinked_layer(store: Store) -> None:
    data, image_id, ids = _legacy_archive()
    loaded = load(store, io.BytesIO(data))
    assert {str(item.image.id) for item in loaded} == {image_id}
    img = store.image("legacy:alias")
    assert [str(d.digest) for d in img.layers] == ids
    assert store.check() == []


def test_docker_archive_with_a_gzipped_layer(store: Store) -> None:
    raw = tar_bytes({"f": b"zipped"})
    packed = gzip.compress(raw)
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + _sha(raw)]}}
                        ).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["gz:1"],
                            "Layers": ["l/layer.tar.gz"]}]).encode()
    load(store, io.BytesIO(_archive([("l/layer.tar.gz", packed), ("c.json", config),
                                     ("manifest.json", manifest)])))
    img = store.image("gz:1")
    assert img.layers[0].media_type == mt.OCI_LAYER_GZIP
    assert str(img.diff_ids[0]) == "sha256:" + _sha(raw)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.97, -1600])
def test_truncated_archive_adds_nothing(source: Store, store: Store, root: Path,
                                        keep: float) -> None:
    """Cut inside a layer, the config, or the metadata written last."""
    make_image(source, "app:1", [{"big": os.urandom(200_000)}, {"b": b"2"}])
    data = _save(source, ["app:1"])
    cut = data[: int(len(data) * keep) // 7 * 7] if keep > 0 else data[:int(keep)]
    with pytest.raises((ArchiveError, DigestError)) as info:
        load(store, io.BytesIO(cut))
    assert "\n" not in str(info.value)
    _assert_nothing_referenced(store, root)


def test_garbage_is_not_an_archive(store: Store, root: Path) -> None:
    with pytest.raises(ArchiveError, match="not a tar archive"):
        load(store, io.BytesIO(os.urandom(5000)))
    with pytest.raises(ArchiveError, match="empty"):
        load(store, io.BytesIO(b""))
    _assert_nothing_referenced(store, root)


def test_tar_without_image_metadata(store: Store, root: Path) -> None:
    with pytest.raises(ArchiveError, match="no manifest.json or index.json"):
        load(store, io.BytesIO(_archive([("hello.txt", b"hi")])))
    _assert_nothing_referenced(store, root)


def test_manifest_naming_a_missing_layer(source: Store, store: Store, root: Path) -> None:
    img = make_image(source, "app:1", [{"a": b"1"}, {"b": b"2"}])
    data = _save(source, ["app:1"])
    missing = f"blobs/sha256/{img.diff_ids[1].hex}"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        kept = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()  # type: ignore
                if m.isfile() and m.name != missing]
    with pytest.raises(ArchiveError, match=missing):
        load(store, io.BytesIO(_archive(kept)))
    _assert_nothing_referenced(store, root)


def test_oci_manifest_naming_a_missing_blob(source: Store, store: Store, root: Path) -> None:
    img = make_image(source, "app:1", [{"a": b"1"}])
    data = _save(source, ["app:1"], fmt="oci")
    missing = f"blobs/sha256/{img.layers[0].digest.hex}"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        kept = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()  # type: ignore
                if m.isfile() and m.name != missing]
    with pytest.raises(ArchiveError, match=str(img.layers[0].digest)):
        load(store, io.BytesIO(_archive(kept)))
    _assert_nothing_referenced(store, root)


def test_layer_not_matching_the_config_diff_id(store: Store, root: Path) -> None:
    layer = tar_bytes({"f": b"real"})
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + _sha(tar_bytes({"f": b"fake"}))]}}).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["x:1"],
                            "Layers": ["abc/layer.tar"]}]).encode()
    with pytest.raises(DigestError, match="abc/layer.tar"):
        load(store, io.BytesIO(_archive([("abc/layer.tar", layer), ("c.json", config),
                                         ("manifest.json", manifest)])))
    _assert_nothing_referenced(store, root)


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_flipped_byte_in_an_archived_blob(source: Store, store: Store, root: Path,
                                          fmt: str) -> None:
    img = make_image(source, "app:1", [{"payload": os.urandom(50_000)}])
    data = bytearray(_save(source, ["app:1"], fmt=fmt))
    target = img.diff_ids[0] if fmt == "docker" else img.layers[0].digest
    name = f"blobs/sha256/{target.hex}".encode()
    header = data.index(name)
    data[header + 512 + 1000] ^= 0x01  # a byte of that member's content
    with pytest.raises(DigestError) as info:
        load(store, io.BytesIO(bytes(data)))
    assert str(target) in str(info.value)
    assert "digest mismatch" in str(info.value)
    _assert_nothing_referenced(store, root)


def test_config_not_matching_its_name(store: Store, root: Path) -> None:
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    wrong = "0" * 64
    manifest = json.dumps([{"Config": f"{wrong}.json", "RepoTags": ["x:1"], "Layers": []}])
    with pytest.raises(DigestError, match=wrong):
        load(store, io.BytesIO(_archive([(f"{wrong}.json", config),
                                         ("manifest.json", manifest.encode())])))
    _assert_nothing_referenced(store, root)


def test_loading_over_an_existing_tag_reports_the_replaced_image(source: Store, store: Store
                                                                 ) -> None:
    old = make_image(store, "app:1", [{"v": b"old"}])
    new = make_image(source, "app:1", [{"v": b"new"}])
    loaded = load(store, io.BytesIO(_save(source, ["app:1"])))
    assert [(t.familiar, d) for t, d in loaded[0].replaced] == [("app:1", old.id)]
    assert store.image("app:1").id == new.id
    assert any(img.id == old.id and not img.names for img in store.images())
    again = load(store, io.BytesIO(_save(source, ["app:1"])))
    assert again[0].replaced == []


def test_untagged_images_load_by_id(source: Store, store: Store) -> None:
    img = make_image(source, "app:1", [{"a": b"1"}])
    loaded = load(store, io.BytesIO(_save(source, [img.short_id])))
    assert loaded[0].tags == []
    assert store.images()[0].names == []
    assert store.images()[0].id == img.id


def test_oci_index_of_several_platforms_loads_the_host_one(source: Store, store: Store
                                                           ) -> None:
    host = make_image(source, None, [{"host": b"1"}])
    other_platform = {"os": "linux", "architecture": "s390x"}
    plat = host_platform()
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 10,
         "platform": other_platform},
        {"mediaType": mt.OCI_MANIFEST, "digest": str(host.digest),
         "size": host.manifest_descriptor.size, "platform": plat}]}
    index_bytes = canonical_json(index)
    members = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
               (f"blobs/sha256/{_sha(index_bytes)}", index_bytes)]
    for desc in (host.manifest_descriptor, host.manifest.config, *host.layers):
        members.append((f"blobs/sha256/{desc.digest.hex}", source.blobs.read(desc.digest)))
    members.append(("index.json", json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": mt.OCI_INDEX, "digest": "sha256:" + _sha(index_bytes),
        "size": len(index_bytes),
        "annotations": {mt.ANNOTATION_REF_NAME: "multi:1"}}]}).encode()))
    load(store, io.BytesIO(_archive(members)))
    assert store.image("multi:1").digest == host.digest


def test_tar_of_an_oci_layout_directory(source: Store, store: Store, tmp_path: Path) -> None:
    """What `tar -C layout -cf - .` gives: names start with ./"""
    img = make_image(source, "app:1", [{"a": b"1"}])
    data = _save(source, ["app:1"], fmt="oci")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [("./" + m.name, tar.extractfile(m).read())  # type: ignore[union-attr]
                   for m in tar.getmembers() if m.isfile()]
    load(store, io.BytesIO(_archive(members)))
    assert store.image("app:1").digest == img.digest


def test_blobs_already_in_the_store_are_not_copied_again(source: Store, store: Store) -> None:
    make_image(source, "app:1", [{"a": b"1"}])
    data = _save(source, ["app:1"], fmt="oci")
    load(store, io.BytesIO(data))
    before = {d: store.blobs.path(d).stat().st_ino for d in store.blobs.all()}
    load(store, io.BytesIO(data))
    assert {d: store.blobs.path(d).stat().st_ino for d in store.blobs.all()} == before


def test_bad_tag_in_manifest(store: Store, root: Path) -> None:
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["Not Valid"], "Layers": []}])
    with pytest.raises(ArchiveError, match="invalid reference"):
        load(store, io.BytesIO(_archive([("c.json", config),
                                         ("manifest.json", manifest.encode())])))
    _assert_nothing_referenced(store, root)


def test_errors_are_minidock_errors_with_one_line(store: Store) -> None:
    for data in (b"\x1f\x8b" + os.urandom(100), b"\x28\xb5\x2f\xfd" + os.urandom(100)):
        with pytest.raises(MinidockError) as info:
            load(store, io.BytesIO(data))
        assert "\n" not in str(info.value)
