"""Layer tars: writing them deterministically, diffing trees into them, extracting them safely.

Pure filesystem and tar logic on streams and directories; the store hands in
file objects and receives `LayerInfo`.
"""

import importlib
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from minidock.layer.compression import (
        COMPRESSION_KINDS,
        DOCKER_MEDIA_TYPE_FOREIGN_TAR,
        DOCKER_MEDIA_TYPE_FOREIGN_TAR_GZIP,
        DOCKER_MEDIA_TYPE_TAR,
        DOCKER_MEDIA_TYPE_TAR_GZIP,
        DOCKER_MEDIA_TYPE_TAR_ZSTD,
        MEDIA_TYPE_NONDISTRIBUTABLE_TAR,
        MEDIA_TYPE_NONDISTRIBUTABLE_TAR_GZIP,
        MEDIA_TYPE_NONDISTRIBUTABLE_TAR_ZSTD,
        MEDIA_TYPE_TAR,
        MEDIA_TYPE_TAR_GZIP,
        MEDIA_TYPE_TAR_ZSTD,
        compression_of,
        compressor,
        decompressing_reader,
        is_layer_media_type,
        is_nondistributable,
        media_type_for,
    )
    from minidock.layer.differ import (
        Change,
        changes,
        diff_overlay_upper,
        diff_trees,
        overlay_changes,
        snapshot_dir_identities,
    )
    from minidock.layer.entry import OPAQUE_MARKER, WHITEOUT_PREFIX, Entry, EntryKind
    from minidock.layer.extract import ExtractResult, extract, unpack_image
    from minidock.layer.writer import LayerBuilder, LayerInfo, LayerWriter, write_tree

# name -> the submodule that defines it; loaded on first use (see __getattr__)
_EXPORTS = {
    "COMPRESSION_KINDS": "compression",
    "DOCKER_MEDIA_TYPE_FOREIGN_TAR": "compression",
    "DOCKER_MEDIA_TYPE_FOREIGN_TAR_GZIP": "compression",
    "DOCKER_MEDIA_TYPE_TAR": "compression",
    "DOCKER_MEDIA_TYPE_TAR_GZIP": "compression",
    "DOCKER_MEDIA_TYPE_TAR_ZSTD": "compression",
    "MEDIA_TYPE_NONDISTRIBUTABLE_TAR": "compression",
    "MEDIA_TYPE_NONDISTRIBUTABLE_TAR_GZIP": "compression",
    "MEDIA_TYPE_NONDISTRIBUTABLE_TAR_ZSTD": "compression",
    "MEDIA_TYPE_TAR": "compression",
    "MEDIA_TYPE_TAR_GZIP": "compression",
    "MEDIA_TYPE_TAR_ZSTD": "compression",
    "compression_of": "compression",
    "compressor": "compression",
    "decompressing_reader": "compression",
    "is_layer_media_type": "compression",
    "is_nondistributable": "compression",
    "media_type_for": "compression",
    "Change": "differ",
    "changes": "differ",
    "diff_overlay_upper": "differ",
    "diff_trees": "differ",
    "overlay_changes": "differ",
    "snapshot_dir_identities": "differ",
    "OPAQUE_MARKER": "entry",
    "WHITEOUT_PREFIX": "entry",
    "Entry": "entry",
    "EntryKind": "entry",
    "ExtractResult": "extract",
    "extract": "extract",
    "unpack_image": "extract",
    "LayerBuilder": "writer",
    "LayerInfo": "writer",
    "LayerWriter": "writer",
    "write_tree": "writer",
}


def __getattr__(name: str) -> object:
    """Import the submodule that defines `name` on first use, so that importing one
    part of the package (the runtime needs only the differ, the store only the
    extractor) does not load every other."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """This package's module. `extract` is both a submodule and the function it
    defines: importing the submodule sets the package's attribute to it, which
    must stay the function (`from minidock.layer import extract`), as it was
    when this package imported everything up front."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "COMPRESSION_KINDS",
    "DOCKER_MEDIA_TYPE_FOREIGN_TAR",
    "DOCKER_MEDIA_TYPE_FOREIGN_TAR_GZIP",
    "DOCKER_MEDIA_TYPE_TAR",
    "DOCKER_MEDIA_TYPE_TAR_GZIP",
    "DOCKER_MEDIA_TYPE_TAR_ZSTD",
    "MEDIA_TYPE_NONDISTRIBUTABLE_TAR",
    "MEDIA_TYPE_NONDISTRIBUTABLE_TAR_GZIP",
    "MEDIA_TYPE_NONDISTRIBUTABLE_TAR_ZSTD",
    "MEDIA_TYPE_TAR",
    "MEDIA_TYPE_TAR_GZIP",
    "MEDIA_TYPE_TAR_ZSTD",
    "OPAQUE_MARKER",
    "WHITEOUT_PREFIX",
    "Change",
    "Entry",
    "EntryKind",
    "ExtractResult",
    "LayerBuilder",
    "LayerInfo",
    "LayerWriter",
    "changes",
    "compression_of",
    "compressor",
    "decompressing_reader",
    "diff_overlay_upper",
    "diff_trees",
    "extract",
    "is_layer_media_type",
    "is_nondistributable",
    "media_type_for",
    "overlay_changes",
    "snapshot_dir_identities",
    "unpack_image",
    "write_tree",
]
