"""What Docker 20.10 prints, as measured beside a real daemon, for the cases the
side-by-side tests (tests/interop) found minidock printing otherwise; these run
without Docker installed."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from store_testkit import make_image, run_cli

from minidock.builder.context import BuildContext, context_size
from minidock.layer.tarstream import TarReader
from minidock.store.layersize import tar_content_size
from minidock.store.store import Store


def test_image_alone_prints_the_command_listing_and_succeeds(root: Path) -> None:
    result = run_cli(root, "image")
    assert result.exit_code == 0 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[:5] == ["", "Usage:  minidock image COMMAND", "", "Manage images", ""]
    assert "  build       Build an image from a Dockerfile" in lines
    assert "  pull        Pull an image or a repository from a registry" in lines
    assert "  push        Push an image or a repository to a registry" in lines
    assert lines[-1] == "Run 'minidock image COMMAND --help' for more information on a command."
    assert run_cli(root, "image", "build", "--help").exit_code == 0


def test_unknown_flags_in_docker_words(root: Path) -> None:
    result = run_cli(root, "images", "--bogus")
    assert (result.exit_code, result.stderr) == (
        125, "unknown flag: --bogus\nSee 'minidock images --help'.\n")
    result = run_cli(root, "images", "-z")
    assert result.stderr.splitlines()[0] == "unknown shorthand flag: 'z' in -z"


def test_rm_force_of_a_missing_container_reports_it_and_succeeds(root: Path) -> None:
    result = run_cli(root, "rm", "-f", "nosuchcontainer")
    assert (result.exit_code, result.stderr) == (0, "Error: No such container: nosuchcontainer\n")
    assert run_cli(root, "rm", "nosuchcontainer").exit_code == 1


def test_context_size_is_the_tar_stream_docker_sends(tmp_path: Path) -> None:
    """Sizes docker 20.10 printed for these contexts (`Sending build context ...`)."""
    one = tmp_path / "one"
    one.mkdir()
    (one / "Dockerfile").write_text("FROM nginx:stable\n")
    assert context_size(BuildContext.from_directory(str(one)))[0] == 2048
    (one / "conf.d" / "sub").mkdir(parents=True)
    (one / "conf.d" / "upstream.conf").write_bytes(b"\0" * 600)
    (one / "link").symlink_to("x")
    assert context_size(BuildContext.from_directory(str(one)))[0] == 5120
    long_name = tmp_path / "long"
    (long_name / ("a" * 120)).mkdir(parents=True)  # a PAX header for the name
    (long_name / "Dockerfile").write_text("FROM nginx:stable\n")
    assert context_size(BuildContext.from_directory(str(long_name)))[0] == 3584


def test_layer_size_counts_files_and_symlink_targets_as_docker_does() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("bin/busybox", b"b" * 1000), ("etc/a", b"12")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
        hard = tarfile.TarInfo("bin/ash")
        hard.type, hard.linkname = tarfile.LNKTYPE, "bin/busybox"
        tar.addfile(hard)
        folder = tarfile.TarInfo("srv")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    buf.seek(0)
    assert tar_content_size(TarReader(buf)) == 1000 + 2 + len("busybox")


def test_images_and_history_show_the_bytes_of_the_files(store: Store, root: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"x" * 4000}])
    assert img.size == 4000
    assert run_cli(root, "images").stdout.splitlines()[1].split()[-1] == "4kB"
    assert run_cli(root, "inspect", "-f", "{{.Size}}", "app:1").stdout == "4000\n"


def test_one_images_names_in_dockers_order(store: Store, root: Path) -> None:
    make_image(store, "zeta:1", [{"a": b"1"}])
    assert run_cli(root, "tag", "zeta:1", "alpha:1").exit_code == 0
    rows = [line.split()[:2] for line in run_cli(root, "images").stdout.splitlines()[1:]]
    assert rows == [["alpha", "1"], ["zeta", "1"]]


def test_history_shows_the_local_parent_on_its_last_row(store: Store, root: Path) -> None:
    base = make_image(store, "base:1", [{"a": b"1"}])
    history = base.config["history"] + [{"created_by": "/bin/sh -c #(nop)  EXPOSE 443",
                                          "empty_layer": True}]
    child = make_image(store, "child:1", [{"a": b"1"}], history=history)
    ids = run_cli(root, "history", "-q", "child:1").stdout.splitlines()
    assert ids[:2] == [child.short_id, base.short_id]
    assert set(ids[2:]) <= {"<missing>"}
    assert run_cli(root, "history", "-q", "base:1").stdout.splitlines()[0] == base.short_id
