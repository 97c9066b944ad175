"""Images through the API: load, list, look up, build, copy between stores, pull."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from api_helpers import fixture_archive

import minidock
from minidock.api import Client, Image
from minidock.errors import ArchiveError, DigestError, DockerfileError, ImageNotFound, NotFoundError

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:  # the shared registry helper lives in tests/
    sys.path.insert(0, str(TESTS_DIR))


def test_images_lists_what_was_loaded(store_root):
    by_tag = {tag: image for image in minidock.images(root=store_root) for tag in image.tags}
    assert {"busybox:latest", "nginx:stable", "redis:7"} <= set(by_tag)
    nginx = by_tag["nginx:stable"]
    assert isinstance(nginx, Image)
    assert nginx.id.startswith("sha256:") and len(nginx.short_id) == 12
    assert nginx.exposed_ports == [80]
    assert nginx.config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert (nginx.os, nginx.architecture) == ("linux", "amd64")
    assert str(nginx) == "nginx:stable"


def test_image_looks_up_by_name_and_id(store_root):
    by_name = minidock.image("redis:7", root=store_root)
    assert minidock.image(by_name.short_id, root=store_root) == by_name
    assert minidock.image(by_name.id, root=store_root).tags == ("redis:7",)
    with pytest.raises(ImageNotFound, match="No such image: redis:6"):
        minidock.image("redis:6", root=store_root)
    with pytest.raises(TypeError, match="ref must be a str"):
        minidock.image(7, root=store_root)  # type: ignore[arg-type]
    assert Client(store_root).has_image("redis:7")
    assert not Client(store_root).has_image("redis:6")


def test_the_store_comes_from_the_environment_unless_given(store_root, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDOCK_ROOT", str(store_root))
    assert Client().root == store_root
    assert "nginx:stable" in {t for image in minidock.images() for t in image.tags}
    assert Client(tmp_path / "other").root == tmp_path / "other"
    assert minidock.images(root=tmp_path / "other") == []


def test_load_returns_the_images_of_the_archive(tmp_path):
    loaded = minidock.load(fixture_archive("busybox"), root=tmp_path / "store")
    assert [image.tags for image in loaded] == [("busybox:latest",)]
    with open(fixture_archive("busybox"), "rb") as stream:
        again = Client(tmp_path / "store").load(stream)
    assert again == loaded
    with pytest.raises(ArchiveError, match="missing.tar: no such file or directory"):
        minidock.load(tmp_path / "missing.tar", root=tmp_path / "store")
    with pytest.raises(TypeError, match="archive must be a path or a binary file"):
        minidock.load(42, root=tmp_path / "store")  # type: ignore[arg-type]


def _context(tmp_path: Path, dockerfile: str, **files: str) -> Path:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        path = context / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return context


def test_build_tags_the_image_and_it_runs(store, tmp_path):
    context = _context(tmp_path, "FROM busybox:latest\nCOPY hello.txt /hello.txt\n"
                                 "LABEL example=api\nCMD [\"cat\", \"/hello.txt\"]\n",
                       **{"hello.txt": "hello from a built image\n"})
    image = minidock.build(context, tag="api-test/hello:1", root=store.root)
    assert image.tags == ("api-test/hello:1",)
    assert image.labels == {"example": "api"}
    assert store.image("api-test/hello:1") == image
    result = store.run("api-test/hello:1", remove=True)
    assert result == (0, "hello from a built image\n")


def test_build_with_dockerfile_build_args_and_target(store, tmp_path):
    context = _context(
        tmp_path, "FROM scratch\n",
        **{"docker__Dockerfile.alt": "FROM busybox:latest AS first\nARG GREETING=hi\n"
                                     "ENV GREETING=$GREETING\n"
                                     "FROM busybox:latest AS second\nENV STAGE=second\n"})
    image = store.build(context, tag=["api-test/multi:1", "api-test/multi:latest"],
                        dockerfile="docker/Dockerfile.alt", build_args={"GREETING": "hello"},
                        target="first")
    assert set(image.tags) == {"api-test/multi:1", "api-test/multi:latest"}
    env = dict(item.split("=", 1) for item in image.config["Env"])
    assert env["GREETING"] == "hello" and "STAGE" not in env


def test_build_errors_are_the_builders(store, tmp_path):
    context = _context(tmp_path, "FROM busybox:latest\nRUNN true\n")
    with pytest.raises(DockerfileError, match="Dockerfile:2"):
        store.build(context)
    with pytest.raises(TypeError, match="tag must be a str or a list of str"):
        store.build(context, tag=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="build_args must map str to str"):
        store.build(context, build_args={"A": 1})  # type: ignore[dict-item]


def test_copy_image_brings_every_blob_and_the_tag(store_root, tmp_path):
    target = Client(tmp_path / "target")
    copied = target.copy_image("nginx:stable", source=Client(store_root))
    original = minidock.image("nginx:stable", root=store_root)
    assert (copied.id, copied.digest, copied.tags) == (original.id, original.digest,
                                                      ("nginx:stable",))
    # the copy stands on its own: a container runs from it
    result = target.run("nginx:stable", ["nginx", "-v"], remove=True)
    assert result.exit_code == 0 and "nginx/1." in result.output


def test_copy_image_refuses_a_damaged_blob(tmp_path):
    source = Client(tmp_path / "source")
    [image] = source.load(fixture_archive("busybox"))
    from minidock.store.store import Store

    store = Store(source.settings)
    layer = store.image("busybox:latest").layers[0]
    blob = store.blobs.path(layer.digest)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    target = Client(tmp_path / "target")
    with pytest.raises(DigestError):
        target.copy_image("busybox:latest", source=source)
    assert target.images() == []


def test_pull_fetches_from_a_registry(store_root, tmp_path):
    from registry_server import RegistryServer

    from minidock.registry import push
    from minidock.store.store import Store

    with RegistryServer(tmp_path) as registry:
        ref = f"{registry.host}/api/busybox:1"
        source = Store(Client(store_root).settings)
        source.tag("busybox:latest", ref)
        try:
            push(source, ref)
        finally:
            source.remove_image(ref)
        pulled = minidock.pull(ref, root=tmp_path / "store")
        assert pulled.id == minidock.image("busybox:latest", root=store_root).id
        assert ref in pulled.tags
        with pytest.raises(NotFoundError, match="manifest for .*missing:1 not found"):
            minidock.pull(f"{registry.host}/api/missing:1", root=tmp_path / "store")
