import io
import os
import shutil
import stat
import subprocess
import tempfile
import traceback
from pathlib import Path

import pytest
from layer_helpers import TarBuilder, snapshot

from minidock.digest import Digest, VerifyingReader
from minidock.errors import DigestError, LayerError
from minidock.layer.extract import extract, unpack_image

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path


def _base_layer() -> TarBuilder:
    return (TarBuilder().dir("etc").file("etc/a", b"A").file("etc/b", b"B")
            .dir("dir").file("dir/x", b"X").dir("dir/sub").file("dir/sub/old", b"O"))


def test_apply_whiteouts_delete_lower_entries(dest):
    extract(_base_layer().stream(), dest)
    extract(TarBuilder().dir("etc").file("etc/.wh.a").file("dir/.wh.sub").stream(), dest)
    assert sorted(os.listdir(dest / "etc")) == ["b"]
    assert sorted(os.listdir(dest / "dir")) == ["x"]


def test_apply_whiteout_never_hides_its_own_layer(dest):
    extract(_base_layer().stream(), dest)
    extract(TarBuilder().file("etc/a", b"new A").file("etc/.wh.a").stream(), dest)
    assert (dest / "etc" / "a").read_bytes() == b"new A"
    extract(TarBuilder().file("etc/.wh.b").file("etc/b", b"new B").stream(), dest)
    assert (dest / "etc" / "b").read_bytes() == b"new B"


def test_apply_opaque_keeps_only_this_layers_entries(dest):
    extract(_base_layer().stream(), dest)
    layer = (TarBuilder().dir("dir").file("dir/-early", b"before the marker")
             .file("dir/.wh..wh..opq").dir("dir/sub").file("dir/sub/new", b"N")
             .file("dir/z", b"Z"))
    extract(layer.stream(), dest)
    assert sorted(os.listdir(dest / "dir")) == ["-early", "sub", "z"]
    assert os.listdir(dest / "dir" / "sub") == ["new"]
    assert sorted(os.listdir(dest / "etc")) == ["a", "b"]


def test_apply_opaque_after_nested_entries(dest):
    extract(_base_layer().stream(), dest)
    layer = TarBuilder().file("dir/sub/kept", b"K").file("dir/.wh..wh..opq")
    extract(layer.stream(), dest)
    assert os.listdir(dest / "dir") == ["sub"]
    assert os.listdir(dest / "dir" / "sub") == ["kept"]


@pytest.mark.root
def test_overlay_mode_whiteouts_are_char_devices_and_opaque_is_an_xattr(dest):
    layer = (TarBuilder().dir("etc").file("etc/.wh.a").dir("dir").file("dir/.wh..wh..opq")
             .file("dir/z", b"Z").file(".wh..wh.plnk"))
    extract(layer.stream(), dest, mode="overlay")
    st = os.lstat(dest / "etc" / "a")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(dest / "dir", "trusted.overlay.opaque") == b"y"
    assert not (dest / ".wh..wh.plnk").exists()
    assert not (dest / "dir" / ".wh..wh..opq").exists()


def test_overlay_mode_rootless_uses_user_xattr(dest):
    extract(TarBuilder().dir("d").file("d/.wh..wh..opq").stream(), dest, mode="overlay",
            rootless=True)
    assert os.getxattr(dest / "d", "user.overlay.opaque") == b"y"


@pytest.mark.parametrize("mode", ["apply", "overlay"])
def test_overlay_xattrs_in_a_tar_are_never_applied(dest, mode):
    warnings: list[str] = []
    layer = TarBuilder().dir("d", pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y",
                                               "SCHILY.xattr.user.overlay.redirect": "/x",
                                               "SCHILY.xattr.user.fine": "ok"})
    extract(layer.stream(), dest, mode=mode, on_warning=warnings.append)
    assert os.listxattr(dest / "d") == ["user.fine"]
    assert len(warnings) == 2


def test_existing_entries_replaced_by_other_types(dest, tmp_path):
    sentinel = tmp_path / "sentinel"
    sentinel.write_bytes(b"untouched")
    extract(TarBuilder().file("f", b"file").dir("d").file("d/child", b"c")
            .symlink("s", str(sentinel)).stream(), dest)
    extract(TarBuilder().dir("f").symlink("d", "/elsewhere").file("s", b"plain now").stream(),
            dest)
    assert (dest / "f").is_dir() and not (dest / "f").is_symlink()
    assert os.readlink(dest / "d") == "/elsewhere"
    assert not (dest / "s").is_symlink() and (dest / "s").read_bytes() == b"plain now"
    assert sentinel.read_bytes() == b"untouched"


