"""import: a root filesystem tar becomes a one-layer image; --change edits its config."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import pytest
from store_testkit import store_at, tar_bytes

from minidock import mediatypes as mt
from minidock.archive import apply_changes, import_rootfs
from minidock.errors import ArchiveError, UsageError
from minidock.layer.compression import decompressing_reader
from minidock.reference import parse
from minidock.store.store import Store

ROOTFS = {"bin": None, "bin/hello": b"#!/bin/sh\necho hello\n", "etc": None,
          "etc/os-release": b"ID=imported\n"}


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_import_makes_a_one_layer_image(tmp_path: Path, compression: str) -> None:
    store = store_at(tmp_path / "root", compression=compression)
    raw = tar_bytes(ROOTFS)
    img = import_rootfs(store, io.BytesIO(raw), tags=[parse("imported:1")])
    assert store.image("imported:1").id == img.id
    assert [str(d) for d in img.diff_ids] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    layer = img.layers[0]
    assert layer.media_type == mt.LAYER_FOR_COMPRESSION[compression]
    with store.open_blob(layer) as blob:
        assert decompressing_reader(blob, layer.media_type).read() == raw
    history = img.config["history"]
    assert history == [{"created": img.config["created"], "comment": "Imported from -"}]
    assert img.config["os"] == "linux"
    assert store.check() == []


def test_import_of_a_compressed_tar_with_changes_and_message(store: Store) -> None:
    raw = tar_bytes(ROOTFS)
    img = import_rootfs(store, io.BytesIO(gzip.compress(raw)), tags=[parse("app:2")],
                        changes=['CMD ["/bin/hello"]', "ENV GREETING=hi", "EXPOSE 8080",
                                 "WORKDIR /srv", "USER 1000:1000"],
                        message="from a tarball")
    assert str(img.diff_ids[0]) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert img.config["config"] == {"Cmd": ["/bin/hello"], "Env": ["GREETING=hi"],
                                    "ExposedPorts": {"8080/tcp": {}}, "WorkingDir": "/srv",
                                    "User": "1000:1000"}
    assert img.config["history"][0]["comment"] == "from a tarball"
    assert img.config["comment"] == "from a tarball"


def test_import_without_a_name_is_untagged(store: Store) -> None:
    img = import_rootfs(store, io.BytesIO(tar_bytes(ROOTFS)))
    assert [i.digest for i in store.images()] == [img.digest]
    assert store.images()[0].names == []


@pytest.mark.parametrize("data", [b"", os.urandom(3000), b"\x1f\x8b" + os.urandom(100)])
def test_import_of_garbage_adds_nothing(store: Store, root: Path, data: bytes) -> None:
    with pytest.raises(ArchiveError):
        import_rootfs(store, io.BytesIO(data), tags=[parse("bad:1")])
    assert store.images() == []
    assert os.listdir(root / "tmp") == []


def test_import_of_a_truncated_tar_adds_nothing(store: Store, root: Path) -> None:
    raw = tar_bytes({"big": os.urandom(100_000)})
    with pytest.raises(ArchiveError, match="truncated"):
        import_rootfs(store, io.BytesIO(raw[:60_000]), tags=[parse("bad:1")])
    assert store.images() == []


def test_bad_change_is_refused_before_reading(store: Store) -> None:
    class Untouchable(io.BytesIO):
        def read(self, *args: object) -> bytes:  # type: ignore[override]
            raise AssertionError("input read before the changes were checked")

    with pytest.raises(UsageError, match="RUN.*not a valid change command"):
        import_rootfs(store, Untouchable(), changes=["RUN echo hi"])


# ---------------------------------------------------------------- --change parsing


def test_cmd_and_entrypoint_forms() -> None:
    assert apply_changes({}, ['CMD ["nginx", "-g", "daemon off;"]']) == {
        "Cmd": ["nginx", "-g", "daemon off;"]}
    assert apply_changes({}, ["CMD nginx -g 'daemon off;'"]) == {
        "Cmd": ["/bin/sh", "-c", "nginx -g 'daemon off;'"]}
    # ENTRYPOINT drops an inherited CMD, unless these changes set one
    assert apply_changes({"Cmd": ["old"]}, ['ENTRYPOINT ["/init"]']) == {
        "Cmd": None, "Entrypoint": ["/init"]}
    assert apply_changes({}, ['CMD ["-v"]', 'ENTRYPOINT ["nginx"]']) == {
        "Cmd": ["-v"], "Entrypoint": ["nginx"]}


def test_env_and_label_quoting_and_expansion() -> None:
    config = apply_changes({"Env": ["PATH=/usr/bin"]}, [
        'ENV PATH=$PATH:/opt/bin MSG="hello world" ESC=a\\ b',
        "ENV LEGACY value with spaces",
        "ENV DEFAULTED=${UNSET:-fallback} QUOTED='$PATH'",
        'LABEL "com.example.vendor"="ACME Inc" version=1.0',
    ])
    assert config["Env"] == ["PATH=/usr/bin:/opt/bin", "MSG=hello world", "ESC=a b",
                             "LEGACY=value with spaces", "DEFAULTED=fallback",
                             "QUOTED=$PATH"]
    assert config["Labels"] == {"com.example.vendor": "ACME Inc", "version": "1.0"}


def test_expose_volume_workdir_user_stopsignal_onbuild() -> None:
    config = apply_changes({}, [
        "EXPOSE 80 53/udp 8000-8001", 'VOLUME ["/data"]', "VOLUME /logs /cache",
        "WORKDIR /app", "WORKDIR sub/dir", "USER nginx", "STOPSIGNAL SIGQUIT",
        "onbuild RUN make",
    ])
    assert config == {
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
        "Volumes": {"/data": {}, "/logs": {}, "/cache": {}},
        "WorkingDir": "/app/sub/dir", "User": "nginx", "StopSignal": "SIGQUIT",
        "OnBuild": ["RUN make"],
    }


@pytest.mark.parametrize("change, message", [
    ("RUN make", "not a valid change command"),
    ("COPY . /", "not a valid change command"),
    ("CMD", "requires at least one argument"),
    ("EXPOSE eighty", "invalid port"),
    ("EXPOSE 70000", "invalid port range"),
    ("LABEL novalue", "expected key=value"),
    ("ENV A=1 B", "expected key=value"),
    ('ENV A="unterminated', "matching"),
    ("ONBUILD FROM x", "isn't allowed as an ONBUILD trigger"),
])
def test_bad_changes(change: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        apply_changes({}, [change])


def test_changes_do_not_modify_their_input() -> None:
    original = {"Env": ["A=1"], "Labels": {"x": "1"}}
    apply_changes(original, ["ENV B=2", "LABEL y=2"])
    assert original == {"Env": ["A=1"], "Labels": {"x": "1"}}
