"""One media-type table: every layer type the layer code decompresses is a layer
type a manifest may name."""

from __future__ import annotations

import json

import pytest

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.oci.model import Manifest


@pytest.mark.parametrize("media_type", sorted(mt.LAYER_COMPRESSION))
def test_a_manifest_may_name_every_layer_type_the_layer_code_reads(media_type: str) -> None:
    digest = str(Digest.of_bytes(b"layer"))
    doc = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
           "config": {"mediaType": mt.DOCKER_CONFIG, "digest": digest, "size": 5},
           "layers": [{"mediaType": media_type, "digest": digest, "size": 5}]}
    manifest = Manifest.parse(json.dumps(doc).encode())
    assert manifest.layers[0].media_type == media_type
    assert mt.compression_of(media_type) in mt.COMPRESSION_KINDS
