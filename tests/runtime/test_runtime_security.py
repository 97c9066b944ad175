"""Hostile images and hostile container trees never touch the host.

Images whose layers try to escape (`../`, absolute names, symlinks and hard
links pointing out, a later layer writing through an earlier layer's symlink)
are run with both drivers; `cp` is pointed through symlinks a container made.
Each test checks a sentinel directory on the host is exactly as it was.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from runtime_helpers import PATH_ENV, Minidock, add_busybox_image

from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.settings import Settings
from minidock.store.store import Store


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = os.lstat(path)
            content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
            out[str(path)] = (st.st_mode, st.st_mtime_ns, st.st_nlink, content)
    return out


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "passwd").write_text("host passwd\n")
    (host / "secret").write_text("host secret\n")
    os.chmod(tmp_path, 0o755)
    return host


def _tar(entries: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in entries:
            if isinstance(item, tuple):
                info, data = item
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(item)
    return buf.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def _hostile_image(root: Path, tag: str, layers: list[bytes]) -> None:
    """busybox + the given raw layer tars on top."""
    store = Store(Settings.from_env({}, root=root))
    base = store.image("busybox")
    descs = list(base.layers)
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": [PATH_ENV],
                                                                 "Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": [str(d) for d in base.diff_ids]}}
    with store.writing():
        for raw in layers:
            descs.append(Descriptor("application/vnd.oci.image.layer.v1.tar",
                                    store.put_blob(raw), len(raw)))
            config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw).hexdigest())
        store.add_image(config, descs, tags=[parse(tag)])


def test_layers_that_try_to_escape(md: Minidock, sentinel: Path) -> None:
    before = _snapshot(sentinel.parent)
    first = _tar([_info("evil", tarfile.SYMTYPE, str(sentinel)),
                  _info("rel", tarfile.SYMTYPE, "../../../../../../" + str(sentinel)),
                  (_info("../../../../../../" + str(sentinel / "dotdot")), b"x"),
                  (_info(str(sentinel / "absolute")), b"x")])
    second = _tar([_info("evil", tarfile.DIRTYPE), (_info("evil/pwned"), b"layer two\n"),
                   (_info("rel/secret"), b"overwritten\n"),
                   _info("hard", tarfile.LNKTYPE, str(sentinel / "secret"))])
    _hostile_image(md.root, f"hostile-{md.driver}", [first, second])
    result = md("run", "--rm", f"hostile-{md.driver}", "sh", "-c",
                "cat /evil/pwned; ls /tmp; echo written > /evil/more")
    assert result.code in (0, 125), result
    if result.code == 0:
        assert result.out.startswith("layer two\n")
    else:
        assert result.err.startswith("Error: ") and "Traceback" not in result.err
    assert _snapshot(sentinel.parent) == before
    Store(md.settings()).remove_image(f"hostile-{md.driver}")


def test_cp_never_follows_container_links_to_the_host(md: Minidock, sentinel: Path,
                                                      tmp_path: Path) -> None:
    md.ok("run", "-d", "--name", "hostile", "busybox", "sh", "-c",
          f"mkdir -p /x && ln -s {sentinel} /x/to-host && ln -s / /x/to-root && "
          f"ln -s {sentinel}/secret /x/secret-link && mkdir -p {sentinel}/etc && "
          f"echo container > {sentinel}/etc/passwd && sleep 1000")
    before = _snapshot(sentinel)
    upload = tmp_path / "upload"
    upload.write_text("uploaded\n")
    # writing through links lands inside the container
    md.ok("cp", str(upload), "hostile:/x/to-host/secret")
    md.ok("cp", str(upload), "hostile:/x/to-root/top-level")
    assert md.ok("exec", "hostile", "cat", f"{sentinel}/secret", "/top-level") == \
        "uploaded\nuploaded\n"
    # reading through links reads the container's files
    out = tmp_path / "read"
    md.ok("cp", "hostile:/x/to-host/etc/passwd", str(out))
    assert out.read_text() == "container\n"
    # a link is copied as a link, even with a target on the host
    md.ok("cp", "hostile:/x/secret-link", str(tmp_path / "link"))
    assert os.readlink(tmp_path / "link") == f"{sentinel}/secret"
    # a tar with escaping names stays below the destination
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("../../../escaped", f"{sentinel}/abs", "x/../../up"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"t"))
    md.ok("cp", "-", "hostile:/x/to-host", input=buf.getvalue())
    listing = md.ok("exec", "hostile", "find", str(sentinel)).split()
    assert f"{sentinel}/escaped" in listing and f"{sentinel}/up" in listing
    assert _snapshot(sentinel) == before
    assert (sentinel / "secret").read_text() == "host secret\n"
    assert (sentinel / "etc" / "passwd").read_text() == "host passwd\n"
    assert not (sentinel / "escaped").exists() and not (sentinel / "abs").exists()
    md.ok("rm", "-f", "hostile")


def test_hostile_paths_in_a_stopped_container(md: Minidock, sentinel: Path,
                                              tmp_path: Path) -> None:
    md.ok("run", "--name", "stopped-hostile", "busybox", "sh", "-c",
          f"mkdir -p {sentinel} && ln -s {sentinel} /to-host")
    upload = tmp_path / "upload"
    upload.write_text("uploaded\n")
    md.ok("cp", str(upload), "stopped-hostile:/to-host/secret")
    assert (sentinel / "secret").read_text() == "host secret\n"
    md.ok("cp", "stopped-hostile:/to-host/secret", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "uploaded\n"
    md.ok("rm", "stopped-hostile")


def test_add_busybox_image_helper_is_a_real_image(image_store: Path) -> None:
    store = Store(Settings.from_env({}, root=image_store))
    image = add_busybox_image(store, "helpercheck:1")
    assert store.image("helpercheck:1").id == image.id
    store.remove_image("helpercheck:1")
