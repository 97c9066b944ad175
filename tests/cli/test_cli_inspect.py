"""`inspect` and `image inspect`: docker's JSON shape and --format."""

from __future__ import annotations

import json
from pathlib import Path

from store_testkit import make_image, run_cli

from minidock.store.store import Store


def test_image_inspect_document(store: Store, root: Path) -> None:
    img = make_image(store, "nginx:stable", [{"a": b"1"}, {"b": b"2"}],
                     cmd=["nginx", "-g", "daemon off;"], labels={"maintainer": "me"},
                     created="2024-05-06T07:08:09.123456789Z")
    result = run_cli(root, "image", "inspect", "nginx:stable")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("[\n    {\n        \"Id\": ")  # docker's 4-space indent
    [doc] = json.loads(result.stdout)
    assert list(doc)[:12] == ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created",
                              "Container", "ContainerConfig", "DockerVersion", "Author",
                              "Config", "Architecture"]
    assert doc["Id"] == str(img.id)
    assert doc["RepoTags"] == ["nginx:stable"]
    assert doc["RepoDigests"] == [f"nginx@{img.digest}"]
    assert doc["Created"] == "2024-05-06T07:08:09.123456789Z"
    assert doc["Config"]["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert doc["Config"]["Env"] == ["PATH=/usr/bin:/bin"]
    assert doc["Config"]["Labels"] == {"maintainer": "me"}
    assert doc["Config"]["Entrypoint"] is None
    assert doc["Os"] == "linux" and doc["Architecture"] == "amd64"
    assert doc["Size"] == img.size
    assert doc["RootFS"] == {"Type": "layers", "Layers": [str(d) for d in img.diff_ids]}
    assert doc["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    assert doc["Descriptor"]["digest"] == str(img.digest)


def test_inspect_formats(store: Store, root: Path) -> None:
    img = make_image(store, "nginx:stable", [{"a": b"1"}], cmd=["nginx", "-g", "daemon off;"])
    store.tag("nginx:stable", "web:1")

    def fmt(template: str) -> str:
        result = run_cli(root, "inspect", "--format", template, "nginx:stable")
        assert result.exit_code == 0, result.stderr
        return result.stdout

    assert fmt("{{.Id}}") == f"{img.id}\n"
    assert fmt("{{.Config.Cmd}}") == "[nginx -g daemon off;]\n"
    assert fmt("{{.Config.Entrypoint}}") == "[]\n"
    assert fmt("{{index .RepoTags 1}}") == "web:1\n"
    config = json.loads(fmt("{{json .Config}}"))
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert fmt("{{.Os}}/{{.Architecture}}") == "linux/amd64\n"


def test_inspect_several_and_a_missing_one(store: Store, root: Path) -> None:
    make_image(store, "a:1", [{"a": b"1"}])
    make_image(store, "b:1", [{"b": b"1"}])
    result = run_cli(root, "inspect", "a:1", "nothere", "b:1")
    assert result.exit_code == 1
    docs = json.loads(result.stdout)
    assert [d["RepoTags"] for d in docs] == [["a:1"], ["b:1"]]
    assert result.stderr == "Error: No such object: nothere\n"


def test_unknown_image_wording(root: Path, store: Store) -> None:
    result = run_cli(root, "image", "inspect", "foo:bar")
    assert result.exit_code == 1
    assert result.stdout == "[]\n"
    assert result.stderr == "Error: No such image: foo:bar\n"
    typed = run_cli(root, "inspect", "--type", "image", "foo:bar")
    assert typed.stderr == "Error: No such image: foo:bar\n"
    plain = run_cli(root, "inspect", "Not_An_Image")
    assert plain.exit_code == 1
    assert plain.stderr == "Error: No such object: Not_An_Image\n"


def test_inspect_by_id_prefix_and_digest(store: Store, root: Path) -> None:
    img = make_image(store, "a:1", [{"a": b"1"}])
    for name in (img.short_id, str(img.id), f"a@{img.digest}"):
        out = run_cli(root, "inspect", "-f", "{{.Id}}", name).stdout
        assert out == f"{img.id}\n", name
