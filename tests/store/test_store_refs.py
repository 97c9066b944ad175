"""Tags, untagged images and lookups in the store's index.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_testkit import make_image, store_at

from minidock import mediatypes as mt
from minidock.errors import ConflictError, ImageNotFound, ReferenceError_, UsageError
from minidock.reference import parse
from minidock.store.store import Store


def _index(root: Path) -> list[dict]:
    return json.loads((root / "index.json").read_text())["manifests"]


def test_tags_are_index_annotations_other_tools_read(store: Store, root: Path) -> None:
    img = make_image(store, "busybox:latest", [{"bin/sh": b"x"}])
    entries = _index(root)
    assert len(entries) == 1
    assert entries[0]["digest"] == str(img.digest)
    assert entries[0]["annotations"] == {
        mt.ANNOTATION_REF_NAME: "busybox:latest",
        mt.ANNOTATION_IMAGE_NAME: "docker.io/library/busybox:latest",
    }
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_image_id_is_the_config_digest(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    assert img.id == img.manifest.config.digest
    assert img.short_id == img.id.hex[:12]
    assert img.id != img.digest


def test_second_tag_and_lookup_by_every_kind_of_name(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    store.tag("app:1", "localhost:5000/team/app:prod")
    for text in ("app:1", "docker.io/library/app:1", "localhost:5000/team/app:prod",
                 img.short_id, str(img.id), img.id.hex, f"app@{img.digest}"):
        assert store.image(text).id == img.id, text
    names = {n.familiar for n in store.image("app:1").names}
    assert names == {"app:1", "localhost:5000/team/app:prod"}


def test_retag_leaves_the_old_image_untagged(store: Store) -> None:
    old = make_image(store, "app:latest", [{"a": b"old"}])
    new = make_image(store, "app:latest", [{"a": b"new"}])
    by_digest = {img.digest: img for img in store.images()}
    assert by_digest[new.digest].repo_tags == ["app:latest"]
    assert by_digest[old.digest].names == []  # lives on as <none>:<none>
    assert store.image("app:latest").id == new.id


def test_untagged_image_is_listed_once(store: Store) -> None:
    img = make_image(store, None, [{"a": b"1"}])
    make_image(store, None, [{"a": b"1"}])  # the same image again
    images = store.images()
    assert [i.digest for i in images] == [img.digest]
    assert images[0].names == []


def test_tagging_an_untagged_image_replaces_its_anonymous_entry(store: Store, root: Path
                                                                ) -> None:
    img = make_image(store, None, [{"a": b"1"}])
    store.tag(img.short_id, "named:v1")
    assert len(_index(root)) == 1
    assert store.images()[0].repo_tags == ["named:v1"]


def test_unknown_image_and_bad_names(store: Store) -> None:
    make_image(store, "app:1", [{"a": b"1"}])
    with pytest.raises(ImageNotFound, match="No such image: foo:bar"):
        store.image("foo:bar")
    with pytest.raises(ReferenceError_, match="invalid reference format"):
        store.image("UPPER:case")
    with pytest.raises(UsageError):
        store.tag("app:1", "app@sha256:" + "0" * 64)


def test_ambiguous_id_prefix_is_refused(store: Store) -> None:
    images = [make_image(store, f"app:{i}", [{"f": str(i).encode()}]) for i in range(40)]
    first = {img.id.hex[0] for img in images}
    shared = next(c for c in first if sum(img.id.hex[0] == c for img in images) > 1)
    with pytest.raises(ConflictError, match="ambiguous"):
        store.image(shared)


def test_rmi_by_tag_untags_then_deletes(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    store.tag("app:1", "app:2")
    assert store.remove_image("app:2") == [("Untagged", "app:2")]
    events = store.remove_image("app:1")
    assert events[0] == ("Untagged", "app:1")
    assert ("Deleted", str(img.id)) in events
    assert store.images() == []
    assert not store.blobs.exists(img.layers[0].digest)


def test_rmi_refuses_multi_tagged_image_by_id_unless_forced(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    store.tag("app:1", "app:2")
    with pytest.raises(ConflictError, match="referenced in multiple repositories"):
        store.remove_image(img.short_id)
    events = store.remove_image(img.short_id, force=True)
    assert {e for e in events if e[0] == "Untagged"} == {("Untagged", "app:1"),
                                                          ("Untagged", "app:2")}
    assert store.images() == []


def test_rmi_of_image_a_container_uses(store: Store) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    with pytest.raises(ConflictError, match="container is using its referenced image"):
        store.remove_image("app:1", in_use={img.id})
    events = store.remove_image("app:1", force=True, in_use={img.id})
    assert events == [("Untagged", "app:1")]
    # the container keeps its image, untagged, with every blob
    assert [i.digest for i in store.images()] == [img.digest]
    assert store.check() == []


def test_index_survives_a_fresh_store_object(root: Path) -> None:
    first = store_at(root)
    img = make_image(first, "app:1", [{"a": b"1"}])
    again = store_at(root)
    assert again.image("app:1").digest == img.digest
    assert again.image("app:1").config["config"]["Cmd"] == ["/bin/sh"]


def test_reference_normalisation_in_names(store: Store) -> None:
    make_image(store, "library/app", [{"a": b"1"}])
    img = store.image("app")
    assert img.names == [parse("docker.io/library/app:latest")]
    assert img.repo_tags == ["app:latest"]
