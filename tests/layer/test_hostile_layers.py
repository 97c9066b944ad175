"""Hostile layer tars: nothing may change outside the extraction root.

Every test extracts a crafted tar into `dest` and then checks that the host
area around it (sentinels next to dest, a fake `host/etc/passwd`, and a few
uniquely named paths on the real filesystem) is byte-for-byte and mtime-for-
mtime what it was. The extraction may either contain the entry inside dest or
refuse the layer with `LayerError`; nothing else is acceptable.
"""

from __future__ import annotations

import io
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from layer_helpers import TarBuilder

from minidock.errors import LayerError
from minidock.layer.extract import extract

MODES = ["apply", "overlay"]
UNIQUE = f"minidock-hostile-{uuid.uuid4().hex[:12]}"
REAL_HOST_PATHS = [Path("/etc") / UNIQUE, Path("/tmp") / UNIQUE, Path("/") / UNIQUE]


def _state(root: Path, skip: Path) -> dict[str, tuple]:
    state: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path == skip:
                continue
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                detail: object = path.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                detail = os.readlink(path)
            else:
                detail = None
            state[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, st.st_nlink,
                                                  detail)
    return state


@dataclass
class Jail:
    root: Path  # the whole temp area
    host: Path  # a fake host filesystem with sentinels
    dest: Path  # the extraction root

    def extract(self, tar: bytes, mode: str) -> LayerError | None:
        """Extract; a LayerError is an acceptable outcome and is returned."""
        try:
            extract(io.BytesIO(tar), self.dest, mode=mode)  # type: ignore[arg-type]
        except LayerError as exc:
            return exc
        return None

    def inside(self, path: str | Path) -> Path:
        """Where an absolute host-looking path lands when contained."""
        return self.dest / str(path).lstrip("/")


@pytest.fixture
def jail(tmp_path: Path):
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "passwd").write_bytes(b"root:x:0:0:sentinel\n")
    (host / "outside").write_bytes(b"outside sentinel")
    (host / "x").write_bytes(b"x sentinel")
    work = tmp_path / "work"
    (work / "etc").mkdir(parents=True)
    (work / "etc" / "x").write_bytes(b"next to dest")
    (work / "x").write_bytes(b"sibling of dest")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "x").write_bytes(b"two levels up")
    (tmp_path / "x").write_bytes(b"two levels up")
    dest = work / "dest"
    dest.mkdir()
    for path in (host / "etc" / "passwd", host / "outside", work / "x"):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    for real in REAL_HOST_PATHS:
        assert not real.exists()
    before = _state(tmp_path, dest)
    yield Jail(tmp_path, host, dest)
    escaped = [str(real) for real in REAL_HOST_PATHS if os.path.lexists(real)]
    for real in escaped:
        os.unlink(real)
    assert escaped == [], "a hostile layer wrote to the real filesystem"
    assert _state(tmp_path, dest) == before, "a hostile layer changed files outside dest"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["../../etc/x", "../x", "/etc/x", "./../../../../x",
                                  "a/../../../etc/x", f"/../../etc/{UNIQUE}"])
def test_dot_dot_and_absolute_names_are_contained(jail, mode, name):
    assert jail.extract(TarBuilder().file(name, b"evil").bytes(), mode) is None
    landed = jail.inside(os.path.normpath("/" + name))
    assert landed.read_bytes() == b"evil"


@pytest.mark.parametrize("mode", MODES)
def test_absolute_symlink_to_host_then_write_through_it(jail, mode):
    tar = (TarBuilder().symlink("evil", str(jail.host / "etc"))
           .file("evil/passwd", b"pwned").bytes())
    assert jail.extract(tar, mode) is None
    assert os.readlink(jail.dest / "evil") == str(jail.host / "etc")  # kept as written
    assert jail.inside(jail.host / "etc" / "passwd").read_bytes() == b"pwned"