def test_directory_entry_merges_with_existing_directory(dest):
    extract(_base_layer().stream(), dest)
    extract(TarBuilder().dir("etc", mode=0o700, mtime=42).stream(), dest)
    assert sorted(os.listdir(dest / "etc")) == ["a", "b"]
    st = os.stat(dest / "etc")
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_mtime == 42


def test_read_only_directories_get_their_children_and_mode_last(dest):
    layer = (TarBuilder().dir("ro", mode=0o555, mtime=1000).file("ro/f", b"x")
             .dir("ro/deeper", mode=0o500, mtime=2000).file("ro/deeper/g", b"y"))
    extract(layer.stream(), dest)
    assert (dest / "ro" / "deeper" / "g").read_bytes() == b"y"
    assert stat.S_IMODE(os.stat(dest / "ro").st_mode) == 0o555
    assert os.stat(dest / "ro").st_mtime == 1000
    assert os.stat(dest / "ro" / "deeper").st_mtime == 2000


def test_root_entry_sets_destination_metadata(dest):
    extract(TarBuilder().dir("./", mode=0o711, mtime=77).file("./x", b"1").stream(), dest)
    st = os.stat(dest)
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o711, 77)
    with pytest.raises(LayerError, match="root"):
        extract(TarBuilder().file(".", b"").stream(), dest)


def test_missing_parents_are_created(dest):
    extract(TarBuilder().file("a/b/c/file", b"deep").stream(), dest)
    assert (dest / "a" / "b" / "c" / "file").read_bytes() == b"deep"
    assert stat.S_IMODE(os.stat(dest / "a" / "b").st_mode) == 0o755


def test_symlinked_parents_resolve_inside_the_destination(dest):
    extract(TarBuilder().dir("usr/lib").symlink("lib", "/usr/lib")
            .symlink("lib64", "usr/lib").file("lib/x", b"1").file("lib64/y", b"2").stream(),
            dest)
    assert sorted(os.listdir(dest / "usr" / "lib")) == ["x", "y"]


def test_hardlinks(dest):
    extract(TarBuilder().file("etc/passwd", b"root:x:0:0").stream(), dest)
    extract(TarBuilder().file("a", b"content").hardlink("b", "a")
            .hardlink("pw", "/etc/passwd").stream(), dest)
    assert os.stat(dest / "a").st_ino == os.stat(dest / "b").st_ino
    assert os.stat(dest / "pw").st_ino == os.stat(dest / "etc" / "passwd").st_ino
    with pytest.raises(LayerError, match="directory"):
        extract(TarBuilder().hardlink("c", "etc").stream(), dest)
    with pytest.raises(LayerError, match="not found"):
        extract(TarBuilder().hardlink("d", "missing").stream(), dest)


@pytest.mark.root
def test_owners_devices_and_special_modes(dest):
    layer = (TarBuilder().file("suid", b"x", mode=0o4755, uid=1000, gid=1000)
             .symlink("link", "suid", uid=5, gid=6).device("null", 1, 3, mode=0o666)
             .device("loop0", 7, 0, block=True, mode=0o660).fifo("pipe", mode=0o620, uid=3))
    result = extract(layer.stream(), dest)
    st = os.stat(dest / "suid")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4755, 1000, 1000)
    lst = os.lstat(dest / "link")
    assert (lst.st_uid, lst.st_gid, lst.st_mtime) == (5, 6, 1_600_000_000)
    null = os.lstat(dest / "null")
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(os.lstat(dest / "loop0").st_mode)
    pipe = os.lstat(dest / "pipe")
    assert stat.S_ISFIFO(pipe.st_mode) and pipe.st_uid == 3
    assert result.entries == 5 and result.skipped == ()


