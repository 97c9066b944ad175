"""Push: blobs the registry lacks (HEAD first), then the manifest under the tag.

A blob up to `chunk_size` goes up in one `PUT ?digest=`; a larger one in `PATCH`
chunks of that size and a closing `PUT`. Blob bytes are hashed as they leave the
store and the read that would complete the upload checks the digest first, so a
blob that rotted on disk never completes an upload. The manifest is sent as the
exact bytes in the store, so the registry computes the same digest.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from minidock.digest import Digest
from minidock.errors import DigestError, MinidockError, NotFoundError, RegistryError, UsageError
from minidock.oci.model import Descriptor
from minidock.reference import Reference, parse
from minidock.registry.client import RegistryClient
from minidock.registry.config import RegistryConfig
from minidock.registry.endpoint import push_endpoint
from minidock.registry.progress import (
    LAYER_EXISTS,
    PREPARING,
    PUSHED,
    PUSHING,
    Progress,
    ProgressCallback,
    ignore,
)
from minidock.registry.transport import Transport
from minidock.store.store import Store

DEFAULT_CHUNK_SIZE = 64 << 20


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    digest: Digest          # the manifest digest, as the registry now serves it
    size: int               # manifest bytes (Docker prints it)
    bytes_uploaded: int


def push(store: Store, ref: str | Reference, *, progress: ProgressCallback | None = None,
         chunk_size: int = DEFAULT_CHUNK_SIZE, config: RegistryConfig | None = None,
         transport: Transport | None = None) -> PushResult:
    """Upload a tagged image of the store to its registry."""
    reference = ref if isinstance(ref, Reference) else parse(ref)
    if reference.digest:
        raise UsageError(f"cannot push a digest reference: {reference}")
    if chunk_size <= 0:
        raise UsageError("chunk size must be positive")
    image = store.find_image(reference.full)
    if image is None:
        raise NotFoundError(f"An image does not exist locally with the tag: "
                            f"{reference.familiar_name}")
    desc = image.manifest_descriptor
    manifest_data = store.blobs.read(desc.digest, desc.size)
    config = config or RegistryConfig.load(store.settings)
    endpoint = push_endpoint(reference, config)
    client = RegistryClient(endpoint, reference.repository, push=True,
                            credentials=config.credentials(endpoint.registry),
                            transport=transport)
    pusher = _Pusher(store, client, progress or ignore, chunk_size)
    try:
        with client:
            pusher.push_blobs(list(image.layers), image.manifest.config)
            header = client.put_manifest(reference.tag or "latest", manifest_data,
                                         desc.media_type)
    except MinidockError as exc:
        if str(reference) not in exc.message:
            exc.message = f"pushing {reference}: {exc.message}"
            exc.args = (exc.message,)
        raise
    if header and header.startswith("sha256:") and header != str(desc.digest):
        raise RegistryError(f"pushing {reference}: the registry stored the manifest as "
                            f"{header}, minidock has {desc.digest}")
    return PushResult(reference, desc.digest, len(manifest_data), pusher.uploaded)


class _Pusher:
    def __init__(self, store: Store, client: RegistryClient, progress: ProgressCallback,
                 chunk_size: int):
        self.store = store
        self.client = client
        self.progress = progress
        self.chunk_size = chunk_size
        self.uploaded = 0

    def push_blobs(self, layers: list[Descriptor], config: Descriptor) -> None:
        for layer in layers:
            self.progress(Progress(layer.digest, PREPARING, 0, layer.size))
        for desc in [*layers, config]:
            is_layer = desc is not config
            if self.client.blob_exists(desc.digest):
                if is_layer:
                    self.progress(Progress(desc.digest, LAYER_EXISTS, desc.size, desc.size))
                continue
            self.upload(desc, report=is_layer)
            if is_layer:
                self.progress(Progress(desc.digest, PUSHED, desc.size, desc.size))

    def upload(self, desc: Descriptor, *, report: bool) -> None:
        path = self.store.blobs.path(desc.digest)
        if not path.is_file():
            raise NotFoundError(f"blob {desc.digest} not found in the store")
        location = self.client.start_upload()
        hasher = hashlib.sha256()
        if desc.size <= self.chunk_size:
            chunks = [(0, desc.size)]
        else:
            chunks = [(start, min(self.chunk_size, desc.size - start))
                      for start in range(0, desc.size, self.chunk_size)]
        last: _VerifiedSlice | None = None

        def opener(start: int, length: int) -> BinaryIO:
            nonlocal last
            last = _VerifiedSlice(path, desc, start, length, hasher.copy(),
                                  self._reporter(desc) if report else None, self)
            return last  # type: ignore[return-value]

        if len(chunks) == 1:
            self.client.finish_upload(location, desc.digest, desc.size,
                                      opener=lambda: opener(0, desc.size))
            return
        for start, length in chunks:
            location = self.client.upload_chunk(
                location, start, length, opener=functools.partial(opener, start, length))
            assert last is not None
            hasher = last.hash  # continue from what the accepted chunk hashed
        self.client.finish_upload(location, desc.digest)

    def _reporter(self, desc: Descriptor) -> Callable[[int], None]:
        def report(done: int) -> None:
            self.progress(Progress(desc.digest, PUSHING, done, desc.size))

        return report


class _VerifiedSlice:
    """Bytes [start, start+length) of a store blob, hashed as they are read.

    The hash continues from its state at `start`; the read that reaches the end of
    the blob checks size and digest before handing out its bytes.
    """

    def __init__(self, path: Path, desc: Descriptor, start: int, length: int,
                 hasher: hashlib._Hash, report: Callable[[int], None] | None, pusher: _Pusher):
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115
        self._file.seek(start)
        self._desc = desc
        self._pos = start
        self._left = length
        self.hash = hasher
        self._report = report
        self._pusher = pusher

    def read(self, n: int = -1) -> bytes:
        if self._left == 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(want)
        while data is not None and len(data) < want:
            more = self._file.read(want - len(data))
            if not more:
                break
            data += more
        if not data or len(data) < want:
            raise DigestError(f"blob {self._desc.digest}: size mismatch: the store copy is "
                              f"shorter than {self._desc.size} bytes")
        self.hash.update(data)
        self._pos += len(data)
        self._left -= len(data)
        if self._pos == self._desc.size:
            if self._file.read(1):
                raise DigestError(f"blob {self._desc.digest}: size mismatch: the store copy "
                                  f"is longer than {self._desc.size} bytes")
            actual = "sha256:" + self.hash.hexdigest()
            if actual != str(self._desc.digest):
                raise DigestError(f"blob {self._desc.digest}: digest mismatch: the store copy "
                                  f"hashes to {actual}")
        self._pusher.uploaded += len(data)
        if self._report is not None:
            self._report(self._pos)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()
