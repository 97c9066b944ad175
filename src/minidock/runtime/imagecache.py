"""What `run` needs of an image, remembered so later runs skip the store.

Resolving a reference through the store (which parses index.json, reads and
verifies the manifest and config blobs) is cheap, but importing the store and
the image model costs more than everything else `run` does. So the first
`run` of a reference resolves it through the store and records the result
(image ID, config, extracted layer dirs) under `containers/.images/`, keyed
by the reference as typed, together with the identity of the store's
`index.json` at that moment. Every change of references (tag, load, pull,
rmi, commit) replaces index.json atomically, which changes its identity; an
entry is used only while index.json is that same file and every layer dir
still exists, so a stale entry is never used.

A blob can also change behind index.json's back (a disk error, a hand edit), so
an entry names the manifest and config blobs it came from and is used only
while both still hash to their digests; the config is read from its blob, not
from the entry. When they do not, `run` resolves through the store, which
refuses with the error `images` and `inspect` give.
"""

from __future__ import annotations

import json
import os

from minidock.fsutil import write_atomic
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CACHE_DIR = ".images"


class ResolvedImage(Record):
    __slots__ = ("id", "manifest", "config", "layers")

    def __init__(self, id: str, manifest: str, config: dict[str, Any],  # noqa: A002
                 layers: list[str]):
        self.id = id  # the config digest: Docker's IMAGE ID
        self.manifest = manifest  # the manifest digest
        self.config = config
        self.layers = layers  # extracted layer dirs, bottom first


def index_identity(root: str) -> list[int] | None:
    """(inode, size, mtime) of index.json: changes whenever references change."""
    try:
        st = os.stat(os.path.join(root, "index.json"))
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _entry_path(root: str, reference: str) -> str:
    """A file name for the reference (entries hold the full reference, so two long
    references that share a checksum only evict each other)."""
    raw = reference.encode("utf-8", "surrogateescape")
    if len(raw) <= 100:
        key = raw.hex()
    else:
        import binascii

        key = f"{binascii.crc32(raw):08x}-{len(raw)}"
    return os.path.join(root, "containers", CACHE_DIR, key + ".json")


def lookup(root: str, reference: str) -> ResolvedImage | None:
    """The recorded resolution of `reference`, if it is still valid."""
    identity = index_identity(root)
    if identity is None:
        return None
    try:
        with open(_entry_path(root, reference), encoding="utf-8") as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    if entry.get("reference") != reference or entry.get("index") != identity:
        return None
    layers = entry.get("layers")
    if not isinstance(layers, list) or not all(os.path.isdir(p) for p in layers):
        return None
    manifest, image_id = entry.get("manifest"), entry.get("id")
    if not isinstance(manifest, str) or not isinstance(image_id, str) \
            or _verified_blob(root, manifest) is None:
        return None
    config = _verified_blob(root, image_id)
    if config is None:
        return None
    try:
        return ResolvedImage(image_id, manifest, json.loads(config), layers)
    except ValueError:
        return None


def _verified_blob(root: str, digest: str) -> bytes | None:
    """The blob's bytes if they still hash to `digest` ("sha256:<hex>"), else None.

    hashlib is imported here, on a cache hit only: a config and a manifest are a
    few kilobytes, hashing them costs less than importing the store's digest code.
    """
    algorithm, _, hexpart = digest.partition(":")
    if algorithm != "sha256" or len(hexpart) != 64 or "/" in hexpart:
        return None
    try:
        with open(os.path.join(root, "blobs", "sha256", hexpart), "rb") as f:
            data = f.read()
    except OSError:
        return None
    import hashlib

    return data if hashlib.sha256(data).hexdigest() == hexpart else None


def record(root: str, reference: str, identity: list[int] | None,
           image: ResolvedImage) -> None:
    """Remember a resolution made while index.json had `identity`."""
    if identity is None:
        return
    path = _entry_path(root, reference)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = json.dumps({"reference": reference, "index": identity, "id": image.id,
                       "manifest": image.manifest, "layers": image.layers})
    # not durable: `run` writes it, and a lost entry is resolved again next time
    write_atomic(path, data.encode(), durable=False)
