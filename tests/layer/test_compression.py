import gzip
import hashlib
import io
import os

import pytest
import zstandard

from minidock import mediatypes as mt
from minidock.errors import LayerError
from minidock.layer import compression as c

DATA = os.urandom(200_000) + b"compressible text " * 50_000


def _compress(kind: str, data: bytes = DATA) -> bytes:
    out = io.BytesIO()
    writer = c.compressor(kind, out)
    for i in range(0, len(data), 65536):
        writer.write(data[i:i + 65536])
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize(("media_type", "kind"), [
    ("application/vnd.oci.image.layer.v1.tar", "none"),
    ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
    ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
    ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"),
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
    ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"),
])
def test_media_types_map_to_compression(media_type, kind):
    assert mt.is_layer_media_type(media_type)
    assert mt.compression_of(media_type) == kind


def test_foreign_layers_are_nondistributable():
    assert mt.is_nondistributable(mt.DOCKER_FOREIGN_LAYER_GZIP)
    assert mt.is_nondistributable(mt.OCI_LAYER_NONDIST_ZSTD)
    assert not mt.is_nondistributable(mt.OCI_LAYER_GZIP)


def test_media_type_for_each_kind():
    assert mt.media_type_for("zstd") == mt.OCI_LAYER_ZSTD
    assert mt.media_type_for("gzip") == mt.OCI_LAYER_GZIP
    assert mt.media_type_for("none") == mt.OCI_LAYER
    assert mt.media_type_for("gzip", docker=True) == mt.DOCKER_LAYER_GZIP


def test_unknown_media_type_and_kind_are_layer_errors():
    with pytest.raises(LayerError):
        mt.compression_of("application/vnd.oci.image.config.v1+json")
    with pytest.raises(LayerError):
        c.compressor("bzip2", io.BytesIO())
    with pytest.raises(LayerError):
        c.decompressing_reader(io.BytesIO(b""), "text/plain")


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none"])
def test_round_trip(kind):
    blob = _compress(kind)
    assert c.decompressing_reader(io.BytesIO(blob), mt.media_type_for(kind)).read() == DATA


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_output_is_deterministic(kind):
    assert _compress(kind) == _compress(kind)


def test_zstd_output_does_not_depend_on_write_sizes():
    out = io.BytesIO()
    writer = c.compressor("zstd", out)
    for i in range(0, len(DATA), 7777):
        writer.write(DATA[i:i + 7777])
    writer.close()
    assert out.getvalue() == _compress("zstd")


def test_gzip_header_has_no_mtime_and_no_name():
    blob = _compress("gzip")
    assert blob[:3] == b"\x1f\x8b\x08"
    assert blob[3] == 0  # no FNAME/FEXTRA flags
    assert blob[4:8] == b"\0\0\0\0"  # mtime 0
    assert gzip.decompress(blob) == DATA


def test_zstd_is_standard_and_level_3_sized():
    blob = _compress("zstd")
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == DATA
    reference = zstandard.ZstdCompressor(level=3).compress(DATA)
    assert abs(len(blob) - len(reference)) < len(reference) * 0.05


@pytest.mark.parametrize(("actual", "label"), [
    ("gzip", mt.OCI_LAYER_ZSTD),
    ("zstd", mt.OCI_LAYER_GZIP),
    ("none", mt.OCI_LAYER_GZIP),
    ("zstd", mt.OCI_LAYER),
])
def test_mislabelled_layer_still_reads(actual, label):
    blob = _compress(actual)
    assert c.decompressing_reader(io.BytesIO(blob), label).read() == DATA


def test_concatenated_gzip_members_and_zero_padding():
    blob = _compress("gzip")
    reader = c.decompressing_reader(io.BytesIO(blob + blob + bytes(512)))
    assert reader.read() == DATA + DATA


def test_several_zstd_frames_and_skippable_frames():
    blob = _compress("zstd")
    skippable = b"\x50\x2a\x4d\x18" + (3).to_bytes(4, "little") + b"abc"
    reader = c.decompressing_reader(io.BytesIO(skippable + blob + blob))
    assert reader.read() == DATA + DATA


def test_single_threaded_zstd_frames_read_too():
    blob = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(DATA)
    assert c.decompressing_reader(io.BytesIO(blob)).read() == DATA


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_stream_is_an_error(kind, keep):
    blob = _compress(kind)
    cut = blob[: int(len(blob) * keep)]
    with pytest.raises(LayerError, match="truncated"):
        c.decompressing_reader(io.BytesIO(cut)).read()


def test_zstd_missing_checksum_bytes_is_an_error():
    blob = _compress("zstd")
    with pytest.raises(LayerError, match="truncated"):
        c.decompressing_reader(io.BytesIO(blob[:-2])).read()


def test_corrupt_streams_are_layer_errors():
    gz = bytearray(_compress("gzip"))
    gz[len(gz) // 2] ^= 0xFF
    with pytest.raises(LayerError):
        c.decompressing_reader(io.BytesIO(bytes(gz))).read()
    zs = bytearray(_compress("zstd"))
    zs[len(zs) // 2] ^= 0xFF
    with pytest.raises(LayerError):
        c.decompressing_reader(io.BytesIO(bytes(zs))).read()
    with pytest.raises(LayerError, match="trailing"):
        c.decompressing_reader(io.BytesIO(_compress("gzip") + b"junk")).read()


def test_reads_are_bounded_by_the_requested_size():
    bomb = zstandard.ZstdCompressor(level=3).compress(bytes(64 << 20))
    reader = c.decompressing_reader(io.BytesIO(bomb))
    assert len(reader.read(4096)) == 4096
    total = 4096
    digest = hashlib.sha256(bytes(4096))
    while chunk := reader.read(1 << 20):
        assert len(chunk) <= 1 << 20
        digest.update(chunk)
        total += len(chunk)
    assert total == 64 << 20
    assert digest.digest() == hashlib.sha256(bytes(64 << 20)).digest()


def test_sniffing():
    assert c.sniff_compression(b"\x1f\x8b\x08\x00") == "gzip"
    assert c.sniff_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert c.sniff_compression(b"usr/") == "none"
    assert c.decompressing_reader(io.BytesIO(b"")).read() == b""
    assert c.decompressing_reader(io.BytesIO(b"ab")).read() == b"ab"


@pytest.mark.parametrize("chunk", [1, 4096, 1 << 20])
def test_zstd_bytes_do_not_depend_on_how_the_input_is_cut(chunk):
    """Layers streamed in any slicing share blob digests, on any machine."""
    out = io.BytesIO()
    comp = c.compressor("zstd", out)
    for i in range(0, len(DATA), chunk):
        comp.write(DATA[i:i + chunk])
    comp.close()
    assert out.getvalue() == _compress("zstd")
