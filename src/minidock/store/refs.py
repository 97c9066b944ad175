"""The image list: `index.json` of the OCI layout, replaced atomically.

Each tag is one index entry whose `org.opencontainers.image.ref.name`
annotation holds the familiar reference (`nginx:stable`), which is what
`skopeo inspect oci:$ROOT:nginx:stable` looks up; `io.containerd.image.name`
holds the fully qualified name. An image without tags keeps one entry with no
name, so it lives on as `<none>` until removed or pruned, as in Docker.
"""

from __future__ import annotations

import json
from pathlib import Path

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.errors import StoreError
from minidock.fsutil import write_atomic
from minidock.oci.model import Descriptor, ImageFormatError
from minidock.reference import Reference, parse


class RefIndex:
    """Reads and rewrites index.json; callers hold the store's index lock to write."""

    def __init__(self, root: Path):
        self.path = root / "index.json"
        self.tmp_dir = root / "tmp"

    def entries(self) -> list[Descriptor]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            obj = json.loads(data)
            return [Descriptor.from_json(x, "index entry") for x in obj.get("manifests", [])]
        except (ValueError, AttributeError, ImageFormatError) as exc:
            raise StoreError(f"store index {self.path} is corrupt: {exc}") from None

    def save(self, entries: list[Descriptor]) -> None:
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
               "manifests": [e.to_json() for e in entries]}
        write_atomic(self.path, json.dumps(doc, indent=2).encode() + b"\n",
                     tmp_dir=self.tmp_dir)

    @staticmethod
    def name_of(entry: Descriptor) -> Reference | None:
        name = entry.annotations.get(mt.ANNOTATION_IMAGE_NAME) or entry.annotations.get(
            mt.ANNOTATION_REF_NAME)
        if not name:
            return None
        try:
            return parse(name)
        except Exception:  # a foreign tool's odd name: keep the entry, show no name
            return None

    @staticmethod
    def entry_for(desc: Descriptor, ref: Reference | None) -> Descriptor:
        ann = {}
        if ref is not None:
            ann = {mt.ANNOTATION_REF_NAME: ref.familiar, mt.ANNOTATION_IMAGE_NAME: ref.full}
        return Descriptor(desc.media_type, desc.digest, desc.size, ann)

    def set_tag(self, ref: Reference, desc: Descriptor) -> Digest | None:
        """Point `ref` at `desc`; returns the digest it pointed at before."""
        entries = self.entries()
        previous: Descriptor | None = None
        kept = []
        for e in entries:
            name = self.name_of(e)
            if name is not None and name.full == ref.full:
                previous = e
                continue
            if name is None and e.digest == desc.digest:
                continue  # the untagged entry of this image is replaced by the tag
            kept.append(e)
        kept.append(self.entry_for(desc, ref))
        if previous is not None and previous.digest != desc.digest and not any(
                e.digest == previous.digest for e in kept):
            kept.append(self.entry_for(previous, None))  # the old image lives on as <none>
        self.save(kept)
        return previous.digest if previous is not None else None

    def add_untagged(self, desc: Descriptor) -> None:
        entries = self.entries()
        if any(e.digest == desc.digest for e in entries):
            return
        entries.append(self.entry_for(desc, None))
        self.save(entries)

    def remove_tag(self, ref: Reference, *, keep_untagged: bool) -> Descriptor | None:
        entries = self.entries()
        removed = None
        kept = []
        for e in entries:
            name = self.name_of(e)
            if removed is None and name is not None and name.full == ref.full:
                removed = e
                continue
            kept.append(e)
        if removed is None:
            return None
        if keep_untagged and not any(e.digest == removed.digest for e in kept):
            kept.append(self.entry_for(removed, None))
        self.save(kept)
        return removed

    def remove_digest(self, digest: Digest) -> list[Descriptor]:
        entries = self.entries()
        gone = [e for e in entries if e.digest == digest]
        if gone:
            self.save([e for e in entries if e.digest != digest])
        return gone

