"""Push and pull against a real docker-registry: round trips, skips, resumes, failures."""

from __future__ import annotations

import json

import pytest
from registry_testlib import blob_files, build_image, image_config

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.errors import DigestError, MinidockError, NotFoundError, RegistryError, UsageError
from minidock.oci.model import Descriptor, ImageFormatError, canonical_json, host_platform
from minidock.reference import parse
from minidock.registry import RegistryConfig, pull, pull_image, push
from minidock.registry.client import RegistryClient
from minidock.registry.endpoint import registry_endpoint
from minidock.registry.progress import (
    ALREADY_EXISTS,
    DOWNLOADING,
    LAYER_EXISTS,
    PULL_COMPLETE,
    PUSHED,
)
from minidock.settings import Settings
from minidock.store.store import Store

pytestmark = pytest.mark.registry


def test_push_then_pull_into_a_fresh_store_gives_the_same_image(
        registry, store, fresh_store, config, make_image, repo, recorder):
    ref = f"{registry.host}/{repo}:v1"
    image = make_image(ref)

    pushed = push(store, ref, config=config, progress=recorder)

    assert pushed.digest == image.digest
    assert [e.status for e in recorder.events if e.digest == image.layers[1].digest] == [
        "Preparing", "Pushing", PUSHED]
    pulled = pull_image(fresh_store, ref, config=config)
    assert pulled.image.id == image.id
    assert pulled.image.digest == image.digest
    assert pulled.digest == image.digest
    assert pulled.updated
    assert fresh_store.image(ref).id == image.id
    assert fresh_store.blobs.read(image.digest) == store.blobs.read(image.digest)
    assert fresh_store.check() == []


def test_second_push_skips_blobs_the_registry_has(registry, store, config, make_image, repo,
                                                  recorder):
    ref = f"{registry.host}/{repo}:v1"
    image = make_image(ref)
    push(store, ref, config=config)

    again = push(store, ref, config=config, progress=recorder)

    assert again.bytes_uploaded == 0
    assert {e.status for e in recorder.events if e.status != "Preparing"} == {LAYER_EXISTS}
    assert len([e for e in recorder.events if e.status == LAYER_EXISTS]) == len(image.layers)


def test_second_pull_downloads_nothing(registry, proxy, store, fresh_store, config,
                                       make_image, repo, recorder):
    make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)
    through_proxy = f"{proxy.host}/{repo}:v1"
    first = pull_image(fresh_store, through_proxy, config=config)
    assert len(proxy.blob_gets()) == 4  # three layers and the config
    proxy.requests.clear()

    second = pull_image(fresh_store, through_proxy, config=config, progress=recorder)

    assert proxy.blob_gets() == []
    assert second.bytes_downloaded == 0
    assert not second.updated
    assert second.image.id == first.image.id
    assert recorder.statuses() == {ALREADY_EXISTS}


def test_pull_of_a_new_tag_for_present_layers_reports_them_as_existing(
        registry, store, fresh_store, config, repo, recorder):
    shared = [{"base.txt": b"base layer" * 100}]
    build_image(store, f"{registry.host}/{repo}:one", shared)
    build_image(store, f"{registry.host}/{repo}:two", shared + [{"extra.txt": b"more"}])
    for tag in ("one", "two"):
        push(store, f"{registry.host}/{repo}:{tag}", config=config)
    pull_image(fresh_store, f"{registry.host}/{repo}:one", config=config)

    result = pull_image(fresh_store, f"{registry.host}/{repo}:two", config=config,
                        progress=recorder)

    by_status = {e.status: e.digest for e in recorder.events}
    assert by_status[ALREADY_EXISTS] == result.image.layers[0].digest
    assert by_status[PULL_COMPLETE] == result.image.layers[1].digest
    assert result.updated


