"""The one table of media types: what minidock reads (OCI and Docker schema 2),
what it writes (OCI), which are layers, and how each layer is compressed.

It sits below both the image model (`oci`) and the layer code (`layer`), which
both need it and must not import each other.
"""

from __future__ import annotations

from minidock.errors import LayerError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})

# ---- layers: OCI spells compression `+kind`, Docker `.kind`
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = OCI_LAYER_NONDIST + "+gzip"
OCI_LAYER_NONDIST_ZSTD = OCI_LAYER_NONDIST + "+zstd"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = DOCKER_LAYER + ".gzip"
DOCKER_LAYER_ZSTD = DOCKER_LAYER + ".zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP = DOCKER_FOREIGN_LAYER + ".gzip"

COMPRESSION_KINDS = ("zstd", "gzip", "none")

# every layer media type and its compression
LAYER_COMPRESSION = {
    OCI_LAYER: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER: "none",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: "none",
    DOCKER_FOREIGN_LAYER_GZIP: "gzip",
}
LAYERS = frozenset(LAYER_COMPRESSION)
# foreign/non-distributable layers are not pushed to registries
NONDISTRIBUTABLE = frozenset({OCI_LAYER_NONDIST, OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST_ZSTD,
                              DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_GZIP})
# what minidock writes for each compression
LAYER_FOR_COMPRESSION = {"zstd": OCI_LAYER_ZSTD, "gzip": OCI_LAYER_GZIP, "none": OCI_LAYER}
DOCKER_LAYER_FOR_COMPRESSION = {"zstd": DOCKER_LAYER_ZSTD, "gzip": DOCKER_LAYER_GZIP,
                                "none": DOCKER_LAYER}

# index.json annotations that name a tag, read by skopeo, umoci and containerd
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"


def is_layer_media_type(media_type: str) -> bool:
    return media_type in LAYER_COMPRESSION


def is_nondistributable(media_type: str) -> bool:
    return media_type in NONDISTRIBUTABLE


def compression_of(media_type: str) -> str:
    """"zstd", "gzip" or "none" for a layer media type."""
    try:
        return LAYER_COMPRESSION[media_type]
    except KeyError:
        raise LayerError(f"unsupported layer media type: {media_type}") from None


def check_compression(kind: str) -> None:
    """Refuse a compression kind minidock cannot write."""
    if kind not in COMPRESSION_KINDS:
        raise LayerError(f"unknown compression {kind!r}: choose one of "
                         f"{', '.join(COMPRESSION_KINDS)}")


def media_type_for(compression: str, *, docker: bool = False) -> str:
    """The layer media type for a compression kind, OCI unless `docker`."""
    check_compression(compression)
    return (DOCKER_LAYER_FOR_COMPRESSION if docker else LAYER_FOR_COMPRESSION)[compression]
