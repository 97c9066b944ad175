"""`import`: a plain root filesystem tar becomes a one-layer image.

The tar (plain or compressed; from a file or a pipe) is streamed once: its
bytes are hashed for the diff_id and compressed into a new blob at the same
time, while a strict tar reader walks the headers, so a truncated or garbage
input is refused before anything is recorded. The layer is stored with the
compression from the settings.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, BinaryIO

from minidock.archive.changes import apply_changes
from minidock.archive.source import open_tar_stream
from minidock.digest import Digest
from minidock.errors import ArchiveError, LayerError
from minidock.layer.compression import Compressor, compressor
from minidock.layer.streams import Source
from minidock.layer.tarstream import TarReader
from minidock.mediatypes import media_type_for
from minidock.oci.model import Descriptor, host_platform
from minidock.reference import Reference
from minidock.store.store import Image, Store

_CHUNK = 1 << 20


class _Tee:
    """Reads the input while hashing it and feeding the compressor."""

    def __init__(self, source: Source, sink: Compressor):
        self._source = source
        self._sink = sink
        self._hash = hashlib.sha256()
        self.size = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self._source.readinto(buffer) or 0
        if n:
            chunk = memoryview(buffer)[:n]
            self._hash.update(chunk)
            self._sink.write(chunk)
            self.size += n
        return n

    def drain(self) -> None:
        buf = bytearray(_CHUNK)
        while self.readinto(buf):
            pass

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())


def rfc3339(moment: datetime) -> str:
    """A UTC time as Go's RFC3339Nano writes it (what image configs use)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def import_config(diff_id: Digest, *, changes: list[str], message: str | None, source: str,
                  created: str) -> dict[str, Any]:
    """The image config Docker writes for an imported tar."""
    platform = host_platform()
    comment = message if message else f"Imported from {source}"
    config: dict[str, Any] = {
        "architecture": platform["architecture"],
        "os": platform["os"],
        "created": created,
        "comment": comment,
        "config": apply_changes({}, changes),
        "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
        "history": [{"created": created, "comment": comment}],
    }
    if "variant" in platform:
        config["variant"] = platform["variant"]
    return config


def import_rootfs(store: Store, stream: BinaryIO, *, tags: list[Reference] | None = None,
                  changes: list[str] | None = None, message: str | None = None,
                  source: str = "-") -> Image:
    """Store the tar in `stream` as a one-layer image; `source` names it in the history."""
    changes = changes or []
    apply_changes({}, changes)  # refuse bad changes before reading anything
    tar, _compression = open_tar_stream(stream)
    kind = store.settings.compression
    with store.writing():
        with store.blob_writer() as blob:
            sink = compressor(kind, blob)
            tee = _Tee(tar, sink)
            entries = 0
            try:
                for _entry in TarReader(tee):  # content is skipped, through the tee
                    entries += 1
                tee.drain()  # end-of-archive blocks and padding belong to the layer too
            except LayerError as exc:
                if not entries:
                    raise ArchiveError("invalid input: not a tar archive") from None
                raise ArchiveError("invalid tar: " + str(exc).replace("layer tar", "tar")
                                   ) from None
            if tee.size == 0:
                raise ArchiveError("invalid tar: the input is empty")
            sink.close()
            digest = blob.commit()
            layer = Descriptor(media_type_for(kind), digest, blob.size)
        config = import_config(tee.digest, changes=changes, message=message, source=source,
                               created=rfc3339(datetime.now(UTC)))
        return store.add_image(config, [layer], tags=tags or [])