def test_large_blobs_go_up_in_chunks_small_ones_in_one_put(registry, proxy, store,
                                                            fresh_store, config, repo):
    big = {"big.bin": bytes(range(256)) * 4096}  # 1 MiB, uncompressed: four 300 kB chunks
    image = build_image(store, f"{proxy.host}/{repo}:chunked", [big], compress=False)
    layer = image.layers[0]

    push(store, f"{proxy.host}/{repo}:chunked", config=config, chunk_size=300_000)

    patches = [path for method, path in proxy.requests if method == "PATCH"]
    puts = [path for method, path in proxy.requests if method == "PUT" and "/blobs/" in path]
    assert len(patches) == -(-layer.size // 300_000)
    assert len(puts) == 2  # the layer's closing PUT and the config's monolithic one
    pulled = pull(fresh_store, f"{registry.host}/{repo}:chunked")
    assert pulled.digest == image.digest
    assert fresh_store.blobs.read(layer.digest, layer.size) == store.blobs.read(layer.digest)


def test_push_refuses_a_blob_that_rotted_in_the_store(registry, store, config, repo):
    image = build_image(store, f"{registry.host}/{repo}:rot", [{"f": b"x" * 50_000}],
                        compress=False)
    path = store.blobs.path(image.layers[0].digest)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(DigestError, match="digest mismatch"):
        push(store, f"{registry.host}/{repo}:rot", config=config)

    client = RegistryClient(registry_endpoint(registry.host, config), repo)
    with client:
        assert not client.blob_exists(image.layers[0].digest)


def test_pull_by_digest(registry, store, fresh_store, config, make_image, repo):
    image = make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)

    result = pull_image(fresh_store, f"{registry.host}/{repo}@{image.digest}", config=config)

    assert result.image.digest == image.digest
    assert fresh_store.find_image(f"{registry.host}/{repo}@{image.digest}") is not None
    assert fresh_store.find_image(f"{registry.host}/{repo}:v1") is None  # no tag was pulled


def test_docker_schema2_manifest_is_stored_byte_for_byte(registry, store, fresh_store,
                                                         config, repo):
    image = build_image(store, "scratch-docker:src", [{"a.txt": b"docker media types"}])
    layer = image.layers[0]
    cfg = store.blobs.read(image.manifest.config.digest)
    manifest = json.dumps({  # Docker's own key order and spacing, not minidock's canonical form
        "schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": len(cfg),
                   "digest": str(image.manifest.config.digest)},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "size": layer.size,
                    "digest": str(layer.digest)}]}, indent=3).encode()
    desc = Descriptor(mt.DOCKER_MANIFEST, store.put_blob(manifest), len(manifest))
    ref = f"{registry.host}/{repo}:docker"
    store.record_image(desc, [parse(ref)])

    push(store, ref, config=config)
    result = pull_image(fresh_store, ref, config=config)

    assert result.image.manifest_descriptor.media_type == mt.DOCKER_MANIFEST
    assert result.digest == Digest.of_bytes(manifest)
    assert fresh_store.blobs.read(result.digest) == manifest


def _push_index(store: Store, registry, repo: str, config: RegistryConfig) -> dict[str, Digest]:
    """Two single-platform images and an index naming both, under `:multi`."""
    native = host_platform()
    other = "arm64" if native["architecture"] != "arm64" else "amd64"
    digests = {}
    entries = []
    for arch in (native["architecture"], other):
        image = build_image(store, f"{registry.host}/{repo}:{arch}",
                            [{"arch.txt": arch.encode()}], arch=arch)
        push(store, f"{registry.host}/{repo}:{arch}", config=config)
        digests[arch] = image.digest
        platform = {"os": "linux", "architecture": arch}
        if arch == native["architecture"] and "variant" in native:
            platform["variant"] = native["variant"]
        entries.append({"mediaType": mt.OCI_MANIFEST, "digest": str(image.digest),
                        "size": image.manifest_descriptor.size, "platform": platform})
    index = canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                            "manifests": entries})
    with RegistryClient(registry_endpoint(registry.host, config), repo, push=True) as client:
        client.put_manifest("multi", index, mt.OCI_INDEX)
    digests["index"] = Digest.of_bytes(index)
    return digests


def test_index_resolves_to_the_host_platform(registry, store, fresh_store, config, repo):
    digests = _push_index(store, registry, repo, config)

    result = pull_image(fresh_store, f"{registry.host}/{repo}:multi", config=config)

    assert result.digest == digests["index"]
    assert result.image.digest == digests[host_platform()["architecture"]]
    assert result.image.config["architecture"] == host_platform()["architecture"]


def test_platform_option_chooses_another_entry(registry, store, fresh_store, config, repo):
    digests = _push_index(store, registry, repo, config)
    other = next(k for k in digests if k not in ("index", host_platform()["architecture"]))

    result = pull_image(fresh_store, f"{registry.host}/{repo}:multi", config=config,
                        platform=f"linux/{other}")

    assert result.image.digest == digests[other]
    assert fresh_store.image(f"{registry.host}/{repo}:multi").config["architecture"] == other


