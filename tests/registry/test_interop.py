"""minidock and skopeo agree about images in a real registry, in both directions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from registry_testlib import add_layer, build_image, image_config

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.oci.model import canonical_json, host_platform
from minidock.registry import pull_image, push
from minidock.store.store import Store

pytestmark = [pytest.mark.registry, pytest.mark.interop]


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def write_layout(root: Path, blobs: dict[Digest, bytes], ref_name: str, media_type: str,
                 top: Digest) -> None:
    """An OCI image layout made by hand (not by minidock's store)."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for digest, data in blobs.items():
        (root / "blobs" / "sha256" / digest.hex).write_bytes(data)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": media_type, "digest": str(top), "size": len(blobs[top]),
        "annotations": {"org.opencontainers.image.ref.name": ref_name}}]}
    (root / "index.json").write_text(json.dumps(index))


def layout_image(root: Path, scratch: Store, *, arch: str = "amd64",
                 marker: bytes = b"") -> tuple[dict[Digest, bytes], Digest, Digest]:
    """Blobs of a one-layer image: (blobs, manifest digest, config digest)."""
    layer, diff_id = add_layer(scratch, {"etc/os-release": b"ID=skopeo\n" + marker,
                                         "bin/tool": arch.encode() * 5000})
    config = canonical_json(image_config([diff_id], arch=arch))
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of_bytes(config)),
                   "size": len(config)},
        "layers": [{"mediaType": layer.media_type, "digest": str(layer.digest),
                    "size": layer.size}]})
    blobs = {layer.digest: scratch.blobs.read(layer.digest), Digest.of_bytes(config): config,
             Digest.of_bytes(manifest): manifest}
    return blobs, Digest.of_bytes(manifest), Digest.of_bytes(config)


def test_skopeo_inspect_shows_the_digest_minidock_pushed(registry, store, config, make_image,
                                                         repo):
    ref = f"{registry.host}/{repo}:stable"
    image = make_image(ref)
    result = push(store, ref, config=config)

    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout

    assert info["Digest"] == str(result.digest) == str(image.digest)
    assert info["Layers"] == [str(layer.digest) for layer in image.layers]
    assert raw.encode() == store.blobs.read(image.digest)


def test_skopeo_copies_a_minidock_pushed_image(registry, store, config, make_image, repo,
                                               tmp_path):
    ref = f"{registry.host}/{repo}:v1"
    image = make_image(ref)
    push(store, ref, config=config)

    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'out'}:v1")

    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == str(image.digest)
    for layer in image.layers:
        copied = (tmp_path / "out" / "blobs" / "sha256" / layer.digest.hex).read_bytes()
        assert copied == store.blobs.read(layer.digest)


def test_an_image_pushed_by_skopeo_pulls_into_minidock(registry, store, fresh_store, config,
                                                       repo, tmp_path):
    blobs, manifest_digest, config_digest = layout_image(tmp_path, store)
    write_layout(tmp_path / "layout", blobs, "v1", mt.OCI_MANIFEST, manifest_digest)
    ref = f"{registry.host}/{repo}:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1", f"docker://{ref}")
    pushed = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)

    result = pull_image(fresh_store, ref, config=config)

    assert str(result.digest) == pushed["Digest"]
    assert result.image.id == config_digest
    assert fresh_store.check() == []


def test_a_docker_schema2_image_from_skopeo_is_kept_as_served(registry, store, fresh_store,
                                                              config, repo, tmp_path):
    blobs, manifest_digest, config_digest = layout_image(tmp_path, store, marker=b"v2s2")
    write_layout(tmp_path / "layout", blobs, "v1", mt.OCI_MANIFEST, manifest_digest)
    ref = f"{registry.host}/{repo}:docker"
    skopeo("copy", "--format", "v2s2", "--dest-tls-verify=false",
           f"oci:{tmp_path / 'layout'}:v1", f"docker://{ref}")
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout.encode()

    result = pull_image(fresh_store, ref, config=config)

    assert json.loads(raw)["mediaType"] == mt.DOCKER_MANIFEST
    assert result.image.manifest_descriptor.media_type == mt.DOCKER_MANIFEST
    assert result.digest == Digest.of_bytes(raw)
    assert fresh_store.blobs.read(result.digest) == raw
    assert result.image.id == config_digest


def test_a_multi_platform_index_copied_by_skopeo_resolves_to_this_machine(
        registry, store, fresh_store, config, repo, tmp_path):
    native = host_platform()["architecture"]
    other = "arm64" if native != "arm64" else "amd64"
    all_blobs: dict[Digest, bytes] = {}
    entries, by_arch = [], {}
    for arch in (other, native):
        blobs, manifest_digest, _ = layout_image(tmp_path, store, arch=arch)
        all_blobs.update(blobs)
        by_arch[arch] = manifest_digest
        entries.append({"mediaType": mt.OCI_MANIFEST, "digest": str(manifest_digest),
                        "size": len(blobs[manifest_digest]),
                        "platform": {"os": "linux", "architecture": arch}})
    index = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                            "manifests": entries})
    all_blobs[Digest.of_bytes(index)] = index
    write_layout(tmp_path / "layout", all_blobs, "multi", mt.OCI_INDEX, Digest.of_bytes(index))
    ref = f"{registry.host}/{repo}:multi"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:multi",
           f"docker://{ref}")

    result = pull_image(fresh_store, ref, config=config)

    assert result.digest == Digest.of_bytes(index)
    assert result.image.digest == by_arch[native]
    assert result.image.config["architecture"] == native


def test_skopeo_copies_gzip_and_uncompressed_layers_minidock_pushed(registry, store, config,
                                                                   repo, tmp_path):
    image = build_image(store, f"{registry.host}/{repo}:mixed", [{"a": b"1" * 5000}])
    plain = build_image(store, f"{registry.host}/{repo}:plain", [{"b": b"2" * 5000}],
                        compress=False)
    for tag, img in (("mixed", image), ("plain", plain)):
        push(store, f"{registry.host}/{repo}:{tag}", config=config)
        skopeo("copy", "--preserve-digests", "--src-tls-verify=false",
               f"docker://{registry.host}/{repo}:{tag}", f"oci:{tmp_path / tag}:{tag}")
        index = json.loads((tmp_path / tag / "index.json").read_text())
        assert index["manifests"][0]["digest"] == str(img.digest)