def _run_as_nobody(fn) -> None:
    """Run `fn` in a forked child with uid/gid 65534; re-raise its failure here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        status = 0
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            fn()
        except BaseException:
            os.write(write_fd, traceback.format_exc().encode())
            status = 1
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, message


@pytest.fixture
def nobody_dest():
    """A destination owned by nobody on a path nobody can reach."""
    path = Path(tempfile.mkdtemp(prefix="minidock-layer-"))
    os.chmod(path, 0o755)
    os.chown(path, 65534, 65534)
    yield path
    shutil.rmtree(path)


@pytest.mark.root
def test_unprivileged_extraction_skips_devices_and_handles_read_only_dirs(nobody_dest):
    dest = nobody_dest
    layer = (TarBuilder().dir("ro", mode=0o555).file("ro/f", b"x", uid=1000)
             .device("null", 1, 3).fifo("pipe").file("trusted", b"t",
                                                      pax_headers={"SCHILY.xattr.trusted.k": "v"})
             .bytes())
    lower = TarBuilder().dir("lower", mode=0o555).file("lower/old", b"o").bytes()
    update = TarBuilder().file("lower/new", b"n").file("lower/.wh.old").bytes()
    results = []

    def work() -> None:
        results.append(extract(io.BytesIO(layer), dest))
        extract(io.BytesIO(lower), dest)
        extract(io.BytesIO(update), dest)
        assert results[0].skipped == ("null",)

    _run_as_nobody(work)
    assert (dest / "ro" / "f").read_bytes() == b"x"
    assert os.stat(dest / "ro" / "f").st_uid == 65534  # owners not applied
    assert stat.S_IMODE(os.stat(dest / "ro").st_mode) == 0o555
    assert not (dest / "null").exists()
    assert stat.S_ISFIFO(os.lstat(dest / "pipe").st_mode)
    assert os.listdir(dest / "lower") == ["new"]
    assert stat.S_IMODE(os.stat(dest / "lower").st_mode) == 0o555


def test_stream_is_read_to_the_end_so_digests_are_checked(dest):
    blob = TarBuilder().file("a", b"data").bytes() + bytes(4096)
    good = VerifyingReader(io.BytesIO(blob), Digest.of_bytes(blob), len(blob))
    extract(good, dest)
    bad = VerifyingReader(io.BytesIO(blob), Digest.of_bytes(b"other"), len(blob))
    with pytest.raises(DigestError):
        extract(bad, dest)


def test_compressed_layers_are_sniffed(dest):
    import zstandard

    blob = zstandard.ZstdCompressor().compress(TarBuilder().file("z", b"zz").bytes())
    extract(io.BytesIO(blob), dest, media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    assert (dest / "z").read_bytes() == b"zz"


def test_unpack_image_applies_layers_in_order(dest):
    layers = [
        _base_layer().stream(),
        (TarBuilder().dir("etc").file("etc/.wh.a").file("etc/b", b"B2").stream(),
         "application/vnd.oci.image.layer.v1.tar"),
        TarBuilder().dir("dir").file("dir/.wh..wh..opq").file("dir/only", b"!").stream(),
    ]
    results = unpack_image(layers, dest)
    assert [r.entries for r in results] == [7, 3, 3]
    assert os.listdir(dest / "etc") == ["b"]
    assert (dest / "etc" / "b").read_bytes() == b"B2"
    assert os.listdir(dest / "dir") == ["only"]


def test_unknown_mode_is_refused(dest):
    with pytest.raises(LayerError, match="mode"):
        extract(_base_layer().stream(), dest, mode="merge")  # type: ignore[arg-type]


@pytest.mark.root
def test_overlay_lowers_merge_like_applied_layers(tmp_path):
    base = _base_layer().file("keep/me", b"k").bytes()
    top = (TarBuilder().dir("etc").file("etc/.wh.a").dir("dir").file("dir/.wh..wh..opq")
           .file("dir/z", b"Z").file("new", b"n").bytes())
    lowers = []
    for i, blob in enumerate((base, top)):
        layer_dir = tmp_path / f"l{i}"
        layer_dir.mkdir()
        extract(io.BytesIO(blob), layer_dir, mode="overlay")
        lowers.append(layer_dir)
    applied = tmp_path / "applied"
    applied.mkdir()
    unpack_image([io.BytesIO(base), io.BytesIO(top)], applied)
    merged = tmp_path / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lowers[1]}:{lowers[0]}", str(merged)], check=True)
    try:
        assert snapshot(merged, dir_mtimes=False) == snapshot(applied, dir_mtimes=False)
        assert sorted(os.listdir(merged / "dir")) == ["z"]
        assert sorted(os.listdir(merged / "etc")) == ["b"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)