@pytest.mark.parametrize("mode", MODES)
def test_symlink_to_real_etc_then_write_through_it(jail, mode):
    tar = TarBuilder().symlink("evil", "/etc").file(f"evil/{UNIQUE}", b"pwned").bytes()
    assert jail.extract(tar, mode) is None
    assert (jail.dest / "etc" / UNIQUE).read_bytes() == b"pwned"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["../../..", "../../../../../../..", "..", "./../.."])
def test_relative_symlink_escaping_is_resolved_at_the_root(jail, mode, target):
    tar = TarBuilder().symlink("a", target).file("a/x", b"evil").file("a/etc/x", b"e").bytes()
    assert jail.extract(tar, mode) is None
    assert (jail.dest / "x").read_bytes() == b"evil"
    assert (jail.dest / "etc" / "x").read_bytes() == b"e"


@pytest.mark.parametrize("mode", MODES)
def test_nested_symlink_chains_stay_inside(jail, mode):
    tar = (TarBuilder().dir("d").symlink("d/one", "../two").symlink("two", "d/three")
           .symlink("d/three", "../../../..").symlink("up", "d/one/../..")
           .file("d/one/x", b"1").file("up/outside", b"2").bytes())
    assert jail.extract(tar, mode) is None
    assert (jail.dest / "x").read_bytes() == b"1"
    assert (jail.dest / "outside").read_bytes() == b"2"


@pytest.mark.parametrize("mode", MODES)
def test_symlink_loops_are_refused(jail, mode):
    tar = (TarBuilder().symlink("loop1", "loop2").symlink("loop2", "/loop1")
           .file("loop1/x", b"").bytes())
    error = jail.extract(tar, mode)
    assert error is not None and "symbolic links" in str(error)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../../../host/x",
                                    "/../../etc/passwd"])
def test_hardlinks_to_outside_files_are_refused(jail, mode, target):
    error = jail.extract(TarBuilder().hardlink("h", target).bytes(), mode)
    assert isinstance(error, LayerError)
    assert not (jail.dest / "h").exists()


@pytest.mark.parametrize("mode", MODES)
def test_hardlink_through_a_symlink_to_the_host_is_refused(jail, mode):
    tar = (TarBuilder().symlink("hostlink", str(jail.host))
           .hardlink("h", "hostlink/outside").bytes())
    assert isinstance(jail.extract(tar, mode), LayerError)
    tar = TarBuilder().symlink("up", "../..").hardlink("h2", "up/x").bytes()
    assert isinstance(jail.extract(tar, mode), LayerError)


@pytest.mark.parametrize("mode", MODES)
def test_hardlink_to_a_symlink_links_the_symlink_itself(jail, mode):
    tar = (TarBuilder().symlink("s", str(jail.host / "outside")).hardlink("h", "s")
           .file("h", b"replaces the link, not the target").bytes())
    assert jail.extract(tar, mode) is None
    assert (jail.dest / "h").read_bytes() == b"replaces the link, not the target"
    assert os.readlink(jail.dest / "s") == str(jail.host / "outside")


@pytest.mark.parametrize("mode", MODES)
def test_file_over_existing_symlink_replaces_the_symlink(jail, mode):
    first = TarBuilder().symlink("link", str(jail.host / "outside")).bytes()
    second = TarBuilder().file("link", b"plain", mode=0o644).bytes()
    assert jail.extract(first, mode) is None
    assert jail.extract(second, mode) is None
    assert not (jail.dest / "link").is_symlink()
    assert (jail.dest / "link").read_bytes() == b"plain"


@pytest.mark.parametrize("mode", MODES)
def test_directory_entry_over_symlink_to_host(jail, mode):
    tar = (TarBuilder().symlink("evil", str(jail.host / "etc")).dir("evil", mode=0o700)
           .file("evil/passwd", b"mine").bytes())
    assert jail.extract(tar, mode) is None
    assert (jail.dest / "evil").is_dir() and not (jail.dest / "evil").is_symlink()
    assert (jail.dest / "evil" / "passwd").read_bytes() == b"mine"


