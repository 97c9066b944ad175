"""Layer tars: writing them deterministically, diffing trees into them, extracting them safely.

Pure filesystem and tar logic on streams and directories; the store hands in
file objects and receives `LayerInfo`.
"""

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
