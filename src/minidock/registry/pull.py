"""Pull: tag -> manifest (an index resolved to one platform) -> blobs -> a tagged image.

Each blob streams from the socket into a store temp file while it is hashed; a
blob is committed only if digest and size match, and the tag is recorded only
once every blob is in. Blobs already in the store are not fetched, so a pull that
was interrupted resumes where it stopped when run again. A pull that fails for any
other reason (corrupt content, a bad manifest, an error reply) removes the blobs it
had written, leaving the store as it was.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.errors import (
    DigestError,
    MinidockError,
    NotFoundError,
    UsageError,
)
from minidock.oci.model import (
    Descriptor,
    ImageFormatError,
    Manifest,
    diff_ids,
    host_platform,
    parse_config,
)
from minidock.reference import Reference, parse
from minidock.registry.client import (
    ConnectionLostError,
    RegistryClient,
    ResponseError,
    UnreachableError,
    network_error,
)
from minidock.registry.config import RegistryConfig
from minidock.registry.endpoint import Endpoint, pull_endpoint
from minidock.registry.progress import (
    ALREADY_EXISTS,
    DOWNLOADING,
    PULL_COMPLETE,
    PULLING,
    Progress,
    ProgressCallback,
    ignore,
)
from minidock.registry.transport import BLOCK, Transport
from minidock.store.store import Image, Store

CONFIG_LIMIT = 64 << 20  # an image config is JSON read into memory: bound it
_MANIFEST_NOT_FOUND = {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"}


@dataclass(frozen=True)
class PullResult:
    image: Image
    reference: Reference
    digest: Digest           # what the reference resolved to: the index or the manifest
    updated: bool            # False: the tag already pointed here and nothing was fetched
    bytes_downloaded: int


def parse_platform(text: str) -> dict[str, str]:
    """`os/arch[/variant]` as an OCI platform dict."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid platform {text!r}: expected os/arch[/variant], "
                         "e.g. linux/amd64")
    plat = {"os": parts[0].lower(), "architecture": parts[1].lower()}
    if len(parts) == 3:
        plat["variant"] = parts[2].lower()
    return plat


def pull(store: Store, ref: str | Reference, *, platform: str | None = None,
         progress: ProgressCallback | None = None) -> Image:
    """Fetch an image into the store (for FROM and run of an image not present)."""
    return pull_image(store, ref, platform=platform, progress=progress).image


def pull_image(store: Store, ref: str | Reference, *, platform: str | None = None,
               progress: ProgressCallback | None = None,
               config: RegistryConfig | None = None,
               transport: Transport | None = None) -> PullResult:
    """Pull `ref`; every error is one line naming the reference."""
    reference = ref if isinstance(ref, Reference) else parse(ref)
    want = parse_platform(platform) if platform else None
    config = config or RegistryConfig.load(store.settings)
    endpoint = pull_endpoint(reference, config)
    client = RegistryClient(endpoint, reference.repository,
                            credentials=config.credentials(endpoint.registry),
                            transport=transport)
    try:
        with client:
            return _Puller(store, client, reference, want, progress or ignore).run()
    except MinidockError as exc:
        raise _explain(exc, reference, endpoint) from None


def _explain(exc: MinidockError, ref: Reference, endpoint: Endpoint) -> MinidockError:
    """Name the reference in the message (and explain Docker Hub without a network)."""
    if endpoint.is_docker_hub and isinstance(exc, UnreachableError):
        exc.message = (f"pull access denied for {ref.familiar_name}, repository does not exist "
                       f"or may require 'docker login': {exc.message}")
        exc.hint = ("load the image with `minidock load -i FILE`, or set "
                    "MINIDOCK_REGISTRY_MIRROR=HOST:PORT to pull Docker Hub images from a mirror")
    elif str(ref) not in exc.message and ref.full not in exc.message:
        source = f" (from mirror {endpoint.host})" if endpoint.is_mirror else ""
        exc.message = f"pulling {ref}{source}: {exc.message}"
    if isinstance(exc, ConnectionLostError) and not exc.hint:
        exc.hint = "run the pull again to resume: blobs already complete are kept"
    exc.args = (exc.message,)
    return exc