def test_lower_layer_symlink_is_resolved_inside_when_applying(jail):
    lower = TarBuilder().symlink("etc", str(jail.host / "etc")).bytes()
    upper = TarBuilder().file("etc/passwd", b"through lower link").bytes()
    assert jail.extract(lower, "apply") is None
    assert jail.extract(upper, "apply") is None
    assert jail.inside(jail.host / "etc" / "passwd").read_bytes() == b"through lower link"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["../.wh.x", "../../.wh.outside", "/../.wh.x",
                                  "evil/.wh.outside", "evil/.wh.passwd", "up/.wh.x"])
def test_whiteouts_pointing_out_are_contained(jail, mode, name):
    (jail.dest / "x").write_bytes(b"inside x")
    tar = (TarBuilder().symlink("evil", str(jail.host)).symlink("up", "../../..")
           .file(name).bytes())
    jail.extract(tar, mode)  # contained or refused: the fixture checks the host


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", [".wh..", ".wh...", "d/.wh..."])
def test_whiteouts_of_dot_entries_are_refused(jail, mode, name):
    error = jail.extract(TarBuilder().dir("d").file(name).bytes(), mode)
    assert isinstance(error, LayerError)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["../.wh..wh..opq", "evil/.wh..wh..opq",
                                  "up/.wh..wh..opq", "/.wh..wh..opq"])
def test_opaque_markers_pointing_out_are_contained(jail, mode, name):
    (jail.dest / "lower-file").write_bytes(b"from a lower layer")
    tar = (TarBuilder().symlink("evil", str(jail.host)).symlink("up", "../..")
           .file(name).bytes())
    jail.extract(tar, mode)  # the fixture checks the host


@pytest.mark.parametrize("mode", MODES)
def test_device_nodes_never_land_outside(jail, mode):
    tar = (TarBuilder().device("../../dev-escape", 1, 3).device("/dev/evil-null", 1, 3)
           .device("up/disk", 8, 0, block=True).symlink("up", "../..").bytes())
    jail.extract(tar, mode)
    if os.geteuid() == 0:
        assert stat.S_ISCHR(os.lstat(jail.dest / "dev-escape").st_mode)
        assert stat.S_ISCHR(os.lstat(jail.dest / "dev" / "evil-null").st_mode)


@pytest.mark.parametrize("mode", MODES)
def test_very_long_names(jail, mode):
    long_component = "n" * 300
    assert isinstance(jail.extract(TarBuilder().file(long_component, b"").bytes(), mode),
                      LayerError)
    deep = "/".join(["d"] * 1500) + "/leaf"  # deeper than any recursion limit
    assert jail.extract(TarBuilder().file(deep, b"deep").bytes(), mode) is None
    # and a later layer replacing the deep tree removes it without recursing
    assert jail.extract(TarBuilder().file("d", b"flat now").bytes(), mode) is None
    assert (jail.dest / "d").read_bytes() == b"flat now"
    huge = "../" * 2000 + "etc/x"
    assert jail.extract(TarBuilder().file(huge, b"climb").bytes(), mode) is None
    assert (jail.dest / "etc" / "x").read_bytes() == b"climb"


@pytest.mark.parametrize("mode", MODES)
def test_nul_in_names_is_refused(jail, mode):
    tar = TarBuilder().file("placeholder", b"", pax_headers={"path": "a\0/../../x"}).bytes()
    assert isinstance(jail.extract(tar, mode), LayerError)


@pytest.mark.parametrize("mode", MODES)
def test_writing_below_a_regular_file_is_refused(jail, mode):
    tar = TarBuilder().file("f", b"file").file("f/child", b"").bytes()
    error = jail.extract(tar, mode)
    assert isinstance(error, LayerError) and "not a directory" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_overlay_attributes_cannot_be_smuggled(jail, mode):
    tar = TarBuilder().dir("d", pax_headers={
        "SCHILY.xattr.trusted.overlay.redirect": str(jail.host),
        "SCHILY.xattr.trusted.overlay.metacopy": "",
        "SCHILY.xattr.user.overlay.opaque": "y"}).bytes()
    assert jail.extract(tar, mode) is None
    assert not [name for name in os.listxattr(jail.dest / "d") if ".overlay." in name]
