"""The public view of an image, and copying an image between two stores.

`Image` is a frozen snapshot taken from the store, so holding one never keeps
the store open or locked; what it shows is what the store held when it was
made. Copying between stores is what lets a test session work in a store of
its own while taking its images from the user's store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minidock.store.layers import Analysis, Change, FileInfo, ImageLayers
    from minidock.store.store import Image as StoreImage
    from minidock.store.store import Store


@dataclass(frozen=True)
class Image:
    """An image in a store: its IDs, names and configuration."""

    id: str
    """Docker's IMAGE ID: the config digest, `sha256:...`."""
    digest: str
    """The manifest digest (what a registry calls the image digest)."""
    tags: tuple[str, ...]
    """Its names, as `docker images` shows them (`nginx:stable`)."""
    size: int
    """Bytes of the layers as stored, plus the config."""
    created: str | None
    architecture: str
    os: str
    config: dict[str, Any] = field(repr=False, compare=False, hash=False)
    """The run configuration: `Cmd`, `Entrypoint`, `Env`, `ExposedPorts`, `Labels` ..."""
    root: str = field(repr=False, compare=False)
    """The store the image lives in."""

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the ID, as `minidock images` shows it."""
        return self.id.partition(":")[2][:12]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})

    @property
    def exposed_ports(self) -> list[int]:
        """The TCP ports the image EXPOSEs, in ascending order."""
        ports = []
        for key in self.config.get("ExposedPorts") or {}:
            number, _, proto = key.partition("/")
            if number.isdigit() and (proto or "tcp") == "tcp":
                ports.append(int(number))
        return sorted(ports)

    def __str__(self) -> str:
        return self.tags[0] if self.tags else self.short_id

    def _stack(self) -> ImageLayers:
        from minidock.digest import Digest
        from minidock.store.layers import ImageLayers
        from minidock.store.store import Store

        return ImageLayers(Store(self.root).image_from_digest(Digest(self.digest)))

    def layers(self) -> list[Layer]:
        """Its layers, bottom first, each with what it changed and the instruction that made it."""
        stack = self._stack()
        return [Layer(index=info.index, diff_id=str(info.diff_id), digest=str(info.digest),
                      media_type=info.media_type, compressed_size=info.compressed_size,
                      uncompressed_size=info.uncompressed_size, added=info.added,
                      changed=info.changed, removed=info.removed, created_by=info.created_by,
                      stack=stack)
                for info in stack.infos()]

    def analyze(self) -> Analysis:
        """dive's efficiency score, wasted bytes and the biggest offenders."""
        return self._stack().analyze()


@dataclass(frozen=True)
class Layer:
    """One layer of an image; its files are read from the verified blob when asked for."""

    index: int
    diff_id: str
    digest: str
    media_type: str
    compressed_size: int
    uncompressed_size: int
    """Bytes of the layer's tar."""
    added: int
    changed: int
    removed: int
    created_by: str
    """The history entry (instruction) that made it."""
    stack: ImageLayers = field(repr=False, compare=False)

    def changes(self) -> list[Change]:
        """What this layer did to the layers below it (A/C/D, whiteouts, opaque dirs)."""
        return self.stack.changes(self.index)

    def files(self) -> dict[str, FileInfo]:
        """The merged tree of the image as of this layer, by path."""
        return self.stack.tree(self.index)


def snapshot(image: StoreImage) -> Image:
    """The public Image of a store image."""
    document = image.config
    return Image(
        id=str(image.id), digest=str(image.digest), tags=tuple(image.repo_tags),
        size=image.size, created=document.get("created"),
        architecture=str(document.get("architecture") or ""), os=str(document.get("os") or ""),
        config=dict(document.get("config") or {}), root=str(image.store.root))


def copy_image(source: Store, image: StoreImage, target: Store, tags: list[str]) -> StoreImage:
    """Copy `image` (config, layers, manifest) into `target` and tag it there.

    Every blob is streamed through a verifying reader into a verifying writer,
    so a damaged source blob fails the copy instead of spreading. Blobs the
    target holds already are not copied again.
    """
    from minidock.reference import parse

    descriptors = [image.manifest.config, *image.layers, image.manifest_descriptor]
    with target.writing():
        for desc in descriptors:
            if target.blobs.exists(desc.digest):
                continue
            with source.open_blob(desc) as stream:
                target.blobs.copy_in(stream, desc.digest, desc.size)
        return target.record_image(image.manifest_descriptor, [parse(tag) for tag in tags])