def test_missing_platform_is_a_one_line_error_and_changes_nothing(registry, store,
                                                                  fresh_store, config, repo):
    _push_index(store, registry, repo, config)
    ref = f"{registry.host}/{repo}:multi"

    with pytest.raises(NotFoundError) as err:
        pull_image(fresh_store, ref, config=config, platform="linux/s390x")

    assert str(err.value) == (f"no matching manifest for linux/s390x in the manifest list "
                              f"entries of {ref}")
    assert fresh_store.images() == []
    assert blob_files(fresh_store) == set()


def test_platform_option_checks_a_single_platform_image(registry, store, fresh_store, config,
                                                        make_image, repo):
    make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)

    with pytest.raises(NotFoundError, match="is for linux/amd64, not linux/s390x"):
        pull_image(fresh_store, f"{registry.host}/{repo}:v1", config=config,
                   platform="linux/s390x")
    assert fresh_store.images() == []
    assert blob_files(fresh_store) == set()


def test_bad_platform_text_is_a_usage_error(store, config):
    with pytest.raises(UsageError, match="expected os/arch"):
        pull_image(store, "127.0.0.1:1/x:y", config=config, platform="amd64")


def test_unknown_tag_names_the_reference(registry, store, config, make_image, repo):
    make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)
    ref = f"{registry.host}/{repo}:nope"

    with pytest.raises(NotFoundError) as err:
        pull_image(store, ref, config=config)

    assert str(err.value) == f"manifest for {ref} not found: manifest unknown: manifest unknown"


def test_unknown_repository_names_the_reference(registry, fresh_store, config):
    ref = f"{registry.host}/no/such-repo:v1"
    with pytest.raises(NotFoundError, match=f"manifest for {ref} not found"):
        pull_image(fresh_store, ref, config=config)
    assert fresh_store.images() == []


def test_unreachable_registry_is_one_line(fresh_store, config):
    from registry_server import free_port

    ref = f"127.0.0.1:{free_port()}/demo/x:v1"
    with pytest.raises(RegistryError) as err:
        pull_image(fresh_store, ref, config=config)
    assert str(err.value) == (f"pulling {ref}: cannot connect to registry "
                              f"{ref.split('/')[0]}: Connection refused")
    assert "\n" not in str(err.value)


def test_docker_hub_without_a_mirror_fails_fast_with_a_hint(fresh_store, config):
    with pytest.raises(RegistryError) as err:
        pull(fresh_store, "nginx:stable")
    assert str(err.value).startswith("pull access denied for nginx, repository does not "
                                     "exist or may require 'docker login'")
    assert "minidock load" in (err.value.hint or "")
    assert "MINIDOCK_REGISTRY_MIRROR" in (err.value.hint or "")


def test_unsupported_media_type_is_refused(registry, store, fresh_store, config, repo):
    chart = b"not a container layer"
    cfg = b"{}"
    with RegistryClient(registry_endpoint(registry.host, config), repo, push=True) as client:
        for data in (chart, cfg):
            location = client.start_upload()
            client.finish_upload(location, Digest.of_bytes(data), len(data),
                                 opener=lambda d=data: __import__("io").BytesIO(d))
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json",
                       "digest": str(Digest.of_bytes(cfg)), "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        "digest": str(Digest.of_bytes(chart)), "size": len(chart)}]})
        client.put_manifest("chart", manifest, mt.OCI_MANIFEST)
    ref = f"{registry.host}/{repo}:chart"

    with pytest.raises(ImageFormatError) as err:
        pull_image(fresh_store, ref, config=config)

    assert str(err.value).startswith(f"pulling {ref}: unsupported")
    assert fresh_store.images() == []
    assert blob_files(fresh_store) == set()


def test_corrupted_blob_fails_with_a_digest_error_and_leaves_nothing(
        registry, proxy, store, fresh_store, config, make_image, repo):
    image = make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)
    proxy.corrupt.add(str(image.layers[-1].digest))  # config and two layers arrive intact
    ref = f"{proxy.host}/{repo}:v1"

    with pytest.raises(DigestError) as err:
        pull_image(fresh_store, ref, config=config)

    assert f"pulling {ref}: blob {image.layers[-1].digest}: digest mismatch" in str(err.value)
    assert fresh_store.images() == []
    assert blob_files(fresh_store) == set()
    assert list(fresh_store.tmp_dir.iterdir()) == []


