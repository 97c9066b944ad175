"""Layer sizes as Docker counts them: the bytes of the files a layer holds.

Docker's SIZE (`images`, `history`, `inspect`) is what its storage driver measures
after applying a layer: the sizes of its regular files plus the lengths of its
symlinks' targets, each inode once; not the compressed blob, not the tar stream.
The number is computed from the uncompressed tar the first time it is asked for and
kept under `layer-sizes/` in the store, one small file per layer blob, so listing
images does not decompress them again.
"""

from __future__ import annotations

import os
from pathlib import Path

from minidock.errors import MinidockError
from minidock.fsutil import write_atomic
from minidock.layer.compression import decompressing_reader
from minidock.layer.entry import EntryKind
from minidock.layer.tarstream import TarReader
from minidock.oci.model import Descriptor
from minidock.store.blobs import BlobStore

SIZES_DIR = "layer-sizes"


def tar_content_size(reader: TarReader) -> int:
    """Bytes of the files in one layer tar: regular files' sizes and symlink targets'
    lengths; a hard link adds nothing, a path written twice counts once."""
    sizes: dict[str, int] = {}
    for entry in reader:
        if entry.kind is EntryKind.FILE:
            sizes[entry.path] = entry.size
        elif entry.kind is EntryKind.SYMLINK:
            sizes[entry.path] = len(os.fsencode(entry.linkname))
        else:
            sizes.pop(entry.path, None)
    return sum(sizes.values())


def layer_content_size(root: Path, blobs: BlobStore, desc: Descriptor) -> int:
    """Docker's size of the layer `desc`; its blob size when the blob cannot be read
    (a foreign layer that is not stored here)."""
    record = root / SIZES_DIR / desc.digest.hex
    try:
        return int(record.read_text())
    except (OSError, ValueError):
        pass
    try:
        with blobs.open(desc.digest, desc.size) as blob:
            size = tar_content_size(TarReader(decompressing_reader(blob, desc.media_type)))
    except (OSError, MinidockError):
        return desc.size
    try:
        record.parent.mkdir(exist_ok=True)
        write_atomic(record, str(size).encode(), durable=False)
    except OSError:
        pass  # a read-only or full store: the size is computed again next time
    return size

