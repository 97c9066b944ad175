"""Garbage collection: what is reachable stays, the rest goes, writers are respected."""

from __future__ import annotations

import os
from pathlib import Path

from store_testkit import make_image

from minidock.digest import Digest
from minidock.store.lock import file_lock
from minidock.store.store import Store


def _blob_set(store: Store) -> set[Digest]:
    return set(store.blobs.all())


def _blobs_of(img) -> set[Digest]:  # type: ignore[no-untyped-def]
    return {img.digest, img.manifest.config.digest, *(d.digest for d in img.layers)}


def test_gc_keeps_tagged_and_untagged_images(store: Store) -> None:
    tagged = make_image(store, "app:1", [{"a": b"1"}, {"b": b"2"}])
    untagged = make_image(store, None, [{"c": b"3"}])
    stray = store.put_blob(b"nobody references me")
    removed = store.gc()
    assert removed == [stray]
    assert _blob_set(store) == _blobs_of(tagged) | _blobs_of(untagged)
    assert store.check() == []


def test_build_cache_entries_are_roots(store: Store) -> None:
    img = make_image(store, None, [{"cached": b"layer"}])
    store.cache.put("RUN make", img.digest)
    with store.lock():
        store.refs.remove_digest(img.digest)  # no tag, no index entry: only the cache
    store.gc()
    assert _blobs_of(img) <= _blob_set(store)
    store.cache.prune()
    store.gc()
    assert not (_blobs_of(img) & _blob_set(store))


def test_shared_layers_survive_removal_of_one_image(store: Store) -> None:
    base = {"etc/os-release": b"ID=test\n"}
    one = make_image(store, "one:1", [base, {"one": b"1"}])
    two = make_image(store, "two:1", [base, {"two": b"2"}])
    assert one.layers[0].digest == two.layers[0].digest
    store.remove_image("one:1")
    blobs = _blob_set(store)
    assert two.layers[0].digest in blobs
    assert one.layers[1].digest not in blobs
    assert store.check() == []


def test_gc_removes_extracted_layers_of_unreachable_images(store: Store) -> None:
    kept = make_image(store, "kept:1", [{"k": b"1"}])
    gone = make_image(store, "gone:1", [{"g": b"1"}])
    for img in (kept, gone):
        store.layer_dir(img.diff_ids[0]).mkdir(parents=True)
    store.remove_image("gone:1")
    assert store.layer_dir(kept.diff_ids[0]).is_dir()
    assert not store.layer_dir(gone.diff_ids[0]).exists()


def test_non_blocking_gc_gives_way_to_an_active_writer(store: Store, root: Path) -> None:
    stray = store.put_blob(b"written by a load still running")
    with file_lock(root / "gc.lock", shared=True):  # what Store.writing() holds
        assert store.gc(blocking=False) == []
        assert store.blobs.exists(stray)
    assert store.gc(blocking=False) == [stray]


def test_gc_cleans_temp_files_of_dead_writers_only(store: Store, root: Path) -> None:
    dead = root / "tmp" / "blob-12345-deadbeef"
    dead.write_bytes(b"partial")
    with store.blob_writer() as live:
        live.write(b"in progress")
        store.gc()
        assert not dead.exists()
        assert live.path.exists()
        digest = live.commit()
    assert store.blobs.read(digest) == b"in progress"


def test_writing_cleans_stale_temp_files(store: Store, root: Path) -> None:
    stale = root / "tmp" / "blob-999-cafe"
    stale.write_bytes(b"left by a killed load")
    with store.writing():
        assert not stale.exists()
    assert os.listdir(root / "tmp") == []