def test_interrupted_pull_fails_cleanly_and_resumes(registry, proxy, store, fresh_store,
                                                    config, make_image, repo, recorder):
    image = make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)
    middle = image.layers[1].digest
    proxy.cut.add(str(middle))
    ref = f"{proxy.host}/{repo}:v1"

    with pytest.raises(RegistryError) as err:
        pull_image(fresh_store, ref, config=config)

    assert str(err.value).startswith(f"pulling {ref}: connection to registry {proxy.host} lost")
    assert "resume" in (err.value.hint or "")
    assert fresh_store.images() == []
    assert list(fresh_store.tmp_dir.iterdir()) == []
    proxy.cut.clear()
    proxy.requests.clear()

    result = pull_image(fresh_store, ref, config=config, progress=recorder)

    assert sorted(proxy.blob_gets()) == sorted([str(middle), str(image.layers[2].digest)])
    assert {e.digest for e in recorder.events if e.status == ALREADY_EXISTS} == {
        image.layers[0].digest}
    assert result.image.id == image.id
    assert fresh_store.check() == []


def test_progress_reports_bytes_of_each_layer(registry, store, fresh_store, config,
                                              make_image, repo, recorder):
    image = make_image(f"{registry.host}/{repo}:v1")
    push(store, f"{registry.host}/{repo}:v1", config=config)

    pull_image(fresh_store, f"{registry.host}/{repo}:v1", config=config, progress=recorder)

    for layer in image.layers:
        moving = [e for e in recorder.events if e.digest == layer.digest
                  and e.status == DOWNLOADING]
        assert moving and moving[-1].current == layer.size == moving[-1].total
    assert image.manifest.config.digest not in {e.digest for e in recorder.events}


def test_mirror_serves_docker_hub_names(registry, store, tmp_path, make_image):
    image = make_image(f"{registry.host}/library/mirrored:stable")
    settings = Settings(root=tmp_path / "mirror-root", config_dir=tmp_path / "mirror-config",
                        registry_mirror=registry.host)
    mirror_config = RegistryConfig.load(settings, env={})
    push(store, f"{registry.host}/library/mirrored:stable", config=mirror_config)
    target = Store(settings).ensure()

    pulled = pull(target, "mirrored:stable")

    assert pulled.id == image.id
    assert target.image("mirrored:stable").repo_tags == ["mirrored:stable"]
    assert target.find_image(f"{registry.host}/library/mirrored:stable") is None


def test_mirror_from_the_config_file(registry, store, tmp_path, make_image, config):
    image = make_image(f"{registry.host}/library/filemirror:1")
    push(store, f"{registry.host}/library/filemirror:1", config=config)
    settings = Settings(root=tmp_path / "file-root", config_dir=tmp_path / "file-config")
    settings.config_dir.mkdir()
    (settings.config_dir / "config.json").write_text(
        json.dumps({"registry-mirrors": [f"http://{registry.host}"]}))

    result = pull_image(Store(settings).ensure(), "docker.io/library/filemirror:1",
                        config=RegistryConfig.load(settings, env={}))

    assert result.image.id == image.id


def test_missing_mirror_tag_names_the_mirror(registry, tmp_path):
    settings = Settings(root=tmp_path / "r", config_dir=tmp_path / "c",
                        registry_mirror=registry.host)
    with pytest.raises(NotFoundError) as err:
        pull_image(Store(settings).ensure(), "absent:1",
                   config=RegistryConfig.load(settings, env={}))
    assert str(err.value).startswith("manifest for absent:1 not found")


def test_push_of_an_unknown_image_says_so(store, config):
    with pytest.raises(NotFoundError, match="An image does not exist locally with the tag"):
        push(store, "127.0.0.1:5000/demo/none:v1", config=config)


def test_push_of_a_digest_reference_is_refused(store, config):
    with pytest.raises(UsageError, match="digest reference"):
        push(store, "127.0.0.1:5000/demo/x@sha256:" + "a" * 64, config=config)


def test_pull_error_is_a_minidock_error_for_every_failure(fresh_store, config):
    with pytest.raises(MinidockError):
        pull_image(fresh_store, "127.0.0.1:1/x:y", config=config)


def test_config_that_does_not_match_the_layers_is_refused(registry, store, fresh_store,
                                                          config, repo):
    image = build_image(store, "scratch-bad:src", [{"a": b"1"}, {"b": b"2"}])
    bad_config = image_config([str(d) for d in image.diff_ids[:1]])
    bad = store.add_image(bad_config, list(image.layers),
                          tags=[parse(f"{registry.host}/{repo}:bad")])
    push(store, f"{registry.host}/{repo}:bad", config=config)

    with pytest.raises(ImageFormatError, match="config lists 1 layers, the manifest 2"):
        pull_image(fresh_store, f"{registry.host}/{repo}:bad", config=config)
    assert bad.digest not in {d for d in fresh_store.blobs.all()}
    assert blob_files(fresh_store) == set()
