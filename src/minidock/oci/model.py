"""Frozen records for the OCI image format, parsed strictly from JSON.

Reading accepts Docker schema 2 media types as well; writing always produces
OCI. Parsing validates what later code relies on (digests, sizes, media types)
so a malformed manifest fails here with a one-line error, not deep inside.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.errors import DigestError, MinidockError


class ImageFormatError(MinidockError):
    """A manifest, index or config that is not valid JSON of the expected shape."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    platform: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Any, what: str = "descriptor") -> Descriptor:
        if not isinstance(data, dict):
            raise ImageFormatError(f"invalid {what}: not an object")
        try:
            digest = Digest(str(data["digest"]))
        except KeyError:
            raise ImageFormatError(f"invalid {what}: no digest") from None
        except DigestError as exc:
            raise ImageFormatError(f"invalid {what}: {exc}") from None
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ImageFormatError(f"invalid {what} {digest}: bad size {size!r}")
        media = data.get("mediaType", "")
        if not isinstance(media, str):
            raise ImageFormatError(f"invalid {what} {digest}: bad mediaType")
        ann = data.get("annotations") or {}
        plat = data.get("platform")
        return cls(media, digest, size, dict(ann), dict(plat) if plat else None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest),
                               "size": self.size}
        if self.platform:
            out["platform"] = self.platform
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def json_object(data: bytes | str) -> dict[str, Any]:
    """A JSON document that must be an object; ValueError says why it is not
    (each caller turns that into its own error with the document's name)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        return json_object(data)
    except ValueError as exc:
        raise ImageFormatError(f"invalid {what}: {exc}") from None


def canonical_json(obj: Any) -> bytes:
    """Stable bytes for a JSON document we write (sorted keys, no spaces).

    Bytes that are not UTF-8 (a Dockerfile's, carried as surrogate escapes)
    become U+FFFD, as Go's encoder writes them, so the document stays valid JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode()


def sniff_media_type(data: bytes) -> str:
    """The media type a manifest or index document declares (or implies)."""
    obj = _load_json(data, "manifest")
    media = obj.get("mediaType")
    if isinstance(media, str) and media:
        return media
    if "manifests" in obj:
        return mt.OCI_INDEX
    if "layers" in obj or "config" in obj:
        return mt.OCI_MANIFEST
    raise ImageFormatError("invalid manifest: no mediaType, layers or manifests")


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        obj = _load_json(data, "manifest")
        if obj.get("schemaVersion") != 2:
            raise ImageFormatError(
                f"unsupported manifest schemaVersion {obj.get('schemaVersion')!r}")
        media = obj.get("mediaType") or mt.OCI_MANIFEST
        if media not in mt.MANIFESTS:
            raise ImageFormatError(f"unsupported manifest media type {media!r}")
        config = Descriptor.from_json(obj.get("config"), "config descriptor")
        layers_raw = obj.get("layers")
        if not isinstance(layers_raw, list):
            raise ImageFormatError("invalid manifest: layers is not a list")
        layers = tuple(Descriptor.from_json(x, "layer descriptor") for x in layers_raw)
        for layer in layers:
            if layer.media_type not in mt.LAYERS:
                raise ImageFormatError(f"unsupported layer media type {layer.media_type!r}")
        return cls(media, config, layers, dict(obj.get("annotations") or {}))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = self.annotations
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]

    @classmethod
    def parse(cls, data: bytes) -> Index:
        obj = _load_json(data, "index")
        media = obj.get("mediaType") or mt.OCI_INDEX
        if media not in mt.INDEXES:
            raise ImageFormatError(f"unsupported index media type {media!r}")
        raw = obj.get("manifests")
        if not isinstance(raw, list):
            raise ImageFormatError("invalid index: manifests is not a list")
        return cls(media, tuple(Descriptor.from_json(x, "manifest descriptor") for x in raw))


def host_platform() -> dict[str, str]:
    """The OCI platform of this machine, e.g. linux/amd64."""
    import platform

    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"
            }.get(machine, machine)
    plat = {"os": "linux", "architecture": arch}
    if arch == "arm64":
        plat["variant"] = "v8"
    elif arch == "arm":
        plat["variant"] = "v7"
    return plat


def parse_config(data: bytes) -> dict[str, Any]:
    """An image config; checks the fields later code relies on."""
    obj = _load_json(data, "image config")
    rootfs = obj.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids", []), list):
        raise ImageFormatError("invalid image config: no rootfs.diff_ids")
    for d in rootfs.get("diff_ids", []):
        try:
            Digest(str(d))
        except DigestError:
            raise ImageFormatError(f"invalid image config: bad diff_id {d!r}") from None
    if obj.get("config") is not None and not isinstance(obj.get("config"), dict):
        raise ImageFormatError("invalid image config: config is not an object")
    return obj


def diff_ids(config: dict[str, Any]) -> list[Digest]:
    return [Digest(str(d)) for d in config.get("rootfs", {}).get("diff_ids", [])]


def chain_ids(ids: list[Digest]) -> list[Digest]:
    """OCI ChainIDs: each layer identified together with everything below it."""
    out: list[Digest] = []
    for d in ids:
        out.append(d if not out else Digest.of_bytes(f"{out[-1]} {d}".encode()))
    return out
