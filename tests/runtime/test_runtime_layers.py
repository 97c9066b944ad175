"""Images whose layer list names the same layer twice, with both storage drivers.

Two build steps that change nothing both make the empty layer, so a plain
`FROM busybox / RUN true / RUN true` lists one diff_id twice; overlayfs refuses
a lower dir given twice, so each layer is stacked once, at its topmost place.
"""

from __future__ import annotations

from pathlib import Path

from runtime_helpers import Minidock

from minidock.layer.entry import Entry, EntryKind
from minidock.layer.writer import LayerBuilder
from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.store.store import Store

MTIME = 1_700_000_000


def _layer(store: Store, files: dict[str, bytes]) -> tuple[Descriptor, str]:
    """A layer of `files` in the store: its descriptor and diff_id."""
    builder = LayerBuilder(source_date_epoch=MTIME)
    for directory in sorted({path.rpartition("/")[0] for path in files if "/" in path}):
        builder.add_dir(directory, mode=0o755, mtime=MTIME)
    for path, content in files.items():
        builder.add(Entry(path, EntryKind.FILE, 0o644, size=len(content), source=content,
                          mtime=MTIME))
    with store.writing(), store.blob_writer() as sink:
        info = builder.write(sink, "zstd")
        sink.commit()
    return Descriptor(info.media_type, info.digest, info.size), str(info.diff_id)


def test_two_empty_build_steps_make_a_runnable_image(md: Minidock, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN true\nRUN true\n")
    md.ok("build", "-q", "-t", "twice:latest", str(context))
    store = Store(md.settings())
    diff_ids = [str(d) for d in store.image("twice").diff_ids]
    assert len(diff_ids) == 3 and diff_ids[1] == diff_ids[2]  # the empty layer, twice
    result = md("run", "--rm", "twice", "echo", "runs")
    assert (result.code, result.out, result.err) == (0, "runs\n", "")
    md.ok("rmi", "twice")


def test_a_repeated_layer_shows_as_it_does_on_top(md: Minidock) -> None:
    """[busybox, X, Y, X]: Y's files are hidden by the upper X where X has them too,
    as when every copy is stacked."""
    store = Store(md.settings())
    base = store.image("busybox")
    x_layer, x_id = _layer(store, {"dup/x": b"from x\n"})
    y_layer, y_id = _layer(store, {"dup/x": b"from y\n", "dup/y": b"only in y\n"})
    config = dict(base.config)
    base_ids = [str(d) for d in base.diff_ids]
    config["rootfs"] = {"type": "layers", "diff_ids": [*base_ids, x_id, y_id, x_id]}
    config["history"] = [*config.get("history", []),
                         *({"created_by": step} for step in ("ADD x", "ADD y", "ADD x"))]
    store.add_image(config, [*base.layers, x_layer, y_layer, x_layer],
                    tags=[parse("repeated:latest")])
    try:
        assert md.ok("run", "--rm", "repeated", "cat", "/dup/x", "/dup/y") == \
            "from x\nonly in y\n"
        md.ok("run", "--name", "rep", "repeated", "sh", "-c", "echo new > /dup/new")
        assert "A /dup/new" in md.ok("diff", "rep").splitlines()
        md.ok("rm", "rep")
    finally:
        store.remove_image("repeated:latest")
