"""Layer writing speed against the shell pipelines it replaces (issue 4/7).

The tree is the COPY build context (one 50 MB file plus 1,000 small files):
minidock's streaming layer writer, in process, writes it as a zstd layer and as
an uncompressed one to /dev/null; the anchors are `tar -cf - DIR | zstd -3`
and `tar -cf - DIR | sha256sum`, which do the same work in C. A third figure
compares the writer's own zstd and gzip: the reason zstd is the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from contexts import copy_context, tree_size
from harness import Context, Row, Side, figure, shell


def _write_tree(tree: Path, compression: str) -> Callable[[], None]:
    from minidock.layer.writer import write_tree

    def run() -> None:
        with open(os.devnull, "wb") as sink:
            write_tree(tree, sink, compression)

    return run


def _tree(ctx: Context) -> Path:
    bench = ctx.bench
    context = copy_context(bench.contexts, big_mb=bench.pick(5, 50),
                           small_files=bench.pick(100, 1000))
    files, size = tree_size(context.path)
    ctx.note(f"tree: {files} files, {size / 1e6:.1f} MB (the COPY build context)")
    return context.path


@figure("layer.zstd", "layer pipeline, zstd: write_tree vs `tar | zstd -3`",
        rows=[Row(anchor="tar | zstd -3", target=2.0, issue="4/7 builder")], runs=7)
def layer_zstd(ctx: Context) -> dict[str, list[float]]:
    tree = _tree(ctx)
    return ctx.alternate([
        Side("minidock", _write_tree(tree, "zstd")),
        Side("tar | zstd -3", shell(f"tar -cf - -C '{tree}' . | zstd -3 -q -c >/dev/null")),
    ])


@figure("layer.plain", "layer pipeline, uncompressed: write_tree vs `tar | sha256sum`",
        rows=[Row(anchor="tar | sha256sum")], runs=7)
def layer_plain(ctx: Context) -> dict[str, list[float]]:
    tree = _tree(ctx)
    return ctx.alternate([
        Side("minidock", _write_tree(tree, "none")),
        Side("tar | sha256sum", shell(f"tar -cf - -C '{tree}' . | sha256sum >/dev/null")),
    ])


@figure("layer.compression", "layer compression choice: write_tree zstd vs gzip, same tree",
        rows=[Row(subject="zstd", anchor="gzip")], runs=3)
def layer_compression(ctx: Context) -> dict[str, list[float]]:
    tree = _tree(ctx)
    ctx.note("the measurement behind MINIDOCK_COMPRESSION's default (zstd)")
    return ctx.alternate([Side("zstd", _write_tree(tree, "zstd")),
                          Side("gzip", _write_tree(tree, "gzip"))])


FIGURES = (layer_zstd, layer_plain, layer_compression)
