"""save: docker-archive and OCI archive contents, verified on the way out."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from store_testkit import make_image, tar_bytes

from minidock import mediatypes as mt
from minidock.archive import save
from minidock.errors import DigestError, ImageNotFound
from minidock.store.store import Store


def _save(store: Store, names: list[str], fmt: str = "docker") -> bytes:
    buf = io.BytesIO()
    save(store, names, buf, fmt=fmt)
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_docker_archive_layout(store: Store, compression: str) -> None:
    layers = [{"etc/hostname": b"box\n"}, {"bin/tool": b"\x7fELF..."}]
    img = make_image(store, "app:1", layers, compression=compression)
    files = _members(_save(store, ["app:1"]))
    manifest = json.loads(files["manifest.json"])
    cfg_name = f"blobs/sha256/{img.id.hex}"
    assert manifest == [{"Config": cfg_name, "RepoTags": ["app:1"],
                         "Layers": [f"blobs/sha256/{d.hex}" for d in img.diff_ids]}]
    assert hashlib.sha256(files[cfg_name]).hexdigest() == img.id.hex
    for diff_id, content in zip(img.diff_ids, layers, strict=True):
        layer = files[f"blobs/sha256/{diff_id.hex}"]
        assert layer == tar_bytes(content)  # plain tar, exactly the diff_id's bytes
        assert "sha256:" + hashlib.sha256(layer).hexdigest() == str(diff_id)
    assert json.loads(files["repositories"]) == {"app": {"1": img.diff_ids[-1].hex}}


def test_save_is_deterministic(store: Store) -> None:
    make_image(store, "app:1", [{"a": b"1"}], compression="zstd")
    assert _save(store, ["app:1"]) == _save(store, ["app:1"])


def test_several_images_share_blobs_once(store: Store) -> None:
    base = {"etc/os-release": b"ID=x\n"}
    make_image(store, "one:1", [base, {"one": b"1"}])
    make_image(store, "two:1", [base, {"two": b"2"}])
    data = _save(store, ["one:1", "two:1"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = [m.name for m in tar.getmembers()]
    assert len(names) == len(set(names))
    manifest = json.loads(_members(data)["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [["one:1"], ["two:1"]]
    assert manifest[0]["Layers"][0] == manifest[1]["Layers"][0]


def test_saving_by_id_writes_no_tags(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    files = _members(_save(store, [img.short_id]))
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None
    assert "repositories" not in files


def test_two_tags_of_one_image(store: Store) -> None:
    make_image(store, "app:1", [{"a": b"1"}])
    store.tag("app:1", "app:2")
    manifest = json.loads(_members(_save(store, ["app:1", "app:2"]))["manifest.json"])
    assert manifest[0]["RepoTags"] == ["app:1", "app:2"]
    assert len(manifest) == 1


def test_oci_archive_keeps_blobs_as_stored(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}], compression="zstd")
    files = _members(_save(store, ["app:1"], fmt="oci"))
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    assert index["manifests"] == [{
        "mediaType": mt.OCI_MANIFEST, "digest": str(img.digest),
        "size": img.manifest_descriptor.size,
        "annotations": {mt.ANNOTATION_REF_NAME: "app:1",
                        mt.ANNOTATION_IMAGE_NAME: "docker.io/library/app:1"}}]
    for desc in (img.manifest_descriptor, img.manifest.config, *img.layers):
        assert files[f"blobs/sha256/{desc.digest.hex}"] == store.blobs.read(desc.digest)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_flipped_byte_in_a_layer_fails_the_save(store: Store, compression: str) -> None:
    img = make_image(store, "app:1", [{"big": bytes(range(256)) * 512}],
                     compression=compression)
    layer = img.layers[0].digest
    path = store.blobs.path(layer)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    for fmt in ("docker", "oci"):
        with pytest.raises(DigestError) as info:
            _save(store, ["app:1"], fmt=fmt)
        assert str(layer) in str(info.value)


def test_unknown_image(store: Store) -> None:
    with pytest.raises(ImageNotFound, match="No such image: foo:bar"):
        _save(store, ["foo:bar"])


def test_uncompressed_size_header_is_patched_for_big_layers(store: Store, tmp_path: Path
                                                           ) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB, compresses well
    img = make_image(store, "big:1", [{"blob": payload}], compression="zstd")
    out = tmp_path / "big.tar"
    with open(out, "w+b") as f:
        save(store, ["big:1"], f)
    with tarfile.open(out) as tar:
        member = tar.getmember(f"blobs/sha256/{img.diff_ids[0].hex}")
        assert member.size == len(tar_bytes({"blob": payload}))
