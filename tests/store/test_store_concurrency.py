"""Several processes changing one store at once lose nothing and corrupt nothing."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from store_testkit import make_image, store_at

from minidock.store.store import Store


def _tagger(root: str, worker: int, count: int) -> None:
    store = store_at(Path(root))
    for i in range(count):
        store.tag("base:1", f"w{worker}:t{i}")
    os._exit(0)


def _builder(root: str, worker: int, count: int) -> None:
    store = store_at(Path(root))
    for i in range(count):
        make_image(store, f"built{worker}:{i}", [{"f": f"{worker}-{i}".encode()}])
    os._exit(0)


def _run(target, root: Path, workers: int, count: int) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=target, args=(str(root), w, count)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0


def test_concurrent_tagging_loses_no_tag(store: Store, root: Path) -> None:
    make_image(store, "base:1", [{"a": b"1"}])
    _run(_tagger, root, workers=6, count=10)
    names = {n.familiar for img in store_at(root).images() for n in img.names}
    assert names == {"base:1"} | {f"w{w}:t{i}" for w in range(6) for i in range(10)}


def test_concurrent_writers_and_collection_keep_the_store_consistent(store: Store,
                                                                      root: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    collector = ctx.Process(target=_collect, args=(str(root), 30))
    collector.start()
    _run(_builder, root, workers=4, count=6)
    collector.join(60)
    assert collector.exitcode == 0
    final = store_at(root)
    assert final.check() == []
    assert len(final.images()) == 24
    for img in final.images():
        final.blobs.verify(img.layers[0].digest, img.layers[0].size)


def _collect(root: str, rounds: int) -> None:
    store = store_at(Path(root))
    for _ in range(rounds):
        store.gc()
    os._exit(0)