class _Puller:
    def __init__(self, store: Store, client: RegistryClient, ref: Reference,
                 platform: dict[str, str] | None, progress: ProgressCallback):
        self.store = store
        self.client = client
        self.ref = ref
        self.platform = platform
        self.progress = progress
        self.written: list[Digest] = []
        self.downloaded = 0

    def run(self) -> PullResult:
        top_digest, manifest_data, media_type, from_index = self._resolve()
        manifest = Manifest.parse(manifest_data)
        if manifest.config.media_type and manifest.config.media_type not in mt.CONFIGS:
            raise ImageFormatError(
                f"unsupported config media type {manifest.config.media_type!r}: "
                "not a container image")
        digest = Digest.of_bytes(manifest_data)
        desc = Descriptor(media_type, digest, len(manifest_data))
        had_manifest = self.store.blobs.exists(digest)
        prior = None
        if self.ref.tag and not self.ref.digest:
            prior = self.store.find_image(self.ref.full)
        try:
            with self.store.writing():
                self._fetch_config(manifest)
                if self.platform is not None and not from_index:
                    self._check_single_platform(manifest)
                missing = []
                for layer in manifest.layers:
                    if self._present(layer):
                        self.progress(Progress(layer.digest, ALREADY_EXISTS))
                    else:
                        missing.append(layer)
                        self.progress(Progress(layer.digest, PULLING, 0, layer.size))
                for layer in missing:
                    self._fetch(layer)
                    self.progress(Progress(layer.digest, PULL_COMPLETE, layer.size, layer.size))
                if not had_manifest:
                    self.store.blobs.put(manifest_data, digest)
                    self.written.append(digest)
                tags = [self.ref] if self.ref.tag and not self.ref.digest else []
                image = self.store.record_image(desc, tags)
        except (ConnectionLostError, KeyboardInterrupt):
            raise  # completed blobs stay so the next pull resumes
        except BaseException:
            self._discard()
            raise
        if self.ref.tag and not self.ref.digest:
            updated = prior is None or prior.digest != digest or self.downloaded > 0
        else:
            updated = not had_manifest or self.downloaded > 0
        return PullResult(image, self.ref, top_digest, updated, self.downloaded)

    # ---- manifests -------------------------------------------------------------
    def _resolve(self) -> tuple[Digest, bytes, str, bool]:
        """(digest the reference names, platform manifest bytes, its type, came from index)."""
        data, media_type = self._get_manifest(self.ref.digest or self.ref.tag or "latest",
                                              self.ref.digest)
        top = Digest.of_bytes(data)
        if media_type in mt.INDEXES:
            try:
                chosen = self.store.platform_manifest(data, self.platform)
            except NotFoundError:
                want = self.platform or host_platform()
                name = "/".join(want[k] for k in ("os", "architecture", "variant") if k in want)
                raise NotFoundError(f"no matching manifest for {name} in the manifest list "
                                    f"entries of {self.ref}") from None
            data, media_type = self._get_manifest(str(chosen.digest), str(chosen.digest))
            if len(data) != chosen.size:
                raise DigestError(f"manifest {chosen.digest}: size mismatch: index says "
                                  f"{chosen.size} bytes, got {len(data)}")
            if media_type in mt.INDEXES:
                raise ImageFormatError("an index that points at another index is not supported")
            return top, data, media_type, True
        return top, data, media_type, False

    def _get_manifest(self, reference: str, expected: str | None) -> tuple[bytes, str]:
        try:
            data, content_type, header_digest = self.client.get_manifest(reference)
        except ResponseError as exc:
            if exc.status == 404 or set(exc.codes) & _MANIFEST_NOT_FOUND:
                raise NotFoundError(f"manifest for {self.ref} not found: {exc.message}") from None
            raise
        actual = Digest.of_bytes(data)
        if expected is not None and str(actual) != expected:
            raise DigestError(f"manifest {expected}: digest mismatch: content hashes to {actual}")
        if header_digest and header_digest.startswith("sha256:") and header_digest != str(actual):
            raise DigestError(f"manifest of {self.ref}: the registry says {header_digest}, "
                              f"content hashes to {actual}")
        return data, _manifest_media_type(data, content_type)

    def _check_single_platform(self, manifest: Manifest) -> None:
        """`--platform` with a single-platform image: the config must match it."""
        config = parse_config(self.store.blobs.read(manifest.config.digest, manifest.config.size))
        want = self.platform or {}
        got = {"os": str(config.get("os", "")), "architecture": str(config.get("architecture",
                                                                                 ""))}
        if got["os"] != want.get("os") or got["architecture"] != want.get("architecture"):
            raise NotFoundError(
                f"image {self.ref} is for {got['os']}/{got['architecture']}, not "
                f"{want.get('os')}/{want.get('architecture')}")

    # ---- blobs -------------------------------------------------------------------
    def _present(self, desc: Descriptor) -> bool:
        """In the store with the right size (a wrong size is refetched, which repairs it)."""
        try:
            return self.store.blobs.size(desc.digest) == desc.size
        except NotFoundError:
            return False

    def _fetch_config(self, manifest: Manifest) -> None:
        cfg = manifest.config
        if cfg.size > CONFIG_LIMIT:
            raise ImageFormatError(f"image config {cfg.digest} is too large ({cfg.size} bytes)")
        if not self._present(cfg):
            self._fetch(cfg)
        config = parse_config(self.store.blobs.read(cfg.digest, cfg.size))
        if len(diff_ids(config)) != len(manifest.layers):
            raise ImageFormatError(f"image config lists {len(diff_ids(config))} layers, "
                                   f"the manifest {len(manifest.layers)}")

    def _fetch(self, desc: Descriptor) -> None:
        """Stream one blob into the store, verifying digest and size as it arrives."""
        is_layer = desc.media_type in mt.LAYERS
        resp = self.client.open_blob(desc.digest)
        try:
            with self.store.blob_writer(desc.digest, desc.size) as writer:
                buf = memoryview(bytearray(BLOCK))
                done = 0
                while True:
                    try:
                        n = resp.readinto(buf)
                    except (OSError, http.client.HTTPException) as exc:
                        raise network_error(exc, self.client.endpoint.host,
                                            started=True) from None
                    if not n:
                        break
                    writer.write(buf[:n])
                    done += n
                    self.downloaded += n
                    if is_layer:
                        self.progress(Progress(desc.digest, DOWNLOADING, done, desc.size))
                if done < desc.size:
                    raise ConnectionLostError(
                        f"connection to registry {self.client.endpoint.host} lost: blob "
                        f"{desc.digest} ended after {done} of {desc.size} bytes")
                writer.commit()
        finally:
            resp.close()
        self.written.append(desc.digest)

    def _discard(self) -> None:
        """Remove blobs this pull wrote that nothing references (a concurrent pull may)."""
        if not self.written:
            return
        with self.store.lock():
            keep, _ = self.store.reachable()
            for digest in self.written:
                if digest not in keep:
                    self.store.blobs.delete(digest)


def _manifest_media_type(data: bytes, content_type: str | None) -> str:
    """The declared type: the document's mediaType, else the reply's Content-Type."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ImageFormatError("the registry sent a manifest that is not JSON") from None
    if not isinstance(obj, dict):
        raise ImageFormatError("the registry sent a manifest that is not a JSON object")
    if obj.get("schemaVersion") == 1:
        raise ImageFormatError("unsupported manifest media type: Docker schema 1 "
                               f"({content_type or 'no media type'}) is deprecated")
    media = obj.get("mediaType")
    if not isinstance(media, str) or not media:
        media = content_type or ""
        if media not in mt.MANIFESTS | mt.INDEXES:
            media = mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST
    if media not in mt.MANIFESTS | mt.INDEXES:
        raise ImageFormatError(f"unsupported manifest media type {media!r}")
    return media
